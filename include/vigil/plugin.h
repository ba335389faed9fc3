/*
 * vigil plugin ABI: the one header a plugin includes.
 *
 * A plugin is a shared object named vigil-<kind>-<name>.so that exports one
 * constant descriptor, `const vgl_plugin_desc vigil_plugin`, and links
 * against nothing of the daemon (only libc): everything it needs from vigil
 * comes through the vgl_host function table passed to its init callback.
 * docs/plugins.md is the tutorial and the full reference.
 *
 * Build (out of tree):
 *   cc $(pkg-config --cflags vigil-plugin) -shared -Wl,-z,defs \
 *      -o vigil-enrich-hello.so hello.c
 *
 * Versioning rule (checked by the loader before anything else is read):
 *   - The loader refuses a plugin whose abi_major differs from the host's,
 *     or whose abi_minor is newer than the host's. A plugin built against
 *     an older minor of the same major keeps loading.
 *   - Within a major, structs only grow at their END, and the structs a
 *     plugin fills (descriptor, options, alerts) carry zeroed reserved slots
 *     from 1.0 on, so their size never changes and a later minor can give a
 *     reserved slot a meaning that "NULL/0" keeps backward compatible.
 *   - abi_major and abi_minor are the first two members of vgl_plugin_desc
 *     in every ABI version, so any vigil can read them.
 *   - Enum values are never renumbered; new ones are appended.
 *
 * Containment: a plugin runs inside the vigil process. Errors, NULL returns
 * and refused calls are contained (counted, logged, the event goes on or to
 * the dead-letter topic); a crash, a memory corruption or a callback that
 * never returns is not: it takes vigil down or stalls a worker. Test plugins
 * under ASan and valgrind before deploying them (docs/plugins.md).
 *
 * Ownership words used below:
 *   borrowed (call)  - valid only until the callback or host function returns
 *   borrowed (inst)  - valid until the plugin's destroy callback returns
 *   borrowed (batch) - valid until the process callback returns
 *   static           - valid for the life of the loaded plugin (descriptor data)
 */
#ifndef VIGIL_PLUGIN_H
#define VIGIL_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ versions */

/** ABI major: bumped on an incompatible change; the loader requires equality. */
#define VGL_PLUGIN_ABI_MAJOR 1
/** ABI minor: bumped when something is appended; plugin minor <= host minor. */
#define VGL_PLUGIN_ABI_MINOR 1

/** Name of the exported descriptor symbol. */
#define VGL_PLUGIN_SYMBOL "vigil_plugin"

/** Shorthand for the first two descriptor members: `VGL_PLUGIN_ABI_VERSION,`. */
#define VGL_PLUGIN_ABI_VERSION .abi_major = VGL_PLUGIN_ABI_MAJOR, .abi_minor = VGL_PLUGIN_ABI_MINOR

/**
 * Put before the descriptor definition so it stays visible when the plugin
 * is built with -fvisibility=hidden (which it should be):
 *   VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = { ... };
 */
#ifdef __cplusplus
#define VGL_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
#else
#define VGL_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------ opaque handles */

/** One event: a tree of typed fields plus its time and Kafka origin. */
typedef struct vgl_event vgl_event;
/** A field path ("source.ip") resolved once, at init. Lives until exit. */
typedef struct vgl_path vgl_path;
/** A value inside an event (for arrays and nested objects). */
typedef struct vgl_value vgl_value;
/** The events handed to one process call. */
typedef struct vgl_batch vgl_batch;
/** The validated options of one plugin instance (see config_* below). */
typedef struct vgl_plugin_config vgl_plugin_config;
/** A metric declared by the plugin (see metric below). */
typedef struct vgl_plugin_metric vgl_plugin_metric;
typedef struct vgl_host vgl_host;

/* --------------------------------------------------------------- enums */

/** What a plugin does; also the <kind> part of its file name. */
typedef enum vgl_plugin_kind {
    VGL_PLUGIN_SOURCE = 1,    /**< "source": normalize one input's records to ECS fields */
    VGL_PLUGIN_CONNECTOR = 2, /**< "connector": own thread, produces raw records to Kafka */
    VGL_PLUGIN_ENRICH = 3,    /**< "enrich": add fields to every event */
    VGL_PLUGIN_DETECT = 4,    /**< "detect": read events, emit alerts */
    VGL_PLUGIN_RESPOND = 5    /**< "respond": execute actions (block an IP, call a webhook) */
} vgl_plugin_kind;

