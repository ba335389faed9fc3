/*
 * Tests of the nsg-flow source plugin, loaded through the plugin host:
 * the Microsoft Learn NSG flow log v2 sample (2 records, 11 tuples), the
 * same in a {"records":[...]} envelope, version 1 tuples, msticpy's
 * Traffic Analytics rows, and malformed records with their exact
 * dead-letter reasons (bad tuples, wrong types, missing fields, too many
 * tuples, empty envelopes, limits of the batch and of event memory).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_harness.h"

#define SAMPLE "azure_nsg_flowlogs_v2_msdocs_sample.jsonl"
#define ANALYTICS "azure_networkanalytics_msticpy_excerpt.jsonl"
#define RID "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/FABRIKAMRG/" \
            "PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/FABRIAKMVM1-NSG"

static void setup(void)
{
    ph_setup(PLUGIN_DIR);
}

static void teardown(void)
{
    ph_teardown();
}

static void assert_int(const vgl_event *ev, const char *path, int64_t want)
{
    int64_t got;
    ck_assert_msg(ph_int(ev, path, &got), "%s is not an integer", path);
    ck_assert_int_eq(got, want);
}

/* A v2 flow record with one rule/mac group holding these tuples (a JSON
 * array body, e.g. "\"a\",\"b\""). */
static char *flow_record(const char *tuples)
{
    char *s = NULL;
    ck_assert_int_ge(asprintf(&s,
                              "{\"time\":\"2018-11-13T12:00:35.3899262Z\",\"category\":"
                              "\"NetworkSecurityGroupFlowEvent\",\"resourceId\":\"%s\","
                              "\"properties\":{\"Version\":2,\"flows\":[{\"rule\":\"R1\","
                              "\"flows\":[{\"mac\":\"000D3AF87856\",\"flowTuples\":[%s]}]}]}}",
                              RID, tuples),
                     0);
    return s;
}

#define GOOD "\"1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,\""

/* Run one record and expect it dead-lettered with reason (after the
 * "plugin nsg-flow: " prefix) and nothing emitted. */
static void expect_fail(vgl_plugin_instance *pi, const char *json, const char *reason)
{
    vgl_event *ev = ph_event(json, 5);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_FAILED);
    char want[1024];
    snprintf(want, sizeof(want), "plugin nsg-flow: %s", reason);
    ck_assert_str_eq(ph_reason(ev), want);
    ck_assert_uint_eq(ph_batch.n, 1); /* nothing emitted */
}

/* ------------------------------------------------------------ sample */

