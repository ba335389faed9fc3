/*
 * The rule engine: the rule index, per-worker engines (Lua functions,
 * state, counters), event dispatch to candidate rules, the stateful forms,
 * on_event's ctx, alerts with suppression, failure accounting and hot
 * reload. See engine.h for the API and docs/rules.md for the language.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "log.h"
#include "rule.h"
#include "stateful.h"

#define MAX_CALL_ALERTS 16
#define MAX_CALL_RESPONSES 8
#define MAX_ENTITIES 64
#define MAX_KEY 4096
#define LOG_INTERVAL_NS 60000000000LL
#define CTX_MT "vigil.ctx"
#define COPY_DEPTH 12

/* Counters are read by other threads for metrics: relaxed atomics. */
static inline void stat_add(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static inline uint64_t stat_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

typedef struct counters {
    uint64_t evaluations, matches, alerts, suppressed, errors, time_ns, state_keys, evictions;
} counters;

typedef struct rule_slot {
    const vgl_rule_def *def;
    struct vgl_rules *eng;
    uint32_t index;
    vgl_rule_refs refs;
    vgl_sstore state;
    vgl_sstore suppress;
    int states_ref;        /* on_event: registry ref of key -> state table */
    counters c;
    uint64_t evictions_base; /* carried over from earlier stores */
    uint32_t failures;
    uint32_t unlogged;
    bool disabled;
    int64_t last_log_ns;
    uint32_t stamp;
} rule_slot;

typedef struct pending_alert {
    char *title;
    char *description;
    int severity; /* -1 = the rule's */
    vgl_entity *ents;
    size_t nents;
} pending_alert;

/* What the current on_event call collected. */
typedef struct call_ctx {
    rule_slot *slot;
    const vgl_event *ev;
    int64_t t;
    pending_alert alerts[MAX_CALL_ALERTS];
    size_t nalerts;
    vgl_response_req responses[MAX_CALL_RESPONSES];
    size_t nresponses;
} call_ctx;

typedef struct topic_name {
    struct topic_name *next;
    char name[];
} topic_name;

struct vgl_rules {
    vgl_ruleset *rs;
    vgl_sandbox *sb;
    regex_t *re;
    rule_slot *slots;
    size_t nslots;
    int worker_id;
    vgl_alert_fn on_alert, on_suppressed;
    void *opaque;
    int64_t max_ts, watermark, last_received;
    vgl_dheap deadlines;
    uint32_t *cand;
    size_t cand_cap;
    uint32_t stamp;
    topic_name *topics;
    const char *last_topic_in, *last_topic_out;
    vgl_event scratch;
    vgl_evrec evbuf[64];     /* evidence handed over by stateful forms */
    vgl_buf keybuf, dvalbuf;
    call_ctx *cur;
    bool lua_drops;          /* dropping on_event keys may touch Lua */
    uint64_t events, late, candidates, alerts, suppressed, errors;
};

typedef struct ctx_ud {
    vgl_rules *e;
    uint32_t gen;
} ctx_ud;

static void add_candidates(vgl_rules *e, const uint32_t *rules, uint32_t n, size_t *ncand)
{
    for (uint32_t i = 0; i < n; i++) {
        rule_slot *s = &e->slots[rules[i]];
        if (s->stamp == e->stamp)
            continue;
        s->stamp = e->stamp;
        e->cand[(*ncand)++] = rules[i];
    }
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Candidate rules of ev, in rule order; each indexed field looked up once. */
static size_t gather(vgl_rules *e, const vgl_event *ev)
{
    const vgl_rule_index *ix = &e->rs->index;
    size_t n = 0;
    if (++e->stamp == 0) {
        for (size_t i = 0; i < e->nslots; i++)
            e->slots[i].stamp = 0;
        e->stamp = 1;
    }
    add_candidates(e, ix->always, ix->nalways, &n);
    char buf[32];
    vgl_pf_key k;
    for (uint32_t f = 0; f < ix->nfields; f++) {
        const vgl_index_field *fld = &ix->fields[f];
        const vgl_value *v = vgl_event_get(ev, fld->path);
        if (!v)
            continue;
        uint32_t nitems = v->type == VGL_T_ARRAY ? v->n : 1;
        for (uint32_t i = 0; i < nitems; i++) {
            const vgl_value *it = v->type == VGL_T_ARRAY ? &v->u.items[i] : v;
            if (!vgl_pf_key_of(it, &k, buf, sizeof(buf)))
                continue;
            const vgl_index_entry *en = vgl_rule_index_probe(fld, &k);
            if (en && en->key)
                add_candidates(e, en->rules, en->nrules, &n);
        }
    }
    if (n > 1)
        qsort(e->cand, n, sizeof(uint32_t), u32_cmp);
    return n;
}

/* =============================================================== misc */

static int64_t event_time(const vgl_event *ev)
{
    return ev->ts_ms != VGL_TS_NONE ? ev->ts_ms : ev->meta.received_ms;
}

static const char *intern_topic(vgl_rules *e, const char *topic)
{
    if (!topic)
        return NULL;
    if (topic == e->last_topic_in)
        return e->last_topic_out;
    for (topic_name *t = e->topics; t; t = t->next) {
        if (strcmp(t->name, topic) == 0) {
            e->last_topic_in = topic;
            return e->last_topic_out = t->name;
        }
    }
    size_t n = strlen(topic);
    topic_name *t = malloc(sizeof(*t) + n + 1);
    if (!t)
        return NULL;
    memcpy(t->name, topic, n + 1);
    t->next = e->topics;
    e->topics = t;
    e->last_topic_in = topic;
    return e->last_topic_out = t->name;
}

static vgl_evrec make_rec(vgl_rules *e, const rule_slot *s, const vgl_event *ev, int64_t t)
{
    vgl_evrec r;
    r.topic = intern_topic(e, ev->meta.topic);
    r.partition = ev->meta.partition;
    r.offset = ev->meta.offset;
    r.ts_ms = t;
    r.fields = vgl_snapshot(ev, s->def->keypaths, s->def->nkeypaths);
    return r;
}

static uint32_t max_evidence(const vgl_rules *e)
{
    uint32_t m = e->rs->limits.max_evidence;
    return m > 64 ? 64 : m;
}

/* Normalized text of a key field: as where-equality compares values. */
static bool append_key_text(vgl_buf *b, const vgl_value *v)
{
    char num[32];
    vgl_pf_key k;
    if (!v)
        return false;
    if (v->type == VGL_T_ARRAY) {
        for (uint32_t i = 0; i < v->n; i++) {
            if (i)
                vgl_buf_putc(b, ',');
            append_key_text(b, &v->u.items[i]);
        }
        return v->n > 0;
    }
    if (!vgl_pf_key_of(v, &k, num, sizeof(num)))
        return false;
    if (k.is_num) {
        if (k.is_int)
            vgl_buf_printf(b, "%lld", (long long)k.i);
        else
            vgl_buf_printf(b, "%.17g", k.num);
        return true;
    }
    for (size_t i = 0; i < k.len; i++) {
        unsigned char c = (unsigned char)k.text[i];
        vgl_buf_putc(b, (char)((unsigned)(c - 'A') < 26u ? c + 32 : c));
    }
    return true;
}

/* The state key of ev for the rule's `by` fields; false if one is missing. */
static bool state_key(const rule_slot *s, const vgl_event *ev, vgl_buf *b)
{
    vgl_buf_reset(b);
    for (uint32_t i = 0; i < s->def->nby; i++) {
        if (i)
            vgl_buf_putc(b, '\x1f');
        if (!append_key_text(b, vgl_event_get(ev, s->def->by[i])))
            return false;
    }
    if (!b->data)
        vgl_buf_putc(b, '\0'), b->len = 0; /* no by: one key for all */
    return !b->failed && b->len <= MAX_KEY;
}

/* ========================================================= failures */

static void rule_failed(vgl_rules *e, rule_slot *s, vgl_call_result res, const char *msg)
{
    const vgl_rule_def *d = s->def;
    stat_add(&s->c.errors, 1);
    e->errors++;
    s->failures++;
    char sentence[1400];
    if (res == VGL_CALL_BUDGET)
        snprintf(sentence, sizeof(sentence), "rule %s (%s:%d): instruction budget of %llu exceeded",
                 d->id, d->file, d->line, (unsigned long long)e->sb->budget);
    else if (res == VGL_CALL_MEMORY)
        snprintf(sentence, sizeof(sentence), "rule %s (%s:%d): memory limit of %zu bytes exceeded",
                 d->id, d->file, d->line, e->sb->mem_limit);
    else {
        char fixed[1100];
        vgl_loader_fix_msg(d->file, msg, -1, fixed, sizeof(fixed));
        snprintf(sentence, sizeof(sentence), "rule %s (%s:%d): %s", d->id, d->file, d->line,
                 fixed);
    }
    int64_t now = vgl_mono_ns();
    if (s->last_log_ns == 0 || now - s->last_log_ns >= LOG_INTERVAL_NS) {
        vgl_warn("rule call failed", "rule=%s worker=%d error=%s failures=%u unlogged=%u", d->id,
                 e->worker_id, sentence, s->failures, s->unlogged);
        if (e->sb->trace[0])
            vgl_debug("rule call traceback", "rule=%s traceback=%s", d->id, e->sb->trace);
        s->last_log_ns = now;
        s->unlogged = 0;
    } else {
        s->unlogged++;
    }
    uint32_t max = e->rs->limits.rule_max_failures;
    if (max && s->failures >= max && !s->disabled) {
        s->disabled = true;
        snprintf(sentence, sizeof(sentence),
                 "rule %s (%s:%d): disabled after %u failures (limits.rule_max_failures)", d->id,
                 d->file, d->line, s->failures);
        vgl_error("rule disabled", "rule=%s worker=%d reason=%s", d->id, e->worker_id, sentence);
    }
}

/* ============================================================ Lua calls */

static int call_trampoline(lua_State *L)
{
    vgl_sandbox *sb = vgl_sandbox_of(L);
    int ref = (int)lua_tointeger(L, 1);
    const vgl_value *root = lua_touserdata(L, 2);
    vgl_rules *e = lua_touserdata(L, 3);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    vgl_sandbox_push_view(sb, root);
    int nargs = 1;
    if (e) {
        ctx_ud *c = lua_newuserdatauv(L, sizeof(ctx_ud), 0);
        c->e = e;
        c->gen = sb->view_gen;
        luaL_setmetatable(L, CTX_MT);
        nargs = 2;
    }
    lua_call(L, nargs, 1);
    return 1;
}

/* Call function ref(e [, ctx]); *result = its truthiness. False when the
 * call failed (counted and logged). */
static bool call_rule(vgl_rules *e, rule_slot *s, int ref, const vgl_event *ev, bool with_ctx,
                      bool *result)
{
    lua_State *L = e->sb->L;
    char msg[1024];
    vgl_call_result res;
    if (!lua_checkstack(L, 8)) {
        res = VGL_CALL_MEMORY;
        msg[0] = '\0';
    } else {
        lua_pushcfunction(L, call_trampoline);
        lua_pushinteger(L, ref);
        lua_pushlightuserdata(L, (void *)&ev->root);
        lua_pushlightuserdata(L, with_ctx ? e : NULL);
        res = vgl_sandbox_call(e->sb, ev, 3, 1, msg, sizeof(msg));
    }
    if (res != VGL_CALL_OK) {
        rule_failed(e, s, res, msg);
        return false;
    }
    *result = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return true;
}

/* where, then match(e) when the part has one */
static bool part_matches(vgl_rules *e, rule_slot *s, const vgl_prefilter *where, int ref,
                         const vgl_event *ev, bool *failed)
{
    if (!vgl_prefilter_match(where, ev, e->re))
        return false;
    if (ref == LUA_NOREF)
        return true;
    bool ok = false;
    if (!call_rule(e, s, ref, ev, false, &ok)) {
        *failed = true;
        return false;
    }
    return ok;
}

/* ================================================================ alerts */

typedef struct entity_src {
    const vgl_event *ev;     /* fields from the event, or */
    const vgl_value *fields; /* from an evidence snapshot */
} entity_src;

static const vgl_value *src_get(const entity_src *src, const vgl_path *p)
{
    if (src->ev)
        return vgl_event_get(src->ev, p);
    if (!src->fields)
        return NULL;
    size_t n = strlen(p->str);
    return vgl_object_get(src->fields, p->str, n, vgl_hash(p->str, n));
}

static void add_entity(vgl_rules *e, vgl_entity *ents, size_t *n, const char *type,
                       const vgl_value *v)
{
    if (!v || *n >= MAX_ENTITIES)
        return;
    if (v->type == VGL_T_ARRAY) {
        for (uint32_t i = 0; i < v->n; i++)
            if (v->u.items[i].type != VGL_T_ARRAY)
                add_entity(e, ents, n, type, &v->u.items[i]);
        return;
    }
    char buf[32];
    const char *s;
    size_t len;
    if (!vgl_value_text(v, buf, sizeof(buf), &s, &len) || len == 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(ents[i].type, type) == 0 && strlen(ents[i].value) == len &&
            memcmp(ents[i].value, s, len) == 0)
            return;
    char *copy = vgl_arena_strndup(&e->scratch.arena, s, len);
    if (!copy)
        return;
    ents[*n].type = type;
    ents[*n].value = copy;
    (*n)++;
}

static size_t map_entities(vgl_rules *e, const vgl_rule_def *d, const entity_src *src,
                           vgl_entity *ents)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nentities; i++)
        for (uint32_t p = 0; p < d->entities[i].npaths; p++)
            add_entity(e, ents, &n, d->entities[i].type, src_get(src, d->entities[i].paths[p]));
    return n;
}