/** How many instances the host creates and how it calls them. */
typedef enum vgl_plugin_threading {
    /** Default. source/enrich/detect: one instance per worker thread, each
     *  called only by its worker, so instance state needs no locks.
     *  respond: one instance whose respond calls the host serializes.
     *  connector: one instance (connectors always have exactly one). */
    VGL_THREADING_PER_WORKER = 0,
    /** One instance for the whole process whose process/respond callbacks
     *  may run concurrently on several threads: the plugin locks itself. */
    VGL_THREADING_SHARED = 1
} vgl_plugin_threading;

/** Type of a declared option, checked by the host before init. */
typedef enum vgl_option_type {
    VGL_OPT_STRING = 1,   /**< any scalar */
    VGL_OPT_INT = 2,      /**< 64-bit signed decimal: "42", "-1" */
    VGL_OPT_DOUBLE = 3,   /**< "0.5", "1e3" */
    VGL_OPT_BOOL = 4,     /**< true/false (any case, as in the core config) */
    VGL_OPT_DURATION = 5, /**< "500ms", "30s", "10m", "5h", "7d"; a bare number is seconds */
    VGL_OPT_SIZE = 6,     /**< "1048576", "512KiB", "1MiB", "64KB" */
    VGL_OPT_LIST = 7      /**< a YAML sequence of scalars */
} vgl_option_type;

typedef enum vgl_plugin_log_level {
    VGL_PLUGIN_LOG_ERROR = 0,
    VGL_PLUGIN_LOG_WARN = 1,
    VGL_PLUGIN_LOG_INFO = 2,
    VGL_PLUGIN_LOG_DEBUG = 3
} vgl_plugin_log_level;

/** Same values as the alert "severity" output field. */
typedef enum vgl_plugin_severity {
    VGL_PLUGIN_SEV_INFORMATIONAL = 0,
    VGL_PLUGIN_SEV_LOW = 1,
    VGL_PLUGIN_SEV_MEDIUM = 2,
    VGL_PLUGIN_SEV_HIGH = 3,
    VGL_PLUGIN_SEV_CRITICAL = 4
} vgl_plugin_severity;

typedef enum vgl_metric_type {
    VGL_METRIC_COUNTER = 0, /**< only goes up (counter_add) */
    VGL_METRIC_GAUGE = 1    /**< set to a value (gauge_set) */
} vgl_metric_type;

/** Outcome of a respond callback. */
typedef enum vgl_respond_status {
    VGL_RESPOND_SUCCEEDED = 0,
    VGL_RESPOND_FAILED = 1, /**< permanent failure; err says why */
    VGL_RESPOND_RETRY = 2   /**< transient failure (timeout, 503); the host may retry */
} vgl_respond_status;

/** What a respond call asks for. */
typedef enum vgl_action_op {
    VGL_ACTION_APPLY = 0, /**< do the action (block the IP) */
    VGL_ACTION_REVERT = 1 /**< undo it: a temporary action reached expires_ms */
} vgl_action_op;

/* ------------------------------------------------------- small structs */

/** A key and a NUL-terminated value (log fields, action parameters). */
typedef struct vgl_pair {
    const char *key;
    const char *value;
} vgl_pair;

/**
 * One option a plugin accepts, in the descriptor's options array, which
 * ends with an all-zero entry ({0}). All strings static. The host rejects
 * a config with an undeclared key, a missing required option or a value of
 * the wrong type, naming the config file:line:col, before init runs.
 */
typedef struct vgl_plugin_option {
    const char *name;          /**< key in the plugin's `config:` map */
    vgl_option_type type;
    const char *default_value; /**< written as in YAML ("30s", "true"); NULL = none */
    const char *description;   /**< one line, shown by `vigil plugins` */
    bool required;             /**< config must set it (then default_value is NULL) */
    const void *reserved[4];   /**< zero */
} vgl_plugin_option;

/** An entity of an alert. Frozen: never grows. */
typedef struct vgl_plugin_entity {
    const char *type;  /**< account, host, ip, url, filehash, process, resource, domain, mailbox */
    const char *value;
} vgl_plugin_entity;

/**
 * An alert, filled by a plugin (usually a compound literal on its stack) and
 * passed to alert_emit. Every pointer is borrowed for the duration of the
 * alert_emit call: the host copies what it keeps.
 */
