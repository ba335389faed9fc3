/*
 * Helpers shared by the three Azure source plugins (azure-activity,
 * entra-signin, nsg-flow), compiled into each of them: reading a record
 * whose sub-objects may be real objects or JSON text (Sentinel exports
 * store LocationDetails, Status and Properties as strings), bounded
 * scratch memory for the strings a record yields, writing normalized
 * fields with one error state, the {"records":[...]} envelope, and the
 * small normalizations every Azure source needs (vigil.user, resource
 * ids, IP addresses, @timestamp).
 *
 * Everything read from a record is hostile: lengths are bounded, embedded
 * JSON is parsed by a validating scanner with a size and depth limit, and
 * values quoted in failure reasons are cut and made printable.
 *
 * Not thread-safe: each per-worker plugin instance owns one az_ctx.
 */
#ifndef AZURE_COMMON_H
#define AZURE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vigil/plugin.h>

/* Longest string copied into a normalized field; longer values stay in
 * the original record only (counted as skipped). */
#define AZ_MAX_FIELD 4096
/* Nesting limit of embedded JSON text. */
#define AZ_MAX_JSON_DEPTH 32
/* Room for a failure reason (host copies it into the dead-letter record). */
#define AZ_REASON_MAX 512

/* ---------------------------------------------------------- scratch */

/* A bump allocator in stable blocks: pointers stay valid until reset. */
typedef struct az_scratch_block az_scratch_block;
typedef struct az_scratch {
    az_scratch_block *blocks;
    size_t total; /* bytes held by all blocks */
    size_t cap;   /* most bytes it may hold */
} az_scratch;

/* ---------------------------------------------------------- values */

typedef enum az_type {
    AZ_MISSING = 0,
    AZ_NULL,
    AZ_BOOL,
    AZ_NUM,
    AZ_STR,
    AZ_ARR,
    AZ_OBJ
} az_type;

/* A value read from the event tree or from embedded JSON text. */
typedef struct az_val {
    az_type t;
    const char *s; /* STR: its bytes; OBJ/ARR of JSON text: the text */
    size_t len;
    double num;    /* NUM */
    bool b;        /* BOOL */
    const vgl_value *tree; /* set when the value lives in the event tree */
} az_val;

/* A top-level key of a record: its name (for records of an envelope) and
 * its interned path (for the event itself). */
typedef struct az_key {
    const char *name;
    const vgl_path *path;
} az_key;

/* A record: the event's own root (obj NULL) or an object inside it. */
typedef struct az_rec {
    vgl_event *ev;
    const vgl_value *obj;
} az_rec;

/* Per-instance state: host, scratch and the current record's failure. */
typedef struct az_ctx {
    const vgl_host *h;
    az_scratch scratch;
    size_t max_json;             /* longest embedded JSON text parsed */
    char reason[AZ_REASON_MAX];  /* why the current record fails */
    uint64_t skipped;            /* strings over AZ_MAX_FIELD not normalized */
} az_ctx;

/* max_json: limit for embedded JSON text; scratch_cap: bytes of strings
 * one record may yield. false when out of memory. */
bool az_ctx_init(az_ctx *c, const vgl_host *h, size_t max_json, size_t scratch_cap);
/* The options every Azure source takes, read and range-checked:
 * max_records (1..1000000) and max_embedded_json (1 KiB..64 MiB). */
bool az_read_limits(const vgl_host *host, const vgl_plugin_config *cfg, size_t *max_records,
                    size_t *max_json, char *err, size_t errlen);
void az_ctx_free(az_ctx *c);
/* Start a record: forget the scratch and the reason. */
void az_ctx_reset(az_ctx *c);

/* Set c->reason (printf-style, constant format; quote event data with
 * az_quote). Always returns false, so `return az_fail(...)` reads well. */