/* suppress: true when an alert with these entities went out within the
 * rule's window (by event time) */
static bool suppressed(vgl_rules *e, rule_slot *s, const vgl_entity *ents, size_t n,
                       int64_t t)
{
    if (!s->def->suppress_ms)
        return false;
    vgl_buf b;
    vgl_buf_init(&b, MAX_KEY);
    for (size_t i = 0; i < n; i++)
        vgl_buf_printf(&b, "%s=%s\x1f", ents[i].type, ents[i].value);
    const char *key = b.data ? b.data : "";
    vgl_skey *k = vgl_sstore_find(&s->suppress, key, b.len);
    bool hit = false;
    if (k) {
        int64_t d = t - k->aux;
        hit = d < s->def->suppress_ms && d > -s->def->suppress_ms;
        if (!hit)
            k->aux = k->last_ts = t;
    } else if ((k = vgl_sstore_insert(&s->suppress, key, b.len))) {
        k->aux = k->last_ts = t;
    }
    vgl_buf_free(&b);
    (void)e;
    return hit;
}

/* Build, suppress or emit one alert. evs: the evidence (nev); src: where
 * entities come from; pa: what ctx:alert overrode (or NULL). */
static void emit(vgl_rules *e, rule_slot *s, int64_t t, const vgl_evrec *evs, size_t nev,
                 const entity_src *src, const pending_alert *pa,
                 const vgl_response_req *resp, size_t nresp)
{
    const vgl_rule_def *d = s->def;
    vgl_entity ents[MAX_ENTITIES];
    vgl_evidence evidence[64];
    size_t nents;
    if (pa && pa->nents) {
        nents = pa->nents;
        memcpy(ents, pa->ents, nents * sizeof(*ents));
    } else {
        nents = map_entities(e, d, src, ents);
    }
    size_t max_ev = e->rs->limits.max_evidence;
    if (max_ev > 64)
        max_ev = 64;
    size_t first = nev > max_ev ? nev - max_ev : 0;
    size_t nevidence = 0;
    for (size_t i = first; i < nev; i++) {
        evidence[nevidence].topic = evs[i].topic;
        evidence[nevidence].partition = evs[i].partition;
        evidence[nevidence].offset = evs[i].offset;
        evidence[nevidence].ts_ms = evs[i].ts_ms;
        evidence[nevidence].fields = evs[i].fields;
        nevidence++;
    }
    vgl_alert a;
    memset(&a, 0, sizeof(a));
    a.rule_id = d->id;
    a.title = pa && pa->title ? pa->title : d->title;
    a.description = pa && pa->description ? pa->description : d->description;
    a.severity = pa && pa->severity >= 0 ? (vgl_severity)pa->severity : d->severity;
    a.tactic = d->tactic;
    a.technique = d->technique;
    a.time_ms = t;
    a.entities = ents;
    a.nentities = nents;
    a.evidence = evidence;
    a.nevidence = nevidence;
    a.tags = (const char *const *)d->tags;
    a.ntags = d->ntags;
    a.responses = resp;
    a.nresponses = nresp;
    a.suppress_ms = d->suppress_ms;
    vgl_alert_make_id(&a);
    if (suppressed(e, s, ents, nents, t)) {
        stat_add(&s->c.suppressed, 1);
        e->suppressed++;
        if (e->on_suppressed)
            e->on_suppressed(e->opaque, &a);
    } else {
        stat_add(&s->c.alerts, 1);
        e->alerts++;
        e->on_alert(e->opaque, &a);
    }
}

