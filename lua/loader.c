/*
 * Rule loading: finds rule files, runs them in a loader sandbox, validates
 * every vigil.rule{} table (errors as "FILE:LINE: message", the line being
 * where vigil.rule was called) and compiles it into a vgl_rule_def. Also
 * re-runs the files in a worker's sandbox to bind each rule's Lua
 * functions (vgl_loader_bind).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "engine.h"
#include "rule.h"

#define MAX_STEPS 32
#define MAX_COUNT 100000
#define MAX_BY 8
#define MAX_RULE_FILE (16u << 20)

/* ------------------------------------------------------------ messages */

typedef struct loadctx {
    vgl_ruleset *rs;
    vgl_diag *diag;
    vgl_sandbox *sb;
    const vgl_rule_file *file;
    uint32_t file_index;
    int line;
    const char *id;
    size_t errors;
} loadctx;

static void file_err(loadctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void file_err(loadctx *c, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vgl_diag_add(c->diag, "%s:%d: %s", c->file->path, line, msg);
    c->errors++;
}

/* "FILE:LINE: rule ID: message" */
static bool rule_err(loadctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool rule_err(loadctx *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vgl_diag_add(c->diag, "%s:%d: rule %s: %s", c->file->path, c->line, c->id, msg);
    c->errors++;
    return false;
}

/* Lua names a file "...tail" past LUA_IDSIZE characters; put the full
 * path back at the start of a message. */
void vgl_loader_fix_msg(const char *path, const char *msg, int line, char *out, size_t outlen)
{
    size_t plen = strlen(path);
    char shortsrc[LUA_IDSIZE + 4];
    if (plen + 1 <= LUA_IDSIZE)
        snprintf(shortsrc, sizeof(shortsrc), "%s", path);
    else
        snprintf(shortsrc, sizeof(shortsrc), "...%s", path + plen - (LUA_IDSIZE - 4));
    size_t slen = strlen(shortsrc);
    if (strncmp(msg, shortsrc, slen) == 0 && msg[slen] == ':')
        snprintf(out, outlen, "%s%s", path, msg + slen);
    else if (line < 0)
        snprintf(out, outlen, "%s", msg);
    else
        snprintf(out, outlen, "%s:%d: %s", path, line > 0 ? line : 1, msg);
}

/* ----------------------------------------------------------- durations */

bool vgl_rule_parse_duration(const char *s, int64_t *ms)
{
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    int64_t n = 0;
    while (*p >= '0' && *p <= '9') {
        if (n > INT64_MAX / 10 / 86400000)
            return false;
        n = n * 10 + (*p++ - '0');
    }
    int64_t unit;
    if (strcmp(p, "ms") == 0)
        unit = 1;
    else if (strcmp(p, "s") == 0 || *p == '\0')
        unit = 1000;
    else if (strcmp(p, "m") == 0)
        unit = 60000;
    else if (strcmp(p, "h") == 0)
        unit = 3600000;
    else if (strcmp(p, "d") == 0)
        unit = 86400000;
    else
        return false;
    *ms = n * unit;
    return *ms > 0;
}

/* Duration at stack index idx: a string ("10m") or seconds (a number). */
static bool duration_at(loadctx *c, int idx, const char *what, int64_t *ms)
{
    lua_State *L = c->sb->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double d = lua_tonumber(L, idx);
        if (isfinite(d) && d > 0 && d < 1e12) {
            *ms = (int64_t)llround(d * 1000.0);
            if (*ms > 0)
                return true;
        }
        return rule_err(c, "%s: bad duration %s (use e.g. 500ms, 30s, 10m, 1h, 7d)", what,
                        lua_tostring(L, idx));
    }
    if (lua_type(L, idx) == LUA_TSTRING && vgl_rule_parse_duration(lua_tostring(L, idx), ms))
        return true;
    return rule_err(c, "%s: bad duration \"%s\" (use e.g. 500ms, 30s, 10m, 1h, 7d)", what,
                    lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx)
                                                    : luaL_typename(L, idx));
}

/* ------------------------------------------------------- did you mean */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1; /* transposition */
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* Report keys of the table at idx that are not in known[]. */
static bool check_keys(loadctx *c, int idx, const char *const *known, const char *where)
{
    lua_State *L = c->sb->L;
    bool ok = true;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            ok = rule_err(c, "%s%skeys must be names, not a %s", where, *where ? ": " : "",
                          luaL_typename(L, -1));
            continue;
        }
        const char *key = lua_tostring(L, -1);
        const char *best = NULL;
        size_t bestd = 3;
        bool found = false;
        for (const char *const *k = known; *k; k++) {
            if (strcmp(key, *k) == 0) {
                found = true;
                break;
            }
            size_t d = edit_distance(key, *k);
            if (d < bestd && d < strlen(*k)) {
                bestd = d;
                best = *k;
            }
        }
        if (found)
            continue;
        if (best)
            ok = rule_err(c, "%s%sunknown key \"%s\" (did you mean \"%s\"?)", where,
                          *where ? ": " : "", key, best);
        else
            ok = rule_err(c, "%s%sunknown key \"%s\"", where, *where ? ": " : "", key);
    }
    return ok;
}

