/*
 * Tests of the anomaly detector with synthetic sequences (warm-up, a spike
 * with its exact z-score, normal variation, sums, gaps, late events, the
 * watermark sweep, eviction, per-worker state) and with the real 4688
 * process-creation sample of one host, where the attack simulation at
 * 05:15 is a spike over the machine account's steady background.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_harness.h"

#define SO PLUGIN_DIR "/vigil-detect-anomaly.so"
#define HOUR 3600000LL
#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */
#define B0 (T0 / HOUR * HOUR)

static vgl_plugin_instance *load(const char *spec, const char *extra)
{
    return PH_LOAD_OK("plugins:\n"
                      "  - name: anomaly\n"
                      "    config:\n"
                      "      metrics:\n"
                      "        - \"%s\"\n"
                      "%s",
                      spec, extra ? extra : "");
}

static vgl_event *ev_at(const char *user, int64_t t)
{
    vgl_event *ev = ph_event();
    ph_set_str(ev, "user.name", user);
    ev->ts_ms = t;
    return ev;
}

/* count[i] events for user in hourly bucket i (i from 0), then one event
 * in bucket n to close the last one; all in one batch per bucket. */
static void feed(vgl_plugin_instance *pi, unsigned w, const char *user, const int *count,
                 size_t n)
{
    for (size_t i = 0; i <= n; i++) {
        int c = i < n ? count[i] : 1;
        vgl_event *evs[256];
        ck_assert_int_le(c, 256);
        for (int k = 0; k < c; k++)
            evs[k] = ev_at(user, B0 + (int64_t)i * HOUR + k * 1000);
        ck_assert_int_eq(ph_run(pi, w, evs, (size_t)c), VGL_OK);
    }
}

/* The model, as documented: mean/var after folding values. */
static void model(const int *v, size_t n, double alpha, double *mean, double *var)
{
    *mean = v[0];
    *var = 0;
    for (size_t i = 1; i < n; i++) {
        double diff = v[i] - *mean, incr = alpha * diff;
        *mean += incr;
        *var = (1 - alpha) * (*var + diff * incr);
    }
}

START_TEST(no_alert_during_warmup)
{
    vgl_plugin_instance *pi = load("name=logons; by=user.name; bucket=1h; warmup=24", NULL);
    int counts[10] = {10, 11, 9, 10, 200, 10, 12, 10, 9, 10};
    feed(pi, 0, "alice", counts, 10);
    ck_assert_uint_eq(ph_nalerts, 0);
}
END_TEST

START_TEST(alert_on_spike_with_z)
{
    vgl_plugin_instance *pi = load("name=logons; by=user.name; bucket=1h; alpha=0.2; z=3; "
                                   "warmup=8; severity=high; rule_id=ueba-logon-spike; "
                                   "title=Logon spike; tactic=Credential Access; "
                                   "technique=T1110",
                                   NULL);
    int counts[13] = {10, 12, 9, 11, 10, 13, 9, 10, 11, 12, 10, 11, 60};
    feed(pi, 0, "bob", counts, 13);
    ck_assert_uint_eq(ph_nalerts, 1);
    const ph_alert *a = &ph_alerts[0];
    ck_assert_str_eq(a->rule_id, "ueba-logon-spike");
    ck_assert_str_eq(a->title, "Logon spike");
    ck_assert_int_eq(a->severity, VGL_SEV_HIGH);
    ck_assert_str_eq(a->tactic, "Credential Access");
    ck_assert_str_eq(a->technique, "T1110");
    ck_assert_str_eq(a->entities, "account=bob;");
    ck_assert_str_eq(a->tags, "anomaly,metric:logons");
    /* the event that closed the bucket: the first of bucket 13 */
    ck_assert_int_eq(a->time_ms, B0 + 13 * HOUR);
    ck_assert_str_eq(a->fields, "user.name=bob;");
    double mean, var;
    model(counts, 12, 0.2, &mean, &var);
    double sd = sqrt(var), z = (60 - mean) / sd;
    ck_assert(z > 3);
    char want[512], start[32];
    time_t s = (time_t)((B0 + 12 * HOUR) / 1000);
    strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", gmtime(&s));
    snprintf(want, sizeof(want),
             "logons for account \"bob\" was 60 in the bucket starting %s; baseline mean %.6g, "
             "stddev %.6g over 12 buckets; z-score %.6g > 3",
             start, mean, sd, z);
    ck_assert_str_eq(a->description, want);
    ck_assert_double_eq(ph_metric(pi, "anomaly_alerts_total", NULL), 1);
}
END_TEST

