/*
 * The event model used by every stage, decoder and plugin: a tree of typed
 * values (null, bool, int64, double, string, array, object) held in the
 * event's arena, field lookup by pre-resolved dotted paths, the event time,
 * and the Kafka metadata of the record it came from.
 *
 * Memory: everything an event points to lives in its arena and is released
 * by vgl_event_reset(). Pointers returned by lookups stay valid until the
 * containing object or array is next modified, or the event is reset.
 */
#ifndef VGL_EVENT_H
#define VGL_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/types.h"
#include "arena.h"

#define VGL_TS_NONE INT64_MIN

typedef struct vgl_value vgl_value;
typedef struct vgl_member vgl_member;

struct vgl_value {
    uint8_t type;  /* vgl_type */
    uint32_t n;    /* string bytes, array items or object members */
    uint32_t cap;  /* allocated items/members */
    union {
        bool b;
        int64_t i;
        double d;
        const char *s; /* NUL-terminated copy; may hold inner NULs, use n */
        vgl_value *items;
        vgl_member *members;
    } u;
};

struct vgl_member {
    const char *key;
    uint32_t klen;
    uint32_t khash;
    vgl_value v;
};

/* Where an event came from. Strings are borrowed from the consumer's
 * message (valid while the event is) or copied into the arena. */
typedef struct vgl_event_meta {
    const char *topic;
    int32_t partition;
    int64_t offset;      /* -1 when not from Kafka */
    const void *key;
    size_t key_len;
    int64_t received_ms; /* wall clock when consumed (ms since epoch) */
} vgl_event_meta;

typedef struct vgl_event {
    vgl_arena arena;
    vgl_value root;  /* always an object */
    int64_t ts_ms;   /* event time, ms since epoch, VGL_TS_NONE if unknown */
    vgl_event_meta meta;
} vgl_event;

/* A pre-resolved dotted field path ("source.ip"). Interned: the same string
 * always gives the same pointer; handles live until process exit. */
typedef struct vgl_path_seg {
    const char *s;
    uint32_t len;
    uint32_t hash;
    /* the rest of the path from this segment on, as one literal key
     * ("a.b.c" at segment 0), for events whose keys contain dots */
    uint32_t rest_len;
    uint32_t rest_hash;
} vgl_path_seg;

typedef struct vgl_path {
    uint32_t id;
    uint32_t nseg;
    const char *str;
    vgl_path_seg seg[];
} vgl_path;

/* ---- hashing ---- */
static inline uint32_t vgl_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- paths ---- */
/* Intern a dotted path. NULL on an empty path, an empty segment
 * ("a..b"), or a path over 1024 bytes. Thread-safe. */
const vgl_path *vgl_path_intern(const char *dotted);
/* Release every interned path (at process exit, for leak checkers). */
void vgl_path_registry_free(void);

/* ---- events ---- */
/* mem_limit: bytes one event may allocate (0 = unlimited). */
void vgl_event_init(vgl_event *ev, size_t mem_limit);
void vgl_event_reset(vgl_event *ev);
void vgl_event_destroy(vgl_event *ev);

const vgl_value *vgl_event_get(const vgl_event *ev, const vgl_path *p);
/* Slot for the field at p, creating intermediate objects (and replacing
 * the old value). NULL with *rc set when an intermediate is not an object
 * or memory runs out. */
vgl_value *vgl_event_set(vgl_event *ev, const vgl_path *p, vgl_rc *rc);
vgl_rc vgl_event_set_str(vgl_event *ev, const vgl_path *p, const char *s, size_t len);
vgl_rc vgl_event_set_int(vgl_event *ev, const vgl_path *p, int64_t i);
vgl_rc vgl_event_set_double(vgl_event *ev, const vgl_path *p, double d);
vgl_rc vgl_event_set_bool(vgl_event *ev, const vgl_path *p, bool b);
/* Copy v (deeply, into ev's arena) to the field at p. */
vgl_rc vgl_event_set_value(vgl_event *ev, const vgl_path *p, const vgl_value *v);
/* Append a string to the array at p (created if missing; a scalar there
 * becomes the array's first item). Skips a value already present. */
vgl_rc vgl_event_append_str(vgl_event *ev, const vgl_path *p, const char *s, size_t len);

/* ---- values ---- */
void vgl_value_set_str(vgl_event *ev, vgl_value *v, const char *s, size_t len, vgl_rc *rc);
void vgl_value_set_object(vgl_value *v);
void vgl_value_set_array(vgl_value *v);
/* Append a member (no duplicate check: lookups see the last one added).
 * key is copied unless key_borrowed, in which case it must outlive ev. */
vgl_value *vgl_object_add(vgl_event *ev, vgl_value *obj, const char *key, size_t klen,
                          bool key_borrowed);
vgl_value *vgl_array_push(vgl_event *ev, vgl_value *arr);
const vgl_value *vgl_object_get(const vgl_value *obj, const char *key, size_t klen,
                                uint32_t hash);
/* Deep copy into ev's arena. */
vgl_rc vgl_value_copy(vgl_event *ev, vgl_value *dst, const vgl_value *src);
bool vgl_value_equal(const vgl_value *a, const vgl_value *b);
/* Text of a scalar ("true", "42", "1.5", the string itself); for a
 * string *out points into the value, else into buf. False for
 * null/array/object. */
bool vgl_value_text(const vgl_value *v, char *buf, size_t buflen, const char **out,
                    size_t *outlen);
/* Number of a scalar: ints, doubles, and strings holding a number
 * ("4624", "443.0"). */
bool vgl_value_number(const vgl_value *v, double *out);
const char *vgl_type_name(vgl_type t);

/* ---- time ---- */
/* Parse RFC 3339 ("2020-10-22T02:57:59.857Z", "+02:00" offsets), the
 * zone-less "YYYY-MM-DD hh:mm:ss[.fff]" of Sentinel exports (UTC), and epoch
 * seconds or milliseconds (digits; >= 1e11 means ms). */
bool vgl_time_parse(const char *s, size_t len, int64_t *ms);
/* Event time from the first of the given fields present and parseable
 * (numbers as epoch s/ms). Sets ev->ts_ms and returns true on success. */
bool vgl_event_take_time(vgl_event *ev, const vgl_path *const *fields, size_t nfields);
/* "2020-10-22T02:57:59.857Z"; buf needs 25 bytes. */
size_t vgl_time_format(int64_t ms, char *buf, size_t buflen);

#endif
