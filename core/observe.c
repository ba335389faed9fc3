/*
 * What `vigil run` shows operators: the metrics registry fed by collectors
 * over the pipeline, rule, plugin and incident statistics (read at scrape
 * time from the atomics where they already live), the HTTP endpoint, and
 * the periodic stats line. See docs/operations.md for every metric.
 */
#include "observe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

#include "incidents.h"

struct vgl_observe {
    const vgl_config *cfg;
    vgl_pipeline *p;
    vgl_stages *s;
    vgl_metrics *reg;
    vgl_http *http;
    pthread_t thread;
    bool thread_running;
    atomic_bool stop;
    vgl_gauge *ready_gauge;
};

#define C VGL_METRIC_COUNTER
#define G VGL_METRIC_GAUGE

static void put(vgl_metrics_writer *w, const char *name, vgl_metric_type t, const char *k1,
                const char *v1, const char *k2, const char *v2, double v)
{
    const char *labels[5] = {k1, v1, k2, v2, NULL};
    if (!k1)
        labels[0] = NULL;
    else if (!k2)
        labels[2] = NULL;
    vgl_metrics_write(w, name, NULL, t, labels, v);
}

static void topic_cb(void *opaque, const vgl_topic_stat *st)
{
    vgl_metrics_writer *w = opaque;
    put(w, "vigil_events_consumed_total", C, "topic", st->topic, NULL, NULL, (double)st->consumed);
    put(w, "vigil_events_decoded_total", C, "topic", st->topic, NULL, NULL, (double)st->decoded);
    put(w, "vigil_events_dead_lettered_total", C, "topic", st->topic, "stage", "decode",
        (double)st->dlq_decode);
    put(w, "vigil_events_dead_lettered_total", C, "topic", st->topic, "stage", "process",
        (double)st->dlq_process);
}

typedef struct part_sum {
    vgl_metrics_writer *w;
    int paused;
} part_sum;

static void partition_cb(void *opaque, const vgl_partition_stat *st)
{
    part_sum *ps = opaque;
    vgl_metrics_writer *w = ps->w;
    ps->paused += st->paused;
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)st->partition);
    if (st->lag >= 0)
        put(w, "vigil_consumer_lag_messages", G, "topic", st->topic, "partition", part,
            (double)st->lag);
    put(w, "vigil_inflight_events", G, "topic", st->topic, "partition", part,
        (double)st->inflight);
}

static void rule_cb(void *opaque, const vgl_rule_stats *r)
{
    vgl_metrics_writer *w = opaque;
    put(w, "vigil_rule_evaluations_total", C, "rule", r->rule_id, NULL, NULL,
        (double)r->evaluations);
    put(w, "vigil_rule_matches_total", C, "rule", r->rule_id, NULL, NULL, (double)r->matches);
    put(w, "vigil_rule_alerts_total", C, "rule", r->rule_id, NULL, NULL, (double)r->alerts);
    put(w, "vigil_rule_suppressed_total", C, "rule", r->rule_id, NULL, NULL,
        (double)r->suppressed);
    put(w, "vigil_rule_errors_total", C, "rule", r->rule_id, NULL, NULL, (double)r->errors);
    put(w, "vigil_rule_time_seconds_total", C, "rule", r->rule_id, NULL, NULL,
        (double)r->time_ns / 1e9);
    put(w, "vigil_rule_disabled", G, "rule", r->rule_id, NULL, NULL, r->disabled ? 1 : 0);
    put(w, "vigil_rule_state_keys", G, "rule", r->rule_id, NULL, NULL, (double)r->state_keys);
    put(w, "vigil_rule_state_evictions_total", C, "rule", r->rule_id, NULL, NULL,
        (double)r->evictions);
}

typedef struct engine_sum {
    vgl_metrics_writer *w;
    uint64_t late;
} engine_sum;

static void engine_cb(void *opaque, int worker, const vgl_engine_stats *es)
{
    engine_sum *e = opaque;
    char wid[16];
    snprintf(wid, sizeof(wid), "%d", worker);
    put(e->w, "vigil_lua_memory_bytes", G, "worker", wid, NULL, NULL, (double)es->lua_memory);
    e->late += es->late;
}

