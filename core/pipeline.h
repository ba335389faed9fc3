/*
 * The event bus: a Kafka consumer group member that carries every input
 * record through decode -> stages -> outputs on partition-affine worker
 * threads, with at-least-once delivery (see docs/architecture.md).
 *
 * Threads: the caller's thread runs vgl_pipeline_run (consumer poll,
 * rebalances, offset commits, pause/resume); N workers consume their
 * partitions' forwarded queues in batches; one thread serves producer
 * delivery reports.
 */
#ifndef VGL_PIPELINE_H
#define VGL_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

typedef struct vgl_pipeline vgl_pipeline;
typedef struct vgl_worker vgl_worker;

/* Output topics a stage can write to. */
typedef enum vgl_output_kind {
    VGL_OUT_ALERTS = 0,
    VGL_OUT_INCIDENTS,
    VGL_OUT_ACTIONS,
    VGL_OUT_ACTION_RESULTS,
    VGL_OUT_EVENTS,
    VGL_OUT_DEAD_LETTER,
    VGL_OUT_GROUPING,   /* internal: alerts to the incident stage (incidents.topic) */
    VGL_OUT_COUNT
} vgl_output_kind;

/* Processing stages between decode and outputs, filled by the plugin,
 * rule and incident modules. Each is called on the worker thread that owns
 * the event's partition; per-worker state needs no locks. */
typedef struct vgl_stage_hooks {
    /* Per-worker setup; returns the worker's stage context. */
    void *(*worker_init)(void *opaque, int worker_id, vgl_worker *w, char *err, size_t errlen);
    /* One decoded event. Outputs go through vgl_worker_produce (tied to
     * the event's input offset for at-least-once). Return false and fill
     * reason to dead-letter the input record. */
    bool (*process)(void *wctx, vgl_event *ev, char *reason, size_t reasonlen);
    /* Between batches: time-driven work (absence rules, reload swap). */
    void (*idle)(void *wctx, int64_t now_ms);
    void (*worker_fini)(void *wctx);
    void *opaque;
} vgl_stage_hooks;

typedef struct vgl_pipeline_stats {
    uint64_t consumed;      /* input records taken by workers */
    uint64_t processed;     /* decoded and run through the stages */
    uint64_t dead_lettered; /* input records sent to the dead-letter topic */
    uint64_t produced;      /* output records acknowledged by the broker */
    uint64_t produce_retries;
    uint64_t skipped_revoked; /* fetched but left for the partition's next owner */
    uint64_t paused;        /* partition pauses for backpressure */
    uint64_t commits;
    int assigned;           /* partitions currently assigned */
    int64_t lag;            /* records behind the high watermarks, -1 unknown */
} vgl_pipeline_stats;

/* brokers: the bootstrap list (the embedded cluster's when configured so). */
vgl_pipeline *vgl_pipeline_new(const vgl_config *cfg, const char *brokers,
                               const vgl_stage_hooks *hooks, char *err, size_t errlen);
/* Run until vgl_pipeline_stop; then drain, flush, commit. Returns VGL_OK
 * on a clean stop, VGL_ERR_KAFKA after a fatal client error. */
vgl_rc vgl_pipeline_run(vgl_pipeline *p);
/* Async-signal-safe. */
void vgl_pipeline_stop(vgl_pipeline *p);
void vgl_pipeline_get_stats(vgl_pipeline *p, vgl_pipeline_stats *out);
typedef struct vgl_topic_stat {
    const char *topic;
    uint64_t consumed, decoded, dlq_decode, dlq_process;
} vgl_topic_stat;
typedef void (*vgl_topic_stat_fn)(void *opaque, const vgl_topic_stat *st);
/* Per input topic counters; any thread. */
void vgl_pipeline_each_topic(vgl_pipeline *p, vgl_topic_stat_fn fn, void *opaque);

typedef struct vgl_partition_stat {
    const char *topic;
    int32_t partition;
    int64_t lag;        /* -1 unknown; refreshed every second */
    uint64_t inflight;  /* records taken and not yet complete */
    bool paused;
} vgl_partition_stat;
typedef void (*vgl_partition_stat_fn)(void *opaque, const vgl_partition_stat *st);
/* Every assigned partition; any thread. */
void vgl_pipeline_each_partition(vgl_pipeline *p, vgl_partition_stat_fn fn, void *opaque);
int vgl_pipeline_nworkers(const vgl_pipeline *p);
/* Records waiting in worker i's queue; any thread. */
size_t vgl_pipeline_worker_queue_len(vgl_pipeline *p, int i);
/* Leave the periodic stats line to the caller (it logs a fuller one). */
void vgl_pipeline_quiet_stats(vgl_pipeline *p);

/* True once partitions are assigned and the producer has connected. */
bool vgl_pipeline_ready(vgl_pipeline *p);
void vgl_pipeline_free(vgl_pipeline *p);

/* Produce an output record derived from the event being processed. key
 * may be NULL. Copies key and value. Blocks (bounded queue) while the
 * producer queue is full. */
vgl_rc vgl_worker_produce(vgl_worker *w, vgl_output_kind kind, const void *key, size_t keylen,
                          const void *value, size_t len);
int vgl_worker_id(const vgl_worker *w);
/* Write an event derived from the record in process to outputs.events (on
 * the input's partition number), e.g. each event a source plugin expanded
 * the record into. No-op without outputs.events. */
/* Produce a record not derived from an input (connector plugins): opaque is
 * the pipeline. Blocks up to 30 s while the producer queue is full. */
vgl_rc vgl_pipeline_produce_topic(void *opaque, const char *topic, const void *key,
                                  size_t keylen, const void *value, size_t len);
vgl_rc vgl_worker_produce_event(vgl_worker *w, const vgl_event *ev);
/* The record's own event is not to be written to outputs.events (a plugin
 * dropped or replaced it). */
void vgl_worker_skip_event(vgl_worker *w);

#endif
