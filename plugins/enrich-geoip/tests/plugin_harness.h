/*
 * Test harness shared by the tests of the enrich-geoip, enrich-threatintel,
 * enrich-watchlist and detect-anomaly plugins: loads a plugin through the
 * real host (core/plugin.h) from a YAML config string, builds events from
 * JSON lines, runs batches and captures alerts and log lines, so the tests
 * exercise a plugin exactly as vigil does, without Kafka.
 *
 * Header-only (static functions): each test program includes it once.
 * Set PLUGIN_DIR to the directory of the built plugin (.libs) and DATA_DIR
 * to the test data directory when compiling.
 */
#ifndef PLUGIN_HARNESS_H
#define PLUGIN_HARNESS_H

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"
#include "event.h"
#include "log.h"
#include "plugin.h"

/* Each test uses a subset of the helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

/* ----------------------------------------------------------- logging */

#define PH_MAX_LOG 256
static char *ph_log_lines[PH_MAX_LOG];
static size_t ph_nlog;
static pthread_mutex_t ph_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void ph_log_sink(const char *line, void *opaque)
{
    (void)opaque;
    pthread_mutex_lock(&ph_log_lock);
    if (ph_nlog < PH_MAX_LOG)
        ph_log_lines[ph_nlog++] = strdup(line);
    pthread_mutex_unlock(&ph_log_lock);
}

/* The first captured log line containing needle, or NULL. */
static const char *ph_log_find(const char *needle)
{
    const char *found = NULL;
    pthread_mutex_lock(&ph_log_lock);
    for (size_t i = 0; i < ph_nlog && !found; i++)
        if (ph_log_lines[i] && strstr(ph_log_lines[i], needle))
            found = ph_log_lines[i];
    pthread_mutex_unlock(&ph_log_lock);
    return found;
}

/* ------------------------------------------------------------ events */

static vgl_event **ph_events;
static size_t ph_nevents, ph_events_cap;

static vgl_event *ph_event_alloc(void *opaque)
{
    (void)opaque;
    if (ph_nevents == ph_events_cap) {
        size_t cap = ph_events_cap ? ph_events_cap * 2 : 64;
        vgl_event **n = realloc(ph_events, cap * sizeof(*n));
        if (!n)
            return NULL;
        ph_events = n;
        ph_events_cap = cap;
    }
    vgl_event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    vgl_event_init(ev, 0);
    ev->meta.topic = "raw.test";
    ev->meta.partition = 0;
    ev->meta.offset = (int64_t)ph_nevents;
    ev->meta.received_ms = 1700000000000;
    ph_events[ph_nevents++] = ev;
    return ev;
}

/* A new empty event (freed by ph_teardown). */
static vgl_event *ph_event(void)
{
    vgl_event *ev = ph_event_alloc(NULL);
    ck_assert_ptr_nonnull(ev);
    return ev;
}

/* An event decoded from one JSON object. */
static vgl_event *ph_event_json(const char *json)
{
    vgl_event *ev = ph_event();
    char err[256];
    vgl_rc rc = vgl_json_decode(ev, json, strlen(json), NULL, err, sizeof(err));
    ck_assert_msg(rc == VGL_OK, "bad test JSON: %s", err);
    return ev;
}

static void ph_set_str(vgl_event *ev, const char *path, const char *s)
{
    ck_assert_int_eq(vgl_event_set_str(ev, vgl_path_intern(path), s, strlen(s)), VGL_OK);
}

static void ph_set_double(vgl_event *ev, const char *path, double d)
{
    ck_assert_int_eq(vgl_event_set_double(ev, vgl_path_intern(path), d), VGL_OK);
}

/* The string at path, or NULL when missing or not a string. */
static const char *ph_str(const vgl_event *ev, const char *path)
{
    const vgl_value *v = vgl_event_get(ev, vgl_path_intern(path));
    return v && v->type == VGL_T_STRING ? v->u.s : NULL;
}

