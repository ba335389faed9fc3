/*
 * Helpers shared by the Azure source plugins: see azure_common.h.
 */
#include "azure_common.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------- scratch */

#define SCRATCH_BLOCK 65536

struct az_scratch_block {
    az_scratch_block *next;
    size_t size, used;
    char data[];
};

static void scratch_init(az_scratch *s, size_t cap)
{
    s->blocks = NULL;
    s->total = 0;
    s->cap = cap;
}

static void scratch_free(az_scratch *s)
{
    az_scratch_block *b = s->blocks;
    while (b) {
        az_scratch_block *next = b->next;
        free(b);
        b = next;
    }
    s->blocks = NULL;
    s->total = 0;
}

/* Keep the first (oldest) block only when it is the standard size, so one
 * huge record does not pin its memory. */
static void scratch_reset(az_scratch *s)
{
    az_scratch_block *b = s->blocks, *keep = NULL;
    while (b) {
        az_scratch_block *next = b->next;
        if (!next && b->size == SCRATCH_BLOCK)
            keep = b;
        else
            free(b);
        b = next;
    }
    s->blocks = keep;
    s->total = keep ? keep->size : 0;
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
}

static char *scratch_alloc(az_scratch *s, size_t n)
{
    az_scratch_block *b = s->blocks;
    if (b && b->size - b->used >= n) {
        char *p = b->data + b->used;
        b->used += n;
        return p;
    }
    size_t size = n > SCRATCH_BLOCK ? n : SCRATCH_BLOCK;
    if (size > s->cap || s->total > s->cap - size)
        return NULL;
    az_scratch_block *nb = malloc(sizeof(*nb) + size);
    if (!nb)
        return NULL;
    nb->size = size;
    nb->used = n;
    nb->next = s->blocks;
    s->blocks = nb;
    s->total += size;
    return nb->data;
}

/* ---------------------------------------------------------- context */

bool az_ctx_init(az_ctx *c, const vgl_host *h, size_t max_json, size_t scratch_cap)
{
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->max_json = max_json;
    scratch_init(&c->scratch, scratch_cap);
    return true;
}

void az_ctx_free(az_ctx *c)
{
    scratch_free(&c->scratch);
}

void az_ctx_reset(az_ctx *c)
{
    scratch_reset(&c->scratch);
    c->reason[0] = '\0';
}

bool az_fail(az_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
    return false;
}

void az_reason_prefix(az_ctx *c, const char *prefix)
{
    size_t pl = strlen(prefix), rl = strlen(c->reason), cap = sizeof(c->reason);
    if (pl >= cap)
        return;
    if (pl + rl >= cap)
        rl = cap - pl - 1;
    memmove(c->reason + pl, c->reason, rl);
    c->reason[pl + rl] = '\0';
    memcpy(c->reason, prefix, pl);
}

