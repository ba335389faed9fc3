/*
 * Alerts: what a rule hit or a detection plugin produces. The producer
 * fills a vgl_alert whose strings are borrowed for the duration of the
 * emit callback; the receiver (incident manager, output encoder) copies
 * what it keeps. Field names are the output contract (docs/outputs.md).
 */
#ifndef VGL_ALERT_H
#define VGL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"

typedef enum vgl_severity {
    VGL_SEV_INFORMATIONAL = 0,
    VGL_SEV_LOW = 1,
    VGL_SEV_MEDIUM = 2,
    VGL_SEV_HIGH = 3,
    VGL_SEV_CRITICAL = 4
} vgl_severity;

const char *vgl_severity_name(vgl_severity s);
bool vgl_severity_parse(const char *s, vgl_severity *out);

/* Entity types: account, host, ip, url, filehash, process, resource,
 * domain, mailbox (free text is accepted; these are the documented ones). */
typedef struct vgl_entity {
    const char *type;
    const char *value;
} vgl_entity;

/* One contributing event. fields is an object of the key fields (the
 * rule's where/by/entity fields) or NULL. */
typedef struct vgl_evidence {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;
    const vgl_value *fields;
} vgl_evidence;

/* A response requested by a rule (ctx:respond{...}). */
typedef struct vgl_response_req {
    const char *action;
    const char *target; /* entity type */
} vgl_response_req;

#define VGL_ALERT_ID_LEN 32

typedef struct vgl_alert {
    char alert_id[VGL_ALERT_ID_LEN + 1]; /* hex, filled by vgl_alert_make_id */
    const char *rule_id;
    const char *title;
    const char *description;  /* may be NULL */
    vgl_severity severity;
    const char *tactic;       /* MITRE tactic name, may be NULL */
    const char *technique;    /* MITRE technique id, may be NULL */
    int64_t time_ms;          /* event time of the triggering event */
    const vgl_entity *entities; size_t nentities;
    const vgl_evidence *evidence; size_t nevidence;
    const char *const *tags; size_t ntags;
    const vgl_response_req *responses; size_t nresponses;
    int64_t suppress_ms;      /* rule's suppress window, 0 = none */
} vgl_alert;

/* Deterministic id: hash of rule id, entities (in order), and the
 * topic/partition/offset of every evidence event, so a replay of the same
 * input gives the same id. */
void vgl_alert_make_id(vgl_alert *a);

/* The alert as one JSON object (docs/outputs.md). */
bool vgl_alert_to_json(const vgl_alert *a, vgl_buf *out);

typedef void (*vgl_alert_fn)(void *opaque, const vgl_alert *alert);

#endif
