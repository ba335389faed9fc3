/* Unit tests: the metrics registry, its Prometheus exposition, and the
 * HTTP endpoint (/metrics, /healthz, /readyz) over real TCP sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

static char err[512];

static char *render(vgl_metrics *reg)
{
    vgl_buf b;
    vgl_buf_init(&b, 0);
    ck_assert_int_eq(vgl_metrics_render(reg, &b), VGL_OK);
    if (!b.data)
        return strdup("");
    return b.data;
}

static void quiet_log(const char *line, void *opaque)
{
    (void)line;
    (void)opaque;
}

/* ------------------------------------------------------- exposition */

static void rule_collector(vgl_metrics_writer *w, void *opaque)
{
    (void)opaque;
    /* families interleaved, one of them registered: grouped on output */
    const char *r1[] = {"rule", "brute-force", NULL};
    const char *r2[] = {"rule", "odd \"rule\"\\x\n", NULL};
    ck_assert_int_eq(vgl_metrics_write(w, "vigil_rule_evaluations_total", NULL,
                                       VGL_METRIC_COUNTER, r1, 10),
                     VGL_OK);
    ck_assert_int_eq(vgl_metrics_write(w, "vigil_rule_time_seconds_total", NULL,
                                       VGL_METRIC_COUNTER, r1, 0.25),
                     VGL_OK);
    ck_assert_int_eq(vgl_metrics_write(w, "vigil_rule_evaluations_total", NULL,
                                       VGL_METRIC_COUNTER, r2, 3),
                     VGL_OK);
    ck_assert_int_eq(vgl_metrics_write(w, "vigil_rule_time_seconds_total", NULL,
                                       VGL_METRIC_COUNTER, r2, 1e-7),
                     VGL_OK);
    const char *t[] = {"topic", "late", NULL};
    ck_assert_int_eq(vgl_metrics_write(w, "vigil_events_consumed_total", NULL,
                                       VGL_METRIC_COUNTER, t, 7),
                     VGL_OK);
    /* refused: wrong type for a registered family, histogram, bad names */
    ck_assert_int_eq(vgl_metrics_write(w, "vigil_events_consumed_total", NULL, VGL_METRIC_GAUGE,
                                       t, 1),
                     VGL_ERR_TYPE);
    ck_assert_int_eq(vgl_metrics_write(w, "x_hist", "h", VGL_METRIC_HISTOGRAM, NULL, 1),
                     VGL_ERR_TYPE);
    ck_assert_int_eq(vgl_metrics_write(w, "9bad", "h", VGL_METRIC_GAUGE, NULL, 1),
                     VGL_ERR_INVALID);
    const char *bad[] = {"__reserved", "v", NULL};
    ck_assert_int_eq(vgl_metrics_write(w, "ok_name", "h", VGL_METRIC_GAUGE, bad, 1),
                     VGL_ERR_INVALID);
    const char *odd[] = {"topic", NULL};
    ck_assert_int_eq(vgl_metrics_write(w, "ok_name", "h", VGL_METRIC_GAUGE, odd, 1),
                     VGL_ERR_INVALID);
}