START_TEST(sample_v2_every_tuple)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    char *l1 = ph_line(SAMPLE, 1), *l2 = ph_line(SAMPLE, 2);
    vgl_event *in[2] = {ph_event(l1, 100), ph_event(l2, 101)};
    free(l1);
    free(l2);
    ck_assert_int_eq(ph_run(pi, in, 2), VGL_OK);
    /* both records replaced by their tuples: 7 + 4 */
    ck_assert_int_eq(ph_state(in[0]), VGL_BATCH_DROPPED);
    ck_assert_int_eq(ph_state(in[1]), VGL_BATCH_DROPPED);
    vgl_event *out[32];
    size_t n = ph_live(out, 32);
    ck_assert_uint_eq(n, 11);
    ck_assert_uint_eq(ph_batch.n, 13);

    /* the first: a denied inbound UDP scan of port 443 */
    vgl_event *e = out[0];
    ck_assert_str_eq(ph_str(e, "source.ip"), "94.102.49.190");
    assert_int(e, "source.port", 28746);
    ck_assert_str_eq(ph_str(e, "destination.ip"), "10.5.16.4");
    assert_int(e, "destination.port", 443);
    ck_assert_str_eq(ph_str(e, "network.transport"), "udp");
    ck_assert_str_eq(ph_str(e, "network.direction"), "inbound");
    ck_assert_str_eq(ph_str(e, "event.type"), "denied");
    ck_assert_str_eq(ph_str(e, "event.action"), "flow-begin");
    ck_assert_str_eq(ph_str(e, "event.category"), "network");
    ck_assert_str_eq(ph_str(e, "event.kind"), "event");
    ck_assert_str_eq(ph_str(e, "event.provider"), "NSG");
    ck_assert_str_eq(ph_str(e, "event.dataset"), "azure.nsgflow");
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2018-11-13T12:00:02.000Z");
    ck_assert_int_eq(e->ts_ms, 1542110402000);
    ck_assert_str_eq(ph_str(e, "azure.nsg.rule"), "DefaultRule_DenyAllInBound");
    ck_assert_str_eq(ph_str(e, "azure.nsg.mac"), "000D3AF87856");
    assert_int(e, "azure.nsg.version", 2);
    ck_assert_str_eq(ph_str(e, "azure.nsg.flow_tuple"),
                     "1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,");
    ck_assert_str_eq(ph_str(e, "azure.resource.id"), RID);
    ck_assert_str_eq(ph_str(e, "azure.resource.group"), "FABRIKAMRG");
    ck_assert_str_eq(ph_str(e, "cloud.account.id"), "00000000-0000-0000-0000-000000000000");
    ck_assert_str_eq(ph_str(e, "cloud.provider"), "azure");
    ck_assert(!ph_has(e, "source.bytes")); /* begin tuples carry no counters */
    ck_assert(!ph_has(e, "network.bytes"));
    /* the record's own scalars travel along, not its flow list */
    ck_assert_str_eq(ph_str(e, "time"), "2018-11-13T12:00:35.3899262Z");
    ck_assert_str_eq(ph_str(e, "systemId"), "a0fca5ce-022c-47b1-9735-89943b42f2fa");
    ck_assert_str_eq(ph_str(e, "category"), "NetworkSecurityGroupFlowEvent");
    ck_assert_str_eq(ph_str(e, "operationName"), "NetworkSecurityGroupFlowEvents");
    ck_assert(!ph_has(e, "properties"));
    /* its Kafka origin */
    ck_assert_str_eq(e->meta.topic, "raw.azure");
    ck_assert_int_eq(e->meta.offset, 100);

    /* the 6th: an allowed outbound TCP flow, continuing, with counters */
    e = out[5];
    ck_assert_str_eq(ph_str(e, "source.ip"), "10.5.16.4");
    assert_int(e, "source.port", 44931);
    ck_assert_str_eq(ph_str(e, "destination.ip"), "13.67.143.115");
    assert_int(e, "destination.port", 443);
    ck_assert_str_eq(ph_str(e, "network.transport"), "tcp");
    ck_assert_str_eq(ph_str(e, "network.direction"), "outbound");
    ck_assert_str_eq(ph_str(e, "event.type"), "allowed");
    ck_assert_str_eq(ph_str(e, "event.action"), "flow-continue");
    ck_assert_str_eq(ph_str(e, "azure.nsg.rule"), "DefaultRule_AllowInternetOutBound");
    assert_int(e, "source.packets", 30);
    assert_int(e, "source.bytes", 16978);
    assert_int(e, "destination.packets", 24);
    assert_int(e, "destination.bytes", 14008);
    assert_int(e, "network.packets", 54);
    assert_int(e, "network.bytes", 30986);
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2018-11-13T11:59:39.000Z");

    /* the 5th ends a flow */
    ck_assert_str_eq(ph_str(out[4], "event.action"), "flow-end");
    assert_int(out[4], "network.bytes", 132);

    /* the 8th is the second record's first tuple, from offset 101 */
    e = out[7];
    ck_assert_str_eq(ph_str(e, "source.ip"), "125.64.94.197");
    assert_int(e, "destination.port", 18264);
    ck_assert_int_eq(e->meta.offset, 101);
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2018-11-13T12:00:37.000Z");

    /* every tuple of the sample, in order */
    static const char *const src[11] = {
        "94.102.49.190", "176.119.4.10", "167.99.86.8",    "10.5.16.4",
        "10.5.16.4",     "10.5.16.4",    "10.5.16.4",      "125.64.94.197",
        "80.211.72.221", "46.101.199.124", "176.119.4.30"};
    static const int dport[11] = {443, 59336, 8088, 443, 443, 443, 443, 18264, 8088, 8088, 52801};
    for (size_t i = 0; i < 11; i++) {
        ck_assert_str_eq(ph_str(out[i], "source.ip"), src[i]);
        assert_int(out[i], "destination.port", dport[i]);
        ck_assert_str_eq(ph_str(out[i], "event.type"), i >= 3 && i <= 6 ? "allowed" : "denied");
    }

    vgl_plugin_stats st;
    vgl_plugin_stats_get(pi, &st);
    ck_assert_uint_eq(st.emitted, 11);
    ck_assert_uint_eq(st.dropped, 2);
    ck_assert_uint_eq(st.failed, 0);
    ck_assert_uint_eq(st.errors, 0);
}
END_TEST