static void collect(vgl_metrics_writer *w, void *opaque)
{
    vgl_observe *o = opaque;
    vgl_pipeline_stats ps;
    vgl_pipeline_get_stats(o->p, &ps);
    vgl_pipeline_each_topic(o->p, topic_cb, w);
    part_sum parts = {w, 0};
    vgl_pipeline_each_partition(o->p, partition_cb, &parts);
    put(w, "vigil_partitions_assigned", G, NULL, NULL, NULL, NULL, ps.assigned);
    put(w, "vigil_partitions_paused", G, NULL, NULL, NULL, NULL, parts.paused);
    for (int i = 0; i < vgl_pipeline_nworkers(o->p); i++) {
        char wid[16];
        snprintf(wid, sizeof(wid), "%d", i);
        put(w, "vigil_worker_queue_events", G, "worker", wid, NULL, NULL,
            (double)vgl_pipeline_worker_queue_len(o->p, i));
    }
    put(w, "vigil_partition_pauses_total", C, NULL, NULL, NULL, NULL, (double)ps.paused);
    put(w, "vigil_offset_commits_total", C, NULL, NULL, NULL, NULL, (double)ps.commits);
    put(w, "vigil_outputs_produced_total", C, "output", "all", NULL, NULL, (double)ps.produced);
    put(w, "vigil_output_retries_total", C, "output", "all", NULL, NULL,
        (double)ps.produce_retries);

    uint64_t fails = 0;
    uint64_t ok = vgl_stages_reloads(o->s, &fails);
    put(w, "vigil_rules_loaded", G, NULL, NULL, NULL, NULL, (double)vgl_stages_rule_count(o->s));
    put(w, "vigil_rules_reloads_total", C, "result", "ok", NULL, NULL, (double)ok);
    put(w, "vigil_rules_reloads_total", C, "result", "error", NULL, NULL, (double)fails);
    vgl_stages_each_rule(o->s, rule_cb, w);
    engine_sum es = {w, 0};
    vgl_stages_each_engine(o->s, engine_cb, &es);
    put(w, "vigil_events_late_total", C, NULL, NULL, NULL, NULL, (double)es.late);

    vgl_plugins *pl = vgl_stages_plugins(o->s);
    for (size_t i = 0; pl && i < vgl_plugins_count(pl); i++) {
        vgl_plugin_instance *pi = vgl_plugins_at(pl, i);
        vgl_plugin_stats st;
        vgl_plugin_stats_get(pi, &st);
        const char *kind = vgl_plugin_kind_name(pi->desc->kind);
        put(w, "vigil_plugin_calls_total", C, "plugin", pi->id, "kind", kind, (double)st.calls);
        put(w, "vigil_plugin_errors_total", C, "plugin", pi->id, "kind", kind, (double)st.errors);
        put(w, "vigil_plugin_time_seconds_total", C, "plugin", pi->id, "kind", kind,
            (double)st.time_ns / 1e9);
    }

    vgl_incident_stats is;
    vgl_stages_incident_totals(o->s, &is);
    put(w, "vigil_incidents_opened_total", C, NULL, NULL, NULL, NULL, (double)is.opened);
    put(w, "vigil_incidents_updated_total", C, NULL, NULL, NULL, NULL, (double)is.updated);
    put(w, "vigil_actions_emitted_total", C, "action", "all", NULL, NULL, (double)is.actions);
    put(w, "vigil_alerts_total", C, "severity", "all", NULL, NULL, (double)is.alerts);
    put(w, "vigil_actions_refused_total", C, "reason", "protected", NULL, NULL,
        (double)is.refused_protected);
    put(w, "vigil_actions_refused_total", C, "reason", "rate_limited", NULL, NULL,
        (double)is.refused_rate_limited);
}