START_TEST(exposition_is_byte_exact)
{
    vgl_metrics *reg = vgl_metrics_new(4);
    const char *in[] = {"topic", "in", NULL};
    const char *hostile[] = {"topic", "a\\b\"c\nd\xff", NULL};
    vgl_counter *c1 = vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, in, err,
                                          sizeof(err));
    vgl_counter *c2 = vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, hostile,
                                          err, sizeof(err));
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_nonnull(c2);
    vgl_counter *opened = vgl_metrics_counter(reg, "vigil_incidents_opened_total", NULL, NULL,
                                              err, sizeof(err));
    vgl_gauge *g = vgl_metrics_gauge(reg, "vigil_partitions_assigned", NULL, NULL, err,
                                     sizeof(err));
    vgl_counter *secs = vgl_metrics_counter_scaled(
        reg, "test_busy_seconds_total", "Busy time.\nSecond line \\ backslash \"quoted\".",
        NULL, 1e-9, err, sizeof(err));
    ck_assert_msg(secs != NULL, "%s", err);
    const double bounds[] = {0.001, 0.01, 0.1};
    const char *st[] = {"stage", "decode", NULL};
    vgl_histogram *h = vgl_metrics_histogram(reg, "vigil_stage_latency_seconds", NULL, st,
                                             bounds, 3, err, sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);

    vgl_counter_add(c1, 41);
    vgl_metrics_thread_shard(3);
    vgl_counter_inc(c1);
    vgl_counter_add(c2, 5);
    vgl_metrics_thread_shard(0);
    vgl_counter_add(opened, 2);
    vgl_gauge_set(g, 12);
    vgl_gauge_add(g, -0.5);
    vgl_counter_add(secs, 1500000000); /* 1.5 s */
    vgl_histogram_observe(h, 0.0005);
    vgl_histogram_observe(h, 0.001); /* le is inclusive */
    vgl_histogram_observe_ns(h, 5000000);
    vgl_histogram_observe(h, 3);
    vgl_histogram_observe(h, NAN); /* ignored */
    ck_assert_int_eq(vgl_metrics_add_collector(reg, rule_collector, NULL), VGL_OK);

    char *out = render(reg);
    const char *want =
        "# HELP vigil_events_consumed_total Input records taken from Kafka by the workers.\n"
        "# TYPE vigil_events_consumed_total counter\n"
        "vigil_events_consumed_total{topic=\"in\"} 42\n"
        "vigil_events_consumed_total{topic=\"a\\\\b\\\"c\\nd\xef\xbf\xbd\"} 5\n"
        "vigil_events_consumed_total{topic=\"late\"} 7\n"
        "# HELP vigil_incidents_opened_total Incidents opened.\n"
        "# TYPE vigil_incidents_opened_total counter\n"
        "vigil_incidents_opened_total 2\n"
        "# HELP vigil_partitions_assigned Partitions assigned to this process.\n"
        "# TYPE vigil_partitions_assigned gauge\n"
        "vigil_partitions_assigned 11.5\n"
        "# HELP test_busy_seconds_total Busy time.\\nSecond line \\\\ backslash \"quoted\".\n"
        "# TYPE test_busy_seconds_total counter\n"
        "test_busy_seconds_total 1.5\n"
        "# HELP vigil_stage_latency_seconds Time one event spends in a pipeline stage.\n"
        "# TYPE vigil_stage_latency_seconds histogram\n"
        "vigil_stage_latency_seconds_bucket{stage=\"decode\",le=\"0.001\"} 2\n"
        "vigil_stage_latency_seconds_bucket{stage=\"decode\",le=\"0.01\"} 3\n"
        "vigil_stage_latency_seconds_bucket{stage=\"decode\",le=\"0.1\"} 3\n"
        "vigil_stage_latency_seconds_bucket{stage=\"decode\",le=\"+Inf\"} 4\n"
        "vigil_stage_latency_seconds_sum{stage=\"decode\"} 3.0065\n"
        "vigil_stage_latency_seconds_count{stage=\"decode\"} 4\n"
        "# HELP vigil_rule_evaluations_total Events that reached the rule through the "
        "prefilter index.\n"
        "# TYPE vigil_rule_evaluations_total counter\n"
        "vigil_rule_evaluations_total{rule=\"brute-force\"} 10\n"
        "vigil_rule_evaluations_total{rule=\"odd \\\"rule\\\"\\\\x\\n\"} 3\n"
        "# HELP vigil_rule_time_seconds_total Time spent in the rule past the prefilter.\n"
        "# TYPE vigil_rule_time_seconds_total counter\n"
        "vigil_rule_time_seconds_total{rule=\"brute-force\"} 0.25\n"
        "vigil_rule_time_seconds_total{rule=\"odd \\\"rule\\\"\\\\x\\n\"} 1e-07\n";
    ck_assert_str_eq(out, want);
    free(out);

    ck_assert_uint_eq(vgl_counter_value(c1), 42);
    ck_assert_uint_eq(vgl_histogram_count(h), 4);
    ck_assert_double_eq_tol(vgl_histogram_sum(h), 3.0065, 1e-12);
    ck_assert_double_eq(vgl_gauge_value(g), 11.5);
    double sum;
    ck_assert_int_eq(vgl_metrics_sum(reg, "vigil_events_consumed_total", &sum), VGL_OK);
    ck_assert_double_eq(sum, 47); /* registered series only */
    ck_assert_int_eq(vgl_metrics_sum(reg, "test_busy_seconds_total", &sum), VGL_OK);
    ck_assert_double_eq(sum, 1.5);
    ck_assert_int_eq(vgl_metrics_sum(reg, "vigil_nothing", &sum), VGL_ERR_NOTFOUND);

    /* a removed collector is not called again */
    ck_assert_int_eq(vgl_metrics_remove_collector(reg, rule_collector, NULL), VGL_OK);
    ck_assert_int_eq(vgl_metrics_remove_collector(reg, rule_collector, NULL), VGL_ERR_NOTFOUND);
    out = render(reg);
    ck_assert_ptr_null(strstr(out, "vigil_rule_"));
    ck_assert_ptr_null(strstr(out, "topic=\"late\""));
    free(out);
    vgl_metrics_free(reg);
}
END_TEST

START_TEST(empty_registry_renders_nothing)
{
    vgl_metrics *reg = vgl_metrics_new(1);
    char *out = render(reg);
    ck_assert_str_eq(out, "");
    free(out);
    vgl_metrics_free(reg);
}
END_TEST

START_TEST(default_latency_buckets)
{
    vgl_metrics *reg = vgl_metrics_new(2);
    vgl_histogram *h = vgl_metrics_histogram(reg, "x_seconds", "x", NULL, NULL, 0, err,
                                             sizeof(err));
    ck_assert_ptr_nonnull(h);
    vgl_histogram_observe(h, 0.00002);
    char *out = render(reg);
    ck_assert_ptr_nonnull(strstr(out, "x_seconds_bucket{le=\"1e-05\"} 0\n"
                                      "x_seconds_bucket{le=\"2.5e-05\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_seconds_bucket{le=\"10\"} 1\n"
                                      "x_seconds_bucket{le=\"+Inf\"} 1\n"
                                      "x_seconds_sum 2e-05\n"
                                      "x_seconds_count 1\n"));
    ck_assert_uint_eq(vgl_metrics_latency_nbuckets, 19);
    free(out);
    vgl_metrics_free(reg);
}
END_TEST