START_TEST(envelope_of_records)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    char *l1 = ph_line(SAMPLE, 1), *l2 = ph_line(SAMPLE, 2), *json;
    ck_assert_int_ge(asprintf(&json, "{\"records\":[%s,%s]}", l1, l2), 0);
    free(l1);
    free(l2);
    vgl_event *ev = ph_event(json, 7);
    free(json);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    vgl_event *out[32];
    ck_assert_uint_eq(ph_live(out, 32), 11);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_DROPPED);
    ck_assert_str_eq(ph_str(out[0], "source.ip"), "94.102.49.190");
    ck_assert_str_eq(ph_str(out[0], "systemId"), "a0fca5ce-022c-47b1-9735-89943b42f2fa");
    ck_assert_str_eq(ph_str(out[10], "source.ip"), "176.119.4.30");
    ck_assert_str_eq(ph_str(out[10], "time"), "2018-11-13T12:01:35.3918317Z");
    ck_assert_int_eq(out[10]->meta.offset, 7);
}
END_TEST

START_TEST(version1_tuples)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    vgl_event *ev = ph_event(
        "{\"time\":\"2017-06-16T20:59:43.7340000Z\",\"systemId\":\"5f4d68d0\",\"macAddress\":"
        "\"000D3AF87856\",\"resourceId\":\"/subscriptions/11111111-2222-3333-4444-555555555555/"
        "resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1\","
        "\"properties\":{\"Version\":1,\"flows\":[{\"rule\":\"UserRule_Ssh\",\"flows\":[{\"mac\":"
        "\"000D3AF87856\",\"flowTuples\":[\"1497646722,198.51.100.7,10.0.0.4,50123,22,T,I,A\"]}]}]}}",
        9);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    vgl_event *out[4];
    ck_assert_uint_eq(ph_live(out, 4), 1);
    vgl_event *e = out[0];
    ck_assert_str_eq(ph_str(e, "source.ip"), "198.51.100.7");
    assert_int(e, "destination.port", 22);
    ck_assert_str_eq(ph_str(e, "event.type"), "allowed");
    ck_assert_str_eq(ph_str(e, "network.direction"), "inbound");
    ck_assert(!ph_has(e, "event.action")); /* version 1 has no flow state */
    ck_assert(!ph_has(e, "source.packets"));
    assert_int(e, "azure.nsg.version", 1);
    ck_assert_str_eq(ph_str(e, "macAddress"), "000D3AF87856");
    ck_assert_str_eq(ph_str(e, "azure.resource.group"), "rg1");
    ck_assert_str_eq(ph_str(e, "cloud.account.id"), "11111111-2222-3333-4444-555555555555");
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2017-06-16T20:58:42.000Z");
}
END_TEST

/* ---------------------------------------------------- bad tuples */

