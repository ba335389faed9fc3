/*
 * Tests of the entra-signin source plugin, loaded through the plugin host,
 * on hand-written sign-ins of both shapes (tests/data/README.md): exact ECS
 * values of a successful MFA sign-in, the MFA-fatigue burst, the password
 * spray, a user in two countries within minutes, non-interactive sign-ins,
 * the Event Hub envelope; and malformed records with their exact
 * dead-letter reasons.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_harness.h"

#define DIAG "signin_diagnostic_export.jsonl"
#define TABLE "signin_sentinel_table.jsonl"
#define ENVELOPE "signin_eventhub_envelope.json"

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
    vgl_event *ev = ph_event(l, 1000 + n);
    free(l);
    return ev;
}

/* Run one event; expect it live (normalized in place). */
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
    snprintf(want, sizeof(want), "plugin entra-signin: %s", reason);
    ck_assert_str_eq(ph_reason(ev), want);
    ck_assert_uint_eq(ph_batch.n, 1);
}

static void assert_bool(const vgl_event *ev, const char *path, bool want)
{
    bool got;
    ck_assert_msg(ph_bool(ev, path, &got), "%s is not a boolean", path);
    ck_assert_int_eq(got, want);
}

static void assert_double(const vgl_event *ev, const char *path, double want)
{
    double got;
    ck_assert_msg(ph_double(ev, path, &got), "%s is not a number", path);
    ck_assert_double_eq_tol(got, want, 1e-9);
}

/* ------------------------------------------------ diagnostic export */

START_TEST(diag_success_with_mfa)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *e = run_one(pi, line_event(DIAG, 1));
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2024-03-05T09:12:44.552Z");
    ck_assert_int_eq(e->ts_ms, 1709629964552);
    ck_assert_str_eq(ph_str(e, "event.kind"), "event");
    ck_assert_str_eq(ph_str(e, "event.category"), "authentication");
    ck_assert_str_eq(ph_str(e, "event.type"), "start");
    ck_assert_str_eq(ph_str(e, "event.action"), "signin");
    ck_assert_str_eq(ph_str(e, "event.outcome"), "success");
    ck_assert_str_eq(ph_str(e, "event.code"), "0");
    ck_assert(!ph_has(e, "error.code"));
    ck_assert(!ph_has(e, "event.reason"));
    ck_assert_str_eq(ph_str(e, "event.provider"), "AzureAD");
    ck_assert_str_eq(ph_str(e, "event.dataset"), "azure.signinlogs");
    ck_assert_str_eq(ph_str(e, "user.name"), "alice@contoso.com");
    ck_assert_str_eq(ph_str(e, "user.id"), "0f3d5a7e-3f0a-4d6b-9d3c-5b1a7f2e4c11");
    ck_assert_str_eq(ph_str(e, "user.domain"), "contoso.com");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "alice");
    ck_assert_str_eq(ph_str(e, "source.ip"), "203.0.113.10");
    ck_assert_str_eq(ph_str(e, "source.geo.country_iso_code"), "US");
    ck_assert_str_eq(ph_str(e, "source.geo.city_name"), "Seattle");
    ck_assert_str_eq(ph_str(e, "source.geo.region_name"), "Washington");
    assert_double(e, "source.geo.location.lat", 47.6062);
    assert_double(e, "source.geo.location.lon", -122.3321);
    ck_assert_str_eq(ph_str(e, "user_agent.original"),
                     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                     "Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0");
    ck_assert_str_eq(ph_str(e, "azure.signin.app_name"), "Azure Portal");
    ck_assert_str_eq(ph_str(e, "azure.signin.app_id"), "c44b4083-3bb0-49c1-b47d-974e53cbdf3c");
    ck_assert_str_eq(ph_str(e, "azure.signin.client_app"), "Browser");
    ck_assert_str_eq(ph_str(e, "azure.signin.risk_level"), "none");
    ck_assert_str_eq(ph_str(e, "azure.signin.risk_state"), "none");
    assert_bool(e, "azure.signin.mfa_required", true);
    ck_assert_str_eq(ph_str(e, "azure.signin.authentication_requirement"),
                     "multiFactorAuthentication");
    ck_assert_str_eq(ph_str(e, "azure.signin.conditional_access_status"), "success");
    assert_bool(e, "azure.signin.is_interactive", true);
    ck_assert_str_eq(ph_str(e, "azure.signin.mfa_method"), "PhoneAppNotification");
    ck_assert_str_eq(ph_str(e, "azure.signin.device_os"), "Windows 10");
    ck_assert_str_eq(ph_str(e, "azure.signin.resource_name"),
                     "Windows Azure Service Management API");
    ck_assert_str_eq(ph_str(e, "azure.signin.correlation_id"),
                     "c0a80101-0000-4000-8000-000000000001");
    ck_assert_str_eq(ph_str(e, "azure.signin.category"), "SignInLogs");
    ck_assert_str_eq(ph_str(e, "azure.tenant_id"), "72f988bf-86f1-41af-91ab-2d7cd011db47");
    ck_assert_str_eq(ph_str(e, "cloud.provider"), "azure");
    /* the originals stay */
    ck_assert_str_eq(ph_str(e, "properties.userPrincipalName"), "alice@contoso.com");
    ck_assert_str_eq(ph_str(e, "category"), "SignInLogs");
}
END_TEST

