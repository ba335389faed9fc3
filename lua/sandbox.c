/*
 * The rule sandbox: lua_State setup with an accounting allocator, the
 * instruction budget hook, blocked-function stubs, the `vigil` SDK
 * constructors and the read-only event view. See sandbox.h.
 */
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "log.h"
#include "prefilter.h"

#define HOOK_CHUNK_MAX 100000000 /* budgets above this are counted in chunks */

/* ------------------------------------------------------------ allocator */

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    vgl_sandbox *sb = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is the object kind */
    if (nsize == 0) {
        free(ptr);
        sb->mem_used -= old;
        return NULL;
    }
    if (nsize > old && sb->mem_limit &&
        ((sb->in_call && sb->mem_tripped) || sb->mem_used + (nsize - old) > sb->mem_limit)) {
        sb->mem_tripped = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return nsize <= old ? ptr : NULL; /* Lua assumes shrinking never fails */
    sb->mem_used = sb->mem_used - old + nsize;
    return p;
}

vgl_sandbox *vgl_sandbox_of(lua_State *L)
{
    vgl_sandbox *sb;
    memcpy(&sb, lua_getextraspace(L), sizeof(sb));
    return sb;
}

/* ----------------------------------------------------------------- hook */

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    vgl_sandbox *sb = vgl_sandbox_of(L);
    if (!sb->in_call || !sb->budget)
        return;
    if (!sb->budget_tripped) {
        sb->budget_left -= (uint64_t)sb->hook_chunk < sb->budget_left
                               ? (uint64_t)sb->hook_chunk
                               : sb->budget_left;
        if (sb->budget_left > 0) {
            sb->hook_chunk = sb->budget_left > HOOK_CHUNK_MAX ? HOOK_CHUNK_MAX
                                                              : (int)sb->budget_left;
            lua_sethook(L, budget_hook, LUA_MASKCOUNT, sb->hook_chunk);
            return;
        }
        sb->budget_tripped = true;
        /* from now on every instruction raises again, so a pcall inside
         * the rule cannot swallow the error and carry on */
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushliteral(L, "instruction budget exceeded");
    lua_error(L);
}

/* ---------------------------------------------------------------- stubs */

static int blocked(lua_State *L)
{
    return luaL_error(L, "%s is not available in vigil rules",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static void set_blocked(lua_State *L, int table, const char *field, const char *fullname)
{
    table = lua_absindex(L, table);
    lua_pushstring(L, fullname);
    lua_pushcclosure(L, blocked, 1);
    lua_setfield(L, table, field);
}

/* load() for text chunks only: binary chunks bypass the verifier. */
static int safe_load(lua_State *L)
{
    int n = lua_gettop(L);
    if (n < 1)
        return luaL_error(L, "bad argument #1 to 'load' (value expected)");
    if (n < 3)
        lua_settop(L, 3);
    else if (n > 4)
        lua_settop(L, 4);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, LUA_MULTRET);
    return lua_gettop(L);
}

/* collectgarbage: the queries and collections a rule may ask for; not
 * "stop" or mode changes, which would change the state for every rule. */
static int safe_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") == 0) {
        lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                              (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    if (strcmp(opt, "collect") == 0 || strcmp(opt, "step") == 0) {
        lua_gc(L, strcmp(opt, "collect") == 0 ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
        lua_pushinteger(L, 0);
        return 1;
    }
    return luaL_error(L, "collectgarbage(\"%s\") is not available in vigil rules", opt);
}

/* setmetatable without __gc: a finalizer would run Lua code inside
 * whichever call happens to collect it, or outside any budget. */
static int safe_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "__gc metamethods are not available in vigil rules");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* print() goes to the debug log, never to stdout. */
static int rule_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    vgl_debug("rule print", "text=%s", lua_tostring(L, -1));
    return 0;
}

/* ------------------------------------------------------------------ SDK */

static int sdk_rule(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_Debug ar;
    int line = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        line = ar.currentline;
    lua_getfield(L, LUA_REGISTRYINDEX, VGL_RULE_LINES);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, line > 0 ? line : 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return 1;
}

static void push_matcher(lua_State *L, const char *kind, int arg)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    if (arg) {
        lua_pushvalue(L, arg);
        lua_setfield(L, -2, "arg");
    }
    luaL_setmetatable(L, VGL_MATCHER_MT);
}

/* vigil.contains & co.: upvalue 1 is the kind, 2 the argument type */
static int sdk_matcher(lua_State *L)
{
    const char *kind = lua_tostring(L, lua_upvalueindex(1));
    const char *want = lua_tostring(L, lua_upvalueindex(2));
    if (strcmp(want, "string") == 0)
        luaL_checktype(L, 1, LUA_TSTRING);
    else if (strcmp(want, "number") == 0)
        luaL_checknumber(L, 1);
    else if (strcmp(want, "table") == 0)
        luaL_checktype(L, 1, LUA_TTABLE);
    else
        luaL_checkany(L, 1);
    push_matcher(L, kind, 1);
    return 1;
}