START_TEST(malformed_tuples)
{
    static const struct {
        const char *tuple, *reason;
    } cases[] = {
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,U,I",
         "has 7 fields, expected 13 (version 2) or 8 (version 1)"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,,,",
         "has 15 fields, expected 13 (version 2) or 8 (version 1)"},
        {"", "has 1 fields, expected 13 (version 2) or 8 (version 1)"},
        {"15421104x2,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,",
         ": timestamp \"15421104x2\" is invalid"},
        {"1542110402,94.102.49.300,10.5.16.4,28746,443,U,I,D,B,,,,",
         ": source IP \"94.102.49.300\" is invalid"},
        {"1542110402,94.102.49.190,,28746,443,U,I,D,B,,,,", ": destination IP \"\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,-1,443,U,I,D,B,,,,",
         ": source port \"-1\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,70000,U,I,D,B,,,,",
         ": destination port \"70000\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,X,I,D,B,,,,",
         ": protocol \"X\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,T,In,D,B,,,,",
         ": direction \"In\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,T,I,Deny,B,,,,",
         ": decision \"Deny\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,T,I,D,Z,,,,",
         ": flow state \"Z\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,T,I,D,C,12a,1,1,1",
         ": packets sent \"12a\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,T,I,D,E,1,1,1,9999999999999999999",
         ": bytes received \"9999999999999999999\" is invalid"},
        {"1542110402,94.102.49.190,10.5.16.4,28746,443,T,I,D,B,,,,\"\\u0007",
         ": bytes received \"??\" is invalid"},
    };
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* a good tuple first: the record fails as a whole, nothing emitted */
        char *body, *json, want[512];
        /* the JSON text of the tuple: escape the quote of the last case */
        char esc[256];
        size_t k = 0;
        for (const char *p = cases[i].tuple; *p && k < sizeof(esc) - 2; p++) {
            if (*p == '"')
                esc[k++] = '\\';
            esc[k++] = *p;
        }
        esc[k] = '\0';
        ck_assert_int_ge(asprintf(&body, GOOD ",\"%s\"", esc), 0);
        json = flow_record(body);
        snprintf(want, sizeof(want), "properties.flows[0].flows[0].flowTuples[1]%s%s",
                 cases[i].reason[0] == ':' ? "" : " ", cases[i].reason);
        expect_fail(pi, json, want);
        free(body);
        free(json);
    }
}
END_TEST

START_TEST(wrong_types_and_missing_fields)
{
    static const struct {
        const char *json, *reason;
    } cases[] = {
        {"{\"properties\":\"flows\"}", "properties is a string, expected an object"},
        {"{\"properties\":{\"Version\":2}}", "properties.flows is missing"},
        {"{\"properties\":{\"flows\":null}}", "properties.flows is missing"},
        {"{\"properties\":{\"flows\":{}}}", "properties.flows is an object, expected an array"},
        {"{\"properties\":{\"flows\":[7]}}", "properties.flows[0] is a number, expected an object"},
        {"{\"properties\":{\"flows\":[{\"rule\":5,\"flows\":[]}]}}",
         "properties.flows[0].rule is a number, expected a string"},
        {"{\"properties\":{\"flows\":[{\"rule\":\"R\"}]}}", "properties.flows[0].flows is missing"},
        {"{\"properties\":{\"flows\":[{\"rule\":\"R\",\"flows\":[[]]}]}}",
         "properties.flows[0].flows[0] is an array, expected an object"},
        {"{\"properties\":{\"flows\":[{\"rule\":\"R\",\"flows\":[{\"mac\":true,"
         "\"flowTuples\":[]}]}]}}",
         "properties.flows[0].flows[0].mac is a boolean, expected a string"},
        {"{\"properties\":{\"flows\":[{\"rule\":\"R\",\"flows\":[{\"mac\":\"M\"}]}]}}",
         "properties.flows[0].flows[0].flowTuples is missing"},
        {"{\"properties\":{\"flows\":[{\"rule\":\"R\",\"flows\":[{\"flowTuples\":\"1,2\"}]}]}}",
         "properties.flows[0].flows[0].flowTuples is a string, expected an array"},
        {"{\"properties\":{\"flows\":[{\"rule\":\"R\",\"flows\":[{\"flowTuples\":[1542110402]}]}]}}",
         "properties.flows[0].flows[0].flowTuples[0] is a number, expected a string"},
        {"{\"properties\":{\"Version\":3,\"flows\":[]}}", "properties.Version is 3, expected 1 or 2"},
        {"{\"properties\":{\"Version\":\"two\",\"flows\":[]}}",
         "properties.Version \"two\" is not a number"},
        {"{\"resourceId\":42,\"properties\":{\"flows\":[]}}",
         "resourceId is a number, expected a string"},
        {"{\"time\":\"2018-11-13T12:00:35Z\",\"category\":\"NetworkSecurityGroupFlowEvent\"}",
         "not an NSG flow log record (no properties) nor a Traffic Analytics row (no FlowType "
         "or FlowDirection)"},
    };
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail(pi, cases[i].json, cases[i].reason);
}
END_TEST

