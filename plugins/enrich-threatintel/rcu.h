/*
 * A published pointer that readers never wait for (read-copy-update with
 * two reader counters and an epoch), for data that is rebuilt off the hot
 * path and swapped in whole: the indicator sets of enrich-threatintel and
 * the tables of enrich-watchlist.
 *
 *   reader (any number of threads, e.g. once per batch):
 *       unsigned slot;
 *       const set *s = rcu_read_lock(&r, &slot);  ... use s ...
 *       rcu_read_unlock(&r, slot);
 *   writer (one thread at a time):
 *       old = rcu_publish(&r, fresh);   waits until no reader can still
 *       free(old);                      see old, then returns it
 *
 * A reader announces itself in the counter of the current epoch's parity
 * and re-checks the epoch; the writer swaps the pointer, advances the
 * epoch, and waits for the previous parity's counter to drain. A reader
 * that raced with the advance sees the new epoch and retries, so it never
 * holds a pointer the writer has stopped waiting for. Readers take no lock
 * and never sleep; only the writer waits (for the batches in flight).
 * Sequentially consistent atomics throughout: this is not the hot loop.
 */
#ifndef VGL_PLUGIN_RCU_H
#define VGL_PLUGIN_RCU_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

typedef struct rcu_ptr {
    _Atomic(void *) ptr;
    _Atomic uint64_t epoch;
    _Atomic uint64_t readers[2];
} rcu_ptr;

static inline void rcu_init(rcu_ptr *r, void *p)
{
    atomic_init(&r->ptr, p);
    atomic_init(&r->epoch, 0);
    atomic_init(&r->readers[0], 0);
    atomic_init(&r->readers[1], 0);
}

static inline void *rcu_read_lock(rcu_ptr *r, unsigned *slot)
{
    for (;;) {
        uint64_t e = atomic_load(&r->epoch);
        unsigned s = (unsigned)(e & 1);
        atomic_fetch_add(&r->readers[s], 1);
        if (atomic_load(&r->epoch) == e) {
            *slot = s;
            return atomic_load(&r->ptr);
        }
        atomic_fetch_sub(&r->readers[s], 1);
    }
}

static inline void rcu_read_unlock(rcu_ptr *r, unsigned slot)
{
    atomic_fetch_sub(&r->readers[slot], 1);
}

/* Publish p and return the previous pointer once no reader uses it. */
static inline void *rcu_publish(rcu_ptr *r, void *p)
{
    void *old = atomic_exchange(&r->ptr, p);
    uint64_t e = atomic_fetch_add(&r->epoch, 1);
    unsigned s = (unsigned)(e & 1);
    while (atomic_load(&r->readers[s]) != 0) {
        struct timespec ts = {0, 100000}; /* 100 us: a batch is short */
        nanosleep(&ts, NULL);
    }
    return old;
}

/* The current pointer, for the writer's own thread (or when no reader runs). */
static inline void *rcu_peek(rcu_ptr *r)
{
    return atomic_load(&r->ptr);
}

#endif