START_TEST(diag_mfa_fatigue)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *in[6];
    for (int i = 0; i < 6; i++)
        in[i] = line_event(DIAG, 2 + i);
    ck_assert_int_eq(ph_run(pi, in, 6), VGL_OK);
    vgl_event *out[8];
    ck_assert_uint_eq(ph_live(out, 8), 6);
    for (int i = 0; i < 6; i++) {
        vgl_event *e = out[i];
        ck_assert_str_eq(ph_str(e, "vigil.user"), "carol");
        ck_assert_str_eq(ph_str(e, "user.name"), "carol@contoso.com");
        ck_assert_str_eq(ph_str(e, "event.outcome"), "failure");
        ck_assert_str_eq(ph_str(e, "event.code"), "500121");
        ck_assert_str_eq(ph_str(e, "error.code"), "500121");
        ck_assert_str_eq(ph_str(e, "event.reason"),
                         "Authentication failed during strong authentication request.");
        ck_assert_str_eq(ph_str(e, "source.ip"), "198.51.100.45");
        ck_assert_str_eq(ph_str(e, "azure.signin.risk_level"), "medium");
        ck_assert_str_eq(ph_str(e, "azure.signin.conditional_access_status"), "failure");
    }
    /* within three minutes */
    ck_assert_int_eq(out[5]->ts_ms - out[0]->ts_ms, 175500);
    ck_assert_str_eq(ph_str(out[0], "@timestamp"), "2024-03-05T10:01:03.100Z");
}
END_TEST

START_TEST(diag_noninteractive)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *e = run_one(pi, line_event(DIAG, 8));
    ck_assert_str_eq(ph_str(e, "event.action"), "signin-noninteractive");
    ck_assert_str_eq(ph_str(e, "azure.signin.category"), "NonInteractiveUserSignInLogs");
    assert_bool(e, "azure.signin.is_interactive", false);
    assert_bool(e, "azure.signin.mfa_required", false);
    ck_assert_str_eq(ph_str(e, "azure.signin.client_app"), "Mobile Apps and Desktop clients");
    ck_assert(!ph_has(e, "azure.signin.mfa_method")); /* mfaDetail is {} */
}
END_TEST

START_TEST(diag_two_countries_in_minutes)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *in[2] = {line_event(DIAG, 9), line_event(DIAG, 10)};
    ck_assert_int_eq(ph_run(pi, in, 2), VGL_OK);
    ck_assert_str_eq(ph_str(in[0], "vigil.user"), "dave");
    ck_assert_str_eq(ph_str(in[1], "vigil.user"), "dave");
    ck_assert_str_eq(ph_str(in[0], "source.geo.country_iso_code"), "US");
    ck_assert_str_eq(ph_str(in[1], "source.geo.country_iso_code"), "RU");
    ck_assert_str_eq(ph_str(in[1], "source.geo.city_name"), "Moscow");
    ck_assert_str_eq(ph_str(in[0], "source.ip"), "203.0.113.88");
    ck_assert_str_eq(ph_str(in[1], "source.ip"), "198.51.100.200");
    ck_assert_int_eq(in[1]->ts_ms - in[0]->ts_ms, 240000);
    ck_assert_str_eq(ph_str(in[1], "azure.signin.risk_level"), "high");
    ck_assert_str_eq(ph_str(in[1], "event.outcome"), "success");
}
END_TEST

/* ---------------------------------------------------- Sentinel tables */