const char *az_quote(char *buf, size_t cap, const char *s, size_t len)
{
    size_t max = cap > 4 ? cap - 4 : 0;
    if (max > 64)
        max = 64;
    size_t n = 0;
    for (; n < len && n < max; n++) {
        unsigned char ch = (unsigned char)s[n];
        buf[n] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    if (n < len && cap >= 4) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return buf;
}

const char *az_type_name(az_type t)
{
    switch (t) {
    case AZ_MISSING: return "missing";
    case AZ_NULL: return "null";
    case AZ_BOOL: return "a boolean";
    case AZ_NUM: return "a number";
    case AZ_STR: return "a string";
    case AZ_ARR: return "an array";
    case AZ_OBJ: return "an object";
    }
    return "?";
}

/* --------------------------------------------------- embedded JSON */

/* A validating scanner over JSON text (RFC 8259 grammar). */
typedef struct js {
    const char *start, *p, *end;
    const char *err; /* static text */
} js;

static void js_ws(js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool js_error(js *j, const char *what)
{
    if (!j->err)
        j->err = what;
    return false;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool js_hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

/* At '"': validate the string, leave p after the closing quote. When out
 * is not NULL, decode into out (room for the raw length + 1 is enough:
 * escapes never grow). */
static bool js_string(js *j, char *out, size_t *outlen)
{
    j->p++; /* opening quote */
    size_t n = 0;
    while (j->p < j->end) {
        unsigned char ch = (unsigned char)*j->p;
        if (ch == '"') {
            j->p++;
            if (out) {
                out[n] = '\0';
                *outlen = n;
            }
            return true;
        }
        if (ch < 0x20)
            return js_error(j, "control character in a string");
        if (ch != '\\') {
            if (out)
                out[n++] = (char)ch;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            break;
        const char *esc = j->p; /* errors point at the backslash */
        char e = j->p[1];
        j->p += 2;
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default:
            j->p = esc;
            return js_error(j, "invalid escape in a string");
        }
        if (simple) {
            if (out)
                out[n++] = simple;
            continue;
        }
        unsigned cp;
        if (!js_hex4(j->p, j->end, &cp)) {
            j->p = esc;
            return js_error(j, "invalid \\u escape in a string");
        }
        j->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                js_hex4(j->p + 2, j->end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                j->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
                cp = 0xFFFD; /* lone surrogate */
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        if (!out)
            continue;
        /* at most 4 bytes from at least 6 escaped ones: never grows */
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xC0 | cp >> 6);
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xE0 | cp >> 12);
            out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | cp >> 18);
            out[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
            out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return js_error(j, "unterminated string");
}

static bool js_digits(js *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static bool js_number(js *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!js_digits(j))
        return js_error(j, "invalid value");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!js_digits(j))
            return js_error(j, "invalid number");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!js_digits(j))
            return js_error(j, "invalid number");
    }
    return true;
}

static bool js_literal(js *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return js_error(j, "invalid value");
    j->p += n;
    return true;
}

static bool js_value(js *j, int depth);

static bool js_container(js *j, int depth, bool object)
{
    if (depth >= AZ_MAX_JSON_DEPTH)
        return js_error(j, "nesting too deep");
    char close = object ? '}' : ']';
    j->p++;
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        js_ws(j);
        if (object) {
            if (j->p >= j->end || *j->p != '"')
                return js_error(j, "expected a string key");
            if (!js_string(j, NULL, NULL))
                return false;
            js_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return js_error(j, "expected ':' after a key");
            j->p++;
        }
        if (!js_value(j, depth + 1))
            return false;
        js_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return true;
        }
        return js_error(j, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool js_value(js *j, int depth)
{
    js_ws(j);
    if (j->p >= j->end)
        return js_error(j, "unexpected end");
    switch (*j->p) {
    case '{': return js_container(j, depth, true);
    case '[': return js_container(j, depth, false);
    case '"': return js_string(j, NULL, NULL);
    case 't': return js_literal(j, "true");
    case 'f': return js_literal(j, "false");
    case 'n': return js_literal(j, "null");
    default: return js_number(j);
    }
}

/* Turn the JSON value text [s, e) (already validated) into an az_val. */
static bool js_to_val(az_ctx *c, const char *name, const char *s, const char *e, az_val *out)
{
    memset(out, 0, sizeof(*out));
    switch (*s) {
    case '{':
    case '[':
        out->t = *s == '{' ? AZ_OBJ : AZ_ARR;
        out->s = s;
        out->len = (size_t)(e - s);
        return true;
    case '"': {
        char *buf = scratch_alloc(&c->scratch, (size_t)(e - s));
        if (!buf)
            return az_fail(c, "%s: the record's strings exceed the scratch memory", name);
        js j = {.start = s, .p = s, .end = e};
        size_t n = 0;
        js_string(&j, buf, &n);
        out->t = AZ_STR;
        out->s = buf;
        out->len = n;
        return true;
    }
    case 't':
    case 'f':
        out->t = AZ_BOOL;
        out->b = *s == 't';
        return true;
    case 'n':
        out->t = AZ_NULL;
        return true;
    default: {
        char num[64];
        size_t n = (size_t)(e - s);
        if (n >= sizeof(num))
            return az_fail(c, "%s: number of %zu characters is too long", name, n);
        memcpy(num, s, n);
        num[n] = '\0';
        out->t = AZ_NUM;
        out->num = strtod(num, NULL);
        return true;
    }
    }
}

/* Find key in the JSON object text (validating all of it). */
static bool js_member(az_ctx *c, const char *name, const char *text, size_t len, const char *key,
                      az_val *out)
{
    memset(out, 0, sizeof(*out));
    if (len > c->max_json)
        return az_fail(c, "%s holds %zu bytes of JSON text, over the limit of %zu", name, len,
                       c->max_json);
    js j = {.start = text, .p = text, .end = text + len};
    js_ws(&j);
    if (j.p >= j.end || *j.p != '{')
        return az_fail(c, "%s is text, expected an object or a JSON object", name);
    j.p++;
    size_t klen = strlen(key);
    const char *vs = NULL, *ve = NULL;
    js_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            js_ws(&j);
            if (j.p >= j.end || *j.p != '"') {
                js_error(&j, "expected a string key");
                break;
            }
            /* keys are short; one longer than ours cannot match */
            char kbuf[256];
            size_t kn = 0;
            const char *ks = j.p;
            if (!js_string(&j, NULL, NULL))
                break;
            bool match = false;
            if ((size_t)(j.p - ks) <= sizeof(kbuf)) {
                js k = {.start = ks, .p = ks, .end = j.p};
                js_string(&k, kbuf, &kn);
                match = kn == klen && memcmp(kbuf, key, klen) == 0;
            }
            js_ws(&j);
            if (j.p >= j.end || *j.p != ':') {
                js_error(&j, "expected ':' after a key");
                break;
            }
            j.p++;
            js_ws(&j);
            const char *s = j.p;
            if (!js_value(&j, 1))
                break;
            if (match) {
                vs = s;
                ve = j.p;
            }
            js_ws(&j);
            if (j.p < j.end && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.end && *j.p == '}') {
                j.p++;
                break;
            }
            js_error(&j, "expected ',' or '}'");
            break;
        }
    }
    if (!j.err) {
        js_ws(&j);
        if (j.p != j.end)
            js_error(&j, "text after the object");
    }
    if (j.err)
        return az_fail(c, "%s is not valid JSON: %s at byte %zu", name, j.err,
                       (size_t)(j.p - j.start));
    if (!vs)
        return true; /* missing */
    return js_to_val(c, name, vs, ve, out);
}

