/*
 * The Lua rule engine: what the pipeline calls to run detection rules
 * (docs/rules.md is the user's reference for the rule language).
 *
 * Two objects:
 *  - a ruleset: every rule file loaded, validated and compiled (prefilters,
 *    rule index, stateful definitions). Immutable and shared by all
 *    workers; reference-counted, so a reload can build the next one in the
 *    background while workers still run the current one.
 *  - an engine: one per worker thread. Its own lua_State (the rules' Lua
 *    functions), per-key state of stateful rules, suppression windows and
 *    counters. Not thread-safe: only its worker calls it.
 *
 * Call order on a worker:
 *     e = vgl_rules_new(rs, worker_id, on_alert, on_suppressed, opaque, err, len);
 *     for each batch:
 *         for each event: vgl_rules_process(e, ev);   -> callbacks, synchronously
 *         between batches: vgl_rules_tick(e, wall_clock_ms);
 *                          vgl_rules_swap(e, next_rs, ...) when a reload is pending
 *     vgl_rules_free(e);
 *
 * Determinism: every decision uses event time (ev->ts_ms, or
 * ev->meta.received_ms for events without one), never the engine's clock,
 * so replaying the same input gives the same alerts with the same ids.
 */
#ifndef VGL_LUA_ENGINE_H
#define VGL_LUA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "event.h"

typedef struct vgl_ruleset vgl_ruleset;
typedef struct vgl_rules vgl_rules;

/* ------------------------------------------------------------ rulesets */

/* Load the rule files at paths (files, or directories searched
 * recursively for *.lua, in sorted order), validate and compile them with
 * the given limits (limits.lua_memory, lua_instructions, max_keys_per_rule,
 * max_evidence, allowed_lateness_ms, rule_max_failures). Returns NULL when
 * anything is wrong, with every problem in diag as "FILE:LINE: message".
 * paths and limits are borrowed for the call. Any thread. */
vgl_ruleset *vgl_ruleset_load(const char *const *paths, size_t npaths,
                              const vgl_limits_cfg *limits, vgl_diag *diag);
/* Drop the caller's reference: the ruleset is freed once no engine uses
 * it either. Any thread. NULL is ignored. */
void vgl_ruleset_free(vgl_ruleset *rs);
size_t vgl_ruleset_count(const vgl_ruleset *rs);
/* Id of rule i (0 <= i < count), borrowed from rs. */
const char *vgl_ruleset_rule_id(const vgl_ruleset *rs, size_t i);

/* -------------------------------------------------------------- engines */

/* A new engine for one worker. It takes its own reference on rs (the
 * caller keeps its own). on_alert is required; on_suppressed (optional)
 * receives alerts withheld by a rule's `suppress` window, so incidents can
 * count them. Both run on the worker thread, synchronously inside
 * vgl_rules_process/tick; the alert and its strings are borrowed for the
 * duration of the callback, which must not call back into the engine.
 * NULL with err when the worker's Lua state cannot be built. */
vgl_rules *vgl_rules_new(vgl_ruleset *rs, int worker_id, vgl_alert_fn on_alert,
                         vgl_alert_fn on_suppressed, void *opaque, char *err, size_t errlen);
void vgl_rules_free(vgl_rules *e);

/* Run one event through the candidate rules (ev borrowed for the call).
 * Rule failures are counted, logged and never returned: VGL_OK unless the
 * engine itself ran out of memory. */
vgl_rc vgl_rules_process(vgl_rules *e, const vgl_event *ev);

/* Between batches, with the wall clock. Once the stream has been idle for
 * limits.allowed_lateness (by the received_ms of the last event), event
 * time is taken to advance with the wall clock, so absence rules still
 * conclude; while events flow, tick changes nothing (replays stay
 * deterministic). Also expires idle state. */
void vgl_rules_tick(vgl_rules *e, int64_t now_ms);

/* Advance the watermark (event time minus allowed lateness) to at least
 * watermark_ms and fire what became due: for the end of a replay
 * (`vigil test`) or tests. */
void vgl_rules_advance(vgl_rules *e, int64_t watermark_ms);

/* Switch to another ruleset between batches (takes its own reference and
 * drops the old one). State of rules whose id and stateful definition are
 * unchanged is carried over, as are suppression windows and counters of
 * rules with the same id. On failure (the worker's Lua state for rs cannot
 * be built) the engine keeps the old ruleset and err says why. */
vgl_rc vgl_rules_swap(vgl_rules *e, vgl_ruleset *rs, char *err, size_t errlen);

/* -------------------------------------------------------------- stats */

typedef struct vgl_rule_stats {
    const char *rule_id;     /* borrowed from the engine's ruleset */
    uint64_t evaluations;    /* events that reached the rule (index candidates) */
    uint64_t matches;        /* events that passed where (+ match) */
    uint64_t alerts;         /* alerts emitted */
    uint64_t suppressed;     /* alerts withheld by `suppress` */
    uint64_t errors;         /* failed calls: errors, budget, memory */
    uint64_t time_ns;        /* time in match/stateful/Lua work past the prefilter */
    uint64_t state_keys;     /* keys held now */
    uint64_t evictions;      /* keys dropped by max_keys_per_rule */
    bool disabled;           /* after limits.rule_max_failures failures */
} vgl_rule_stats;

typedef struct vgl_engine_stats {
    uint64_t events;
    uint64_t late;           /* older than the watermark: stateless rules only */
    uint64_t candidates;     /* rule evaluations reached through the index */
    uint64_t alerts;
    uint64_t suppressed;
    uint64_t errors;
    int64_t watermark_ms;    /* INT64_MIN before the first event */
    size_t lua_memory;       /* bytes held by the worker's Lua state */
} vgl_engine_stats;

/* On the worker thread (e.g. in its idle hook), or from another thread
 * while no swap can run: counters are written with relaxed atomics. */
size_t vgl_rules_count(const vgl_rules *e);
void vgl_rules_rule_stats(const vgl_rules *e, size_t i, vgl_rule_stats *out);
void vgl_rules_stats(const vgl_rules *e, vgl_engine_stats *out);

#endif
