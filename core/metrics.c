/*
 * Metrics registry and Prometheus text rendering (see metrics.h).
 *
 * Layout: the values of counters and histograms live in chunks. A chunk
 * holds CHUNK_SLOTS 64-bit slots for each shard, shard s at offset
 * s * CHUNK_SLOTS, so the slots one thread writes are contiguous and never
 * share a cache line with another shard's. A series keeps a pointer to its
 * slot(s) in shard 0 and adds shard * CHUNK_SLOTS on update; chunks are
 * never moved, so registration can run while workers update.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

#define CHUNK_SLOTS 512 /* 4 KiB per shard and chunk */

const double vgl_metrics_latency_buckets[] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,     0.1,     0.25,   0.5,     1,      2.5,   5,      10,
};
const size_t vgl_metrics_latency_nbuckets =
    sizeof(vgl_metrics_latency_buckets) / sizeof(vgl_metrics_latency_buckets[0]);

/* ------------------------------------------------------------- catalog */

static const vgl_metric_def catalog[] = {
    /* bus */
    {"vigil_events_consumed_total", VGL_METRIC_COUNTER, "topic",
     "Input records taken from Kafka by the workers."},
    {"vigil_events_decoded_total", VGL_METRIC_COUNTER, "topic",
     "Input records decoded and run through the stages."},
    {"vigil_events_dead_lettered_total", VGL_METRIC_COUNTER, "topic,stage",
     "Input records sent to the dead-letter topic, by the stage that rejected them."},
    {"vigil_events_late_total", VGL_METRIC_COUNTER, "",
     "Events older than the watermark minus limits.allowed_lateness (left out of windowed rules)."},
    {"vigil_stage_latency_seconds", VGL_METRIC_HISTOGRAM, "stage",
     "Time one event spends in a pipeline stage."},
    {"vigil_outputs_produced_total", VGL_METRIC_COUNTER, "output",
     "Output records acknowledged by the broker, by output (alerts, incidents, actions, "
     "action_results, events, dead_letter)."},
    {"vigil_output_retries_total", VGL_METRIC_COUNTER, "output",
     "Output records produced again after a failed delivery."},
    {"vigil_consumer_lag_messages", VGL_METRIC_GAUGE, "topic,partition",
     "Consumer lag of an assigned partition: high watermark minus committed offset."},
    {"vigil_inflight_events", VGL_METRIC_GAUGE, "topic,partition",
     "Events of a partition taken but not yet committed (in-flight ring depth)."},
    {"vigil_partitions_assigned", VGL_METRIC_GAUGE, "", "Partitions assigned to this process."},
    {"vigil_worker_queue_events", VGL_METRIC_GAUGE, "worker",
     "Records fetched and waiting in a worker's queue."},
    {"vigil_partitions_paused", VGL_METRIC_GAUGE, "",
     "Partitions currently paused for backpressure."},
    {"vigil_partition_pauses_total", VGL_METRIC_COUNTER, "",
     "Times a partition was paused for backpressure."},
    {"vigil_offset_commits_total", VGL_METRIC_COUNTER, "", "Offset commits sent to Kafka."},
    {"vigil_kafka_errors_total", VGL_METRIC_COUNTER, "",
     "Errors reported by the Kafka client (consumer and producer)."},
    /* rules */
    {"vigil_rules_loaded", VGL_METRIC_GAUGE, "", "Rules in the active rule set."},
    {"vigil_rules_reloads_total", VGL_METRIC_COUNTER, "result",
     "Rule reloads (SIGHUP), by result (ok, error)."},
    {"vigil_rule_evaluations_total", VGL_METRIC_COUNTER, "rule",
     "Events that reached the rule through the prefilter index."},
    {"vigil_rule_matches_total", VGL_METRIC_COUNTER, "rule",
     "Events that passed the rule's match conditions."},
    {"vigil_rule_alerts_total", VGL_METRIC_COUNTER, "rule", "Alerts the rule emitted."},
    {"vigil_rule_suppressed_total", VGL_METRIC_COUNTER, "rule",
     "Alerts of the rule withheld by its suppress setting."},
    {"vigil_rule_errors_total", VGL_METRIC_COUNTER, "rule",
     "Failed rule calls: Lua errors, instruction budget, memory cap."},
    {"vigil_rule_time_seconds_total", VGL_METRIC_COUNTER, "rule",
     "Time spent in the rule past the prefilter."},
    {"vigil_rule_disabled", VGL_METRIC_GAUGE, "rule",
     "1 when the rule was disabled after limits.rule_max_failures errors."},
    {"vigil_rule_state_keys", VGL_METRIC_GAUGE, "rule", "State keys the rule holds."},
    {"vigil_rule_state_evictions_total", VGL_METRIC_COUNTER, "rule",
     "State keys dropped because the rule reached limits.max_keys_per_rule."},
    {"vigil_lua_memory_bytes", VGL_METRIC_GAUGE, "worker",
     "Memory held by the worker's Lua state."},
    /* plugins */
    {"vigil_plugin_calls_total", VGL_METRIC_COUNTER, "plugin,kind",
     "Calls of the plugin instance's process or respond callback."},
    {"vigil_plugin_errors_total", VGL_METRIC_COUNTER, "plugin,kind",
     "Errors of the plugin instance: failed calls and refused host calls."},
    {"vigil_plugin_time_seconds_total", VGL_METRIC_COUNTER, "plugin,kind",
     "Time spent in the plugin instance's callbacks."},
    /* alerts, incidents, actions */
    {"vigil_alerts_total", VGL_METRIC_COUNTER, "severity", "Alerts written, by severity."},
    {"vigil_incidents_opened_total", VGL_METRIC_COUNTER, "", "Incidents opened."},
    {"vigil_incidents_updated_total", VGL_METRIC_COUNTER, "",
     "Updates of open incidents (new alerts grouped in)."},
    {"vigil_actions_emitted_total", VGL_METRIC_COUNTER, "action",
     "Actions emitted by automation rules."},
    {"vigil_actions_refused_total", VGL_METRIC_COUNTER, "reason",
     "Actions refused, by reason (e.g. rate_limit, allowlist, dry_run)."},
    {"vigil_action_results_total", VGL_METRIC_COUNTER, "action,status",
     "Results of actions executed by respond plugins, by status."},
    /* process */
    {"vigil_build_info", VGL_METRIC_GAUGE, "version", "Always 1; the version of vigil."},
    {"vigil_ready", VGL_METRIC_GAUGE, "", "1 when /readyz answers 200."},
};