START_TEST(threshold_is_mean_plus_z_sd)
{
    /* just under and just over the threshold of the bucket after warm-up */
    int base[9] = {10, 12, 9, 11, 10, 13, 9, 10, 0};
    double mean, var;
    model(base, 8, 0.2, &mean, &var);
    double thr = mean + 3 * sqrt(var);
    for (int over = 0; over <= 1; over++) {
        ph_teardown();
        ph_setup();
        vgl_plugin_instance *pi = load("name=m; by=user.name; bucket=1h; alpha=0.2; z=3; "
                                       "warmup=8",
                                       NULL);
        int counts[9];
        memcpy(counts, base, sizeof(base));
        counts[8] = over ? (int)ceil(thr + 1e-9) : (int)floor(thr);
        feed(pi, 0, "carol", counts, 9);
        ck_assert_uint_eq(ph_nalerts, (size_t)over);
    }
}
END_TEST

START_TEST(no_alert_on_normal_variation)
{
    vgl_plugin_instance *pi = load("name=logons; by=user.name; bucket=1h; alpha=0.1; warmup=24",
                                   NULL);
    int counts[200];
    uint32_t x = 12345;
    for (int i = 0; i < 200; i++) {
        x = x * 1103515245u + 12345u;
        counts[i] = 40 + (int)(x >> 16) % 9 - 4; /* 36..44 */
    }
    feed(pi, 0, "dave", counts, 200);
    ck_assert_uint_eq(ph_nalerts, 0);
}
END_TEST

START_TEST(sum_of_a_field)
{
    vgl_plugin_instance *pi = load("name=bytes_out; by=source.ip; value=source.bytes; "
                                   "bucket=10m; alpha=0.3; z=4; warmup=5; min_value=1000000",
                                   NULL);
    for (int b = 0; b <= 8; b++) {
        vgl_event *evs[3];
        for (int k = 0; k < 3; k++) {
            evs[k] = ph_event();
            ph_set_str(evs[k], "source.ip", "10.0.0.5");
            /* 3 x 1000 bytes, then 3 x 5 MB in bucket 7; strings count too */
            if (k == 2)
                ph_set_str(evs[k], "source.bytes", b == 7 ? "5000000" : "1000");
            else
                ph_set_double(evs[k], "source.bytes", b == 7 ? 5e6 : 1000);
            evs[k]->ts_ms = B0 + b * 600000LL + k;
        }
        ck_assert_int_eq(ph_run(pi, 0, evs, 3), VGL_OK);
    }
    ck_assert_uint_eq(ph_nalerts, 1);
    ck_assert_str_eq(ph_alerts[0].entities, "ip=10.0.0.5;");
    ck_assert_str_eq(ph_alerts[0].rule_id, "anomaly-bytes_out");
    ck_assert_str_eq(ph_alerts[0].title, "Anomalous bytes_out");
    ck_assert_ptr_nonnull(strstr(ph_alerts[0].description, "was 1.5e+07 in the bucket"));
    /* a huge but constant baseline below min_value never alerts */
}
END_TEST

START_TEST(min_value_suppresses_small_spikes)
{
    vgl_plugin_instance *pi = load("name=m; by=user.name; bucket=1h; warmup=3; min_value=50",
                                   NULL);
    int counts[6] = {1, 1, 1, 1, 20, 1};
    feed(pi, 0, "erin", counts, 6);
    ck_assert_uint_eq(ph_nalerts, 0);
}
END_TEST