START_TEST(table_password_spray)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *in[6];
    for (int i = 0; i < 6; i++)
        in[i] = line_event(TABLE, 1 + i);
    ck_assert_int_eq(ph_run(pi, in, 6), VGL_OK);
    static const char *const users[6] = {"bob", "erin", "frank", "grace", "heidi", "ivan"};
    for (int i = 0; i < 6; i++) {
        vgl_event *e = in[i];
        ck_assert_int_eq(ph_state(e), VGL_BATCH_LIVE);
        ck_assert_str_eq(ph_str(e, "vigil.user"), users[i]);
        ck_assert_str_eq(ph_str(e, "source.ip"), "198.51.100.77");
        ck_assert_str_eq(ph_str(e, "event.outcome"), "failure");
        ck_assert_str_eq(ph_str(e, "event.code"), "50126");
        ck_assert_str_eq(ph_str(e, "error.code"), "50126");
        ck_assert_str_eq(ph_str(e, "event.reason"), "Invalid username or password or Invalid "
                                                    "on-premise username or password.");
        ck_assert_str_eq(ph_str(e, "event.action"), "signin");
        ck_assert_str_eq(ph_str(e, "azure.signin.client_app"), "Other clients; IMAP");
        assert_bool(e, "azure.signin.mfa_required", false);
        /* LocationDetails as an object (even lines) and as JSON text (odd) */
        ck_assert_str_eq(ph_str(e, "source.geo.country_iso_code"), "DE");
        ck_assert_str_eq(ph_str(e, "source.geo.city_name"), "Frankfurt am Main");
        assert_double(e, "source.geo.location.lat", 50.1109);
        assert_double(e, "source.geo.location.lon", 8.6821);
        ck_assert_str_eq(ph_str(e, "user_agent.original"), "python-requests/2.31.0");
        ck_assert_str_eq(ph_str(e, "azure.signin.category"), "SigninLogs");
        ck_assert_str_eq(ph_str(e, "azure.tenant_id"), "72f988bf-86f1-41af-91ab-2d7cd011db47");
    }
    ck_assert_str_eq(ph_str(in[0], "@timestamp"), "2024-03-05T02:14:01.100Z");
    ck_assert_str_eq(ph_str(in[5], "@timestamp"), "2024-03-05T02:14:36.105Z");
    ck_assert_str_eq(ph_str(in[3], "user.id"), "1c2d3e4f-0000-4a00-8000-00000000a4ce");
}
END_TEST

START_TEST(table_noninteractive_json_text)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *e = run_one(pi, line_event(TABLE, 7));
    ck_assert_str_eq(ph_str(e, "event.action"), "signin-noninteractive");
    ck_assert_str_eq(ph_str(e, "event.outcome"), "success");
    ck_assert_str_eq(ph_str(e, "event.code"), "0");
    ck_assert_str_eq(ph_str(e, "user.name"), "Alice@Contoso.com");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "alice");
    ck_assert_str_eq(ph_str(e, "user.domain"), "contoso.com");
    ck_assert_str_eq(ph_str(e, "source.ip"), "2001:db8:85a3::8a2e:370:7334");
    ck_assert_str_eq(ph_str(e, "source.geo.city_name"), "Redmond");
    assert_double(e, "source.geo.location.lon", -122.1215);
    ck_assert_str_eq(ph_str(e, "azure.signin.mfa_method"), "Previously satisfied");
    ck_assert_str_eq(ph_str(e, "azure.signin.device_os"), "Windows 11");
    assert_bool(e, "azure.signin.is_interactive", false);
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2024-03-05T09:30:15.250Z");
    ck_assert_str_eq(ph_str(e, "azure.signin.category"), "AADNonInteractiveUserSignInLogs");
}
END_TEST

START_TEST(table_status_fallback)
{
    /* no ResultType column: the code and reason come from Status */
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *e = run_one(pi, ph_event("{\"Type\":\"SigninLogs\",\"TimeGenerated\":"
                                        "\"2024-03-05T10:00:00Z\",\"UserPrincipalName\":"
                                        "\"CONTOSO\\\\Bob\",\"Status\":\"{\\\"errorCode\\\":"
                                        "50053,\\\"failureReason\\\":\\\"Account is locked\\\"}\","
                                        "\"IPAddress\":\"127.0.0.1\"}",
                                        1));
    ck_assert_str_eq(ph_str(e, "event.code"), "50053");
    ck_assert_str_eq(ph_str(e, "event.reason"), "Account is locked");
    ck_assert_str_eq(ph_str(e, "vigil.user"), "bob");
    ck_assert_str_eq(ph_str(e, "user.domain"), "contoso");
    ck_assert(!ph_has(e, "source.ip")); /* loopback is a placeholder */
}
END_TEST

/* ---------------------------------------------------------- envelope */