/* ------------------------------------------------------------ fields */

static bool opt_string(loadctx *c, int t, const char *key, char **out, bool required)
{
    lua_State *L = c->sb->L;
    int type = lua_getfield(L, t, key);
    bool ok = true;
    if (type == LUA_TNIL) {
        if (required)
            ok = rule_err(c, "missing %s", key);
    } else if (type != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
        ok = rule_err(c, "%s must be a non-empty string", key);
    } else if (!(*out = strdup(lua_tostring(L, -1)))) {
        ok = rule_err(c, "out of memory");
    }
    lua_pop(L, 1);
    return ok;
}

/* A field name or a list of them at idx into a new array. */
static bool paths_at(loadctx *c, int idx, const char *what, const vgl_path ***out,
                     uint32_t *n, uint32_t max)
{
    lua_State *L = c->sb->L;
    idx = lua_absindex(L, idx);
    lua_Integer len = 1;
    if (lua_type(L, idx) == LUA_TTABLE)
        len = luaL_len(L, idx);
    else if (lua_type(L, idx) != LUA_TSTRING)
        len = 0;
    if (len <= 0 || (uint64_t)len > max)
        return rule_err(c, "%s must be a field name or a list of up to %u field names", what,
                        max);
    *out = calloc((size_t)len, sizeof(vgl_path *));
    if (!*out)
        return rule_err(c, "out of memory");
    *n = 0;
    for (lua_Integer i = 1; i <= len; i++) {
        if (lua_type(L, idx) == LUA_TTABLE)
            lua_rawgeti(L, idx, i);
        else
            lua_pushvalue(L, idx);
        const vgl_path *p =
            lua_type(L, -1) == LUA_TSTRING ? vgl_path_intern(lua_tostring(L, -1)) : NULL;
        if (!p) {
            bool isstr = lua_type(L, -1) == LUA_TSTRING;
            char name[200];
            snprintf(name, sizeof(name), "%s", isstr ? lua_tostring(L, -1) : "");
            lua_pop(L, 1);
            if (isstr)
                return rule_err(c, "%s: invalid field name \"%s\"", what, name);
            return rule_err(c, "%s must be a field name or a list of up to %u field names",
                            what, max);
        }
        lua_pop(L, 1);
        (*out)[(*n)++] = p;
    }
    return true;
}

static bool compile_where(loadctx *c, int idx, vgl_prefilter *pf, const char *prefix)
{
    char err[600];
    if (vgl_prefilter_compile(c->sb->L, idx, pf, &c->rs->patterns, err, sizeof(err)))
        return true;
    return rule_err(c, "%s%s", prefix, err);
}

/* {where=..., match=...}: a sequence step or an absence part */
static bool compile_step(loadctx *c, int idx, vgl_rule_step *st, const char *what)
{
    static const char *const keys[] = {"where", "match", NULL};
    lua_State *L = c->sb->L;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        return rule_err(c, "%s must be a table {where = ..., match = ...}", what);
    bool ok = check_keys(c, idx, keys, what);
    int mt = lua_getfield(L, idx, "match");
    lua_pop(L, 1);
    if (mt != LUA_TNIL && mt != LUA_TFUNCTION)
        ok = rule_err(c, "%s.match must be a function", what);
    st->has_match = mt == LUA_TFUNCTION;
    int wt = lua_getfield(L, idx, "where");
    char prefix[80];
    snprintf(prefix, sizeof(prefix), "%s.", what);
    if (wt != LUA_TNIL && !compile_where(c, -1, &st->where, prefix))
        ok = false;
    lua_pop(L, 1);
    if (ok && wt == LUA_TNIL && !st->has_match)
        ok = rule_err(c, "%s needs where or match", what);
    return ok;
}

static bool compile_by(loadctx *c, int t, vgl_rule_def *r, const char *form)
{
    lua_State *L = c->sb->L;
    bool ok = true;
    if (lua_getfield(L, t, "by") != LUA_TNIL) {
        char what[40];
        snprintf(what, sizeof(what), "%s.by", form);
        ok = paths_at(c, -1, what, &r->by, &r->nby, MAX_BY);
    }
    lua_pop(L, 1);
    return ok;
}