static int matcher_call(lua_State *L)
{
    lua_settop(L, 1); /* vigil.exists() is vigil.exists */
    return 1;
}

static int matcher_tostring(lua_State *L)
{
    lua_getfield(L, 1, "kind");
    lua_pushfstring(L, "vigil.%s", lua_tostring(L, -1));
    return 1;
}

static void install_sdk(lua_State *L)
{
    luaL_newmetatable(L, VGL_MATCHER_MT);
    lua_pushcfunction(L, matcher_call);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, matcher_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "vigil.matcher");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, VGL_RULE_LINES);

    static const char *const matchers[][2] = {
        {"contains", "string"}, {"startswith", "string"}, {"endswith", "string"},
        {"like", "string"},     {"re", "string"},         {"cidr", "string"},
        {"gt", "number"},       {"lt", "number"},         {"neg", "any"},
        {"any", "table"},
    };
    lua_newtable(L);
    lua_pushcfunction(L, sdk_rule);
    lua_setfield(L, -2, "rule");
    for (size_t i = 0; i < sizeof(matchers) / sizeof(matchers[0]); i++) {
        lua_pushstring(L, matchers[i][0]);
        lua_pushstring(L, matchers[i][1]);
        lua_pushcclosure(L, sdk_matcher, 2);
        lua_setfield(L, -2, matchers[i][0]);
    }
    push_matcher(L, "exists", 0);
    lua_setfield(L, -2, "exists");
    lua_pushliteral(L, "1");
    lua_setfield(L, -2, "sdk_version");
    lua_setglobal(L, "vigil");
}

/* ----------------------------------------------------------- event view */

typedef struct view {
    vgl_sandbox *sb;
    const vgl_value *v;
    uint32_t gen;
} view;

static view *check_view(lua_State *L, int idx)
{
    view *w = luaL_checkudata(L, idx, VGL_VIEW_MT);
    if (!w->sb->in_call || w->gen != w->sb->view_gen)
        luaL_error(L, "event view used after its rule call returned");
    return w;
}

static void push_value(lua_State *L, vgl_sandbox *sb, const vgl_value *v)
{
    if (!v) {
        lua_pushnil(L);
        return;
    }
    switch (v->type) {
    case VGL_T_BOOL: lua_pushboolean(L, v->u.b); break;
    case VGL_T_INT: lua_pushinteger(L, (lua_Integer)v->u.i); break;
    case VGL_T_DOUBLE: lua_pushnumber(L, v->u.d); break;
    case VGL_T_STRING: lua_pushlstring(L, v->u.s, v->n); break;
    case VGL_T_ARRAY:
    case VGL_T_OBJECT: vgl_sandbox_push_view(sb, v); break;
    default: lua_pushnil(L); break;
    }
}

void vgl_sandbox_push_view(vgl_sandbox *sb, const vgl_value *v)
{
    view *w = lua_newuserdatauv(sb->L, sizeof(view), 0);
    w->sb = sb;
    w->v = v;
    w->gen = sb->view_gen;
    luaL_setmetatable(sb->L, VGL_VIEW_MT);
}

/* "a.b.c" from obj, segment by segment; when a segment is missing, the
 * rest may be one literal key with dots (as vgl_event_get does). */
static const vgl_value *lookup_dotted(const vgl_value *obj, const char *key, size_t len)
{
    const vgl_value *cur = obj;
    size_t start = 0;
    while (cur && start <= len) {
        size_t end = start;
        while (end < len && key[end] != '.')
            end++;
        const vgl_value *next =
            vgl_object_get(cur, key + start, end - start, vgl_hash(key + start, end - start));
        if (!next) {
            if (end < len)
                return vgl_object_get(cur, key + start, len - start,
                                      vgl_hash(key + start, len - start));
            return NULL;
        }
        if (end == len)
            return next;
        cur = next;
        start = end + 1;
    }
    return NULL;
}

static int view_index(lua_State *L)
{
    view *w = check_view(L, 1);
    const vgl_value *v = NULL;
    if (w->v->type == VGL_T_OBJECT && lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        const char *key = lua_tolstring(L, 2, &len);
        v = vgl_object_get(w->v, key, len, vgl_hash(key, len));
        if (!v && memchr(key, '.', len))
            v = lookup_dotted(w->v, key, len);
    } else if (w->v->type == VGL_T_ARRAY && lua_isinteger(L, 2)) {
        lua_Integer i = lua_tointeger(L, 2);
        if (i >= 1 && (uint64_t)i <= w->v->n)
            v = &w->v->u.items[i - 1];
    }
    push_value(L, w->sb, v);
    return 1;
}

