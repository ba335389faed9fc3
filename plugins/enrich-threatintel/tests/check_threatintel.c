/*
 * Tests of the threatintel enricher: CSV and STIX loading (with malformed
 * rows and their file:line errors), a match on every indicator type, CIDR
 * longest prefix, the real MDE and Traffic Analytics samples, hostile event
 * values, reloads (swap, failure, concurrent readers), and the bounded CSV
 * and JSON readers on their own.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "json.h"
#include "plugin_harness.h"

#define SO PLUGIN_DIR "/vigil-enrich-threatintel.so"
#define CSV DATA_DIR "/indicators.csv"
#define BAD_CSV DATA_DIR "/indicators_bad.csv"
#define BUNDLE DATA_DIR "/bundle.json"

static vgl_plugin_instance *load_csv(const char *path, const char *extra)
{
    return PH_LOAD_OK("plugins:\n"
                      "  - name: threatintel\n"
                      "    config:\n"
                      "      csv: [\"%s\"]\n"
                      "%s",
                      path, extra ? extra : "");
}

/* Run one event with field=value and return it. */
static vgl_event *match(vgl_plugin_instance *pi, const char *field, const char *value)
{
    vgl_event *ev = ph_event();
    ph_set_str(ev, field, value);
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    return ev;
}

static void assert_match(const vgl_event *ev, const char *type, const char *value,
                         const char *provider, const char *confidence, const char *field)
{
    ck_assert_ptr_nonnull(ph_str(ev, "threat.indicator.type"));
    ck_assert_str_eq(ph_str(ev, "threat.indicator.type"), type);
    ck_assert_str_eq(ph_str(ev, "threat.indicator.value"), value);
    if (provider)
        ck_assert_str_eq(ph_str(ev, "threat.indicator.provider"), provider);
    else
        ck_assert(!ph_has(ev, "threat.indicator.provider"));
    if (confidence)
        ck_assert_str_eq(ph_str(ev, "threat.indicator.confidence"), confidence);
    else
        ck_assert(!ph_has(ev, "threat.indicator.confidence"));
    ck_assert_str_eq(ph_str(ev, "threat.indicator.matched.field"), field);
}

/* ----------------------------------------------------------------- CSV */

START_TEST(csv_every_type)
{
    vgl_plugin_instance *pi = load_csv(CSV, NULL);
    ck_assert_double_eq(ph_metric(pi, "threatintel_indicators", NULL), 12);
    ck_assert_ptr_nonnull(ph_log_find("msg=\"indicators loaded\" plugin=threatintel "
                                      "indicators=12 rejected=0 expired=0 unsupported=0 "
                                      "duplicates=0"));
    vgl_event *ev = match(pi, "source.ip", "94.102.49.190");
    assert_match(ev, "ipv4-addr", "94.102.49.190", "abuse.ch", "80", "source.ip");
    ck_assert_str_eq(ph_str(ev, "threat.indicator.description"), "scanner seen in the NSG sample");

    ev = match(pi, "destination.ip", "2001:DB8:0::BAD");
    assert_match(ev, "ipv6-addr", "2001:db8::bad", "test", "60", "destination.ip");
    ck_assert_str_eq(ph_str(ev, "threat.indicator.description"),
                     "ipv6 host, quoted, with \"comma\"");

    ev = match(pi, "destination.ip", "2001:db8:bad:1::5"); /* in the /48 */
    assert_match(ev, "ipv6-addr", "2001:db8:bad::/48", "test", "40", "destination.ip");
    ck_assert_str_eq(ph_str(ev, "threat.indicator.description"), "multi\r\nline description");

    ev = match(pi, "dns.question.name", "PAGE.googledocpage.com");
    assert_match(ev, "domain-name", "page.googledocpage.com", "urlhaus", "90",
                 "dns.question.name");
    ev = match(pi, "url.domain", "page.googledocpage.com.");
    assert_match(ev, "domain-name", "page.googledocpage.com", "urlhaus", "90", "url.domain");

    /* scheme and host compare case-insensitively, the path exactly */
    ev = match(pi, "url.full",
               "https://page.googledocpage.com/zOBOvBYm550gShsdwEAKoJUi95+jr4jqgNQ/2N18Q7Y=");
    assert_match(ev, "url",
                 "https://page.googledocpage.com/zOBOvBYm550gShsdwEAKoJUi95+jr4jqgNQ/2N18Q7Y=",
                 "urlhaus", "90", "url.full");
    ev = match(pi, "url.full",
               "https://page.googledocpage.com/ZOBOVBYM550gShsdwEAKoJUi95+jr4jqgNQ/2N18Q7Y=");
    ck_assert(!ph_has(ev, "threat"));

    ev = match(pi, "process.hash.sha256",
               "dba3137811c686fd35e418d76184070e031f207002649da95385dfd05a8bb895");
    assert_match(ev, "file", "dba3137811c686fd35e418d76184070e031f207002649da95385dfd05a8bb895",
                 "mde", "40", "process.hash.sha256");
    ev = match(pi, "file.hash.md5", "81CA40085FC75BABD2C91D18AA9FFA68");
    assert_match(ev, "file", "81ca40085fc75babd2c91d18aa9ffa68", "mde", "30", "file.hash.md5");
    ev = match(pi, "process.hash.sha1", "f1efb0fddc156e4c61c5f78a54700e4e7984d55d");
    assert_match(ev, "file", "f1efb0fddc156e4c61c5f78a54700e4e7984d55d", "mde", "30",
                 "process.hash.sha1");

    /* the row with an empty type: inferred, empty provider omitted */
    ev = match(pi, "destination.domain", "evil.example");
    assert_match(ev, "domain-name", "evil.example", NULL, NULL, "destination.domain");

    /* no match: nothing added; a field that is not configured is not looked at */
    ev = match(pi, "source.ip", "94.102.49.191");
    ck_assert(!ph_has(ev, "threat"));
    ev = match(pi, "related.ip", "94.102.49.190");
    ck_assert(!ph_has(ev, "threat"));
    ck_assert_double_eq(ph_metric(pi, "threatintel_matches_total", NULL), 10);
}
END_TEST

