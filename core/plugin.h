/*
 * Plugin host: finds vigil-<kind>-<name>.so on the plugin path, loads it
 * (dlopen, descriptor, ABI check), validates its options against the
 * config, creates its instances, and implements the host function table
 * of include/vigil/plugin.h over core/event.h. Also the event batch the
 * worker hands to plugins, and the listing behind `vigil plugins`.
 *
 * Every load failure is one line "plugin NAME (PATH): reason" in a
 * vgl_diag; nothing a plugin returns can crash the host (a plugin that
 * crashes by itself can: it runs in-process).
 *
 * Threads: loading, worker preparation, start/stop and free run on the main
 * thread. vgl_plugin_process runs on workers (one batch per worker at a
 * time); vgl_plugin_respond on the action executor's thread(s).
 */
#ifndef VGL_PLUGIN_HOST_H
#define VGL_PLUGIN_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/plugin.h"
#include "alert.h"
#include "config.h"
#include "event.h"

/* ------------------------------------------------------- search path */

/* The directories searched, in order: config plugin_path, VGL_PLUGINDIR,
 * then VGL_BUILDDIR "/plugins" when vigil runs from its build tree. In each
 * directory NAME is looked for as vigil-KIND-NAME.so and as
 * KIND-NAME/.libs/vigil-KIND-NAME.so (libtool's build layout). */
typedef struct vgl_plugin_dirs {
    char **dirs;
    size_t n;
} vgl_plugin_dirs;

vgl_rc vgl_plugin_dirs_init(vgl_plugin_dirs *d, char *const *plugin_path, size_t npath);
void vgl_plugin_dirs_free(vgl_plugin_dirs *d);
/* True when /proc/self/exe lies under VGL_BUILDDIR (vigil run uninstalled,
 * or a test of the build tree). */
bool vgl_plugin_running_uninstalled(void);

/* "source", "connector", "enrich", "detect", "respond"; "?" otherwise. */
const char *vgl_plugin_kind_name(vgl_plugin_kind kind);
bool vgl_plugin_kind_parse(const char *s, size_t len, vgl_plugin_kind *out);

/* The versioning rule: same major, plugin minor <= host minor. On refusal
 * err is "built for plugin ABI 2.0, this vigil provides 1.0". */
bool vgl_plugin_abi_compatible(uint32_t plugin_major, uint32_t plugin_minor,
                               uint32_t host_major, uint32_t host_minor, char *err,
                               size_t errlen);

/* ------------------------------------------------------------- batch */

typedef enum vgl_batch_state {
    VGL_BATCH_LIVE = 0,
    VGL_BATCH_DROPPED = 1, /* removed by a plugin; commit its offset, output nothing */
    VGL_BATCH_FAILED = 2   /* dead-letter the input record with `reason` */
} vgl_batch_state;

typedef struct vgl_batch_item {
    vgl_event *ev;     /* from the worker (vgl_batch_add) or its allocator */
    uint8_t state;     /* vgl_batch_state */
    bool emitted;      /* created by a plugin expansion */
    char *reason;      /* FAILED: "ID: text", owned by the batch */
} vgl_batch_item;

/* The worker's allocator for events a plugin emits: a fresh event
 * (vgl_event_init'ed, with the worker's memory limit), owned by the worker
 * and recycled by it after the batch; NULL when none can be had. */
typedef vgl_event *(*vgl_event_alloc_fn)(void *opaque);

struct vgl_plugin_instance;

/* A worker's events in flight through the plugin stages. One thread uses a
 * batch at a time. Items keep their order; events emitted by a plugin are
 * inserted right after their origin when the plugin's call returns. */
struct vgl_batch {
    vgl_batch_item *items;
    size_t n, cap;
    size_t max_events;        /* 0 = unlimited; emit_new fails past it */
    vgl_event_alloc_fn alloc;
    void *alloc_opaque;
    vgl_alert_fn on_alert;    /* receives plugin alerts (incident stage) */
    void *alert_opaque;
    /* during a plugin call */
    struct vgl_plugin_instance *cur;
    size_t visible;           /* batch_count for the plugin */
    struct vgl_batch_pending {
        size_t origin;
        size_t seq;
        vgl_event *ev;
    } *pending;
    size_t npending, pending_cap;
};

/* alloc may be NULL (then plugins cannot expand events); on_alert may be
 * NULL (alerts are counted and discarded). */
void vgl_batch_init(vgl_batch *b, vgl_event_alloc_fn alloc, void *alloc_opaque,
                    vgl_alert_fn on_alert, void *alert_opaque);
/* Append a decoded event (borrowed; the worker keeps ownership). */
vgl_rc vgl_batch_add(vgl_batch *b, vgl_event *ev);
/* Mark an item failed from core code (decode errors): reason copied. */
void vgl_batch_fail(vgl_batch *b, size_t i, const char *reason);
/* Forget every item (the worker recycles the events, emitted ones too);
 * memory of the item array is kept. */
void vgl_batch_clear(vgl_batch *b);
void vgl_batch_free(vgl_batch *b);

/* ------------------------------------------------------- instances */

typedef struct vgl_plugin_stats {
    uint64_t calls;       /* process/respond calls */
    uint64_t errors;      /* non-OK returns, FAILED responds, refused host calls */
    uint64_t time_ns;     /* time spent in process/respond */
    uint64_t events_in;   /* events handed to process */
    uint64_t emitted;     /* events created by expansion */
    uint64_t dropped;
    uint64_t failed;      /* events sent to the dead-letter topic */
    uint64_t alerts;
    uint64_t produced;    /* connector records */
} vgl_plugin_stats;

typedef struct vgl_plugin_so vgl_plugin_so;
typedef struct vgl_plugins vgl_plugins;