static bool ph_has(const vgl_event *ev, const char *path)
{
    return vgl_event_get(ev, vgl_path_intern(path)) != NULL;
}

static int64_t ph_int(const vgl_event *ev, const char *path)
{
    const vgl_value *v = vgl_event_get(ev, vgl_path_intern(path));
    ck_assert_msg(v && v->type == VGL_T_INT, "%s is not an integer", path);
    return v->u.i;
}

static double ph_double(const vgl_event *ev, const char *path)
{
    const vgl_value *v = vgl_event_get(ev, vgl_path_intern(path));
    ck_assert_msg(v && v->type == VGL_T_DOUBLE, "%s is not a double", path);
    return v->u.d;
}

/* Read up to max lines of a JSON Lines file under DATA_DIR into events. */
static size_t ph_events_from_file(const char *name, vgl_event **out, size_t max)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while (n < max && (len = getline(&line, &cap, f)) > 0) {
        if (len <= 1)
            continue;
        out[n++] = ph_event_json(line);
    }
    free(line);
    fclose(f);
    return n;
}

/* ------------------------------------------------------------ alerts */

typedef struct ph_alert {
    char rule_id[128], title[256], description[512], tactic[64], technique[32];
    vgl_severity severity;
    int64_t time_ms;
    char entities[512]; /* "type=value;..." */
    char tags[256];     /* "a,b" */
    char evidence[128]; /* "topic/partition@offset" */
    char fields[512];   /* "key=value;..." of the evidence fields (strings) */
} ph_alert;

#define PH_MAX_ALERTS 64
static ph_alert ph_alerts[PH_MAX_ALERTS];
static size_t ph_nalerts;

static void ph_on_alert(void *opaque, const vgl_alert *a)
{
    (void)opaque;
    ck_assert_uint_lt(ph_nalerts, PH_MAX_ALERTS);
    ph_alert *s = &ph_alerts[ph_nalerts++];
    memset(s, 0, sizeof(*s));
    snprintf(s->rule_id, sizeof(s->rule_id), "%s", a->rule_id);
    snprintf(s->title, sizeof(s->title), "%s", a->title);
    snprintf(s->description, sizeof(s->description), "%s", a->description ? a->description : "");
    snprintf(s->tactic, sizeof(s->tactic), "%s", a->tactic ? a->tactic : "");
    snprintf(s->technique, sizeof(s->technique), "%s", a->technique ? a->technique : "");
    s->severity = a->severity;
    s->time_ms = a->time_ms;
    for (size_t i = 0; i < a->nentities; i++) {
        size_t l = strlen(s->entities);
        snprintf(s->entities + l, sizeof(s->entities) - l, "%s=%s;", a->entities[i].type,
                 a->entities[i].value);
    }
    for (size_t i = 0; i < a->ntags; i++) {
        size_t l = strlen(s->tags);
        snprintf(s->tags + l, sizeof(s->tags) - l, "%s%s", i ? "," : "", a->tags[i]);
    }
    for (size_t i = 0; i < a->nevidence; i++) {
        const vgl_evidence *e = &a->evidence[i];
        size_t l = strlen(s->evidence);
        snprintf(s->evidence + l, sizeof(s->evidence) - l, "%s/%d@%lld", e->topic,
                 (int)e->partition, (long long)e->offset);
        for (uint32_t m = 0; e->fields && m < e->fields->n; m++) {
            const vgl_member *mb = &e->fields->u.members[m];
            l = strlen(s->fields);
            snprintf(s->fields + l, sizeof(s->fields) - l, "%s=%s;", mb->key,
                     mb->v.type == VGL_T_STRING ? mb->v.u.s : "?");
        }
    }
}

/* ------------------------------------------------------------ config */

static vgl_config *ph_cfg;
static vgl_plugins *ph_plugins;
static vgl_diag ph_diag;
static char ph_diag_text[8192];

/* Load a YAML config (printf format) and its plugins. The plugin path is
 * PLUGIN_DIR. Returns the first plugin instance, or NULL with the problems
 * in ph_diag_text ("line\nline\n"). */
