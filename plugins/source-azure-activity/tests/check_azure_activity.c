/*
 * Tests of the azure-activity source plugin, loaded through the plugin
 * host, on hand-written records of both shapes (tests/data/README.md): the
 * role assignment write (role definition and principal from requestbody,
 * also as JSON text inside JSON text), the burst of deletes, failed writes,
 * a service principal caller, the Event Hub envelope; and malformed
 * records with their exact dead-letter reasons.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_harness.h"

#define DIAG "activity_diagnostic_export.jsonl"
#define TABLE "activity_sentinel_table.jsonl"
#define ENVELOPE "activity_eventhub_envelope.json"
#define SUB "3f2c9b1e-7d44-4a5e-9c21-6b8e0d4f1a77"
#define OWNER "/subscriptions/" SUB "/providers/Microsoft.Authorization/roleDefinitions/" \
              "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define PRINCIPAL "5d9a7e3c-2b1f-4c8d-9e6a-1f0b3c7d2e44"

static void setup(void)
{
    ph_setup(PLUGIN_DIR);
}

static void teardown(void)
{
    ph_teardown();
}

static vgl_event *line_event(const char *file, int n)
{
    char *l = ph_line(file, n);
    vgl_event *ev = ph_event(l, 2000 + n);
    free(l);
    return ev;
}

static vgl_event *run_one(vgl_plugin_instance *pi, vgl_event *ev)
{
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_msg(ph_state(ev) == VGL_BATCH_LIVE, "record failed: %s", ph_reason(ev));
    return ev;
}

static void expect_fail(vgl_plugin_instance *pi, const char *json, const char *reason)
{
    vgl_event *ev = ph_event(json, 5);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_FAILED);
    char want[1024];
    snprintf(want, sizeof(want), "plugin azure-activity: %s", reason);
    ck_assert_str_eq(ph_reason(ev), want);
    ck_assert_uint_eq(ph_batch.n, 1);
}

/* ------------------------------------------------ diagnostic export */

START_TEST(diag_role_assignment)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *in[2] = {line_event(DIAG, 1), line_event(DIAG, 2)};
    ck_assert_int_eq(ph_run(pi, in, 2), VGL_OK);
    /* the start */
    vgl_event *e = in[0];
    ck_assert_str_eq(ph_str(e, "event.outcome"), "unknown");
    ck_assert_str_eq(ph_str(e, "azure.activity.status"), "Start");
    ck_assert(!ph_has(e, "event.reason"));
    /* the success */
    e = in[1];
    ck_assert_int_eq(ph_state(e), VGL_BATCH_LIVE);
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2024-03-05T12:30:02.500Z");
    ck_assert_int_eq(e->ts_ms, 1709641802500);
    ck_assert_str_eq(ph_str(e, "event.kind"), "event");
    ck_assert_str_eq(ph_str(e, "event.category"), "iam");
    ck_assert_str_eq(ph_str(e, "event.type"), "creation");
    ck_assert_str_eq(ph_str(e, "event.action"), "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE");
    ck_assert_str_eq(ph_str(e, "azure.activity.operation_name"),
                     "microsoft.authorization/roleassignments/write");
    ck_assert_str_eq(ph_str(e, "event.outcome"), "success");
    ck_assert_str_eq(ph_str(e, "event.provider"), "AzureActivity");
    ck_assert_str_eq(ph_str(e, "event.dataset"), "azure.activitylogs");
    ck_assert_str_eq(ph_str(e, "user.name"), "admin@contoso.com");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "admin");
    ck_assert_str_eq(ph_str(e, "user.domain"), "contoso.com");
    ck_assert_str_eq(ph_str(e, "user.id"), "2a4c6e8f-1111-4b3d-8f5e-7a9c1e3b5d00");
    ck_assert_str_eq(ph_str(e, "source.ip"), "203.0.113.5");
    ck_assert_str_eq(ph_str(e, "cloud.provider"), "azure");
    ck_assert_str_eq(ph_str(e, "cloud.account.id"), SUB);
    ck_assert_str_eq(ph_str(e, "azure.resource.id"),
                     "/SUBSCRIPTIONS/3F2C9B1E-7D44-4A5E-9C21-6B8E0D4F1A77/PROVIDERS/"
                     "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/"
                     "0B7D2A91-5C3E-4F8A-B1D6-9E2C4A7F3B10");
    ck_assert(!ph_has(e, "azure.resource.group")); /* subscription scope */
    ck_assert_str_eq(ph_str(e, "azure.activity.role_definition_id"), OWNER);
    ck_assert_str_eq(ph_str(e, "user.target.id"), PRINCIPAL);
    ck_assert_str_eq(ph_str(e, "azure.activity.principal_type"), "User");
    ck_assert_str_eq(ph_str(e, "azure.activity.category"), "Administrative");
    ck_assert_str_eq(ph_str(e, "azure.activity.status"), "Success");
    ck_assert_str_eq(ph_str(e, "azure.activity.correlation_id"),
                     "a1b2c3d4-1111-4222-8333-444455556666");
    /* the originals stay */
    ck_assert_str_eq(ph_str(e, "properties.statusCode"), "Created");
}
END_TEST