/* -------------------------------------------------------- reading */

void az_from_tree(const vgl_host *h, const vgl_value *v, az_val *out)
{
    memset(out, 0, sizeof(*out));
    if (!v)
        return;
    out->tree = v;
    switch (h->value_type(v)) {
    case VGL_T_NULL: out->t = AZ_NULL; break;
    case VGL_T_BOOL:
        out->t = AZ_BOOL;
        h->value_bool(v, &out->b);
        break;
    case VGL_T_INT:
    case VGL_T_DOUBLE:
        out->t = AZ_NUM;
        h->value_double(v, &out->num);
        break;
    case VGL_T_STRING:
        out->t = AZ_STR;
        h->value_str(v, &out->s, &out->len);
        break;
    case VGL_T_ARRAY: out->t = AZ_ARR; break;
    case VGL_T_OBJECT: out->t = AZ_OBJ; break;
    }
}

/* Member key of a tree object: the last one of that name (the host's hashed
 * lookup; plugins of ABI 1.1 only load on hosts that have it). */
static const vgl_value *tree_member(const vgl_host *h, const vgl_value *obj, const char *key)
{
    return h->member_get(obj, key, strlen(key));
}

void az_field(az_ctx *c, const az_rec *r, const az_key *k, az_val *out)
{
    const vgl_value *v =
        r->obj ? tree_member(c->h, r->obj, k->name) : c->h->get(r->ev, k->path);
    az_from_tree(c->h, v, out);
}

bool az_member(az_ctx *c, const az_val *obj, const char *name, const char *key, az_val *out)
{
    memset(out, 0, sizeof(*out));
    switch (obj->t) {
    case AZ_MISSING:
    case AZ_NULL: return true;
    case AZ_OBJ:
        if (obj->tree) {
            az_from_tree(c->h, tree_member(c->h, obj->tree, key), out);
            return true;
        }
        return js_member(c, name, obj->s, obj->len, key, out);
    case AZ_STR: return js_member(c, name, obj->s, obj->len, key, out);
    default: return az_fail(c, "%s is %s, expected an object", name, az_type_name(obj->t));
    }
}

