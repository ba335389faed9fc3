/*
 * Automated response: the decisions and safety checks shared by the
 * incident stage (which decides actions and writes them to
 * outputs.actions) and `vigil respond` (which checks them again and has a
 * responder plugin carry them out):
 *
 *   - automation rules: does an alert match `when`, which entities does an
 *     action apply to;
 *   - response.protected: IPs and networks, accounts, hosts never acted on;
 *   - response.rate_limit: a cap per action type per window;
 *   - the action and action-result records (docs/outputs.md) and their
 *     JSON or Avro encoding, which also covers alerts and incidents: one
 *     encoder for every record vigil writes after detection.
 *
 * Everything here is single-threaded per object except vgl_protected and
 * vgl_automation, which are immutable after creation and shared.
 */
#ifndef VGL_AUTOMATION_H
#define VGL_AUTOMATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/plugin.h"
#include "alert.h"
#include "buf.h"
#include "config.h"
#include "event.h"

/* Length caps on text taken from alerts into incidents and actions
 * (longer text is cut at a UTF-8 character boundary). */
#define VGL_TEXT_MAX 1024      /* entity values, titles, reasons */
#define VGL_NAME_MAX 256       /* rule ids, tactics, techniques, action names */

/* ------------------------------------------------------- protected */

typedef struct vgl_protected vgl_protected;

/* Parse response.protected. NULL with a line in diag when an IP/CIDR does
 * not parse (config.c checks it too) or memory runs out. */
vgl_protected *vgl_protected_new(const vgl_response_cfg *r, vgl_diag *diag);
void vgl_protected_free(vgl_protected *p);
/* True when the target must never be acted upon:
 *   ip               the address equals a listed address or lies in a listed
 *                    network (IPv4-mapped IPv6 counts as IPv4);
 *   account, mailbox equal to a listed account ignoring case; a listed
 *                    account without a domain ("breakglass") also covers
 *                    "breakglass@any" and "ANY\breakglass";
 *   host             equal ignoring case, or one is the other's first label
 *                    ("dc01" covers "DC01.corp.example.com").
 * Other types are never protected. Errs on the side of refusing. */
bool vgl_protected_match(const vgl_protected *p, const char *type, const char *value);

/* ------------------------------------------------------ rate limit */

typedef struct vgl_rate_limiter vgl_rate_limiter;

/* One window per response.rate_limit item. A limit with action "*" caps all
 * actions together; others cap their action type. Windows are fixed: each
 * starts with the first action after the previous one ended. */
vgl_rate_limiter *vgl_rate_limiter_new(const vgl_response_cfg *r);
void vgl_rate_limiter_free(vgl_rate_limiter *rl);
/* Take one action of type `action` at now_ms. True when every applicable
 * limit has room (each is then charged); false when one is exhausted
 * (nothing charged) with *tripped pointing at that limit's config. */
bool vgl_rate_limiter_take(vgl_rate_limiter *rl, const char *action, int64_t now_ms,
                           const vgl_rate_limit_cfg **tripped);

/* ------------------------------------------------- automation rules */

/* Compiled automation rules (cfg->automation), immutable. */
typedef struct vgl_automation vgl_automation;

/* NULL with diag lines on a rule that cannot be compiled (an unknown
 * severity name, a params value too deep). */
vgl_automation *vgl_automation_new(const vgl_config *cfg, vgl_diag *diag);
void vgl_automation_free(vgl_automation *am);
size_t vgl_automation_count(const vgl_automation *am);
const vgl_automation_rule *vgl_automation_rule_at(const vgl_automation *am, size_t i);
/* The params of rule i's action j as pairs (values: scalars as written,
 * maps and lists as JSON text), borrowed from am. */
const vgl_pair *vgl_automation_params(const vgl_automation *am, size_t i, size_t j,
                                      size_t *nparams);

/* Does the alert satisfy rule i's `when`? Every listed condition must
 * hold; within a condition any value may match:
 *   severity     the alert's severity is one of those listed
 *   tactic       equal ignoring case, '-', '_' and spaces
 *                ("credential-access" = "CredentialAccess")
 *   technique    equal ignoring case, or the listed one is the parent
 *                technique ("T1110" matches "T1110.003")
 *   rule_id      equal
 *   tags         the alert has one of the tags
 *   entity_type  the alert has an entity of one of the types
 * A rule without `when` matches every alert. */
bool vgl_automation_matches(const vgl_automation *am, size_t i, const vgl_alert *a);

/* Lower-level matcher (tests, respond): severities listed by name plus an
 * optional minimum ("at least"); min < 0 means no minimum. */
bool vgl_automation_when_matches(const vgl_automation_when *w, int min_severity,
                                 const vgl_alert *a);

/* ---------------------------------------------------------- actions */