static void emit_single(vgl_rules *e, rule_slot *s, const vgl_event *ev, int64_t t)
{
    vgl_evrec rec = make_rec(e, s, ev, t);
    entity_src src = {ev, NULL};
    emit(e, s, t, &rec, 1, &src, NULL, NULL, 0);
    vgl_evrec_free(&rec);
    vgl_arena_reset(&e->scratch.arena);
}

/* ========================================================== on_event ctx */

static ctx_ud *check_ctx(lua_State *L)
{
    ctx_ud *c = luaL_checkudata(L, 1, CTX_MT);
    vgl_sandbox *sb = vgl_sandbox_of(L);
    if (!sb->in_call || c->gen != sb->view_gen || !c->e->cur)
        luaL_error(L, "ctx used after its rule call returned");
    return c;
}

static const char *key_arg(lua_State *L, int idx, size_t *len)
{
    int t = lua_type(L, idx);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        luaL_error(L, "ctx:state key must be a string or a number, not a %s",
                   luaL_typename(L, idx));
    return luaL_tolstring(L, idx, len); /* pushed */
}

static int ctx_state(lua_State *L)
{
    ctx_ud *c = check_ctx(L);
    call_ctx *cc = c->e->cur;
    rule_slot *s = cc->slot;
    size_t len;
    const char *key = key_arg(L, 2, &len);
    int keyidx = lua_gettop(L);
    if (len > MAX_KEY)
        return luaL_error(L, "ctx:state key is longer than %d bytes", MAX_KEY);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->states_ref);
    int states = lua_gettop(L);
    vgl_skey *k = vgl_sstore_find(&s->state, key, len);
    if (k && cc->t - k->last_ts >= s->def->state_ttl_ms) {
        lua_pushvalue(L, keyidx);
        lua_pushnil(L);
        lua_rawset(L, states); /* expired: start again */
    }
    if (!k && !(k = vgl_sstore_insert(&s->state, key, len)))
        return luaL_error(L, "out of memory");
    if (cc->t > k->last_ts || k->last_ts == 0)
        k->last_ts = cc->t;
    lua_pushvalue(L, keyidx);
    if (lua_rawget(L, states) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, keyidx);
        lua_pushvalue(L, -2);
        lua_rawset(L, states);
    }
    return 1;
}

static char *opt_field(lua_State *L, int t, const char *key, const char *what)
{
    int type = lua_getfield(L, t, key);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (type != LUA_TSTRING)
        luaL_error(L, "%s.%s must be a string", what, key);
    char *s = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (!s)
        luaL_error(L, "out of memory");
    return s;
}