void az_name_join(char *buf, size_t cap, const char *base, const char *const *segs, size_t n)
{
    if (cap == 0)
        return;
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *part = i == 0 ? base : segs[i - 1];
        size_t pl = strlen(part);
        if (i > 0 && len + 1 < cap)
            buf[len++] = '.';
        if (pl > cap - 1 - len)
            pl = cap - 1 - len;
        memcpy(buf + len, part, pl);
        len += pl;
    }
    buf[len] = '\0';
}

bool az_walk(az_ctx *c, const az_val *obj, const char *name, const char *const *segs, size_t n,
             az_val *out)
{
    char cur[256];
    az_val v = *obj;
    for (size_t i = 0; i < n; i++) {
        az_val next;
        /* the dotted name is for error messages: a tree object (the usual
         * case) never produces one */
        if (v.t == AZ_OBJ && v.tree)
            cur[0] = '\0';
        else
            az_name_join(cur, sizeof(cur), name, segs, i);
        if (!az_member(c, &v, cur, segs[i], &next))
            return false;
        v = next;
    }
    *out = v;
    return true;
}

bool az_str(az_ctx *c, const az_val *v, const char *name, const char **s, size_t *len)
{
    *s = NULL;
    *len = 0;
    if (v->t == AZ_MISSING || v->t == AZ_NULL)
        return true;
    if (v->t != AZ_STR)
        return az_fail(c, "%s is %s, expected a string", name, az_type_name(v->t));
    if (v->len > AZ_MAX_FIELD) {
        c->skipped++;
        return true;
    }
    if (v->tree) { /* copy: event strings do not survive writes */
        char *buf = scratch_alloc(&c->scratch, v->len + 1);
        if (!buf)
            return az_fail(c, "%s: the record's strings exceed the scratch memory", name);
        memcpy(buf, v->s, v->len);
        buf[v->len] = '\0';
        *s = buf;
    } else {
        *s = v->s;
    }
    *len = v->len;
    return true;
}

bool az_num(az_ctx *c, const az_val *v, const char *name, double *out, bool *present)
{
    *present = false;
    switch (v->t) {
    case AZ_MISSING:
    case AZ_NULL: return true;
    case AZ_NUM:
        *out = v->num;
        *present = true;
        return true;
    case AZ_STR: {
        if (v->len == 0)
            return true;
        char buf[64], q[80];
        if (v->len >= sizeof(buf))
            return az_fail(c, "%s \"%s\" is not a number", name, az_quote(q, sizeof(q), v->s,
                                                                           v->len));
        memcpy(buf, v->s, v->len);
        buf[v->len] = '\0';
        char *end;
        double d = strtod(buf, &end);
        if (end == buf || *end != '\0' || !isfinite(d) || buf[0] == ' ')
            return az_fail(c, "%s \"%s\" is not a number", name, az_quote(q, sizeof(q), v->s,
                                                                           v->len));
        *out = d;
        *present = true;
        return true;
    }
    default: return az_fail(c, "%s is %s, expected a number", name, az_type_name(v->t));
    }
}

bool az_bool(az_ctx *c, const az_val *v, const char *name, bool *out, bool *present)
{
    *present = false;
    switch (v->t) {
    case AZ_MISSING:
    case AZ_NULL: return true;
    case AZ_BOOL:
        *out = v->b;
        *present = true;
        return true;
    case AZ_STR:
        if (v->len == 0)
            return true;
        if (v->len == 4 && strncasecmp(v->s, "true", 4) == 0) {
            *out = true;
            *present = true;
            return true;
        }
        if (v->len == 5 && strncasecmp(v->s, "false", 5) == 0) {
            *out = false;
            *present = true;
            return true;
        }
        char q[80];
        return az_fail(c, "%s \"%s\" is not true or false", name,
                       az_quote(q, sizeof(q), v->s, v->len));
    default: return az_fail(c, "%s is %s, expected a boolean", name, az_type_name(v->t));
    }
}

/* -------------------------------------------------------- writing */

void az_out_start(az_out *o, az_ctx *c, vgl_event *ev)
{
    o->c = c;
    o->ev = ev;
    o->rc = VGL_OK;
    o->failed = NULL;
}

