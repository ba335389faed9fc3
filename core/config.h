/*
 * vigil configuration: one YAML file loaded into typed structs.
 *
 * Loading reports every problem found (not just the first), each as
 * "FILE:LINE:COL: message". ${ENV_VAR} in scalars is substituted (an unset
 * variable is an error; ${VAR:-default} supplies a default). Unknown keys
 * are errors with a did-you-mean suggestion when a known key is close.
 * Sections and key names are a user contract: see docs/configuration.md.
 */
#ifndef VGL_CONFIG_H
#define VGL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/types.h"

/* A generic YAML node with its position, kept for parts validated by
 * their owner (plugin configs). */
typedef enum vgl_cnode_kind { VGL_CN_SCALAR, VGL_CN_MAP, VGL_CN_SEQ } vgl_cnode_kind;

/* A 1-based position in the config file. */
typedef struct vgl_cpos {
    int line, col;
} vgl_cpos;

typedef struct vgl_cnode vgl_cnode;
struct vgl_cnode {
    vgl_cnode_kind kind;
    char *scalar;      /* SCALAR: text after ${} substitution */
    bool quoted;       /* SCALAR: was quoted in YAML (so "123" stays a string) */
    size_t n;          /* MAP: pairs; SEQ: items */
    char **keys;       /* MAP: keys[i] */
    vgl_cnode **items; /* MAP: values; SEQ: items */
    int line, col;     /* 1-based position in the file */
    vgl_cpos *key_pos; /* MAP: position of keys[i] (for "unknown key" errors) */
    bool is_null;      /* SCALAR: a YAML null (empty, ~ or null, unquoted);
                          scalar then holds that text, never NULL */
};

typedef enum vgl_format {
    VGL_FMT_JSON = 0,
    VGL_FMT_AVRO = 1,           /* plain Avro binary with a fixed schema */
    VGL_FMT_AVRO_CONFLUENT = 2  /* magic 0 + 4-byte schema id + Avro binary */
} vgl_format;

typedef struct vgl_kv {
    char *key;
    char *value;
} vgl_kv;

typedef struct vgl_kafka_cfg {
    char *brokers;           /* "embedded" (default) or a bootstrap list */
    int embedded_brokers;    /* kafka.embedded.brokers, default 1 */
    int embedded_partitions; /* kafka.embedded.partitions, default 4 */
    char *group;             /* default "vigil" */
    vgl_kv *properties;      /* passed to librdkafka unchanged */
    size_t nproperties;
} vgl_kafka_cfg;

typedef struct vgl_input_cfg {
    char *topic;
    vgl_format format;       /* default json */
    char *source;            /* source plugin name, NULL = none (raw) */
    char *schema;            /* format avro: path of the .avsc */
    char *schema_dir;        /* format avro-confluent: dir of <id>.avsc */
    char **time_fields;      /* event time fields, first found wins */
    size_t ntime_fields;     /* default: @timestamp, TimeGenerated, time,
                                TimeCreated, timestamp */
    int line;
} vgl_input_cfg;

typedef struct vgl_outputs_cfg {
    char *alerts;         /* default "vigil.alerts" */
    char *incidents;      /* default "vigil.incidents" */
    char *actions;        /* default "vigil.actions" */
    char *action_results; /* default "vigil.action-results" */
    char *dead_letter;    /* default "vigil.dead-letter" */
    char *events;         /* optional: every processed (normalized) event; NULL = off */
    vgl_format format;    /* json (default) | avro (Confluent wire format) */
    char *schema_dir;     /* default "<sysconfdir>/vigil/schemas" */
    int32_t alert_schema_id;    /* default 1 */
    int32_t incident_schema_id; /* default 2 */
    int32_t action_schema_id;   /* default 3 */
    int32_t event_schema_id;    /* default 4 */
} vgl_outputs_cfg;

typedef struct vgl_plugin_cfg {
    char *name;          /* plugin name (folder name without the kind) */
    char *id;            /* instance id, default = name */
    char *path;          /* optional explicit .so path */
    vgl_cnode *config;   /* the plugin's own config map, NULL if absent */
    int line;
} vgl_plugin_cfg;

typedef enum vgl_group_mode {
    VGL_GROUP_ANY = 0,  /* share at least one entity (default) */
    VGL_GROUP_ALL = 1,  /* share all entities */
    VGL_GROUP_RULE = 2  /* same rule only */
} vgl_group_mode;

typedef struct vgl_incidents_cfg {
    vgl_group_mode group_by;
    int64_t group_window_ms;  /* default 5h */
    uint32_t max_open;        /* open incidents kept per worker, default 100000 */
    uint32_t max_alerts_per_rule_per_min; /* alert rate cap, default 600 */
    bool per_worker;          /* grouping: worker (true) | global (false, default) */
    char *topic;              /* internal alert topic of global grouping,
                                 default "vigil.alerts.grouping" */
} vgl_incidents_cfg;

typedef struct vgl_automation_when {
    char **severity; size_t nseverity;
    char **tactic; size_t ntactic;
    char **technique; size_t ntechnique;
    char **rule_id; size_t nrule_id;
    char **tags; size_t ntags;
    char **entity_type; size_t nentity_type;
} vgl_automation_when;