static bool required_duration(loadctx *c, int t, const char *form, const char *key,
                              int64_t *ms)
{
    lua_State *L = c->sb->L;
    char what[40];
    snprintf(what, sizeof(what), "%s.%s", form, key);
    bool ok;
    if (lua_getfield(L, t, key) == LUA_TNIL)
        ok = rule_err(c, "%s is required", what);
    else
        ok = duration_at(c, -1, what, ms);
    lua_pop(L, 1);
    return ok;
}

static bool compile_threshold(loadctx *c, int t, vgl_rule_def *r)
{
    static const char *const keys[] = {"by", "count", "window", "distinct", NULL};
    lua_State *L = c->sb->L;
    if (lua_type(L, t) != LUA_TTABLE)
        return rule_err(c, "threshold must be a table {by = ..., count = N, window = ...}");
    r->kind = VGL_RULE_THRESHOLD;
    bool ok = check_keys(c, t, keys, "threshold");
    ok = compile_by(c, t, r, "threshold") && ok;
    lua_getfield(L, t, "count");
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > MAX_COUNT)
        ok = rule_err(c, "threshold.count must be an integer from 1 to %d", MAX_COUNT);
    else
        r->count = (uint32_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    ok = required_duration(c, t, "threshold", "window", &r->window_ms) && ok;
    if (lua_getfield(L, t, "distinct") != LUA_TNIL) {
        const vgl_path **d = NULL;
        uint32_t nd = 0;
        if (paths_at(c, -1, "threshold.distinct", &d, &nd, 1))
            r->distinct = d[0];
        else
            ok = false;
        free(d);
    }
    lua_pop(L, 1);
    return ok;
}

static bool compile_sequence(loadctx *c, int t, vgl_rule_def *r)
{
    static const char *const keys[] = {"by", "within", "steps", NULL};
    lua_State *L = c->sb->L;
    if (lua_type(L, t) != LUA_TTABLE)
        return rule_err(c, "sequence must be a table {by = ..., within = ..., steps = {...}}");
    r->kind = VGL_RULE_SEQUENCE;
    bool ok = check_keys(c, t, keys, "sequence");
    ok = compile_by(c, t, r, "sequence") && ok;
    ok = required_duration(c, t, "sequence", "within", &r->within_ms) && ok;
    lua_getfield(L, t, "steps");
    lua_Integer n = lua_type(L, -1) == LUA_TTABLE ? luaL_len(L, -1) : 0;
    if (n < 2 || n > MAX_STEPS) {
        ok = rule_err(c, "sequence.steps must be a list of 2 to %d steps", MAX_STEPS);
    } else if (!(r->steps = calloc((size_t)n, sizeof(vgl_rule_step)))) {
        ok = rule_err(c, "out of memory");
    } else {
        r->nsteps = (uint32_t)n;
        for (lua_Integer i = 1; i <= n; i++) {
            char what[40];
            snprintf(what, sizeof(what), "sequence.steps[%lld]", (long long)i);
            lua_rawgeti(L, -1, i);
            ok = compile_step(c, -1, &r->steps[i - 1], what) && ok;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return ok;
}

static bool compile_absence(loadctx *c, int t, vgl_rule_def *r)
{
    static const char *const keys[] = {"by", "after", "missing", "within", NULL};
    lua_State *L = c->sb->L;
    if (lua_type(L, t) != LUA_TTABLE)
        return rule_err(c, "absence must be a table {by = ..., after = {...}, missing = {...}, "
                           "within = ...}");
    r->kind = VGL_RULE_ABSENCE;
    bool ok = check_keys(c, t, keys, "absence");
    ok = compile_by(c, t, r, "absence") && ok;
    ok = required_duration(c, t, "absence", "within", &r->within_ms) && ok;
    if (!(r->steps = calloc(2, sizeof(vgl_rule_step))))
        return rule_err(c, "out of memory");
    r->nsteps = 2;
    static const char *const parts[] = {"after", "missing"};
    for (int i = 0; i < 2; i++) {
        char what[40];
        snprintf(what, sizeof(what), "absence.%s", parts[i]);
        if (lua_getfield(L, t, parts[i]) == LUA_TNIL)
            ok = rule_err(c, "%s is required", what);
        else
            ok = compile_step(c, -1, &r->steps[i], what) && ok;
        lua_pop(L, 1);
    }
    return ok;
}

static int entity_cmp(const void *a, const void *b)
{
    return strcmp(((const vgl_rule_entity *)a)->type, ((const vgl_rule_entity *)b)->type);
}

static bool compile_entities(loadctx *c, int t, vgl_rule_def *r)
{
    lua_State *L = c->sb->L;
    if (lua_type(L, t) != LUA_TTABLE)
        return rule_err(c, "entities must be a table {type = field or {fields}}");
    size_t cap = 0;
    bool ok = true;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            ok = rule_err(c, "entities: keys must be entity types (ip, account, host, ...)");
            lua_pop(L, 1);
            continue;
        }
        if (r->nentities == cap) {
            cap = cap ? cap * 2 : 4;
            vgl_rule_entity *ne = realloc(r->entities, cap * sizeof(*ne));
            if (!ne) {
                lua_pop(L, 2);
                return rule_err(c, "out of memory");
            }
            r->entities = ne;
        }
        vgl_rule_entity *e = &r->entities[r->nentities];
        memset(e, 0, sizeof(*e));
        char what[120];
        snprintf(what, sizeof(what), "entities.%s", lua_tostring(L, -2));
        e->type = strdup(lua_tostring(L, -2));
        r->nentities++;
        if (!e->type || !paths_at(c, -1, what, &e->paths, &e->npaths, 16))
            ok = false;
        lua_pop(L, 1);
    }
    if (r->nentities > 1)
        qsort(r->entities, r->nentities, sizeof(*r->entities), entity_cmp);
    return ok;
}