START_TEST(registration_errors)
{
    vgl_metrics *reg = vgl_metrics_new(2);
    const char *t1[] = {"topic", "a", NULL};
    const char *t2[] = {"topic", "b", NULL};
    vgl_counter *a = vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, t1, err,
                                         sizeof(err));
    ck_assert_ptr_nonnull(a);
    /* same series again: the same object */
    ck_assert_ptr_eq(vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, t1, err,
                                         sizeof(err)),
                     a);
    ck_assert_ptr_ne(vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, t2, err,
                                         sizeof(err)),
                     a);

    ck_assert_ptr_null(vgl_metrics_gauge(reg, "vigil_events_consumed_total", NULL, t1, err,
                                         sizeof(err)));
    ck_assert_str_eq(err, "metric vigil_events_consumed_total is already registered as a counter");
    const char *other[] = {"partition", "1", NULL};
    ck_assert_ptr_null(vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, other, err,
                                           sizeof(err)));
    ck_assert_str_eq(err, "metric vigil_events_consumed_total: label names differ from the "
                          "family's first series");
    ck_assert_ptr_null(vgl_metrics_counter(reg, "vigil_events_consumed_total", "other help", t1,
                                           err, sizeof(err)));
    ck_assert_str_eq(err,
                     "metric vigil_events_consumed_total is already registered with another "
                     "help text");
    ck_assert_ptr_null(vgl_metrics_counter_scaled(reg, "vigil_events_consumed_total", NULL, t1,
                                                  2, err, sizeof(err)));
    ck_assert_str_eq(err,
                     "metric vigil_events_consumed_total is already registered with another unit");

    ck_assert_ptr_null(vgl_metrics_counter(reg, "bad-name", "h", NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "invalid metric name 'bad-name' (use [a-zA-Z_:][a-zA-Z0-9_:]*)");
    ck_assert_ptr_null(vgl_metrics_counter(reg, "", "h", NULL, err, sizeof(err)));
    ck_assert_ptr_null(vgl_metrics_counter(reg, "not_in_catalog", NULL, NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "metric not_in_catalog: not in the catalog and no help text given");
    const char *badl[] = {"1x", "v", NULL};
    ck_assert_ptr_null(vgl_metrics_counter(reg, "c_total", "h", badl, err, sizeof(err)));
    ck_assert_str_eq(err, "metric c_total: invalid label name '1x' (use [a-zA-Z_][a-zA-Z0-9_]*, "
                          "not starting with __)");
    const char *dup[] = {"a", "1", "a", "2", NULL};
    ck_assert_ptr_null(vgl_metrics_counter(reg, "c_total", "h", dup, err, sizeof(err)));
    ck_assert_str_eq(err, "metric c_total: label a given twice");
    const char *le[] = {"le", "1", NULL};
    ck_assert_ptr_null(vgl_metrics_histogram(reg, "h_seconds", "h", le, NULL, 0, err,
                                             sizeof(err)));
    ck_assert_str_eq(err, "metric h_seconds: label 'le' is reserved for histogram buckets");
    const char *many[] = {"a", "1", "b", "1", "c", "1", "d", "1", "e", "1",
                          "f", "1", "g", "1", "h", "1", "i", "1", NULL};
    ck_assert_ptr_null(vgl_metrics_counter(reg, "c_total", "h", many, err, sizeof(err)));
    ck_assert_str_eq(err, "metric c_total: more than 8 labels");
    const double down[] = {1, 0.5};
    ck_assert_ptr_null(vgl_metrics_histogram(reg, "h_seconds", "h", NULL, down, 2, err,
                                             sizeof(err)));
    ck_assert_str_eq(err, "metric h_seconds: bucket bounds must be finite and strictly increasing");
    const double inf[] = {1, INFINITY};
    ck_assert_ptr_null(vgl_metrics_histogram(reg, "h_seconds", "h", NULL, inf, 2, err,
                                             sizeof(err)));
    const double b1[] = {1, 2}, b2[] = {1, 3};
    const char *s1[] = {"stage", "x", NULL}, *s2[] = {"stage", "y", NULL};
    ck_assert_ptr_nonnull(vgl_metrics_histogram(reg, "h_seconds", "h", s1, b1, 2, err,
                                                sizeof(err)));
    ck_assert_ptr_null(vgl_metrics_histogram(reg, "h_seconds", "h", s2, b2, 2, err,
                                             sizeof(err)));
    ck_assert_str_eq(err, "metric h_seconds: buckets differ from the family's first series");
    ck_assert_ptr_null(vgl_metrics_counter_scaled(reg, "z_total", "h", NULL, 0, err,
                                                  sizeof(err)));
    ck_assert_str_eq(err, "metric z_total: the unit must be a positive number");
    ck_assert_int_eq(vgl_metrics_add_collector(reg, NULL, NULL), VGL_ERR_INVALID);

    /* nothing half-registered shows up */
    char *out = render(reg);
    ck_assert_ptr_null(strstr(out, "c_total"));
    ck_assert_ptr_null(strstr(out, "z_total"));
    free(out);
    vgl_metrics_free(reg);
}
END_TEST

START_TEST(format_double)
{
    char b[40];
    struct {
        double v;
        const char *s;
    } cases[] = {
        {0, "0"},          {-0.0, "0"},        {1, "1"},          {-3, "-3"},
        {0.1, "0.1"},      {1e-05, "1e-05"},   {2.5e-05, "2.5e-05"}, {0.0001, "0.0001"},
        {123456789, "123456789"}, {1e15, "1e+15"}, {1.0 / 3, "0.333333333333333315"},
        {NAN, "NaN"},      {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
        {18446744073709551615.0, "1.8446744073709552e+19"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = vgl_metrics_format_double(cases[i].v, b, sizeof(b));
        if (i == 10) {
            /* shortest round trip: 17 digits for 1/3 */
            ck_assert_double_eq(strtod(b, NULL), 1.0 / 3);
            ck_assert_uint_le(n, 19);
            continue;
        }
        ck_assert_str_eq(b, cases[i].s);
        ck_assert_uint_eq(n, strlen(cases[i].s));
    }
}
END_TEST

START_TEST(catalog_is_consistent)
{
    size_t n;
    const vgl_metric_def *cat = vgl_metrics_catalog(&n);
    ck_assert_uint_gt(n, 30);
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_eq(vgl_metrics_catalog_find(cat[i].name), &cat[i]);
        ck_assert_msg(strncmp(cat[i].name, "vigil_", 6) == 0, "%s", cat[i].name);
        size_t len = strlen(cat[i].name);
        bool total = len > 6 && strcmp(cat[i].name + len - 6, "_total") == 0;
        ck_assert_msg(total == (cat[i].type == VGL_METRIC_COUNTER),
                      "%s: counters and only counters end in _total", cat[i].name);
        ck_assert_uint_gt(strlen(cat[i].help), 5);
        /* every entry registers with its help and label names */
        vgl_metrics *reg = vgl_metrics_new(1);
        const char *labels[2 * VGL_METRICS_MAX_LABELS + 1] = {0};
        char names[128];
        snprintf(names, sizeof(names), "%s", cat[i].labels);
        size_t k = 0;
        for (char *save = NULL, *t = strtok_r(names, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            labels[k++] = t;
            labels[k++] = "v";
        }
        void *s = NULL;
        if (cat[i].type == VGL_METRIC_COUNTER)
            s = vgl_metrics_counter(reg, cat[i].name, NULL, labels, err, sizeof(err));
        else if (cat[i].type == VGL_METRIC_GAUGE)
            s = vgl_metrics_gauge(reg, cat[i].name, NULL, labels, err, sizeof(err));
        else
            s = vgl_metrics_histogram(reg, cat[i].name, NULL, labels, NULL, 0, err, sizeof(err));
        ck_assert_msg(s != NULL, "%s: %s", cat[i].name, err);
        vgl_metrics_free(reg);
    }
}
END_TEST

static const char *srcdir(void)
{
    const char *s = getenv("VGL_SRCDIR");
    return s && *s ? s : VGL_SRCDIR;
}

static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    vgl_buf b;
    vgl_buf_init(&b, 0);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        vgl_buf_append(&b, tmp, n);
    fclose(fp);
    return b.data;
}

START_TEST(docs_list_every_metric)
{
    char *doc = slurp("docs/operations.md");
    size_t n;
    const vgl_metric_def *cat = vgl_metrics_catalog(&n);
    for (size_t i = 0; i < n; i++) {
        char row[128];
        snprintf(row, sizeof(row), "| `%s` |", cat[i].name);
        ck_assert_msg(strstr(doc, row) != NULL, "docs/operations.md has no row for %s",
                      cat[i].name);
    }
    free(doc);
}
END_TEST

/* Every vigil_* name in an expression must be a catalog metric (or one of
 * a histogram's _bucket/_sum/_count series). */
static void check_expr(const char *expr, int *checked)
{
    for (const char *p = strstr(expr, "vigil_"); p; p = strstr(p + 1, "vigil_")) {
        if (p > expr && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')))
            continue;
        char name[128];
        size_t k = 0;
        while (k < sizeof(name) - 1 && ((p[k] >= 'a' && p[k] <= 'z') || p[k] == '_' ||
                                        (p[k] >= '0' && p[k] <= '9')))
            name[k] = p[k], k++;
        name[k] = '\0';
        const vgl_metric_def *d = vgl_metrics_catalog_find(name);
        if (!d) {
            static const char *const sfx[] = {"_bucket", "_sum", "_count"};
            for (size_t s = 0; s < 3 && !d; s++) {
                size_t sl = strlen(sfx[s]);
                if (k > sl && strcmp(name + k - sl, sfx[s]) == 0) {
                    char base[128];
                    snprintf(base, sizeof(base), "%.*s", (int)(k - sl), name);
                    d = vgl_metrics_catalog_find(base);
                    if (d && d->type != VGL_METRIC_HISTOGRAM)
                        d = NULL;
                }
            }
        }
        ck_assert_msg(d != NULL, "dashboard uses unknown metric %s in: %s", name, expr);
        (*checked)++;
    }
}

static void walk_json(json_t *v, int *checked, int *panels)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_t *expr = json_object_get(v, "expr");
        if (json_is_string(expr))
            check_expr(json_string_value(expr), checked);
        if (json_is_string(json_object_get(v, "type")) && json_object_get(v, "gridPos"))
            (*panels)++;
        json_object_foreach(v, key, x) walk_json(x, checked, panels);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) walk_json(x, checked, panels);
    }
}