START_TEST(eventhub_envelope)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    vgl_event *ev = line_event(ENVELOPE, 1);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_DROPPED);
    vgl_event *out[4];
    ck_assert_uint_eq(ph_live(out, 4), 3);
    ck_assert_str_eq(ph_str(out[0], "vigil.user"), "alice");
    ck_assert_str_eq(ph_str(out[1], "source.geo.country_iso_code"), "US");
    ck_assert_str_eq(ph_str(out[2], "source.geo.country_iso_code"), "RU");
    ck_assert_int_eq(out[2]->ts_ms, 1709636640000);
    ck_assert_str_eq(ph_str(out[2], "@timestamp"), "2024-03-05T11:04:00.000Z");
    /* each record's own members are copied beside the ECS fields */
    ck_assert_str_eq(ph_str(out[2], "properties.location.city"), "Moscow");
    ck_assert_str_eq(ph_str(out[2], "operationName"), "Sign-in activity");
    ck_assert_int_eq(out[2]->meta.offset, 1001);
    ck_assert_ptr_null(ph_str(out[2], "records"));
}
END_TEST

START_TEST(bad_envelopes)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    expect_fail(pi, "{\"records\":[]}", "records is empty (an envelope with 0 records)");
    expect_fail(pi, "{\"records\":null}", "records is null, expected an array of records");
    expect_fail(pi, "{\"records\":[{\"Type\":\"SigninLogs\",\"ResultType\":\"0\","
                    "\"UserPrincipalName\":\"a@b.c\"},[1]]}",
                "records[1] is an array, expected an object");
    expect_fail(pi, "{\"records\":[{\"Type\":\"SigninLogs\",\"ResultType\":\"0\","
                    "\"UserPrincipalName\":\"a@b.c\"},{\"Type\":\"SigninLogs\"}]}",
                "records[1]: not an Entra sign-in record: no properties (diagnostic export) nor "
                "UserPrincipalName/ResultType (SigninLogs table)");
}
END_TEST

START_TEST(max_records_option)
{
    static const ph_opt opts[] = {{"max_records", "2"}, {NULL, NULL}};
    vgl_plugin_instance *pi = ph_load("entra-signin", opts);
    char *l = ph_line(ENVELOPE, 1);
    expect_fail(pi, l, "the envelope holds 3 records, over max_records (2)");
    free(l);
}
END_TEST

/* --------------------------------------------------------- malformed */

START_TEST(malformed_records)
{
    static const struct {
        const char *json, *reason;
    } cases[] = {
        {"{\"time\":\"2024-03-05T10:00:00Z\"}",
         "not an Entra sign-in record: no properties (diagnostic export) nor "
         "UserPrincipalName/ResultType (SigninLogs table)"},
        {"{\"properties\":\"x\"}", "properties is a string, expected an object"},
        {"{\"category\":\"AuditLogs\",\"properties\":{}}",
         "category \"AuditLogs\" is not a sign-in log (SignInLogs or NonInteractiveUserSignInLogs)"},
        {"{\"Type\":\"AuditLogs\",\"ResultType\":\"0\"}",
         "Type \"AuditLogs\" is not a sign-in table (SigninLogs or AADNonInteractiveUserSignInLogs)"},
        {"{\"category\":\"SignInLogs\",\"properties\":{\"userPrincipalName\":\"a@b.c\"}}",
         "sign-in record has no result code (properties.status.errorCode or resultType)"},
        {"{\"Type\":\"SigninLogs\",\"UserPrincipalName\":\"a@b.c\"}",
         "sign-in record has no result code (ResultType or Status.errorCode)"},
        {"{\"category\":\"SignInLogs\",\"resultType\":\"0\",\"properties\":{}}",
         "sign-in record names no user (properties.userPrincipalName or properties.userId)"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\"}",
         "sign-in record names no user (UserPrincipalName or UserId)"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"abc\",\"UserPrincipalName\":\"a@b.c\"}",
         "ResultType \"abc\" is not a numeric result code"},
        {"{\"properties\":{\"status\":{\"errorCode\":1.5}}}",
         "properties.status.errorCode 1.5 is not a result code"},
        {"{\"properties\":{\"status\":{\"errorCode\":[50126]}}}",
         "properties.status.errorCode is an array, expected a number or a string of digits"},
        {"{\"properties\":{\"status\":\"locked\"}}",
         "properties.status is text, expected an object or a JSON object"},
        {"{\"properties\":{\"status\":{\"errorCode\":0},\"userPrincipalName\":5}}",
         "properties.userPrincipalName is a number, expected a string"},
        {"{\"time\":\"not-a-time\",\"properties\":{\"status\":{\"errorCode\":0}}}",
         "time \"not-a-time\" is not a time"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"LocationDetails\":\"{bad\"}",
         "LocationDetails is not valid JSON: expected a string key at byte 1"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"LocationDetails\":\"{\\\"city\\\":\\\"x\\\"} trailing\"}",
         "LocationDetails is not valid JSON: text after the object at byte 13"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"LocationDetails\":5}",
         "LocationDetails is a number, expected an object"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"LocationDetails\":{\"geoCoordinates\":{\"latitude\":123,\"longitude\":0}}}",
         "LocationDetails.geoCoordinates.latitude 123 is out of range"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"LocationDetails\":{\"geoCoordinates\":{\"latitude\":\"north\"}}}",
         "LocationDetails.geoCoordinates.latitude \"north\" is not a number"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"IsInteractive\":\"maybe\"}",
         "IsInteractive \"maybe\" is not true or false"},
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"MfaDetail\":\"{\\\"authMethod\\\":\\\"\\\\x\\\"}\"}",
         "MfaDetail is not valid JSON: invalid escape in a string at byte 15"},
        /* a field of the record in the way of a normalized one */
        {"{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":\"a@b.c\","
         "\"event\":\"login\"}",
         "cannot set event.kind: a field of the record on its path is not an object"},
    };
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail(pi, cases[i].json, cases[i].reason);
}
END_TEST

