/*
 * Tests of the watchlist enricher: lookups on the real 4624 logon sample
 * (case-insensitive and exact), several lists on one event, the CSV
 * corner cases (BOM, CRLF, quotes, embedded newlines, short rows) with
 * file:line messages, hostile event values, spec and file errors, and a
 * reload on an mtime change.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin_harness.h"

#define SO PLUGIN_DIR "/vigil-enrich-watchlist.so"
#define PRIV DATA_DIR "/privileged_accounts.csv"
#define HOSTS DATA_DIR "/hosts.csv"

static vgl_plugin_instance *load_priv(const char *extra_spec)
{
    return PH_LOAD_OK("plugins:\n"
                      "  - name: watchlist\n"
                      "    config:\n"
                      "      lists:\n"
                      "        - \"name=privileged; path=%s; key_column=samaccountname; "
                      "field=TargetUserName%s\"\n"
                      "        - \"name=hosts; path=%s; key_column=Computer; field=Computer\"\n",
                      PRIV, extra_spec ? extra_spec : "", HOSTS);
}

START_TEST(real_logons)
{
    vgl_plugin_instance *pi = load_priv(NULL);
    ck_assert_double_eq(ph_metric(pi, "watchlist_rows", NULL), 4 + 1);
    char needle[512];
    snprintf(needle, sizeof(needle),
             "msg=\"watchlist row skipped\" plugin=watchlist reason=\"%s:7: 2 fields, the header "
             "has 4\"",
             PRIV);
    ck_assert_msg(ph_log_find(needle), "missing %s", needle);
    ck_assert_double_eq(ph_metric(pi, "watchlist_rejected_total", NULL), 1);

    vgl_event *evs[16];
    size_t n = ph_events_from_file("host_logons_4624.jsonl", evs, 16);
    ck_assert_uint_eq(n, 14);
    ck_assert_int_eq(ph_run(pi, 0, evs, n), VGL_OK);
    size_t admins = 0, attackers = 0;
    for (size_t i = 0; i < n; i++) {
        const char *user = ph_str(evs[i], "TargetUserName");
        /* every event is on MSTICAlertsWin1 */
        ck_assert_str_eq(ph_str(evs[i], "watchlist.hosts.Criticality"), "high");
        if (!strcmp(user, "MSTICAdmin")) {
            admins++;
            /* case-insensitive key; the first of the duplicate rows wins */
            ck_assert_str_eq(ph_str(evs[i], "watchlist.privileged.SamAccountName"), "msticadmin");
            ck_assert_str_eq(ph_str(evs[i], "watchlist.privileged.Owner"), "SecOps");
            ck_assert_str_eq(ph_str(evs[i], "watchlist.privileged.Tier"), "0");
            ck_assert_str_eq(ph_str(evs[i], "watchlist.privileged.Notes"),
                             "break-glass admin, monitored");
            ck_assert_str_eq(ph_str(evs[i], "watchlist.names"), "privileged,hosts");
        } else if (!strcmp(user, "adm1nistrator")) {
            attackers++;
            ck_assert(!ph_has(evs[i], "watchlist.privileged.Owner")); /* empty cell omitted */
            ck_assert_str_eq(ph_str(evs[i], "watchlist.privileged.Notes"),
                             "created during the\r\nattack simulation");
            ck_assert_str_eq(ph_str(evs[i], "watchlist.names"), "privileged,hosts");
        } else {
            ck_assert_str_eq(user, "SYSTEM");
            ck_assert(!ph_has(evs[i], "watchlist.privileged"));
            ck_assert_str_eq(ph_str(evs[i], "watchlist.names"), "hosts");
        }
    }
    ck_assert_uint_eq(admins, 2);
    ck_assert_uint_eq(attackers, 1);
    ck_assert_double_eq(ph_metric(pi, "watchlist_matches_total", NULL), 14 + 3);
}
END_TEST

START_TEST(case_sensitive_and_names_kept)
{
    vgl_plugin_instance *pi = load_priv("; case_insensitive=false");
    vgl_event *ev = ph_event();
    ph_set_str(ev, "TargetUserName", "MSTICAdmin");
    ph_set_str(ev, "watchlist.names", "earlier,privileged");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    /* exact case: the second MSTICAdmin row is the match */
    ck_assert_str_eq(ph_str(ev, "watchlist.privileged.Owner"), "Duplicate");
    ck_assert_str_eq(ph_str(ev, "watchlist.names"), "earlier,privileged");
    ev = ph_event();
    ph_set_str(ev, "TargetUserName", "Svc-Backup");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert(!ph_has(ev, "watchlist"));
}
END_TEST

START_TEST(hostile_values)
{
    vgl_plugin_instance *pi = load_priv(NULL);
    vgl_event *evs[6];
    evs[0] = ph_event();
    ph_set_str(evs[0], "TargetUserName", "");
    evs[1] = ph_event();
    ck_assert_int_eq(vgl_event_set_str(evs[1], vgl_path_intern("TargetUserName"), "msticadmin\0x",
                                       12), VGL_OK);
    evs[2] = ph_event_json("{\"TargetUserName\": [\"msticadmin\"], \"Computer\": 5}");
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = '\0';
    evs[3] = ph_event();
    ph_set_str(evs[3], "TargetUserName", big);
    free(big);
    evs[4] = ph_event();
    ph_set_str(evs[4], "TargetUserName", "msticadmin ");
    ck_assert_int_eq(ph_run(pi, 0, evs, 5), VGL_OK);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(!ph_has(evs[i], "watchlist"), "event %d matched", i);
    /* watchlist.names of the wrong type: the write fails, counted, no crash */
    vgl_event *ev = ph_event_json("{\"Computer\": \"MSTICAlertsWin1\", \"watchlist\": 7}");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_ERR_TYPE);
}
END_TEST