START_TEST(dashboard_uses_catalog_metrics)
{
    char *text = slurp("configs/grafana/vigil-dashboard.json");
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    ck_assert_msg(root != NULL, "dashboard JSON line %d: %s", je.line, je.text);
    ck_assert(json_is_string(json_object_get(root, "title")));
    ck_assert(json_is_integer(json_object_get(root, "schemaVersion")));
    ck_assert(json_is_array(json_object_get(root, "panels")));
    int checked = 0, panels = 0;
    walk_json(root, &checked, &panels);
    ck_assert_int_ge(panels, 6);
    ck_assert_int_ge(checked, 8);
    const char *want[] = {"vigil_rule_time_seconds_total", "vigil_consumer_lag_messages",
                          "vigil_events_dead_lettered_total", "vigil_actions_emitted_total",
                          "vigil_incidents_opened_total", "vigil_events_consumed_total"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(text, want[i]) != NULL, "dashboard lacks %s", want[i]);
    ck_assert_ptr_nonnull(strstr(text, "topk(10"));
    json_decref(root);
    free(text);
}
END_TEST

/* -------------------------------------------------------- concurrency */

#define THREADS 5
#define PER_THREAD 500000

static atomic_int hammers_done;

struct hammer {
    vgl_counter *c;
    vgl_histogram *h;
    vgl_gauge *g;
    unsigned shard;
};