START_TEST(diag_failed_write)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *e = run_one(pi, line_event(DIAG, 3));
    ck_assert_str_eq(ph_str(e, "event.outcome"), "failure");
    ck_assert_str_eq(ph_str(e, "event.reason"), "Forbidden");
    ck_assert_str_eq(ph_str(e, "event.category"), "configuration");
    ck_assert_str_eq(ph_str(e, "event.type"), "creation");
    ck_assert_str_eq(ph_str(e, "event.action"),
                     "Microsoft.Network/networkSecurityGroups/securityRules/write");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "mallory");
    ck_assert_str_eq(ph_str(e, "source.ip"), "198.51.100.66");
    ck_assert_str_eq(ph_str(e, "azure.resource.group"), "prod-network");
    ck_assert_str_eq(ph_str(e, "cloud.account.id"), SUB);
    ck_assert(!ph_has(e, "azure.activity.role_definition_id"));
}
END_TEST

START_TEST(diag_service_principal_action)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *e = run_one(pi, line_event(DIAG, 4));
    /* no UPN claim: the application id is the caller */
    ck_assert_str_eq(ph_str(e, "user.name"), "e1f2a3b4-5555-4c6d-8e7f-9a0b1c2d3e66");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "e1f2a3b4-5555-4c6d-8e7f-9a0b1c2d3e66");
    ck_assert(!ph_has(e, "user.domain"));
    ck_assert_str_eq(ph_str(e, "user.id"), "9d8c7b6a-4444-4e5f-8a9b-0c1d2e3f4a55");
    ck_assert_str_eq(ph_str(e, "event.type"), "change"); /* .../listKeys/action */
    ck_assert_str_eq(ph_str(e, "event.outcome"), "success");
    ck_assert_str_eq(ph_str(e, "azure.resource.group"), "data-rg");
}
END_TEST

/* -------------------------------------------------- AzureActivity table */

START_TEST(table_burst_of_deletes)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *in[5];
    for (int i = 0; i < 5; i++)
        in[i] = line_event(TABLE, 1 + i);
    ck_assert_int_eq(ph_run(pi, in, 5), VGL_OK);
    static const char *const ops[5] = {
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE", "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE",
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE", "MICROSOFT.COMPUTE/DISKS/DELETE",
        "MICROSOFT.COMPUTE/DISKS/DELETE"};
    for (int i = 0; i < 5; i++) {
        vgl_event *e = in[i];
        ck_assert_int_eq(ph_state(e), VGL_BATCH_LIVE);
        ck_assert_str_eq(ph_str(e, "event.action"), ops[i]);
        ck_assert_str_eq(ph_str(e, "event.type"), "deletion");
        ck_assert_str_eq(ph_str(e, "event.category"), "configuration");
        ck_assert_str_eq(ph_str(e, "event.outcome"), "success");
        ck_assert_str_eq(ph_str(e, "user.name"), "eve@contoso.com");
        ck_assert_str_eq(ph_str(e, "vigil.user"), "eve");
        ck_assert_str_eq(ph_str(e, "source.ip"), "198.51.100.99");
        ck_assert_str_eq(ph_str(e, "cloud.account.id"), SUB);
        ck_assert_str_eq(ph_str(e, "azure.resource.group"), "PROD-RG");
    }
    ck_assert_str_eq(ph_str(in[0], "azure.resource.id"),
                     "/subscriptions/3f2c9b1e-7d44-4a5e-9c21-6b8e0d4f1a77/resourcegroups/prod-rg/"
                     "providers/microsoft.compute/virtualmachines/web-01");
    ck_assert_str_eq(ph_str(in[0], "@timestamp"), "2024-03-05T13:02:05.200Z");
    ck_assert_int_eq(in[4]->ts_ms - in[0]->ts_ms, 84800); /* within 90 seconds */
}
END_TEST