static vgl_plugin_instance *ph_load(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static vgl_plugin_instance *ph_load(const char *fmt, ...)
{
    char body[16384], yaml[20000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(yaml, sizeof(yaml), "plugin_path: [\"%s\"]\n%s", PLUGIN_DIR, body);
    ph_diag_text[0] = '\0';
    ph_cfg = vgl_config_load_string(yaml, strlen(yaml), "/tmp/vigil.yaml", &ph_diag);
    if (ph_cfg)
        ph_plugins = vgl_plugins_load(ph_cfg, &ph_diag);
    for (size_t i = 0; i < ph_diag.n; i++) {
        size_t l = strlen(ph_diag_text);
        snprintf(ph_diag_text + l, sizeof(ph_diag_text) - l, "%s\n", ph_diag.msgs[i]);
    }
    vgl_diag_free(&ph_diag);
    return ph_plugins ? vgl_plugins_at(ph_plugins, 0) : NULL;
}

/* Load and expect success. */
#define PH_LOAD_OK(...)                                                        \
    ({                                                                         \
        vgl_plugin_instance *pi_ = ph_load(__VA_ARGS__);                       \
        ck_assert_msg(pi_ != NULL, "load failed:\n%s", ph_diag_text);          \
        pi_;                                                                   \
    })

/* ------------------------------------------------------------- batch */

/* Run one batch of events through instance pi as worker w. */
static vgl_rc ph_run(vgl_plugin_instance *pi, unsigned w, vgl_event *const *evs, size_t n)
{
    vgl_batch b;
    vgl_batch_init(&b, ph_event_alloc, NULL, ph_on_alert, NULL);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(vgl_batch_add(&b, evs[i]), VGL_OK);
    vgl_rc rc = vgl_plugin_process(pi, w, &b);
    vgl_batch_free(&b);
    return rc;
}

static vgl_rc ph_run1(vgl_plugin_instance *pi, vgl_event *ev)
{
    return ph_run(pi, 0, &ev, 1);
}

/* The value of a metric the plugin declared (name + label, label may be NULL). */
typedef struct ph_metric_q {
    const char *name, *label;
    double value;
    bool found;
} ph_metric_q;

static void ph_metric_cb(void *opaque, const char *name, const char *label, const char *help,
                         vgl_metric_type type, double value)
{
    (void)help;
    (void)type;
    ph_metric_q *q = opaque;
    if (strcmp(name, q->name) == 0 &&
        ((!q->label && (!label || !*label)) || (q->label && label && !strcmp(label, q->label)))) {
        q->value = value;
        q->found = true;
    }
}

static double ph_metric(vgl_plugin_instance *pi, const char *name, const char *label)
{
    ph_metric_q q = {.name = name, .label = label};
    vgl_plugin_metrics_each(pi, ph_metric_cb, &q);
    ck_assert_msg(q.found, "metric %s{%s} not declared", name, label ? label : "");
    return q.value;
}

/* ------------------------------------------------------ setup/teardown */

static void ph_setup(void)
{
    ph_nlog = 0;
    ph_nalerts = 0;
    ph_nevents = 0;
    ph_cfg = NULL;
    ph_plugins = NULL;
    memset(&ph_diag, 0, sizeof(ph_diag));
    vgl_log_set_sink(ph_log_sink, NULL);
}

static void ph_teardown(void)
{
    vgl_plugins_free(ph_plugins);
    ph_plugins = NULL;
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
    for (size_t i = 0; i < ph_nevents; i++) {
        vgl_event_destroy(ph_events[i]);
        free(ph_events[i]);
    }
    free(ph_events);
    ph_events = NULL;
    ph_nevents = ph_events_cap = 0;
    vgl_log_set_sink(NULL, NULL);
    for (size_t i = 0; i < ph_nlog; i++)
        free(ph_log_lines[i]);
    ph_nlog = 0;
    vgl_path_registry_free();
}

#endif
