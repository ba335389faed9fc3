/*
 * Compiled rules and rulesets, shared by the loader (which builds them
 * from rule files), the stateful forms and the engine (which runs them).
 * A ruleset is immutable once loaded and shared by every worker; what a
 * worker changes (Lua functions, state, counters) lives in its engine.
 */
#ifndef VGL_LUA_RULE_H
#define VGL_LUA_RULE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "alert.h"
#include "config.h"
#include "event.h"
#include "prefilter.h"
#include "sandbox.h"

typedef enum vgl_rule_kind {
    VGL_RULE_MATCH = 0,  /* where (+ match): one alert per event */
    VGL_RULE_THRESHOLD,
    VGL_RULE_SEQUENCE,
    VGL_RULE_ABSENCE,
    VGL_RULE_ON_EVENT
} vgl_rule_kind;

/* A sequence step, or the after/missing part of an absence rule. */
typedef struct vgl_rule_step {
    vgl_prefilter where;
    bool has_match;
} vgl_rule_step;

typedef struct vgl_rule_entity {
    char *type;
    const vgl_path **paths;
    uint32_t npaths;
} vgl_rule_entity;

typedef struct vgl_rule_def {
    char *id;
    char *title;
    char *description;  /* may be NULL */
    char *tactic;       /* may be NULL */
    char *technique;    /* may be NULL */
    vgl_severity severity;
    char **tags;
    size_t ntags;
    const char *file;   /* the ruleset's copy of the path */
    int line;           /* where vigil.rule was called */
    uint32_t file_index;
    vgl_prefilter where;
    bool has_match;
    vgl_rule_entity *entities; /* sorted by type */
    size_t nentities;
    int64_t suppress_ms;

    vgl_rule_kind kind;
    const vgl_path **by;     /* key fields of a stateful form (may be none) */
    uint32_t nby;
    uint32_t count;          /* threshold */
    int64_t window_ms;       /* threshold */
    const vgl_path *distinct;/* threshold, may be NULL */
    int64_t within_ms;       /* sequence, absence */
    vgl_rule_step *steps;    /* sequence steps; absence: [0] after, [1] missing */
    uint32_t nsteps;
    int64_t state_ttl_ms;    /* on_event */

    const vgl_path **keypaths; /* fields copied into evidence (where, by, entities) */
    uint32_t nkeypaths;
    uint64_t fingerprint;      /* of the stateful definition */
} vgl_rule_def;

typedef struct vgl_rule_file {
    char *path;
    char *src;
    size_t len;
} vgl_rule_file;

/* Rule index: rules hashed by one equality condition per field. */
typedef struct vgl_index_entry {
    const vgl_pf_value *key;  /* borrowed from a rule's condition */
    uint32_t *rules;
    uint32_t nrules, cap;
} vgl_index_entry;

typedef struct vgl_index_field {
    const vgl_path *path;
    vgl_index_entry *slots;   /* open addressing, key NULL = empty */
    uint32_t mask;
    uint32_t used;
} vgl_index_field;

typedef struct vgl_rule_index {
    vgl_index_field *fields;
    uint32_t nfields;
    uint32_t *always;         /* rules without an indexable equality */
    uint32_t nalways;
} vgl_rule_index;

struct vgl_ruleset {
    atomic_int refs;
    vgl_limits_cfg limits;
    vgl_rule_file *files;
    size_t nfiles;
    vgl_rule_def *rules;
    size_t nrules;
    vgl_pf_patterns patterns;
    vgl_rule_index index;
};

typedef struct vgl_ruleset vgl_ruleset;

/* ---- loader.c ---- */
/* Per-worker Lua functions of one rule (registry refs, LUA_NOREF if none). */
typedef struct vgl_rule_refs {
    int match;
    int on_event;
    int *steps; /* nsteps */
} vgl_rule_refs;

/* Run every rule file of rs in sb and take references to the functions of
 * each rule (refs[i] for rs->rules[i]). False with err when a file no
 * longer gives the rules it gave at load time. */
bool vgl_loader_bind(vgl_sandbox *sb, const vgl_ruleset *rs, vgl_rule_refs *refs, char *err,
                     size_t errlen);
void vgl_rule_def_free(vgl_rule_def *r);
/* Lua shortens long file names ("...tail:3: msg"): put path back at the
 * start of msg, or prefix "path:line: " when msg names no place. */
void vgl_loader_fix_msg(const char *path, const char *msg, int line, char *out, size_t outlen);
/* "10m" -> 600000; numbers are seconds. */
bool vgl_rule_parse_duration(const char *s, int64_t *ms);

/* ---- index.c ---- */
bool vgl_rule_index_build(vgl_ruleset *rs, char *err, size_t errlen);
void vgl_rule_index_free(vgl_rule_index *ix);
/* The entry of k in f: its slot (key NULL when k is not indexed). */
vgl_index_entry *vgl_rule_index_probe(const vgl_index_field *f, const vgl_pf_key *k);

#endif
