/*
 * Per-key state of stateful rules: the LRU key store, evidence snapshots,
 * threshold counting and the absence deadline heap. See stateful.h.
 */
#include "stateful.h"

#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_MAX 8192 /* bytes one evidence snapshot may take */
#define SNAPSHOT_DEPTH 8

/* ------------------------------------------------------------ snapshots */

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Bytes needed for a deep copy of v's contents (not v itself). */
static size_t value_size(const vgl_value *v, int depth)
{
    if (depth > SNAPSHOT_DEPTH)
        return SIZE_MAX / 4;
    size_t n = 0;
    switch (v->type) {
    case VGL_T_STRING: return align8((size_t)v->n + 1);
    case VGL_T_ARRAY:
        n = align8((size_t)v->n * sizeof(vgl_value));
        for (uint32_t i = 0; i < v->n && n < SNAPSHOT_MAX; i++)
            n += value_size(&v->u.items[i], depth + 1);
        return n;
    case VGL_T_OBJECT:
        n = align8((size_t)v->n * sizeof(vgl_member));
        for (uint32_t i = 0; i < v->n && n < SNAPSHOT_MAX; i++)
            n += align8((size_t)v->u.members[i].klen + 1) +
                 value_size(&v->u.members[i].v, depth + 1);
        return n;
    default: return 0;
    }
}

static void *bump(char **p, size_t n)
{
    void *r = *p;
    *p += align8(n);
    return r;
}

static void value_copy(vgl_value *dst, const vgl_value *src, char **p)
{
    *dst = *src;
    switch (src->type) {
    case VGL_T_STRING: {
        char *s = bump(p, (size_t)src->n + 1);
        memcpy(s, src->u.s, src->n);
        s[src->n] = '\0';
        dst->u.s = s;
        break;
    }
    case VGL_T_ARRAY:
        dst->cap = src->n;
        dst->u.items = bump(p, (size_t)src->n * sizeof(vgl_value));
        for (uint32_t i = 0; i < src->n; i++)
            value_copy(&dst->u.items[i], &src->u.items[i], p);
        break;
    case VGL_T_OBJECT:
        dst->cap = src->n;
        dst->u.members = bump(p, (size_t)src->n * sizeof(vgl_member));
        for (uint32_t i = 0; i < src->n; i++) {
            const vgl_member *sm = &src->u.members[i];
            vgl_member *dm = &dst->u.members[i];
            char *k = bump(p, (size_t)sm->klen + 1);
            memcpy(k, sm->key, sm->klen);
            k[sm->klen] = '\0';
            dm->key = k;
            dm->klen = sm->klen;
            dm->khash = sm->khash;
            value_copy(&dm->v, &sm->v, p);
        }
        break;
    default: break;
    }
}

vgl_value *vgl_snapshot(const vgl_event *ev, const vgl_path *const *paths, uint32_t n)
{
    const vgl_value *vals[64];
    if (n > 64)
        n = 64;
    size_t total = align8(sizeof(vgl_value)) + align8((size_t)n * sizeof(vgl_member));
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        vals[i] = vgl_event_get(ev, paths[i]);
        if (!vals[i])
            continue;
        size_t sz = value_size(vals[i], 0);
        if (total + sz > SNAPSHOT_MAX) {
            vals[i] = NULL; /* too large to keep as evidence */
            continue;
        }
        total += sz;
        kept++;
    }
    char *block = malloc(total);
    if (!block)
        return NULL;
    char *p = block;
    vgl_value *root = bump(&p, sizeof(vgl_value));
    vgl_value_set_object(root);
    root->u.members = bump(&p, (size_t)n * sizeof(vgl_member));
    root->cap = kept;
    for (uint32_t i = 0; i < n; i++) {
        if (!vals[i])
            continue;
        vgl_member *m = &root->u.members[root->n++];
        m->key = paths[i]->str; /* interned paths live until exit */
        m->klen = (uint32_t)strlen(paths[i]->str);
        m->khash = vgl_hash(m->key, m->klen);
        value_copy(&m->v, vals[i], &p);
    }
    return root;
}

void vgl_evrec_free(vgl_evrec *r)
{
    free(r->fields);
    r->fields = NULL;
}

/* ------------------------------------------------------------ key store */

void vgl_sstore_init(vgl_sstore *s, uint32_t max_keys, vgl_skey_drop_fn drop, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->max_keys = max_keys ? max_keys : 1;
    s->drop = drop;
    s->ctx = ctx;
}

