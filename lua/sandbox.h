/*
 * The Lua sandbox rules run in: one lua_State per worker (and one for
 * loading), an accounting allocator with a memory cap, a count hook that
 * enforces an instruction budget per call, only the base, string, table,
 * math and utf8 libraries (blocked functions replaced by stubs that raise
 * "X is not available in vigil rules"), the `vigil` SDK constructors, and
 * the read-only event view handed to rule functions.
 *
 * Threading: a sandbox belongs to one thread at a time.
 */
#ifndef VGL_LUA_SANDBOX_H
#define VGL_LUA_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "event.h"

/* Registry keys. */
#define VGL_RULE_LINES "vigil.rule_lines" /* rule table -> line of vigil.rule */
#define VGL_VIEW_MT "vigil.event"

typedef enum vgl_call_result {
    VGL_CALL_OK = 0,
    VGL_CALL_ERROR,   /* the function raised an error */
    VGL_CALL_BUDGET,  /* instruction budget exceeded */
    VGL_CALL_MEMORY   /* memory cap hit */
} vgl_call_result;

typedef struct vgl_sandbox {
    lua_State *L;
    size_t mem_used;
    size_t mem_limit;        /* 0 = none */
    bool mem_tripped;        /* an allocation was refused (sticky in a call) */
    bool in_call;
    uint64_t budget;         /* instructions per call, 0 = none */
    uint64_t budget_left;
    int hook_chunk;
    bool budget_tripped;     /* sticky until the call returns */
    uint32_t view_gen;       /* views carry the generation they were made in */
    const vgl_event *ev;     /* event of the current call */
    char trace[2048];        /* traceback of the last failed call */
    int err_line;            /* line of the innermost Lua frame at the error */
} vgl_sandbox;

/* A new sandbox with the SDK installed. NULL with err on failure. */
vgl_sandbox *vgl_sandbox_new(size_t mem_limit, uint64_t instructions, char *err, size_t errlen);
void vgl_sandbox_free(vgl_sandbox *sb);
vgl_sandbox *vgl_sandbox_of(lua_State *L);

/* Load a rule file's text (mode "t", chunk name "@name") with its own
 * environment table (reads fall through to the globals). Pushes the chunk;
 * on a syntax error returns false with the message (which starts with
 * "name:line:") in msg and pushes nothing. */
bool vgl_sandbox_load(vgl_sandbox *sb, const char *name, const char *src, size_t len,
                      char *msg, size_t msglen);

/* Call the function below nargs arguments on the stack with the budget,
 * the memory cap and ev as the current event (NULL while loading). OK
 * leaves nresults values on the stack; failures leave nothing and put the
 * error message (without traceback) in msg and the traceback in sb->trace.
 * Views made during the call are invalid once it returns. */
vgl_call_result vgl_sandbox_call(vgl_sandbox *sb, const vgl_event *ev, int nargs, int nresults,
                                 char *msg, size_t msglen);

/* Push a read-only view of v (a value of the current call's event). */
void vgl_sandbox_push_view(vgl_sandbox *sb, const vgl_value *v);

/* Line where vigil.rule was called for the rule table at idx, 0 if the
 * table did not come from vigil.rule. */
int vgl_sandbox_rule_line(lua_State *L, int idx);

#endif