START_TEST(cidr_longest_prefix)
{
    vgl_plugin_instance *pi = load_csv(CSV, NULL);
    vgl_event *ev = match(pi, "source.ip", "176.119.4.10");
    assert_match(ev, "ipv4-addr", "176.119.4.0/24", "spamhaus", "70", "source.ip");
    ev = match(pi, "source.ip", "176.119.4.255");
    assert_match(ev, "ipv4-addr", "176.119.4.0/24", "spamhaus", "70", "source.ip");
    ev = match(pi, "source.ip", "176.119.5.0"); /* after the /24, inside the /16 */
    assert_match(ev, "ipv4-addr", "176.119.0.0/16", "spamhaus", "50", "source.ip");
    ev = match(pi, "source.ip", "176.119.0.0");
    assert_match(ev, "ipv4-addr", "176.119.0.0/16", "spamhaus", "50", "source.ip");
    ev = match(pi, "source.ip", "176.119.255.255");
    assert_match(ev, "ipv4-addr", "176.119.0.0/16", "spamhaus", "50", "source.ip");
    ev = match(pi, "source.ip", "176.120.0.0");
    ck_assert(!ph_has(ev, "threat"));
    ev = match(pi, "source.ip", "176.118.255.255");
    ck_assert(!ph_has(ev, "threat"));
    /* an IPv4 CIDR does not match the IPv6 address with the same bits */
    ev = match(pi, "source.ip", "::b077:40a");
    ck_assert(!ph_has(ev, "threat"));
    /* the exact address wins over a network containing it */
    ev = match(pi, "source.ip", "2001:db8::bad");
    assert_match(ev, "ipv6-addr", "2001:db8::bad", "test", "60", "source.ip");
}
END_TEST