START_TEST(table_role_assignment_nested_json)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *e = run_one(pi, line_event(TABLE, 6));
    ck_assert_str_eq(ph_str(e, "event.category"), "iam");
    ck_assert_str_eq(ph_str(e, "event.outcome"), "success"); /* "Succeeded" */
    ck_assert_str_eq(ph_str(e, "azure.activity.role_definition_id"), OWNER);
    ck_assert_str_eq(ph_str(e, "user.target.id"), PRINCIPAL);
    ck_assert_str_eq(ph_str(e, "azure.activity.principal_type"), "User");
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2024-03-05T12:30:02.500Z");
    ck_assert_str_eq(ph_str(e, "user.name"), "admin@contoso.com");
    ck_assert(!ph_has(e, "azure.resource.group")); /* "" is not copied */
}
END_TEST

START_TEST(table_failed_write)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *e = run_one(pi, line_event(TABLE, 7));
    ck_assert_str_eq(ph_str(e, "event.outcome"), "failure");
    ck_assert_str_eq(ph_str(e, "event.reason"), "Forbidden");
    ck_assert_str_eq(ph_str(e, "azure.activity.status"), "Failed");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "mallory");
}
END_TEST

/* ---------------------------------------------------------- envelope */

START_TEST(eventhub_envelope)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *ev = line_event(ENVELOPE, 1);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_DROPPED);
    vgl_event *out[4];
    ck_assert_uint_eq(ph_live(out, 4), 3);
    ck_assert_str_eq(ph_str(out[0], "user.target.id"), PRINCIPAL);
    ck_assert_str_eq(ph_str(out[1], "event.outcome"), "failure");
    ck_assert_str_eq(ph_str(out[2], "event.type"), "change");
    ck_assert_str_eq(ph_str(out[1], "operationName"),
                     "Microsoft.Network/networkSecurityGroups/securityRules/write");
    ck_assert_int_eq(out[2]->meta.offset, 2001);
}
END_TEST

START_TEST(bad_envelopes)
{
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    expect_fail(pi, "{\"records\":[]}", "records is empty (an envelope with 0 records)");
    expect_fail(pi, "{\"records\":7}", "records is a number, expected an array of records");
    expect_fail(pi, "{\"records\":[{\"operationName\":\"a/b/write\"},true]}",
                "records[1] is a boolean, expected an object");
    expect_fail(pi, "{\"records\":[{\"operationName\":\"a/b/write\"},{\"operationName\":5}]}",
                "records[1]: operationName is a number, expected a string");
}
END_TEST

/* --------------------------------------------------------- malformed */