static void out_result(az_out *o, const vgl_path *p, vgl_rc rc)
{
    if (rc != VGL_OK && o->rc == VGL_OK) {
        o->rc = rc;
        o->failed = p;
    }
}

void az_put_str(az_out *o, const vgl_path *p, const char *s, size_t len)
{
    if (o->rc != VGL_OK || !s || len == 0)
        return;
    out_result(o, p, o->c->h->set_str(o->ev, p, s, len));
}

void az_put_cstr(az_out *o, const vgl_path *p, const char *s)
{
    if (s)
        az_put_str(o, p, s, strlen(s));
}

void az_put_int(az_out *o, const vgl_path *p, int64_t v)
{
    if (o->rc == VGL_OK)
        out_result(o, p, o->c->h->set_int(o->ev, p, v));
}

void az_put_double(az_out *o, const vgl_path *p, double v)
{
    if (o->rc == VGL_OK)
        out_result(o, p, o->c->h->set_double(o->ev, p, v));
}

void az_put_bool(az_out *o, const vgl_path *p, bool v)
{
    if (o->rc == VGL_OK)
        out_result(o, p, o->c->h->set_bool(o->ev, p, v));
}

void az_put_time(az_out *o, const vgl_path *p, int64_t ms)
{
    if (o->rc != VGL_OK)
        return;
    char buf[32];
    size_t n = az_time_format(ms, buf, sizeof(buf));
    if (n == 0)
        return;
    o->c->h->time_set(o->ev, ms);
    az_put_str(o, p, buf, n);
}

bool az_out_ok(az_out *o)
{
    if (o->rc == VGL_OK)
        return true;
    const char *f = o->c->h->path_str(o->failed);
    if (o->rc == VGL_ERR_TYPE)
        return az_fail(o->c, "cannot set %s: a field of the record on its path is not an object",
                       f);
    if (o->rc == VGL_ERR_NOMEM)
        return az_fail(o->c, "cannot set %s: the event's memory limit is reached", f);
    return az_fail(o->c, "cannot set %s: error %d", f, (int)o->rc);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

/* n decimal digits of v at p */
static void put_digits(char *p, unsigned v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

size_t az_time_format(int64_t ms, char *buf, size_t cap)
{
    /* years 0000..9999 only */
    if (ms < -62167219200000LL || ms > 253402300799999LL || cap < 25)
        return 0;
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    /* once per event: no printf */
    memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
    put_digits(buf, (unsigned)y, 4);
    put_digits(buf + 5, mo, 2);
    put_digits(buf + 8, d, 2);
    put_digits(buf + 11, (unsigned)(rem / 3600000), 2);
    put_digits(buf + 14, (unsigned)(rem / 60000 % 60), 2);
    put_digits(buf + 17, (unsigned)(rem / 1000 % 60), 2);
    put_digits(buf + 20, (unsigned)(rem % 1000), 3);
    return 24;
}

/* ------------------------------------------------- normalizations */

size_t az_user_key(const char *s, size_t len, char *buf, size_t cap)
{
    const char *bs = memrchr(s, '\\', len);
    if (bs) {
        len -= (size_t)(bs + 1 - s);
        s = bs + 1;
    }
    const char *at = memchr(s, '@', len);
    if (at)
        len = (size_t)(at - s);
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= cap)
        return 0;
    for (size_t i = 0; i < len; i++)
        buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    buf[len] = '\0';
    return len;
}

const char *az_user_domain(const char *s, size_t len, size_t *dlen)
{
    const char *at = memchr(s, '@', len);
    if (at && (size_t)(at + 1 - s) < len) {
        *dlen = len - (size_t)(at + 1 - s);
        return at + 1;
    }
    const char *bs = memchr(s, '\\', len);
    if (bs && bs > s) {
        *dlen = (size_t)(bs - s);
        return s;
    }
    return NULL;
}

static bool ip_parse(const char *s, size_t len, unsigned char addr[16], int *family)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

bool az_ip_valid(const char *s, size_t len)
{
    unsigned char a[16];
    int f;
    return ip_parse(s, len, a, &f);
}

bool az_ip_useful(const char *s, size_t len)
{
    unsigned char a[16];
    int f;
    if (!ip_parse(s, len, a, &f))
        return false;
    if (f == AF_INET)
        return a[0] != 127 && !(a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0);
    static const unsigned char zero[16], loop[16] = {[15] = 1};
    return memcmp(a, zero, 16) != 0 && memcmp(a, loop, 16) != 0;
}

/* The segment after "/NAME/" (case-insensitive) in id. */
static const char *segment_after(const char *id, size_t len, const char *name, size_t *out)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 2 <= len; i++) {
        if (id[i] != '/' || strncasecmp(id + i + 1, name, nl) != 0 || id[i + 1 + nl] != '/')
            continue;
        const char *v = id + i + nl + 2;
        const char *end = memchr(v, '/', len - (size_t)(v - id));
        size_t vl = end ? (size_t)(end - v) : len - (size_t)(v - id);
        if (vl == 0)
            return NULL;
        *out = vl;
        return v;
    }
    return NULL;
}