bool az_fail(az_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Put prefix ("records[3]: ") before the current reason. */
void az_reason_prefix(az_ctx *c, const char *prefix);
/* Event data made safe for a reason: at most 64 bytes, printable ASCII,
 * others as '?', "..." appended when cut. Returns buf. */
const char *az_quote(char *buf, size_t cap, const char *s, size_t len);
/* "a string", "a number", "an object", ... for messages. */
const char *az_type_name(az_type t);

/* -------------------------------------------------------- reading */

void az_from_tree(const vgl_host *h, const vgl_value *v, az_val *out);
/* Top-level field of a record (never fails: the record is an object). */
void az_field(az_ctx *c, const az_rec *r, const az_key *k, az_val *out);
/* Member key of obj (an object, or a string holding a JSON object: then
 * parsed with the limits above). name is obj's dotted name for messages.
 * MISSING/NULL obj gives MISSING. false (reason set) when obj is another
 * type or its JSON text is invalid. The last of duplicate keys wins. */
bool az_member(az_ctx *c, const az_val *obj, const char *name, const char *key, az_val *out);
/* az_member along segs[0..n); name grows as "name.seg". */
bool az_walk(az_ctx *c, const az_val *obj, const char *name, const char *const *segs, size_t n,
             az_val *out);
/* "base.seg0.seg1" into buf (cut to fit); no printf: runs per field. */
void az_name_join(char *buf, size_t cap, const char *base, const char *const *segs, size_t n);
#define AZ_SEGS(...) \
    (const char *const[]){__VA_ARGS__}, \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

/* Typed reads. Missing, null and (for str) over-long values give
 * *s = NULL / *present = false and true; a value of the wrong type gives
 * false with the reason "NAME is a number, expected a string". Strings
 * are copied into the scratch (so they survive writes to the event). */
bool az_str(az_ctx *c, const az_val *v, const char *name, const char **s, size_t *len);
/* Numbers, or strings holding a finite number ("443.0"); "" is absent. */
bool az_num(az_ctx *c, const az_val *v, const char *name, double *out, bool *present);
/* Booleans, or the strings true/false in any case. */
bool az_bool(az_ctx *c, const az_val *v, const char *name, bool *out, bool *present);

/* -------------------------------------------------------- writing */

/* Writes to one event; the first failure is kept and later writes are
 * skipped, so a normalizer writes everything and checks once. */
typedef struct az_out {
    az_ctx *c;
    vgl_event *ev;
    vgl_rc rc;
    const vgl_path *failed; /* field of the first failed write */
} az_out;

void az_out_start(az_out *o, az_ctx *c, vgl_event *ev);
/* s NULL or empty: nothing written. */
void az_put_str(az_out *o, const vgl_path *p, const char *s, size_t len);
void az_put_cstr(az_out *o, const vgl_path *p, const char *s);
void az_put_int(az_out *o, const vgl_path *p, int64_t v);
void az_put_double(az_out *o, const vgl_path *p, double v);
void az_put_bool(az_out *o, const vgl_path *p, bool v);
/* Event time (host) and its RFC 3339 text in p (@timestamp). */
void az_put_time(az_out *o, const vgl_path *p, int64_t ms);
/* true when every write succeeded; else false with c->reason set. */
bool az_out_ok(az_out *o);

/* "2020-10-22T02:57:59.857Z" (24 bytes + NUL); buf needs 25. */
size_t az_time_format(int64_t ms, char *buf, size_t cap);

/* ------------------------------------------------- normalizations */

/* vigil.user: lower-case, "DOMAIN\user" and "user@domain" give "user".
 * Returns the length written to buf (0: nothing usable). */
size_t az_user_key(const char *s, size_t len, char *buf, size_t cap);
/* The domain of "user@domain" or "DOMAIN\user", else NULL. */
const char *az_user_domain(const char *s, size_t len, size_t *dlen);
/* A literal IPv4/IPv6 address (no port, no brackets). */
bool az_ip_valid(const char *s, size_t len);
/* An IP worth putting in source.ip: valid and not a placeholder
 * (loopback, unspecified). */
bool az_ip_useful(const char *s, size_t len);
/* Subscription and resource group of "/subscriptions/S/resourceGroups/G/..."
 * (segment names in any case). Missing parts give NULL. */
void az_resource_parts(const char *id, size_t len, const char **sub, size_t *sublen,
                       const char **rg, size_t *rglen);
/* ASCII lower-case copy into the scratch (NULL when it does not fit). */
const char *az_lower(az_ctx *c, const char *s, size_t len);

/* ------------------------------------------------- envelope, copies */

/* If the event is {"records":[...]}: 1 with the array's items (each an
 * object) in *items; 0 when it has no "records" member; -1 (reason set)
 * when records is not an array, is empty, holds more than max_records
 * items or an item that is not an object. */
int az_envelope(az_ctx *c, vgl_event *ev, const vgl_path *p_records, size_t max_records,
                const vgl_value **items);

/* Copies the members of an envelope's record into a new event, resolving
 * each distinct key to a path once (bounded: AZ_COPIER_KEYS keys per
 * instance; keys that are empty, hold '.', are longer than 128 bytes or do
 * not fit are not copied and are counted in `skipped`). */
#define AZ_COPIER_KEYS 512
typedef struct az_copier {
    const vgl_host *h;
    struct az_copier_slot {
        char *key;
        size_t klen;
        const vgl_path *path;
    } *slots; /* open addressing, 2 * AZ_COPIER_KEYS */
    size_t used;
    uint64_t skipped;
} az_copier;

bool az_copier_init(az_copier *cp, const vgl_host *h);
void az_copier_free(az_copier *cp);
/* scalars_only: copy strings, numbers, bools and nulls only (NSG tuple
 * events must not carry the whole flow list each). */
vgl_rc az_copy_members(az_copier *cp, vgl_event *dst, const vgl_value *obj, bool scalars_only);

/* ----------------------------------------------- one record, one event */

/* A source whose records each give one event (entra-signin,
 * azure-activity): read checks one record and fills `parsed` (strings in
 * the scratch); write puts it on an event. */
typedef struct az_record_ops {
    bool (*read)(void *plugin, const az_rec *rec, void *parsed);
    void (*write)(void *plugin, az_out *o, const void *parsed);
} az_record_ops;

/* Normalize batch event i: in place, or, for an envelope, one new event
 * per record (its members copied, then normalized) after every record was
 * read without error; the envelope itself is dropped. false with
 * c->reason set when the input record must be dead-lettered. */
bool az_process_record(az_ctx *c, az_copier *cp, vgl_batch *batch, size_t i, vgl_event *ev,
                       const vgl_path *p_records, size_t max_records, const az_record_ops *ops,
                       void *plugin, void *parsed);

#endif