static void *hammer_run(void *arg)
{
    struct hammer *hm = arg;
    vgl_metrics_thread_shard(hm->shard);
    for (int i = 0; i < PER_THREAD; i++) {
        vgl_counter_inc(hm->c);
        if ((i & 7) == 0)
            vgl_histogram_observe(hm->h, (i & 8) ? 0.002 : 0.00002);
        vgl_gauge_add(hm->g, 1);
    }
    atomic_fetch_add(&hammers_done, 1);
    return NULL;
}

/* Parse "name{...} value" / "name value" for an exact line prefix. */
static double sample(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    ck_assert_msg(p != NULL, "no sample %s", prefix);
    return strtod(p + strlen(prefix), NULL);
}

START_TEST(concurrent_updates_are_exact)
{
    /* 4 shards: 1 and 2 owned by one thread each; two threads share shard
     * 0 and one asks for shard 100, beyond the registry's, so shares 0 too */
    static const unsigned shards[THREADS] = {0, 1, 0, 2, 100};
    vgl_metrics *reg = vgl_metrics_new(3);
    const char *t[] = {"topic", "in", NULL};
    vgl_counter *c = vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, t, err,
                                         sizeof(err));
    const double b[] = {0.001};
    vgl_histogram *h = vgl_metrics_histogram(reg, "lat_seconds", "l", NULL, b, 1, err,
                                             sizeof(err));
    vgl_gauge *g = vgl_metrics_gauge(reg, "busy", "b", NULL, err, sizeof(err));
    struct hammer hm[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        hm[i] = (struct hammer){c, h, g, shards[i]};
        pthread_create(&th[i], NULL, hammer_run, &hm[i]);
    }
    /* scrape while they run: totals never go down, histogram stays coherent */
    double prev = 0;
    int scrapes = 0;
    while (atomic_load(&hammers_done) < THREADS) {
        char *out = render(reg);
        double v = sample(out, "vigil_events_consumed_total{topic=\"in\"} ");
        ck_assert(v >= prev);
        prev = v;
        double inf = sample(out, "lat_seconds_bucket{le=\"+Inf\"} ");
        double le = sample(out, "lat_seconds_bucket{le=\"0.001\"} ");
        ck_assert(le <= inf);
        ck_assert(sample(out, "lat_seconds_count ") == inf);
        free(out);
        scrapes++;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(vgl_counter_value(c), (uint64_t)THREADS * PER_THREAD);
    ck_assert_uint_eq(vgl_histogram_count(h), (uint64_t)THREADS * PER_THREAD / 8);
    ck_assert_double_eq(vgl_gauge_value(g), (double)THREADS * PER_THREAD);
    char *out = render(reg);
    /* every 8th update observes, alternately 20us and 2ms */
    double half = (double)THREADS * PER_THREAD / 16;
    ck_assert_double_eq(sample(out, "lat_seconds_bucket{le=\"0.001\"} "), half);
    ck_assert_double_eq(sample(out, "lat_seconds_bucket{le=\"+Inf\"} "), 2 * half);
    ck_assert_double_eq_tol(sample(out, "lat_seconds_sum "), half * 0.00002 + half * 0.002,
                            1e-6);
    free(out);
    ck_assert_int_gt(scrapes, 0);
    vgl_metrics_free(reg);
}
END_TEST