typedef struct vgl_plugin_alert {
    const char *rule_id;      /**< required: stable id of the detection ("dns-tunnel") */
    const char *title;        /**< required */
    const char *description;  /**< may be NULL */
    vgl_plugin_severity severity;
    const char *tactic;       /**< MITRE tactic name, may be NULL */
    const char *technique;    /**< MITRE technique id ("T1071.004"), may be NULL */
    const vgl_plugin_entity *entities; size_t nentities; /**< at most 32 */
    const char *const *tags; size_t ntags;               /**< at most 32 */
    /** The triggering event: one of the current batch's events, or NULL.
     *  Its time and Kafka origin become the alert's time and evidence. */
    const vgl_event *event;
    /** Fields of `event` copied into the evidence (key = the dotted path). */
    const vgl_path *const *evidence_fields; size_t nevidence_fields; /**< at most 32 */
    const void *reserved[8];  /**< zero */
} vgl_plugin_alert;

/** Where an event came from. Filled by the host; strings borrowed (batch). */
typedef struct vgl_event_origin {
    const char *topic;     /**< input topic, NULL when not from Kafka */
    int32_t partition;     /**< -1 when not from Kafka */
    int64_t offset;        /**< -1 when not from Kafka */
    const void *key;       /**< record key, NULL when none */
    size_t key_len;
    int64_t received_ms;   /**< wall clock when consumed, ms since epoch */
    const void *reserved[4];
} vgl_event_origin;

/**
 * An action for a responder. Host-owned; every pointer borrowed for the
 * duration of the respond call. The host may append members (it allocates
 * the struct; a plugin never does).
 */
typedef struct vgl_action_view {
    const char *action_id;   /**< deterministic id (32 hex digits); same on a retry */
    const char *action;      /**< "block_ip", "disable_user", "isolate_host", ... */
    vgl_action_op op;
    const char *target_type; /**< entity type: "ip", "account", "host", ... */
    const char *target;      /**< entity value: "203.0.113.7" */
    const char *incident_id; /**< may be NULL */
    const char *rule_id;     /**< rule of the alert that asked for it, may be NULL */
    int64_t requested_ms;    /**< when the action was decided, ms since epoch */
    int64_t expires_ms;      /**< when a temporary action ends; 0 = permanent */
    const vgl_pair *params; size_t nparams; /**< automation `params` (nested values as JSON) */
    const char *params_json; /**< the same params as one JSON object ("{}" when none) */
} vgl_action_view;

/* ---------------------------------------------------------- descriptor */

/**
 * The descriptor a plugin exports as `vigil_plugin`. All pointers static.
 *
 * Callbacks, per kind (the loader refuses a descriptor that lacks a
 * required one or sets one its kind does not use):
 *
 *   kind       init  destroy  start  stop  process  respond
 *   source     req   opt      -      -     req      -
 *   enrich     req   opt      -      -     req      -
 *   detect     req   opt      -      -     req      -
 *   connector  req   opt      req    req   -        -
 *   respond    req   opt      -      -     -        req
 */