void az_resource_parts(const char *id, size_t len, const char **sub, size_t *sublen,
                       const char **rg, size_t *rglen)
{
    *sub = *rg = NULL;
    *sublen = *rglen = 0;
    if (!id)
        return;
    *sub = segment_after(id, len, "subscriptions", sublen);
    *rg = segment_after(id, len, "resourceGroups", rglen);
}

const char *az_lower(az_ctx *c, const char *s, size_t len)
{
    char *buf = scratch_alloc(&c->scratch, len + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len; i++)
        buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    buf[len] = '\0';
    return buf;
}

/* ------------------------------------------------- envelope, copies */

int az_envelope(az_ctx *c, vgl_event *ev, const vgl_path *p_records, size_t max_records,
                const vgl_value **items)
{
    const vgl_host *h = c->h;
    const vgl_value *recs = h->get(ev, p_records);
    if (!recs)
        return 0;
    az_val v;
    az_from_tree(h, recs, &v);
    if (v.t != AZ_ARR) {
        az_fail(c, "records is %s, expected an array of records", az_type_name(v.t));
        return -1;
    }
    size_t n = h->value_count(recs);
    if (n == 0) {
        az_fail(c, "records is empty (an envelope with 0 records)");
        return -1;
    }
    if (n > max_records) {
        az_fail(c, "the envelope holds %zu records, over max_records (%zu)", n, max_records);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        vgl_type t = h->value_type(h->value_at(recs, i));
        if (t != VGL_T_OBJECT) {
            az_val iv;
            az_from_tree(h, h->value_at(recs, i), &iv);
            az_fail(c, "records[%zu] is %s, expected an object", i, az_type_name(iv.t));
            return -1;
        }
    }
    *items = recs;
    return 1;
}

#define COPIER_SLOTS (2 * AZ_COPIER_KEYS)

bool az_copier_init(az_copier *cp, const vgl_host *h)
{
    memset(cp, 0, sizeof(*cp));
    cp->h = h;
    cp->slots = calloc(COPIER_SLOTS, sizeof(*cp->slots));
    return cp->slots != NULL;
}

void az_copier_free(az_copier *cp)
{
    if (cp->slots)
        for (size_t i = 0; i < COPIER_SLOTS; i++)
            free(cp->slots[i].key);
    free(cp->slots);
    cp->slots = NULL;
}

static uint32_t key_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* The path of a top-level key, interned on first sight; NULL when the key
 * cannot be a path or the table is full. */
static const vgl_path *copier_path(az_copier *cp, const char *key, size_t klen)
{
    if (klen == 0 || klen > 128 || memchr(key, '.', klen) || memchr(key, '\0', klen))
        return NULL;
    size_t i = key_hash(key, klen) % COPIER_SLOTS;
    while (cp->slots[i].key) {
        if (cp->slots[i].klen == klen && memcmp(cp->slots[i].key, key, klen) == 0)
            return cp->slots[i].path;
        i = (i + 1) % COPIER_SLOTS;
    }
    if (cp->used >= AZ_COPIER_KEYS)
        return NULL;
    char *k = malloc(klen + 1);
    if (!k)
        return NULL;
    memcpy(k, key, klen);
    k[klen] = '\0';
    const vgl_path *p = cp->h->path(cp->h, k); /* once per distinct key */
    cp->slots[i] = (struct az_copier_slot){.key = k, .klen = klen, .path = p};
    cp->used++;
    return p;
}