START_TEST(record_without_tuples_is_dropped)
{
    /* a valid record whose groups hold no tuples has nothing to say */
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    vgl_event *ev = ph_event("{\"properties\":{\"Version\":2,\"flows\":[{\"rule\":\"R\",\"flows\":"
                             "[{\"mac\":\"M\",\"flowTuples\":[]}]}]}}",
                             1);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_DROPPED);
    ck_assert_uint_eq(ph_batch.n, 1);
}
END_TEST

/* ------------------------------------------------------- envelopes */

START_TEST(bad_envelopes)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    expect_fail(pi, "{\"records\":[]}", "records is empty (an envelope with 0 records)");
    expect_fail(pi, "{\"records\":{\"a\":1}}", "records is an object, expected an array of records");
    expect_fail(pi, "{\"records\":\"[]\"}", "records is a string, expected an array of records");
    char *l1 = ph_line(SAMPLE, 1), *json;
    ck_assert_int_ge(asprintf(&json, "{\"records\":[%s,\"oops\"]}", l1), 0);
    expect_fail(pi, json, "records[1] is a string, expected an object");
    free(json);
    /* a bad record anywhere fails the envelope before anything is emitted */
    ck_assert_int_ge(asprintf(&json, "{\"records\":[%s,{\"properties\":{\"flows\":[{\"rule\":"
                                     "\"R\",\"flows\":[{\"flowTuples\":[\"1,2\"]}]}]}}]}",
                              l1),
                     0);
    expect_fail(pi, json,
                "records[1]: properties.flows[0].flows[0].flowTuples[0] has 2 fields, expected 13 "
                "(version 2) or 8 (version 1)");
    free(json);
    free(l1);
}
END_TEST

/* ----------------------------------------------------------- bounds */

START_TEST(max_tuples_option)
{
    static const ph_opt opts[] = {{"max_tuples_per_record", "3"}, {NULL, NULL}};
    vgl_plugin_instance *pi = ph_load("nsg-flow", opts);
    char *json = flow_record(GOOD "," GOOD "," GOOD);
    vgl_event *ev = ph_event(json, 1);
    free(json);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    vgl_event *out[8];
    ck_assert_uint_eq(ph_live(out, 8), 3); /* exactly the limit: fine */
    json = flow_record(GOOD "," GOOD "," GOOD "," GOOD);
    expect_fail(pi, json, "the record holds more than 3 flow tuples (max_tuples_per_record)");
    free(json);
    /* the limit counts all records of an envelope together */
    char *r2 = flow_record(GOOD "," GOOD);
    ck_assert_int_ge(asprintf(&json, "{\"records\":[%s,%s]}", r2, r2), 0);
    expect_fail(pi, json, "the record holds more than 3 flow tuples (max_tuples_per_record)");
    free(json);
    free(r2);
}
END_TEST

START_TEST(default_limit_10000)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    size_t n = 10001, one = strlen(GOOD) + 1;
    char *body = malloc(n * one + 1);
    ck_assert_ptr_nonnull(body);
    char *p = body;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, GOOD, strlen(GOOD));
        p += strlen(GOOD);
    }
    *p = '\0';
    char *json = flow_record(body);
    free(body);
    expect_fail(pi, json, "the record holds more than 10000 flow tuples (max_tuples_per_record)");
    free(json);
}
END_TEST

START_TEST(option_out_of_range)
{
    static const ph_opt zero[] = {{"max_tuples_per_record", "0"}, {NULL, NULL}};
    char *errs = ph_load_errors("nsg-flow", zero);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin nsg-flow (%s/vigil-source-nsg-flow.so): max_tuples_per_record must be "
             "between 1 and 1000000, got 0\n",
             PLUGIN_DIR);
    ck_assert_str_eq(errs, want);
    free(errs);
}
END_TEST

START_TEST(option_not_an_integer)
{
    static const ph_opt bad[] = {{"max_tuples_per_record", "lots"}, {NULL, NULL}};
    char *errs = ph_load_errors("nsg-flow", bad);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin nsg-flow (%s/vigil-source-nsg-flow.so): vigil.yaml:5:7: option "
             "\"max_tuples_per_record\" must be an integer, got \"lots\"\n",
             PLUGIN_DIR);
    ck_assert_str_eq(errs, want);
    free(errs);
}
END_TEST