static bool compile_tags(loadctx *c, int t, vgl_rule_def *r)
{
    lua_State *L = c->sb->L;
    lua_Integer n = lua_type(L, t) == LUA_TTABLE ? luaL_len(L, t) : -1;
    if (n < 0 || n > 64)
        return rule_err(c, "tags must be a list of strings");
    r->tags = calloc((size_t)n + 1, sizeof(char *));
    if (!r->tags)
        return rule_err(c, "out of memory");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return rule_err(c, "tags must be a list of strings");
        }
        r->tags[r->ntags++] = strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return true;
}

/* ------------------------------------------------------ key paths, hash */

static void add_keypath(vgl_rule_def *r, const vgl_path *p, uint32_t *cap)
{
    for (uint32_t i = 0; i < r->nkeypaths; i++)
        if (r->keypaths[i] == p)
            return;
    if (r->nkeypaths == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 8;
        const vgl_path **np = realloc(r->keypaths, ncap * sizeof(*np));
        if (!np)
            return;
        r->keypaths = np;
        *cap = ncap;
    }
    r->keypaths[r->nkeypaths++] = p;
}

static void collect_keypaths(vgl_rule_def *r)
{
    uint32_t cap = 0;
    for (uint32_t i = 0; i < r->nby; i++)
        add_keypath(r, r->by[i], &cap);
    if (r->distinct)
        add_keypath(r, r->distinct, &cap);
    for (uint32_t i = 0; i < r->where.n; i++)
        add_keypath(r, r->where.conds[i].path, &cap);
    for (uint32_t s = 0; s < r->nsteps; s++)
        for (uint32_t i = 0; i < r->steps[s].where.n; i++)
            add_keypath(r, r->steps[s].where.conds[i].path, &cap);
    for (size_t e = 0; e < r->nentities; e++)
        for (uint32_t i = 0; i < r->entities[e].npaths; i++)
            add_keypath(r, r->entities[e].paths[i], &cap);
}

static uint64_t fnv64(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    vgl_buf_append(ud, p, sz);
    return 0;
}

/* The stateful definition: what a key's state means. When it is the same
 * after a reload, the state is carried over. on_event rules hash the
 * function's code, since the code defines what its tables hold. */
static void fingerprint(loadctx *c, int t, vgl_rule_def *r)
{
    vgl_buf b;
    vgl_buf_init(&b, 0);
    vgl_buf_printf(&b, "kind=%d;count=%u;window=%lld;within=%lld;ttl=%lld;", (int)r->kind,
                   r->count, (long long)r->window_ms, (long long)r->within_ms,
                   (long long)r->state_ttl_ms);
    for (uint32_t i = 0; i < r->nby; i++)
        vgl_buf_printf(&b, "by=%s;", r->by[i]->str);
    if (r->distinct)
        vgl_buf_printf(&b, "distinct=%s;", r->distinct->str);
    for (uint32_t s = 0; s < r->nsteps; s++) {
        vgl_buf_printf(&b, "step%u:%d:", s, (int)r->steps[s].has_match);
        vgl_prefilter_describe(&r->steps[s].where, &b);
    }
    lua_State *L = c->sb->L;
    if (r->kind == VGL_RULE_ON_EVENT) {
        /* stripped bytecode: the code without its position in the file */
        if (lua_getfield(L, t, "on_event") == LUA_TFUNCTION)
            lua_dump(L, dump_writer, &b, 1);
        lua_pop(L, 1);
    }
    r->fingerprint = fnv64(b.data ? b.data : "", b.len);
    vgl_buf_free(&b);
}

/* --------------------------------------------------------------- rules */