START_TEST(malformed_records)
{
    static const struct {
        const char *json, *reason;
    } cases[] = {
        {"{\"time\":\"2024-03-05T12:00:00Z\",\"category\":\"Administrative\"}",
         "not an Azure Activity record: no operationName (diagnostic export) nor "
         "OperationNameValue (AzureActivity table)"},
        {"{\"operationName\":\"\"}", "activity record has no operation (operationName)"},
        {"{\"Type\":\"AzureActivity\",\"Caller\":\"a@b.c\"}",
         "activity record has no operation (OperationNameValue)"},
        {"{\"OperationNameValue\":[\"x\"]}", "OperationNameValue is an array, expected a string"},
        {"{\"operationName\":\"a/b/write\",\"time\":\"13/03/2024\"}",
         "time \"13/03/2024\" is not a time"},
        {"{\"OperationNameValue\":\"a/b/write\",\"TimeGenerated\":12}",
         "TimeGenerated is a number, expected a string"},
        {"{\"operationName\":\"a/b/write\",\"properties\":[1]}",
         "properties is an array, expected an object"},
        {"{\"OperationNameValue\":\"a/b/write\",\"Properties\":\"{\\\"statusCode\\\":}\"}",
         "Properties is not valid JSON: invalid value at byte 14"},
        {"{\"OperationNameValue\":\"a/b/write\",\"Properties\":\"OK\"}",
         "Properties is text, expected an object or a JSON object"},
        {"{\"operationName\":\"a/b/write\",\"identity\":5}", "identity is a number, expected an object"},
        {"{\"operationName\":\"a/b/write\",\"identity\":{\"claims\":[]}}",
         "identity.claims is an array, expected an object"},
        {"{\"operationName\":\"a/b/write\",\"identity\":{\"claims\":{\"http://schemas.xmlsoap.org/"
         "ws/2005/05/identity/claims/upn\":7}}}",
         "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn is a number, "
         "expected a string"},
        {"{\"operationName\":\"a/b/write\",\"callerIpAddress\":{}}",
         "callerIpAddress is an object, expected a string"},
        {"{\"operationName\":\"a/b/write\",\"cloud\":\"azure\"}",
         "cannot set cloud.provider: a field of the record on its path is not an object"},
    };
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail(pi, cases[i].json, cases[i].reason);
}
END_TEST

/* Reads the activity_unparsed_bodies_total counter. */
static void metric_value(void *opaque, const char *name, const char *label, const char *help,
                         vgl_metric_type type, double value)
{
    (void)label;
    (void)help;
    (void)type;
    if (strcmp(name, "activity_unparsed_bodies_total") == 0)
        *(double *)opaque = value;
}

START_TEST(bad_body_is_not_fatal)
{
    /* a truncated requestbody leaves the role fields out, counted, and the
     * record goes on */
    vgl_plugin_instance *pi = ph_load("azure-activity", NULL);
    vgl_event *e = run_one(pi, ph_event("{\"operationName\":\"Microsoft.Authorization/"
                                        "roleAssignments/write\",\"resultType\":\"Success\","
                                        "\"properties\":{\"requestbody\":\"{\\\"Properties\\\":"
                                        "{\\\"PrincipalId\\\":\\\"abc\"}}",
                                        1));
    ck_assert_str_eq(ph_str(e, "event.outcome"), "success");
    ck_assert_str_eq(ph_str(e, "event.category"), "iam");
    ck_assert(!ph_has(e, "user.target.id"));
    double bodies = -1;
    vgl_plugin_metrics_each(pi, metric_value, &bodies);
    ck_assert_double_eq(bodies, 1);
}
END_TEST

START_TEST(options)
{
    static const ph_opt small[] = {{"max_records", "2"}, {NULL, NULL}};
    vgl_plugin_instance *pi = ph_load("azure-activity", small);
    char *l = ph_line(ENVELOPE, 1);
    expect_fail(pi, l, "the envelope holds 3 records, over max_records (2)");
    free(l);
}
END_TEST

START_TEST(option_out_of_range)
{
    static const ph_opt opts[] = {{"max_embedded_json", "10"}, {NULL, NULL}};
    char *errs = ph_load_errors("azure-activity", opts);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin azure-activity (%s/vigil-source-azure-activity.so): max_embedded_json must "
             "be between 1KiB and 64MiB, got 10 bytes\n",
             PLUGIN_DIR);
    ck_assert_str_eq(errs, want);
    free(errs);
}
END_TEST

static Suite *activity_suite(void)
{
    Suite *s = suite_create("azure-activity");
    TCase *tc = tcase_create("azure-activity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, diag_role_assignment);
    tcase_add_test(tc, diag_failed_write);
    tcase_add_test(tc, diag_service_principal_action);
    tcase_add_test(tc, table_burst_of_deletes);
    tcase_add_test(tc, table_role_assignment_nested_json);
    tcase_add_test(tc, table_failed_write);
    tcase_add_test(tc, eventhub_envelope);
    tcase_add_test(tc, bad_envelopes);
    tcase_add_test(tc, malformed_records);
    tcase_add_test(tc, bad_body_is_not_fatal);
    tcase_add_test(tc, options);
    tcase_add_test(tc, option_out_of_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(activity_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