START_TEST(embedded_json_limits)
{
    static const ph_opt opts[] = {{"max_embedded_json", "1KiB"}, {NULL, NULL}};
    vgl_plugin_instance *pi = ph_load("entra-signin", opts);
    /* too long */
    char city[1100];
    memset(city, 'a', sizeof(city) - 1);
    city[sizeof(city) - 1] = '\0';
    char *json;
    ck_assert_int_ge(asprintf(&json,
                              "{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":"
                              "\"a@b.c\",\"LocationDetails\":\"{\\\"city\\\":\\\"%s\\\"}\"}",
                              city),
                     0);
    expect_fail(pi, json, "LocationDetails holds 1110 bytes of JSON text, over the limit of 1024");
    free(json);
    /* too deep */
    char deep[200] = "{\\\"a\\\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    ck_assert_int_ge(asprintf(&json,
                              "{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserPrincipalName\":"
                              "\"a@b.c\",\"LocationDetails\":\"%s\"}",
                              deep),
                     0);
    expect_fail(pi, json, "LocationDetails is not valid JSON: nesting too deep at byte 36");
    free(json);
}
END_TEST

START_TEST(hostile_values_not_normalized)
{
    vgl_plugin_instance *pi = ph_load("entra-signin", NULL);
    /* a 5000-byte UPN stays in the record only; an empty IP is a placeholder */
    char *upn = malloc(5001);
    memset(upn, 'u', 5000);
    upn[5000] = '\0';
    char *json;
    ck_assert_int_ge(asprintf(&json,
                              "{\"Type\":\"SigninLogs\",\"ResultType\":\"0\",\"UserId\":\"u1\","
                              "\"UserPrincipalName\":\"%s\",\"IPAddress\":\"\"}",
                              upn),
                     0);
    free(upn);
    vgl_event *e = run_one(pi, ph_event(json, 1));
    free(json);
    ck_assert(!ph_has(e, "user.name"));
    ck_assert(!ph_has(e, "vigil.user"));
    ck_assert_str_eq(ph_str(e, "user.id"), "u1");
    ck_assert(!ph_has(e, "source.ip"));
    ck_assert_uint_eq(strlen(ph_str(e, "UserPrincipalName")), 5000);
}
END_TEST

START_TEST(option_out_of_range)
{
    static const ph_opt opts[] = {{"max_records", "0"}, {NULL, NULL}};
    char *errs = ph_load_errors("entra-signin", opts);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin entra-signin (%s/vigil-source-entra-signin.so): max_records must be between "
             "1 and 1000000, got 0\n",
             PLUGIN_DIR);
    ck_assert_str_eq(errs, want);
    free(errs);
}
END_TEST

static Suite *entra_suite(void)
{
    Suite *s = suite_create("entra-signin");
    TCase *tc = tcase_create("entra-signin");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, diag_success_with_mfa);
    tcase_add_test(tc, diag_mfa_fatigue);
    tcase_add_test(tc, diag_noninteractive);
    tcase_add_test(tc, diag_two_countries_in_minutes);
    tcase_add_test(tc, table_password_spray);
    tcase_add_test(tc, table_noninteractive_json_text);
    tcase_add_test(tc, table_status_fallback);
    tcase_add_test(tc, eventhub_envelope);
    tcase_add_test(tc, bad_envelopes);
    tcase_add_test(tc, max_records_option);
    tcase_add_test(tc, malformed_records);
    tcase_add_test(tc, embedded_json_limits);
    tcase_add_test(tc, hostile_values_not_normalized);
    tcase_add_test(tc, option_out_of_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(entra_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