static const char *const rule_keys[] = {
    "id",       "title",     "severity", "tactic",   "technique", "tags",
    "description", "where",  "match",    "threshold", "sequence", "absence",
    "on_event", "state_ttl", "entities", "suppress", "enabled",   NULL,
};

static bool rule_enabled(lua_State *L, int t)
{
    int type = lua_getfield(L, t, "enabled");
    bool on = type == LUA_TNIL || lua_toboolean(L, -1);
    lua_pop(L, 1);
    return on;
}

static bool compile_rule(loadctx *c, int t, vgl_rule_def *r)
{
    lua_State *L = c->sb->L;
    t = lua_absindex(L, t);
    r->file = c->file->path;
    r->line = c->line;
    r->file_index = c->file_index;
    if (lua_getfield(L, t, "id") == LUA_TNIL) {
        lua_pop(L, 1);
        file_err(c, c->line, "missing id");
        return false;
    }
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
        !(r->id = strdup(lua_tostring(L, -1)))) {
        lua_pop(L, 1);
        file_err(c, c->line, "id must be a non-empty string");
        return false;
    }
    lua_pop(L, 1);
    c->id = r->id;
    bool ok = check_keys(c, t, rule_keys, "");
    ok = opt_string(c, t, "title", &r->title, true) && ok;
    ok = opt_string(c, t, "description", &r->description, false) && ok;
    ok = opt_string(c, t, "tactic", &r->tactic, false) && ok;
    ok = opt_string(c, t, "technique", &r->technique, false) && ok;
    char *sev = NULL;
    if (opt_string(c, t, "severity", &sev, true) && sev && !vgl_severity_parse(sev, &r->severity))
        ok = rule_err(c, "unknown severity \"%s\" (one of informational, low, medium, high, "
                         "critical)", sev);
    else if (!sev)
        ok = false;
    free(sev);
    if (lua_getfield(L, t, "tags") != LUA_TNIL)
        ok = compile_tags(c, lua_gettop(L), r) && ok;
    lua_pop(L, 1);
    if (lua_getfield(L, t, "where") != LUA_TNIL)
        ok = compile_where(c, -1, &r->where, "") && ok;
    lua_pop(L, 1);
    int mt = lua_getfield(L, t, "match");
    lua_pop(L, 1);
    if (mt != LUA_TNIL && mt != LUA_TFUNCTION)
        ok = rule_err(c, "match must be a function");
    r->has_match = mt == LUA_TFUNCTION;
    if (lua_getfield(L, t, "entities") != LUA_TNIL)
        ok = compile_entities(c, lua_gettop(L), r) && ok;
    lua_pop(L, 1);
    if (lua_getfield(L, t, "suppress") != LUA_TNIL)
        ok = duration_at(c, -1, "suppress", &r->suppress_ms) && ok;
    lua_pop(L, 1);

    static const char *const forms[] = {"threshold", "sequence", "absence", "on_event"};
    int nforms = 0;
    for (int i = 0; i < 4; i++) {
        nforms += lua_getfield(L, t, forms[i]) != LUA_TNIL;
        lua_pop(L, 1);
    }
    if (nforms > 1) {
        ok = rule_err(c, "threshold, sequence, absence and on_event are exclusive: use one");
    } else if (lua_getfield(L, t, "threshold") != LUA_TNIL) {
        ok = compile_threshold(c, lua_gettop(L), r) && ok;
    } else if (lua_getfield(L, t, "sequence") != LUA_TNIL) {
        ok = compile_sequence(c, lua_gettop(L), r) && ok;
    } else if (lua_getfield(L, t, "absence") != LUA_TNIL) {
        ok = compile_absence(c, lua_gettop(L), r) && ok;
    } else if (lua_getfield(L, t, "on_event") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TFUNCTION)
            ok = rule_err(c, "on_event must be a function (e, ctx)");
        r->kind = VGL_RULE_ON_EVENT;
        r->state_ttl_ms = 3600000;
    }
    lua_settop(L, t);
    if (lua_getfield(L, t, "state_ttl") != LUA_TNIL) {
        if (r->kind != VGL_RULE_ON_EVENT)
            ok = rule_err(c, "state_ttl is only for on_event rules");
        else
            ok = duration_at(c, -1, "state_ttl", &r->state_ttl_ms) && ok;
    }
    lua_pop(L, 1);
    if (!ok)
        return false;
    collect_keypaths(r);
    fingerprint(c, t, r);
    return true;
}