/* Status of an action record and of an action result. */
typedef enum vgl_action_status {
    VGL_ACT_REQUESTED = 0,       /* actions: to be carried out */
    VGL_ACT_REFUSED_PROTECTED,   /* the target is in response.protected */
    VGL_ACT_REFUSED_RATE_LIMITED,/* over a response.rate_limit */
    VGL_ACT_SUCCEEDED,           /* results: the responder did it */
    VGL_ACT_FAILED,              /* results: the responder failed (error says why) */
    VGL_ACT_DRY_RUN,             /* results: logged, not carried out */
    VGL_ACT_DUPLICATE            /* results: this action_id was handled already */
} vgl_action_status;

const char *vgl_action_status_name(vgl_action_status s);
bool vgl_action_status_parse(const char *s, vgl_action_status *out);

/* An action or action result. Every pointer is borrowed by the encoder. */
typedef struct vgl_action {
    char action_id[33];
    const char *action;        /* block_ip, disable_user, ... */
    const char *target_type;   /* entity type, or "incident" for actions without a target */
    const char *target;        /* entity value */
    const char *incident_id;   /* NULL for none */
    const char *const *rule_ids; size_t nrule_ids;
    const char *automation;    /* automation rule name; NULL when a rule asked directly */
    const char *reason;
    int64_t requested_ms;      /* event time of the alert that led to it */
    bool dry_run;
    int64_t expires_ms;        /* requested_ms + duration; 0 = permanent */
    vgl_action_status status;
    const char *error;         /* results (and refusals): why; NULL otherwise */
    const vgl_pair *params; size_t nparams;
    /* results only */
    int64_t finished_ms;       /* 0 on action records */
    const char *responder;     /* responder instance id, NULL on action records */
} vgl_action;

/* action_id = hash of incident_id (or "" when none), action, target type
 * and target value: the same decision on a replay gives the same id. */
void vgl_action_make_id(vgl_action *a);

/* ------------------------------------------------- record encoding */

typedef enum vgl_record_kind {
    VGL_REC_ALERT = 0,
    VGL_REC_INCIDENT,
    VGL_REC_ACTION, /* actions and action results (same schema) */
    VGL_REC_COUNT
} vgl_record_kind;

/* The encoder of outputs.format. For avro it loads SCHEMA_DIR/alert.avsc,
 * incident.avsc and action.avsc and writes the Confluent wire format (magic
 * 0, the 4-byte big-endian schema id of outputs.schema_ids, Avro binary).
 * Immutable, shared; NULL with err when a schema cannot be loaded. */
typedef struct vgl_outcodec vgl_outcodec;
vgl_outcodec *vgl_outcodec_new(const vgl_outputs_cfg *o, char *err, size_t errlen);
void vgl_outcodec_free(vgl_outcodec *c);
bool vgl_outcodec_is_avro(const vgl_outcodec *c);

/* Per-thread encoding state. */
typedef struct vgl_outctx vgl_outctx;
vgl_outctx *vgl_outctx_new(vgl_outcodec *c);
void vgl_outctx_free(vgl_outctx *x);
/* Encode a record built as a value tree (an object whose members are the
 * record's fields). out is reset first. */
vgl_rc vgl_outctx_encode(vgl_outctx *x, vgl_record_kind kind, const vgl_value *v, vgl_buf *out,
                         char *err, size_t errlen);
/* Decode an action record (JSON or Avro per the codec) into ev (reset
 * first) and fill *a with pointers into ev. VGL_ERR_INVALID with err on a
 * malformed record or a missing/mistyped required field. */
vgl_rc vgl_outctx_decode_action(vgl_outctx *x, const void *buf, size_t len, vgl_event *ev,
                                vgl_action *a, vgl_pair *params, size_t maxparams,
                                const char **rule_ids, size_t maxrules, char *err,
                                size_t errlen);

/* Value trees of the records (into ev's arena; root is set to an object). */
vgl_rc vgl_action_to_value(const vgl_action *a, vgl_event *ev, vgl_value *root);
vgl_rc vgl_alert_to_value(const vgl_alert *a, vgl_event *ev, vgl_value *root);

/* Builders for record value trees (NULL-safe on failure: a failed add
 * makes the tree incomplete and sets *rc). */
typedef struct vgl_vb {
    vgl_event *ev;
    vgl_rc rc;
} vgl_vb;
vgl_value *vgl_vb_add(vgl_vb *b, vgl_value *obj, const char *key);  /* key: static text */
void vgl_vb_str(vgl_vb *b, vgl_value *v, const char *s);            /* NULL -> null */
void vgl_vb_time(vgl_vb *b, vgl_value *v, int64_t ms);              /* RFC 3339; NONE -> null */
vgl_value *vgl_vb_push(vgl_vb *b, vgl_value *arr);

/* Copy at most max bytes of s, cut back to a UTF-8 character boundary;
 * NULL stays NULL. malloc'ed. */
char *vgl_strndup_utf8(const char *s, size_t max);

#endif