typedef struct vgl_plugin_desc {
    uint32_t abi_major;        /**< VGL_PLUGIN_ABI_MAJOR (use VGL_PLUGIN_ABI_VERSION) */
    uint32_t abi_minor;        /**< VGL_PLUGIN_ABI_MINOR */
    const char *name;          /**< the NAME of vigil-KIND-NAME.so: [A-Za-z0-9_-]+ */
    const char *version;       /**< the plugin's own version ("1.2.0") */
    const char *description;   /**< one line, shown by `vigil plugins` */
    vgl_plugin_kind kind;
    vgl_plugin_threading threading;
    const vgl_plugin_option *options; /**< ends with {0}; NULL = takes no options */

    /**
     * Required. Create an instance. Called on the main thread at startup,
     * never concurrently with any other callback of this plugin; for a
     * per-worker plugin once per worker, one after the other.
     * @param host  borrowed (inst): the host functions; keep it in the instance
     *              (not in a global: two configured instances get two hosts)
     * @param cfg   borrowed (inst): validated options, read with host->config_*
     * @param err   on failure, write one sentence a user can act on
     *              ("cannot open /var/lib/GeoLite2-City.mmdb: No such file");
     *              never print to stdout/stderr
     * @return the instance (owned by the plugin, freed in destroy), or NULL
     *         on failure. A stateless plugin returns any non-NULL pointer.
     */
    void *(*init)(const vgl_host *host, const vgl_plugin_config *cfg, char *err, size_t errlen);

    /**
     * Optional. Free an instance. Main thread, at shutdown, after every
     * other callback of this instance has returned (after stop for a
     * connector); never called for an instance whose init failed.
     */
    void (*destroy)(void *inst);

    /**
     * Connectors: required. Start the plugin's own thread(s) and return at
     * once. Main thread, after init, before the workers start. Those threads
     * may call host->produce, host->stopping, host->wait_stop and the log
     * and metric functions, and nothing else of the host.
     * @return VGL_OK, or an error with err filled (vigil then does not start).
     */
    vgl_rc (*start)(void *inst, char *err, size_t errlen);

    /**
     * Connectors: required. Stop: host->stopping() is already true and
     * host->wait_stop() has returned in every thread; make the threads exit
     * and join them. Main thread. After stop returns the plugin must not
     * call produce any more.
     */
    void (*stop)(void *inst);

    /**
     * source/enrich/detect: required. Process one batch: for i in
     * [0, host->batch_count(batch)), host->batch_event(batch, i) is an event
     * (NULL when dropped or failed: skip it). Called on a worker thread; for
     * a per-worker plugin only by that worker, for a shared plugin by all
     * workers at once with different batches.
     * @param batch borrowed (batch), as are its events and their values.
     * @return VGL_OK; any other value is counted and logged as a plugin
     *         error and the batch goes on as it is (to dead-letter an event,
     *         call host->batch_fail). Must not block for long: a worker
     *         waits for it and its partitions stall.
     */
    vgl_rc (*process)(void *inst, vgl_batch *batch);

    /**
     * Responders: required. Execute one action and report the outcome.
     * Called on the action executor's thread; calls are serialized unless
     * threading is VGL_THREADING_SHARED. Must be idempotent on action_id:
     * an action may be delivered twice after a crash or a retry.
     * @param action borrowed (call).
     * @param err    on FAILED/RETRY, one sentence ("HTTP 403 from firewall API").
     */
    vgl_respond_status (*respond)(void *inst, const vgl_action_view *action, char *err,
                                  size_t errlen);

    /** Reserved for later minors: leave unset (NULL). */
    void (*reserved_fn[8])(void);
    const void *reserved[8];
} vgl_plugin_desc;

/* ----------------------------------------------------- host functions */

/**
 * The host function table, passed to init. The table and everything it
 * points to are owned by the host and valid until destroy returns. Members
 * are only ever appended (check host->abi_minor before using one newer
 * than 1.0). Unless a member says otherwise it may be called from any
 * callback of any thread the host called the plugin on, and is safe for
 * concurrent use; "event functions" may only be used on events of the
 * batch being processed, during that process call. The logging, metric
 * (counter_add, gauge_set) and config functions may also be called from
 * threads the plugin starts itself (e.g. a reload thread of an enricher),
 * between init returning and destroy being called.
 */
struct vgl_host {
    uint32_t abi_major;        /**< the host's VGL_PLUGIN_ABI_MAJOR */
    uint32_t abi_minor;        /**< the host's VGL_PLUGIN_ABI_MINOR */
    const char *vigil_version; /**< "0.1.0" */
    const char *instance_id;   /**< the configured instance id (default: the plugin name) */

    /* -- logging ---------------------------------------------------- */

    /**
     * Log one line: `level=warn msg="..." plugin=ID key=value ...`. msg should
     * be a constant; event data goes in fields, whose values are quoted and
     * escaped by the host (no format string ever sees them). Keys are
     * [A-Za-z0-9_.-] (other bytes become '_'); at most 16 fields.
     * @param fields borrowed (call), may be NULL when nfields is 0.
     */
    void (*log)(const vgl_host *h, vgl_plugin_log_level level, const char *msg,
                const vgl_pair *fields, size_t nfields);
    /** True when level is enabled (skip building fields for debug logs). */
    bool (*log_enabled)(const vgl_host *h, vgl_plugin_log_level level);

    /* -- metrics ---------------------------------------------------- */

    /**
     * Declare a metric, at init: exported as vigil_plugin_NAME with labels
     * plugin="ID" and, when label is "key=value", key="value". Declaring the
     * same name and label again returns the same metric (per-worker
     * instances share it). name is [a-z_][a-z0-9_]*.
     * @return a handle owned by the host, valid until the plugin is
     *         unloaded; NULL on a bad name/label (counter_add and gauge_set
     *         accept NULL and do nothing).
     */
    vgl_plugin_metric *(*metric)(const vgl_host *h, vgl_metric_type type, const char *name,
                                 const char *label, const char *help);
    void (*counter_add)(vgl_plugin_metric *m, uint64_t delta);
    void (*gauge_set)(vgl_plugin_metric *m, double value);

