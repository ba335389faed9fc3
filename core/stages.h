/*
 * The processing stages between decode and the output topics, composed
 * from the configuration: source plugin (normalize) -> enrichment plugins
 * -> detection plugins and Lua rules -> incidents -> automation. Used by
 * the Kafka pipeline (`vigil run`) and by the offline replay (`vigil test`)
 * alike, so a rule behaves the same in both.
 */
#ifndef VGL_STAGES_H
#define VGL_STAGES_H

#include <signal.h>

#include "config.h"
#include "pipeline.h"
#include "plugin.h"

typedef struct vgl_stages vgl_stages;

/* Where a worker's stage outputs go. */
typedef struct vgl_sink {
    void (*emit)(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                 const void *value, size_t len);
    void *opaque;
} vgl_sink;

/* NULL with err (every problem, one per line) when plugins or rules fail
 * to load. */
vgl_stages *vgl_stages_new(const vgl_config *cfg, char *err, size_t errlen);
void vgl_stages_free(vgl_stages *s);
size_t vgl_stages_rule_count(const vgl_stages *s);
size_t vgl_stages_plugin_count(const vgl_stages *s);
vgl_plugins *vgl_stages_plugins(const vgl_stages *s); /* NULL without plugins */
/* Before the workers start: per-worker plugin instances, the producer for
 * connectors (produce may be NULL offline), then connector threads. */
vgl_rc vgl_stages_start(vgl_stages *s, unsigned nworkers, vgl_produce_fn produce, void *opaque,
                        char *err, size_t errlen);
/* Stop connector threads (before the pipeline drains). */
void vgl_stages_stop(vgl_stages *s);
/* Hooks for vgl_pipeline_new. */
void vgl_stages_hooks(vgl_stages *s, vgl_stage_hooks *out);
/* SIGHUP flag polled between batches to reload the rules. */
void vgl_stages_set_reload_flag(vgl_stages *s, volatile sig_atomic_t *flag);

/* Offline use (vigil test): one worker context with an explicit sink. */
void *vgl_stages_worker_new(vgl_stages *s, int worker_id, const vgl_sink *sink, char *err,
                            size_t errlen);
bool vgl_stages_process(void *wctx, vgl_event *ev, char *reason, size_t reasonlen);
void vgl_stages_idle(void *wctx, int64_t now_ms);
void vgl_stages_worker_free(void *wctx);
struct vgl_rules *vgl_stages_worker_rules(void *wctx);

/* Statistics for the metrics endpoint, from any thread. */
#include "engine.h"
struct vgl_incident_stats;
/* Per rule id, summed over the workers. */
void vgl_stages_each_rule(vgl_stages *s, void (*fn)(void *, const vgl_rule_stats *),
                          void *opaque);
/* Per worker engine figures (Lua memory, late events). */
void vgl_stages_each_engine(vgl_stages *s, void (*fn)(void *, int, const vgl_engine_stats *),
                            void *opaque);
void vgl_stages_incident_totals(vgl_stages *s, struct vgl_incident_stats *sum);
uint64_t vgl_stages_reloads(const vgl_stages *s, uint64_t *failures);
/* Register the stage latency histograms (sampled 1 in 16 events); before
 * the workers run. */
struct vgl_metrics;
void vgl_stages_set_metrics(vgl_stages *s, struct vgl_metrics *reg);
struct vgl_incident_worker *vgl_stages_worker_incidents(void *wctx);

#endif