START_TEST(watermark_closes_idle_buckets)
{
    vgl_plugin_instance *pi = load("name=m; by=user.name; bucket=1h; alpha=0.2; warmup=8", NULL);
    int counts[13] = {10, 12, 9, 11, 10, 13, 9, 10, 11, 12, 10, 11, 60};
    /* frank's hours 0..12, without the closing event */
    for (int i = 0; i < 13; i++) {
        vgl_event *evs[64];
        for (int k = 0; k < counts[i]; k++)
            evs[k] = ev_at("frank", B0 + i * HOUR + k);
        ck_assert_int_eq(ph_run(pi, 0, evs, (size_t)counts[i]), VGL_OK);
    }
    ck_assert_uint_eq(ph_nalerts, 0);
    /* another entity's event two hours later moves the watermark */
    vgl_event *other = ev_at("grace", B0 + 14 * HOUR + 5);
    other->meta.offset = 4242;
    ck_assert_int_eq(ph_run1(pi, other), VGL_OK);
    ck_assert_uint_eq(ph_nalerts, 1);
    ck_assert_str_eq(ph_alerts[0].entities, "account=frank;");
    ck_assert_str_eq(ph_alerts[0].evidence, "raw.test/0@4242");
    ck_assert_int_eq(ph_alerts[0].time_ms, B0 + 14 * HOUR + 5);
    /* the empty hour 13 was folded in: frank's next hour is compared with a
     * baseline of 13 + 1 buckets */
    vgl_event *late = ev_at("frank", B0 + 3 * HOUR);
    ck_assert_int_eq(ph_run1(pi, late), VGL_OK);
    ck_assert_double_eq(ph_metric(pi, "anomaly_late_events_total", NULL), 1);
}
END_TEST

START_TEST(lateness_delays_the_sweep)
{
    vgl_plugin_instance *pi = load("name=m; by=user.name; bucket=1h; warmup=0; z=1",
                                   "      lateness: 2h\n");
    ck_assert_int_eq(ph_run1(pi, ev_at("h1", B0)), VGL_OK);
    ck_assert_int_eq(ph_run1(pi, ev_at("h2", B0 + 2 * HOUR)), VGL_OK);
    /* watermark - 2h is still in bucket 0: h1's bucket 0 stays open */
    ck_assert_int_eq(ph_run1(pi, ev_at("h1", B0 + 10)), VGL_OK);
    ck_assert_double_eq(ph_metric(pi, "anomaly_late_events_total", NULL), 0);
}
END_TEST

START_TEST(eviction_counted)
{
    vgl_plugin_instance *pi = load("name=m; by=user.name; bucket=1h; warmup=2",
                                   "      max_entities: 3\n");
    const char *users[] = {"u1", "u2", "u3", "u4", "u5", "u1"};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(ph_run1(pi, ev_at(users[i], B0 + i)), VGL_OK);
    /* u1, u2 evicted for u4, u5; u1 comes back and evicts u3 */
    ck_assert_double_eq(ph_metric(pi, "anomaly_evicted_entities_total", NULL), 3);
    /* recently used entities survive: u5 is still there (no eviction) */
    ck_assert_int_eq(ph_run1(pi, ev_at("u5", B0 + 10)), VGL_OK);
    ck_assert_double_eq(ph_metric(pi, "anomaly_evicted_entities_total", NULL), 3);
}
END_TEST

START_TEST(per_worker_state)
{
    vgl_plugin_instance *pi = load("name=logons; by=user.name; bucket=1h; alpha=0.2; warmup=8",
                                   NULL);
    ck_assert_int_eq(vgl_plugins_prepare_workers(ph_plugins, 2, NULL), VGL_OK);
    ck_assert_uint_eq(pi->ninst, 2);
    int base[12] = {10, 12, 9, 11, 10, 13, 9, 10, 11, 12, 10, 11};
    /* worker 0 learns the baseline; worker 1 sees only the spike */
    feed(pi, 0, "ivan", base, 12);
    int spike[1] = {60};
    feed(pi, 1, "ivan", spike, 1);
    ck_assert_uint_eq(ph_nalerts, 0);
}
END_TEST