START_TEST(batch_event_limit)
{
    /* the worker's batch limit stops the expansion half way: the record is
     * dead-lettered (the events already emitted stay: the host cannot take
     * them back) */
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    ph_set_limits(5, 0);
    char *l1 = ph_line(SAMPLE, 1);
    vgl_event *ev = ph_event(l1, 3);
    free(l1);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_FAILED);
    ck_assert_str_eq(ph_reason(ev), "plugin nsg-flow: cannot expand the record: the batch's "
                                    "event limit was reached after 4 of 7 flow tuples");
}
END_TEST

START_TEST(event_memory_limit)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    ph_set_limits(0, 600);
    char *l1 = ph_line(SAMPLE, 1);
    vgl_event *ev = ph_event(l1, 3);
    free(l1);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    ck_assert_int_eq(ph_state(ev), VGL_BATCH_FAILED);
    const char *r = ph_reason(ev);
    ck_assert_str_eq(r, "plugin nsg-flow: cannot set @timestamp: the event's memory limit is "
                       "reached");
}
END_TEST

/* ------------------------------------------------ traffic analytics */

START_TEST(analytics_rows)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    int n = ph_nlines(ANALYTICS);
    ck_assert_int_eq(n, 4);
    vgl_event *in[4];
    for (int i = 0; i < n; i++) {
        char *l = ph_line(ANALYTICS, i + 1);
        in[i] = ph_event(l, 200 + i);
        free(l);
    }
    ck_assert_int_eq(ph_run(pi, in, 4), VGL_OK);
    vgl_event *out[8];
    ck_assert_uint_eq(ph_live(out, 8), 4); /* one event per row, in place */
    ck_assert_ptr_eq(out[0], in[0]);

    /* AzurePublic, outbound HTTPS from the VM */
    vgl_event *e = in[0];
    ck_assert_str_eq(ph_str(e, "source.ip"), "10.0.3.5");
    ck_assert_str_eq(ph_str(e, "destination.ip"), "65.55.44.109");
    assert_int(e, "destination.port", 443);
    ck_assert(!ph_has(e, "source.port"));
    ck_assert_str_eq(ph_str(e, "network.transport"), "tcp");
    ck_assert_str_eq(ph_str(e, "network.protocol"), "https");
    ck_assert_str_eq(ph_str(e, "network.direction"), "outbound");
    ck_assert_str_eq(ph_str(e, "event.type"), "allowed");
    ck_assert_str_eq(ph_str(e, "event.action"), "flow-summary");
    ck_assert_str_eq(ph_str(e, "event.category"), "network");
    ck_assert_str_eq(ph_str(e, "event.dataset"), "azure.networkanalytics");
    ck_assert_str_eq(ph_str(e, "event.provider"), "AzureNetworkAnalytics");
    ck_assert_str_eq(ph_str(e, "@timestamp"), "2019-02-12T13:00:07.000Z");
    ck_assert_int_eq(e->ts_ms, 1549976407000);
    ck_assert_str_eq(ph_str(e, "event.start"), "2019-02-12T13:00:07.000Z");
    ck_assert_str_eq(ph_str(e, "event.end"), "2019-02-12T13:45:08.000Z");
    ck_assert_str_eq(ph_str(e, "host.name"), "msticalertswin1");
    ck_assert_str_eq(ph_str(e, "vigil.host"), "msticalertswin1");
    ck_assert_str_eq(ph_str(e, "azure.resource.group"), "asihuntomsworkspacerg");
    ck_assert_str_eq(ph_str(e, "azure.networkanalytics.flow_type"), "AzurePublic");
    ck_assert_str_eq(ph_str(e, "azure.networkanalytics.remote_region"), "eastus2");
    assert_int(e, "azure.networkanalytics.allowed_out_flows", 4);
    assert_int(e, "azure.networkanalytics.denied_in_flows", 0);
    ck_assert_str_eq(ph_str(e, "DestPort"), "443.0"); /* the original stays */

    /* ExternalPublic, inbound RDP to the VM */
    e = in[1];
    ck_assert_str_eq(ph_str(e, "source.ip"), "131.107.147.209");
    ck_assert_str_eq(ph_str(e, "destination.ip"), "10.0.3.5");
    assert_int(e, "destination.port", 3389);
    ck_assert_str_eq(ph_str(e, "network.direction"), "inbound");
    ck_assert_str_eq(ph_str(e, "network.protocol"), "ms-wbt-server");
    assert_int(e, "azure.networkanalytics.allowed_in_flows", 2);
    ck_assert(!ph_has(e, "azure.networkanalytics.remote_region")); /* "" is not copied */

    /* IntraVNet: both ends given; no VM name */
    e = in[2];
    ck_assert_str_eq(ph_str(e, "source.ip"), "10.0.3.4");
    ck_assert_str_eq(ph_str(e, "destination.ip"), "10.0.3.5");
    assert_int(e, "destination.port", 445);
    ck_assert(!ph_has(e, "host.name"));
    ck_assert(!ph_has(e, "azure.resource.group"));

    /* UDP (NTP) */
    e = in[3];
    ck_assert_str_eq(ph_str(e, "network.transport"), "udp");
    assert_int(e, "destination.port", 123);
    ck_assert_str_eq(ph_str(e, "destination.ip"), "52.168.138.145");
}
END_TEST