vgl_rc az_copy_members(az_copier *cp, vgl_event *dst, const vgl_value *obj, bool scalars_only)
{
    const vgl_host *h = cp->h;
    size_t n = h->value_count(obj);
    for (size_t i = 0; i < n; i++) {
        const char *k;
        size_t kl;
        const vgl_value *v = h->value_member(obj, i, &k, &kl);
        vgl_type t = h->value_type(v);
        if (scalars_only && (t == VGL_T_ARRAY || t == VGL_T_OBJECT))
            continue;
        const vgl_path *p = copier_path(cp, k, kl);
        if (!p) {
            cp->skipped++;
            continue;
        }
        vgl_rc rc = h->set_value(dst, p, v);
        if (rc != VGL_OK)
            return rc;
    }
    return VGL_OK;
}

/* ----------------------------------------------- one record, one event */

bool az_process_record(az_ctx *c, az_copier *cp, vgl_batch *batch, size_t i, vgl_event *ev,
                       const vgl_path *p_records, size_t max_records, const az_record_ops *ops,
                       void *plugin, void *parsed)
{
    const vgl_host *h = c->h;
    const vgl_value *items = NULL;
    int env = az_envelope(c, ev, p_records, max_records, &items);
    if (env < 0)
        return false;
    if (env == 0) {
        az_rec rec = {.ev = ev, .obj = NULL};
        if (!ops->read(plugin, &rec, parsed))
            return false;
        az_out o;
        az_out_start(&o, c, ev);
        ops->write(plugin, &o, parsed);
        return az_out_ok(&o);
    }
    size_t n = h->value_count(items);
    char prefix[40];
    /* every record must read before any event is emitted */
    for (size_t r = 0; r < n; r++) {
        az_ctx_reset(c);
        az_rec rec = {.ev = ev, .obj = h->value_at(items, r)};
        if (!ops->read(plugin, &rec, parsed)) {
            snprintf(prefix, sizeof(prefix), "records[%zu]: ", r);
            az_reason_prefix(c, prefix);
            return false;
        }
    }
    for (size_t r = 0; r < n; r++) {
        az_ctx_reset(c);
        az_rec rec = {.ev = ev, .obj = h->value_at(items, r)};
        vgl_event *out = h->batch_emit_new(batch, i);
        if (!out)
            return az_fail(c, "cannot expand the envelope: the batch's event limit was reached "
                              "after %zu of %zu records", r, n);
        snprintf(prefix, sizeof(prefix), "records[%zu]: ", r);
        if (az_copy_members(cp, out, rec.obj, false) != VGL_OK) {
            az_fail(c, "cannot copy the record: the event's memory limit is reached");
            az_reason_prefix(c, prefix);
            return false;
        }
        if (!ops->read(plugin, &rec, parsed)) {
            az_reason_prefix(c, prefix);
            return false;
        }
        az_out o;
        az_out_start(&o, c, out);
        ops->write(plugin, &o, parsed);
        if (!az_out_ok(&o)) {
            az_reason_prefix(c, prefix);
            return false;
        }
    }
    h->batch_drop(batch, i);
    return true;
}

bool az_read_limits(const vgl_host *host, const vgl_plugin_config *cfg, size_t *max_records,
                    size_t *max_json, char *err, size_t errlen)
{
    int64_t records = 0;
    uint64_t json = 0;
    host->config_int(cfg, "max_records", &records);
    host->config_size(cfg, "max_embedded_json", &json);
    if (records < 1 || records > 1000000) {
        snprintf(err, errlen, "max_records must be between 1 and 1000000, got %lld",
                 (long long)records);
        return false;
    }
    if (json < 1024 || json > 64u << 20) {
        snprintf(err, errlen, "max_embedded_json must be between 1KiB and 64MiB, got %llu bytes",
                 (unsigned long long)json);
        return false;
    }
    *max_records = (size_t)records;
    *max_json = (size_t)json;
    return true;
}