const vgl_metric_def *vgl_metrics_catalog(size_t *n)
{
    *n = sizeof(catalog) / sizeof(catalog[0]);
    return catalog;
}

const vgl_metric_def *vgl_metrics_catalog_find(const char *name)
{
    for (size_t i = 0; i < sizeof(catalog) / sizeof(catalog[0]); i++)
        if (strcmp(catalog[i].name, name) == 0)
            return &catalog[i];
    return NULL;
}

/* ----------------------------------------------------------- structures */

struct chunk {
    struct chunk *next;
    _Atomic uint64_t *slots; /* nshards * CHUNK_SLOTS */
    size_t used;
};

struct series {
    struct family *fam;
    char **values;           /* raw label values, fam->nlabels */
    char *labels;            /* rendered: k="v",k2="v2" (escaped), "" without labels */
    _Atomic uint64_t *base;  /* counters, histograms: slot(s) in shard 0 */
    unsigned mask;           /* shard mask */
    double unit;             /* counters: export multiplier; 1 = integer */
    const double *bounds;    /* histograms: the family's */
    size_t nbounds;
    _Atomic uint64_t gauge;  /* gauges: the bits of a double */
};

struct vgl_counter { struct series s; };
struct vgl_gauge { struct series s; };
struct vgl_histogram { struct series s; };

struct family {
    char *name;
    char *help;
    vgl_metric_type type;
    size_t nlabels;
    char *label_names[VGL_METRICS_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    struct series **series;
    size_t nseries, cap;
};

struct collector {
    vgl_metrics_collector_fn fn;
    void *opaque;
};

struct vgl_metrics {
    pthread_mutex_t lock;
    unsigned nshards, mask;
    struct chunk *chunks;    /* newest first */
    struct family **fams;
    size_t nfams, capfams;
    struct collector *colls;
    size_t ncolls, capcolls;
};

static _Thread_local unsigned tls_shard;

/* -------------------------------------------------------------- helpers */

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static bool valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!s || !*s || (s[0] == '_' && s[1] == '_'))
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Append s escaped: backslash and newline always, the double quote when
 * quote is set (label values, not HELP); invalid UTF-8 becomes U+FFFD. */
static void put_escaped(vgl_buf *b, const char *str, bool quote)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* bytes copied verbatim, flushed in one append */
    size_t i = 0;
    while (s[i]) {
        unsigned char c = s[i];
        const char *rep = NULL;
        size_t n = 1;
        if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '"' && quote)
            rep = "\\\"";
        else if ((n = utf8_seq(s + i)) == 0) {
            rep = "\xef\xbf\xbd";
            n = 1;
        }
        if (rep) {
            vgl_buf_append(b, s + i - run, run);
            run = 0;
            vgl_buf_puts(b, rep);
        } else {
            run += n;
        }
        i += n;
    }
    vgl_buf_append(b, s + i - run, run);
}