static void unlink_lru(vgl_sstore *s, vgl_skey *k)
{
    if (k->newer)
        k->newer->older = k->older;
    else
        s->newest = k->older;
    if (k->older)
        k->older->newer = k->newer;
    else
        s->oldest = k->newer;
    k->newer = k->older = NULL;
}

static void push_newest(vgl_sstore *s, vgl_skey *k)
{
    k->older = s->newest;
    k->newer = NULL;
    if (s->newest)
        s->newest->newer = k;
    s->newest = k;
    if (!s->oldest)
        s->oldest = k;
}

vgl_skey *vgl_sstore_find(vgl_sstore *s, const char *key, size_t len)
{
    if (!s->nbuckets)
        return NULL;
    uint32_t h = vgl_hash(key, len);
    for (vgl_skey *k = s->buckets[h & (s->nbuckets - 1)]; k; k = k->hnext) {
        if (k->hash == h && k->klen == len && memcmp(k->key, key, len) == 0) {
            if (s->newest != k) {
                unlink_lru(s, k);
                push_newest(s, k);
            }
            return k;
        }
    }
    return NULL;
}

static bool grow_buckets(vgl_sstore *s)
{
    uint32_t nb = s->nbuckets ? s->nbuckets * 2 : 64;
    vgl_skey **b = calloc(nb, sizeof(*b));
    if (!b)
        return false;
    for (uint32_t i = 0; i < s->nbuckets; i++) {
        vgl_skey *k = s->buckets[i];
        while (k) {
            vgl_skey *next = k->hnext;
            k->hnext = b[k->hash & (nb - 1)];
            b[k->hash & (nb - 1)] = k;
            k = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
    return true;
}

static void unlink_hash(vgl_sstore *s, vgl_skey *k)
{
    vgl_skey **pp = &s->buckets[k->hash & (s->nbuckets - 1)];
    while (*pp && *pp != k)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = k->hnext;
}

void vgl_sstore_remove(vgl_sstore *s, vgl_skey *k)
{
    unlink_hash(s, k);
    unlink_lru(s, k);
    s->n--;
    if (s->drop)
        s->drop(s->ctx, k);
    free(k);
}

vgl_skey *vgl_sstore_insert(vgl_sstore *s, const char *key, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    if (s->n >= s->max_keys && s->oldest) {
        vgl_sstore_remove(s, s->oldest);
        s->evictions++;
    }
    if (s->n >= s->nbuckets && s->nbuckets < (1u << 30) && !grow_buckets(s) && !s->nbuckets)
        return NULL;
    vgl_skey *k = calloc(1, sizeof(*k) + len + 1);
    if (!k)
        return NULL;
    memcpy(k->key, key, len);
    k->klen = (uint32_t)len;
    k->hash = vgl_hash(key, len);
    k->heap_pos = UINT32_MAX;
    k->hnext = s->buckets[k->hash & (s->nbuckets - 1)];
    s->buckets[k->hash & (s->nbuckets - 1)] = k;
    push_newest(s, k);
    s->n++;
    return k;
}

void vgl_sstore_free(vgl_sstore *s)
{
    while (s->oldest)
        vgl_sstore_remove(s, s->oldest);
    free(s->buckets);
    s->buckets = NULL;
    s->nbuckets = 0;
}

/* ----------------------------------------------------------- threshold */

void vgl_threshold_free(vgl_threshold_state *st)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < st->nev; i++)
        vgl_evrec_free(&st->ev[(st->evhead + i) % st->capev]);
    for (uint32_t i = 0; i < st->nvals; i++) {
        free(st->vals[i].text);
        vgl_evrec_free(&st->vals[i].ev);
    }
    free(st->ts);
    free(st->ev);
    free(st->vals);
    free(st);
}

static bool ensure(void **arr, uint32_t *cap, uint32_t need, uint32_t max, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    if (ncap < need)
        ncap = need;
    if (ncap > max)
        ncap = max;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return false;
    *arr = n;
    *cap = ncap;
    return true;
}