static void expect_error(const char *lists, const char *reason)
{
    ck_assert_ptr_null(ph_load("plugins:\n  - name: watchlist\n    config:\n      lists:\n%s",
                               lists));
    char want[4096];
    snprintf(want, sizeof(want), "plugin watchlist (%s): %s\n", SO, reason);
    ck_assert_str_eq(ph_diag_text, want);
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
}

START_TEST(spec_and_file_errors)
{
    expect_error("        - \"name=a; path=/nonexistent/a.csv; key_column=k; field=user.name\"\n",
                 "cannot open /nonexistent/a.csv: No such file or directory");
    expect_error("        - \"name=a; path=" PRIV "; key_column=upn; field=user.name\"\n",
                 PRIV ":1: no column \"upn\" (key_column) in the header");
    expect_error("        - \"name=a; path=" PRIV "; field=user.name\"\n",
                 "lists: item 1 needs name, path, key_column and field; missing key_column");
    expect_error("        - \"name=a.b; path=" PRIV "; key_column=Tier; field=x\"\n",
                 "lists: item 1: name \"a.b\" must be 1-64 of [A-Za-z0-9_-]");
    expect_error("        - \"name=a; path=" PRIV "; key_column=Tier; field=x; colour=red\"\n",
                 "lists: item 1: unknown key \"colour\" (name, path, key_column, field, "
                 "case_insensitive)");
    expect_error("        - \"name=a; path=" PRIV "; key_column=Tier; field=x\"\n"
                 "        - \"name=a; path=" HOSTS "; key_column=Site; field=y\"\n",
                 "lists: name \"a\" is used twice");
    expect_error("        - \"name=a; path=" PRIV "; key_column=Tier; field=x..y\"\n",
                 "lists: item 1: field \"x..y\" is not a valid path");
    expect_error("        - \"just text\"\n", "lists: item 1: \"just text\" is not key=value");
    char dir[] = "/tmp/wl_err_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], lists[512], want[512];
    snprintf(path, sizeof(path), "%s/empty.csv", dir);
    fclose(fopen(path, "w"));
    snprintf(lists, sizeof(lists), "        - \"name=a; path=%s; key_column=k; field=x\"\n", path);
    snprintf(want, sizeof(want), "%s: empty file (a header row naming the columns is required)",
             path);
    expect_error(lists, want);
    FILE *f = fopen(path, "w");
    fputs("k,\"broken\n", f);
    fclose(f);
    snprintf(want, sizeof(want), "%s:1: unterminated quoted field", path);
    expect_error(lists, want);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(reload_on_mtime)
{
    char dir[] = "/tmp/wl_reload_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/list.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("ip,label\n203.0.113.5,scanner\n", f);
    fclose(f);
    vgl_plugin_instance *pi = PH_LOAD_OK("plugins:\n  - name: watchlist\n    config:\n"
                                         "      reload_interval: 20ms\n      lists:\n"
                                         "        - \"name=net; path=%s; key_column=ip; "
                                         "field=source.ip\"\n",
                                         path);
    vgl_event *ev = ph_event();
    ph_set_str(ev, "source.ip", "203.0.113.5");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "watchlist.net.label"), "scanner");

    f = fopen(path, "w");
    fputs("ip,label,owner\n203.0.113.6,bastion,ops\n", f);
    fclose(f);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += 5;
    ts[1] = ts[0];
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    for (int i = 0; i < 500 && ph_metric(pi, "watchlist_reloads_total", NULL) < 1; i++)
        usleep(10000);
    ck_assert_double_eq(ph_metric(pi, "watchlist_reloads_total", NULL), 1);
    ev = ph_event();
    ph_set_str(ev, "source.ip", "203.0.113.5");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert(!ph_has(ev, "watchlist"));
    ev = ph_event();
    ph_set_str(ev, "source.ip", "203.0.113.6");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "watchlist.net.owner"), "ops");

    /* a broken header: the reload fails, the tables stay */
    f = fopen(path, "w");
    fputs("address,label\n203.0.113.7,x\n", f);
    fclose(f);
    ts[0].tv_sec += 5;
    ts[1] = ts[0];
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    for (int i = 0; i < 500 && ph_metric(pi, "watchlist_reload_failures_total", NULL) < 1; i++)
        usleep(10000);
    ck_assert_double_eq(ph_metric(pi, "watchlist_reload_failures_total", NULL), 1);
    char needle[512];
    snprintf(needle, sizeof(needle),
             "reason=\"%s:1: no column \\\"ip\\\" (key_column) in the header\"", path);
    ck_assert_ptr_nonnull(ph_log_find(needle));
    ev = ph_event();
    ph_set_str(ev, "source.ip", "203.0.113.6");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "watchlist.net.label"), "bastion");
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *watchlist_suite(void)
{
    Suite *s = suite_create("watchlist");
    TCase *tc = tcase_create("lookups");
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, real_logons);
    tcase_add_test(tc, case_sensitive_and_names_kept);
    tcase_add_test(tc, hostile_values);
    tcase_add_test(tc, spec_and_file_errors);
    tcase_add_test(tc, reload_on_mtime);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(watchlist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