static void check_table_keys(lua_State *L, int t, const char *const *known, const char *what)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), *k) == 0;
        if (!ok)
            luaL_error(L, "%s: unknown key %s", what, luaL_tolstring(L, -1, NULL));
    }
}

static void free_pending(pending_alert *pa)
{
    free(pa->title);
    free(pa->description);
    free(pa->ents);
    memset(pa, 0, sizeof(*pa));
    pa->severity = -1;
}

static int ctx_alert(lua_State *L)
{
    static const char *const keys[] = {"title", "severity", "description", "entities", NULL};
    ctx_ud *c = check_ctx(L);
    call_ctx *cc = c->e->cur;
    lua_settop(L, 2);
    if (lua_isnoneornil(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    if (cc->nalerts >= MAX_CALL_ALERTS)
        return luaL_error(L, "ctx:alert called more than %d times in one call",
                          MAX_CALL_ALERTS);
    check_table_keys(L, 2, keys, "ctx:alert");
    pending_alert *pa = &cc->alerts[cc->nalerts];
    free_pending(pa);
    cc->nalerts++; /* counted now so an error below still frees it */
    pa->title = opt_field(L, 2, "title", "ctx:alert");
    pa->description = opt_field(L, 2, "description", "ctx:alert");
    if (lua_getfield(L, 2, "severity") != LUA_TNIL) {
        vgl_severity sev;
        if (lua_type(L, -1) != LUA_TSTRING || !vgl_severity_parse(lua_tostring(L, -1), &sev))
            return luaL_error(L, "ctx:alert: unknown severity %s (one of informational, low, "
                                 "medium, high, critical)", luaL_tolstring(L, -1, NULL));
        pa->severity = (int)sev;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "entities") != LUA_TNIL) {
        int t = lua_gettop(L);
        luaL_checktype(L, t, LUA_TTABLE);
        pa->ents = calloc(MAX_ENTITIES, sizeof(vgl_entity));
        if (!pa->ents)
            return luaL_error(L, "out of memory");
        /* types in sorted order, as rule mappings are, for stable ids */
        lua_newtable(L);
        int types = lua_gettop(L);
        lua_Integer ntypes = 0;
        lua_pushnil(L);
        while (lua_next(L, t)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "ctx:alert: entity types must be strings");
            lua_pushvalue(L, -1);
            lua_rawseti(L, types, ++ntypes);
        }
        lua_getglobal(L, "table");
        lua_getfield(L, -1, "sort");
        lua_pushvalue(L, types);
        lua_call(L, 1, 0);
        lua_pop(L, 1);
        for (lua_Integer i = 1; i <= ntypes; i++) {
            lua_rawgeti(L, types, i);
            const char *type = lua_tostring(L, -1);
            int vt = lua_gettable(L, t);
            lua_Integer nv = vt == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 1;
            for (lua_Integer j = 1; j <= nv && pa->nents < MAX_ENTITIES; j++) {
                if (vt == LUA_TTABLE)
                    lua_rawgeti(L, -1, j);
                else
                    lua_pushvalue(L, -1);
                int it = lua_type(L, -1);
                if (it != LUA_TSTRING && it != LUA_TNUMBER)
                    return luaL_error(L, "ctx:alert: entity %s must be a string or a list of "
                                         "strings", type);
                size_t len;
                const char *v = lua_tolstring(L, -1, &len);
                bool dup = false;
                for (size_t q = 0; q < pa->nents && !dup; q++)
                    dup = strcmp(pa->ents[q].type, type) == 0 &&
                          strlen(pa->ents[q].value) == len && memcmp(pa->ents[q].value, v, len) == 0;
                if (dup) {
                    lua_pop(L, 1);
                    continue;
                }
                char *tcopy = vgl_arena_strndup(&c->e->scratch.arena, type, strlen(type));
                char *vcopy = vgl_arena_strndup(&c->e->scratch.arena, v, len);
                if (!tcopy || !vcopy)
                    return luaL_error(L, "out of memory");
                pa->ents[pa->nents].type = tcopy;
                pa->ents[pa->nents].value = vcopy;
                pa->nents++;
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    return 0;
}

static int ctx_respond(lua_State *L)
{
    static const char *const keys[] = {"action", "target", NULL};
    ctx_ud *c = check_ctx(L);
    call_ctx *cc = c->e->cur;
    luaL_checktype(L, 2, LUA_TTABLE);
    if (cc->nresponses >= MAX_CALL_RESPONSES)
        return luaL_error(L, "ctx:respond called more than %d times in one call",
                          MAX_CALL_RESPONSES);
    check_table_keys(L, 2, keys, "ctx:respond");
    const char *field[2] = {"action", "target"};
    char *val[2];
    for (int i = 0; i < 2; i++) {
        if (lua_getfield(L, 2, field[i]) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
            return luaL_error(L, "ctx:respond: %s must be a non-empty string", field[i]);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        val[i] = vgl_arena_strndup(&c->e->scratch.arena, s, len);
        if (!val[i])
            return luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    cc->responses[cc->nresponses].action = val[0];
    cc->responses[cc->nresponses].target = val[1];
    cc->nresponses++;
    return 0;
}

static int ctx_index(lua_State *L)
{
    ctx_ud *c = check_ctx(L);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "state") == 0)
        lua_pushcfunction(L, ctx_state);
    else if (strcmp(k, "alert") == 0)
        lua_pushcfunction(L, ctx_alert);
    else if (strcmp(k, "respond") == 0)
        lua_pushcfunction(L, ctx_respond);
    else if (strcmp(k, "time") == 0)
        lua_pushinteger(L, (lua_Integer)c->e->cur->t);
    else if (strcmp(k, "rule_id") == 0)
        lua_pushstring(L, c->e->cur->slot->def->id);
    else
        lua_pushnil(L);
    return 1;
}

static int ctx_newindex(lua_State *L)
{
    return luaL_error(L, "ctx is read-only");
}

static void install_ctx(lua_State *L)
{
    luaL_newmetatable(L, CTX_MT);
    lua_pushcfunction(L, ctx_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ctx_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "vigil.ctx");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

static void run_on_event(vgl_rules *e, rule_slot *s, const vgl_event *ev, int64_t t)
{
    call_ctx cc;
    memset(&cc, 0, sizeof(cc));
    cc.slot = s;
    cc.ev = ev;
    cc.t = t;
    for (size_t i = 0; i < MAX_CALL_ALERTS; i++)
        cc.alerts[i].severity = -1;
    e->cur = &cc;
    bool ignored;
    bool ok = call_rule(e, s, s->refs.on_event, ev, true, &ignored);
    e->cur = NULL;
    if (ok) {
        /* each alert of the call carries every response of the call */
        entity_src src = {ev, NULL};
        for (size_t i = 0; i < cc.nalerts; i++) {
            vgl_evrec rec = make_rec(e, s, ev, t);
            emit(e, s, t, &rec, 1, &src, &cc.alerts[i], cc.responses, cc.nresponses);
            vgl_evrec_free(&rec);
        }
    }
    vgl_arena_reset(&e->scratch.arena);
    for (size_t i = 0; i < cc.nalerts; i++)
        free_pending(&cc.alerts[i]);
}

/* ======================================================= stateful forms */

static void drop_state(void *ctx, vgl_skey *k)
{
    rule_slot *s = ctx;
    vgl_rules *e = s->eng;
    switch (s->def->kind) {
    case VGL_RULE_THRESHOLD: vgl_threshold_free(k->data); break;
    case VGL_RULE_SEQUENCE: vgl_sequence_free(k->data, s->def->nsteps); break;
    case VGL_RULE_ABSENCE:
        vgl_dheap_remove(&e->deadlines, k);
        if (k->data) {
            vgl_evrec_free(&((vgl_absence_state *)k->data)->ev);
            free(k->data);
        }
        break;
    case VGL_RULE_ON_EVENT:
        if (e->sb && (e->sb->in_call || e->lua_drops)) {
            /* in a protected context: the cap is lifted so dropping a
             * key cannot fail on it */
            lua_State *L = e->sb->L;
            size_t limit = e->sb->mem_limit;
            e->sb->mem_limit = 0;
            if (lua_checkstack(L, 4)) {
                lua_rawgeti(L, LUA_REGISTRYINDEX, s->states_ref);
                lua_pushlstring(L, k->key, k->klen);
                lua_pushnil(L);
                lua_rawset(L, -3);
                lua_pop(L, 1);
            }
            e->sb->mem_limit = limit;
        }
        break;
    default: break;
    }
    k->data = NULL;
}

static vgl_skey *state_entry(vgl_rules *e, rule_slot *s, const vgl_event *ev, bool create)
{
    if (!state_key(s, ev, &e->keybuf))
        return NULL;
    const char *key = e->keybuf.data ? e->keybuf.data : "";
    vgl_skey *k = vgl_sstore_find(&s->state, key, e->keybuf.len);
    if (!k && create)
        k = vgl_sstore_insert(&s->state, key, e->keybuf.len);
    return k;
}

static void run_threshold(vgl_rules *e, rule_slot *s, const vgl_event *ev, int64_t t)
{
    const vgl_rule_def *d = s->def;
    const char *dval = NULL;
    size_t dlen = 0;
    if (d->distinct) {
        vgl_buf_reset(&e->dvalbuf);
        if (!append_key_text(&e->dvalbuf, vgl_event_get(ev, d->distinct)) || e->dvalbuf.failed)
            return; /* no value to count */
        dval = e->dvalbuf.data;
        dlen = e->dvalbuf.len;
    }
    vgl_skey *k = state_entry(e, s, ev, false);
    if (!k) {
        if (!(k = state_entry(e, s, ev, true)))
            return;
    }
    if (!k->data && !(k->data = calloc(1, sizeof(vgl_threshold_state))))
        return;
    if (t > k->last_ts || k->last_ts == 0)
        k->last_ts = t;
    vgl_evrec rec = make_rec(e, s, ev, t);
    size_t n = 0;
    if (vgl_threshold_add(k->data, d->count, d->window_ms, max_evidence(e), t, &rec, dval, dlen,
                          e->evbuf, &n)) {
        entity_src src = {ev, NULL};
        emit(e, s, t, e->evbuf, n, &src, NULL, NULL, 0);
        for (size_t i = 0; i < n; i++)
            vgl_evrec_free(&e->evbuf[i]);
        vgl_arena_reset(&e->scratch.arena);
    }
}

static void run_sequence(vgl_rules *e, rule_slot *s, const vgl_event *ev, int64_t t)
{
    const vgl_rule_def *d = s->def;
    vgl_skey *k = state_entry(e, s, ev, false);
    if (!k && e->keybuf.failed)
        return;
    vgl_sequence_state *st = k ? k->data : NULL;
    if (st && st->step > 0 && t - st->start_ts >= d->within_ms) {
        for (uint32_t i = 0; i < st->step; i++)
            vgl_evrec_free(&st->ev[i]);
        st->step = 0; /* too late to complete: start over */
    }
    uint32_t cur = st ? st->step : 0;
    bool failed = false;
    if (!part_matches(e, s, &d->steps[cur].where, s->refs.steps[cur], ev, &failed)) {
        /* Waiting after the first step only: a newer first-step event
         * restarts the sequence. It has the same progress and more time
         * left, so this never loses a match (logon at 0s, logon at 50s,
         * task at 70s with within = 60s completes from the second logon). */
        if (cur != 1 || failed ||
            !part_matches(e, s, &d->steps[0].where, s->refs.steps[0], ev, &failed))
            return;
        vgl_evrec_free(&st->ev[0]);
        st->step = 0;
        cur = 0;
    }
    if (!k && !(k = state_entry(e, s, ev, true)))
        return;
    if (!k->data) {
        st = calloc(1, sizeof(*st));
        if (st && !(st->ev = calloc(d->nsteps, sizeof(vgl_evrec)))) {
            free(st);
            st = NULL;
        }
        if (!st)
            return;
        k->data = st;
    }
    st = k->data;
    if (cur == 0)
        st->start_ts = t;
    st->ev[cur] = make_rec(e, s, ev, t);
    st->step = cur + 1;
    if (t > k->last_ts || k->last_ts == 0)
        k->last_ts = t;
    if (st->step < d->nsteps)
        return;
    entity_src src = {ev, NULL};
    emit(e, s, t, st->ev, d->nsteps, &src, NULL, NULL, 0);
    vgl_arena_reset(&e->scratch.arena);
    vgl_sstore_remove(&s->state, k);
}

static void run_absence(vgl_rules *e, rule_slot *s, const vgl_event *ev, int64_t t)
{
    const vgl_rule_def *d = s->def;
    vgl_skey *k = state_entry(e, s, ev, false);
    if (!k && e->keybuf.failed)
        return;
    vgl_absence_state *st = k ? k->data : NULL;
    bool failed = false;
    if (st && st->pending && t >= st->after_ts && t < st->deadline) {
        if (part_matches(e, s, &d->steps[1].where, s->refs.steps[1], ev, &failed)) {
            vgl_sstore_remove(&s->state, k); /* followed in time: nothing to report */
            k = NULL;
            st = NULL;
        }
        if (failed)
            return;
    }
    if (st && st->pending)
        return; /* the first `after` of a key is the one that counts */
    if (!part_matches(e, s, &d->steps[0].where, s->refs.steps[0], ev, &failed))
        return;
    if (!k && !(k = state_entry(e, s, ev, true)))
        return;
    if (!k->data && !(k->data = calloc(1, sizeof(vgl_absence_state))))
        return;
    st = k->data;
    st->pending = true;
    st->after_ts = t;
    st->deadline = t + d->within_ms;
    st->ev = make_rec(e, s, ev, t);
    k->last_ts = t;
    vgl_dheap_push(&e->deadlines, st->deadline, s->index, k);
}

/* Absence rules whose deadline the watermark passed. */
static void fire_due(vgl_rules *e)
{
    const vgl_deadline *d;
    while (e->watermark != INT64_MIN && (d = vgl_dheap_top(&e->deadlines)) &&
           d->at <= e->watermark) {
        rule_slot *s = &e->slots[d->rule];
        vgl_skey *k = d->key;
        vgl_absence_state *st = k->data;
        vgl_dheap_remove(&e->deadlines, k);
        if (!s->disabled && st) {
            int64_t t0 = vgl_mono_ns();
            entity_src src = {NULL, st->ev.fields};
            emit(e, s, st->after_ts, &st->ev, 1, &src, NULL, NULL, 0);
            vgl_arena_reset(&e->scratch.arena);
            stat_add(&s->c.time_ns, (uint64_t)(vgl_mono_ns() - t0));
        }
        vgl_sstore_remove(&s->state, k);
    }
}

/* ========================================================== expiry */

static int64_t state_horizon(const vgl_rule_def *d)
{
    switch (d->kind) {
    case VGL_RULE_THRESHOLD: return d->window_ms;
    case VGL_RULE_SEQUENCE: return d->within_ms;
    case VGL_RULE_ON_EVENT: return d->state_ttl_ms;
    default: return 0; /* absence keys leave when they fire or are answered */
    }
}

static void sweep_keys(vgl_rules *e, rule_slot *s, size_t max)
{
    int64_t h = state_horizon(s->def);
    vgl_skey *k;
    if (h > 0)
        while (max && (k = s->state.oldest) && k->last_ts <= e->watermark - h) {
            vgl_sstore_remove(&s->state, k);
            max--;
        }
    if (s->def->suppress_ms)
        while (max && (k = s->suppress.oldest) && k->aux <= e->watermark - s->def->suppress_ms) {
            vgl_sstore_remove(&s->suppress, k);
            max--;
        }
}

static int protected_sweep(lua_State *L)
{
    rule_slot *s = lua_touserdata(L, 1);
    sweep_keys(s->eng, s, (size_t)lua_tointeger(L, 2));
    return 0;
}

/* Drop keys idle past their window (from the least recently used end). */
static void sweep(vgl_rules *e, rule_slot *s, size_t max)
{
    if (e->watermark == INT64_MIN || e->watermark < INT64_MIN / 2)
        return;
    if (s->def->kind != VGL_RULE_ON_EVENT) {
        sweep_keys(e, s, max);
        return;
    }
    lua_State *L = e->sb->L;
    if (!lua_checkstack(L, 4))
        return;
    e->lua_drops = true;
    lua_pushcfunction(L, protected_sweep);
    lua_pushlightuserdata(L, s);
    lua_pushinteger(L, (lua_Integer)max);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        lua_pop(L, 1);
    e->lua_drops = false;
}

/* ========================================================== dispatch */

static void run_rule(vgl_rules *e, rule_slot *s, const vgl_event *ev, int64_t t, bool late)
{
    const vgl_rule_def *d = s->def;
    if (s->disabled)
        return;
    stat_add(&s->c.evaluations, 1);
    e->candidates++;
    if (late && d->kind != VGL_RULE_MATCH)
        return; /* stateful rules see events in their windows only */
    if (!vgl_prefilter_match(&d->where, ev, e->re))
        return;
    int64_t t0 = vgl_mono_ns();
    bool ok = true;
    if (s->refs.match != LUA_NOREF && (!call_rule(e, s, s->refs.match, ev, false, &ok) || !ok))
        goto done;
    if (d->kind != VGL_RULE_SEQUENCE && d->kind != VGL_RULE_ABSENCE)
        stat_add(&s->c.matches, 1);
    switch (d->kind) {
    case VGL_RULE_MATCH: emit_single(e, s, ev, t); break;
    case VGL_RULE_THRESHOLD: run_threshold(e, s, ev, t); break;
    case VGL_RULE_SEQUENCE: run_sequence(e, s, ev, t); break;
    case VGL_RULE_ABSENCE: run_absence(e, s, ev, t); break;
    case VGL_RULE_ON_EVENT: run_on_event(e, s, ev, t); break;
    }
    if (d->kind != VGL_RULE_MATCH)
        sweep(e, s, 2);
done:
    stat_add(&s->c.time_ns, (uint64_t)(vgl_mono_ns() - t0));
}

vgl_rc vgl_rules_process(vgl_rules *e, const vgl_event *ev)
{
    int64_t t = event_time(ev);
    e->events++;
    bool late = e->watermark != INT64_MIN && t < e->watermark;
    if (late) {
        e->late++;
    } else if (e->max_ts == INT64_MIN || t > e->max_ts) {
        e->max_ts = t;
        int64_t wm = t - e->rs->limits.allowed_lateness_ms;
        if (wm > e->watermark)
            e->watermark = wm;
    }
    if (ev->meta.received_ms > e->last_received)
        e->last_received = ev->meta.received_ms;
    size_t n = gather(e, ev);
    for (size_t i = 0; i < n; i++)
        run_rule(e, &e->slots[e->cand[i]], ev, t, late);
    fire_due(e);
    return VGL_OK;
}

static void sweep_all(vgl_rules *e)
{
    for (size_t i = 0; i < e->nslots; i++)
        sweep(e, &e->slots[i], 4096);
}

void vgl_rules_advance(vgl_rules *e, int64_t watermark_ms)
{
    if (watermark_ms > e->watermark)
        e->watermark = watermark_ms;
    fire_due(e);
    sweep_all(e);
}

void vgl_rules_tick(vgl_rules *e, int64_t now_ms)
{
    int64_t lateness = e->rs->limits.allowed_lateness_ms;
    if (e->max_ts != INT64_MIN && e->last_received > 0) {
        int64_t idle = now_ms - e->last_received;
        if (idle >= lateness && idle > 0) {
            int64_t wm = e->max_ts + idle - lateness;
            if (wm > e->watermark)
                e->watermark = wm;
        }
    }
    fire_due(e);
    sweep_all(e);
}

/* ========================================================= engine life */

typedef struct bind_args {
    vgl_rules *c;
    vgl_rule_refs *refs;
    char *err;
    size_t errlen;
    bool ok;
} bind_args;

static int protected_setup(lua_State *L)
{
    bind_args *a = lua_touserdata(L, 1);
    install_ctx(L);
    a->ok = vgl_loader_bind(a->c->sb, a->c->rs, a->refs, a->err, a->errlen);
    for (size_t i = 0; a->ok && i < a->c->nslots; i++) {
        if (a->c->slots[i].def->kind == VGL_RULE_ON_EVENT) {
            lua_newtable(L);
            a->c->slots[i].states_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        }
    }
    return 0;
}

static void core_free(vgl_rules *c)
{
    for (size_t i = 0; c->slots && i < c->nslots; i++) {
        vgl_sstore_free(&c->slots[i].state);
        vgl_sstore_free(&c->slots[i].suppress);
        free(c->slots[i].refs.steps);
    }
    free(c->slots);
    if (c->re) {
        for (size_t i = 0; i < c->rs->patterns.n; i++)
            regfree(&c->re[i]);
        free(c->re);
    }
    vgl_sandbox_free(c->sb);
    free(c->cand);
    vgl_ruleset_free(c->rs);
    c->slots = NULL;
    c->re = NULL;
    c->sb = NULL;
    c->cand = NULL;
    c->rs = NULL;
    c->nslots = 0;
}

/* Build the per-worker parts for rs into c; slots point at owner. */
static bool core_build(vgl_rules *c, vgl_rules *owner, vgl_ruleset *rs, char *err,
                       size_t errlen)
{
    const vgl_limits_cfg *lim = &rs->limits;
    atomic_fetch_add(&rs->refs, 1);
    c->rs = rs;
    c->nslots = rs->nrules;
    c->slots = calloc(rs->nrules + 1, sizeof(rule_slot));
    c->cand = calloc(rs->nrules + 1, sizeof(uint32_t));
    c->re = calloc(rs->patterns.n + 1, sizeof(regex_t));
    vgl_rule_refs *refs = calloc(rs->nrules + 1, sizeof(vgl_rule_refs));
    if (!c->slots || !c->cand || !c->re || !refs) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!vgl_pf_patterns_compile(&rs->patterns, c->re)) {
        free(c->re);
        c->re = NULL;
        snprintf(err, errlen, "cannot compile the rules' regular expressions");
        goto fail;
    }
    for (size_t i = 0; i < rs->nrules; i++) {
        rule_slot *s = &c->slots[i];
        s->def = &rs->rules[i];
        s->eng = owner;
        s->index = (uint32_t)i;
        s->states_ref = LUA_NOREF;
        s->refs.match = s->refs.on_event = LUA_NOREF;
        refs[i].steps = calloc(s->def->nsteps + 1, sizeof(int));
        if (!refs[i].steps) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        vgl_sstore_init(&s->state, lim->max_keys_per_rule, drop_state, s);
        vgl_sstore_init(&s->suppress, lim->max_keys_per_rule, NULL, s);
    }
    c->sb = vgl_sandbox_new(lim->lua_memory, lim->lua_instructions, err, errlen);
    if (!c->sb)
        goto fail;
    bind_args a = {c, refs, err, errlen, false};
    if (!lua_checkstack(c->sb->L, 4)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    lua_pushcfunction(c->sb->L, protected_setup);
    lua_pushlightuserdata(c->sb->L, &a);
    char msg[1024];
    vgl_call_result res = vgl_sandbox_call(c->sb, NULL, 1, 0, msg, sizeof(msg));
    if (res != VGL_CALL_OK && a.ok) {
        snprintf(err, errlen, "cannot bind the rules' functions: %s",
                 res == VGL_CALL_BUDGET   ? "instruction budget exceeded"
                 : res == VGL_CALL_MEMORY ? "limits.lua_memory exceeded"
                                          : msg);
        goto fail;
    }
    if (!a.ok)
        goto fail;
    for (size_t i = 0; i < rs->nrules; i++)
        c->slots[i].refs = refs[i];
    free(refs);
    return true;
fail:
    for (size_t i = 0; refs && i < rs->nrules; i++)
        free(refs[i].steps);
    free(refs);
    core_free(c);
    return false;
}

vgl_rules *vgl_rules_new(vgl_ruleset *rs, int worker_id, vgl_alert_fn on_alert,
                         vgl_alert_fn on_suppressed, void *opaque, char *err, size_t errlen)
{
    if (!rs || !on_alert) {
        snprintf(err, errlen, "a ruleset and an alert callback are required");
        return NULL;
    }
    vgl_rules *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->worker_id = worker_id;
    e->on_alert = on_alert;
    e->on_suppressed = on_suppressed;
    e->opaque = opaque;
    e->max_ts = e->watermark = INT64_MIN;
    vgl_event_init(&e->scratch, 0);
    vgl_buf_init(&e->keybuf, MAX_KEY + 1);
    vgl_buf_init(&e->dvalbuf, MAX_KEY + 1);
    if (!core_build(e, e, rs, err, errlen)) {
        vgl_event_destroy(&e->scratch);
        vgl_buf_free(&e->keybuf);
        vgl_buf_free(&e->dvalbuf);
        free(e);
        return NULL;
    }
    return e;
}

void vgl_rules_free(vgl_rules *e)
{
    if (!e)
        return;
    e->lua_drops = false; /* the Lua state goes as a whole */
    core_free(e);
    vgl_dheap_free(&e->deadlines);
    while (e->topics) {
        topic_name *n = e->topics->next;
        free(e->topics);
        e->topics = n;
    }
    vgl_event_destroy(&e->scratch);
    vgl_buf_free(&e->keybuf);
    vgl_buf_free(&e->dvalbuf);
    free(e);
}

/* ============================================================== reload */

/* Copy the value at idx of `from` onto `to` (plain data only: functions
 * and userdata become nil). Runs protected on `to`. */
static void copy_value(lua_State *from, int idx, lua_State *to, int depth)
{
    idx = lua_absindex(from, idx);
    switch (lua_type(from, idx)) {
    case LUA_TBOOLEAN: lua_pushboolean(to, lua_toboolean(from, idx)); return;
    case LUA_TNUMBER:
        if (lua_isinteger(from, idx))
            lua_pushinteger(to, lua_tointeger(from, idx));
        else
            lua_pushnumber(to, lua_tonumber(from, idx));
        return;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(from, idx, &len);
        lua_pushlstring(to, s, len);
        return;
    }
    case LUA_TTABLE:
        if (depth < COPY_DEPTH && lua_checkstack(from, 4) && lua_checkstack(to, 4)) {
            lua_newtable(to);
            lua_pushnil(from);
            while (lua_next(from, idx)) {
                int kt = lua_type(from, -2);
                if (kt == LUA_TSTRING || kt == LUA_TNUMBER || kt == LUA_TBOOLEAN) {
                    copy_value(from, -2, to, depth + 1);
                    copy_value(from, -1, to, depth + 1);
                    if (lua_isnil(to, -2) || lua_isnil(to, -1))
                        lua_pop(to, 2);
                    else
                        lua_rawset(to, -3);
                }
                lua_pop(from, 1);
            }
            return;
        }
        lua_pushnil(to);
        return;
    default: lua_pushnil(to); return;
    }
}

typedef struct copy_args {
    lua_State *from;
    int from_ref, to_ref;
} copy_args;

static int protected_copy(lua_State *L)
{
    copy_args *a = lua_touserdata(L, 1);
    if (!lua_checkstack(a->from, 4))
        return 0;
    lua_rawgeti(a->from, LUA_REGISTRYINDEX, a->from_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->to_ref);
    lua_pop(L, 1);
    copy_value(a->from, -1, L, 0);
    lua_rawseti(L, LUA_REGISTRYINDEX, a->to_ref);
    lua_pop(a->from, 1);
    return 0;
}

static rule_slot *find_slot(vgl_rules *c, const char *id)
{
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].def && strcmp(c->slots[i].def->id, id) == 0)
            return &c->slots[i];
    return NULL;
}

static void move_store(vgl_sstore *dst, vgl_sstore *src, rule_slot *owner)
{
    vgl_sstore_free(dst);
    uint32_t max = dst->max_keys;
    *dst = *src;
    dst->ctx = owner;
    memset(src, 0, sizeof(*src));
    /* the new limit applies from now on */
    dst->max_keys = max;
    while (dst->n > dst->max_keys && dst->oldest) {
        vgl_sstore_remove(dst, dst->oldest);
        dst->evictions++;
    }
}

vgl_rc vgl_rules_swap(vgl_rules *e, vgl_ruleset *rs, char *err, size_t errlen)
{
    vgl_rules n;
    memset(&n, 0, sizeof(n));
    if (!rs || !core_build(&n, e, rs, err, errlen))
        return rs ? VGL_ERR_NOMEM : VGL_ERR_INVALID;
    /* deadlines of carried-over absence rules, in firing order */
    vgl_dheap heap = {0};
    vgl_deadline *old = NULL;
    uint32_t nold = e->deadlines.n;
    if (nold && (old = malloc(nold * sizeof(*old))))
        memcpy(old, e->deadlines.d, nold * sizeof(*old));
    for (uint32_t i = 0; i < nold; i++)
        e->deadlines.d[i].key->heap_pos = UINT32_MAX;
    e->deadlines.n = 0;
    uint32_t *remap = calloc(e->nslots + 1, sizeof(uint32_t));
    for (size_t i = 0; i < n.nslots; i++) {
        rule_slot *ns = &n.slots[i];
        rule_slot *os = find_slot(e, ns->def->id);
        if (!os)
            continue;
        ns->c = os->c;
        ns->evictions_base = os->evictions_base + os->state.evictions;
        if (os->def->suppress_ms == ns->def->suppress_ms)
            move_store(&ns->suppress, &os->suppress, ns);
        if (os->def->kind != ns->def->kind || os->def->fingerprint != ns->def->fingerprint)
            continue;
        if (ns->def->kind == VGL_RULE_ON_EVENT) {
            copy_args a = {e->sb->L, os->states_ref, ns->states_ref};
            lua_pushcfunction(n.sb->L, protected_copy);
            lua_pushlightuserdata(n.sb->L, &a);
            if (lua_pcall(n.sb->L, 1, 0, 0) != LUA_OK) {
                lua_pop(n.sb->L, 1);
                continue;
            }
        }
        move_store(&ns->state, &os->state, ns);
        if (remap)
            remap[os->index] = (uint32_t)i + 1;
    }
    if (old) {
        for (uint32_t i = 1; i < nold; i++) { /* insertion sort by (at, seq) */
            vgl_deadline d = old[i];
            uint32_t j = i;
            while (j > 0 && (old[j - 1].at > d.at || (old[j - 1].at == d.at && old[j - 1].seq > d.seq))) {
                old[j] = old[j - 1];
                j--;
            }
            old[j] = d;
        }
        for (uint32_t i = 0; i < nold; i++)
            if (remap && remap[old[i].rule])
                vgl_dheap_push(&heap, old[i].at, remap[old[i].rule] - 1, old[i].key);
    }
    free(old);
    free(remap);
    /* what was not carried over goes with the old state */
    e->lua_drops = false;
    core_free(e);
    vgl_dheap_free(&e->deadlines);
    e->deadlines = heap;
    e->rs = n.rs;
    e->sb = n.sb;
    e->re = n.re;
    e->slots = n.slots;
    e->nslots = n.nslots;
    e->cand = n.cand;
    e->stamp = 0;
    for (size_t i = 0; i < e->nslots; i++)
        e->slots[i].stamp = 0;
    return VGL_OK;
}

/* =============================================================== stats */

size_t vgl_rules_count(const vgl_rules *e)
{
    return e->nslots;
}

void vgl_rules_rule_stats(const vgl_rules *e, size_t i, vgl_rule_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= e->nslots)
        return;
    const rule_slot *s = &e->slots[i];
    out->rule_id = s->def->id;
    out->evaluations = stat_get(&s->c.evaluations);
    out->matches = stat_get(&s->c.matches);
    out->alerts = stat_get(&s->c.alerts);
    out->suppressed = stat_get(&s->c.suppressed);
    out->errors = stat_get(&s->c.errors);
    out->time_ns = stat_get(&s->c.time_ns);
    out->state_keys = __atomic_load_n(&s->state.n, __ATOMIC_RELAXED);
    out->evictions = s->evictions_base + __atomic_load_n(&s->state.evictions, __ATOMIC_RELAXED);
    out->disabled = __atomic_load_n(&s->disabled, __ATOMIC_RELAXED);
}

void vgl_rules_stats(const vgl_rules *e, vgl_engine_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->events = e->events;
    out->late = e->late;
    out->candidates = e->candidates;
    out->alerts = e->alerts;
    out->suppressed = e->suppressed;
    out->errors = e->errors;
    out->watermark_ms = e->watermark;
    out->lua_memory = e->sb ? e->sb->mem_used : 0;
}