size_t vgl_metrics_format_double(double v, char *buf, size_t len)
{
    int n;
    if (isnan(v))
        n = snprintf(buf, len, "NaN");
    else if (isinf(v))
        n = snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == trunc(v) && fabs(v) < 1e15)
        n = snprintf(buf, len, "%.0f", v == 0 ? 0.0 : v);
    else {
        n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(buf, len, "%.*g", prec, v);
            if (n > 0 && (size_t)n < len && strtod(buf, NULL) == v)
                break;
        }
    }
    if (n < 0)
        n = 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}

static void put_double(vgl_buf *b, double v)
{
    char tmp[40];
    size_t n = vgl_metrics_format_double(v, tmp, sizeof(tmp));
    vgl_buf_append(b, tmp, n);
}

static void put_labels(vgl_buf *b, const char *const *labels)
{
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (i)
            vgl_buf_putc(b, ',');
        vgl_buf_puts(b, labels[i]);
        vgl_buf_puts(b, "=\"");
        put_escaped(b, labels[i + 1], true);
        vgl_buf_putc(b, '"');
    }
}

static const char *type_name(vgl_metric_type t)
{
    switch ((int)t) {
    case VGL_METRIC_COUNTER: return "counter";
    case VGL_METRIC_GAUGE: return "gauge";
    case (int)VGL_METRIC_HISTOGRAM: return "histogram";
    default: return "untyped";
    }
}