typedef struct vgl_automation_do {
    char *action;       /* block_ip, disable_user, isolate_host, ... */
    char *target;       /* entity type: ip, account, host, ... */
    vgl_cnode *params;  /* free-form map passed to the responder */
    int64_t duration_ms;/* for temporary actions (expires_at), 0 = none */
} vgl_automation_do;

typedef struct vgl_automation_rule {
    char *name;
    vgl_automation_when when;
    vgl_automation_do *actions; size_t nactions;
    bool dry_run;
    int line;
} vgl_automation_rule;

typedef struct vgl_rate_limit_cfg {
    char *action;       /* action type, "*" for any */
    uint32_t count;
    int64_t window_ms;
} vgl_rate_limit_cfg;

typedef struct vgl_response_cfg {
    bool dry_run;
    char **protected_ips; size_t nprotected_ips;           /* IPs and CIDRs */
    char **protected_accounts; size_t nprotected_accounts;
    char **protected_hosts; size_t nprotected_hosts;
    vgl_rate_limit_cfg *rate_limits; size_t nrate_limits;
    char *responder;    /* responder plugin instance id for `vigil respond` */
    char *group;        /* consumer group of `vigil respond`, default "vigil-respond" */
} vgl_response_cfg;

typedef struct vgl_limits_cfg {
    int workers;                 /* default: number of online CPUs */
    size_t max_message_bytes;    /* default 1 MiB */
    uint32_t max_depth;          /* JSON/Avro nesting, default 64 */
    size_t event_memory;         /* arena cap per event, default 4 MiB */
    uint32_t queue_events;       /* in-flight events per partition, default 10000 */
    int64_t shutdown_timeout_ms; /* default 30s */
    int64_t allowed_lateness_ms; /* default 5m */
    uint32_t max_keys_per_rule;  /* default 100000 */
    uint32_t rule_max_failures;  /* default 100 */
    uint32_t max_evidence;       /* default 10 */
    size_t lua_memory;           /* per lua_State, default 64 MiB */
    uint64_t lua_instructions;   /* per rule call, default 1000000 */
} vgl_limits_cfg;

typedef struct vgl_metrics_cfg {
    char *listen;  /* "127.0.0.1:9464"; NULL = off (default) */
} vgl_metrics_cfg;

typedef struct vgl_log_cfg {
    char *level;               /* error|warn|info|debug, default info */
    int64_t stats_interval_ms; /* default 60s, 0 = off */
} vgl_log_cfg;

typedef struct vgl_config {
    char *path;                /* file it was loaded from */
    vgl_kafka_cfg kafka;
    vgl_input_cfg *inputs; size_t ninputs;
    vgl_outputs_cfg outputs;
    char **plugin_path; size_t nplugin_path;
    vgl_plugin_cfg *plugins; size_t nplugins;
    char **rule_paths; size_t nrule_paths;   /* rules.paths */
    vgl_incidents_cfg incidents;
    vgl_automation_rule *automation; size_t nautomation;
    vgl_response_cfg response;
    vgl_limits_cfg limits;
    vgl_metrics_cfg metrics;
    vgl_log_cfg log;
    vgl_cnode *root;           /* the whole document */
} vgl_config;

/* Error list collected while loading. */
typedef struct vgl_diag {
    char **msgs;  /* "FILE:LINE:COL: message" */
    size_t n;
    size_t cap;
} vgl_diag;

/* Both accept d == NULL (the message is dropped). A zeroed vgl_diag is
 * empty; vgl_diag_free leaves it empty and reusable. */
void vgl_diag_add(vgl_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vgl_diag_free(vgl_diag *d);

/* A config with every default set (no file). */
vgl_config *vgl_config_defaults(void);
/* Load and validate FILE. NULL when any problem was found; every problem
 * is in diag (appended, in file order; diag may be NULL). Relative paths
 * (rules.paths, plugin_path, plugins[].path, inputs[].schema/schema_dir,
 * outputs.schema_dir) are joined to the directory of FILE. */
vgl_config *vgl_config_load(const char *path, vgl_diag *diag);
/* Same, from a string (tests); name is used in messages and its directory
 * part for relative paths. */
vgl_config *vgl_config_load_string(const char *yaml, size_t len, const char *name,
                                   vgl_diag *diag);
/* Frees cfg and everything it points to (NULL is ignored). plugins[].config
 * and automation[].actions[].params point into root and go with it. */
void vgl_config_free(vgl_config *cfg);

/* Find a map entry: the value, borrowed from map; NULL when map is not a
 * map or has no such key. */
const vgl_cnode *vgl_cnode_get(const vgl_cnode *map, const char *key);

/* "500ms", "30s", "10m", "5h", "7d" (a bare number is seconds). */
bool vgl_parse_duration(const char *s, int64_t *ms);
/* "1048576", "512KiB", "1MiB", "2GiB", "64KB", "1MB" (KB/MB = 1000^n). */
bool vgl_parse_size(const char *s, size_t *bytes);

#endif