static bool is_ready(void *opaque, char *reason, size_t len)
{
    vgl_observe *o = opaque;
    vgl_pipeline_stats ps;
    vgl_pipeline_get_stats(o->p, &ps);
    bool ok = true;
    if (ps.assigned <= 0) {
        snprintf(reason, len, "no partitions assigned yet (consumer group %s)",
                 o->cfg->kafka.group);
        ok = false;
    } else if (!vgl_pipeline_ready(o->p)) {
        snprintf(reason, len, "producer not connected to any broker");
        ok = false;
    } else if (o->cfg->nrule_paths && vgl_stages_rule_count(o->s) == 0) {
        snprintf(reason, len, "rules not loaded");
        ok = false;
    }
    vgl_gauge_set(o->ready_gauge, ok ? 1 : 0);
    return ok;
}

static void take_sample(vgl_observe *o, vgl_stats_sample *smp)
{
    vgl_pipeline_stats ps;
    vgl_pipeline_get_stats(o->p, &ps);
    vgl_incident_stats is;
    vgl_stages_incident_totals(o->s, &is);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    smp->mono_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    smp->events = ps.consumed;
    smp->lag = ps.lag;
    smp->alerts = is.alerts;
    smp->incidents = is.opened;
    smp->dead_letters = ps.dead_lettered;
    uint64_t errors = 0;
    vgl_plugins *pl = vgl_stages_plugins(o->s);
    for (size_t i = 0; pl && i < vgl_plugins_count(pl); i++) {
        vgl_plugin_stats st;
        vgl_plugin_stats_get(vgl_plugins_at(pl, i), &st);
        errors += st.errors;
    }
    smp->errors = errors;
}

static void *stats_main(void *arg)
{
    vgl_observe *o = arg;
    vgl_stats_sample prev, cur;
    take_sample(o, &prev);
    int64_t interval = o->cfg->log.stats_interval_ms;
    int64_t waited = 0;
    while (!atomic_load(&o->stop)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        waited += 100;
        if (interval <= 0 || waited < interval)
            continue;
        waited = 0;
        take_sample(o, &cur);
        vgl_metrics_log_summary(&prev, &cur);
        prev = cur;
    }
    return NULL;
}

vgl_observe *vgl_observe_start(const vgl_config *cfg, vgl_pipeline *p, vgl_stages *s, char *err,
                               size_t errlen)
{
    vgl_observe *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->p = p;
    o->s = s;
    o->reg = vgl_metrics_new((unsigned)(cfg->limits.workers > 0 ? cfg->limits.workers : 1) + 1);
    if (!o->reg) {
        snprintf(err, errlen, "out of memory");
        free(o);
        return NULL;
    }
    const char *bl[] = {"version", PACKAGE_VERSION, NULL};
    vgl_gauge_set(vgl_metrics_gauge(o->reg, "vigil_build_info", NULL, bl, err, errlen), 1);
    o->ready_gauge = vgl_metrics_gauge(o->reg, "vigil_ready", NULL, NULL, err, errlen);
    vgl_metrics_add_process_collector(o->reg);
    vgl_stages_set_metrics(s, o->reg);
    vgl_metrics_add_collector(o->reg, collect, o);
    if (cfg->metrics.listen && *cfg->metrics.listen) {
        o->http = vgl_http_start(cfg->metrics.listen, o->reg, is_ready, o, err, errlen);
        if (!o->http) {
            vgl_observe_stop(o);
            return NULL;
        }
        vgl_info("metrics endpoint listening", "listen=%s port=%u", cfg->metrics.listen,
                 (unsigned)vgl_http_port(o->http));
    }
    vgl_pipeline_quiet_stats(p);
    if (pthread_create(&o->thread, NULL, stats_main, o) == 0)
        o->thread_running = true;
    return o;
}

uint16_t vgl_observe_port(const vgl_observe *o) { return o && o->http ? vgl_http_port(o->http) : 0; }

void vgl_observe_stop(vgl_observe *o)
{
    if (!o)
        return;
    atomic_store(&o->stop, true);
    if (o->thread_running)
        pthread_join(o->thread, NULL);
    vgl_http_stop(o->http);
    vgl_metrics_free(o->reg);
    free(o);
}