static int view_newindex(lua_State *L)
{
    check_view(L, 1);
    return luaL_error(L, "the event is read-only in vigil rules");
}

static int view_len(lua_State *L)
{
    view *w = check_view(L, 1);
    lua_pushinteger(L, (lua_Integer)w->v->n);
    return 1;
}

static int view_next(lua_State *L)
{
    view *w = check_view(L, 1);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
    if (i >= (lua_Integer)w->v->n)
        return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(1));
    if (w->v->type == VGL_T_OBJECT) {
        const vgl_member *m = &w->v->u.members[i];
        lua_pushlstring(L, m->key, m->klen);
        push_value(L, w->sb, &m->v);
    } else {
        lua_pushinteger(L, i + 1);
        push_value(L, w->sb, &w->v->u.items[i]);
    }
    return 2;
}

static int view_pairs(lua_State *L)
{
    check_view(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, view_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_tostring(lua_State *L)
{
    view *w = luaL_checkudata(L, 1, VGL_VIEW_MT);
    lua_pushstring(L, w->v->type == VGL_T_ARRAY ? "vigil.event.array" : "vigil.event");
    return 1;
}

static void install_view(lua_State *L)
{
    static const luaL_Reg mt[] = {
        {"__index", view_index}, {"__newindex", view_newindex}, {"__len", view_len},
        {"__pairs", view_pairs}, {"__tostring", view_tostring}, {NULL, NULL},
    };
    luaL_newmetatable(L, VGL_VIEW_MT);
    luaL_setfuncs(L, mt, 0);
    lua_pushliteral(L, "vigil.event");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

/* --------------------------------------------------------------- setup */

static int setup(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL},
    };
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    set_blocked(L, g, "dofile", "dofile");
    set_blocked(L, g, "loadfile", "loadfile");
    set_blocked(L, g, "require", "require");
    lua_getfield(L, g, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setfield(L, g, "load");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, safe_collectgarbage);
    lua_setfield(L, g, "collectgarbage");
    lua_pushcfunction(L, rule_print);
    lua_setfield(L, g, "print");

    /* os: time and clock only (os.difftime is arithmetic) */
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    int os = lua_gettop(L);
    lua_createtable(L, 0, 12);
    static const char *const os_keep[] = {"time", "clock", "difftime"};
    for (size_t i = 0; i < 3; i++) {
        lua_getfield(L, os, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    static const char *const os_block[] = {"execute", "exit",   "getenv",    "remove",
                                           "rename",  "tmpname", "setlocale", "date"};
    char name[64];
    for (size_t i = 0; i < sizeof(os_block) / sizeof(os_block[0]); i++) {
        snprintf(name, sizeof(name), "os.%s", os_block[i]);
        set_blocked(L, -1, os_block[i], name);
    }
    lua_setfield(L, g, "os");
    lua_pop(L, 1);

    static const char *const io_block[] = {"open",  "popen", "lines",   "read", "write",
                                           "input", "output", "tmpfile", "close", "type"};
    lua_createtable(L, 0, 10);
    for (size_t i = 0; i < sizeof(io_block) / sizeof(io_block[0]); i++) {
        snprintf(name, sizeof(name), "io.%s", io_block[i]);
        set_blocked(L, -1, io_block[i], name);
    }
    lua_setfield(L, g, "io");
    static const char *const dbg_block[] = {"traceback", "getinfo",  "sethook",  "gethook",
                                            "getlocal",  "setlocal", "getupvalue",
                                            "setupvalue", "getregistry", "setmetatable",
                                            "getmetatable", "upvalueid", "debug"};
    lua_createtable(L, 0, 13);
    for (size_t i = 0; i < sizeof(dbg_block) / sizeof(dbg_block[0]); i++) {
        snprintf(name, sizeof(name), "debug.%s", dbg_block[i]);
        set_blocked(L, -1, dbg_block[i], name);
    }
    lua_setfield(L, g, "debug");
    lua_pop(L, 1);

    /* math.random: a fixed seed, so a replay draws the same numbers */
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, 0);
    lua_call(L, 1, 0);
    lua_pop(L, 1);

    install_sdk(L);
    install_view(L);
    return 0;
}

vgl_sandbox *vgl_sandbox_new(size_t mem_limit, uint64_t instructions, char *err, size_t errlen)
{
    vgl_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sb->mem_limit = mem_limit;
    sb->budget = instructions;
    sb->L = lua_newstate(sandbox_alloc, sb);
    if (!sb->L) {
        snprintf(err, errlen, "cannot create a Lua state (limits.lua_memory %zu bytes)",
                 mem_limit);
        free(sb);
        return NULL;
    }
    memcpy(lua_getextraspace(sb->L), &sb, sizeof(sb));
    lua_pushcfunction(sb->L, setup);
    if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "cannot set up the Lua sandbox: %s (limits.lua_memory %zu bytes)",
                 lua_tostring(sb->L, -1), mem_limit);
        vgl_sandbox_free(sb);
        return NULL;
    }
    sb->mem_tripped = false;
    return sb;
}

