/*
 * State of stateful rules, owned by one worker's engine (no locks): a key
 * store per rule (hash + LRU list, bounded by limits.max_keys_per_rule,
 * evictions counted), the per-key data of threshold, sequence and absence
 * rules, evidence records with a snapshot of the key fields, and the
 * deadline heap that fires absence rules when the watermark passes.
 */
#ifndef VGL_LUA_STATEFUL_H
#define VGL_LUA_STATEFUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "prefilter.h"

/* One contributing event, as alerts report it. */
typedef struct vgl_evrec {
    const char *topic;     /* interned by the engine: lives as long as it */
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;
    vgl_value *fields;     /* snapshot object of the rule's key fields (owned) */
} vgl_evrec;

/* A copy of the given fields of ev as one object {"a.b": value, ...} in a
 * single allocation (free()); fields too large to keep are left out. */
vgl_value *vgl_snapshot(const vgl_event *ev, const vgl_path *const *paths, uint32_t n);
void vgl_evrec_free(vgl_evrec *r);

/* ------------------------------------------------------------ key store */

typedef struct vgl_skey vgl_skey;
struct vgl_skey {
    vgl_skey *hnext;
    vgl_skey *newer, *older;  /* LRU list */
    uint32_t hash;
    uint32_t klen;
    uint32_t heap_pos;        /* in the deadline heap, UINT32_MAX if not */
    int64_t last_ts;          /* event time of the last update */
    int64_t aux;              /* suppression: time of the last alert */
    void *data;               /* per-kind payload */
    char key[];
};

typedef void (*vgl_skey_drop_fn)(void *ctx, vgl_skey *k);

typedef struct vgl_sstore {
    vgl_skey **buckets;
    uint32_t nbuckets;
    uint32_t n;
    uint32_t max_keys;
    vgl_skey *newest, *oldest;
    uint64_t evictions;
    vgl_skey_drop_fn drop;    /* frees k->data (and unlinks it elsewhere) */
    void *ctx;
} vgl_sstore;

void vgl_sstore_init(vgl_sstore *s, uint32_t max_keys, vgl_skey_drop_fn drop, void *ctx);
/* Drops every key. */
void vgl_sstore_free(vgl_sstore *s);
/* Find a key and mark it most recently used. */
vgl_skey *vgl_sstore_find(vgl_sstore *s, const char *key, size_t len);
/* Insert a new key (not present), evicting the least recently used one
 * when full. NULL when out of memory. */
vgl_skey *vgl_sstore_insert(vgl_sstore *s, const char *key, size_t len);
void vgl_sstore_remove(vgl_sstore *s, vgl_skey *k);

/* --------------------------------------------------------- threshold */

typedef struct vgl_distinct_val {
    char *text;       /* normalized (lower-cased / canonical number) */
    uint32_t len;
    int64_t last_ts;
    vgl_evrec ev;     /* latest event with this value */
} vgl_distinct_val;

typedef struct vgl_threshold_state {
    int64_t *ts;          /* sorted event times, at most count */
    uint32_t nts, capts;
    vgl_evrec *ev;        /* ring of the latest events, at most max_evidence */
    uint32_t nev, evhead, capev;
    vgl_distinct_val *vals; /* distinct: at most count values */
    uint32_t nvals, capvals;
} vgl_threshold_state;

void vgl_threshold_free(vgl_threshold_state *st);
/* Count an event at time t for a threshold of count within window_ms.
 * rec is moved in. dval: the normalized distinct value or NULL. Returns
 * true when the threshold is reached: the contributing events (at most
 * max_evidence, oldest first) are moved to out (*nout) and the state
 * starts over. */
bool vgl_threshold_add(vgl_threshold_state *st, uint32_t count, int64_t window_ms,
                       uint32_t max_evidence, int64_t t, vgl_evrec *rec, const char *dval,
                       size_t dlen, vgl_evrec *out, size_t *nout);

/* ---------------------------------------------------------- sequence */

typedef struct vgl_sequence_state {
    uint32_t step;        /* next step to match */
    int64_t start_ts;
    vgl_evrec *ev;        /* one per matched step */
} vgl_sequence_state;

void vgl_sequence_free(vgl_sequence_state *st, uint32_t nsteps);

/* ----------------------------------------------------------- absence */

typedef struct vgl_absence_state {
    bool pending;
    int64_t after_ts;
    int64_t deadline;
    vgl_evrec ev;         /* the `after` event */
} vgl_absence_state;

/* Deadlines of pending absence rules, earliest first; ties by insertion. */
typedef struct vgl_deadline {
    int64_t at;
    uint64_t seq;
    uint32_t rule;
    vgl_skey *key;
} vgl_deadline;

typedef struct vgl_dheap {
    vgl_deadline *d;
    uint32_t n, cap;
    uint64_t seq;
} vgl_dheap;

bool vgl_dheap_push(vgl_dheap *h, int64_t at, uint32_t rule, vgl_skey *key);
void vgl_dheap_remove(vgl_dheap *h, vgl_skey *key);
/* The earliest deadline, NULL when empty. */
const vgl_deadline *vgl_dheap_top(const vgl_dheap *h);
void vgl_dheap_free(vgl_dheap *h);

#endif
