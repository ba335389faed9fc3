/*
 * Metrics registry: counters, gauges and histograms with fixed label sets,
 * rendered in the Prometheus text exposition format 0.0.4 (served by
 * core/http.c at /metrics).
 *
 * Hot path: vgl_counter_add, vgl_gauge_set/add and vgl_histogram_observe are
 * lock-free and may be called from any thread. Counters and histograms are
 * sharded: a scrape sums the shards. Each worker selects its own shard with
 * vgl_metrics_thread_shard(worker id + 1) and then updates it with plain
 * relaxed loads and stores (no locked instruction, no shared cache line);
 * every other thread writes shard 0 with atomic read-modify-writes.
 * Registration, collectors and rendering take the registry mutex.
 *
 * Series are registered once and live as long as the registry. Metrics
 * whose label values come and go (partitions, rules of a reloadable rule
 * set, plugin instances) are exported by a collector instead: a callback
 * run at scrape time that writes samples from counters kept elsewhere.
 *
 * Every metric vigil exports is listed in the catalog (vgl_metrics_catalog,
 * documented in docs/operations.md); passing help == NULL takes the help
 * text from there.
 */
#ifndef VGL_METRICS_H
#define VGL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "vigil/types.h"

typedef struct vgl_metrics vgl_metrics;
typedef struct vgl_counter vgl_counter;
typedef struct vgl_gauge vgl_gauge;
typedef struct vgl_histogram vgl_histogram;
typedef struct vgl_metrics_writer vgl_metrics_writer;

/* vgl_metric_type (COUNTER 0, GAUGE 1) is the plugin ABI's enum; the
 * registry adds two more kinds with the next values. */
#include "vigil/plugin.h"
#define VGL_METRIC_HISTOGRAM ((vgl_metric_type)2)
#define VGL_METRIC_UNTYPED ((vgl_metric_type)3)

/* Limits: a family has at most VGL_METRICS_MAX_LABELS labels and a
 * histogram at most VGL_METRICS_MAX_BUCKETS finite buckets. */
#define VGL_METRICS_MAX_LABELS 8
#define VGL_METRICS_MAX_BUCKETS 48
#define VGL_METRICS_MAX_SHARDS 1024

/* Latency buckets in seconds, 10us .. 10s (1-2.5-5 steps). */
extern const double vgl_metrics_latency_buckets[];
extern const size_t vgl_metrics_latency_nbuckets;

/* ------------------------------------------------------------ catalog */

typedef struct vgl_metric_def {
    const char *name;    /* "vigil_events_consumed_total" */
    vgl_metric_type type;
    const char *labels;  /* label names, comma separated ("topic,stage"); "" for none */
    const char *help;
} vgl_metric_def;

/* The static catalog of every vigil metric; *n receives its length. */
const vgl_metric_def *vgl_metrics_catalog(size_t *n);
/* The catalog entry of name, or NULL. */
const vgl_metric_def *vgl_metrics_catalog_find(const char *name);

/* ----------------------------------------------------------- registry */

/* shards: the number of threads that write hot-path metrics (typically
 * workers + 1), rounded up to a power of two, 1..VGL_METRICS_MAX_SHARDS.
 * Returns NULL only when memory is short. */
vgl_metrics *vgl_metrics_new(unsigned shards);
/* Frees every series; pointers returned by the registry become invalid.
 * No thread may update or scrape concurrently. */
void vgl_metrics_free(vgl_metrics *reg);

/* Selects the shard the calling thread writes. A shard >= 1 is owned: at
 * most one thread at a time may select a given number (its updates are not
 * atomic read-modify-writes). 0, the default, is shared by any number of
 * threads; a number beyond the registry's shard count also means 0. */
void vgl_metrics_thread_shard(unsigned shard);

/*
 * Register one series. labels: NULL, or a NULL-terminated array of
 * name/value pairs {"topic", "in", "stage", "decode", NULL}; both are
 * copied. help NULL takes the catalog's text (an error if name is not in
 * the catalog). Every series of a family must have the same type, help and
 * label names (in the same order). Registering an existing series (same
 * name and label values) returns the existing one.
 *
 * Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, not
 * starting with "__", "le" reserved for histograms; label values any bytes
 * (escaped on output; invalid UTF-8 becomes U+FFFD).
 *
 * Returns NULL and fills err with the reason on a bad name, a family
 * conflict or a lack of memory. The series is owned by the registry.
 */
vgl_counter *vgl_metrics_counter(vgl_metrics *reg, const char *name, const char *help,
                                 const char *const *labels, char *err, size_t errlen);
/* A counter fed in integer units and exported multiplied by unit: e.g.
 * nanoseconds added, exported in seconds with unit 1e-9. */
vgl_counter *vgl_metrics_counter_scaled(vgl_metrics *reg, const char *name, const char *help,
                                        const char *const *labels, double unit, char *err,
                                        size_t errlen);
vgl_gauge *vgl_metrics_gauge(vgl_metrics *reg, const char *name, const char *help,
                             const char *const *labels, char *err, size_t errlen);
/* bounds: strictly increasing finite upper bounds (a +Inf bucket is
 * implicit); NULL/0 takes vgl_metrics_latency_buckets. */