    /* -- options (init; values borrowed (inst)) ---------------------- */

    /* Each returns false when the option is neither configured nor has a
     * default, or when name is not declared with that type. */
    bool (*config_str)(const vgl_plugin_config *cfg, const char *name, const char **out);
    bool (*config_int)(const vgl_plugin_config *cfg, const char *name, int64_t *out);
    bool (*config_double)(const vgl_plugin_config *cfg, const char *name, double *out);
    bool (*config_bool)(const vgl_plugin_config *cfg, const char *name, bool *out);
    bool (*config_duration)(const vgl_plugin_config *cfg, const char *name, int64_t *ms);
    bool (*config_size)(const vgl_plugin_config *cfg, const char *name, uint64_t *bytes);
    /** Items of a list option; returns the count (0 when unset or empty). */
    size_t (*config_list)(const vgl_plugin_config *cfg, const char *name,
                          const char *const **items);

    /* -- field paths ------------------------------------------------ */

    /**
     * Resolve a dotted path ("source.geo.country_iso_code") once, at init,
     * and keep the handle. NULL on an empty path or segment ("a..b") or over
     * 1024 bytes. Thread-safe but takes a lock: never per event.
     */
    const vgl_path *(*path)(const vgl_host *h, const char *dotted);
    /** The dotted text of a path (static). */
    const char *(*path_str)(const vgl_path *p);

    /* -- event fields: read ----------------------------------------- */

    /** The field exists (even with a null value). */
    bool (*has)(const vgl_event *ev, const vgl_path *p);
    /** Type of the field; VGL_T_NULL when missing (see has). */
    vgl_type (*get_type)(const vgl_event *ev, const vgl_path *p);
    /**
     * A string field. *s is NUL-terminated but may hold inner NULs (use
     * *len); borrowed until the event is next modified or the batch ends.
     * @return false when missing or not a string.
     */
    bool (*get_str)(const vgl_event *ev, const vgl_path *p, const char **s, size_t *len);
    /** An int, a double with an integral value, or a string of decimal digits. */
    bool (*get_int)(const vgl_event *ev, const vgl_path *p, int64_t *out);
    /** An int, a double, or a string holding a finite number. */
    bool (*get_double)(const vgl_event *ev, const vgl_path *p, double *out);
    /** A bool, or the string "true"/"false". */
    bool (*get_bool)(const vgl_event *ev, const vgl_path *p, bool *out);

    /* -- event fields: write ---------------------------------------- */
    /* Create intermediate objects as needed and replace an existing value.
     * Strings are copied into the event. Errors: VGL_ERR_TYPE when an
     * intermediate is not an object, VGL_ERR_NOMEM over the event's memory
     * limit. Writing invalidates value pointers into the written object. */

    vgl_rc (*set_str)(vgl_event *ev, const vgl_path *p, const char *s, size_t len);
    vgl_rc (*set_int)(vgl_event *ev, const vgl_path *p, int64_t v);
    vgl_rc (*set_double)(vgl_event *ev, const vgl_path *p, double v);
    vgl_rc (*set_bool)(vgl_event *ev, const vgl_path *p, bool v);
    /** Append to the array at p (created when missing; a scalar there
     *  becomes its first item); a string already present is not repeated. */
    vgl_rc (*append_str)(vgl_event *ev, const vgl_path *p, const char *s, size_t len);
    /** Deep-copy v (from any event of the batch, e.g. the origin of an
     *  expansion) to the field at p. */
    vgl_rc (*set_value)(vgl_event *ev, const vgl_path *p, const vgl_value *v);

    /* -- values: arrays and nested objects --------------------------- */
    /* Value pointers are borrowed until their event is next modified or the
     * batch ends. Every function accepts NULL (returning NULL/false/0). */

    /** The value at p, NULL when missing. */
    const vgl_value *(*get)(const vgl_event *ev, const vgl_path *p);
    /** The value at p relative to an object value (an array item). */
    const vgl_value *(*value_get)(const vgl_value *obj, const vgl_path *p);
    vgl_type (*value_type)(const vgl_value *v);
    /** Items of an array, members of an object, bytes of a string; else 0. */
    size_t (*value_count)(const vgl_value *v);
    /** Item i of an array. */
    const vgl_value *(*value_at)(const vgl_value *arr, size_t i);
    /** Member i of an object; its key in *key and *klen (NUL-terminated). */
    const vgl_value *(*value_member)(const vgl_value *obj, size_t i, const char **key,
                                     size_t *klen);
    /* Conversions as for get_str/get_int/get_double/get_bool. */
    bool (*value_str)(const vgl_value *v, const char **s, size_t *len);
    bool (*value_int)(const vgl_value *v, int64_t *out);
    bool (*value_double)(const vgl_value *v, double *out);
    bool (*value_bool)(const vgl_value *v, bool *out);