void vgl_sandbox_free(vgl_sandbox *sb)
{
    if (!sb)
        return;
    if (sb->L)
        lua_close(sb->L);
    free(sb);
}

/* ---------------------------------------------------------------- calls */

bool vgl_sandbox_load(vgl_sandbox *sb, const char *name, const char *src, size_t len,
                      char *msg, size_t msglen)
{
    lua_State *L = sb->L;
    if (!lua_checkstack(L, 8)) {
        snprintf(msg, msglen, "%s: out of memory", name);
        return false;
    }
    char chunkname[1100];
    snprintf(chunkname, sizeof(chunkname), "@%s", name);
    sb->mem_tripped = false;
    if (luaL_loadbufferx(L, src, len, chunkname, "t") != LUA_OK) {
        snprintf(msg, msglen, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return false;
    }
    /* the file's globals are its own: reads fall through to _G */
    lua_createtable(L, 0, 4);
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return true;
}

static int traceback_handler(lua_State *L)
{
    vgl_sandbox *sb = vgl_sandbox_of(L);
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_Debug ar;
    sb->err_line = 0;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            sb->err_line = ar.currentline;
            break;
        }
    }
    luaL_traceback(L, L, msg, 1);
    snprintf(sb->trace, sizeof(sb->trace), "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushstring(L, msg);
    return 1;
}

vgl_call_result vgl_sandbox_call(vgl_sandbox *sb, const vgl_event *ev, int nargs, int nresults,
                                 char *msg, size_t msglen)
{
    lua_State *L = sb->L;
    int base = lua_gettop(L) - nargs; /* the function */
    bool nested = sb->in_call; /* the loader runs files inside its own call */
    uint64_t outer_left = sb->budget_left;
    int outer_chunk = sb->hook_chunk;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    if (nested && sb->budget) {
        /* a fresh budget for the inner call, the outer one resumes after */
        sb->budget_left = sb->budget;
        sb->hook_chunk = sb->budget > HOOK_CHUNK_MAX ? HOOK_CHUNK_MAX : (int)sb->budget;
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, sb->hook_chunk);
    } else if (!nested) {
        sb->ev = ev;
        sb->in_call = true;
        sb->mem_tripped = false;
        sb->budget_tripped = false;
        sb->trace[0] = '\0';
        if (sb->budget) {
            sb->budget_left = sb->budget;
            sb->hook_chunk = sb->budget > HOOK_CHUNK_MAX ? HOOK_CHUNK_MAX : (int)sb->budget;
            lua_sethook(L, budget_hook, LUA_MASKCOUNT, sb->hook_chunk);
        }
    }
    int rc = lua_pcall(L, nargs, nresults, base);
    if (nested && sb->budget && !sb->budget_tripped) {
        sb->budget_left = outer_left;
        sb->hook_chunk = outer_chunk;
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, outer_chunk);
    } else if (!nested) {
        if (sb->budget)
            lua_sethook(L, NULL, 0, 0);
        sb->in_call = false;
        sb->view_gen++;
        sb->ev = NULL;
    }
    vgl_call_result res = VGL_CALL_OK;
    if (sb->budget_tripped)
        res = VGL_CALL_BUDGET;
    else if (sb->mem_tripped)
        res = VGL_CALL_MEMORY; /* even when the rule caught the error itself */
    else if (rc != LUA_OK)
        res = VGL_CALL_ERROR;
    if (rc != LUA_OK) {
        /* only a string is read: converting a number would allocate
         * outside any protected call */
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        snprintf(msg, msglen, "%s", m ? m : "(error object is not a string)");
        lua_pop(L, 1);
    } else if (res != VGL_CALL_OK) {
        lua_pop(L, nresults);
        msg[0] = '\0';
    }
    lua_remove(L, base); /* the handler */
    if (res == VGL_CALL_MEMORY && !nested) {
        sb->mem_tripped = false;
        lua_gc(L, LUA_GCCOLLECT, 0);
    }
    return res;
}

int vgl_sandbox_rule_line(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, VGL_RULE_LINES);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    int line = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return line;
}