vgl_histogram *vgl_metrics_histogram(vgl_metrics *reg, const char *name, const char *help,
                                     const char *const *labels, const double *bounds,
                                     size_t nbounds, char *err, size_t errlen);

/* Hot path: lock-free, any thread. */
void vgl_counter_add(vgl_counter *c, uint64_t n);
void vgl_counter_inc(vgl_counter *c);
/* The current total over all shards (in raw units, before unit scaling). */
uint64_t vgl_counter_value(const vgl_counter *c);

void vgl_gauge_set(vgl_gauge *g, double v);
void vgl_gauge_add(vgl_gauge *g, double delta);
double vgl_gauge_value(const vgl_gauge *g);

/* NaN observations are ignored. */
void vgl_histogram_observe(vgl_histogram *h, double v);
/* Observes ns * 1e-9 (a duration measured with vgl_mono_ns). */
void vgl_histogram_observe_ns(vgl_histogram *h, int64_t ns);
/* Totals over all shards. */
uint64_t vgl_histogram_count(const vgl_histogram *h);
double vgl_histogram_sum(const vgl_histogram *h);

/* Sum of the current values of every registered series of family name
 * (scaled counters in exported units). VGL_ERR_NOTFOUND if no series of
 * that name is registered. Collectors are not consulted. */
vgl_rc vgl_metrics_sum(vgl_metrics *reg, const char *name, double *out);

/* ---------------------------------------------------------- collectors */

/*
 * Called at every scrape, under the registry mutex, on the scraping thread:
 * it writes samples with vgl_metrics_write and must not call back into the
 * registry (registration would deadlock). It must be thread-safe against
 * the writers of the values it reads (relaxed atomics are enough).
 */
typedef void (*vgl_metrics_collector_fn)(vgl_metrics_writer *w, void *opaque);

vgl_rc vgl_metrics_add_collector(vgl_metrics *reg, vgl_metrics_collector_fn fn, void *opaque);
/* Removes the (fn, opaque) pair; once it returns fn is not running and will
 * not be called again, so opaque may be freed. VGL_ERR_NOTFOUND if absent. */
vgl_rc vgl_metrics_remove_collector(vgl_metrics *reg, vgl_metrics_collector_fn fn,
                                    void *opaque);

/*
 * Append one sample: type is COUNTER, GAUGE or UNTYPED; help NULL takes
 * the catalog's text (or an empty HELP). Samples of one family may be
 * written in any order and interleaved with other families, and may add
 * to a registered family of the same type; the output groups them under
 * one HELP/TYPE. labels as for registration (borrowed for the call).
 * Returns VGL_ERR_INVALID for a bad name or label, VGL_ERR_TYPE when the
 * family exists with another type (histograms cannot be written here),
 * VGL_ERR_NOMEM / VGL_ERR_TOOBIG when the scrape outgrows its memory; the
 * sample is then left out and the scrape goes on.
 */
vgl_rc vgl_metrics_write(vgl_metrics_writer *w, const char *name, const char *help,
                         vgl_metric_type type, const char *const *labels, double value);

/* Built-in collector of the standard process metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds,
 * process_threads) read from /proc/self. */
vgl_rc vgl_metrics_add_process_collector(vgl_metrics *reg);

/* ----------------------------------------------------------- rendering */

/* Append the whole exposition to out (text format 0.0.4): registered
 * families in registration order, then the families collectors wrote.
 * VGL_ERR_NOMEM / VGL_ERR_TOOBIG when out failed (its limit was hit). */
vgl_rc vgl_metrics_render(vgl_metrics *reg, vgl_buf *out);

/* Format v as Prometheus does: shortest text that reads back to v,
 * "+Inf", "-Inf", "NaN". buf of at least 32 bytes; returns the length. */
size_t vgl_metrics_format_double(double v, char *buf, size_t len);

/* ------------------------------------------------------- stats summary */

/* Cumulative figures taken every log.stats_interval. */
typedef struct vgl_stats_sample {
    int64_t mono_ns;      /* vgl_mono_ns() when taken */
    uint64_t events;      /* input records consumed */
    int64_t lag;          /* consumer lag summed over assigned partitions; < 0 unknown */
    uint64_t alerts;
    uint64_t incidents;   /* opened */
    uint64_t errors;      /* rule, plugin and Kafka errors */
    uint64_t dead_letters;
} vgl_stats_sample;

/*
 * Format the logfmt fields of the periodic statistics line into buf:
 *   events=1200 events_per_s=20.0 lag=42 alerts=3 incidents=1 errors=0 dead_letters=0
 * events_per_s is computed from prev (NULL or an equal timestamp: 0.0);
 * lag is "unknown" when cur->lag < 0. Returns the length (truncated to len - 1).
 */
size_t vgl_metrics_summary(const vgl_stats_sample *prev, const vgl_stats_sample *cur, char *buf,
                           size_t len);
/* Log the same fields at info level: msg=stats events=... */
void vgl_metrics_log_summary(const vgl_stats_sample *prev, const vgl_stats_sample *cur);

#endif
