/*
 * Incident stage: alert records, Sentinel-like grouping of alerts into
 * incidents by shared entities within a window of event time, suppression
 * and rate-cap accounting, and automation (see incidents.h).
 *
 * Per worker: open incidents in a least-recently-updated list (eviction at
 * incidents.max_open takes the head), an index from grouping key to
 * incidents (entity keys for group_by any; one signature for all/rule),
 * and a per-rule counter for the alert rate cap. Everything is bounded.
 */
#include "incidents.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "automation.h"
#include "buf.h"
#include "id.h"
#include "log.h"

#define MAX_RULE_HASHES 256   /* distinct rules counted for "+N more" */
#define RATE_TABLE_MAX 16384  /* rules tracked by the alert rate cap */
#define MAX_ALERT_ENTITIES 64 /* entities of one alert looked at */

struct vgl_incidents {
    const vgl_config *cfg;
    vgl_outcodec *codec;
    vgl_protected *prot;
    vgl_automation *am;
};

typedef struct ent {
    char *type;
    char *value;
    uint64_t key;
} ent;

typedef struct incident incident;
struct incident {
    char id[33];
    char *title;
    vgl_severity severity;
    int64_t first_seen, last_seen;
    char *tactics[VGL_INCIDENT_MAX_TACTICS];
    size_t ntactics;
    char *techniques[VGL_INCIDENT_MAX_TECHNIQUES];
    size_t ntechniques;
    char *rules[VGL_INCIDENT_MAX_RULES];
    size_t nrules;
    uint64_t *rule_hashes;    /* distinct rules, at most MAX_RULE_HASHES */
    size_t nrule_hashes;
    ent ents[VGL_INCIDENT_MAX_ENTITIES];
    size_t nents;
    char (*alert_ids)[33];    /* VGL_INCIDENT_MAX_ALERT_IDS */
    size_t nalert_ids;
    uint64_t alert_count, suppressed_count, version;
    uint64_t sig;             /* group_by all/rule, or an entity-less alert */
    bool by_sig;
    uint64_t *issued;         /* action id hashes, VGL_INCIDENT_MAX_ACTIONS */
    size_t nissued;
    bool dirty;
    incident *prev, *next;    /* least recently updated first */
};

typedef struct idx_node idx_node;
struct idx_node {
    uint64_t key;
    incident *inc;
    idx_node *next;
};

typedef struct rule_rate {
    uint64_t h;
    char *rule;
    int64_t minute;
    uint32_t count;
} rule_rate;

struct vgl_incident_worker {
    vgl_incidents *inc;
    int id;
    vgl_emit_fn emit;
    void *opaque;
    vgl_outctx *ox;
    vgl_rate_limiter *rl;
    /* open incidents */
    incident *head, *tail;
    size_t nopen;
    incident **dirty;
    size_t ndirty, dirty_cap;
    /* index */
    idx_node **buckets;
    size_t nbuckets, nnodes;
    /* alert rate cap */
    rule_rate *rates;
    size_t nrates, rates_cap;
    int64_t watermark;        /* newest alert time seen */
    int64_t closed_upto;      /* watermark of the last close scan */
    int64_t last_rl_log_ms;
    uint64_t rl_refused_unlogged;
    vgl_incident_stats st;
    vgl_event scratch;
    vgl_buf out;
    /* two-stage (global) grouping: see vgl_incident_worker_set_stage */
    int stage;
    vgl_forward_fn forward;
    void *forward_opaque;
};

void vgl_incident_worker_set_stage(vgl_incident_worker *w, int stage, vgl_forward_fn fn,
                                   void *opaque)
{
    w->stage = stage;
    w->forward = fn;
    w->forward_opaque = opaque;
}

/* ------------------------------------------------------------ keys */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(uint64_t h, const char *s, bool fold)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (fold)
            c = (unsigned char)tolower(c);
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return (h ^ 0xff) * 0x100000001b3ULL; /* terminator: "ab","c" != "a","bc" */
}

/* Entity values compared ignoring case: names, not addresses or paths. */
static bool folds_case(const char *type)
{
    return type && (strcmp(type, "account") == 0 || strcmp(type, "host") == 0 ||
                    strcmp(type, "domain") == 0 || strcmp(type, "mailbox") == 0 ||
                    strcmp(type, "filehash") == 0);
}

static uint64_t entity_key(const char *type, const char *value)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ULL, "entity", false);
    h = hash_bytes(h, type, false);
    return mix64(hash_bytes(h, value, folds_case(type)));
}

static bool entity_eq(const char *t1, const char *v1, const char *t2, const char *v2)
{
    if (strcmp(t1, t2) != 0)
        return false;
    return folds_case(t1) ? strcasecmp(v1, v2) == 0 : strcmp(v1, v2) == 0;
}