/* One configured instance (an entry of `plugins:`, or a source plugin named
 * by an input). Owned by the registry. */
typedef struct vgl_plugin_instance {
    vgl_host host;               /* the table given to the plugin (one per instance) */
    vgl_plugins *reg;
    char *id;
    char *name;
    const char *path;            /* of the loaded file, owned by so */
    vgl_plugin_so *so;
    const vgl_plugin_desc *desc; /* in the loaded file */
    vgl_plugin_config *cfg;
    void **inst;                 /* [0] always; [w] per worker for per-worker plugins */
    unsigned ninst;
    bool started, stopped;
    int line;                    /* config line of the entry, 0 if implicit */
    /* counters (atomic: workers update them concurrently) */
    _Atomic uint64_t calls, errors, time_ns, events_in, emitted, dropped, failed, alerts,
        produced;
    _Atomic int64_t last_error_log_ms;
    struct vgl_plugin_metric *metrics;   /* declared by the plugin, guarded by reg lock */
    pthread_mutex_t respond_lock;        /* serializes a per-worker responder */
    atomic_bool can_produce;             /* connector between start and stop */
} vgl_plugin_instance;

/* Load every configured plugin instance (cfg->plugins, in order) and the
 * source plugins named by cfg->inputs[].source that are not configured
 * instances (these get an empty config), validating options and calling
 * init once per instance. NULL when anything failed: every problem is in
 * diag, one line each, and whatever was created is destroyed again. */
vgl_plugins *vgl_plugins_load(const vgl_config *cfg, vgl_diag *diag);
/* Create the per-worker instances of per-worker plugins (init called
 * nworkers-1 more times; instance 0 is worker 0's). Before the workers
 * start. VGL_ERR_CONFIG with the failures in diag. */
vgl_rc vgl_plugins_prepare_workers(vgl_plugins *ps, unsigned nworkers, vgl_diag *diag);
/* Stop connectors that still run, destroy every instance, unload. NULL ok. */
void vgl_plugins_free(vgl_plugins *ps);

size_t vgl_plugins_count(const vgl_plugins *ps);
/* In load order: configured instances first, then implicit sources. */
vgl_plugin_instance *vgl_plugins_at(const vgl_plugins *ps, size_t i);
/* By instance id, else by plugin name; kind 0 = any kind. */
vgl_plugin_instance *vgl_plugins_find(const vgl_plugins *ps, const char *id,
                                      vgl_plugin_kind kind);

/* Run a source/enrich/detect instance over the batch on worker `worker`
 * (0-based; any value for shared plugins). Counts calls, time and errors,
 * then merges emitted events after their origins. Returns the plugin's rc
 * (VGL_ERR_STATE when the kind does not process or the worker has no
 * instance). The batch is usable by the next stage whatever the result. */
vgl_rc vgl_plugin_process(vgl_plugin_instance *pi, unsigned worker, vgl_batch *b);

/* Run a responder. Serialized unless the plugin is shared. Never returns
 * SUCCEEDED with a non-empty err. */
vgl_respond_status vgl_plugin_respond(vgl_plugin_instance *pi, const vgl_action_view *action,
                                      char *err, size_t errlen);

/* Connectors. The produce function receives connector records (the
 * pipeline's producer); set it before vgl_plugins_start. */
typedef vgl_rc (*vgl_produce_fn)(void *opaque, const char *topic, const void *key,
                                 size_t keylen, const void *value, size_t len);
void vgl_plugins_set_producer(vgl_plugins *ps, vgl_produce_fn fn, void *opaque);
/* Start every connector; on a failure, stops those started and returns
 * VGL_ERR_CONFIG with "plugin NAME (PATH): start failed: ..." in diag. */
vgl_rc vgl_plugins_start(vgl_plugins *ps, vgl_diag *diag);
/* Raise stopping(), wake wait_stop(), call stop on each started connector
 * (reverse order). Idempotent. */
void vgl_plugins_stop(vgl_plugins *ps);

void vgl_plugin_stats_get(const vgl_plugin_instance *pi, vgl_plugin_stats *out);
/* Metrics the plugin declared, for the metrics exporter. */
typedef void (*vgl_plugin_metric_fn)(void *opaque, const char *name, const char *label,
                                     const char *help, vgl_metric_type type, double value);
void vgl_plugin_metrics_each(const vgl_plugin_instance *pi, vgl_plugin_metric_fn fn,
                             void *opaque);

/* ----------------------------------------------------------- listing */

typedef struct vgl_plugin_entry_option {
    char *name;
    vgl_option_type type;
    char *default_value; /* NULL = none */
    char *description;
    bool required;
} vgl_plugin_entry_option;

typedef struct vgl_plugin_entry {
    char *name;          /* from the file name */
    char *path;
    vgl_plugin_kind kind;/* from the file name, 0 if not recognized */
    char *version;       /* NULL when the descriptor could not be read */
    char *description;
    uint32_t abi_major, abi_minor;
    vgl_plugin_entry_option *options; size_t noptions;
    char *error;         /* why it cannot load ("no vigil_plugin descriptor ..."), NULL if ok */
    char *shadowed_by;   /* an earlier directory has a plugin of this name: its path */
} vgl_plugin_entry;

typedef struct vgl_plugin_list {
    vgl_plugin_entry *items;
    size_t n;
} vgl_plugin_list;

/* Every vigil-*-*.so in dirs (in order; within a directory by file name),
 * each opened to read its descriptor (no init). Unreadable directories
 * are skipped. */
vgl_rc vgl_plugins_list(const char *const *dirs, size_t ndirs, vgl_plugin_list *out);
void vgl_plugin_list_free(vgl_plugin_list *l);
const char *vgl_option_type_name(vgl_option_type t);

#endif
