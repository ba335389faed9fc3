/*
 * Bounded JSON parser for embedded JSON strings (see embedded_json.h).
 *
 * Strict RFC 8259 grammar. Recursion is bounded by max_depth; the children
 * of open containers sit on one stack and are copied into the node buffer
 * when their container closes, so a value costs one ej_member whatever its
 * nesting. Unescaped strings never grow (an escape is at least as long as
 * its UTF-8), so the text buffer needs max_bytes + one NUL per string.
 */
#include "embedded_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    ej_parser *p;
    const char *s;
    size_t len, pos;
    uint32_t depth, nvalues;
    char *err;
    size_t errlen;
} cursor;

bool ej_init(ej_parser *p, size_t max_bytes, uint32_t max_depth, uint32_t max_values)
{
    memset(p, 0, sizeof(*p));
    p->max_bytes = max_bytes;
    p->max_depth = max_depth;
    p->max_values = max_values;
    p->stack = calloc(max_values, sizeof(ej_member));
    p->nodes = calloc(max_values, sizeof(ej_member));
    /* every string needs its NUL; there are at most max_values strings
     * plus as many keys */
    p->text = malloc(max_bytes + 2 * (size_t)max_values + 1);
    if (!p->stack || !p->nodes || !p->text) {
        ej_free(p);
        return false;
    }
    return true;
}

void ej_free(ej_parser *p)
{
    free(p->stack);
    free(p->nodes);
    free(p->text);
    memset(p, 0, sizeof(*p));
}

static bool fail(cursor *c, const char *what)
{
    snprintf(c->err, c->errlen, "invalid JSON at byte %zu: %s", c->pos, what);
    return false;
}

static void skip_ws(cursor *c)
{
    while (c->pos < c->len) {
        char ch = c->s[c->pos];
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
            break;
        c->pos++;
    }
}

static int hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool read_u16(cursor *c, unsigned *out)
{
    if (c->len - c->pos < 4)
        return fail(c, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex(c->s[c->pos + (size_t)i]);
        if (d < 0)
            return fail(c, "bad hex digit in \\u escape");
        v = v << 4 | (unsigned)d;
    }
    c->pos += 4;
    *out = v;
    return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at c->pos (on the opening quote), unescaped into the text buffer. */
static bool parse_string(cursor *c, const char **out, uint32_t *outlen)
{
    ej_parser *p = c->p;
    c->pos++; /* '"' */
    char *o = p->text + p->ntext, *start = o;
    for (;;) {
        if (c->pos >= c->len)
            return fail(c, "unterminated string");
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == '"') {
            c->pos++;
            break;
        }
        if (ch < 0x20)
            return fail(c, "control character in string");
        if (ch != '\\') {
            *o++ = (char)ch;
            c->pos++;
            continue;
        }
        if (++c->pos >= c->len)
            return fail(c, "unterminated escape");
        char e = c->s[c->pos++];
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!read_u16(c, &cp))
                return false;
            if (cp >= 0xD800 && cp <= 0xDBFF && c->len - c->pos >= 6 && c->s[c->pos] == '\\' &&
                c->s[c->pos + 1] == 'u') {
                size_t save = c->pos;
                c->pos += 2;
                if (!read_u16(c, &lo))
                    return false;
                if (lo >= 0xDC00 && lo <= 0xDFFF)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else
                    c->pos = save; /* lone high surrogate: the next escape stands alone */
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* lone surrogate */
            /* \uXXXX is 6 bytes and its UTF-8 at most 4 (a pair: 12 vs 4) */
            o += put_utf8(o, cp);
            break;
        }
        default: c->pos--; return fail(c, "bad escape");
        }
    }
    *o = '\0';
    *out = start;
    *outlen = (uint32_t)(o - start);
    p->ntext += (size_t)(o - start) + 1;
    return true;
}

static bool parse_number(cursor *c, ej_value *v)
{
    size_t start = c->pos;
    const char *s = c->s;
    if (c->pos < c->len && s[c->pos] == '-')
        c->pos++;
    if (c->pos >= c->len || s[c->pos] < '0' || s[c->pos] > '9')
        return fail(c, "bad number");
    if (s[c->pos] == '0')
        c->pos++;
    else
        while (c->pos < c->len && s[c->pos] >= '0' && s[c->pos] <= '9')
            c->pos++;
    if (c->pos < c->len && s[c->pos] == '.') {
        c->pos++;
        if (c->pos >= c->len || s[c->pos] < '0' || s[c->pos] > '9')
            return fail(c, "digit expected after '.'");
        while (c->pos < c->len && s[c->pos] >= '0' && s[c->pos] <= '9')
            c->pos++;
    }
    if (c->pos < c->len && (s[c->pos] == 'e' || s[c->pos] == 'E')) {
        c->pos++;
        if (c->pos < c->len && (s[c->pos] == '+' || s[c->pos] == '-'))
            c->pos++;
        if (c->pos >= c->len || s[c->pos] < '0' || s[c->pos] > '9')
            return fail(c, "digit expected in exponent");
        while (c->pos < c->len && s[c->pos] >= '0' && s[c->pos] <= '9')
            c->pos++;
    }
    v->type = EJ_NUMBER;
    v->s = s + start;
    v->n = (uint32_t)(c->pos - start);
    return true;
}