static uint64_t rule_key(const char *rule_id)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ULL, "rule", false);
    return mix64(hash_bytes(h, rule_id ? rule_id : "", false));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static bool usable_entity(const vgl_entity *e)
{
    return e->type && e->value && e->type[0] && e->value[0];
}

/* group_by all: the set of the alert's entities (order and repeats do not
 * matter); an alert without entities groups by its rule. */
static uint64_t entity_set_key(const vgl_alert *a)
{
    uint64_t keys[MAX_ALERT_ENTITIES];
    size_t n = 0;
    for (size_t i = 0; i < a->nentities && n < MAX_ALERT_ENTITIES; i++)
        if (usable_entity(&a->entities[i]))
            keys[n++] = entity_key(a->entities[i].type, a->entities[i].value);
    if (n == 0)
        return rule_key(a->rule_id);
    qsort(keys, n, sizeof(uint64_t), cmp_u64);
    uint64_t h = 0x6a09e667f3bcc908ULL;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || keys[i] != keys[i - 1])
            h = mix64(h ^ keys[i]);
    return h;
}

static bool alert_has_entities(const vgl_alert *a)
{
    for (size_t i = 0; i < a->nentities && i < MAX_ALERT_ENTITIES; i++)
        if (usable_entity(&a->entities[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------ index */

static bool idx_grow(vgl_incident_worker *w)
{
    size_t nb = w->nbuckets ? w->nbuckets * 2 : 1024;
    idx_node **b = calloc(nb, sizeof(*b));
    if (!b)
        return false;
    for (size_t i = 0; i < w->nbuckets; i++) {
        idx_node *n = w->buckets[i];
        while (n) {
            idx_node *next = n->next;
            size_t k = (size_t)(n->key & (nb - 1));
            n->next = b[k];
            b[k] = n;
            n = next;
        }
    }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = nb;
    return true;
}

static bool idx_add(vgl_incident_worker *w, uint64_t key, incident *inc)
{
    if (w->nnodes >= w->nbuckets * 2 && !idx_grow(w) && !w->nbuckets)
        return false;
    idx_node *n = malloc(sizeof(*n));
    if (!n)
        return false;
    size_t k = (size_t)(key & (w->nbuckets - 1));
    n->key = key;
    n->inc = inc;
    n->next = w->buckets[k];
    w->buckets[k] = n;
    w->nnodes++;
    return true;
}

static void idx_del(vgl_incident_worker *w, uint64_t key, incident *inc)
{
    if (!w->nbuckets)
        return;
    idx_node **pp = &w->buckets[key & (w->nbuckets - 1)];
    while (*pp) {
        idx_node *n = *pp;
        if (n->key == key && n->inc == inc) {
            *pp = n->next;
            free(n);
            w->nnodes--;
            return;
        }
        pp = &n->next;
    }
}

/* ------------------------------------------------------- incidents */

static void lru_unlink(vgl_incident_worker *w, incident *inc)
{
    if (inc->prev)
        inc->prev->next = inc->next;
    else
        w->head = inc->next;
    if (inc->next)
        inc->next->prev = inc->prev;
    else
        w->tail = inc->prev;
    inc->prev = inc->next = NULL;
}

static void lru_append(vgl_incident_worker *w, incident *inc)
{
    inc->prev = w->tail;
    inc->next = NULL;
    if (w->tail)
        w->tail->next = inc;
    else
        w->head = inc;
    w->tail = inc;
}

static void incident_free(incident *inc)
{
    free(inc->title);
    for (size_t i = 0; i < inc->ntactics; i++)
        free(inc->tactics[i]);
    for (size_t i = 0; i < inc->ntechniques; i++)
        free(inc->techniques[i]);
    for (size_t i = 0; i < inc->nrules; i++)
        free(inc->rules[i]);
    for (size_t i = 0; i < inc->nents; i++) {
        free(inc->ents[i].type);
        free(inc->ents[i].value);
    }
    free(inc->rule_hashes);
    free(inc->alert_ids);
    free(inc->issued);
    free(inc);
}

static void add_str_unique(char **list, size_t *n, size_t max, const char *s, bool fold)
{
    if (!s || !*s)
        return;
    for (size_t i = 0; i < *n; i++)
        if (fold ? strcasecmp(list[i], s) == 0 : strcmp(list[i], s) == 0)
            return;
    if (*n < max) {
        char *d = vgl_strndup_utf8(s, VGL_NAME_MAX);
        if (d)
            list[(*n)++] = d;
    }
}

static bool has_entity(const incident *inc, const char *type, const char *value)
{
    for (size_t i = 0; i < inc->nents; i++)
        if (entity_eq(inc->ents[i].type, inc->ents[i].value, type, value))
            return true;
    return false;
}

/* Add the alert's entities to the union (and to the index, group_by any). */
static void add_entities(vgl_incident_worker *w, incident *inc, const vgl_alert *a)
{
    bool index = w->inc->cfg->incidents.group_by == VGL_GROUP_ANY && !inc->by_sig;
    for (size_t i = 0; i < a->nentities && i < MAX_ALERT_ENTITIES; i++) {
        const vgl_entity *e = &a->entities[i];
        if (!usable_entity(e) || inc->nents >= VGL_INCIDENT_MAX_ENTITIES)
            continue;
        if (has_entity(inc, e->type, e->value))
            continue;
        ent *d = &inc->ents[inc->nents];
        d->type = vgl_strndup_utf8(e->type, VGL_NAME_MAX);
        d->value = vgl_strndup_utf8(e->value, VGL_TEXT_MAX);
        if (!d->type || !d->value) {
            free(d->type);
            free(d->value);
            continue;
        }
        d->key = entity_key(d->type, d->value);
        if (index && !idx_add(w, d->key, inc)) {
            free(d->type);
            free(d->value);
            continue;
        }
        inc->nents++;
    }
}

static void add_rule(incident *inc, const char *rule_id)
{
    if (!rule_id)
        return;
    uint64_t h = rule_key(rule_id);
    for (size_t i = 0; i < inc->nrule_hashes; i++)
        if (inc->rule_hashes[i] == h)
            return;
    if (inc->nrule_hashes < MAX_RULE_HASHES)
        inc->rule_hashes[inc->nrule_hashes++] = h;
    add_str_unique(inc->rules, &inc->nrules, VGL_INCIDENT_MAX_RULES, rule_id, false);
}

static bool window_ok(const vgl_incident_worker *w, const incident *inc, int64_t t)
{
    int64_t win = w->inc->cfg->incidents.group_window_ms;
    return t >= inc->first_seen - win && t <= inc->last_seen + win;
}

static bool better(const incident *cand, const incident *best)
{
    if (!best)
        return true;
    if (cand->last_seen != best->last_seen)
        return cand->last_seen > best->last_seen;
    return strcmp(cand->id, best->id) < 0;
}

static int64_t alert_time(const vgl_incident_worker *w, const vgl_alert *a)
{
    return a->time_ms == VGL_TS_NONE ? w->watermark : a->time_ms;
}

/* The open incident the alert joins, NULL when it opens a new one. */
static incident *find_incident(vgl_incident_worker *w, const vgl_alert *a)
{
    if (!w->nbuckets)
        return NULL;
    vgl_group_mode mode = w->inc->cfg->incidents.group_by;
    int64_t t = alert_time(w, a);
    incident *best = NULL;
    if (mode == VGL_GROUP_ANY && alert_has_entities(a)) {
        for (size_t i = 0; i < a->nentities && i < MAX_ALERT_ENTITIES; i++) {
            const vgl_entity *e = &a->entities[i];
            if (!usable_entity(e))
                continue;
            uint64_t key = entity_key(e->type, e->value);
            for (idx_node *n = w->buckets[key & (w->nbuckets - 1)]; n; n = n->next) {
                if (n->key != key || n->inc->by_sig || !window_ok(w, n->inc, t) ||
                    !has_entity(n->inc, e->type, e->value))
                    continue;
                if (better(n->inc, best))
                    best = n->inc;
            }
        }
        return best;
    }
    uint64_t sig = mode == VGL_GROUP_ALL ? entity_set_key(a) : rule_key(a->rule_id);
    for (idx_node *n = w->buckets[sig & (w->nbuckets - 1)]; n; n = n->next) {
        if (n->key != sig || !n->inc->by_sig || n->inc->sig != sig || !window_ok(w, n->inc, t))
            continue;
        if (mode != VGL_GROUP_ALL && (!n->inc->nrules || strcmp(n->inc->rules[0],
                                                                a->rule_id ? a->rule_id : "")))
            continue;
        if (better(n->inc, best))
            best = n->inc;
    }
    return best;
}

static void dirty_remove(vgl_incident_worker *w, incident *inc)
{
    if (!inc->dirty)
        return;
    for (size_t i = 0; i < w->ndirty; i++) {
        if (w->dirty[i] == inc) {
            w->dirty[i] = w->dirty[--w->ndirty];
            break;
        }
    }
    inc->dirty = false;
}

static void dirty_add(vgl_incident_worker *w, incident *inc)
{
    if (inc->dirty)
        return;
    if (w->ndirty == w->dirty_cap) {
        size_t ncap = w->dirty_cap ? w->dirty_cap * 2 : 64;
        incident **d = realloc(w->dirty, ncap * sizeof(*d));
        if (!d)
            return; /* the count is kept; it is written with the next change */
        w->dirty = d;
        w->dirty_cap = ncap;
    }
    w->dirty[w->ndirty++] = inc;
    inc->dirty = true;
}

/* ------------------------------------------------------------ output */

static void emit_value(vgl_incident_worker *w, vgl_output_kind kind, vgl_record_kind rk,
                       const char *key, const vgl_value *v)
{
    char err[512];
    if (vgl_outctx_encode(w->ox, rk, v, &w->out, err, sizeof(err)) != VGL_OK) {
        vgl_error("cannot encode an output record", "kind=%d key=%s error=%s", (int)rk, key,
                  err);
        return;
    }
    if (w->emit)
        w->emit(w->opaque, kind, key, strlen(key), w->out.data, w->out.len);
}

static void emit_incident(vgl_incident_worker *w, incident *inc, const char *status)
{
    inc->version++;
    dirty_remove(w, inc);
    vgl_event_reset(&w->scratch);
    vgl_vb b = {&w->scratch, VGL_OK};
    vgl_value root = {0};
    vgl_value_set_object(&root);
    vgl_vb_str(&b, vgl_vb_add(&b, &root, "incident_id"), inc->id);
    char title[VGL_TEXT_MAX + 64];
    if (inc->nrule_hashes > 1)
        snprintf(title, sizeof(title), "%s (+%zu more)", inc->title ? inc->title : "",
                 inc->nrule_hashes - 1);
    else
        snprintf(title, sizeof(title), "%s", inc->title ? inc->title : "");
    vgl_vb_str(&b, vgl_vb_add(&b, &root, "title"), title);
    vgl_vb_str(&b, vgl_vb_add(&b, &root, "severity"), vgl_severity_name(inc->severity));
    vgl_vb_str(&b, vgl_vb_add(&b, &root, "status"), status);
    vgl_vb_time(&b, vgl_vb_add(&b, &root, "first_seen"), inc->first_seen);
    vgl_vb_time(&b, vgl_vb_add(&b, &root, "last_seen"), inc->last_seen);
    vgl_value *v = vgl_vb_add(&b, &root, "tactics");
    if (v) {
        vgl_value_set_array(v);
        for (size_t i = 0; i < inc->ntactics; i++)
            vgl_vb_str(&b, vgl_vb_push(&b, v), inc->tactics[i]);
    }
    v = vgl_vb_add(&b, &root, "techniques");
    if (v) {
        vgl_value_set_array(v);
        for (size_t i = 0; i < inc->ntechniques; i++)
            vgl_vb_str(&b, vgl_vb_push(&b, v), inc->techniques[i]);
    }
    v = vgl_vb_add(&b, &root, "entities");
    if (v) {
        vgl_value_set_array(v);
        for (size_t i = 0; i < inc->nents; i++) {
            vgl_value *e = vgl_vb_push(&b, v);
            if (!e)
                break;
            vgl_value_set_object(e);
            vgl_vb_str(&b, vgl_vb_add(&b, e, "type"), inc->ents[i].type);
            vgl_vb_str(&b, vgl_vb_add(&b, e, "value"), inc->ents[i].value);
        }
    }
    v = vgl_vb_add(&b, &root, "alert_ids");
    if (v) {
        vgl_value_set_array(v);
        for (size_t i = 0; i < inc->nalert_ids; i++)
            vgl_vb_str(&b, vgl_vb_push(&b, v), inc->alert_ids[i]);
    }
    const char *names[] = {"alert_count", "suppressed_count", "version"};
    uint64_t vals[] = {inc->alert_count, inc->suppressed_count, inc->version};
    for (int i = 0; i < 3; i++) {
        v = vgl_vb_add(&b, &root, names[i]);
        if (v) {
            v->type = VGL_T_INT;
            v->u.i = (int64_t)vals[i];
        }
    }
    v = vgl_vb_add(&b, &root, "rule_ids");
    if (v) {
        vgl_value_set_array(v);
        for (size_t i = 0; i < inc->nrules; i++)
            vgl_vb_str(&b, vgl_vb_push(&b, v), inc->rules[i]);
    }
    if (b.rc != VGL_OK) {
        vgl_error("cannot build an incident record", "incident_id=%s error=%s", inc->id,
                  vgl_rc_str(b.rc));
        return;
    }
    emit_value(w, VGL_OUT_INCIDENTS, VGL_REC_INCIDENT, inc->id, &root);
}

/* Close: written a last time with status closed, then forgotten. */
static void close_incident(vgl_incident_worker *w, incident *inc, bool evicted)
{
    emit_incident(w, inc, "closed");
    if (evicted)
        w->st.evicted++;
    else
        w->st.closed++;
    if (inc->by_sig)
        idx_del(w, inc->sig, inc);
    else
        for (size_t i = 0; i < inc->nents; i++)
            idx_del(w, inc->ents[i].key, inc);
    lru_unlink(w, inc);
    w->nopen--;
    incident_free(inc);
}

static incident *open_incident(vgl_incident_worker *w, const vgl_alert *a)
{
    uint32_t max_open = w->inc->cfg->incidents.max_open ? w->inc->cfg->incidents.max_open : 1;
    while (w->nopen >= max_open && w->head)
        close_incident(w, w->head, true);
    incident *inc = calloc(1, sizeof(*inc));
    if (!inc)
        return NULL;
    inc->rule_hashes = calloc(MAX_RULE_HASHES, sizeof(uint64_t));
    inc->alert_ids = calloc(VGL_INCIDENT_MAX_ALERT_IDS, sizeof(*inc->alert_ids));
    inc->issued = calloc(VGL_INCIDENT_MAX_ACTIONS, sizeof(uint64_t));
    inc->title = vgl_strndup_utf8(a->title ? a->title : (a->rule_id ? a->rule_id : ""),
                                  VGL_TEXT_MAX);
    if (!inc->rule_hashes || !inc->alert_ids || !inc->issued || !inc->title) {
        incident_free(inc);
        return NULL;
    }
    vgl_idhash h;
    vgl_idhash_init(&h, "incident");
    vgl_idhash_add_str(&h, a->alert_id);
    vgl_idhash_hex(&h, inc->id);
    int64_t t = alert_time(w, a);
    inc->first_seen = inc->last_seen = t;
    inc->severity = a->severity;
    vgl_group_mode mode = w->inc->cfg->incidents.group_by;
    if (mode != VGL_GROUP_ANY || !alert_has_entities(a)) {
        inc->by_sig = true;
        inc->sig = mode == VGL_GROUP_ALL ? entity_set_key(a) : rule_key(a->rule_id);
        if (!w->nbuckets && !idx_grow(w)) {
            incident_free(inc);
            return NULL;
        }
        if (!idx_add(w, inc->sig, inc)) {
            incident_free(inc);
            return NULL;
        }
    } else if (!w->nbuckets && !idx_grow(w)) {
        incident_free(inc);
        return NULL;
    }
    lru_append(w, inc);
    w->nopen++;
    w->st.opened++;
    return inc;
}

/* --------------------------------------------------------- actions */

static void log_rate_limited(vgl_incident_worker *w, const char *action,
                             const vgl_rate_limit_cfg *lim)
{
    /* one line per second at most: a flood of refusals is itself the news */
    int64_t now = vgl_now_ms();
    w->rl_refused_unlogged++;
    if (now - w->last_rl_log_ms < 1000)
        return;
    w->last_rl_log_ms = now;
    vgl_error("CRITICAL: response rate limit exceeded, actions refused",
              "severity=critical action=%s limit_action=%s limit=%u window_ms=%lld "
              "refused=%llu worker=%d",
              action, lim->action ? lim->action : "*", (unsigned)lim->count,
              (long long)lim->window_ms, (unsigned long long)w->rl_refused_unlogged, w->id);
    w->rl_refused_unlogged = 0;
}

static bool issued_before(incident *inc, const char *action_id)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++)
        h = (h << 4) | (uint64_t)(isdigit((unsigned char)action_id[i]) ? action_id[i] - '0'
                                                                     : action_id[i] - 'a' + 10);
    for (size_t i = 0; i < inc->nissued; i++)
        if (inc->issued[i] == h)
            return true;
    if (inc->nissued < VGL_INCIDENT_MAX_ACTIONS)
        inc->issued[inc->nissued++] = h;
    return false;
}

typedef struct action_req {
    const char *action;
    const char *target_type; /* NULL: the incident itself */
    const char *automation;  /* NULL: the alert's rule asked */
    const vgl_pair *params;
    size_t nparams;
    int64_t duration_ms;
    bool dry_run;
} action_req;

static void emit_action(vgl_incident_worker *w, incident *inc, const vgl_alert *a,
                        const action_req *rq, const char *ttype, const char *tvalue)
{
    const vgl_config *cfg = w->inc->cfg;
    vgl_action act;
    memset(&act, 0, sizeof(act));
    act.action = rq->action;
    act.target_type = ttype;
    act.target = tvalue;
    act.incident_id = inc->id;
    vgl_action_make_id(&act);
    if (issued_before(inc, act.action_id))
        return;
    act.rule_ids = (const char *const *)inc->rules;
    act.nrule_ids = inc->nrules;
    act.automation = rq->automation;
    act.requested_ms = alert_time(w, a);
    act.expires_ms = rq->duration_ms > 0 ? act.requested_ms + rq->duration_ms : 0;
    act.dry_run = cfg->response.dry_run || rq->dry_run;
    act.params = rq->params;
    act.nparams = rq->nparams;
    char reason[VGL_TEXT_MAX + 512], error[256];
    if (rq->automation)
        snprintf(reason, sizeof(reason), "automation %.256s: alert %s of rule %.256s (%s)",
                 rq->automation, a->alert_id, a->rule_id ? a->rule_id : "?",
                 vgl_severity_name(a->severity));
    else
        snprintf(reason, sizeof(reason), "rule %.256s asked for %.256s (alert %s)",
                 a->rule_id ? a->rule_id : "?", rq->action, a->alert_id);
    act.reason = reason;
    const vgl_rate_limit_cfg *lim = NULL;
    if (vgl_protected_match(w->inc->prot, ttype, tvalue)) {
        act.status = VGL_ACT_REFUSED_PROTECTED;
        snprintf(error, sizeof(error), "the %s is listed in response.protected", ttype);
        act.error = error;
        w->st.refused_protected++;
        vgl_warn("action refused: protected target", "action=%s target_type=%s target=%s "
                 "incident_id=%s action_id=%s",
                 rq->action, ttype, tvalue, inc->id, act.action_id);
    } else if (!vgl_rate_limiter_take(w->rl, rq->action, act.requested_ms, &lim)) {
        act.status = VGL_ACT_REFUSED_RATE_LIMITED;
        snprintf(error, sizeof(error), "response.rate_limit: at most %u %s actions per %lld ms",
                 (unsigned)lim->count, lim->action ? lim->action : "*",
                 (long long)lim->window_ms);
        act.error = error;
        w->st.refused_rate_limited++;
        log_rate_limited(w, rq->action, lim);
    } else {
        act.status = VGL_ACT_REQUESTED;
        if (act.dry_run)
            w->st.dry_run++;
    }
    w->st.actions++;
    vgl_event_reset(&w->scratch);
    vgl_value root = {0};
    vgl_rc rc = vgl_action_to_value(&act, &w->scratch, &root);
    if (rc != VGL_OK) {
        vgl_error("cannot build an action record", "action_id=%s error=%s", act.action_id,
                  vgl_rc_str(rc));
        return;
    }
    emit_value(w, VGL_OUT_ACTIONS, VGL_REC_ACTION, act.action_id, &root);
}

/* One action per entity of type rq->target_type: of the incident for an
 * automation, of the alert for a rule's own request. */
static void run_action(vgl_incident_worker *w, incident *inc, const vgl_alert *a,
                       const action_req *rq, bool from_alert)
{
    if (!rq->action || !rq->action[0])
        return;
    if (!rq->target_type || !rq->target_type[0]) {
        emit_action(w, inc, a, rq, "incident", inc->id);
        return;
    }
    if (from_alert) {
        for (size_t i = 0; i < a->nentities && i < MAX_ALERT_ENTITIES; i++) {
            const vgl_entity *e = &a->entities[i];
            if (!usable_entity(e) || strcmp(e->type, rq->target_type) != 0)
                continue;
            char *v = vgl_strndup_utf8(e->value, VGL_TEXT_MAX);
            if (v)
                emit_action(w, inc, a, rq, e->type, v);
            free(v);
        }
        return;
    }
    for (size_t i = 0; i < inc->nents; i++)
        if (strcmp(inc->ents[i].type, rq->target_type) == 0)
            emit_action(w, inc, a, rq, inc->ents[i].type, inc->ents[i].value);
}

static void automate(vgl_incident_worker *w, incident *inc, const vgl_alert *a)
{
    const vgl_automation *am = w->inc->am;
    for (size_t i = 0; i < vgl_automation_count(am); i++) {
        if (!vgl_automation_matches(am, i, a))
            continue;
        const vgl_automation_rule *r = vgl_automation_rule_at(am, i);
        for (size_t j = 0; j < r->nactions; j++) {
            action_req rq = {.action = r->actions[j].action,
                             .target_type = r->actions[j].target,
                             .automation = r->name,
                             .duration_ms = r->actions[j].duration_ms,
                             .dry_run = r->dry_run};
            rq.params = vgl_automation_params(am, i, j, &rq.nparams);
            run_action(w, inc, a, &rq, false);
        }
    }
    for (size_t k = 0; k < a->nresponses && k < 16; k++) {
        action_req rq = {.action = a->responses[k].action,
                         .target_type = a->responses[k].target};
        run_action(w, inc, a, &rq, true);
    }
}

/* ------------------------------------------------------- the stage */

vgl_incidents *vgl_incidents_new(const vgl_config *cfg, vgl_diag *diag)
{
    vgl_incidents *inc = calloc(1, sizeof(*inc));
    if (!inc) {
        vgl_diag_add(diag, "incidents: out of memory");
        return NULL;
    }
    inc->cfg = cfg;
    char err[1024];
    if (!(inc->codec = vgl_outcodec_new(&cfg->outputs, err, sizeof(err)))) {
        vgl_diag_add(diag, "%s", err);
        vgl_incidents_free(inc);
        return NULL;
    }
    if (!(inc->prot = vgl_protected_new(&cfg->response, diag)) ||
        !(inc->am = vgl_automation_new(cfg, diag))) {
        vgl_incidents_free(inc);
        return NULL;
    }
    for (size_t i = 0; i < cfg->response.nrate_limits; i++) {
        const vgl_rate_limit_cfg *l = &cfg->response.rate_limits[i];
        if (l->count == 0 || l->window_ms <= 0) {
            vgl_diag_add(diag, "response.rate_limit[%zu]: count and window must be positive", i);
            vgl_incidents_free(inc);
            return NULL;
        }
    }
    return inc;
}

void vgl_incidents_free(vgl_incidents *inc)
{
    if (!inc)
        return;
    vgl_outcodec_free(inc->codec);
    vgl_protected_free(inc->prot);
    vgl_automation_free(inc->am);
    free(inc);
}

vgl_incident_worker *vgl_incident_worker_new(vgl_incidents *inc, int worker_id, vgl_emit_fn emit,
                                             void *opaque)
{
    vgl_incident_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->inc = inc;
    w->id = worker_id;
    w->emit = emit;
    w->opaque = opaque;
    w->watermark = VGL_TS_NONE;
    w->closed_upto = VGL_TS_NONE;
    vgl_event_init(&w->scratch, 0);
    vgl_buf_init(&w->out, 0);
    if (!(w->ox = vgl_outctx_new(inc->codec)) ||
        !(w->rl = vgl_rate_limiter_new(&inc->cfg->response))) {
        vgl_incident_worker_free(w);
        return NULL;
    }
    return w;
}

void vgl_incident_worker_free(vgl_incident_worker *w)
{
    if (!w)
        return;
    incident *inc = w->head;
    while (inc) {
        incident *next = inc->next;
        incident_free(inc);
        inc = next;
    }
    for (size_t i = 0; i < w->nbuckets; i++) {
        idx_node *n = w->buckets[i];
        while (n) {
            idx_node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(w->buckets);
    free(w->dirty);
    for (size_t i = 0; i < w->rates_cap; i++)
        free(w->rates[i].rule);
    free(w->rates);
    vgl_outctx_free(w->ox);
    vgl_rate_limiter_free(w->rl);
    vgl_event_destroy(&w->scratch);
    vgl_buf_free(&w->out);
    free(w);
}

static void rates_clear(vgl_incident_worker *w)
{
    for (size_t i = 0; i < w->rates_cap; i++) {
        free(w->rates[i].rule);
        memset(&w->rates[i], 0, sizeof(rule_rate));
    }
    w->nrates = 0;
}

static bool rates_grow(vgl_incident_worker *w)
{
    size_t ncap = w->rates_cap ? w->rates_cap * 2 : 256;
    if (ncap > RATE_TABLE_MAX)
        return false;
    rule_rate *t = calloc(ncap, sizeof(*t));
    if (!t)
        return false;
    for (size_t i = 0; i < w->rates_cap; i++) {
        if (!w->rates[i].rule)
            continue;
        size_t k = (size_t)(w->rates[i].h & (ncap - 1));
        while (t[k].rule)
            k = (k + 1) & (ncap - 1);
        t[k] = w->rates[i];
    }
    free(w->rates);
    w->rates = t;
    w->rates_cap = ncap;
    return true;
}

/* False when the rule is over its alerts-per-minute cap. */
static bool rate_ok(vgl_incident_worker *w, const vgl_alert *a)
{
    uint32_t cap = w->inc->cfg->incidents.max_alerts_per_rule_per_min;
    if (cap == 0)
        return true;
    const char *rule = a->rule_id ? a->rule_id : "";
    int64_t t = alert_time(w, a);
    int64_t minute = t == VGL_TS_NONE ? 0 : (t >= 0 ? t / 60000 : (t - 59999) / 60000);
    if (w->nrates * 2 >= w->rates_cap && !rates_grow(w)) {
        if (!w->rates_cap)
            return true;
        if (w->nrates + 1 >= w->rates_cap)
            rates_clear(w); /* table full of rules: start counting again */
    }
    uint64_t h = rule_key(rule);
    size_t k = (size_t)(h & (w->rates_cap - 1));
    while (w->rates[k].rule && (w->rates[k].h != h || strcmp(w->rates[k].rule, rule) != 0))
        k = (k + 1) & (w->rates_cap - 1);
    rule_rate *r = &w->rates[k];
    if (!r->rule) {
        if (!(r->rule = vgl_strndup_utf8(rule, VGL_NAME_MAX)))
            return true;
        r->h = h;
        r->minute = minute;
        w->nrates++;
    }
    if (minute > r->minute) {
        r->minute = minute;
        r->count = 0;
    }
    if (r->count >= cap) {
        if (r->count == cap)
            vgl_warn("alert rate cap reached: further alerts of this rule in this minute are "
                     "counted on the incident, not written",
                     "rule_id=%s cap=%u worker=%d", rule, (unsigned)cap, w->id);
        if (r->count < UINT32_MAX)
            r->count++;
        return false;
    }
    r->count++;
    return true;
}

static void advance_watermark(vgl_incident_worker *w, const vgl_alert *a)
{
    if (a->time_ms != VGL_TS_NONE && (w->watermark == VGL_TS_NONE || a->time_ms > w->watermark))
        w->watermark = a->time_ms;
}

/* A withheld alert (suppressed or over the rate cap): summarized on the
 * incident it would join. */
static void withhold(vgl_incident_worker *w, const vgl_alert *a)
{
    incident *inc = find_incident(w, a);
    if (inc) {
        inc->suppressed_count++;
        dirty_add(w, inc);
    }
}

void vgl_incident_alert(vgl_incident_worker *w, const vgl_alert *a)
{
    advance_watermark(w, a);
    if (w->stage == VGL_INC_STAGE_GROUP)
        goto group; /* alert record, rate cap and counting were done by stage 1 */
    if (!rate_ok(w, a)) {
        w->st.rate_capped++;
        if (w->stage == VGL_INC_STAGE_ALERTS && w->forward)
            w->forward(w->forward_opaque, a, true);
        else
            withhold(w, a);
        return;
    }
    w->st.alerts++;
    /* the alert record */
    if (vgl_outcodec_is_avro(w->inc->codec)) {
        vgl_event_reset(&w->scratch);
        vgl_value root = {0};
        if (vgl_alert_to_value(a, &w->scratch, &root) == VGL_OK)
            emit_value(w, VGL_OUT_ALERTS, VGL_REC_ALERT, a->alert_id, &root);
        else
            vgl_error("cannot build an alert record", "alert_id=%s", a->alert_id);
    } else {
        vgl_buf_reset(&w->out);
        if (vgl_alert_to_json(a, &w->out) && w->emit)
            w->emit(w->opaque, VGL_OUT_ALERTS, a->alert_id, strlen(a->alert_id), w->out.data,
                    w->out.len);
    }
    if (w->stage == VGL_INC_STAGE_ALERTS) {
        if (w->forward)
            w->forward(w->forward_opaque, a, false);
        return;
    }
group:;
    /* the incident */
    incident *inc = find_incident(w, a);
    bool is_new = false;
    if (inc) {
        for (size_t i = 0; i < inc->nalert_ids; i++)
            if (strcmp(inc->alert_ids[i], a->alert_id) == 0)
                return; /* the same alert again (a replayed input record) */
        w->st.updated++;
    } else {
        if (!(inc = open_incident(w, a))) {
            vgl_error("cannot open an incident: out of memory", "alert_id=%s", a->alert_id);
            return;
        }
        is_new = true;
    }
    int64_t t = alert_time(w, a);
    if (t < inc->first_seen)
        inc->first_seen = t;
    if (t > inc->last_seen)
        inc->last_seen = t;
    if (a->severity > inc->severity && a->severity <= VGL_SEV_CRITICAL)
        inc->severity = a->severity;
    add_str_unique(inc->tactics, &inc->ntactics, VGL_INCIDENT_MAX_TACTICS, a->tactic, true);
    add_str_unique(inc->techniques, &inc->ntechniques, VGL_INCIDENT_MAX_TECHNIQUES, a->technique,
                   true);
    add_rule(inc, a->rule_id);
    add_entities(w, inc, a);
    if (inc->nalert_ids < VGL_INCIDENT_MAX_ALERT_IDS)
        memcpy(inc->alert_ids[inc->nalert_ids++], a->alert_id, 33);
    inc->alert_count++;
    if (inc != w->tail) {
        lru_unlink(w, inc);
        lru_append(w, inc);
    }
    emit_incident(w, inc, is_new ? "new" : "updated");
    automate(w, inc, a);
}

void vgl_incident_suppressed(vgl_incident_worker *w, const vgl_alert *a)
{
    advance_watermark(w, a);
    if (w->stage != VGL_INC_STAGE_GROUP)
        w->st.suppressed++;
    if (w->stage == VGL_INC_STAGE_ALERTS && w->forward)
        w->forward(w->forward_opaque, a, true);
    else
        withhold(w, a);
}

void vgl_incident_tick(vgl_incident_worker *w, int64_t now_ms)
{
    (void)now_ms; /* grouping follows event time only */
    while (w->ndirty > 0) {
        incident *inc = w->dirty[w->ndirty - 1];
        emit_incident(w, inc, "updated"); /* removes it from the dirty list */
    }
    if (w->watermark == VGL_TS_NONE || w->watermark == w->closed_upto)
        return;
    w->closed_upto = w->watermark;
    int64_t win = w->inc->cfg->incidents.group_window_ms;
    incident *inc = w->head;
    while (inc) {
        incident *next = inc->next;
        if (inc->last_seen < w->watermark - win)
            close_incident(w, inc, false);
        inc = next;
    }
}

void vgl_incident_worker_stats(const vgl_incident_worker *w, vgl_incident_stats *out)
{
    *out = w->st;
}

size_t vgl_incident_worker_open(const vgl_incident_worker *w) { return w->nopen; }