START_TEST(analytics_in_envelope)
{
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    char *l1 = ph_line(ANALYTICS, 1), *l3 = ph_line(SAMPLE, 2), *json;
    ck_assert_int_ge(asprintf(&json, "{\"records\":[%s,%s]}", l1, l3), 0);
    free(l1);
    free(l3);
    vgl_event *ev = ph_event(json, 11);
    free(json);
    ck_assert_int_eq(ph_run(pi, &ev, 1), VGL_OK);
    vgl_event *out[8];
    ck_assert_uint_eq(ph_live(out, 8), 5); /* 1 row + 4 tuples */
    ck_assert_str_eq(ph_str(out[0], "destination.ip"), "65.55.44.109");
    ck_assert_str_eq(ph_str(out[0], "VMName"), "msticalertswin1");
    ck_assert_str_eq(ph_str(out[1], "source.ip"), "125.64.94.197");
}
END_TEST

START_TEST(analytics_malformed)
{
    static const struct {
        const char *json, *reason;
    } cases[] = {
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"DestPort\":\"443.5\"}",
         "DestPort 443.5 is not a port number"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"DestPort\":\"https\"}",
         "DestPort \"https\" is not a number"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"DestPort\":[443]}",
         "DestPort is an array, expected a number"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"X\"}",
         "FlowDirection \"X\" is not I or O"},
        {"{\"FlowType\":\"AzurePublic\"}", "FlowDirection is missing"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"L4Protocol\":\"ICMP\"}",
         "L4Protocol \"ICMP\" is not T or U"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"FlowStartTime\":\"yesterday\"}",
         "FlowStartTime \"yesterday\" is not a time"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"SrcIP\":10}",
         "SrcIP is a number, expected a string"},
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"AllowedOutFlows\":\"-1.0\"}",
         "AllowedOutFlows -1 is not a count"},
        /* a field of the record in the way of a normalized one */
        {"{\"FlowType\":\"AzurePublic\",\"FlowDirection\":\"O\",\"VMIPAddress\":\"10.0.3.5\","
         "\"source\":\"vm\"}",
         "cannot set source.ip: a field of the record on its path is not an object"},
    };
    vgl_plugin_instance *pi = ph_load("nsg-flow", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail(pi, cases[i].json, cases[i].reason);
}
END_TEST

static Suite *nsg_suite(void)
{
    Suite *s = suite_create("nsg-flow");
    TCase *tc = tcase_create("nsg-flow");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sample_v2_every_tuple);
    tcase_add_test(tc, envelope_of_records);
    tcase_add_test(tc, version1_tuples);
    tcase_add_test(tc, malformed_tuples);
    tcase_add_test(tc, wrong_types_and_missing_fields);
    tcase_add_test(tc, record_without_tuples_is_dropped);
    tcase_add_test(tc, bad_envelopes);
    tcase_add_test(tc, max_tuples_option);
    tcase_add_test(tc, default_limit_10000);
    tcase_add_test(tc, option_out_of_range);
    tcase_add_test(tc, option_not_an_integer);
    tcase_add_test(tc, batch_event_limit);
    tcase_add_test(tc, event_memory_limit);
    tcase_add_test(tc, analytics_rows);
    tcase_add_test(tc, analytics_in_envelope);
    tcase_add_test(tc, analytics_malformed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nsg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