START_TEST(hostile_and_missing)
{
    vgl_plugin_instance *pi = load("name=m; by=user.name; value=n; bucket=1h; warmup=0", NULL);
    vgl_event *evs[6];
    evs[0] = ph_event(); /* no time */
    ph_set_str(evs[0], "user.name", "x");
    ph_set_double(evs[0], "n", 1);
    evs[1] = ev_at("", B0); /* empty key */
    char big[400];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    evs[2] = ev_at(big, B0); /* key over 256 bytes */
    evs[3] = ev_at("y", B0); /* no value field */
    evs[4] = ev_at("z", B0);
    ph_set_str(evs[4], "n", "not a number");
    evs[5] = ph_event_json("{\"user\": {\"name\": {\"o\": 1}}, \"n\": 2}"); /* no string key */
    evs[5]->ts_ms = B0;
    ck_assert_int_eq(ph_run(pi, 0, evs, 6), VGL_OK);
    ck_assert_double_eq(ph_metric(pi, "anomaly_skipped_events_total", NULL), 5);
    /* times outside 1970..9999 are skipped */
    vgl_event *odd[2] = {ev_at("w", INT64_MIN + 1), ev_at("w", INT64_MAX - 1)};
    ph_set_double(odd[0], "n", 1);
    ph_set_double(odd[1], "n", 1);
    ck_assert_int_eq(ph_run(pi, 0, odd, 2), VGL_OK);
    ck_assert_double_eq(ph_metric(pi, "anomaly_skipped_events_total", NULL), 7);
    /* far-apart times: the gap fold is bounded, no alert without a baseline */
    vgl_event *a = ev_at("w", 0);
    ph_set_double(a, "n", 1);
    vgl_event *b = ev_at("w", 253402300799999LL);
    ph_set_double(b, "n", 1);
    ck_assert_int_eq(ph_run1(pi, a), VGL_OK);
    ck_assert_int_eq(ph_run1(pi, b), VGL_OK);
    ck_assert_uint_eq(ph_nalerts, 0);
}
END_TEST

static void expect_error(const char *spec, const char *reason)
{
    ck_assert_ptr_null(ph_load("plugins:\n  - name: anomaly\n    config:\n      metrics:\n"
                               "        - \"%s\"\n",
                               spec));
    char want[4096];
    snprintf(want, sizeof(want), "plugin anomaly (%s): %s\n", SO, reason);
    ck_assert_str_eq(ph_diag_text, want);
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
}

START_TEST(spec_errors)
{
    expect_error("name=m; by=user.name", "metrics: item 1: needs name, by and bucket");
    expect_error("name=m; by=user.name; bucket=1w",
                 "metrics: item 1: bucket \"1w\" is not a duration (500ms, 30s, 10m, 1h, 1d)");
    expect_error("name=m; by=user.name; bucket=1h; alpha=0",
                 "metrics: item 1: alpha must be a number in (0, 1], got \"0\"");
    expect_error("name=m; by=user.name; bucket=1h; z=-1",
                 "metrics: item 1: z must be a positive number, got \"-1\"");
    expect_error("name=m; by=user.name; bucket=1h; warmup=x",
                 "metrics: item 1: warmup must be a number of buckets (0-1000000), got \"x\"");
    expect_error("name=m; by=user.name; bucket=1h; severity=urgent",
                 "metrics: item 1: severity must be informational, low, medium, high or "
                 "critical");
    expect_error("name=m; by=user..name; bucket=1h",
                 "metrics: item 1: by \"user..name\" is not a valid field path");
    expect_error("name=m m; by=user.name; bucket=1h",
                 "metrics: item 1: name \"m m\" must be of [A-Za-z0-9_-]");
    expect_error("name=m; by=user.name; bucket=1h; colour=red",
                 "metrics: item 1: unknown key \"colour\" (name, by, value, bucket, alpha, z, "
                 "warmup, min_value, severity, rule_id, title, tactic, technique, entity_type)");
}
END_TEST

/* ----------------------------------------------------------- real data */