void vgl_rule_def_free(vgl_rule_def *r)
{
    free(r->id);
    free(r->title);
    free(r->description);
    free(r->tactic);
    free(r->technique);
    for (size_t i = 0; i < r->ntags; i++)
        free(r->tags[i]);
    free(r->tags);
    vgl_prefilter_free(&r->where);
    for (size_t i = 0; i < r->nentities; i++) {
        free(r->entities[i].type);
        free(r->entities[i].paths);
    }
    free(r->entities);
    free(r->by);
    for (uint32_t i = 0; i < r->nsteps; i++)
        vgl_prefilter_free(&r->steps[i].where);
    free(r->steps);
    free(r->keypaths);
    memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------- rule files */

/* Run file f in sb; leaves a list of the rule tables it returned. */
static bool run_file(vgl_sandbox *sb, const vgl_rule_file *f, char *err, size_t errlen)
{
    lua_State *L = sb->L;
    char msg[1024];
    if (!vgl_sandbox_load(sb, f->path, f->src, f->len, msg, sizeof(msg))) {
        vgl_loader_fix_msg(f->path, msg, 1, err, errlen);
        return false;
    }
    vgl_call_result res = vgl_sandbox_call(sb, NULL, 0, 1, msg, sizeof(msg));
    if (res == VGL_CALL_BUDGET) {
        snprintf(err, errlen, "%s:%d: instruction budget of %llu exceeded while loading", f->path,
                 sb->err_line > 0 ? sb->err_line : 1, (unsigned long long)sb->budget);
        return false;
    }
    if (res == VGL_CALL_MEMORY) {
        snprintf(err, errlen, "%s:1: memory limit of %zu bytes exceeded while loading", f->path,
                 sb->mem_limit);
        return false;
    }
    if (res != VGL_CALL_OK) {
        vgl_loader_fix_msg(f->path, msg, sb->err_line, err, errlen);
        return false;
    }
    int r = lua_gettop(L);
    if (lua_type(L, r) == LUA_TTABLE && vgl_sandbox_rule_line(L, r) > 0) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, r);
        lua_rawseti(L, -2, 1);
        lua_remove(L, r);
        return true;
    }
    if (lua_type(L, r) != LUA_TTABLE) {
        lua_pop(L, 1);
        snprintf(err, errlen, "%s:1: the file must return vigil.rule{...} or a list of them",
                 f->path);
        return false;
    }
    lua_Integer n = luaL_len(L, r);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, r, i);
        bool rule = lua_type(L, -1) == LUA_TTABLE && vgl_sandbox_rule_line(L, -1) > 0;
        lua_pop(L, 1);
        if (!rule) {
            lua_pop(L, 1);
            snprintf(err, errlen, "%s:1: item %lld of the returned list is not a vigil.rule{...}",
                     f->path, (long long)i);
            return false;
        }
    }
    return true;
}

static bool read_file(const char *path, vgl_rule_file *f, vgl_diag *diag)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        vgl_diag_add(diag, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    vgl_buf b;
    vgl_buf_init(&b, MAX_RULE_FILE);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        vgl_buf_append(&b, chunk, n);
    bool bad = ferror(fp);
    fclose(fp);
    if (bad || b.failed) {
        vgl_diag_add(diag, "%s: cannot read: %s", path,
                     b.failed ? "larger than 16 MiB" : strerror(errno));
        vgl_buf_free(&b);
        return false;
    }
    f->path = strdup(path);
    f->src = b.data ? b.data : strdup("");
    f->len = b.len;
    return f->path && f->src;
}

typedef struct pathlist {
    char **p;
    size_t n, cap;
} pathlist;

static bool pathlist_add(pathlist *l, const char *path)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        char **np = realloc(l->p, ncap * sizeof(char *));
        if (!np)
            return false;
        l->p = np;
        l->cap = ncap;
    }
    return (l->p[l->n] = strdup(path)) && ++l->n;
}

static bool ends_with_lua(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".lua") == 0;
}

static void scan_dir(const char *dir, pathlist *out, vgl_diag *diag, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        vgl_diag_add(diag, "%s: cannot open directory: %s", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue; /* ., .., hidden files and editor droppings */
        size_t n = strlen(dir) + strlen(de->d_name) + 2;
        char *full = malloc(n);
        if (!full)
            break;
        snprintf(full, n, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < 16)
                scan_dir(full, out, diag, depth + 1);
            else if (S_ISREG(st.st_mode) && ends_with_lua(de->d_name))
                pathlist_add(out, full);
        }
        free(full);
    }
    closedir(d);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ------------------------------------------------------------- rulesets */

static void ruleset_destroy(vgl_ruleset *rs)
{
    for (size_t i = 0; i < rs->nrules; i++)
        vgl_rule_def_free(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->nfiles; i++) {
        free(rs->files[i].path);
        free(rs->files[i].src);
    }
    free(rs->files);
    vgl_pf_patterns_free(&rs->patterns);
    vgl_rule_index_free(&rs->index);
    free(rs);
}

void vgl_ruleset_free(vgl_ruleset *rs)
{
    if (rs && atomic_fetch_sub(&rs->refs, 1) == 1)
        ruleset_destroy(rs);
}