static uint64_t load(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/* ------------------------------------------------------------- registry */

vgl_metrics *vgl_metrics_new(unsigned shards)
{
    unsigned n = 1;
    while (n < shards && n < VGL_METRICS_MAX_SHARDS)
        n <<= 1;
    vgl_metrics *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    reg->nshards = n;
    reg->mask = n - 1;
    return reg;
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->nseries; i++) {
        struct series *s = f->series[i];
        for (size_t j = 0; j < f->nlabels; j++)
            free(s->values[j]);
        free(s->values);
        free(s->labels);
        free(s);
    }
    for (size_t j = 0; j < f->nlabels; j++)
        free(f->label_names[j]);
    free(f->series);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void vgl_metrics_free(vgl_metrics *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->nfams; i++)
        family_free(reg->fams[i]);
    free(reg->fams);
    free(reg->colls);
    for (struct chunk *c = reg->chunks, *next; c; c = next) {
        next = c->next;
        free(c->slots);
        free(c);
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

void vgl_metrics_thread_shard(unsigned shard) { tls_shard = shard; }

/* n contiguous slots in every shard; NULL when out of memory. */
static _Atomic uint64_t *alloc_slots(vgl_metrics *reg, size_t n)
{
    struct chunk *c = reg->chunks;
    if (!c || c->used + n > CHUNK_SLOTS) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return NULL;
        size_t bytes = (size_t)reg->nshards * CHUNK_SLOTS * sizeof(uint64_t);
        c->slots = aligned_alloc(64, bytes);
        if (!c->slots) {
            free(c);
            return NULL;
        }
        memset((void *)c->slots, 0, bytes);
        c->next = reg->chunks;
        reg->chunks = c;
    }
    _Atomic uint64_t *p = c->slots + c->used;
    c->used += n;
    return p;
}

static struct family *find_family(vgl_metrics *reg, const char *name)
{
    for (size_t i = 0; i < reg->nfams; i++)
        if (strcmp(reg->fams[i]->name, name) == 0)
            return reg->fams[i];
    return NULL;
}

static bool same_bounds(const struct family *f, const double *b, size_t n)
{
    if (f->nbounds != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (f->bounds[i] != b[i])
            return false;
    return true;
}

/* Validate the label pairs; count them into *n. */
static bool check_labels(const char *name, vgl_metric_type type, const char *const *labels,
                         size_t *n, char *err, size_t errlen)
{
    size_t k = 0;
    for (; labels && labels[k]; k += 2) {
        const char *ln = labels[k];
        if (!labels[k + 1]) {
            snprintf(err, errlen, "metric %s: label %s has no value", name, ln);
            return false;
        }
        if (k / 2 >= VGL_METRICS_MAX_LABELS) {
            snprintf(err, errlen, "metric %s: more than %d labels", name,
                     VGL_METRICS_MAX_LABELS);
            return false;
        }
        if (!valid_label_name(ln)) {
            snprintf(err, errlen,
                     "metric %s: invalid label name '%s' (use [a-zA-Z_][a-zA-Z0-9_]*, not "
                     "starting with __)",
                     name, ln);
            return false;
        }
        if (type == VGL_METRIC_HISTOGRAM && strcmp(ln, "le") == 0) {
            snprintf(err, errlen, "metric %s: label 'le' is reserved for histogram buckets",
                     name);
            return false;
        }
        for (size_t j = 0; j < k; j += 2)
            if (strcmp(labels[j], ln) == 0) {
                snprintf(err, errlen, "metric %s: label %s given twice", name, ln);
                return false;
            }
    }
    *n = k / 2;
    return true;
}

static struct series *do_register(vgl_metrics *reg, const char *name, const char *help,
                                  vgl_metric_type type, const char *const *labels, double unit,
                                  const double *bounds, size_t nbounds, char *err,
                                  size_t errlen)
{
    if (!valid_metric_name(name)) {
        snprintf(err, errlen, "invalid metric name '%s' (use [a-zA-Z_:][a-zA-Z0-9_:]*)",
                 name ? name : "(null)");
        return NULL;
    }
    if (!help) {
        const vgl_metric_def *d = vgl_metrics_catalog_find(name);
        if (!d) {
            snprintf(err, errlen, "metric %s: not in the catalog and no help text given", name);
            return NULL;
        }
        help = d->help;
    }
    size_t nl;
    if (!check_labels(name, type, labels, &nl, err, errlen))
        return NULL;
    if (type == VGL_METRIC_HISTOGRAM) {
        if (!bounds || nbounds == 0) {
            bounds = vgl_metrics_latency_buckets;
            nbounds = vgl_metrics_latency_nbuckets;
        }
        if (nbounds > VGL_METRICS_MAX_BUCKETS) {
            snprintf(err, errlen, "metric %s: more than %d buckets", name,
                     VGL_METRICS_MAX_BUCKETS);
            return NULL;
        }
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
                snprintf(err, errlen,
                         "metric %s: bucket bounds must be finite and strictly increasing",
                         name);
                return NULL;
            }
    }
    if (!(unit > 0) || !isfinite(unit)) {
        snprintf(err, errlen, "metric %s: the unit must be a positive number", name);
        return NULL;
    }

    pthread_mutex_lock(&reg->lock);
    struct series *s = NULL;
    struct family *f = find_family(reg, name);
    bool new_family = false;
    if (f) {
        if (f->type != type) {
            snprintf(err, errlen, "metric %s is already registered as a %s", name,
                     type_name(f->type));
            goto out;
        }
        if (strcmp(f->help, help) != 0) {
            snprintf(err, errlen, "metric %s is already registered with another help text",
                     name);
            goto out;
        }
        bool same = f->nlabels == nl;
        for (size_t i = 0; same && i < nl; i++)
            same = strcmp(f->label_names[i], labels[2 * i]) == 0;
        if (!same) {
            snprintf(err, errlen, "metric %s: label names differ from the family's first series",
                     name);
            goto out;
        }
        if (type == VGL_METRIC_HISTOGRAM && !same_bounds(f, bounds, nbounds)) {
            snprintf(err, errlen, "metric %s: buckets differ from the family's first series",
                     name);
            goto out;
        }
        for (size_t i = 0; i < f->nseries; i++) {
            struct series *o = f->series[i];
            bool eq = true;
            for (size_t j = 0; eq && j < nl; j++)
                eq = strcmp(o->values[j], labels[2 * j + 1]) == 0;
            if (eq) {
                if (type == VGL_METRIC_COUNTER && o->unit != unit) {
                    snprintf(err, errlen, "metric %s is already registered with another unit",
                             name);
                    goto out;
                }
                s = o;
                goto out;
            }
        }
    } else {
        if (!grow((void **)&reg->fams, &reg->capfams, reg->nfams, sizeof(*reg->fams)))
            goto nomem;
        f = calloc(1, sizeof(*f));
        if (!f)
            goto nomem;
        new_family = true;
        f->type = type;
        f->name = strdup(name);
        f->help = strdup(help);
        bool ok = f->name && f->help;
        for (size_t i = 0; ok && i < nl; i++) {
            f->label_names[i] = strdup(labels[2 * i]);
            ok = f->label_names[i] != NULL;
            f->nlabels = i + 1;
        }
        if (ok && type == VGL_METRIC_HISTOGRAM) {
            f->bounds = malloc(nbounds * sizeof(double));
            ok = f->bounds != NULL;
            if (ok) {
                memcpy(f->bounds, bounds, nbounds * sizeof(double));
                f->nbounds = nbounds;
            }
        }
        if (!ok)
            goto nomem;
    }

    if (!grow((void **)&f->series, &f->cap, f->nseries, sizeof(*f->series)))
        goto nomem;
    size_t size = type == VGL_METRIC_COUNTER   ? sizeof(struct vgl_counter)
                  : type == VGL_METRIC_GAUGE   ? sizeof(struct vgl_gauge)
                                               : sizeof(struct vgl_histogram);
    s = calloc(1, size);
    if (!s)
        goto nomem;
    s->fam = f;
    s->unit = unit;
    s->mask = reg->mask;
    s->values = calloc(nl ? nl : 1, sizeof(char *));
    vgl_buf lb;
    vgl_buf_init(&lb, 0);
    vgl_buf_puts(&lb, "");
    put_labels(&lb, labels);
    s->labels = lb.data;
    bool ok = s->values && !lb.failed;
    for (size_t j = 0; ok && j < nl; j++)
        ok = (s->values[j] = strdup(labels[2 * j + 1])) != NULL;
    if (ok && type != VGL_METRIC_GAUGE) {
        s->bounds = f->bounds;
        s->nbounds = f->nbounds;
        s->base = alloc_slots(reg, type == VGL_METRIC_COUNTER ? 1 : f->nbounds + 2);
        ok = s->base != NULL;
    }
    if (!ok) {
        for (size_t j = 0; s->values && j < nl; j++)
            free(s->values[j]);
        free(s->values);
        free(s->labels);
        free(s);
        s = NULL;
        goto nomem;
    }
    f->series[f->nseries++] = s;
    if (new_family)
        reg->fams[reg->nfams++] = f;
    goto out;

nomem:
    snprintf(err, errlen, "metric %s: out of memory", name);
    if (new_family)
        family_free(f);
out:
    pthread_mutex_unlock(&reg->lock);
    return s;
}

vgl_counter *vgl_metrics_counter(vgl_metrics *reg, const char *name, const char *help,
                                 const char *const *labels, char *err, size_t errlen)
{
    return (vgl_counter *)do_register(reg, name, help, VGL_METRIC_COUNTER, labels, 1.0, NULL, 0,
                                      err, errlen);
}

vgl_counter *vgl_metrics_counter_scaled(vgl_metrics *reg, const char *name, const char *help,
                                        const char *const *labels, double unit, char *err,
                                        size_t errlen)
{
    return (vgl_counter *)do_register(reg, name, help, VGL_METRIC_COUNTER, labels, unit, NULL,
                                      0, err, errlen);
}

vgl_gauge *vgl_metrics_gauge(vgl_metrics *reg, const char *name, const char *help,
                             const char *const *labels, char *err, size_t errlen)
{
    return (vgl_gauge *)do_register(reg, name, help, VGL_METRIC_GAUGE, labels, 1.0, NULL, 0, err,
                                    errlen);
}

vgl_histogram *vgl_metrics_histogram(vgl_metrics *reg, const char *name, const char *help,
                                     const char *const *labels, const double *bounds,
                                     size_t nbounds, char *err, size_t errlen)
{
    return (vgl_histogram *)do_register(reg, name, help, VGL_METRIC_HISTOGRAM, labels, 1.0,
                                        bounds, nbounds, err, errlen);
}

/* ------------------------------------------------------------ hot path */

/* The calling thread's slot for offset off of series s. A shard >= 1 that
 * exists in the registry is owned by this thread alone (see
 * vgl_metrics_thread_shard): plain loads and stores suffice. Shard 0, and a
 * shard number beyond the registry's, are shared: atomic read-modify-write. */
static inline _Atomic uint64_t *my_slot(const struct series *s, size_t off, bool *owned)
{
    unsigned sh = tls_shard;
    if (sh > s->mask)
        sh = 0;
    *owned = sh != 0;
    return s->base + (size_t)sh * CHUNK_SLOTS + off;
}

static inline void slot_add(_Atomic uint64_t *p, uint64_t n, bool owned)
{
    if (owned)
        atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(p, n, memory_order_relaxed);
}

void vgl_counter_add(vgl_counter *c, uint64_t n)
{
    bool owned;
    _Atomic uint64_t *p = my_slot(&c->s, 0, &owned);
    slot_add(p, n, owned);
}

void vgl_counter_inc(vgl_counter *c) { vgl_counter_add(c, 1); }

static uint64_t shard_sum(const struct series *s, size_t slot)
{
    uint64_t sum = 0;
    for (size_t i = 0; i <= s->mask; i++)
        sum += load(&s->base[i * CHUNK_SLOTS + slot]);
    return sum;
}

uint64_t vgl_counter_value(const vgl_counter *c) { return shard_sum(&c->s, 0); }

void vgl_gauge_set(vgl_gauge *g, double v)
{
    atomic_store_explicit(&g->s.gauge, double_to_bits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *p, double delta)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old,
                                                  double_to_bits(bits_to_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void vgl_gauge_add(vgl_gauge *g, double delta) { add_double(&g->s.gauge, delta); }

double vgl_gauge_value(const vgl_gauge *g)
{
    return bits_to_double(atomic_load_explicit(&((vgl_gauge *)g)->s.gauge,
                                               memory_order_relaxed));
}

void vgl_histogram_observe(vgl_histogram *h, double v)
{
    if (isnan(v))
        return;
    const struct series *s = &h->s;
    size_t i = 0;
    while (i < s->nbounds && v > s->bounds[i])
        i++;
    bool owned;
    _Atomic uint64_t *shard = my_slot(s, 0, &owned);
    slot_add(&shard[i], 1, owned);
    _Atomic uint64_t *sum = &shard[s->nbounds + 1];
    if (owned) {
        double cur = bits_to_double(atomic_load_explicit(sum, memory_order_relaxed));
        atomic_store_explicit(sum, double_to_bits(cur + v), memory_order_relaxed);
    } else
        add_double(sum, v);
}

void vgl_histogram_observe_ns(vgl_histogram *h, int64_t ns)
{
    vgl_histogram_observe(h, (double)ns * 1e-9);
}

uint64_t vgl_histogram_count(const vgl_histogram *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b <= h->s.nbounds; b++)
        n += shard_sum(&h->s, b);
    return n;
}

double vgl_histogram_sum(const vgl_histogram *h)
{
    double sum = 0;
    for (size_t i = 0; i <= h->s.mask; i++)
        sum += bits_to_double(load(&h->s.base[i * CHUNK_SLOTS + h->s.nbounds + 1]));
    return sum;
}

static double series_value(const struct series *s)
{
    switch (s->fam->type) {
    case VGL_METRIC_COUNTER: return (double)shard_sum(s, 0) * s->unit;
    case VGL_METRIC_GAUGE: return bits_to_double(load((_Atomic uint64_t *)&s->gauge));
    default: return (double)vgl_histogram_count((const vgl_histogram *)s);
    }
}

vgl_rc vgl_metrics_sum(vgl_metrics *reg, const char *name, double *out)
{
    pthread_mutex_lock(&reg->lock);
    struct family *f = find_family(reg, name);
    double sum = 0;
    for (size_t i = 0; f && i < f->nseries; i++)
        sum += series_value(f->series[i]);
    pthread_mutex_unlock(&reg->lock);
    *out = sum;
    return f ? VGL_OK : VGL_ERR_NOTFOUND;
}

/* ---------------------------------------------------------- collectors */

vgl_rc vgl_metrics_add_collector(vgl_metrics *reg, vgl_metrics_collector_fn fn, void *opaque)
{
    if (!fn)
        return VGL_ERR_INVALID;
    vgl_rc rc = VGL_OK;
    pthread_mutex_lock(&reg->lock);
    if (grow((void **)&reg->colls, &reg->capcolls, reg->ncolls, sizeof(*reg->colls)))
        reg->colls[reg->ncolls++] = (struct collector){fn, opaque};
    else
        rc = VGL_ERR_NOMEM;
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

vgl_rc vgl_metrics_remove_collector(vgl_metrics *reg, vgl_metrics_collector_fn fn, void *opaque)
{
    vgl_rc rc = VGL_ERR_NOTFOUND;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->ncolls; i++) {
        if (reg->colls[i].fn == fn && reg->colls[i].opaque == opaque) {
            memmove(&reg->colls[i], &reg->colls[i + 1],
                    (reg->ncolls - i - 1) * sizeof(*reg->colls));
            reg->ncolls--;
            rc = VGL_OK;
            break;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* One family of the exposition being built: its samples are gathered in
 * body, so collectors may write families in any order. */
struct wfam {
    const char *name; /* the registered family's, or owned (name_owned) */
    char *name_owned;
    const char *help;
    char *help_owned;
    vgl_metric_type type;
    vgl_buf body;
};

struct vgl_metrics_writer {
    struct wfam *fams;
    size_t n, cap;
    size_t last;   /* index of the family written last (lookup cache) */
    size_t limit;  /* of each body */
};

static struct wfam *writer_family(vgl_metrics_writer *w, const char *name)
{
    if (w->last < w->n && strcmp(w->fams[w->last].name, name) == 0)
        return &w->fams[w->last];
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->fams[i].name, name) == 0) {
            w->last = i;
            return &w->fams[i];
        }
    return NULL;
}

static struct wfam *writer_add(vgl_metrics_writer *w, const char *name, const char *help,
                               vgl_metric_type type, bool copy)
{
    if (!grow((void **)&w->fams, &w->cap, w->n, sizeof(*w->fams)))
        return NULL;
    struct wfam *f = &w->fams[w->n];
    memset(f, 0, sizeof(*f));
    if (copy) {
        f->name_owned = strdup(name);
        f->help_owned = strdup(help);
        if (!f->name_owned || !f->help_owned) {
            free(f->name_owned);
            free(f->help_owned);
            return NULL;
        }
        name = f->name_owned;
        help = f->help_owned;
    }
    f->name = name;
    f->help = help;
    f->type = type;
    vgl_buf_init(&f->body, w->limit);
    w->last = w->n++;
    return f;
}

static void writer_free(vgl_metrics_writer *w)
{
    for (size_t i = 0; i < w->n; i++) {
        vgl_buf_free(&w->fams[i].body);
        free(w->fams[i].name_owned);
        free(w->fams[i].help_owned);
    }
    free(w->fams);
}

vgl_rc vgl_metrics_write(vgl_metrics_writer *w, const char *name, const char *help,
                         vgl_metric_type type, const char *const *labels, double value)
{
    char err[160];
    size_t nl;
    if (!valid_metric_name(name) || !check_labels(name, type, labels, &nl, err, sizeof(err)))
        return VGL_ERR_INVALID;
    if (type == VGL_METRIC_HISTOGRAM)
        return VGL_ERR_TYPE;
    struct wfam *f = writer_family(w, name);
    if (f && f->type != type)
        return VGL_ERR_TYPE;
    if (!f) {
        if (!help) {
            const vgl_metric_def *d = vgl_metrics_catalog_find(name);
            help = d ? d->help : "";
        }
        f = writer_add(w, name, help, type, true);
        if (!f)
            return VGL_ERR_NOMEM;
    }
    size_t mark = f->body.len;
    vgl_buf_puts(&f->body, name);
    if (nl) {
        vgl_buf_putc(&f->body, '{');
        put_labels(&f->body, labels);
        vgl_buf_putc(&f->body, '}');
    }
    vgl_buf_putc(&f->body, ' ');
    put_double(&f->body, value);
    vgl_buf_putc(&f->body, '\n');
    if (f->body.failed) {
        /* leave the family's earlier samples intact */
        f->body.len = mark;
        f->body.failed = false;
        if (f->body.data)
            f->body.data[mark] = '\0';
        return f->body.limit ? VGL_ERR_TOOBIG : VGL_ERR_NOMEM;
    }
    return VGL_OK;
}

/* ------------------------------------------------------------ rendering */

static void put_sample_head(vgl_buf *b, const char *name, const char *suffix, const char *labels,
                            const char *le)
{
    vgl_buf_puts(b, name);
    vgl_buf_puts(b, suffix);
    if (*labels || le) {
        vgl_buf_putc(b, '{');
        vgl_buf_puts(b, labels);
        if (le) {
            if (*labels)
                vgl_buf_putc(b, ',');
            vgl_buf_puts(b, "le=\"");
            vgl_buf_puts(b, le);
            vgl_buf_putc(b, '"');
        }
        vgl_buf_putc(b, '}');
    }
    vgl_buf_putc(b, ' ');
}

static void render_series(vgl_buf *b, const struct family *f, const struct series *s)
{
    switch (f->type) {
    case VGL_METRIC_COUNTER: {
        uint64_t v = shard_sum(s, 0);
        put_sample_head(b, f->name, "", s->labels, NULL);
        if (s->unit == 1.0)
            vgl_buf_printf(b, "%" PRIu64 "\n", v);
        else {
            put_double(b, (double)v * s->unit);
            vgl_buf_putc(b, '\n');
        }
        break;
    }
    case VGL_METRIC_GAUGE:
        put_sample_head(b, f->name, "", s->labels, NULL);
        put_double(b, bits_to_double(load((_Atomic uint64_t *)&s->gauge)));
        vgl_buf_putc(b, '\n');
        break;
    default: {
        /* Read every bucket once; count is the sum of what was read, so
         * the cumulative buckets, +Inf and _count always agree. */
        uint64_t cum = 0;
        char le[40];
        for (size_t i = 0; i <= s->nbounds; i++) {
            cum += shard_sum(s, i);
            if (i < s->nbounds)
                vgl_metrics_format_double(s->bounds[i], le, sizeof(le));
            else
                snprintf(le, sizeof(le), "+Inf");
            put_sample_head(b, f->name, "_bucket", s->labels, le);
            vgl_buf_printf(b, "%" PRIu64 "\n", cum);
        }
        put_sample_head(b, f->name, "_sum", s->labels, NULL);
        put_double(b, vgl_histogram_sum((const vgl_histogram *)s));
        vgl_buf_putc(b, '\n');
        put_sample_head(b, f->name, "_count", s->labels, NULL);
        vgl_buf_printf(b, "%" PRIu64 "\n", cum);
        break;
    }
    }
}

vgl_rc vgl_metrics_render(vgl_metrics *reg, vgl_buf *out)
{
    vgl_metrics_writer w = {.limit = out->limit};
    vgl_rc rc = VGL_OK;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->nfams && rc == VGL_OK; i++) {
        const struct family *f = reg->fams[i];
        struct wfam *wf = writer_add(&w, f->name, f->help, f->type, false);
        if (!wf) {
            rc = VGL_ERR_NOMEM;
            break;
        }
        for (size_t j = 0; j < f->nseries; j++)
            render_series(&wf->body, f, f->series[j]);
    }
    for (size_t i = 0; i < reg->ncolls && rc == VGL_OK; i++)
        reg->colls[i].fn(&w, reg->colls[i].opaque);
    pthread_mutex_unlock(&reg->lock);

    for (size_t i = 0; i < w.n && rc == VGL_OK; i++) {
        struct wfam *f = &w.fams[i];
        if (f->body.failed) {
            rc = VGL_ERR_NOMEM;
            break;
        }
        if (f->body.len == 0)
            continue;
        vgl_buf_puts(out, "# HELP ");
        vgl_buf_puts(out, f->name);
        vgl_buf_putc(out, ' ');
        put_escaped(out, f->help, false);
        vgl_buf_puts(out, "\n# TYPE ");
        vgl_buf_puts(out, f->name);
        vgl_buf_putc(out, ' ');
        vgl_buf_puts(out, type_name(f->type));
        vgl_buf_putc(out, '\n');
        vgl_buf_append(out, f->body.data, f->body.len);
    }
    writer_free(&w);
    if (rc == VGL_OK && out->failed)
        rc = out->limit ? VGL_ERR_TOOBIG : VGL_ERR_NOMEM;
    return rc;
}

/* ------------------------------------------------------ process metrics */

static void process_collector(vgl_metrics_writer *w, void *opaque)
{
    (void)opaque;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "re");
    if (fp) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        /* fields after "(comm)": comm may hold spaces and parentheses */
        const char *p = strrchr(buf, ')');
        unsigned long utime, stime, vsize;
        unsigned long long start;
        long threads, rss;
        if (p && ticks > 0 &&
            sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld "
                   "%*d %llu %lu %ld",
                   &utime, &stime, &threads, &start, &vsize, &rss) == 6) {
            vgl_metrics_write(w, "process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds.",
                              VGL_METRIC_COUNTER, NULL, (double)(utime + stime) / (double)ticks);
            vgl_metrics_write(w, "process_resident_memory_bytes",
                              "Resident memory size in bytes.", VGL_METRIC_GAUGE, NULL,
                              (double)rss * (double)page);
            vgl_metrics_write(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              VGL_METRIC_GAUGE, NULL, (double)vsize);
            vgl_metrics_write(w, "process_threads", "Number of OS threads in the process.",
                              VGL_METRIC_GAUGE, NULL, (double)threads);
            long long btime = -1;
            FILE *st = fopen("/proc/stat", "re");
            if (st) {
                char line[256];
                while (fgets(line, sizeof(line), st))
                    if (sscanf(line, "btime %lld", &btime) == 1)
                        break;
                fclose(st);
            }
            if (btime >= 0)
                vgl_metrics_write(w, "process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.",
                                  VGL_METRIC_GAUGE, NULL,
                                  (double)btime + (double)start / (double)ticks);
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long nfd = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                nfd++;
        closedir(d);
        vgl_metrics_write(w, "process_open_fds", "Number of open file descriptors.",
                          VGL_METRIC_GAUGE, NULL, (double)(nfd - 1)); /* minus the dir's own */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        vgl_metrics_write(w, "process_max_fds", "Maximum number of open file descriptors.",
                          VGL_METRIC_GAUGE, NULL,
                          rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

vgl_rc vgl_metrics_add_process_collector(vgl_metrics *reg)
{
    return vgl_metrics_add_collector(reg, process_collector, NULL);
}

/* --------------------------------------------------------- stats summary */

static double events_rate(const vgl_stats_sample *prev, const vgl_stats_sample *cur)
{
    if (!prev || cur->mono_ns <= prev->mono_ns || cur->events < prev->events)
        return 0.0;
    return (double)(cur->events - prev->events) * 1e9 / (double)(cur->mono_ns - prev->mono_ns);
}

static void lag_text(const vgl_stats_sample *cur, char *buf, size_t len)
{
    if (cur->lag < 0)
        snprintf(buf, len, "unknown");
    else
        snprintf(buf, len, "%lld", (long long)cur->lag);
}

size_t vgl_metrics_summary(const vgl_stats_sample *prev, const vgl_stats_sample *cur, char *buf,
                           size_t len)
{
    if (len == 0)
        return 0;
    char lag[24];
    lag_text(cur, lag, sizeof(lag));
    int n = snprintf(buf, len,
                     "events=%" PRIu64 " events_per_s=%.1f lag=%s alerts=%" PRIu64
                     " incidents=%" PRIu64 " errors=%" PRIu64 " dead_letters=%" PRIu64,
                     cur->events, events_rate(prev, cur), lag, cur->alerts, cur->incidents,
                     cur->errors, cur->dead_letters);
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}

void vgl_metrics_log_summary(const vgl_stats_sample *prev, const vgl_stats_sample *cur)
{
    char lag[24];
    lag_text(cur, lag, sizeof(lag));
    vgl_info("stats", "events=%llu events_per_s=%.1f lag=%s alerts=%llu incidents=%llu "
             "errors=%llu dead_letters=%llu",
             (unsigned long long)cur->events, events_rate(prev, cur), lag,
             (unsigned long long)cur->alerts, (unsigned long long)cur->incidents,
             (unsigned long long)cur->errors, (unsigned long long)cur->dead_letters);
}
