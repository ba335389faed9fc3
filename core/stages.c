/*
 * Stage composition shared by `vigil run` and `vigil test` (see stages.h):
 *
 *   decoded record -> source plugin of its input (normalize, may expand)
 *     -> enrichment plugins -> detection plugins (in config order)
 *     -> Lua rules (per-worker engine) -> alerts -> incidents/automation
 *
 * One worker context per worker thread: its plugin batch, its event pool
 * for expansions, its rule engine and its incident state. Nothing here is
 * shared between workers except the immutable stages object and the
 * current ruleset, which a reload replaces (generation counter, swapped by
 * each worker between batches).
 */
#include "stages.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "engine.h"
#include "incidents.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"

/* Events one input record may expand into (NSG flow records hold many
 * tuples); past it the plugin's emit fails and it fails the record. */
#define STAGE_MAX_EXPANSION 100000

struct vgl_stages {
    const vgl_config *cfg;
    vgl_plugins *plugins;
    vgl_incidents *incidents;
    /* per input index: its source instance or NULL */
    vgl_plugin_instance **sources;
    /* enrichers then detectors, in config order */
    vgl_plugin_instance **chain;
    size_t nchain;
    /* rules: the current set and its generation */
    pthread_mutex_t rules_lock;
    vgl_ruleset *rules;
    _Atomic uint64_t rules_gen;
    /* reload */
    volatile sig_atomic_t *reload_flag;
    pthread_t reloader;
    bool reloader_running;
    atomic_bool reloader_stop;
    time_t rules_mtime;
    _Atomic uint64_t reloads, reload_failures;
    /* live worker contexts, for the metrics collectors */
    pthread_mutex_t workers_lock;
    struct stage_worker *workers[256];
    /* stage latency histograms (sampled), set before the workers run */
    vgl_histogram *lat[4];
};

enum { LAT_SOURCE, LAT_PLUGINS, LAT_RULES, LAT_TOTAL };
#define LAT_SAMPLE_MASK 15 /* time one event in 16 */

void vgl_stages_set_metrics(vgl_stages *s, vgl_metrics *reg)
{
    static const char *const names[] = {"source", "plugins", "rules", "total"};
    char err[256];
    for (int i = 0; i < 4; i++) {
        const char *labels[] = {"stage", names[i], NULL};
        s->lat[i] = vgl_metrics_histogram(reg, "vigil_stage_latency_seconds", NULL, labels, NULL,
                                          0, err, sizeof(err));
    }
}

static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct stage_worker {
    vgl_stages *s;
    int id;
    vgl_sink sink;
    vgl_worker *pw;          /* pipeline worker when run by the pipeline */
    vgl_batch batch;
    vgl_event **pool;        /* events for plugin expansions, recycled per record */
    size_t npool, used;
    vgl_rules *rules;
    uint64_t rules_gen;
    vgl_incident_worker *inc;       /* stage 1 (or everything, per-worker grouping) */
    vgl_incident_worker *inc_group; /* stage 2 of global grouping */
    vgl_buf fwd;                    /* internal alert record being built */
    vgl_buf fwd_key;                /* and its key */
    const char *last_topic;
    vgl_plugin_instance *last_source;
    pthread_mutex_t stats_lock; /* held by a rule swap and by stats readers */
    /* incident counters as of the last idle call, for other threads */
    _Atomic uint64_t inc_snap[sizeof(vgl_incident_stats) / sizeof(uint64_t)];
    uint64_t nprocessed;
    bool shard_set;
} stage_worker;

/* ------------------------------------------------------------- rules */

static void scan_dir(const char *path, int depth, time_t *m);

/* Newest mtime of a rule file or of a directory tree (a directory's own
 * mtime changes when editors save by rename; files are scanned too). */
static time_t newest_mtime_of(const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    time_t m = st.st_mtime;
    if (S_ISDIR(st.st_mode) && depth < 8)
        scan_dir(path, depth, &m);
    return m;
}

static void scan_dir(const char *path, int depth, time_t *m)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
            continue;
        time_t t = newest_mtime_of(sub, depth + 1);
        if (t > *m)
            *m = t;
    }
    closedir(d);
}

static time_t rules_mtime(const vgl_config *cfg)
{
    time_t m = 0;
    for (size_t i = 0; i < cfg->nrule_paths; i++) {
        time_t t = newest_mtime_of(cfg->rule_paths[i], 0);
        if (t > m)
            m = t;
    }
    return m;
}

