/* Event model: typed value tree in an arena, dotted-path lookup, time. */
#include "event.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *vgl_rc_str(vgl_rc rc)
{
    switch (rc) {
    case VGL_OK: return "ok";
    case VGL_ERR_INVALID: return "invalid input";
    case VGL_ERR_NOMEM: return "out of memory or over a memory limit";
    case VGL_ERR_NOTFOUND: return "not found";
    case VGL_ERR_TOOBIG: return "over a size limit";
    case VGL_ERR_TYPE: return "wrong type";
    case VGL_ERR_IO: return "I/O error";
    case VGL_ERR_KAFKA: return "Kafka error";
    case VGL_ERR_TIMEOUT: return "timed out";
    case VGL_ERR_ABI: return "plugin ABI mismatch";
    case VGL_ERR_CONFIG: return "configuration error";
    case VGL_ERR_STATE: return "invalid state";
    }
    return "unknown error";
}

const char *vgl_type_name(vgl_type t)
{
    static const char *const names[] = {"null", "bool", "int", "double",
                                        "string", "array", "object"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* ---------------------------------------------------------------- paths */

#define PATH_MAX_LEN 1024
#define PATH_BUCKETS 1024

typedef struct path_entry {
    struct path_entry *next;
    uint32_t hash;
    vgl_path path; /* flexible: must be last */
} path_entry;

static pthread_mutex_t path_lock = PTHREAD_MUTEX_INITIALIZER;
static path_entry *path_table[PATH_BUCKETS];
static uint32_t path_count;

const vgl_path *vgl_path_intern(const char *dotted)
{
    if (!dotted)
        return NULL;
    size_t len = strlen(dotted);
    if (len == 0 || len > PATH_MAX_LEN)
        return NULL;
    uint32_t nseg = 1;
    for (size_t i = 0; i < len; i++) {
        if (dotted[i] == '.') {
            if (i == 0 || i + 1 == len || dotted[i + 1] == '.')
                return NULL;
            nseg++;
        }
    }
    uint32_t h = vgl_hash(dotted, len);
    pthread_mutex_lock(&path_lock);
    for (path_entry *e = path_table[h % PATH_BUCKETS]; e; e = e->next) {
        if (e->hash == h && strcmp(e->path.str, dotted) == 0) {
            pthread_mutex_unlock(&path_lock);
            return &e->path;
        }
    }
    path_entry *e = malloc(sizeof(*e) + nseg * sizeof(vgl_path_seg) + len + 1);
    if (!e) {
        pthread_mutex_unlock(&path_lock);
        return NULL;
    }
    char *copy = (char *)e + sizeof(*e) + nseg * sizeof(vgl_path_seg);
    memcpy(copy, dotted, len + 1);
    e->hash = h;
    e->path.id = path_count++;
    e->path.nseg = nseg;
    e->path.str = copy;
    size_t start = 0;
    for (uint32_t s = 0; s < nseg; s++) {
        size_t end = start;
        while (end < len && copy[end] != '.')
            end++;
        vgl_path_seg *sg = &e->path.seg[s];
        sg->s = copy + start;
        sg->len = (uint32_t)(end - start);
        sg->hash = vgl_hash(sg->s, sg->len);
        sg->rest_len = (uint32_t)(len - start);
        sg->rest_hash = vgl_hash(sg->s, sg->rest_len);
        start = end + 1;
    }
    e->next = path_table[h % PATH_BUCKETS];
    path_table[h % PATH_BUCKETS] = e;
    pthread_mutex_unlock(&path_lock);
    return &e->path;
}

void vgl_path_registry_free(void)
{
    pthread_mutex_lock(&path_lock);
    for (size_t b = 0; b < PATH_BUCKETS; b++) {
        path_entry *e = path_table[b];
        while (e) {
            path_entry *n = e->next;
            free(e);
            e = n;
        }
        path_table[b] = NULL;
    }
    path_count = 0;
    pthread_mutex_unlock(&path_lock);
}

/* --------------------------------------------------------------- events */

void vgl_event_init(vgl_event *ev, size_t mem_limit)
{
    memset(ev, 0, sizeof(*ev));
    vgl_arena_init(&ev->arena, 0, mem_limit);
    vgl_value_set_object(&ev->root);
    ev->ts_ms = VGL_TS_NONE;
    ev->meta.offset = -1;
    ev->meta.partition = -1;
}

void vgl_event_reset(vgl_event *ev)
{
    vgl_arena_reset(&ev->arena);
    vgl_value_set_object(&ev->root);
    ev->ts_ms = VGL_TS_NONE;
    memset(&ev->meta, 0, sizeof(ev->meta));
    ev->meta.offset = -1;
    ev->meta.partition = -1;
}

void vgl_event_destroy(vgl_event *ev)
{
    vgl_arena_free(&ev->arena);
    memset(ev, 0, sizeof(*ev));
}

const vgl_value *vgl_object_get(const vgl_value *obj, const char *key, size_t klen,
                                uint32_t hash)
{
    if (!obj || obj->type != VGL_T_OBJECT)
        return NULL;
    /* Last one wins, as in jansson and JavaScript: a duplicated key cannot
     * show one value to the rules and another to downstream consumers. */
    for (uint32_t i = obj->n; i-- > 0;) {
        const vgl_member *m = &obj->u.members[i];
        if (m->khash == hash && m->klen == klen && memcmp(m->key, key, klen) == 0)
            return &m->v;
    }
    return NULL;
}

const vgl_value *vgl_event_get(const vgl_event *ev, const vgl_path *p)
{
    if (!p)
        return NULL;
    const vgl_value *cur = &ev->root;
    for (uint32_t i = 0; i < p->nseg; i++) {
        const vgl_path_seg *sg = &p->seg[i];
        const vgl_value *next = vgl_object_get(cur, sg->s, sg->len, sg->hash);
        if (!next) {
            /* "a.b" may be one literal key at this level */
            if (i + 1 < p->nseg)
                return vgl_object_get(cur, sg->s, sg->rest_len, sg->rest_hash);
            return NULL;
        }
        cur = next;
    }
    return cur;
}

static bool grow(vgl_event *ev, vgl_value *c, size_t elem)
{
    if (c->n < c->cap)
        return true;
    if (c->cap >= UINT32_MAX / 2)
        return false;
    uint32_t ncap = c->cap ? c->cap * 2 : 8;
    void *mem = vgl_arena_alloc(&ev->arena, (size_t)ncap * elem);
    if (!mem)
        return false;
    void *old = c->type == VGL_T_OBJECT ? (void *)c->u.members : (void *)c->u.items;
    if (c->n)
        memcpy(mem, old, (size_t)c->n * elem);
    if (c->type == VGL_T_OBJECT)
        c->u.members = mem;
    else
        c->u.items = mem;
    c->cap = ncap;
    return true;
}

void vgl_value_set_object(vgl_value *v)
{
    memset(v, 0, sizeof(*v));
    v->type = VGL_T_OBJECT;
}

void vgl_value_set_array(vgl_value *v)
{
    memset(v, 0, sizeof(*v));
    v->type = VGL_T_ARRAY;
}

void vgl_value_set_str(vgl_event *ev, vgl_value *v, const char *s, size_t len, vgl_rc *rc)
{
    char *copy = len > UINT32_MAX ? NULL : vgl_arena_strndup(&ev->arena, s, len);
    if (!copy) {
        if (rc)
            *rc = len > UINT32_MAX ? VGL_ERR_TOOBIG : VGL_ERR_NOMEM;
        v->type = VGL_T_NULL;
        return;
    }
    v->type = VGL_T_STRING;
    v->n = (uint32_t)len;
    v->cap = 0;
    v->u.s = copy;
}

vgl_value *vgl_object_add(vgl_event *ev, vgl_value *obj, const char *key, size_t klen,
                          bool key_borrowed)
{
    if (obj->type != VGL_T_OBJECT || klen > UINT32_MAX || !grow(ev, obj, sizeof(vgl_member)))
        return NULL;
    const char *k = key;
    if (!key_borrowed && !(k = vgl_arena_strndup(&ev->arena, key, klen)))
        return NULL;
    vgl_member *m = &obj->u.members[obj->n++];
    m->key = k;
    m->klen = (uint32_t)klen;
    m->khash = vgl_hash(key, klen);
    m->v.type = VGL_T_NULL;
    m->v.n = m->v.cap = 0;
    return &m->v;
}

vgl_value *vgl_array_push(vgl_event *ev, vgl_value *arr)
{
    if (arr->type != VGL_T_ARRAY || !grow(ev, arr, sizeof(vgl_value)))
        return NULL;
    vgl_value *v = &arr->u.items[arr->n++];
    memset(v, 0, sizeof(*v));
    return v;
}

vgl_value *vgl_event_set(vgl_event *ev, const vgl_path *p, vgl_rc *rc)
{
    vgl_rc dummy;
    if (!rc)
        rc = &dummy;
    *rc = VGL_OK;
    if (!p) {
        *rc = VGL_ERR_INVALID;
        return NULL;
    }
    vgl_value *cur = &ev->root;
    for (uint32_t i = 0; i < p->nseg; i++) {
        const vgl_path_seg *sg = &p->seg[i];
        vgl_value *next = (vgl_value *)vgl_object_get(cur, sg->s, sg->len, sg->hash);
        if (!next) {
            next = vgl_object_add(ev, cur, sg->s, sg->len, true);
            if (!next) {
                *rc = VGL_ERR_NOMEM;
                return NULL;
            }
            if (i + 1 < p->nseg)
                vgl_value_set_object(next);
        } else if (i + 1 < p->nseg && next->type != VGL_T_OBJECT) {
            *rc = VGL_ERR_TYPE;
            return NULL;
        }
        cur = next;
    }
    return cur;
}

vgl_rc vgl_event_set_str(vgl_event *ev, const vgl_path *p, const char *s, size_t len)
{
    vgl_rc rc = VGL_OK;
    char *copy = vgl_arena_strndup(&ev->arena, s, len);
    if (!copy || len > UINT32_MAX)
        return VGL_ERR_NOMEM;
    vgl_value *v = vgl_event_set(ev, p, &rc);
    if (!v)
        return rc;
    v->type = VGL_T_STRING;
    v->n = (uint32_t)len;
    v->cap = 0;
    v->u.s = copy;
    return VGL_OK;
}

vgl_rc vgl_event_set_int(vgl_event *ev, const vgl_path *p, int64_t i)
{
    vgl_rc rc = VGL_OK;
    vgl_value *v = vgl_event_set(ev, p, &rc);
    if (!v)
        return rc;
    v->type = VGL_T_INT;
    v->n = v->cap = 0;
    v->u.i = i;
    return VGL_OK;
}

vgl_rc vgl_event_set_double(vgl_event *ev, const vgl_path *p, double d)
{
    vgl_rc rc = VGL_OK;
    vgl_value *v = vgl_event_set(ev, p, &rc);
    if (!v)
        return rc;
    v->type = VGL_T_DOUBLE;
    v->n = v->cap = 0;
    v->u.d = d;
    return VGL_OK;
}

vgl_rc vgl_event_set_bool(vgl_event *ev, const vgl_path *p, bool b)
{
    vgl_rc rc = VGL_OK;
    vgl_value *v = vgl_event_set(ev, p, &rc);
    if (!v)
        return rc;
    v->type = VGL_T_BOOL;
    v->n = v->cap = 0;
    v->u.b = b;
    return VGL_OK;
}

vgl_rc vgl_event_set_value(vgl_event *ev, const vgl_path *p, const vgl_value *src)
{
    vgl_value tmp;
    vgl_rc rc = vgl_value_copy(ev, &tmp, src);
    if (rc != VGL_OK)
        return rc;
    vgl_value *v = vgl_event_set(ev, p, &rc);
    if (!v)
        return rc;
    *v = tmp;
    return VGL_OK;
}

vgl_rc vgl_event_append_str(vgl_event *ev, const vgl_path *p, const char *s, size_t len)
{
    vgl_rc rc = VGL_OK;
    vgl_value *v = vgl_event_set(ev, p, &rc);
    if (!v)
        return rc;
    if (v->type != VGL_T_ARRAY) {
        vgl_value old = *v;
        vgl_value_set_array(v);
        if (old.type != VGL_T_NULL) {
            vgl_value *first = vgl_array_push(ev, v);
            if (!first)
                return VGL_ERR_NOMEM;
            *first = old;
        }
    }
    for (uint32_t i = 0; i < v->n; i++) {
        const vgl_value *it = &v->u.items[i];
        if (it->type == VGL_T_STRING && it->n == len && memcmp(it->u.s, s, len) == 0)
            return VGL_OK;
    }
    vgl_value *item = vgl_array_push(ev, v);
    if (!item)
        return VGL_ERR_NOMEM;
    vgl_value_set_str(ev, item, s, len, &rc);
    return rc;
}

vgl_rc vgl_value_copy(vgl_event *ev, vgl_value *dst, const vgl_value *src)
{
    vgl_rc rc = VGL_OK;
    switch (src->type) {
    case VGL_T_STRING:
        vgl_value_set_str(ev, dst, src->u.s, src->n, &rc);
        return rc;
    case VGL_T_ARRAY:
        vgl_value_set_array(dst);
        for (uint32_t i = 0; i < src->n; i++) {
            vgl_value *it = vgl_array_push(ev, dst);
            if (!it)
                return VGL_ERR_NOMEM;
            if ((rc = vgl_value_copy(ev, it, &src->u.items[i])) != VGL_OK)
                return rc;
        }
        return VGL_OK;
    case VGL_T_OBJECT:
        vgl_value_set_object(dst);
        for (uint32_t i = 0; i < src->n; i++) {
            const vgl_member *m = &src->u.members[i];
            vgl_value *it = vgl_object_add(ev, dst, m->key, m->klen, false);
            if (!it)
                return VGL_ERR_NOMEM;
            if ((rc = vgl_value_copy(ev, it, &m->v)) != VGL_OK)
                return rc;
        }
        return VGL_OK;
    default:
        *dst = *src;
        return VGL_OK;
    }
}

bool vgl_value_equal(const vgl_value *a, const vgl_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VGL_T_NULL: return true;
    case VGL_T_BOOL: return a->u.b == b->u.b;
    case VGL_T_INT: return a->u.i == b->u.i;
    case VGL_T_DOUBLE: return a->u.d == b->u.d;
    case VGL_T_STRING: return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
    case VGL_T_ARRAY:
        if (a->n != b->n)
            return false;
        for (uint32_t i = 0; i < a->n; i++)
            if (!vgl_value_equal(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case VGL_T_OBJECT:
        if (a->n != b->n)
            return false;
        for (uint32_t i = 0; i < a->n; i++) {
            const vgl_member *m = &a->u.members[i];
            const vgl_value *o = vgl_object_get(b, m->key, m->klen, m->khash);
            if (!o || !vgl_value_equal(&m->v, o))
                return false;
        }
        return true;
    }
    return false;
}

bool vgl_value_text(const vgl_value *v, char *buf, size_t buflen, const char **out,
                    size_t *outlen)
{
    int n;
    switch (v ? v->type : VGL_T_NULL) {
    case VGL_T_STRING:
        *out = v->u.s;
        *outlen = v->n;
        return true;
    case VGL_T_BOOL:
        *out = v->u.b ? "true" : "false";
        *outlen = v->u.b ? 4 : 5;
        return true;
    case VGL_T_INT:
        n = snprintf(buf, buflen, "%lld", (long long)v->u.i);
        break;
    case VGL_T_DOUBLE:
        n = snprintf(buf, buflen, "%.17g", v->u.d);
        break;
    default:
        return false;
    }
    if (n < 0 || (size_t)n >= buflen)
        return false;
    *out = buf;
    *outlen = (size_t)n;
    return true;
}

bool vgl_value_number(const vgl_value *v, double *out)
{
    if (!v)
        return false;
    switch (v->type) {
    case VGL_T_INT: *out = (double)v->u.i; return true;
    case VGL_T_DOUBLE: *out = v->u.d; return true;
    case VGL_T_STRING: {
        if (v->n == 0 || v->n > 64)
            return false;
        char tmp[65], *end;
        memcpy(tmp, v->u.s, v->n);
        tmp[v->n] = '\0';
        double d = strtod(tmp, &end);
        if (end == tmp || *end != '\0' || !isfinite(d))
            return false;
        *out = d;
        return true;
    }
    default:
        return false;
    }
}

/* ----------------------------------------------------------------- time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01 */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool vgl_time_parse(const char *s, size_t len, int64_t *ms)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return false;
    /* epoch seconds or milliseconds */
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == len || (i > 0 && s[i] == '.' && len - i <= 10 && i != 4)) {
        if (i > 16)
            return false;
        int64_t v = 0;
        for (size_t k = 0; k < i; k++)
            v = v * 10 + (s[k] - '0');
        int64_t frac_ms = 0;
        if (i < len) { /* fractional seconds */
            int scale = 100;
            for (size_t k = i + 1; k < len; k++) {
                if (s[k] < '0' || s[k] > '9')
                    return false;
                frac_ms += (s[k] - '0') * scale;
                scale /= 10;
            }
        }
        *ms = v >= 100000000000LL ? v : v * 1000 + frac_ms;
        return true;
    }
    int Y, M, D, h = 0, mi = 0, sec = 0;
    if (len < 10 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
        !digits(s + 8, 2, &D))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > 31)
        return false;
    size_t p = 10;
    int64_t frac = 0;
    int tz_min = 0;
    if (p < len) {
        if (s[p] != 'T' && s[p] != 't' && s[p] != ' ')
            return false;
        p++;
        if (len < p + 8 || !digits(s + p, 2, &h) || s[p + 2] != ':' ||
            !digits(s + p + 3, 2, &mi) || s[p + 5] != ':' || !digits(s + p + 6, 2, &sec))
            return false;
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        p += 8;
        if (p < len && (s[p] == '.' || s[p] == ',')) {
            p++;
            int scale = 100, nd = 0;
            while (p < len && s[p] >= '0' && s[p] <= '9') {
                frac += (s[p] - '0') * scale;
                scale /= 10;
                p++;
                nd++;
            }
            if (nd == 0)
                return false;
        }
        if (p < len) {
            if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == len) {
                p++;
            } else if ((s[p] == '+' || s[p] == '-') && (len - p == 6 || len - p == 5)) {
                int th, tm;
                const char *z = s + p + 1;
                bool colon = len - p == 6;
                if (!digits(z, 2, &th) || (colon && z[2] != ':') ||
                    !digits(z + (colon ? 3 : 2), 2, &tm) || th > 23 || tm > 59)
                    return false;
                tz_min = (th * 60 + tm) * (s[p] == '-' ? -1 : 1);
                p = len;
            } else {
                return false;
            }
        }
    }
    if (p != len)
        return false;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)tz_min * 60) * 1000 + frac;
    return true;
}

bool vgl_event_take_time(vgl_event *ev, const vgl_path *const *fields, size_t nfields)
{
    for (size_t f = 0; f < nfields; f++) {
        const vgl_value *v = vgl_event_get(ev, fields[f]);
        if (!v)
            continue;
        int64_t ms;
        if (v->type == VGL_T_STRING && vgl_time_parse(v->u.s, v->n, &ms)) {
            ev->ts_ms = ms;
            return true;
        }
        if (v->type == VGL_T_INT) {
            ev->ts_ms = v->u.i >= 100000000000LL ? v->u.i : v->u.i * 1000;
            return true;
        }
        if (v->type == VGL_T_DOUBLE && isfinite(v->u.d) && fabs(v->u.d) < 1e15) {
            ev->ts_ms = v->u.d >= 1e11 ? (int64_t)v->u.d : (int64_t)(v->u.d * 1000.0);
            return true;
        }
    }
    return false;
}

size_t vgl_time_format(int64_t ms, char *buf, size_t buflen)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    int n = snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
    return n < 0 || (size_t)n >= buflen ? 0 : (size_t)n;
}