START_TEST(cidr_nesting_deep)
{
    char dir[] = "/tmp/ti_cidr_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/nets.csv", dir);
    FILE *f = fopen(path, "w");
    /* every prefix length of 10.0.0.0 from /8 to /32, plus 0.0.0.0/0 and ::/0 */
    for (int p = 8; p <= 32; p++)
        fprintf(f, "cidr,10.0.0.0/%d,p%d,,\n", p, p);
    fprintf(f, "cidr,0.0.0.0/0,v4all,,\ncidr,::/0,all,,\ncidr,10.0.0.0/24,dup,,\n");
    fclose(f);
    vgl_plugin_instance *pi = load_csv(path, "      header: false\n");
    ck_assert_ptr_nonnull(ph_log_find("indicators=27 rejected=0 expired=0 unsupported=0 "
                                      "duplicates=1"));
    struct {
        const char *ip, *provider;
    } want[] = {
        {"10.0.0.0", "p32"},   {"10.0.0.1", "p31"},   {"10.0.0.2", "p30"},
        {"10.0.0.255", "p24"}, {"10.0.1.0", "p23"},   {"10.128.0.0", "p8"},
        {"10.255.255.255", "p8"}, {"11.0.0.0", "v4all"}, {"255.255.255.255", "v4all"},
        {"9.255.255.255", "v4all"}, {"2001:db8::1", "all"}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "all"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        vgl_event *ev = match(pi, "source.ip", want[i].ip);
        ck_assert_msg(ph_str(ev, "threat.indicator.provider") &&
                          !strcmp(ph_str(ev, "threat.indicator.provider"), want[i].provider),
                      "%s matched %s, want %s", want[i].ip,
                      ph_str(ev, "threat.indicator.provider"), want[i].provider);
    }
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(csv_malformed_rows_skipped)
{
    vgl_plugin_instance *pi = load_csv(BAD_CSV, NULL);
    ck_assert_double_eq(ph_metric(pi, "threatintel_indicators", NULL), 2);
    ck_assert_double_eq(ph_metric(pi, "threatintel_rejected_total", NULL), 6);
    static const char *want[] = {
        ":3: invalid IP address or CIDR \\\"300.1.1.1\\\"",
        ":4: unknown indicator type \\\"malware\\\"",
        ":5: invalid MD5 hash \\\"abc123\\\" (want 32 hex digits)",
        ":6: 1 fields, the value is column 2",
        ":7: quote inside unquoted field 3",
        ":9: unterminated quoted field",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char needle[512];
        snprintf(needle, sizeof(needle),
                 "msg=\"indicator skipped\" plugin=threatintel reason=\"%s%s\"", BAD_CSV,
                 want[i]);
        ck_assert_msg(ph_log_find(needle), "no log line %s", needle);
    }
    vgl_event *ev = match(pi, "source.ip", "198.51.100.7");
    assert_match(ev, "ipv4-addr", "198.51.100.7", "test", "50", "source.ip");
    ev = match(pi, "url.domain", "good.example");
    assert_match(ev, "domain-name", "good.example", "test", "50", "url.domain");
}
END_TEST

static void expect_error(const char *config, const char *reason)
{
    ck_assert_ptr_null(ph_load("plugins:\n  - name: threatintel\n    config:\n%s", config));
    char want[4096];
    snprintf(want, sizeof(want), "plugin threatintel (%s): %s\n", SO, reason);
    ck_assert_str_eq(ph_diag_text, want);
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
}

START_TEST(init_errors)
{
    expect_error("      csv: [\"" BAD_CSV "\"]\n      strict: true\n",
                 BAD_CSV ":3: invalid IP address or CIDR \"300.1.1.1\"");
    expect_error("      reload_interval: 5s\n", "no indicator files: set csv, stix or both");
    expect_error("      csv: [/nonexistent/feed.csv]\n",
                 "cannot open /nonexistent/feed.csv: No such file or directory");
    expect_error("      stix: [/nonexistent/bundle.json]\n",
                 "cannot open /nonexistent/bundle.json: No such file or directory");
    expect_error("      csv: [\"" CSV "\"]\n      columns: [type, provider]\n",
                 "columns: a \"value\" column is required");
    expect_error("      csv: [\"" CSV "\"]\n      columns: [value, kind]\n",
                 "columns: unknown column \"kind\" (use type, value, provider, confidence, "
                 "description, valid_until, or - to skip one)");
    expect_error("      csv: [\"" CSV "\"]\n      fields: [\"a..b\"]\n",
                 "fields: \"a..b\" is not a valid field path");
    expect_error("      csv: [\"" CSV "\"]\n      max_file_size: 100\n",
                 CSV ": file of 841 bytes exceeds the limit of 100 bytes");
    expect_error("      stix: [\"" CSV "\"]\n",
                 CSV ":1:1: invalid literal");
}
END_TEST