static vgl_ruleset *load_rules(const vgl_config *cfg, vgl_diag *diag)
{
    return vgl_ruleset_load((const char *const *)cfg->rule_paths, cfg->nrule_paths,
                            &cfg->limits, diag);
}

/* Load the rules again; on success publish them for the workers. */
static void reload_rules(vgl_stages *s, const char *why)
{
    vgl_diag diag = {0};
    vgl_ruleset *rs = load_rules(s->cfg, &diag);
    if (!rs) {
        atomic_fetch_add(&s->reload_failures, 1);
        vgl_error("rule reload failed: the running rules stay in place", "trigger=%s problems=%zu",
                  why, diag.n);
        for (size_t i = 0; i < diag.n; i++)
            vgl_error("rule problem", "detail=%s", diag.msgs[i]);
        vgl_diag_free(&diag);
        return;
    }
    vgl_diag_free(&diag);
    pthread_mutex_lock(&s->rules_lock);
    vgl_ruleset *old = s->rules;
    s->rules = rs;
    atomic_fetch_add(&s->rules_gen, 1);
    pthread_mutex_unlock(&s->rules_lock);
    vgl_ruleset_free(old);
    atomic_fetch_add(&s->reloads, 1);
    vgl_info("rules reloaded", "trigger=%s rules=%zu", why, vgl_ruleset_count(rs));
}