    /* -- event time and origin -------------------------------------- */

    /** Event time in ms since the epoch; INT64_MIN when unknown. */
    int64_t (*time_get)(const vgl_event *ev);
    void (*time_set)(vgl_event *ev, int64_t ms);
    /** Parse RFC 3339, "YYYY-MM-DD hh:mm:ss[.fff]" (UTC) or epoch s/ms digits. */
    bool (*time_parse)(const char *s, size_t len, int64_t *ms);
    /** Fill *out with the event's Kafka origin. */
    void (*origin)(const vgl_event *ev, vgl_event_origin *out);

    /* -- batch (process callback only) ------------------------------- */

    /** Number of events the call was given (fixed during the call). */
    size_t (*batch_count)(const vgl_batch *b);
    /** Event i, borrowed (batch); NULL when i is out of range or the event
     *  was dropped or failed (by this or an earlier stage). */
    vgl_event *(*batch_event)(vgl_batch *b, size_t i);
    /**
     * source/enrich: a new, empty event inheriting the Kafka origin and the
     * time of event `origin`, to fill with set_*; borrowed (batch). It joins
     * the batch right after its origin when process returns (it is not
     * counted by batch_count during this call). To replace a record by its
     * expansion, emit the new events and then batch_drop the origin.
     * @return NULL when the origin is not a live event of this batch, the
     *         batch's event limit is reached, memory runs out, or the kind is
     *         detect; a source plugin then usually batch_fails the origin.
     */
    vgl_event *(*batch_emit_new)(vgl_batch *b, size_t origin);
    /** source/enrich: remove event i from the pipeline (its offset is still
     *  committed). Later stages do not see it. */
    void (*batch_drop)(vgl_batch *b, size_t i);
    /**
     * source/enrich: send event i's input record to the dead-letter topic
     * with reason (borrowed (call), copied; prefixed with the instance id).
     * Later stages do not see the event. A failure wins over a drop.
     */
    void (*batch_fail)(vgl_batch *b, size_t i, const char *reason);
    /**
     * Emit an alert (any per-event kind). Delivered synchronously to the
     * incident stage; the host computes the alert id from rule_id, the
     * entities and the event's topic/partition/offset.
     * @return VGL_OK, VGL_ERR_INVALID (rule_id/title missing, severity out of
     *         range, an entity without type or value, an event not of this
     *         batch), VGL_ERR_TOOBIG (over 32 entities, tags or evidence
     *         fields), VGL_ERR_STATE (outside process).
     */
    vgl_rc (*alert_emit)(vgl_batch *b, const vgl_plugin_alert *alert);

    /* -- connectors (their own threads) ------------------------------ */

    /**
     * Produce one raw record to a Kafka topic (usually an input topic).
     * key may be NULL. key and value are borrowed (call): the host copies
     * them. May block while the producer queue is full.
     * @return VGL_OK, VGL_ERR_KAFKA (with the reason logged), VGL_ERR_STATE
     *         when called outside start..stop.
     */
    vgl_rc (*produce)(const vgl_host *h, const char *topic, const void *key, size_t keylen,
                      const void *value, size_t len);
    /** True once vigil is shutting down: leave your loop. */
    bool (*stopping)(const vgl_host *h);
    /** Sleep up to timeout_ms, waking early at shutdown; returns stopping(). */
    bool (*wait_stop)(const vgl_host *h, int64_t timeout_ms);

    /* -- since ABI 1.1 ------------------------------------------------ */

    /**
     * The member `key` (klen bytes, borrowed (call)) of object obj: the last
     * one of that name, as every reader of the event sees it; NULL when obj
     * is not an object or has no such member. A hashed lookup by a key
     * known only at run time (value_get takes an interned path): use it
     * instead of scanning value_member. Any thread; the result is borrowed
     * like obj.
     */
    const vgl_value *(*member_get)(const vgl_value *obj, const char *key, size_t klen);
};

#ifdef __cplusplus
}
#endif
#endif