static void *register_run(void *arg)
{
    vgl_metrics *reg = arg;
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "%d", i);
        const char *l[] = {"topic", name, NULL};
        vgl_counter *c = vgl_metrics_counter(reg, "vigil_events_decoded_total", NULL, l, err,
                                             sizeof(err));
        ck_assert_ptr_nonnull(c);
        vgl_counter_add(c, (uint64_t)i);
    }
    return NULL;
}

START_TEST(register_while_scraping)
{
    /* 2000 series need several chunks; earlier series stay valid */
    vgl_metrics *reg = vgl_metrics_new(2);
    pthread_t th;
    pthread_create(&th, NULL, register_run, reg);
    for (int i = 0; i < 50; i++)
        free(render(reg));
    pthread_join(th, NULL);
    double sum;
    ck_assert_int_eq(vgl_metrics_sum(reg, "vigil_events_decoded_total", &sum), VGL_OK);
    ck_assert_double_eq(sum, 1999.0 * 2000 / 2);
    char *out = render(reg);
    ck_assert_ptr_nonnull(strstr(out, "vigil_events_decoded_total{topic=\"1999\"} 1999\n"));
    free(out);
    vgl_metrics_free(reg);
}
END_TEST

/* ------------------------------------------------ collectors, summary */

START_TEST(process_collector)
{
    vgl_metrics *reg = vgl_metrics_new(1);
    ck_assert_int_eq(vgl_metrics_add_process_collector(reg), VGL_OK);
    char *out = render(reg);
    ck_assert_ptr_nonnull(strstr(out, "# TYPE process_cpu_seconds_total counter\n"));
    ck_assert(sample(out, "\nprocess_resident_memory_bytes ") > 1e6);
    ck_assert(sample(out, "\nprocess_virtual_memory_bytes ") > 1e6);
    ck_assert(sample(out, "\nprocess_open_fds ") >= 3);
    ck_assert(sample(out, "\nprocess_threads ") >= 1);
    ck_assert(sample(out, "\nprocess_start_time_seconds ") > 1.5e9);
    ck_assert_ptr_nonnull(strstr(out, "\nprocess_max_fds "));
    free(out);
    vgl_metrics_free(reg);
}
END_TEST

static char logged[1024];
static void capture_log(const char *line, void *opaque)
{
    (void)opaque;
    snprintf(logged, sizeof(logged), "%s", line);
}

START_TEST(stats_summary)
{
    vgl_stats_sample a = {.mono_ns = 1000000000, .events = 1000, .lag = -1};
    vgl_stats_sample b = {.mono_ns = 61000000000, .events = 2200, .lag = 42, .alerts = 3,
                          .incidents = 1, .errors = 2, .dead_letters = 5};
    char buf[256];
    size_t n = vgl_metrics_summary(&a, &b, buf, sizeof(buf));
    ck_assert_str_eq(buf, "events=2200 events_per_s=20.0 lag=42 alerts=3 incidents=1 errors=2 "
                          "dead_letters=5");
    ck_assert_uint_eq(n, strlen(buf));
    vgl_metrics_summary(NULL, &a, buf, sizeof(buf));
    ck_assert_str_eq(buf, "events=1000 events_per_s=0.0 lag=unknown alerts=0 incidents=0 "
                          "errors=0 dead_letters=0");
    n = vgl_metrics_summary(&a, &b, buf, 12);
    ck_assert_str_eq(buf, "events=2200");
    ck_assert_uint_eq(n, 11);
    vgl_log_set_sink(capture_log, NULL);
    vgl_metrics_log_summary(&a, &b);
    vgl_log_set_sink(NULL, NULL);
    const char *p = strchr(logged, ' ');
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p + 1, "level=info msg=stats events=2200 events_per_s=20.0 lag=42 "
                            "alerts=3 incidents=1 errors=2 dead_letters=5");
}
END_TEST

/* --------------------------------------------------------------- HTTP */

struct reply {
    int status;
    char headers[2048];
    char *body;
    size_t body_len;
};

static int connect_to(int family, uint16_t port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port),
                                 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    }
    ck_assert_msg(rc == 0, "connect: %s", strerror(errno));
    return fd;
}

/* Send a raw request; read until the server closes. */
static void http_raw(int family, uint16_t port, const char *req, struct reply *r)
{
    int fd = connect_to(family, port);
    size_t len = strlen(req);
    ck_assert_int_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    vgl_buf b;
    vgl_buf_init(&b, 0);
    char tmp[8192];
    ssize_t n;
    while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
        vgl_buf_append(&b, tmp, (size_t)n);
    ck_assert_msg(n == 0, "recv: %s", strerror(errno));
    close(fd);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_int_eq(sscanf(b.data, "HTTP/1.1 %d", &r->status), 1);
    char *end = strstr(b.data, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    snprintf(r->headers, sizeof(r->headers), "%.*s", (int)(end - b.data), b.data);
    r->body_len = b.len - (size_t)(end + 4 - b.data);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, end + 4, r->body_len);
    r->body[r->body_len] = '\0';
    vgl_buf_free(&b);
}

static void http_get(uint16_t port, const char *method, const char *path, struct reply *r)
{
    char req[256];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             method, path);
    http_raw(AF_INET, port, req, r);
}