static bool literal(cursor *c, const char *word)
{
    size_t n = strlen(word);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
        return fail(c, "unexpected character");
    c->pos += n;
    return true;
}

static bool parse_value(cursor *c, ej_value *v);

/* Close a container: move its children from the stack to the nodes. */
static void close_container(cursor *c, ej_value *v, uint32_t base)
{
    ej_parser *p = c->p;
    uint32_t n = p->nstack - base;
    v->n = n;
    v->members = p->nodes + p->nnodes;
    memcpy(v->members, p->stack + base, (size_t)n * sizeof(ej_member));
    p->nnodes += n;
    p->nstack = base;
}

static bool push_child(cursor *c, ej_member **m)
{
    ej_parser *p = c->p;
    if (++c->nvalues > p->max_values) {
        snprintf(c->err, c->errlen, "more than %u values at byte %zu", p->max_values, c->pos);
        return false;
    }
    *m = &p->stack[p->nstack++];
    memset(*m, 0, sizeof(**m));
    return true;
}

static bool parse_container(cursor *c, ej_value *v, bool object)
{
    ej_parser *p = c->p;
    if (++c->depth > p->max_depth) {
        snprintf(c->err, c->errlen, "nesting deeper than %u at byte %zu", p->max_depth, c->pos);
        return false;
    }
    char close = object ? '}' : ']';
    c->pos++;
    uint32_t base = p->nstack;
    v->type = object ? EJ_OBJECT : EJ_ARRAY;
    skip_ws(c);
    if (c->pos < c->len && c->s[c->pos] == close) {
        c->pos++;
        close_container(c, v, base);
        c->depth--;
        return true;
    }
    for (;;) {
        ej_member *m;
        if (!push_child(c, &m))
            return false;
        uint32_t idx = p->nstack - 1;
        skip_ws(c);
        if (object) {
            if (c->pos >= c->len || c->s[c->pos] != '"')
                return fail(c, "expected a string key");
            const char *k;
            uint32_t klen;
            if (!parse_string(c, &k, &klen))
                return false;
            skip_ws(c);
            if (c->pos >= c->len || c->s[c->pos] != ':')
                return fail(c, "expected ':' after object key");
            c->pos++;
            p->stack[idx].key = k;
            p->stack[idx].klen = klen;
        }
        ej_value child;
        memset(&child, 0, sizeof(child));
        if (!parse_value(c, &child))
            return false;
        p->stack[idx].v = child; /* the stack may have been used above idx: index, not m */
        skip_ws(c);
        if (c->pos < c->len && c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->pos < c->len && c->s[c->pos] == close) {
            c->pos++;
            break;
        }
        return fail(c, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    close_container(c, v, base);
    c->depth--;
    return true;
}

static bool parse_value(cursor *c, ej_value *v)
{
    skip_ws(c);
    if (c->pos >= c->len)
        return fail(c, "unexpected end of text");
    switch (c->s[c->pos]) {
    case '{': return parse_container(c, v, true);
    case '[': return parse_container(c, v, false);
    case '"': v->type = EJ_STRING; return parse_string(c, &v->s, &v->n);
    case 't': v->type = EJ_BOOL; v->b = true; return literal(c, "true");
    case 'f': v->type = EJ_BOOL; v->b = false; return literal(c, "false");
    case 'n': v->type = EJ_NULL; return literal(c, "null");
    default:
        if (c->s[c->pos] == '-' || (c->s[c->pos] >= '0' && c->s[c->pos] <= '9'))
            return parse_number(c, v);
        return fail(c, "unexpected character");
    }
}

bool ej_parse(ej_parser *p, const char *s, size_t len, ej_value *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > p->max_bytes) {
        snprintf(err, errlen, "%zu bytes exceed the limit of %zu bytes", len, p->max_bytes);
        return false;
    }
    p->nstack = p->nnodes = 0;
    p->ntext = 0;
    cursor c = {.p = p, .s = s, .len = len, .err = err, .errlen = errlen};
    if (!parse_value(&c, out))
        return false;
    skip_ws(&c);
    if (c.pos != len)
        return fail(&c, "text after the JSON value");
    return true;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

const ej_value *ej_get(const ej_value *obj, const char *key)
{
    if (!obj || obj->type != EJ_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < obj->n; i++) {
        const ej_member *m = &obj->members[i];
        if (m->klen != n)
            continue;
        size_t k = 0;
        while (k < n && lower(m->key[k]) == lower(key[k]))
            k++;
        if (k == n)
            return &m->v;
    }
    return NULL;
}