size_t vgl_ruleset_count(const vgl_ruleset *rs)
{
    return rs ? rs->nrules : 0;
}

const char *vgl_ruleset_rule_id(const vgl_ruleset *rs, size_t i)
{
    return rs && i < rs->nrules ? rs->rules[i].id : NULL;
}

static void load_file(loadctx *c, size_t *cap)
{
    lua_State *L = c->sb->L;
    char err[1200];
    int top = lua_gettop(L);
    if (!run_file(c->sb, c->file, err, sizeof(err))) {
        vgl_diag_add(c->diag, "%s", err);
        c->errors++;
        lua_settop(L, top);
        return;
    }
    int list = lua_gettop(L);
    lua_Integer n = luaL_len(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        int t = lua_gettop(L);
        c->line = vgl_sandbox_rule_line(L, t);
        c->id = NULL;
        if (!rule_enabled(L, t)) {
            lua_pop(L, 1);
            continue;
        }
        vgl_ruleset *rs = c->rs;
        if (rs->nrules == *cap) {
            size_t ncap = *cap ? *cap * 2 : 16;
            vgl_rule_def *nr = realloc(rs->rules, ncap * sizeof(*nr));
            if (!nr) {
                file_err(c, c->line, "out of memory");
                break;
            }
            rs->rules = nr;
            *cap = ncap;
        }
        vgl_rule_def *r = &rs->rules[rs->nrules];
        memset(r, 0, sizeof(*r));
        if (compile_rule(c, t, r))
            rs->nrules++;
        else
            vgl_rule_def_free(r);
        lua_settop(L, list);
    }
    lua_settop(L, top);
}

typedef struct load_args {
    loadctx *c;
    size_t *cap;
} load_args;

static int protected_load(lua_State *L)
{
    load_args *a = lua_touserdata(L, 1);
    load_file(a->c, a->cap);
    return 0;
}

/* Running and validating a file is one sandboxed call: metamethods of the
 * tables it returns run under the same budget and memory cap. */
static size_t load_protected(load_args *a)
{
    vgl_sandbox *sb = a->c->sb;
    const char *path = a->c->file->path;
    char msg[1024], fixed[1200];
    if (!lua_checkstack(sb->L, 4)) {
        vgl_diag_add(a->c->diag, "%s:1: out of memory", path);
        return 1;
    }
    lua_pushcfunction(sb->L, protected_load);
    lua_pushlightuserdata(sb->L, a);
    vgl_call_result res = vgl_sandbox_call(sb, NULL, 1, 0, msg, sizeof(msg));
    if (res == VGL_CALL_OK || a->c->errors)
        return a->c->errors;
    if (res == VGL_CALL_BUDGET) {
        vgl_diag_add(a->c->diag, "%s:%d: instruction budget of %llu exceeded while loading", path,
                     sb->err_line > 0 ? sb->err_line : 1, (unsigned long long)sb->budget);
    } else if (res == VGL_CALL_MEMORY) {
        vgl_diag_add(a->c->diag, "%s:1: memory limit of %zu bytes exceeded while loading", path,
                     sb->mem_limit);
    } else {
        vgl_loader_fix_msg(path, msg, sb->err_line, fixed, sizeof(fixed));
        vgl_diag_add(a->c->diag, "%s", fixed);
    }
    return a->c->errors + 1;
}

static void check_duplicates(vgl_ruleset *rs, vgl_diag *diag, size_t *errors)
{
    for (size_t i = 1; i < rs->nrules; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rs->rules[i].id, rs->rules[j].id) == 0) {
                vgl_diag_add(diag, "%s:%d: duplicate rule id \"%s\" (also defined at %s:%d)",
                             rs->rules[i].file, rs->rules[i].line, rs->rules[i].id,
                             rs->rules[j].file, rs->rules[j].line);
                (*errors)++;
                break;
            }
        }
    }
}