/* Header names are case-insensitive: compare the lowercased block. */
static bool has_header(const struct reply *r, const char *line)
{
    char hdrs[2100], want[256];
    snprintf(hdrs, sizeof(hdrs), "%s\r\n", r->headers);
    snprintf(want, sizeof(want), "\r\n%s\r\n", line);
    for (char *p = hdrs; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *p = want; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return strstr(hdrs, want) != NULL;
}

static atomic_int ready_state; /* 0 no partitions, 1 ready */

static bool ready_cb(void *opaque, char *reason, size_t len)
{
    ck_assert_ptr_eq(opaque, &ready_state);
    if (atomic_load(&ready_state))
        return true;
    snprintf(reason, len, "no partitions assigned yet\n(group vigil)");
    return false;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

START_TEST(http_endpoints)
{
    vgl_log_set_sink(quiet_log, NULL);
    int fds_before = count_fds();
    vgl_metrics *reg = vgl_metrics_new(2);
    const char *t[] = {"topic", "in", NULL};
    vgl_counter *c = vgl_metrics_counter(reg, "vigil_events_consumed_total", NULL, t, err,
                                         sizeof(err));
    vgl_counter_add(c, 1234);
    vgl_http *h = vgl_http_start("127.0.0.1:0", reg, ready_cb, &ready_state, err, sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);
    uint16_t port = vgl_http_port(h);
    ck_assert_uint_gt(port, 0);
    struct reply r;

    http_get(port, "GET", "/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(has_header(&r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    char *want = render(reg);
    ck_assert_str_eq(r.body, want);
    ck_assert_ptr_nonnull(strstr(r.body, "vigil_events_consumed_total{topic=\"in\"} 1234\n"));
    free(want);
    free(r.body);

    /* counters move between scrapes */
    vgl_counter_add(c, 1);
    http_get(port, "GET", "/metrics?x=1", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "vigil_events_consumed_total{topic=\"in\"} 1235\n"));
    free(r.body);

    http_get(port, "HEAD", "/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    free(r.body);

    http_get(port, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    ck_assert(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
    free(r.body);

    atomic_store(&ready_state, 0);
    http_get(port, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "no partitions assigned yet (group vigil)\n");
    free(r.body);
    atomic_store(&ready_state, 1);
    http_get(port, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ready\n");
    free(r.body);

    http_get(port, "GET", "/nope", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "not found: try /metrics, /healthz, /readyz\n");
    free(r.body);
    http_get(port, "GET", "/metrics/", &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);

    http_raw(AF_INET, port,
             "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n"
             "\r\nhello",
             &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert(has_header(&r, "Allow: GET, HEAD"));
    ck_assert_str_eq(r.body, "method not allowed: use GET\n");
    free(r.body);
    http_get(port, "DELETE", "/healthz", &r);
    ck_assert_int_eq(r.status, 405);
    free(r.body);

    /* garbage is answered 400 by libmicrohttpd, and the server goes on */
    http_raw(AF_INET, port, "\x01\x02 nonsense\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 400);
    free(r.body);
    http_get(port, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);

    vgl_http_stop(h);
    /* the port is closed and nothing leaks */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ne(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
    ck_assert_int_eq(count_fds(), fds_before);
    vgl_metrics_free(reg);
    vgl_log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(http_listen_forms_and_errors)
{
    vgl_log_set_sink(quiet_log, NULL);
    vgl_metrics *reg = vgl_metrics_new(1);
    struct reply r;

    /* every interface */
    vgl_http *h = vgl_http_start(":0", reg, NULL, NULL, err, sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);
    http_get(vgl_http_port(h), "GET", "/readyz", &r); /* over IPv4 */
    ck_assert_int_eq(r.status, 200);
    free(r.body);

    /* the same port again: a bind error that names the address */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)vgl_http_port(h));
    ck_assert_ptr_null(vgl_http_start(addr, reg, NULL, NULL, err, sizeof(err)));
    char want[160];
    snprintf(want, sizeof(want), "metrics.listen %s: bind: Address already in use", addr);
    ck_assert_str_eq(err, want);
    vgl_http_stop(h);

    /* host names resolve */
    h = vgl_http_start("localhost:0", reg, NULL, NULL, err, sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);
    vgl_http_stop(h);

    /* IPv6 loopback, when the machine has it */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a6, sizeof(a6)) == 0;
    if (probe >= 0)
        close(probe);
    if (v6) {
        h = vgl_http_start("[::1]:0", reg, NULL, NULL, err, sizeof(err));
        ck_assert_msg(h != NULL, "%s", err);
        http_raw(AF_INET6, vgl_http_port(h),
                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "ok\n");
        free(r.body);
        vgl_http_stop(h);
    }

    static const char *const bad[] = {"127.0.0.1",   "127.0.0.1:",   "127.0.0.1:65536",
                                      "127.0.0.1:x", "[::1:9464",    "[]:9464",
                                      "::1:9464",    "[::1]9464",    "127.0.0.1:-1",
                                      "127.0.0.1:123456"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_ptr_null(vgl_http_start(bad[i], reg, NULL, NULL, err, sizeof(err)));
        snprintf(want, sizeof(want),
                 "metrics.listen %s: invalid address (use host:port, [v6addr]:port or :port, "
                 "e.g. 127.0.0.1:9464)",
                 bad[i]);
        ck_assert_str_eq(err, want);
    }
    ck_assert_ptr_null(vgl_http_start("no-such-host.invalid:0", reg, NULL, NULL, err,
                                      sizeof(err)));
    ck_assert_msg(strncmp(err, "metrics.listen no-such-host.invalid:0: cannot resolve "
                               "'no-such-host.invalid': ", 54) == 0, "%s", err);
    ck_assert_ptr_null(vgl_http_start("192.0.2.1:0", reg, NULL, NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "metrics.listen 192.0.2.1:0: bind: Cannot assign requested address");
    vgl_metrics_free(reg);
    vgl_log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(http_connections_are_bounded)
{
    vgl_log_set_sink(quiet_log, NULL);
    vgl_metrics *reg = vgl_metrics_new(1);
    vgl_http *h = vgl_http_start("127.0.0.1:0", reg, NULL, NULL, err, sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);
    uint16_t port = vgl_http_port(h);
    int idle[VGL_HTTP_MAX_CONNECTIONS];
    for (int i = 0; i < VGL_HTTP_MAX_CONNECTIONS; i++) {
        idle[i] = connect_to(AF_INET, port);
        /* a partial request holds the connection open */
        send(idle[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
    }
    usleep(200000);
    /* one too many waits in the listen backlog, unanswered */
    int fd = connect_to(AF_INET, port);
    struct timeval tv = {.tv_usec = 500000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
    char tmp[256];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
                  "over-limit connection was served: n=%zd", n);
    /* the held connections are still served; finishing one frees a slot */
    send(idle[0], "Host: x\r\nConnection: close\r\n\r\n", 31, MSG_NOSIGNAL);
    n = recv(idle[0], tmp, sizeof(tmp) - 1, 0);
    ck_assert_int_gt(n, 12);
    ck_assert(strncmp(tmp, "HTTP/1.1 200", 12) == 0);
    /* ... and the waiting connection is taken and answered */
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, tmp, sizeof(tmp) - 1, 0);
    ck_assert_msg(n > 12, "queued connection not served: n=%zd errno=%d", n, errno);
    ck_assert(strncmp(tmp, "HTTP/1.1 200", 12) == 0);
    close(fd);
    for (int i = 0; i < VGL_HTTP_MAX_CONNECTIONS; i++)
        close(idle[i]);
    usleep(200000);
    struct reply r;
    http_get(port, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    vgl_http_stop(h);
    vgl_metrics_free(reg);
    vgl_log_set_sink(NULL, NULL);
}
END_TEST

/* A scrape runs the collectors on the HTTP thread while workers update. */
static void slow_collector(vgl_metrics_writer *w, void *opaque)
{
    atomic_uint *v = opaque;
    vgl_metrics_write(w, "vigil_rules_loaded", NULL, VGL_METRIC_GAUGE, NULL,
                      (double)atomic_load(v));
}

START_TEST(http_scrape_with_collector)
{
    vgl_log_set_sink(quiet_log, NULL);
    vgl_metrics *reg = vgl_metrics_new(1);
    atomic_uint loaded = 20;
    ck_assert_int_eq(vgl_metrics_add_collector(reg, slow_collector, &loaded), VGL_OK);
    vgl_http *h = vgl_http_start("127.0.0.1:0", reg, NULL, NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(h);
    struct reply r;
    http_get(vgl_http_port(h), "GET", "/metrics", &r);
    ck_assert_str_eq(r.body, "# HELP vigil_rules_loaded Rules in the active rule set.\n"
                             "# TYPE vigil_rules_loaded gauge\n"
                             "vigil_rules_loaded 20\n");
    free(r.body);
    vgl_http_stop(h);
    vgl_metrics_free(reg);
    vgl_log_set_sink(NULL, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *reg = tcase_create("registry");
    tcase_add_test(reg, exposition_is_byte_exact);
    tcase_add_test(reg, empty_registry_renders_nothing);
    tcase_add_test(reg, default_latency_buckets);
    tcase_add_test(reg, registration_errors);
    tcase_add_test(reg, format_double);
    tcase_add_test(reg, catalog_is_consistent);
    tcase_add_test(reg, docs_list_every_metric);
    tcase_add_test(reg, dashboard_uses_catalog_metrics);
    tcase_add_test(reg, process_collector);
    tcase_add_test(reg, stats_summary);
    suite_add_tcase(s, reg);
    TCase *conc = tcase_create("concurrency");
    tcase_set_timeout(conc, 120);
    tcase_add_test(conc, concurrent_updates_are_exact);
    tcase_add_test(conc, register_while_scraping);
    suite_add_tcase(s, conc);
    TCase *http = tcase_create("http");
    tcase_set_timeout(http, 60);
    tcase_add_test(http, http_endpoints);
    tcase_add_test(http, http_listen_forms_and_errors);
    tcase_add_test(http, http_connections_are_bounded);
    tcase_add_test(http, http_scrape_with_collector);
    suite_add_tcase(s, http);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