START_TEST(custom_columns)
{
    char dir[] = "/tmp/ti_cols_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/feed.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "first_seen,ioc,kind,until\n"
               "2024-01-01,203.0.113.9,ip,2999-01-01T00:00:00Z\n"
               "2024-01-01,203.0.113.10,ip,2001-01-01T00:00:00Z\n"
               "2024-01-01,203.0.113.11,ip,yesterday\n");
    fclose(f);
    vgl_plugin_instance *pi = load_csv(path, "      columns: [\"-\", value, type, valid_until]\n");
    ck_assert_ptr_nonnull(ph_log_find("indicators=1 rejected=1 expired=1"));
    char needle[512];
    snprintf(needle, sizeof(needle),
             "%s:4: valid_until \\\"yesterday\\\" is not an RFC 3339 time", path);
    ck_assert_ptr_nonnull(ph_log_find(needle));
    vgl_event *ev = match(pi, "source.ip", "203.0.113.9");
    assert_match(ev, "ipv4-addr", "203.0.113.9", NULL, NULL, "source.ip");
    ev = match(pi, "source.ip", "203.0.113.10");
    ck_assert(!ph_has(ev, "threat"));
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---------------------------------------------------------------- STIX */

START_TEST(stix_bundle)
{
    vgl_plugin_instance *pi = PH_LOAD_OK("plugins:\n"
                                         "  - name: threatintel\n"
                                         "    config:\n"
                                         "      stix: [\"%s\"]\n",
                                         BUNDLE);
    /* 2 + 1 + 1 + 2 loaded; bad address rejected; expired and revoked
     * skipped; AND and sigma not evaluated */
    ck_assert_ptr_nonnull(ph_log_find("indicators=6 rejected=1 expired=2 unsupported=2"));
    ck_assert_ptr_nonnull(ph_log_find(
        BUNDLE ":78: indicator indicator--and: pattern not evaluated: unsupported object path "
               "\\\"file:name\\\""));
    ck_assert_ptr_nonnull(ph_log_find(
        BUNDLE ":96: indicator indicator--badip: invalid IP address or CIDR \\\"2001:db8::zz\\\""));

    vgl_event *ev = match(pi, "source.ip", "203.0.113.66");
    assert_match(ev, "ipv4-addr", "203.0.113.66", "Example CERT", "85", "source.ip");
    ck_assert_str_eq(ph_str(ev, "threat.indicator.description"),
                     "Hosts used with Rubeus asktgt /ptt");
    ev = match(pi, "destination.ip", "198.51.100.127");
    assert_match(ev, "ipv4-addr", "198.51.100.0/25", "Example CERT", "85", "destination.ip");
    ev = match(pi, "destination.ip", "198.51.100.128");
    ck_assert(!ph_has(ev, "threat"));
    ev = match(pi, "dns.question.name", "c2.example.net");
    assert_match(ev, "domain-name", "c2.example.net", "Example CERT", NULL, "dns.question.name");
    ck_assert_str_eq(ph_str(ev, "threat.indicator.description"), "C2 domain"); /* the name */
    ev = match(pi, "url.original", "http://c2.example.net/it's/payload.hta");
    assert_match(ev, "url", "http://c2.example.net/it's/payload.hta", NULL, NULL,
                 "url.original");
    ev = match(pi, "file.hash.sha256",
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_match(ev, "file", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 NULL, NULL, "file.hash.sha256");
    ev = match(pi, "file.hash.md5", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    assert_match(ev, "file", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", NULL, NULL, "file.hash.md5");
    /* expired and revoked indicators never match */
    ck_assert(!ph_has(match(pi, "source.ip", "192.0.2.1"), "threat"));
    ck_assert(!ph_has(match(pi, "source.ip", "192.0.2.2"), "threat"));
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(stix_malformed)
{
    char dir[] = "/tmp/ti_stix_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], cfg[512], want[1024];
    snprintf(path, sizeof(path), "%s/b.json", dir);
    snprintf(cfg, sizeof(cfg), "      stix: [\"%s\"]\n", path);
    struct {
        const char *text, *reason;
    } cases[] = {
        {"{\"type\": \"bundle\",\n \"objects\": [\n  {\"type\": \"indicator\",}\n]}",
         ":3:24: expected a string key in object"},
        {"{\"objects\": [", ":1:14: expected a value (at the end of the file)"},
        {"{\"objects\": \"x\"}", ": not a STIX bundle (expected an object with an \"objects\" array)"},
        {"[1, 2", ":1:6: expected ',' or ']' in array (at the end of the file)"},
        {"{\"objects\": []} x", ":1:17: unexpected data after the JSON value"},
        {"{\"a\": \"\\x\"}", ":1:8: invalid escape"},
        {"{\"a\": \"\x01\"}", ":1:8: control character in string"},
        {"{\"a\": 1e999}", ":1:7: number out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(path, cases[i].text);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].reason);
        expect_error(cfg, want);
    }
    /* nesting bomb */
    char *deep = malloc(100001);
    memset(deep, '[', 100000);
    deep[100000] = '\0';
    write_file(path, deep);
    free(deep);
    snprintf(want, sizeof(want), "%s:1:65: nesting deeper than 64", path);
    expect_error(cfg, want);
    /* an indicator in strict mode with no pattern */
    write_file(path, "{\"type\":\"bundle\",\"objects\":[\n{\"type\":\"indicator\",\"id\":\"indicator--x\"}]}");
    snprintf(cfg, sizeof(cfg), "      stix: [\"%s\"]\n      strict: true\n", path);
    snprintf(want, sizeof(want), "%s:2: indicator indicator--x has no pattern", path);
    expect_error(cfg, want);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* -------------------------------------------------------- real samples */

START_TEST(real_mde_sample)
{
    vgl_plugin_instance *pi = load_csv(CSV, "      fields: [CreatedProcessFileSha256, "
                                            "CreatedProcessFileMd5, InitiatingProcessImageSha1]\n");
    vgl_event *evs[8];
    size_t n = ph_events_from_file("mde_process_excerpt.jsonl", evs, 8);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(ph_run(pi, 0, evs, n), VGL_OK);
    size_t matched = 0;
    for (size_t i = 0; i < n; i++)
        matched += ph_has(evs[i], "threat.indicator.value");
    /* row 0: conhost.exe (MD5 row); row 1: mshta.exe (SHA-256 row); the
     * others were started by cmd.exe (SHA-1 of the initiating image) */
    ck_assert_str_eq(ph_str(evs[0], "CreatedProcessName"), "conhost.exe");
    assert_match(evs[0], "file", "81ca40085fc75babd2c91d18aa9ffa68", "mde", "30",
                 "CreatedProcessFileMd5");
    ck_assert_str_eq(ph_str(evs[1], "CreatedProcessName"), "mshta.exe");
    assert_match(evs[1], "file", "dba3137811c686fd35e418d76184070e031f207002649da95385dfd05a8bb895",
                 "mde", "40", "CreatedProcessFileSha256");
    size_t by_cmd = 0;
    for (size_t i = 2; i < n; i++) {
        const char *init = ph_str(evs[i], "InitiatingProcessName");
        bool want = init && !strcmp(init, "cmd.exe");
        by_cmd += want;
        ck_assert_int_eq(ph_has(evs[i], "threat.indicator.value"), want);
    }
    ck_assert_uint_eq(matched, 2 + by_cmd);
}
END_TEST

START_TEST(real_network_analytics_sample)
{
    vgl_plugin_instance *pi = load_csv(CSV, "      fields: [AllExtIPs, VMIPAddress]\n");
    vgl_event *evs[40];
    size_t n = ph_events_from_file("az_network_flows_excerpt.jsonl", evs, 40);
    ck_assert_uint_eq(n, 30);
    ck_assert_int_eq(ph_run(pi, 0, evs, n), VGL_OK);
    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        bool want = !strcmp(ph_str(evs[i], "AllExtIPs"), "65.55.44.109");
        ck_assert_int_eq(ph_has(evs[i], "threat.indicator.value"), want);
        if (want) {
            assert_match(evs[i], "ipv4-addr", "65.55.44.109", "test", "55", "AllExtIPs");
            matched++;
        }
    }
    ck_assert_uint_eq(matched, 4);
}
END_TEST

START_TEST(hostile_values)
{
    vgl_plugin_instance *pi = load_csv(CSV, "      match_subdomains: true\n");
    static const char *bad[] = {
        "", ".", "..", "-", "com", "googledocpage.com", "page..googledocpage.com",
        "page.googledocpage.com/x", "https://", "://page.googledocpage.com", "evil.example ",
        "176.119.4.10/24", "176.119.4.10:80", "81ca40085fc75babd2c91d18aa9ffa6", /* 31 digits */
        "81ca40085fc75babd2c91d18aa9ffa68x", "zba3137811c686fd35e418d76184070e031f207002649da95385dfd05a8bb895",
    };
    size_t nb = sizeof(bad) / sizeof(bad[0]);
    vgl_event *evs[32];
    for (size_t i = 0; i < nb; i++) {
        evs[i] = ph_event();
        ph_set_str(evs[i], "url.domain", bad[i]);
    }
    char *huge = malloc(70000);
    memset(huge, 'a', 69999);
    huge[69999] = '\0';
    memcpy(huge + 69990, ".evil.ex", 8);
    evs[nb] = ph_event();
    ph_set_str(evs[nb], "url.full", huge);
    free(huge);
    evs[nb + 1] = ph_event();
    ck_assert_int_eq(vgl_event_set_str(evs[nb + 1], vgl_path_intern("source.ip"),
                                       "94.102.49.190\0", 14), VGL_OK);
    evs[nb + 2] = ph_event_json("{\"source\":{\"ip\":[\"94.102.49.190\"]},"
                                "\"url\":{\"domain\":{\"x\":1}},\"file\":{\"hash\":{\"md5\":5}}}");
    ck_assert_int_eq(ph_run(pi, 0, evs, nb + 3), VGL_OK);
    for (size_t i = 0; i < nb + 3; i++)
        ck_assert_msg(!ph_has(evs[i], "threat"), "value %zu matched", i);
    /* subdomains do match when asked for */
    vgl_event *ev = match(pi, "url.domain", "a.b.Evil.Example");
    assert_match(ev, "domain-name", "evil.example", NULL, NULL, "url.domain");
    /* an event already matched by another instance is left alone */
    ev = ph_event();
    ph_set_str(ev, "source.ip", "94.102.49.190");
    ph_set_str(ev, "threat.indicator.value", "from-elsewhere");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "threat.indicator.value"), "from-elsewhere");
    ck_assert(!ph_has(ev, "threat.indicator.type"));
}
END_TEST

/* -------------------------------------------------------------- reload */

static void bump_mtime(const char *path, int secs)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += secs;
    ts[1] = ts[0];
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Wait up to 5 s for the metric to reach want. */
static void wait_metric(vgl_plugin_instance *pi, const char *name, double want)
{
    for (int i = 0; i < 500 && ph_metric(pi, name, NULL) < want; i++)
        usleep(10000);
    ck_assert_double_eq(ph_metric(pi, name, NULL), want);
}

START_TEST(reload_swaps_set)
{
    char dir[] = "/tmp/ti_reload_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/feed.csv", dir);
    write_file(path, "ip,203.0.113.1,first,,\n");
    vgl_plugin_instance *pi = load_csv(path, "      reload_interval: 20ms\n      strict: true\n"
                                             "      header: false\n");
    ck_assert_ptr_nonnull(ph_str(match(pi, "source.ip", "203.0.113.1"), "threat.indicator.value"));

    write_file(path, "ip,203.0.113.2,second,,\nip,203.0.113.3,second,,\n");
    bump_mtime(path, 1);
    wait_metric(pi, "threatintel_reloads_total", 1);
    ck_assert(!ph_has(match(pi, "source.ip", "203.0.113.1"), "threat"));
    assert_match(match(pi, "source.ip", "203.0.113.3"), "ipv4-addr", "203.0.113.3", "second",
                 NULL, "source.ip");
    ck_assert_double_eq(ph_metric(pi, "threatintel_indicators", NULL), 2);

    /* a broken file: the reload fails, the current set stays */
    write_file(path, "ip,203.0.113.4,third,,\nip,not-an-ip,third,,\n");
    bump_mtime(path, 2);
    wait_metric(pi, "threatintel_reload_failures_total", 1);
    char needle[512];
    snprintf(needle, sizeof(needle),
             "msg=\"reload failed, keeping the current indicators\" plugin=threatintel "
             "reason=\"%s:2: invalid IP address or CIDR \\\"not-an-ip\\\"\"",
             path);
    ck_assert_ptr_nonnull(ph_log_find(needle));
    ck_assert_ptr_nonnull(ph_str(match(pi, "source.ip", "203.0.113.3"), "threat.indicator.value"));
    ck_assert(!ph_has(match(pi, "source.ip", "203.0.113.4"), "threat"));

    /* the file disappears: also a failure, the set stays */
    unlink(path);
    wait_metric(pi, "threatintel_reload_failures_total", 2);
    ck_assert_ptr_nonnull(ph_str(match(pi, "source.ip", "203.0.113.3"), "threat.indicator.value"));
    /* and comes back fixed */
    write_file(path, "ip,203.0.113.5,fourth,,\n");
    wait_metric(pi, "threatintel_reloads_total", 2);
    ck_assert_ptr_nonnull(ph_str(match(pi, "source.ip", "203.0.113.5"), "threat.indicator.value"));
    unlink(path);
    rmdir(dir);
}
END_TEST

typedef struct reader_arg {
    vgl_plugin_instance *pi;
    vgl_event *evs[32];
    atomic_bool *stop;
    unsigned w;
    size_t batches, bad;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    while (!atomic_load(a->stop)) {
        vgl_batch b;
        vgl_batch_init(&b, NULL, NULL, NULL, NULL);
        for (size_t i = 0; i < 32; i++) {
            vgl_event_reset(a->evs[i]);
            vgl_event_set_str(a->evs[i], vgl_path_intern("source.ip"), "198.51.100.1", 12);
            vgl_batch_add(&b, a->evs[i]);
        }
        if (vgl_plugin_process(a->pi, a->w, &b) != VGL_OK)
            a->bad++;
        /* whichever set was current, the match is complete and consistent */
        for (size_t i = 0; i < 32; i++) {
            const vgl_value *v = vgl_event_get(a->evs[i], vgl_path_intern("threat.indicator.provider"));
            if (!v || v->type != VGL_T_STRING || strncmp(v->u.s, "gen", 3))
                a->bad++;
        }
        vgl_batch_free(&b);
        a->batches++;
    }
    return NULL;
}

START_TEST(reload_under_load)
{
    char dir[] = "/tmp/ti_load_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], tmp[300], text[128];
    snprintf(path, sizeof(path), "%s/feed.csv", dir);
    snprintf(tmp, sizeof(tmp), "%s/feed.tmp", dir);
    write_file(path, "cidr,198.51.100.0/24,gen0,,\n");
    vgl_plugin_instance *pi = load_csv(path, "      reload_interval: 5ms\n      header: false\n");
    atomic_bool stop = false;
    static reader_arg args[4];
    pthread_t th[4];
    for (unsigned w = 0; w < 4; w++) {
        args[w] = (reader_arg){.pi = pi, .stop = &stop, .w = w};
        for (size_t i = 0; i < 32; i++)
            args[w].evs[i] = ph_event();
        ck_assert_int_eq(pthread_create(&th[w], NULL, reader_main, &args[w]), 0);
    }
    for (int gen = 1; gen <= 10; gen++) {
        /* write a new file and rename it over: readers of the feed never
         * see half a file */
        snprintf(text, sizeof(text), "cidr,198.51.100.0/24,gen%d,,\nip,198.51.100.1,gen%d,,\n",
                 gen, gen);
        write_file(tmp, text);
        ck_assert_int_eq(rename(tmp, path), 0);
        wait_metric(pi, "threatintel_reloads_total", gen);
    }
    atomic_store(&stop, true);
    size_t batches = 0;
    for (unsigned w = 0; w < 4; w++) {
        pthread_join(th[w], NULL);
        ck_assert_uint_eq(args[w].bad, 0);
        batches += args[w].batches;
    }
    ck_assert_uint_gt(batches, 10);
    assert_match(match(pi, "source.ip", "198.51.100.1"), "ipv4-addr", "198.51.100.1", "gen10",
                 NULL, "source.ip");
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ------------------------------------------------- the readers directly */

static const char *record(csv_reader *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < r->nfields; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s[%s]", i ? "," : "", csv_field(r, i));
    }
    return buf;
}

START_TEST(csv_reader_edge_cases)
{
    char path[] = "/tmp/ti_csv_XXXXXX";
    int fd = mkstemp(path);
    static const char text[] = "\xEF\xBB\xBF" "a,\"b,c\",\"d\"\"e\"\r\n"
                               "\r\n"
                               "\"multi\nline\",x\n"
                               "# not a comment without the option\n"
                               "\"bad\"x,y\n"
                               ",,\n"
                               "last,no-newline";
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    csv_reader r;
    char err[512], buf[512];
    csv_limits lim = {.max_file = 1 << 20, .max_fields = 8, .max_field = 64};
    ck_assert(csv_open(&r, path, &lim, err, sizeof(err)));
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[a],[b,c],[d\"e]");
    ck_assert_uint_eq(r.rec_line, 1);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[multi\nline],[x]");
    ck_assert_uint_eq(r.rec_line, 3);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[# not a comment without the option]");
    ck_assert_uint_eq(r.rec_line, 5);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:6: unexpected character after the closing quote of field 1",
             path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[],[],[]");
    ck_assert_uint_eq(r.rec_line, 7);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[last],[no-newline]");
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 0);
    csv_close(&r);

    /* limits */
    FILE *f = fopen(path, "w");
    fprintf(f, "1,2,3,4,5,6,7,8,9\nok\n");
    for (int i = 0; i < 65; i++)
        fputc('x', f);
    fprintf(f, "\nok2\n");
    fclose(f);
    ck_assert(csv_open(&r, path, &lim, err, sizeof(err)));
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:1: more than 8 fields", path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[ok]");
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3: field 1 is longer than 64 bytes", path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 1);
    ck_assert_str_eq(record(&r, buf, sizeof(buf)), "[ok2]");
    ck_assert_int_eq(csv_next(&r, err, sizeof(err)), 0);
    csv_close(&r);
    unlink(path);
}
END_TEST

START_TEST(json_reader)
{
    static const char text[] = "{\"a\": [1, -2.5e1, true, false, null],\n"
                               " \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\u0000y\", \"e\": {}}";
    char err[256];
    json_limits lim = {.max_bytes = 1024, .max_depth = 8, .max_string = 64};
    json_doc *d = json_parse("t.json", text, sizeof(text) - 1, &lim, err, sizeof(err));
    ck_assert_msg(d != NULL, "%s", err);
    const json_value *root = json_root(d);
    const json_value *a = json_get(root, "a");
    ck_assert_uint_eq(a->n, 5);
    ck_assert_double_eq(a->u.items[1].u.num, -25);
    ck_assert(a->u.items[2].u.b);
    ck_assert_int_eq(a->u.items[4].type, JSON_NULL);
    const json_value *s = json_get(root, "s");
    ck_assert_uint_eq(s->n, 10);
    ck_assert_int_eq(memcmp(s->u.s, "x\xc3\xa9\xf0\x9f\x98\x80\n\0y", 10), 0);
    ck_assert_uint_eq(s->line, 2);
    ck_assert_uint_eq(json_get(root, "e")->n, 0);
    json_free(d);
    ck_assert_ptr_null(json_parse("t.json", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
                                  67, &lim, err, sizeof(err)));
    ck_assert_str_eq(err, "t.json:1:2: string longer than 64 bytes");
    ck_assert_ptr_null(json_parse("t.json", "[[[[[[[[[1]]]]]]]]]", 19, &lim, err, sizeof(err)));
    ck_assert_str_eq(err, "t.json:1:9: nesting deeper than 8");
    lim.max_bytes = 4;
    ck_assert_ptr_null(json_parse("t.json", "[1, 2]", 6, &lim, err, sizeof(err)));
    ck_assert_str_eq(err, "t.json: 6 bytes exceed the limit of 4 bytes");
}
END_TEST

static Suite *threatintel_suite(void)
{
    Suite *s = suite_create("threatintel");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, csv_every_type);
    tcase_add_test(tc, cidr_longest_prefix);
    tcase_add_test(tc, cidr_nesting_deep);
    tcase_add_test(tc, csv_malformed_rows_skipped);
    tcase_add_test(tc, init_errors);
    tcase_add_test(tc, custom_columns);
    tcase_add_test(tc, stix_bundle);
    tcase_add_test(tc, stix_malformed);
    tcase_add_test(tc, real_mde_sample);
    tcase_add_test(tc, real_network_analytics_sample);
    tcase_add_test(tc, hostile_values);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("reload");
    tcase_add_checked_fixture(tr, ph_setup, ph_teardown);
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, reload_swaps_set);
    tcase_add_test(tr, reload_under_load);
    suite_add_tcase(s, tr);
    TCase *tp = tcase_create("parsers");
    tcase_add_test(tp, csv_reader_edge_cases);
    tcase_add_test(tp, json_reader);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(threatintel_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
