/*
 * Incidents: the stage after detection. Every alert (a Lua rule hit or a
 * detection plugin's alert) is written to outputs.alerts, grouped into an
 * incident the way Microsoft Sentinel groups alerts (shared entities within
 * a time window), and run through the automation rules, which may write
 * actions to outputs.actions (with the safety checks of
 * response.protected / rate_limit / dry_run applied before they are
 * written). Record fields: docs/outputs.md.
 *
 * Threads: vgl_incidents is immutable after creation and shared by every
 * worker; each worker thread owns one vgl_incident_worker (no locks). State
 * lives with the worker that owns the partitions the alerts came from.
 *
 * Determinism: grouping and closing follow event time (the alerts' time),
 * never the wall clock; incident_id is a hash of the incident's first
 * alert_id and action_id a hash of incident, action and target, so
 * replaying the same input gives the same incidents, versions and actions.
 */
#ifndef VGL_INCIDENTS_H
#define VGL_INCIDENTS_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "pipeline.h"

/* Bounds on the state one incident keeps (counts stay exact). */
#define VGL_INCIDENT_MAX_ENTITIES 64   /* entities listed (and grouped on) */
#define VGL_INCIDENT_MAX_ALERT_IDS 100 /* alert_ids listed; alert_count is exact */
#define VGL_INCIDENT_MAX_TACTICS 16
#define VGL_INCIDENT_MAX_TECHNIQUES 32
#define VGL_INCIDENT_MAX_RULES 32      /* rule_ids kept for action records */
#define VGL_INCIDENT_MAX_ACTIONS 256   /* action ids remembered to issue each once */

/* Where records go: kind picks the output topic; key and value are
 * borrowed for the call (the receiver copies them). */
typedef void (*vgl_emit_fn)(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                            const void *value, size_t len);

typedef struct vgl_incidents vgl_incidents;              /* shared, immutable, any thread */
typedef struct vgl_incident_worker vgl_incident_worker;  /* one per worker thread, no locks */

/* cfg is borrowed and must outlive the result. NULL with a line in diag on
 * a bad automation/response config or when outputs.format avro cannot load
 * its schemas (SCHEMA_DIR/alert.avsc, incident.avsc, action.avsc). */
vgl_incidents *vgl_incidents_new(const vgl_config *cfg, vgl_diag *diag);
void vgl_incidents_free(vgl_incidents *inc);

/* NULL when out of memory. emit is called on this worker's thread only. */
vgl_incident_worker *vgl_incident_worker_new(vgl_incidents *inc, int worker_id, vgl_emit_fn emit,
                                             void *opaque);
/* Frees the worker's state without emitting anything. NULL ok. */
void vgl_incident_worker_free(vgl_incident_worker *w);

/* A rule or detection-plugin hit (alert borrowed for the call; alert_id
 * already made). Emits, through emit, in this order: the alert record
 * (VGL_OUT_ALERTS, key alert_id, JSON or Avro per outputs.format), the
 * new/updated incident (VGL_OUT_INCIDENTS, key incident_id, whole incident
 * each time, version++), and any action records from automation rules and
 * from the alert's responses[] (VGL_OUT_ACTIONS, key action_id).
 * An alert over incidents.max_alerts_per_rule_per_min (per rule, per minute
 * of event time) is not written: it is counted (rate_capped) and summarized
 * like a suppressed one. */
void vgl_incident_alert(vgl_incident_worker *w, const vgl_alert *a);

/* An alert withheld by a rule's suppress window: counted, and summarized on
 * the open incident it would join (suppressed_count++). That incident is
 * written again at the next vgl_incident_tick (once per batch however many
 * were withheld) unless an alert updates it first. */
void vgl_incident_suppressed(vgl_incident_worker *w, const vgl_alert *a);

/* Between batches: writes incidents changed by suppressed alerts, then
 * closes incidents idle beyond incidents.group_window by event time (their
 * last_seen is more than the window before the newest alert time this
 * worker has seen), writing them a last time with status "closed".
 * now_ms (wall clock) is not used for grouping; it is accepted so a caller
 * can tick without alerts. incidents.max_open is enforced when an incident
 * opens: the least recently updated one is closed (counted as evicted). */
void vgl_incident_tick(vgl_incident_worker *w, int64_t now_ms);

/* Global grouping runs in two stages (docs/architecture.md, "Incidents
 * across partitions"):
 *   stage 1 (VGL_INC_STAGE_ALERTS), on the worker that raised the alert:
 *     rate cap, the alert record, then `forward` hands the alert (or a
 *     withheld one, suppressed = true) to the internal grouping topic;
 *   stage 2 (VGL_INC_STAGE_GROUP), on the worker owning the grouping
 *     topic's partition: incidents and automation only.
 * VGL_INC_STAGE_ALL (the default) does everything in one place (per-worker
 * grouping, and `vigil test`). */
enum { VGL_INC_STAGE_ALL = 0, VGL_INC_STAGE_ALERTS = 1, VGL_INC_STAGE_GROUP = 2 };
typedef void (*vgl_forward_fn)(void *opaque, const vgl_alert *a, bool suppressed);
void vgl_incident_worker_set_stage(vgl_incident_worker *w, int stage, vgl_forward_fn fn,
                                   void *opaque);

typedef struct vgl_incident_stats {
    uint64_t alerts, suppressed, rate_capped, opened, updated, closed, evicted, actions,
        refused_protected, refused_rate_limited, dry_run;
} vgl_incident_stats;
void vgl_incident_worker_stats(const vgl_incident_worker *w, vgl_incident_stats *out);

/* Open incidents held by the worker (tests, metrics). */
size_t vgl_incident_worker_open(const vgl_incident_worker *w);

#endif