vgl_ruleset *vgl_ruleset_load(const char *const *paths, size_t npaths,
                              const vgl_limits_cfg *limits, vgl_diag *diag)
{
    size_t diag_before = diag->n;
    vgl_ruleset *rs = calloc(1, sizeof(*rs));
    if (!rs) {
        vgl_diag_add(diag, "rules: out of memory");
        return NULL;
    }
    atomic_init(&rs->refs, 1);
    rs->limits = *limits;

    pathlist files = {0};
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            vgl_diag_add(diag, "%s: cannot open: %s", paths[i], strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            pathlist dir = {0};
            scan_dir(paths[i], &dir, diag, 0);
            if (dir.n > 1)
                qsort(dir.p, dir.n, sizeof(char *), str_cmp);
            for (size_t k = 0; k < dir.n; k++) {
                pathlist_add(&files, dir.p[k]);
                free(dir.p[k]);
            }
            free(dir.p);
        } else {
            pathlist_add(&files, paths[i]);
        }
    }
    rs->files = calloc(files.n ? files.n : 1, sizeof(vgl_rule_file));
    for (size_t i = 0; rs->files && i < files.n; i++) {
        bool dup = false; /* a file named twice (a dir and a file in it) loads once */
        for (size_t k = 0; k < rs->nfiles && !dup; k++)
            dup = strcmp(rs->files[k].path, files.p[i]) == 0;
        if (!dup && read_file(files.p[i], &rs->files[rs->nfiles], diag))
            rs->nfiles++;
    }
    for (size_t i = 0; i < files.n; i++)
        free(files.p[i]);
    free(files.p);

    char err[512];
    vgl_sandbox *sb = vgl_sandbox_new(limits->lua_memory, limits->lua_instructions, err,
                                      sizeof(err));
    if (!sb) {
        vgl_diag_add(diag, "rules: %s", err);
        ruleset_destroy(rs);
        return NULL;
    }
    size_t cap = 0, errors = 0;
    for (size_t i = 0; i < rs->nfiles; i++) {
        loadctx c = {rs, diag, sb, &rs->files[i], (uint32_t)i, 0, NULL, 0};
        load_args a = {&c, &cap};
        errors += load_protected(&a);
        lua_gc(sb->L, LUA_GCCOLLECT, 0);
    }
    vgl_sandbox_free(sb);
    check_duplicates(rs, diag, &errors);
    if (errors == 0 && diag->n == diag_before && !vgl_rule_index_build(rs, err, sizeof(err))) {
        vgl_diag_add(diag, "rules: %s", err);
        errors++;
    }
    if (errors || diag->n != diag_before) {
        ruleset_destroy(rs);
        return NULL;
    }
    return rs;
}

/* ---------------------------------------------------------------- bind */

static int take_ref(lua_State *L, int t, const char *key)
{
    if (lua_getfield(L, t, key) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static void bind_rule(lua_State *L, int t, const vgl_rule_def *r, vgl_rule_refs *refs)
{
    refs->match = take_ref(L, t, "match");
    refs->on_event = take_ref(L, t, "on_event");
    for (uint32_t s = 0; s < r->nsteps; s++)
        refs->steps[s] = LUA_NOREF;
    if (r->kind == VGL_RULE_SEQUENCE && lua_getfield(L, t, "sequence") == LUA_TTABLE &&
        lua_getfield(L, -1, "steps") == LUA_TTABLE) {
        for (uint32_t s = 0; s < r->nsteps; s++) {
            if (lua_rawgeti(L, -1, s + 1) == LUA_TTABLE)
                refs->steps[s] = take_ref(L, lua_gettop(L), "match");
            lua_pop(L, 1);
        }
    }
    if (r->kind == VGL_RULE_ABSENCE && lua_getfield(L, t, "absence") == LUA_TTABLE) {
        static const char *const parts[] = {"after", "missing"};
        for (int s = 0; s < 2; s++) {
            if (lua_getfield(L, -1, parts[s]) == LUA_TTABLE)
                refs->steps[s] = take_ref(L, lua_gettop(L), "match");
            lua_pop(L, 1);
        }
    }
    lua_settop(L, t);
}

bool vgl_loader_bind(vgl_sandbox *sb, const vgl_ruleset *rs, vgl_rule_refs *refs, char *err,
                     size_t errlen)
{
    lua_State *L = sb->L;
    size_t next = 0;
    for (size_t f = 0; f < rs->nfiles; f++) {
        int top = lua_gettop(L);
        if (!run_file(sb, &rs->files[f], err, errlen))
            return false;
        int list = lua_gettop(L);
        lua_Integer n = luaL_len(L, list);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, list, i);
            int t = lua_gettop(L);
            if (!rule_enabled(L, t)) {
                lua_settop(L, list);
                continue;
            }
            lua_getfield(L, t, "id");
            const char *id = lua_tostring(L, -1);
            if (next >= rs->nrules || rs->rules[next].file_index != f || !id ||
                strcmp(id, rs->rules[next].id) != 0) {
                snprintf(err, errlen, "%s: the file gave other rules than when it was loaded",
                         rs->files[f].path);
                lua_settop(L, top);
                return false;
            }
            lua_pop(L, 1);
            bind_rule(L, t, &rs->rules[next], &refs[next]);
            next++;
            lua_settop(L, list);
        }
        lua_settop(L, top);
    }
    if (next != rs->nrules) {
        snprintf(err, errlen, "rule files gave %zu rules instead of %zu", next, rs->nrules);
        return false;
    }
    return true;
}
