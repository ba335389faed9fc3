/*
 * The declarative prefilter of a rule (`where = {...}`): compiled from the
 * Lua table once at load time into plain C structures and evaluated against
 * events without entering Lua. Also the value normalization the rule index
 * shares with plain equality, so "an event reaches the rule through the
 * index" and "the rule's equality holds" can never disagree.
 *
 * Threading: a compiled prefilter is immutable and shared by every worker;
 * regular expressions are compiled per worker (glibc's regexec takes a lock
 * per regex_t), so evaluation takes that worker's regex_t array.
 */
#ifndef VGL_LUA_PREFILTER_H
#define VGL_LUA_PREFILTER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "buf.h"
#include "event.h"

/* Registry key of the metatable that marks vigil.contains"..." & co. */
#define VGL_MATCHER_MT "vigil.matcher"

typedef enum vgl_pf_kind {
    VGL_PF_EQ = 0,     /* any of vals (text case-insensitive, numbers numeric) */
    VGL_PF_CONTAINS,
    VGL_PF_STARTSWITH,
    VGL_PF_ENDSWITH,
    VGL_PF_LIKE,       /* * and ? wildcards, case-insensitive */
    VGL_PF_RE,         /* POSIX ERE, case-insensitive */
    VGL_PF_CIDR,
    VGL_PF_GT,
    VGL_PF_LT,
    VGL_PF_EXISTS,
    VGL_PF_NEG,        /* kids[0] */
    VGL_PF_ANY         /* any of kids */
} vgl_pf_kind;

/* A normalized scalar: numbers (and numeric strings: "4624", "1e3")
 * compare numerically, everything else as lower-cased text. */
typedef struct vgl_pf_value {
    char *text;     /* lower-cased, NUL-terminated (owned) */
    uint32_t len;
    bool is_num;
    bool is_int;
    int64_t i;
    double num;
    uint32_t hash;  /* vgl_pf_key hash: equal values hash equal */
} vgl_pf_value;

typedef struct vgl_pf_node vgl_pf_node;
struct vgl_pf_node {
    vgl_pf_kind kind;
    vgl_pf_value *vals;   /* EQ: the values; text matchers: vals[0] */
    uint32_t nvals;
    uint32_t *slots;      /* EQ with many values: open-addressing set */
    uint32_t mask;
    vgl_pf_node *kids;
    uint32_t nkids;
    double num;           /* GT / LT */
    int family;           /* CIDR: 4 or 6 */
    int prefix;
    uint8_t addr[16];
    uint32_t regex;       /* RE: slot in the ruleset's pattern list */
};

typedef struct vgl_pf_cond {
    const vgl_path *path;
    vgl_pf_node node;
} vgl_pf_cond;

typedef struct vgl_prefilter {
    vgl_pf_cond *conds;   /* sorted by field name; all must hold */
    uint32_t n;
} vgl_prefilter;

/* The regular expressions of a ruleset, by slot. */
typedef struct vgl_pf_patterns {
    char **pat;
    size_t n, cap;
} vgl_pf_patterns;

/* An event value normalized for lookups (points into the value or buf). */
typedef struct vgl_pf_key {
    const char *text;
    size_t len;
    bool is_num;
    bool is_int;
    int64_t i;
    double num;
    uint32_t hash;
} vgl_pf_key;

/* Compile the where table at index idx of L (absolute or relative). On
 * error fills err with a message naming the field (`where["x"]: ...`) and
 * returns false; out is then empty. Regex patterns are appended to pats
 * (validated with regcomp). */
bool vgl_prefilter_compile(lua_State *L, int idx, vgl_prefilter *out, vgl_pf_patterns *pats,
                           char *err, size_t errlen);
/* Compile one condition value (matcher, scalar or list) for path. */
bool vgl_prefilter_compile_cond(lua_State *L, int idx, const char *field, vgl_pf_cond *out,
                                vgl_pf_patterns *pats, char *err, size_t errlen);
void vgl_prefilter_free(vgl_prefilter *pf);
void vgl_pf_patterns_free(vgl_pf_patterns *p);
/* Compile every pattern into re[] (n = pats->n); false on failure. */
bool vgl_pf_patterns_compile(const vgl_pf_patterns *pats, regex_t *re);

/* True when every condition holds for ev. An empty prefilter matches. */
bool vgl_prefilter_match(const vgl_prefilter *pf, const vgl_event *ev, const regex_t *re);
bool vgl_pf_node_match(const vgl_pf_node *n, const vgl_value *v, const regex_t *re);

/* Canonical text of the prefilter (fingerprints, debugging). */
void vgl_prefilter_describe(const vgl_prefilter *pf, vgl_buf *out);

/* Normalize a scalar event value; false for null, arrays and objects. buf
 * holds the text of numbers (24+ bytes). */
bool vgl_pf_key_of(const vgl_value *v, vgl_pf_key *k, char *buf, size_t buflen);
bool vgl_pf_key_equal(const vgl_pf_key *k, const vgl_pf_value *v);
/* Normalize the text of a rule value ("4624", "Authentication") into out
 * (text is copied and lower-cased). False when out of memory. */
bool vgl_pf_value_set(vgl_pf_value *out, const char *s, size_t len);

#endif