static int cmp_time(const void *a, const void *b)
{
    const vgl_event *x = *(vgl_event *const *)a, *y = *(vgl_event *const *)b;
    return x->ts_ms < y->ts_ms ? -1 : x->ts_ms > y->ts_ms;
}

START_TEST(real_process_burst)
{
    vgl_plugin_instance *pi = load("name=processes; by=Computer; bucket=10m; alpha=0.3; z=3; "
                                   "warmup=4; entity_type=host; rule_id=process-burst; "
                                   "title=Process creation burst; technique=T1059",
                                   NULL);
    static vgl_event *evs[400];
    size_t n = ph_events_from_file("processes_on_host_4688_projected.jsonl", evs, 400);
    ck_assert_uint_eq(n, 363);
    for (size_t i = 0; i < n; i++) {
        const char *t = ph_str(evs[i], "TimeGenerated");
        ck_assert(pi->host.time_parse(t, strlen(t), &evs[i]->ts_ms));
        evs[i]->meta.offset = (int64_t)i;
    }
    /* a partition delivers in order: sort by event time */
    qsort(evs, n, sizeof(evs[0]), cmp_time);
    for (size_t i = 0; i < n; i += 50)
        ck_assert_int_eq(ph_run(pi, 0, evs + i, n - i < 50 ? n - i : 50), VGL_OK);
    /* 10-minute counts: 11, 28, 28, 32, 25, 28, then 197 at 05:10 (the
     * attack simulation by MSTICAdmin), 14 */
    ck_assert_uint_eq(ph_nalerts, 1);
    const ph_alert *a = &ph_alerts[0];
    ck_assert_str_eq(a->rule_id, "process-burst");
    ck_assert_str_eq(a->entities, "host=MSTICAlertsWin1;");
    ck_assert_str_eq(a->technique, "T1059");
    ck_assert_ptr_nonnull(strstr(a->description, "processes for host \"MSTICAlertsWin1\" was 197 "
                                                 "in the bucket starting 2019-01-15T05:10:00Z"));
    ck_assert_ptr_nonnull(strstr(a->description, "baseline mean 25.1008, stddev 6.664 over 6 "
                                                 "buckets; z-score 25.7952 > 3"));
    ck_assert_str_eq(a->fields, "Computer=MSTICAlertsWin1;");
    /* raised by the first event of 05:20 */
    ck_assert_int_ge(a->time_ms, 1547529600000LL); /* 2019-01-15T05:20:00Z */
    ck_assert_int_lt(a->time_ms, 1547529660000LL);

    /* in file order (not sorted), events older than the open bucket are
     * late: counted, never an error */
    ph_teardown();
    ph_setup();
    pi = load("name=processes; by=Computer; bucket=10m; warmup=4", NULL);
    n = ph_events_from_file("processes_on_host_4688_projected.jsonl", evs, 400);
    for (size_t i = 0; i < n; i++) {
        const char *t = ph_str(evs[i], "TimeGenerated");
        ck_assert(pi->host.time_parse(t, strlen(t), &evs[i]->ts_ms));
    }
    ck_assert_int_eq(ph_run(pi, 0, evs, n), VGL_OK);
    ck_assert_double_gt(ph_metric(pi, "anomaly_late_events_total", NULL), 0);
}
END_TEST

static Suite *anomaly_suite(void)
{
    Suite *s = suite_create("anomaly");
    TCase *tc = tcase_create("baselines");
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, no_alert_during_warmup);
    tcase_add_test(tc, alert_on_spike_with_z);
    tcase_add_test(tc, threshold_is_mean_plus_z_sd);
    tcase_add_test(tc, no_alert_on_normal_variation);
    tcase_add_test(tc, sum_of_a_field);
    tcase_add_test(tc, min_value_suppresses_small_spikes);
    tcase_add_test(tc, watermark_closes_idle_buckets);
    tcase_add_test(tc, lateness_delays_the_sweep);
    tcase_add_test(tc, eviction_counted);
    tcase_add_test(tc, per_worker_state);
    tcase_add_test(tc, hostile_and_missing);
    tcase_add_test(tc, spec_errors);
    tcase_add_test(tc, real_process_burst);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(anomaly_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