static int evrec_cmp(const void *a, const void *b)
{
    const vgl_evrec *x = a, *y = b;
    if (x->ts_ms != y->ts_ms)
        return x->ts_ms < y->ts_ms ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Move the kept events that fall in (last - window, last] to out. */
static size_t take_ring(vgl_threshold_state *st, int64_t from, uint32_t max_evidence,
                        vgl_evrec *out)
{
    size_t n = 0;
    for (uint32_t i = 0; i < st->nev; i++) {
        vgl_evrec *r = &st->ev[(st->evhead + i) % st->capev];
        if (r->ts_ms >= from && n < max_evidence) {
            out[n++] = *r;
            r->fields = NULL;
        } else {
            vgl_evrec_free(r);
        }
    }
    st->nev = st->evhead = 0;
    qsort(out, n, sizeof(*out), evrec_cmp);
    return n;
}

static bool add_plain(vgl_threshold_state *st, uint32_t count, int64_t window_ms,
                      uint32_t max_evidence, int64_t t, vgl_evrec *rec, vgl_evrec *out,
                      size_t *nout)
{
    if (!ensure((void **)&st->ts, &st->capts, st->nts + 1, count, sizeof(int64_t)))
        return false;
    /* keep the count latest times, sorted */
    if (st->nts == count) {
        if (t < st->ts[0]) {
            vgl_evrec_free(rec);
            return false; /* older than every kept event: cannot complete a window */
        }
        memmove(st->ts, st->ts + 1, (size_t)(st->nts - 1) * sizeof(int64_t));
        st->nts--;
    }
    uint32_t pos = st->nts;
    while (pos > 0 && st->ts[pos - 1] > t)
        pos--;
    memmove(st->ts + pos + 1, st->ts + pos, (size_t)(st->nts - pos) * sizeof(int64_t));
    st->ts[pos] = t;
    st->nts++;
    /* drop times that no window ending at the latest one can hold */
    int64_t last = st->ts[st->nts - 1];
    uint32_t drop = 0;
    while (drop < st->nts && st->ts[drop] <= last - window_ms)
        drop++;
    if (drop) {
        memmove(st->ts, st->ts + drop, (size_t)(st->nts - drop) * sizeof(int64_t));
        st->nts -= drop;
    }
    /* evidence ring, grown on demand up to max_evidence (most keys never
     * see more than one or two events: 1M keys must not cost 1M x 10
     * slots). Until it reaches max_evidence the ring has not wrapped
     * (evhead is 0), so growing keeps the order. */
    if (max_evidence && st->nev == st->capev && st->capev < max_evidence && st->evhead == 0) {
        uint32_t ncap = st->capev ? st->capev * 2 : 1;
        if (ncap > max_evidence)
            ncap = max_evidence;
        vgl_evrec *ne = realloc(st->ev, (size_t)ncap * sizeof(*ne));
        if (ne) {
            st->ev = ne;
            st->capev = ncap;
        }
    }
    if (st->capev) {
        if (st->nev == st->capev) {
            vgl_evrec_free(&st->ev[st->evhead]);
            st->ev[st->evhead] = *rec;
            st->evhead = (st->evhead + 1) % st->capev;
        } else {
            st->ev[(st->evhead + st->nev) % st->capev] = *rec;
            st->nev++;
        }
    } else {
        vgl_evrec_free(rec);
    }
    if (st->nts < count)
        return false;
    *nout = take_ring(st, st->ts[0], max_evidence, out);
    st->nts = 0;
    return true;
}

static bool add_distinct(vgl_threshold_state *st, uint32_t count, int64_t window_ms,
                         uint32_t max_evidence, int64_t t, vgl_evrec *rec, const char *dval,
                         size_t dlen, vgl_evrec *out, size_t *nout)
{
    int64_t latest = t;
    for (uint32_t i = 0; i < st->nvals; i++)
        if (st->vals[i].last_ts > latest)
            latest = st->vals[i].last_ts;
    /* values last seen before the window ending at the latest event expire */
    for (uint32_t i = 0; i < st->nvals;) {
        if (st->vals[i].last_ts <= latest - window_ms) {
            free(st->vals[i].text);
            vgl_evrec_free(&st->vals[i].ev);
            st->vals[i] = st->vals[--st->nvals];
        } else {
            i++;
        }
    }
    if (t <= latest - window_ms) {
        vgl_evrec_free(rec);
        return false;
    }
    vgl_distinct_val *v = NULL;
    for (uint32_t i = 0; i < st->nvals && !v; i++)
        if (st->vals[i].len == dlen && memcmp(st->vals[i].text, dval, dlen) == 0)
            v = &st->vals[i];
    if (v) {
        if (t >= v->last_ts) {
            v->last_ts = t;
            vgl_evrec_free(&v->ev);
            v->ev = *rec;
        } else {
            vgl_evrec_free(rec);
        }
        return false;
    }
    if (!ensure((void **)&st->vals, &st->capvals, st->nvals + 1, count, sizeof(*st->vals))) {
        vgl_evrec_free(rec);
        return false;
    }
    v = &st->vals[st->nvals];
    v->text = malloc(dlen + 1);
    if (!v->text) {
        vgl_evrec_free(rec);
        return false;
    }
    memcpy(v->text, dval, dlen);
    v->text[dlen] = '\0';
    v->len = (uint32_t)dlen;
    v->last_ts = t;
    v->ev = *rec;
    st->nvals++;
    if (st->nvals < count)
        return false;
    /* reached: evidence is the latest event of the most recent values */
    size_t n = 0;
    vgl_evrec tmp[64];
    size_t cap = max_evidence < 64 ? max_evidence : 64;
    for (uint32_t i = 0; i < st->nvals; i++) {
        /* keep the cap latest by time */
        vgl_evrec r = st->vals[i].ev;
        st->vals[i].ev.fields = NULL;
        if (n < cap) {
            tmp[n++] = r;
            continue;
        }
        size_t oldest = 0;
        for (size_t k = 1; k < n; k++)
            if (tmp[k].ts_ms < tmp[oldest].ts_ms)
                oldest = k;
        if (cap && r.ts_ms > tmp[oldest].ts_ms) {
            vgl_evrec_free(&tmp[oldest]);
            tmp[oldest] = r;
        } else {
            vgl_evrec_free(&r);
        }
    }
    for (uint32_t i = 0; i < st->nvals; i++)
        free(st->vals[i].text);
    st->nvals = 0;
    qsort(tmp, n, sizeof(*tmp), evrec_cmp);
    memcpy(out, tmp, n * sizeof(*tmp));
    *nout = n;
    return true;
}

bool vgl_threshold_add(vgl_threshold_state *st, uint32_t count, int64_t window_ms,
                       uint32_t max_evidence, int64_t t, vgl_evrec *rec, const char *dval,
                       size_t dlen, vgl_evrec *out, size_t *nout)
{
    *nout = 0;
    if (dval)
        return add_distinct(st, count, window_ms, max_evidence, t, rec, dval, dlen, out, nout);
    return add_plain(st, count, window_ms, max_evidence, t, rec, out, nout);
}

/* ------------------------------------------------------------ sequence */

void vgl_sequence_free(vgl_sequence_state *st, uint32_t nsteps)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < nsteps && st->ev; i++)
        vgl_evrec_free(&st->ev[i]);
    free(st->ev);
    free(st);
}

