/*
 * Bounded JSON parser: see json.h. Recursive descent over the input; the
 * children of an array or object are collected on a scratch stack while it
 * is parsed and copied into the arena when it closes, so each container is
 * one contiguous block and nothing is allocated per node.
 */
#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
} arena_block;

struct json_doc {
    arena_block *blocks;
    json_value root;
};

typedef struct parser {
    const char *name;
    const char *p, *end, *start;
    uint32_t line;
    json_limits lim;
    json_doc *doc;
    char *err;
    size_t errlen;
    bool failed;
    /* scratch stacks */
    json_value *vals;
    size_t nvals, vals_cap;
    json_member *mems;
    size_t nmems, mems_cap;
    char *sbuf;
    size_t sbuf_cap;
} parser;

static void *arena_alloc(json_doc *d, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    arena_block *b = d->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static void fail(parser *ps, const char *at, const char *what)
{
    if (ps->failed)
        return;
    ps->failed = true;
    size_t line = 1, col = 1;
    for (const char *q = ps->start; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (at >= ps->end)
        snprintf(ps->err, ps->errlen, "%s:%zu:%zu: %s (at the end of the file)", ps->name, line,
                 col, what);
    else
        snprintf(ps->err, ps->errlen, "%s:%zu:%zu: %s", ps->name, line, col, what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        if (*ps->p == '\n')
            ps->line++;
        ps->p++;
    }
}

static bool parse_value(parser *ps, json_value *out, unsigned depth);

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(parser *ps, const char *at, uint32_t *out)
{
    if (ps->end - at < 4) {
        fail(ps, at, "truncated \\u escape");
        return false;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(at[i]);
        if (h < 0) {
            fail(ps, at + i, "invalid \\u escape");
            return false;
        }
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

static bool sbuf_put(parser *ps, size_t *n, const char *bytes, size_t k, const char *at)
{
    if (*n + k > ps->lim.max_string) {
        char msg[96];
        snprintf(msg, sizeof(msg), "string longer than %zu bytes", ps->lim.max_string);
        fail(ps, at, msg);
        return false;
    }
    if (*n + k + 1 > ps->sbuf_cap) {
        size_t cap = ps->sbuf_cap ? ps->sbuf_cap : 256;
        while (cap < *n + k + 1)
            cap *= 2;
        char *nb = realloc(ps->sbuf, cap);
        if (!nb) {
            fail(ps, at, "out of memory");
            return false;
        }
        ps->sbuf = nb;
        ps->sbuf_cap = cap;
    }
    memcpy(ps->sbuf + *n, bytes, k);
    *n += k;
    return true;
}

/* A string starting at the opening quote; the result is copied to the arena. */
static bool parse_string(parser *ps, const char **s, size_t *len)
{
    const char *open = ps->p;
    ps->p++;
    size_t n = 0;
    for (;;) {
        const char *run = ps->p;
        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
               (unsigned char)*ps->p >= 0x20)
            ps->p++;
        if (ps->p > run && !sbuf_put(ps, &n, run, (size_t)(ps->p - run), run))
            return false;
        if (ps->p >= ps->end) {
            fail(ps, open, "unterminated string");
            return false;
        }
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if ((unsigned char)c < 0x20) {
            fail(ps, ps->p, "control character in string");
            return false;
        }
        /* escape */
        const char *esc = ps->p;
        if (ps->p + 1 >= ps->end) {
            fail(ps, esc, "truncated escape");
            return false;
        }
        char e = ps->p[1];
        ps->p += 2;
        char out[4];
        size_t k = 1;
        switch (e) {
        case '"': out[0] = '"'; break;
        case '\\': out[0] = '\\'; break;
        case '/': out[0] = '/'; break;
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!read_hex4(ps, ps->p, &cp))
                return false;
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u' &&
                    read_hex4(ps, ps->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    if (ps->failed)
                        return false;
                    cp = 0xFFFD; /* lone surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            if (cp < 0x80) {
                out[0] = (char)cp;
            } else if (cp < 0x800) {
                out[0] = (char)(0xC0 | cp >> 6);
                out[1] = (char)(0x80 | (cp & 0x3F));
                k = 2;
            } else if (cp < 0x10000) {
                out[0] = (char)(0xE0 | cp >> 12);
                out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                k = 3;
            } else {
                out[0] = (char)(0xF0 | cp >> 18);
                out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
                out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
                out[3] = (char)(0x80 | (cp & 0x3F));
                k = 4;
            }
            break;
        }
        default:
            fail(ps, esc, "invalid escape");
            return false;
        }
        if (!sbuf_put(ps, &n, out, k, esc))
            return false;
    }
    char *copy = arena_alloc(ps->doc, n + 1);
    if (!copy) {
        fail(ps, open, "out of memory");
        return false;
    }
    if (n)
        memcpy(copy, ps->sbuf, n);
    copy[n] = '\0';
    *s = copy;
    *len = n;
    return true;
}

static bool parse_number(parser *ps, json_value *out)
{
    const char *s = ps->p;
    const char *q = s;
    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end || *q < '0' || *q > '9') {
        fail(ps, s, "invalid number");
        return false;
    }
    if (*q == '0')
        q++;
    else
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, s, "invalid number");
            return false;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, s, "invalid number");
            return false;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    char tmp[64];
    size_t k = (size_t)(q - s);
    if (k >= sizeof(tmp)) {
        fail(ps, s, "number too long");
        return false;
    }
    memcpy(tmp, s, k);
    tmp[k] = '\0';
    out->type = JSON_NUMBER;
    out->u.num = strtod(tmp, NULL);
    if (!isfinite(out->u.num)) {
        fail(ps, s, "number out of range");
        return false;
    }
    ps->p = q;
    return true;
}

static bool literal(parser *ps, const char *word)
{
    size_t k = strlen(word);
    if ((size_t)(ps->end - ps->p) < k || memcmp(ps->p, word, k) != 0) {
        fail(ps, ps->p, "invalid literal");
        return false;
    }
    ps->p += k;
    return true;
}

static bool push_val(parser *ps, const json_value *v)
{
    if (ps->nvals == ps->vals_cap) {
        size_t cap = ps->vals_cap ? ps->vals_cap * 2 : 64;
        json_value *n = realloc(ps->vals, cap * sizeof(*n));
        if (!n)
            return false;
        ps->vals = n;
        ps->vals_cap = cap;
    }
    ps->vals[ps->nvals++] = *v;
    return true;
}

static bool push_mem(parser *ps, const json_member *m)
{
    if (ps->nmems == ps->mems_cap) {
        size_t cap = ps->mems_cap ? ps->mems_cap * 2 : 64;
        json_member *n = realloc(ps->mems, cap * sizeof(*n));
        if (!n)
            return false;
        ps->mems = n;
        ps->mems_cap = cap;
    }
    ps->mems[ps->nmems++] = *m;
    return true;
}

static bool parse_array(parser *ps, json_value *out, unsigned depth)
{
    const char *open = ps->p;
    ps->p++;
    size_t base = ps->nvals;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            json_value v;
            if (!parse_value(ps, &v, depth + 1))
                return false;
            if (!push_val(ps, &v)) {
                fail(ps, ps->p, "out of memory");
                return false;
            }
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            fail(ps, ps->p, "expected ',' or ']' in array");
            return false;
        }
    }
    size_t n = ps->nvals - base;
    out->type = JSON_ARRAY;
    out->n = n;
    out->u.items = NULL;
    if (n) {
        out->u.items = arena_alloc(ps->doc, n * sizeof(json_value));
        if (!out->u.items) {
            fail(ps, open, "out of memory");
            return false;
        }
        memcpy(out->u.items, ps->vals + base, n * sizeof(json_value));
    }
    ps->nvals = base;
    return true;
}

static bool parse_object(parser *ps, json_value *out, unsigned depth)
{
    const char *open = ps->p;
    ps->p++;
    size_t base = ps->nmems;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, ps->p, "expected a string key in object");
                return false;
            }
            json_member m;
            if (!parse_string(ps, &m.key, &m.klen))
                return false;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, ps->p, "expected ':' after object key");
                return false;
            }
            ps->p++;
            if (!parse_value(ps, &m.v, depth + 1))
                return false;
            if (!push_mem(ps, &m)) {
                fail(ps, ps->p, "out of memory");
                return false;
            }
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            fail(ps, ps->p, "expected ',' or '}' in object");
            return false;
        }
    }
    size_t n = ps->nmems - base;
    out->type = JSON_OBJECT;
    out->n = n;
    out->u.members = NULL;
    if (n) {
        out->u.members = arena_alloc(ps->doc, n * sizeof(json_member));
        if (!out->u.members) {
            fail(ps, open, "out of memory");
            return false;
        }
        memcpy(out->u.members, ps->mems + base, n * sizeof(json_member));
    }
    ps->nmems = base;
    return true;
}

static bool parse_value(parser *ps, json_value *out, unsigned depth)
{
    skip_ws(ps);
    memset(out, 0, sizeof(*out));
    out->line = ps->line;
    if (ps->p >= ps->end) {
        fail(ps, ps->p, "expected a value");
        return false;
    }
    if (depth > ps->lim.max_depth) {
        char msg[64];
        snprintf(msg, sizeof(msg), "nesting deeper than %u", ps->lim.max_depth);
        fail(ps, ps->p, msg);
        return false;
    }
    switch (*ps->p) {
    case '{': return parse_object(ps, out, depth);
    case '[': return parse_array(ps, out, depth);
    case '"':
        out->type = JSON_STRING;
        return parse_string(ps, &out->u.s, &out->n);
    case 't':
        out->type = JSON_BOOL;
        out->u.b = true;
        return literal(ps, "true");
    case 'f':
        out->type = JSON_BOOL;
        return literal(ps, "false");
    case 'n':
        out->type = JSON_NULL;
        return literal(ps, "null");
    default:
        return parse_number(ps, out);
    }
}

json_doc *json_parse(const char *name, const char *buf, size_t len, const json_limits *lim,
                     char *err, size_t errlen)
{
    if (len > lim->max_bytes) {
        snprintf(err, errlen, "%s: %zu bytes exceed the limit of %zu bytes", name, len,
                 lim->max_bytes);
        return NULL;
    }
    json_doc *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    parser ps = {.name = name, .p = buf, .end = buf + len, .start = buf, .lim = *lim,
                 .doc = d, .err = err, .errlen = errlen, .line = 1};
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        ps.start = ps.p += 3; /* columns count from after the BOM */
    bool ok = parse_value(&ps, &d->root, 1);
    if (ok) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            fail(&ps, ps.p, "unexpected data after the JSON value");
            ok = false;
        }
    }
    free(ps.vals);
    free(ps.mems);
    free(ps.sbuf);
    if (!ok) {
        json_free(d);
        return NULL;
    }
    return d;
}

const json_value *json_root(const json_doc *d)
{
    return &d->root;
}

void json_free(json_doc *d)
{
    if (!d)
        return;
    arena_block *b = d->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(d);
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t k = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->u.members[i].klen == k && memcmp(obj->u.members[i].key, key, k) == 0)
            return &obj->u.members[i].v;
    return NULL;
}

const char *json_str(const json_value *v)
{
    return v && v->type == JSON_STRING ? v->u.s : NULL;
}