static void *reloader_main(void *arg)
{
    vgl_stages *s = arg;
    unsigned tick = 0;
    while (!atomic_load(&s->reloader_stop)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (s->reload_flag && *s->reload_flag) {
            *s->reload_flag = 0;
            reload_rules(s, "SIGHUP");
            s->rules_mtime = rules_mtime(s->cfg);
            continue;
        }
        if (++tick % 5 == 0) { /* rule files: checked every second */
            time_t m = rules_mtime(s->cfg);
            if (m != s->rules_mtime) {
                s->rules_mtime = m;
                reload_rules(s, "file-change");
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ stages */

vgl_stages *vgl_stages_new(const vgl_config *cfg, char *err, size_t errlen)
{
    vgl_stages *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    pthread_mutex_init(&s->rules_lock, NULL);
    pthread_mutex_init(&s->workers_lock, NULL);
    vgl_diag diag = {0};
    s->plugins = vgl_plugins_load(cfg, &diag);
    if (s->plugins) {
        s->sources = calloc(cfg->ninputs ? cfg->ninputs : 1, sizeof(*s->sources));
        size_t np = vgl_plugins_count(s->plugins);
        s->chain = calloc(np ? np : 1, sizeof(*s->chain));
        for (size_t i = 0; i < cfg->ninputs; i++)
            if (cfg->inputs[i].source)
                s->sources[i] = vgl_plugins_find(s->plugins, cfg->inputs[i].source,
                                                 VGL_PLUGIN_SOURCE);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < np; i++) {
                vgl_plugin_instance *pi = vgl_plugins_at(s->plugins, i);
                vgl_plugin_kind k = pi->desc->kind;
                if ((pass == 0 && k == VGL_PLUGIN_ENRICH) || (pass == 1 && k == VGL_PLUGIN_DETECT))
                    s->chain[s->nchain++] = pi;
            }
    }
    if (cfg->nrule_paths) {
        s->rules = load_rules(cfg, &diag);
        s->rules_mtime = rules_mtime(cfg);
    }
    s->incidents = vgl_incidents_new(cfg, &diag);
    if (diag.n) {
        size_t off = 0;
        err[0] = 0;
        for (size_t i = 0; i < diag.n && off + 1 < errlen; i++) {
            int w = snprintf(err + off, errlen - off, "%s%s", i ? "\n" : "", diag.msgs[i]);
            if (w < 0)
                break;
            off += (size_t)w;
        }
        vgl_diag_free(&diag);
        vgl_stages_free(s);
        return NULL;
    }
    vgl_diag_free(&diag);
    return s;
}

size_t vgl_stages_rule_count(const vgl_stages *s) { return s->rules ? vgl_ruleset_count(s->rules) : 0; }

size_t vgl_stages_plugin_count(const vgl_stages *s)
{
    return s->plugins ? vgl_plugins_count(s->plugins) : 0;
}

vgl_plugins *vgl_stages_plugins(const vgl_stages *s) { return s->plugins; }

vgl_rc vgl_stages_start(vgl_stages *s, unsigned nworkers, vgl_produce_fn produce, void *opaque,
                        char *err, size_t errlen)
{
    vgl_diag diag = {0};
    vgl_rc rc = VGL_OK;
    if (s->plugins) {
        rc = vgl_plugins_prepare_workers(s->plugins, nworkers ? nworkers : 1, &diag);
        /* connectors run only where there is a producer (not offline) */
        if (rc == VGL_OK && produce) {
            vgl_plugins_set_producer(s->plugins, produce, opaque);
            rc = vgl_plugins_start(s->plugins, &diag);
        }
    }
    if (rc != VGL_OK) {
        size_t off = 0;
        err[0] = 0;
        for (size_t i = 0; i < diag.n && off + 1 < errlen; i++) {
            int w = snprintf(err + off, errlen - off, "%s%s", i ? "\n" : "", diag.msgs[i]);
            if (w < 0)
                break;
            off += (size_t)w;
        }
    }
    vgl_diag_free(&diag);
    return rc;
}

void vgl_stages_stop(vgl_stages *s)
{
    if (s && s->plugins)
        vgl_plugins_stop(s->plugins);
}

void vgl_stages_free(vgl_stages *s)
{
    if (!s)
        return;
    if (s->reloader_running) {
        atomic_store(&s->reloader_stop, true);
        pthread_join(s->reloader, NULL);
    }
    vgl_incidents_free(s->incidents);
    vgl_ruleset_free(s->rules);
    vgl_plugins_free(s->plugins);
    free(s->sources);
    free(s->chain);
    pthread_mutex_destroy(&s->rules_lock);
    pthread_mutex_destroy(&s->workers_lock);
    free(s);
}

void vgl_stages_set_reload_flag(vgl_stages *s, volatile sig_atomic_t *flag)
{
    s->reload_flag = flag;
    if (!s->reloader_running && s->cfg->nrule_paths &&
        pthread_create(&s->reloader, NULL, reloader_main, s) == 0)
        s->reloader_running = true;
}

/* ------------------------------------------------------------ worker */

static vgl_event *pool_alloc(void *opaque)
{
    stage_worker *w = opaque;
    if (w->used == w->npool) {
        if (w->npool >= STAGE_MAX_EXPANSION)
            return NULL;
        size_t ncap = w->npool ? w->npool * 2 : 64;
        if (ncap > STAGE_MAX_EXPANSION)
            ncap = STAGE_MAX_EXPANSION;
        vgl_event **np = realloc(w->pool, ncap * sizeof(*np));
        if (!np)
            return NULL;
        w->pool = np;
        for (size_t i = w->npool; i < ncap; i++) {
            np[i] = malloc(sizeof(vgl_event));
            if (!np[i]) {
                w->npool = i;
                return NULL;
            }
            vgl_event_init(np[i], w->s->cfg->limits.event_memory);
        }
        w->npool = ncap;
    }
    vgl_event *ev = w->pool[w->used++];
    vgl_event_reset(ev);
    return ev;
}

static void emit_to_sink(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                         const void *value, size_t len)
{
    stage_worker *w = opaque;
    if (w->sink.emit)
        w->sink.emit(w->sink.opaque, kind, key, keylen, value, len);
}

static void on_alert(void *opaque, const vgl_alert *a)
{
    stage_worker *w = opaque;
    vgl_incident_alert(w->inc, a);
}

static void on_suppressed(void *opaque, const vgl_alert *a)
{
    stage_worker *w = opaque;
    vgl_incident_suppressed(w->inc, a);
}

/* ----------------------------------------------- global incident grouping */

static bool global_grouping(const vgl_config *cfg)
{
    return !cfg->incidents.per_worker && cfg->incidents.topic && *cfg->incidents.topic;
}

/* The entity an alert is routed by when the grouping topic has several
 * partitions: accounts first, then hosts, then IPs, else the first one. */
static void grouping_key(const vgl_config *cfg, const vgl_alert *a, vgl_buf *key)
{
    vgl_buf_reset(key);
    if (cfg->incidents.group_by == VGL_GROUP_RULE || a->nentities == 0) {
        vgl_buf_append(key, a->rule_id, strlen(a->rule_id));
        return;
    }
    static const char *const prio[] = {"account", "host", "ip"};
    const vgl_entity *pick = &a->entities[0];
    for (size_t p = 0; p < 3; p++) {
        size_t i;
        for (i = 0; i < a->nentities; i++)
            if (strcmp(a->entities[i].type, prio[p]) == 0)
                break;
        if (i < a->nentities) {
            pick = &a->entities[i];
            break;
        }
    }
    vgl_buf_append(key, pick->type, strlen(pick->type));
    vgl_buf_append(key, ":", 1);
    for (const char *c = pick->value; *c; c++) {
        char l = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c;
        vgl_buf_append(key, &l, 1);
    }
}

/* Stage 1 -> the grouping topic: the alert JSON plus what stage 2 needs
 * that the public record does not carry. */
static void forward_alert(void *opaque, const vgl_alert *a, bool suppressed)
{
    stage_worker *w = opaque;
    if (!w->pw)
        return;
    vgl_buf *b = &w->fwd;
    vgl_buf_reset(b);
    /* the incident stage needs no evidence (it is on outputs.alerts):
     * leaving it out keeps the internal records small (~0.5 KB) */
    vgl_alert lean = *a;
    lean.evidence = NULL;
    lean.nevidence = 0;
    if (!vgl_alert_to_json(&lean, b) || b->len < 2 || b->data[b->len - 1] != '}')
        return;
    b->len--; /* reopen the object */
    vgl_buf_printf(b, ",\"suppressed\":%s,\"suppress_ms\":%lld,\"responses\":[",
                    suppressed ? "true" : "false", (long long)a->suppress_ms);
    for (size_t i = 0; i < a->nresponses; i++) {
        vgl_buf_append(b, i ? ",{\"action\":" : "{\"action\":", i ? 11 : 10);
        vgl_buf_json_str(b, a->responses[i].action ? a->responses[i].action : "",
                         a->responses[i].action ? strlen(a->responses[i].action) : 0);
        vgl_buf_append(b, ",\"target\":", 10);
        vgl_buf_json_str(b, a->responses[i].target ? a->responses[i].target : "",
                         a->responses[i].target ? strlen(a->responses[i].target) : 0);
        vgl_buf_append(b, "}", 1);
    }
    vgl_buf_append(b, "]}", 2);
    grouping_key(w->s->cfg, a, &w->fwd_key);
    vgl_worker_produce(w->pw, VGL_OUT_GROUPING, w->fwd_key.data, w->fwd_key.len, b->data, b->len);
}

/* Member names of the internal alert record, hashed once (not per record). */
typedef struct grp_key {
    const char *s;
    uint32_t len, hash;
} grp_key;

enum { GK_ALERT_ID, GK_RULE_ID, GK_TITLE, GK_SEVERITY, GK_DESCRIPTION, GK_TACTIC, GK_TECHNIQUE,
       GK_ENTITIES, GK_TYPE, GK_VALUE, GK_TAGS, GK_RESPONSES, GK_ACTION, GK_TARGET,
       GK_SUPPRESS_MS, GK_SUPPRESSED, GK_COUNT };

static grp_key grp_keys[GK_COUNT] = {
    {"alert_id", 0, 0}, {"rule_id", 0, 0},   {"title", 0, 0},     {"severity", 0, 0},
    {"description", 0, 0}, {"tactic", 0, 0}, {"technique", 0, 0}, {"entities", 0, 0},
    {"type", 0, 0},     {"value", 0, 0},     {"tags", 0, 0},      {"responses", 0, 0},
    {"action", 0, 0},   {"target", 0, 0},    {"suppress_ms", 0, 0}, {"suppressed", 0, 0},
};
static pthread_once_t grp_keys_once = PTHREAD_ONCE_INIT;

static void grp_keys_init(void)
{
    for (int i = 0; i < GK_COUNT; i++) {
        grp_keys[i].len = (uint32_t)strlen(grp_keys[i].s);
        grp_keys[i].hash = vgl_hash(grp_keys[i].s, grp_keys[i].len);
    }
}

static const vgl_value *member(const vgl_value *obj, int k)
{
    return obj ? vgl_object_get(obj, grp_keys[k].s, grp_keys[k].len, grp_keys[k].hash) : NULL;
}

static void maybe_swap_rules(stage_worker *w);

static const char *str_at(const vgl_value *obj, int k)
{
    const vgl_value *v = member(obj, k);
    return v && v->type == VGL_T_STRING ? v->u.s : NULL;
}

#define GRP_MAX_ENTITIES 64
#define GRP_MAX_TAGS 32
#define GRP_MAX_RESPONSES 16

/* Stage 2: one internal alert record -> the incident stage. */
static bool group_record(stage_worker *w, const vgl_event *ev, char *reason, size_t reasonlen)
{
    const vgl_value *r = &ev->root;
    vgl_alert a;
    memset(&a, 0, sizeof(a));
    const char *id = str_at(r, GK_ALERT_ID), *sev = str_at(r, GK_SEVERITY);
    a.rule_id = str_at(r, GK_RULE_ID);
    a.title = str_at(r, GK_TITLE);
    if (!id || strlen(id) != VGL_ALERT_ID_LEN || !a.rule_id || !a.title || !sev ||
        !vgl_severity_parse(sev, &a.severity)) {
        snprintf(reason, reasonlen,
                 "incident stage: not an alert record (alert_id, rule_id, title, severity)");
        return false;
    }
    memcpy(a.alert_id, id, VGL_ALERT_ID_LEN + 1);
    a.description = str_at(r, GK_DESCRIPTION);
    a.tactic = str_at(r, GK_TACTIC);
    a.technique = str_at(r, GK_TECHNIQUE);
    a.time_ms = ev->ts_ms;
    vgl_entity ents[GRP_MAX_ENTITIES];
    const char *tags[GRP_MAX_TAGS];
    vgl_response_req resp[GRP_MAX_RESPONSES];
    const vgl_value *v = member(r, GK_ENTITIES);
    for (uint32_t i = 0; v && v->type == VGL_T_ARRAY && i < v->n && a.nentities < GRP_MAX_ENTITIES;
         i++) {
        const char *t = str_at(&v->u.items[i], GK_TYPE), *val = str_at(&v->u.items[i], GK_VALUE);
        if (t && val)
            ents[a.nentities++] = (vgl_entity){t, val};
    }
    a.entities = ents;
    v = member(r, GK_TAGS);
    for (uint32_t i = 0; v && v->type == VGL_T_ARRAY && i < v->n && a.ntags < GRP_MAX_TAGS; i++)
        if (v->u.items[i].type == VGL_T_STRING)
            tags[a.ntags++] = v->u.items[i].u.s;
    a.tags = tags;
    v = member(r, GK_RESPONSES);
    for (uint32_t i = 0;
         v && v->type == VGL_T_ARRAY && i < v->n && a.nresponses < GRP_MAX_RESPONSES; i++) {
        const char *act = str_at(&v->u.items[i], GK_ACTION), *tg = str_at(&v->u.items[i], GK_TARGET);
        if (act && tg)
            resp[a.nresponses++] = (vgl_response_req){act, tg};
    }
    a.responses = resp;
    const vgl_value *sm = member(r, GK_SUPPRESS_MS);
    if (sm && sm->type == VGL_T_INT)
        a.suppress_ms = sm->u.i;
    const vgl_value *sup = member(r, GK_SUPPRESSED);
    if (sup && sup->type == VGL_T_BOOL && sup->u.b)
        vgl_incident_suppressed(w->inc_group, &a);
    else
        vgl_incident_alert(w->inc_group, &a);
    return true;
}

void *vgl_stages_worker_new(vgl_stages *s, int worker_id, const vgl_sink *sink, char *err,
                            size_t errlen)
{
    stage_worker *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->s = s;
    w->id = worker_id;
    pthread_once(&grp_keys_once, grp_keys_init);
    pthread_mutex_init(&w->stats_lock, NULL);
    if (sink)
        w->sink = *sink;
    vgl_batch_init(&w->batch, pool_alloc, w, on_alert, w);
    w->batch.max_events = STAGE_MAX_EXPANSION;
    w->inc = vgl_incident_worker_new(s->incidents, worker_id, emit_to_sink, w);
    vgl_buf_init(&w->fwd, 0);
    vgl_buf_init(&w->fwd_key, 4096);
    if (w->inc && global_grouping(s->cfg) && sink && sink->emit) {
        w->inc_group = vgl_incident_worker_new(s->incidents, worker_id, emit_to_sink, w);
        if (w->inc_group) {
            vgl_incident_worker_set_stage(w->inc, VGL_INC_STAGE_ALERTS, forward_alert, w);
            vgl_incident_worker_set_stage(w->inc_group, VGL_INC_STAGE_GROUP, NULL, NULL);
        }
    }
    if (!w->inc || (global_grouping(s->cfg) && sink && sink->emit && !w->inc_group)) {
        snprintf(err, errlen, "worker %d: cannot create the incident state", worker_id);
        vgl_stages_worker_free(w);
        return NULL;
    }
    pthread_mutex_lock(&s->rules_lock);
    vgl_ruleset *rs = s->rules;
    w->rules_gen = atomic_load(&s->rules_gen);
    if (rs)
        w->rules = vgl_rules_new(rs, worker_id, on_alert, on_suppressed, w, err, errlen);
    pthread_mutex_unlock(&s->rules_lock);
    if (rs && !w->rules) {
        vgl_stages_worker_free(w);
        return NULL;
    }
    if (worker_id >= 0 && worker_id < 256) {
        pthread_mutex_lock(&s->workers_lock);
        s->workers[worker_id] = w;
        pthread_mutex_unlock(&s->workers_lock);
    }
    return w;
}

static vgl_plugin_instance *source_for(stage_worker *w, const vgl_event *ev)
{
    const vgl_stages *s = w->s;
    if (ev->meta.topic == w->last_topic && w->last_topic)
        return w->last_source;
    vgl_plugin_instance *src = NULL;
    for (size_t i = 0; i < s->cfg->ninputs; i++)
        if (ev->meta.topic && s->cfg->inputs[i].topic &&
            strcmp(ev->meta.topic, s->cfg->inputs[i].topic) == 0) {
            src = s->sources ? s->sources[i] : NULL;
            break;
        }
    /* offline replays name their "topic" after the file: use the first input */
    if (!src && s->cfg->ninputs && s->sources && ev->meta.partition == 0 &&
        !w->pw)
        src = s->sources[0];
    w->last_topic = ev->meta.topic;
    w->last_source = src;
    return src;
}

bool vgl_stages_process(void *wctx, vgl_event *ev, char *reason, size_t reasonlen)
{
    stage_worker *w = wctx;
    vgl_stages *s = w->s;
    vgl_batch *b = &w->batch;
    bool ok = true;
    w->used = 0;
    if (atomic_load_explicit(&s->rules_gen, memory_order_relaxed) != w->rules_gen)
        maybe_swap_rules(w);
    if (w->inc_group && ev->meta.topic == s->cfg->incidents.topic) {
        if (w->pw)
            vgl_worker_skip_event(w->pw);
        return group_record(w, ev, reason, reasonlen);
    }
    bool timed = s->lat[0] && (w->nprocessed++ & LAT_SAMPLE_MASK) == 0;
    int64_t t0 = 0, t1 = 0, t2 = 0;
    if (timed) {
        if (!w->shard_set) {
            vgl_metrics_thread_shard((unsigned)w->id + 1);
            w->shard_set = true;
        }
        t0 = mono_ns();
    }
    if (s->plugins) {
        vgl_batch_add(b, ev);
        vgl_plugin_instance *src = source_for(w, ev);
        if (src)
            vgl_plugin_process(src, (unsigned)w->id, b);
        if (timed)
            t1 = mono_ns();
        for (size_t k = 0; k < s->nchain; k++)
            vgl_plugin_process(s->chain[k], (unsigned)w->id, b);
        if (timed)
            t2 = mono_ns();
        /* a failed item dead-letters the whole input record */
        for (size_t i = 0; i < b->n; i++)
            if (b->items[i].state == VGL_BATCH_FAILED) {
                snprintf(reason, reasonlen, "%s",
                         b->items[i].reason ? b->items[i].reason : "plugin failed the event");
                ok = false;
                break;
            }
        if (ok)
            for (size_t i = 0; i < b->n; i++) {
                if (b->items[i].state != VGL_BATCH_LIVE)
                    continue;
                vgl_event *e = b->items[i].ev;
                if (w->rules)
                    vgl_rules_process(w->rules, e);
                if (w->pw && e != ev)
                    vgl_worker_produce_event(w->pw, e);
            }
        if (ok && w->pw && b->n && b->items[0].ev == ev && b->items[0].state != VGL_BATCH_LIVE)
            vgl_worker_skip_event(w->pw);
        vgl_batch_clear(b);
    } else {
        if (timed)
            t1 = t2 = mono_ns();
        if (w->rules)
            vgl_rules_process(w->rules, ev);
    }
    if (timed) {
        int64_t t3 = mono_ns();
        vgl_histogram_observe_ns(s->lat[LAT_SOURCE], t1 - t0);
        vgl_histogram_observe_ns(s->lat[LAT_PLUGINS], t2 - t1);
        vgl_histogram_observe_ns(s->lat[LAT_RULES], t3 - t2);
        vgl_histogram_observe_ns(s->lat[LAT_TOTAL], t3 - t0);
    }
    return ok;
}

/* A reloaded rule set is taken between two events: before the next event
 * (so nothing consumed after the reload is judged by the old rules) and in
 * the idle hook. */
static void maybe_swap_rules(stage_worker *w)
{
    vgl_stages *s = w->s;
    if (atomic_load_explicit(&s->rules_gen, memory_order_acquire) != w->rules_gen) {
        pthread_mutex_lock(&s->rules_lock);
        vgl_ruleset *rs = s->rules;
        uint64_t gen = atomic_load(&s->rules_gen);
        char err[512];
        pthread_mutex_lock(&w->stats_lock);
        if (rs && w->rules) {
            if (vgl_rules_swap(w->rules, rs, err, sizeof(err)) != VGL_OK)
                vgl_error("rule swap failed on a worker: it keeps the previous rules",
                          "worker=%d error=%s", w->id, err);
        } else if (rs) {
            w->rules = vgl_rules_new(rs, w->id, on_alert, on_suppressed, w, err, sizeof(err));
            if (!w->rules)
                vgl_error("rule engine failed on a worker", "worker=%d error=%s", w->id, err);
        }
        w->rules_gen = gen;
        pthread_mutex_unlock(&w->stats_lock);
        pthread_mutex_unlock(&s->rules_lock);
    }
}

void vgl_stages_idle(void *wctx, int64_t now_ms)
{
    stage_worker *w = wctx;
    maybe_swap_rules(w);
    if (w->rules) {
        if (now_ms == INT64_MAX)
            vgl_rules_advance(w->rules, INT64_MAX);
        else
            vgl_rules_tick(w->rules, now_ms);
    }
    vgl_incident_tick(w->inc, now_ms);
    if (w->inc_group)
        vgl_incident_tick(w->inc_group, now_ms);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w->inc, &st);
    if (w->inc_group) {
        vgl_incident_stats g;
        vgl_incident_worker_stats(w->inc_group, &g);
        /* stage 1 counts alerts, stage 2 incidents and actions */
        st.opened += g.opened;
        st.updated += g.updated;
        st.closed += g.closed;
        st.evicted += g.evicted;
        st.actions += g.actions;
        st.refused_protected += g.refused_protected;
        st.refused_rate_limited += g.refused_rate_limited;
        st.dry_run += g.dry_run;
    }
    uint64_t v[sizeof(st) / sizeof(uint64_t)];
    memcpy(v, &st, sizeof(v));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        atomic_store_explicit(&w->inc_snap[i], v[i], memory_order_relaxed);
}

void vgl_stages_worker_free(void *wctx)
{
    stage_worker *w = wctx;
    if (!w)
        return;
    vgl_stages *s = w->s;
    pthread_mutex_lock(&s->workers_lock);
    if (w->id >= 0 && w->id < 256 && s->workers[w->id] == w)
        s->workers[w->id] = NULL;
    pthread_mutex_unlock(&s->workers_lock);
    pthread_mutex_destroy(&w->stats_lock);
    vgl_rules_free(w->rules);
    vgl_incident_worker_free(w->inc);
    vgl_incident_worker_free(w->inc_group);
    vgl_buf_free(&w->fwd);
    vgl_buf_free(&w->fwd_key);
    vgl_batch_free(&w->batch);
    for (size_t i = 0; i < w->npool; i++) {
        vgl_event_destroy(w->pool[i]);
        free(w->pool[i]);
    }
    free(w->pool);
    free(w);
}

/* ------------------------------------------------------------- stats */

static int cmp_rule_stats(const void *a, const void *b)
{
    const vgl_rule_stats *x = a, *y = b;
    return strcmp(x->rule_id, y->rule_id);
}

void vgl_stages_each_rule(vgl_stages *s, void (*fn)(void *, const vgl_rule_stats *),
                          void *opaque)
{
    pthread_mutex_lock(&s->workers_lock);
    vgl_rule_stats *all = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 256; i++) {
        stage_worker *w = s->workers[i];
        if (!w)
            continue;
        pthread_mutex_lock(&w->stats_lock);
        size_t nr = w->rules ? vgl_rules_count(w->rules) : 0;
        if (n + nr > cap) {
            size_t ncap = (n + nr) * 2;
            vgl_rule_stats *na = realloc(all, ncap * sizeof(*na));
            if (!na) {
                pthread_mutex_unlock(&w->stats_lock);
                break;
            }
            all = na;
            cap = ncap;
        }
        for (size_t k = 0; k < nr; k++) {
            vgl_rules_rule_stats(w->rules, k, &all[n]);
            /* the id is borrowed from the worker's ruleset: copy it out
             * before the lock is released (a swap may free it) */
            all[n].rule_id = strdup(all[n].rule_id);
            if (all[n].rule_id)
                n++;
        }
        pthread_mutex_unlock(&w->stats_lock);
    }
    pthread_mutex_unlock(&s->workers_lock);
    if (n)
        qsort(all, n, sizeof(*all), cmp_rule_stats);
    for (size_t i = 0; i < n;) {
        vgl_rule_stats sum = all[i];
        size_t j = i + 1;
        for (; j < n && strcmp(all[j].rule_id, sum.rule_id) == 0; j++) {
            sum.evaluations += all[j].evaluations;
            sum.matches += all[j].matches;
            sum.alerts += all[j].alerts;
            sum.suppressed += all[j].suppressed;
            sum.errors += all[j].errors;
            sum.time_ns += all[j].time_ns;
            sum.state_keys += all[j].state_keys;
            sum.evictions += all[j].evictions;
            sum.disabled = sum.disabled || all[j].disabled;
        }
        fn(opaque, &sum);
        for (size_t k = i; k < j; k++)
            free((char *)all[k].rule_id);
        i = j;
    }
    free(all);
}

void vgl_stages_each_engine(vgl_stages *s, void (*fn)(void *, int, const vgl_engine_stats *),
                            void *opaque)
{
    pthread_mutex_lock(&s->workers_lock);
    for (int i = 0; i < 256; i++) {
        stage_worker *w = s->workers[i];
        if (!w)
            continue;
        pthread_mutex_lock(&w->stats_lock);
        if (w->rules) {
            vgl_engine_stats es;
            vgl_rules_stats(w->rules, &es);
            fn(opaque, i, &es);
        }
        pthread_mutex_unlock(&w->stats_lock);
    }
    pthread_mutex_unlock(&s->workers_lock);
}

void vgl_stages_incident_totals(vgl_stages *s, vgl_incident_stats *sum)
{
    memset(sum, 0, sizeof(*sum));
    pthread_mutex_lock(&s->workers_lock);
    for (int i = 0; i < 256; i++) {
        stage_worker *w = s->workers[i];
        if (!w || !w->inc)
            continue;
        vgl_incident_stats st;
        uint64_t v[sizeof(st) / sizeof(uint64_t)];
        for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
            v[k] = atomic_load_explicit(&w->inc_snap[k], memory_order_relaxed);
        memcpy(&st, v, sizeof(st));
        sum->alerts += st.alerts;
        sum->suppressed += st.suppressed;
        sum->rate_capped += st.rate_capped;
        sum->opened += st.opened;
        sum->updated += st.updated;
        sum->closed += st.closed;
        sum->evicted += st.evicted;
        sum->actions += st.actions;
        sum->refused_protected += st.refused_protected;
        sum->refused_rate_limited += st.refused_rate_limited;
        sum->dry_run += st.dry_run;
    }
    pthread_mutex_unlock(&s->workers_lock);
}

uint64_t vgl_stages_reloads(const vgl_stages *s, uint64_t *failures)
{
    if (failures)
        *failures = atomic_load(&((vgl_stages *)s)->reload_failures);
    return atomic_load(&((vgl_stages *)s)->reloads);
}

vgl_rules *vgl_stages_worker_rules(void *wctx) { return ((stage_worker *)wctx)->rules; }
vgl_incident_worker *vgl_stages_worker_incidents(void *wctx)
{
    return ((stage_worker *)wctx)->inc;
}

/* --------------------------------------------------- pipeline glue */

static void pipeline_emit(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                          const void *value, size_t len)
{
    vgl_worker_produce(opaque, kind, key, keylen, value, len);
}

static void *hook_worker_init(void *opaque, int worker_id, vgl_worker *pw, char *err,
                              size_t errlen)
{
    vgl_sink sink = {pipeline_emit, pw};
    stage_worker *w = vgl_stages_worker_new(opaque, worker_id, &sink, err, errlen);
    if (w)
        w->pw = pw;
    return w;
}

void vgl_stages_hooks(vgl_stages *s, vgl_stage_hooks *out)
{
    memset(out, 0, sizeof(*out));
    out->opaque = s;
    out->worker_init = hook_worker_init;
    out->process = vgl_stages_process;
    out->idle = vgl_stages_idle;
    out->worker_fini = vgl_stages_worker_free;
}