/* ---------------------------------------------------------------- heap */

static bool earlier(const vgl_deadline *a, const vgl_deadline *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_set(vgl_dheap *h, uint32_t i, vgl_deadline d)
{
    h->d[i] = d;
    d.key->heap_pos = i;
}

static void sift_up(vgl_dheap *h, uint32_t i)
{
    vgl_deadline d = h->d[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!earlier(&d, &h->d[parent]))
            break;
        heap_set(h, i, h->d[parent]);
        i = parent;
    }
    heap_set(h, i, d);
}

static void sift_down(vgl_dheap *h, uint32_t i)
{
    vgl_deadline d = h->d[i];
    for (;;) {
        uint32_t l = 2 * i + 1, best = i;
        const vgl_deadline *bd = &d;
        if (l < h->n && earlier(&h->d[l], bd)) {
            best = l;
            bd = &h->d[l];
        }
        if (l + 1 < h->n && earlier(&h->d[l + 1], bd))
            best = l + 1;
        if (best == i)
            break;
        heap_set(h, i, h->d[best]);
        i = best;
    }
    heap_set(h, i, d);
}

bool vgl_dheap_push(vgl_dheap *h, int64_t at, uint32_t rule, vgl_skey *key)
{
    if (key->heap_pos != UINT32_MAX)
        vgl_dheap_remove(h, key);
    if (h->n == h->cap) {
        uint32_t ncap = h->cap ? h->cap * 2 : 64;
        vgl_deadline *nd = realloc(h->d, ncap * sizeof(*nd));
        if (!nd)
            return false;
        h->d = nd;
        h->cap = ncap;
    }
    vgl_deadline d = {at, h->seq++, rule, key};
    h->d[h->n++] = d;
    sift_up(h, h->n - 1);
    return true;
}

void vgl_dheap_remove(vgl_dheap *h, vgl_skey *key)
{
    uint32_t i = key->heap_pos;
    if (i == UINT32_MAX || i >= h->n)
        return;
    key->heap_pos = UINT32_MAX;
    h->n--;
    if (i == h->n)
        return;
    heap_set(h, i, h->d[h->n]);
    sift_down(h, i);
    sift_up(h, i);
}

const vgl_deadline *vgl_dheap_top(const vgl_dheap *h)
{
    return h->n ? &h->d[0] : NULL;
}

void vgl_dheap_free(vgl_dheap *h)
{
    free(h->d);
    memset(h, 0, sizeof(*h));
}
