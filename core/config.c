/*
 * Configuration loader: YAML text -> vgl_cnode tree (libyaml event API,
 * positions from the marks) -> one schema check per section -> the typed
 * vgl_config of config.h.
 *
 * Every problem is collected with its position and reported at the end,
 * sorted by position, as "FILE:LINE:COL: message". A value that already
 * failed (an unset ${VAR}, an alias) is marked bad so its section does not
 * report it a second time.
 *
 * Hostile input: the text is capped at 16 MiB, collections at 64 levels of
 * nesting, the document at a million values (16 MiB of "[]," would
 * otherwise cost over 500 MiB), a value at 1 MiB after ${} substitution and
 * the report at 100 messages; aliases (the billion-laughs vector) are rejected, and duplicate
 * map keys are found by sorting, never by an all-pairs scan.
 *
 * Allocation failure aborts: the loader runs at start-up and on reload with
 * bounded input, and threading an out-of-memory path through every node
 * would hide the logic for no practical gain (git's xmalloc, Redis's
 * zmalloc make the same choice).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"

#ifndef VGL_SYSCONFDIR
#define VGL_SYSCONFDIR "/etc/vigil"
#endif

#define MAX_FILE_BYTES ((size_t)16 << 20)
#define MAX_DEPTH 64
#define MAX_VALUES 1000000 /* nodes: bounds memory at ~100 MiB */
#define MAX_ERRORS 100
#define MAX_SCALAR_BYTES ((size_t)1 << 20) /* after ${} substitution */
#define SHOW_MAX 64                        /* user text quoted in a message */
#define SUGGEST_MAX 64                     /* longest key given a did-you-mean */
#define WHERE_MAX 160                      /* "automation[3].do[1].params" */

/* ------------------------------------------------------------ allocation */

static void out_of_memory(void)
{
    fputs("vigil: out of memory while loading the configuration\n", stderr);
    abort();
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

/* Room for one more element in an array that only grows by one: the
 * capacity is the next power of two, so it is implied by n. */
static void *grow(void *arr, size_t n, size_t elem)
{
    if (n & (n - 1))
        return arr;
    return xrealloc(arr, (n ? n * 2 : 1) * elem);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ------------------------------------------------------------------ diag */

void vgl_diag_add(vgl_diag *d, const char *fmt, ...)
{
    if (!d)
        return;
    va_list ap;
    char *msg;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0)
        out_of_memory();
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->msgs = xrealloc(d->msgs, d->cap * sizeof(*d->msgs));
    }
    d->msgs[d->n++] = msg;
}

void vgl_diag_free(vgl_diag *d)
{
    if (!d)
        return;
    free_strv(d->msgs, d->n);
    d->msgs = NULL;
    d->n = d->cap = 0;
}

/* ----------------------------------------------------- durations, sizes */

/* Leading decimal digits of s into *v; false when none or on overflow. */
static bool parse_digits(const char **s, uint64_t max, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (x > (max - digit) / 10)
            return false;
        x = x * 10 + digit;
    }
    *s = p;
    *v = x;
    return true;
}

bool vgl_parse_duration(const char *s, int64_t *ms)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    uint64_t v;
    if (!s || !parse_digits(&s, INT64_MAX, &v))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s, units[i].unit) != 0)
            continue;
        if (v > (uint64_t)(INT64_MAX / units[i].ms))
            return false;
        *ms = (int64_t)v * units[i].ms;
        return true;
    }
    return false;
}

bool vgl_parse_size(const char *s, size_t *bytes)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        {"", 1}, {"B", 1},
        {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
        {"KB", 1000ull}, {"MB", 1000000ull}, {"GB", 1000000000ull}, {"TB", 1000000000000ull},
    };
    uint64_t v;
    if (!s || !parse_digits(&s, SIZE_MAX, &v))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s, units[i].unit) != 0)
            continue;
        if (v > SIZE_MAX / units[i].mult)
            return false;
        *bytes = (size_t)(v * units[i].mult);
        return true;
    }
    return false;
}

/* ----------------------------------------------------------------- nodes */

/* Every node the loader makes is a node_ext; `bad` marks a value that
 * already produced an error, so validation skips it. */
typedef struct node_ext {
    vgl_cnode node;
    bool bad;
} node_ext;

static vgl_cnode *node_new(vgl_cnode_kind kind, const yaml_mark_t *m)
{
    node_ext *e = xcalloc(1, sizeof(*e));
    e->node.kind = kind;
    e->node.line = (int)m->line + 1;
    e->node.col = (int)m->column + 1;
    return &e->node;
}

static bool node_bad(const vgl_cnode *n) { return ((const node_ext *)(const void *)n)->bad; }
static void node_set_bad(vgl_cnode *n) { ((node_ext *)(void *)n)->bad = true; }

/* Nesting is capped at MAX_DEPTH, so the recursion is bounded. */
static void node_free(vgl_cnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            free(n->keys[i]);
        node_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->key_pos);
    free(n->scalar);
    free(n);
}

const vgl_cnode *vgl_cnode_get(const vgl_cnode *map, const char *key)
{
    if (!map || map->kind != VGL_CN_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

/* ---------------------------------------------------------------- loader */

typedef struct message {
    int line, col; /* 0 = no position */
    size_t seq;
    char *text;
} message;

typedef struct frame {
    vgl_cnode *node;
    char *key; /* MAP: the key waiting for its value */
    vgl_cpos key_pos;
    bool have_key;
} frame;

typedef struct loader {
    const char *name; /* file name used in messages */
    char *dir;        /* directory relative paths are joined to; NULL = as written */
    const char *src;
    size_t len;
    bool utf8;          /* src is UTF-8 (positions inside scalars are exact) */
    size_t *line_start; /* byte offset of each line */
    size_t nlines;
    message *msgs;
    size_t nmsgs;
    size_t dropped; /* messages over MAX_ERRORS */
    frame stack[MAX_DEPTH];
    int depth;
    size_t nvalues; /* nodes made so far */
    vgl_cnode *root;
    bool complete; /* the document was parsed to its end */
} loader;

static void vreport(loader *L, int line, int col, const char *fmt, va_list ap)
{
    if (L->nmsgs == MAX_ERRORS) {
        L->dropped++;
        return;
    }
    char *text;
    if (vasprintf(&text, fmt, ap) < 0)
        out_of_memory();
    L->msgs = grow(L->msgs, L->nmsgs, sizeof(*L->msgs));
    L->msgs[L->nmsgs] = (message){line, col, L->nmsgs, text};
    L->nmsgs++;
}

static void report(loader *L, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(loader *L, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(L, line, col, fmt, ap);
    va_end(ap);
}

static void report_at(loader *L, const vgl_cnode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report_at(loader *L, const vgl_cnode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(L, n->line, n->col, fmt, ap);
    va_end(ap);
}

static int message_cmp(const void *a, const void *b)
{
    const message *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the messages to diag in file order. */
static void flush_messages(loader *L, vgl_diag *diag)
{
    if (L->nmsgs > 1)
        qsort(L->msgs, L->nmsgs, sizeof(*L->msgs), message_cmp);
    for (size_t i = 0; i < L->nmsgs; i++) {
        const message *m = &L->msgs[i];
        if (m->line > 0)
            vgl_diag_add(diag, "%s:%d:%d: %s", L->name, m->line, m->col, m->text);
        else
            vgl_diag_add(diag, "%s: %s", L->name, m->text);
        free(m->text);
    }
    if (L->dropped)
        vgl_diag_add(diag, "%s: %zu more errors not shown", L->name, L->dropped);
    free(L->msgs);
    L->msgs = NULL;
}

/* Format a place name or a message part ("automation[3].do[1]"); text that
 * does not fit is cut, which only shortens a message. */
static const char *place(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *place(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return out;
}

/* User text made safe to quote in a message: control characters, quotes
 * and backslashes escaped, cut after SHOW_MAX bytes (at a character
 * boundary) with "...". */
typedef struct shown {
    char s[(SHOW_MAX + 4) * 4 + 8];
} shown;

static const char *show(shown *b, const char *s)
{
    size_t o = 0, i = 0;
    for (; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= SHOW_MAX && ((ch & 0xC0) != 0x80 || i >= SHOW_MAX + 3))
            break;
        if (ch == '\'' || ch == '\\') {
            b->s[o++] = '\\';
            b->s[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            b->s[o++] = '\\';
            b->s[o++] = 'x';
            b->s[o++] = hex[ch >> 4];
            b->s[o++] = hex[ch & 15];
        } else {
            b->s[o++] = (char)ch;
        }
    }
    if (s[i]) {
        memcpy(b->s + o, "...", 3);
        o += 3;
    }
    b->s[o] = '\0';
    return b->s;
}

/* "a map", "a list", "an empty value" or the quoted scalar. */
static const char *describe(shown *b, const vgl_cnode *n)
{
    if (n->kind == VGL_CN_MAP)
        return "a map";
    if (n->kind == VGL_CN_SEQ)
        return "a list";
    if (n->is_null)
        return "an empty value";
    shown inner;
    return place(b->s, sizeof(b->s), "'%s'", show(&inner, n->scalar));
}

/* ------------------------------------------------------------- positions */

static void index_lines(loader *L)
{
    const unsigned char *s = (const unsigned char *)L->src;
    size_t start = 0;
    if (L->len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        start = 3; /* libyaml does not count a BOM in columns */
    L->utf8 = !(L->len >= 2 && ((s[0] == 0xFE && s[1] == 0xFF) || (s[0] == 0xFF && s[1] == 0xFE)));
    L->line_start = grow(NULL, 0, sizeof(size_t));
    L->line_start[L->nlines++] = start;
    for (size_t i = start; i < L->len; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == L->len || s[i + 1] != '\n'))) {
            L->line_start = grow(L->line_start, L->nlines, sizeof(size_t));
            L->line_start[L->nlines++] = i + 1;
        }
    }
}

/* Step over one character, keeping a 1-based line and column. */
static void advance(const char *s, size_t end, size_t *i, int *line, int *col)
{
    unsigned char ch = (unsigned char)s[*i];
    if (ch == '\n' || (ch == '\r' && (*i + 1 == end || s[*i + 1] != '\n'))) {
        (*line)++;
        *col = 1;
    } else if (ch != '\r' && (ch & 0xC0) != 0x80) {
        (*col)++;
    }
    (*i)++;
}

/* Byte offset of a mark (libyaml counts characters); SIZE_MAX if unknown. */
static size_t mark_offset(const loader *L, const yaml_mark_t *m)
{
    if (!L->utf8 || m->line >= L->nlines)
        return SIZE_MAX;
    size_t i = L->line_start[m->line];
    for (size_t c = 0; c < m->column; c++) {
        if (i >= L->len)
            return SIZE_MAX;
        i++;
        while (i < L->len && ((unsigned char)L->src[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Line and column of a byte offset (libyaml reader errors give offsets). */
static void offset_pos(const loader *L, size_t off, int *line, int *col)
{
    size_t lo = 0, hi = L->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (L->line_start[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (int)lo + 1;
    *col = 1;
    for (size_t i = L->line_start[lo]; i < off && i < L->len; i++)
        if (((unsigned char)L->src[i] & 0xC0) != 0x80)
            (*col)++;
}

/* Position of the k-th ${ reference of a scalar, found by scanning its
 * source text the way expand_env scans its value; the scalar's own
 * position when the source cannot be mapped (UTF-16, escapes). */
static void ref_pos(const loader *L, const yaml_mark_t *start, const yaml_mark_t *end, size_t k,
                    int *line, int *col)
{
    *line = (int)start->line + 1;
    *col = (int)start->column + 1;
    size_t a = mark_offset(L, start), b = mark_offset(L, end);
    if (a == SIZE_MAX || b == SIZE_MAX || b < a)
        return;
    const char *s = L->src;
    int ln = *line, cl = *col;
    size_t count = 0;
    for (size_t i = a; i < b;) {
        if (s[i] == '$' && i + 1 < b && s[i + 1] == '$') {
            i += 2;
            cl += 2;
        } else if (s[i] == '$' && i + 1 < b && s[i + 1] == '{') {
            if (count++ == k) {
                *line = ln;
                *col = cl;
                return;
            }
            i += 2;
            cl += 2;
            while (i < b && s[i] != '}')
                advance(s, b, &i, &ln, &cl);
        } else {
            advance(s, b, &i, &ln, &cl);
        }
    }
}

/* ------------------------------------------------------ ${} substitution */

static bool valid_env_name(const char *s, size_t n)
{
    if (n == 0 || n > 255 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* s[0..n) with ${VAR}, ${VAR:-default} and $$ replaced. Each failure is
 * reported at its reference and clears *ok. */
static char *expand_env(loader *L, const char *s, size_t n, const yaml_mark_t *start,
                        const yaml_mark_t *end, bool *ok)
{
    if (!memchr(s, '$', n))
        return xstrndup(s, n);
    vgl_buf out;
    vgl_buf_init(&out, MAX_SCALAR_BYTES);
    size_t ref = 0;
    int line, col;
    for (size_t i = 0; i < n;) {
        if (s[i] != '$') {
            const char *dollar = memchr(s + i, '$', n - i);
            size_t j = dollar ? (size_t)(dollar - s) : n;
            vgl_buf_append(&out, s + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 < n && s[i + 1] == '$') { /* $$ is a literal $ */
            vgl_buf_putc(&out, '$');
            i += 2;
            continue;
        }
        if (i + 1 == n || s[i + 1] != '{') { /* a lone $ stays */
            vgl_buf_putc(&out, '$');
            i++;
            continue;
        }
        size_t k = ref++;
        const char *name = s + i + 2;
        const char *close = memchr(name, '}', n - i - 2);
        if (!close) {
            ref_pos(L, start, end, k, &line, &col);
            report(L, line, col, "unterminated ${ (missing '}')");
            *ok = false;
            break;
        }
        const char *sep = memmem(name, (size_t)(close - name), ":-", 2);
        size_t nlen = (size_t)((sep ? sep : close) - name);
        shown sh;
        if (!valid_env_name(name, nlen)) {
            char *bad = xstrndup(name, (size_t)(close - name));
            ref_pos(L, start, end, k, &line, &col);
            report(L, line, col,
                   "invalid environment variable name '%s' (use ${NAME} or ${NAME:-default})",
                   show(&sh, bad));
            free(bad);
            *ok = false;
        } else {
            char var[256];
            memcpy(var, name, nlen);
            var[nlen] = '\0';
            const char *val = getenv(var);
            if (val && (*val || !sep)) {
                vgl_buf_puts(&out, val);
            } else if (sep) {
                vgl_buf_append(&out, sep + 2, (size_t)(close - sep - 2));
            } else {
                ref_pos(L, start, end, k, &line, &col);
                report(L, line, col,
                       "environment variable %s is not set (use ${%s:-default} for a default)", var,
                       var);
                *ok = false;
            }
        }
        i = (size_t)(close - s) + 1;
    }
    if (out.failed) {
        report(L, (int)start->line + 1, (int)start->column + 1,
               "value is longer than 1 MiB after ${} substitution");
        *ok = false;
    }
    char *r = xstrdup(out.data && !out.failed ? out.data : "");
    vgl_buf_free(&out);
    return r;
}

/* -------------------------------------------------------- YAML -> nodes */

static bool is_null_word(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static vgl_cnode *scalar_new(loader *L, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    vgl_cnode *node = node_new(VGL_CN_SCALAR, &ev->start_mark);
    node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                   (tag && strcmp(tag, YAML_STR_TAG) == 0);
    if (memchr(v, '\0', n)) {
        report_at(L, node, "NUL characters are not allowed in values");
        node->scalar = xstrdup("");
        node_set_bad(node);
    } else if (!node->quoted && is_null_word(v, n)) {
        node->is_null = true;
        node->scalar = xstrndup(v, n);
    } else {
        bool ok = true;
        node->scalar = expand_env(L, v, n, &ev->start_mark, &ev->end_mark, &ok);
        if (!ok)
            node_set_bad(node);
    }
    return node;
}

/* Add a finished node to the collection being built (or make it the root). */
static void attach(loader *L, vgl_cnode *node)
{
    if (L->depth == 0) {
        L->root = node;
        return;
    }
    frame *top = &L->stack[L->depth - 1];
    vgl_cnode *parent = top->node;
    if (parent->kind == VGL_CN_SEQ) {
        parent->items = grow(parent->items, parent->n, sizeof(*parent->items));
        parent->items[parent->n++] = node;
        return;
    }
    if (!top->have_key) { /* a list or map in key position */
        report_at(L, node, "map keys must be plain text, not %s",
                  node->kind == VGL_CN_MAP ? "a map" : "a list");
        node_free(node);
        top->have_key = true;
        top->key = NULL;
        return;
    }
    top->have_key = false;
    if (!top->key) { /* the value of a rejected key */
        node_free(node);
        return;
    }
    parent->keys = grow(parent->keys, parent->n, sizeof(*parent->keys));
    parent->key_pos = grow(parent->key_pos, parent->n, sizeof(*parent->key_pos));
    parent->items = grow(parent->items, parent->n, sizeof(*parent->items));
    parent->keys[parent->n] = top->key;
    parent->key_pos[parent->n] = top->key_pos;
    parent->items[parent->n++] = node;
    top->key = NULL;
}

typedef struct key_ref {
    const char *key;
    size_t idx;
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Report and drop repeated keys of a finished map (YAML requires unique
 * keys; the first one stays). Sorting keeps this O(n log n). */
static void map_dedup(loader *L, vgl_cnode *map)
{
    if (map->n < 2)
        return;
    key_ref *refs = xmalloc(map->n * sizeof(*refs));
    bool *drop = xcalloc(map->n, sizeof(*drop));
    for (size_t i = 0; i < map->n; i++)
        refs[i] = (key_ref){map->keys[i], i};
    qsort(refs, map->n, sizeof(*refs), key_ref_cmp);
    size_t first = 0, ndrop = 0;
    for (size_t i = 1; i < map->n; i++) {
        if (strcmp(refs[i].key, refs[first].key) != 0) {
            first = i;
            continue;
        }
        const vgl_cpos *p = &map->key_pos[refs[i].idx], *f = &map->key_pos[refs[first].idx];
        shown sh;
        report(L, p->line, p->col, "duplicate key '%s' (first at %d:%d)", show(&sh, refs[i].key),
               f->line, f->col);
        drop[refs[i].idx] = true;
        ndrop++;
    }
    if (ndrop) {
        size_t o = 0;
        for (size_t i = 0; i < map->n; i++) {
            if (drop[i]) {
                free(map->keys[i]);
                node_free(map->items[i]);
                continue;
            }
            map->keys[o] = map->keys[i];
            map->key_pos[o] = map->key_pos[i];
            map->items[o++] = map->items[i];
        }
        map->n = o;
    }
    free(refs);
    free(drop);
}

static void report_yaml_error(loader *L, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line, col;
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        out_of_memory();
        break;
    case YAML_READER_ERROR:
        offset_pos(L, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            report(L, line, col, "invalid text: %s (byte 0x%02X)", problem,
                   (unsigned)p->problem_value & 0xFFu);
        else
            report(L, line, col, "invalid text: %s", problem);
        break;
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context && (p->context_mark.line != p->problem_mark.line ||
                           p->context_mark.column != p->problem_mark.column))
            report(L, line, col, "YAML syntax error: %s (%s that starts at %d:%d)", problem,
                   p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        else if (p->context)
            report(L, line, col, "YAML syntax error: %s (%s)", problem, p->context);
        else
            report(L, line, col, "YAML syntax error: %s", problem);
        break;
    }
}

/* Handle one parser event; false stops parsing. */
static bool on_event(loader *L, const yaml_event_t *ev, int *docs)
{
    const yaml_mark_t *m = &ev->start_mark;
    frame *top = L->depth ? &L->stack[L->depth - 1] : NULL;
    bool key_position = top && top->node->kind == VGL_CN_MAP && !top->have_key;
    shown sh;

    if ((ev->type == YAML_SCALAR_EVENT || ev->type == YAML_ALIAS_EVENT ||
         ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) &&
        ++L->nvalues > MAX_VALUES) {
        report(L, (int)m->line + 1, (int)m->column + 1, "more than %d values in one file",
               MAX_VALUES);
        return false;
    }

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        L->complete = true;
        return false;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            report(L, (int)m->line + 1, (int)m->column + 1,
                   "only one YAML document is allowed (remove this '---' and what follows)");
            L->complete = true; /* the first document is whole: check it */
            return false;
        }
        return true;
    case YAML_SCALAR_EVENT:
        if (key_position) {
            const char *k = (const char *)ev->data.scalar.value;
            top->have_key = true;
            top->key_pos = (vgl_cpos){(int)m->line + 1, (int)m->column + 1};
            if (memchr(k, '\0', ev->data.scalar.length)) {
                report(L, top->key_pos.line, top->key_pos.col,
                       "NUL characters are not allowed in keys");
                top->key = NULL;
            } else {
                top->key = xstrndup(k, ev->data.scalar.length);
            }
            return true;
        }
        attach(L, scalar_new(L, ev));
        return true;
    case YAML_ALIAS_EVENT: {
        vgl_cnode *node = node_new(VGL_CN_SCALAR, m);
        report_at(L, node, "YAML aliases are not supported (*%s); write the value out",
                  show(&sh, (const char *)ev->data.alias.anchor));
        node->scalar = xstrdup("");
        node->is_null = true;
        node_set_bad(node);
        if (key_position) { /* an alias as a key: drop the pair */
            top->have_key = true;
            top->key = NULL;
            node_free(node);
        } else {
            attach(L, node);
        }
        return true;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (L->depth == MAX_DEPTH) {
            report(L, (int)m->line + 1, (int)m->column + 1, "nesting deeper than %d levels",
                   MAX_DEPTH);
            return false;
        }
        L->stack[L->depth++] = (frame){
            .node = node_new(ev->type == YAML_MAPPING_START_EVENT ? VGL_CN_MAP : VGL_CN_SEQ, m),
        };
        return true;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        vgl_cnode *node = L->stack[--L->depth].node;
        free(L->stack[L->depth].key); /* only set when the map was cut short */
        if (node->kind == VGL_CN_MAP)
            map_dedup(L, node);
        attach(L, node);
        return true;
    }
    default:
        return true;
    }
}

static void parse_yaml(loader *L)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        out_of_memory();
    yaml_parser_set_input_string(&p, (const unsigned char *)L->src, L->len);
    int docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            report_yaml_error(L, &p);
            break;
        }
        bool more = on_event(L, &ev, &docs);
        yaml_event_delete(&ev);
        if (!more)
            break;
    }
    yaml_parser_delete(&p);
    /* Collections left open by an error were never attached: free them
     * innermost first (each holds only what was attached to it). */
    while (L->depth > 0) {
        L->depth--;
        free(L->stack[L->depth].key);
        node_free(L->stack[L->depth].node);
    }
}

/* ------------------------------------------------------ schema checking */

/* Levenshtein distance (a transposition counts 2), case-insensitive; both
 * strings are at most SUGGEST_MAX bytes. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[SUGGEST_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The known key closest to key: edit distance <= 2, else a prefix either
 * way (of at least 3 characters); NULL when none is close. */
static const char *suggest(const char *key, const char *const *known)
{
    size_t klen = strlen(key);
    if (klen > SUGGEST_MAX)
        return NULL;
    const char *best = NULL;
    size_t best_score = SIZE_MAX;
    for (size_t i = 0; known[i]; i++) {
        size_t len = strlen(known[i]), score = SIZE_MAX;
        size_t d = edit_distance(key, known[i]);
        if (d <= 2 && d < (klen > len ? klen : len))
            score = d;
        else if ((klen >= 3 && has_prefix(known[i], key)) || (len >= 3 && has_prefix(key, known[i])))
            score = 3;
        if (score < best_score) {
            best_score = score;
            best = known[i];
        }
    }
    return best;
}

/* Report every key of map that is not in known (NULL-terminated). */
static void check_keys(loader *L, const vgl_cnode *map, const char *const *known, const char *where)
{
    for (size_t i = 0; i < map->n; i++) {
        bool found = false;
        for (size_t k = 0; known[k] && !found; k++)
            found = strcmp(map->keys[i], known[k]) == 0;
        if (found)
            continue;
        const char *s = suggest(map->keys[i], known);
        shown sh;
        char in[WHERE_MAX + 8] = "", mean[SUGGEST_MAX + 24] = "";
        if (where)
            place(in, sizeof(in), " in %s", where);
        if (s)
            place(mean, sizeof(mean), " (did you mean '%s'?)", s);
        report(L, map->key_pos[i].line, map->key_pos[i].col, "unknown key '%s'%s%s",
               show(&sh, map->keys[i]), in, mean);
    }
}

/* "where.key", or "key" at the top level. */
static const char *join(char *out, size_t cap, const char *where, const char *key)
{
    return where ? place(out, cap, "%s.%s", where, key) : place(out, cap, "%s", key);
}

/* The value at key, NULL when absent, null or already reported. */
static const vgl_cnode *get(const vgl_cnode *map, const char *key)
{
    const vgl_cnode *n = vgl_cnode_get(map, key);
    if (!n || node_bad(n) || (n->kind == VGL_CN_SCALAR && n->is_null))
        return NULL;
    return n;
}

static bool expect_kind(loader *L, const vgl_cnode *n, vgl_cnode_kind kind, const char *path)
{
    static const char *const wanted[] = {"a value", "a map", "a list"};
    if (n->kind == kind)
        return true;
    shown sh;
    report_at(L, n, "%s: expected %s (got %s)", path, wanted[kind], describe(&sh, n));
    return false;
}

/* The map at key; NULL (reported) when something else is there. */
static const vgl_cnode *get_map(loader *L, const vgl_cnode *map, const char *key,
                                const char *where)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get(map, key);
    if (!n || !expect_kind(L, n, VGL_CN_MAP, join(path, sizeof(path), where, key)))
        return NULL;
    return n;
}

static const vgl_cnode *get_list(loader *L, const vgl_cnode *map, const char *key,
                                 const char *where)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get(map, key);
    if (!n || !expect_kind(L, n, VGL_CN_SEQ, join(path, sizeof(path), where, key)))
        return NULL;
    return n;
}

/* The text of the scalar at key; NULL when absent or reported. */
static const vgl_cnode *get_scalar(loader *L, const vgl_cnode *map, const char *key,
                                   const char *where, const char *what)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get(map, key);
    if (!n)
        return NULL;
    if (n->kind != VGL_CN_SCALAR) {
        shown sh;
        report_at(L, n, "%s: expected %s (got %s)", join(path, sizeof(path), where, key), what,
                  describe(&sh, n));
        return NULL;
    }
    return n;
}

/* A relative path joined to the config file's directory. */
static char *resolve(const loader *L, const char *p)
{
    if (p[0] == '/' || !L->dir)
        return xstrdup(p);
    char *r;
    if (asprintf(&r, "%s%s%s", L->dir, strcmp(L->dir, "/") ? "/" : "", p) < 0)
        out_of_memory();
    return r;
}

/* A non-empty string item; path names it in messages. */
static bool check_string(loader *L, const vgl_cnode *n, const char *path)
{
    if (n->kind != VGL_CN_SCALAR || n->is_null) {
        shown sh;
        report_at(L, n, "%s: expected a string (got %s)", path, describe(&sh, n));
        return false;
    }
    if (!n->scalar[0]) {
        report_at(L, n, "%s must not be empty", path);
        return false;
    }
    return true;
}

/* Replace *out with the string at key (a path: resolved). */
static const vgl_cnode *get_str(loader *L, const vgl_cnode *map, const char *key, const char *where,
                                bool is_path, char **out)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get(map, key);
    if (!n || !check_string(L, n, join(path, sizeof(path), where, key)))
        return NULL;
    free(*out);
    *out = is_path ? resolve(L, n->scalar) : xstrdup(n->scalar);
    return n;
}

/* Replace *out with the strings at key: a list, or with one_ok also a
 * single scalar. Paths are resolved. */
static const vgl_cnode *get_strs(loader *L, const vgl_cnode *map, const char *key,
                                 const char *where, bool one_ok, bool is_path, char ***out,
                                 size_t *nout)
{
    char path[WHERE_MAX], item[WHERE_MAX + 24];
    const vgl_cnode *n = get(map, key);
    join(path, sizeof(path), where, key);
    if (!n || (one_ok && n->kind == VGL_CN_SCALAR ? !check_string(L, n, path)
                                                  : !expect_kind(L, n, VGL_CN_SEQ, path)))
        return NULL;
    const vgl_cnode *const *items = n->kind == VGL_CN_SEQ ? (const vgl_cnode *const *)n->items : &n;
    size_t count = n->kind == VGL_CN_SEQ ? n->n : 1;
    free_strv(*out, *nout);
    *out = xcalloc(count, sizeof(char *));
    *nout = 0;
    for (size_t i = 0; i < count; i++) {
        place(item, sizeof(item), "%s[%zu]", path, i);
        if (node_bad(items[i]) || !check_string(L, items[i], item))
            continue;
        (*out)[(*nout)++] = is_path ? resolve(L, items[i]->scalar) : xstrdup(items[i]->scalar);
    }
    return n;
}

static bool get_bool(loader *L, const vgl_cnode *map, const char *key, const char *where,
                     bool *out)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get_scalar(L, map, key, where, "true or false");
    if (!n)
        return false;
    const char *s = n->scalar;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *out = true;
    } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *out = false;
    } else {
        shown sh;
        report_at(L, n, "%s: expected true or false (got %s)", join(path, sizeof(path), where, key),
                  describe(&sh, n));
        return false;
    }
    return true;
}

static bool get_int(loader *L, const vgl_cnode *map, const char *key, const char *where,
                    int64_t min, int64_t max, int64_t *out)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get_scalar(L, map, key, where, "an integer");
    if (!n)
        return false;
    join(path, sizeof(path), where, key);
    const char *s = n->scalar;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    shown sh;
    if (!(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))) || *end) {
        report_at(L, n, "%s: expected an integer (got %s)", path, describe(&sh, n));
        return false;
    }
    if (errno == ERANGE || v < min || v > max) {
        if (max == INT64_MAX)
            report_at(L, n, "%s must be at least %lld (got %s)", path, (long long)min,
                      show(&sh, s));
        else
            report_at(L, n, "%s must be between %lld and %lld (got %s)", path, (long long)min,
                      (long long)max, show(&sh, s));
        return false;
    }
    *out = v;
    return true;
}

/* positive: 0 is refused (a window or interval that must elapse). */
static bool get_duration(loader *L, const vgl_cnode *map, const char *key, const char *where,
                         bool positive, int64_t *out)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get_scalar(L, map, key, where, "a duration");
    if (!n)
        return false;
    join(path, sizeof(path), where, key);
    int64_t ms;
    shown sh;
    if (!vgl_parse_duration(n->scalar, &ms)) {
        report_at(L, n, "%s: invalid duration '%s' (use e.g. 500ms, 30s, 10m, 5h, 7d)", path,
                  show(&sh, n->scalar));
        return false;
    }
    if (positive && ms == 0) {
        report_at(L, n, "%s must be greater than 0", path);
        return false;
    }
    *out = ms;
    return true;
}

/* Bytes as the shortest exact unit ("64KiB", "1000"). */
static const char *size_text(char *buf, size_t cap, uint64_t v)
{
    static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (u < 4 && v && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%llu%s", (unsigned long long)v, units[u]);
    return buf;
}

static bool get_size(loader *L, const vgl_cnode *map, const char *key, const char *where,
                     size_t min, size_t max, size_t *out)
{
    char path[WHERE_MAX], lo[32], hi[32];
    const vgl_cnode *n = get_scalar(L, map, key, where, "a size");
    if (!n)
        return false;
    join(path, sizeof(path), where, key);
    size_t v;
    shown sh;
    if (!vgl_parse_size(n->scalar, &v)) {
        report_at(L, n, "%s: invalid size '%s' (use e.g. 1048576, 512KiB, 1MiB, 2GiB, 64KB, 1MB)",
                  path, show(&sh, n->scalar));
        return false;
    }
    if (v < min || v > max) {
        if (max == SIZE_MAX)
            report_at(L, n, "%s must be at least %s (got '%s')", path,
                      size_text(lo, sizeof(lo), min), show(&sh, n->scalar));
        else
            report_at(L, n, "%s must be between %s and %s (got '%s')", path,
                      size_text(lo, sizeof(lo), min), size_text(hi, sizeof(hi), max),
                      show(&sh, n->scalar));
        return false;
    }
    *out = v;
    return true;
}

/* Index of s in names (NULL-terminated), -1 when absent. */
static int enum_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static void report_enum(loader *L, const vgl_cnode *n, const char *path,
                        const char *const *names)
{
    char list[256] = "";
    size_t o = 0;
    for (size_t i = 0; names[i] && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
    shown sh;
    report_at(L, n, "%s must be one of %s (got %s)", path, list, describe(&sh, n));
}

static bool get_enum(loader *L, const vgl_cnode *map, const char *key, const char *where,
                     const char *const *names, int *out)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get(map, key);
    if (!n)
        return false;
    join(path, sizeof(path), where, key);
    int i = n->kind == VGL_CN_SCALAR ? enum_index(names, n->scalar) : -1;
    if (i < 0) {
        report_enum(L, n, path, names);
        return false;
    }
    *out = i;
    return true;
}

/* Each item of a string list must be one of names. */
static void check_enum_items(loader *L, const vgl_cnode *list, const char *path,
                             const char *const *names)
{
    char item[WHERE_MAX + 24];
    size_t count = list->kind == VGL_CN_SEQ ? list->n : 1;
    for (size_t i = 0; i < count; i++) {
        const vgl_cnode *n = list->kind == VGL_CN_SEQ ? list->items[i] : list;
        if (n->kind != VGL_CN_SCALAR || node_bad(n) || n->is_null || enum_index(names, n->scalar) >= 0)
            continue; /* non-strings were reported by get_strs */
        if (list->kind == VGL_CN_SEQ)
            place(item, sizeof(item), "%s[%zu]", path, i);
        else
            place(item, sizeof(item), "%s", path);
        report_enum(L, n, item, names);
    }
}

static void require(loader *L, const vgl_cnode *map, const char *key, const char *where)
{
    const vgl_cnode *n = vgl_cnode_get(map, key);
    if (!n || (n->kind == VGL_CN_SCALAR && n->is_null))
        report_at(L, map, "%s: missing required key '%s'", where, key);
}

/* Every repeat of a name, reported at the repeat. */
typedef struct named {
    const char *name;
    const vgl_cnode *at;
    size_t idx;
} named;

static int named_cmp(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void report_repeats(loader *L, named *v, size_t n, const char *what, const char *hint)
{
    if (n < 2)
        return;
    qsort(v, n, sizeof(*v), named_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(v[i].name, v[first].name) != 0) {
            first = i;
            continue;
        }
        shown sh;
        report_at(L, v[i].at, "duplicate %s '%s' (first at %d:%d)%s", what, show(&sh, v[i].name),
                  v[first].at->line, v[first].at->col, hint);
    }
}

/* ------------------------------------------------------ value formats */

/* Kafka topic names: [A-Za-z0-9._-], 1..249, not "." or "..". */
static bool valid_topic(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static const vgl_cnode *get_topic(loader *L, const vgl_cnode *map, const char *key,
                                  const char *where, char **out)
{
    char path[WHERE_MAX];
    const vgl_cnode *n = get_str(L, map, key, where, false, out);
    if (n && !valid_topic(n->scalar)) {
        shown sh;
        report_at(L, n,
                  "%s: invalid topic name '%s' (letters, digits, '.', '_' and '-', at most 249)",
                  join(path, sizeof(path), where, key), show(&sh, n->scalar));
    }
    return n;
}

/* Plugin names become file names (vigil-<kind>-<name>.so), ids appear in
 * metrics and logs: letters, digits, '-', '_' (and '.' for ids). */
static bool valid_name(const char *s, bool dots)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || (dots && *s == '.')))
            return false;
    return true;
}

static bool parse_prefix(const char *s, int max)
{
    uint64_t v;
    return parse_digits(&s, (uint64_t)max, &v) && *s == '\0';
}

/* An IPv4/IPv6 address, optionally with a /prefix. */
static bool valid_ip_or_cidr(const char *s)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(addr))
        return false;
    memcpy(addr, s, n);
    addr[n] = '\0';
    unsigned char bin[16];
    if (inet_pton(AF_INET, addr, bin) == 1)
        return !slash || parse_prefix(slash + 1, 32);
    if (inet_pton(AF_INET6, addr, bin) == 1)
        return !slash || parse_prefix(slash + 1, 128);
    return false;
}

static bool valid_hostname(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
            return false;
    return s[0] != '-' && s[0] != '.';
}

/* host:port with host an IPv4 address, a hostname or a [bracketed] IPv6
 * address, and port 1..65535. */
static bool valid_listen(const char *s)
{
    const char *colon;
    unsigned char bin[16];
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char addr[INET6_ADDRSTRLEN + 1];
        size_t n = close ? (size_t)(close - s - 1) : 0;
        if (!close || n == 0 || n >= sizeof(addr) || close[1] != ':')
            return false;
        memcpy(addr, s + 1, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET6, addr, bin) != 1)
            return false;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)) ||
            !valid_hostname(s, (size_t)(colon - s)))
            return false;
    }
    uint64_t port;
    const char *p = colon + 1;
    return parse_digits(&p, 65535, &port) && *p == '\0';  /* port 0: an ephemeral port (logged at start) */
}

/* -------------------------------------------------------------- sections */

static const char *const format_names[] = {"json", "avro", "avro-confluent", NULL};
static const char *const output_format_names[] = {"json", "avro", NULL};
static const char *const group_names[] = {"any", "all", "rule", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const severity_names[] = {"informational", "low", "medium", "high",
                                             "critical", NULL};
static const char *const entity_names[] = {"ip", "account", "host", "url", "filehash",
                                           "process", "resource", "domain", "mailbox", NULL};
static const char *const default_time_fields[] = {"@timestamp", "TimeGenerated", "time",
                                                  "TimeCreated", "timestamp"};

static void load_kafka(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"brokers", "group", "properties", "embedded", NULL};
    static const char *const emb_keys[] = {"brokers", "partitions", NULL};
    vgl_kafka_cfg *k = &cfg->kafka;
    const vgl_cnode *m = get_map(L, root, "kafka", NULL);
    if (!m)
        return;
    check_keys(L, m, keys, "kafka");
    get_str(L, m, "brokers", "kafka", false, &k->brokers);
    get_str(L, m, "group", "kafka", false, &k->group);
    const vgl_cnode *props = get_map(L, m, "properties", "kafka");
    if (props) {
        k->properties = xcalloc(props->n, sizeof(*k->properties));
        for (size_t i = 0; i < props->n; i++) {
            const vgl_cnode *v = props->items[i];
            if (node_bad(v))
                continue;
            if (v->kind != VGL_CN_SCALAR || v->is_null) {
                shown sh, kt;
                report_at(L, v, "kafka.properties.%s: expected a value (got %s)",
                          show(&kt, props->keys[i]), describe(&sh, v));
                continue;
            }
            k->properties[k->nproperties++] =
                (vgl_kv){xstrdup(props->keys[i]), xstrdup(v->scalar)};
        }
    }
    const vgl_cnode *emb = get_map(L, m, "embedded", "kafka");
    if (emb) {
        int64_t v;
        check_keys(L, emb, emb_keys, "kafka.embedded");
        if (get_int(L, emb, "brokers", "kafka.embedded", 1, 16, &v))
            k->embedded_brokers = (int)v;
        if (get_int(L, emb, "partitions", "kafka.embedded", 1, 1024, &v))
            k->embedded_partitions = (int)v;
    }
}

static void load_inputs(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"topic", "format", "source", "schema",
                                       "schema_dir", "time_fields", NULL};
    const vgl_cnode *list = get_list(L, root, "inputs", NULL);
    if (!list)
        return;
    cfg->inputs = xcalloc(list->n, sizeof(*cfg->inputs));
    named *topics = xcalloc(list->n, sizeof(*topics));
    size_t ntopics = 0;
    for (size_t i = 0; i < list->n; i++) {
        const vgl_cnode *m = list->items[i];
        char where[WHERE_MAX];
        place(where, sizeof(where), "inputs[%zu]", i);
        if (node_bad(m) || !expect_kind(L, m, VGL_CN_MAP, where))
            continue;
        vgl_input_cfg *in = &cfg->inputs[cfg->ninputs++];
        in->line = m->line;
        check_keys(L, m, keys, where);
        require(L, m, "topic", where);
        const vgl_cnode *t = get_topic(L, m, "topic", where, &in->topic);
        if (t)
            topics[ntopics++] = (named){t->scalar, t, i};
        int fmt = VGL_FMT_JSON;
        bool fmt_ok = !get(m, "format") || get_enum(L, m, "format", where, format_names, &fmt);
        in->format = (vgl_format)fmt;
        get_str(L, m, "source", where, false, &in->source);
        const vgl_cnode *schema = get_str(L, m, "schema", where, true, &in->schema);
        const vgl_cnode *dir = get_str(L, m, "schema_dir", where, true, &in->schema_dir);
        if (!get_strs(L, m, "time_fields", where, false, false, &in->time_fields,
                      &in->ntime_fields)) {
            size_t n = sizeof(default_time_fields) / sizeof(default_time_fields[0]);
            free_strv(in->time_fields, in->ntime_fields);
            in->time_fields = xcalloc(n, sizeof(char *));
            for (in->ntime_fields = 0; in->ntime_fields < n; in->ntime_fields++)
                in->time_fields[in->ntime_fields] = xstrdup(default_time_fields[in->ntime_fields]);
        }
        /* Each format needs its schema source, and only its own. */
        const vgl_cnode *fnode = get(m, "format");
        if (!fnode)
            fnode = m;
        if (!fmt_ok)
            continue;
        if (in->format == VGL_FMT_AVRO && !schema && !vgl_cnode_get(m, "schema"))
            report_at(L, fnode, "%s: format avro needs 'schema' (the .avsc file)", where);
        if (in->format == VGL_FMT_AVRO_CONFLUENT && !dir && !vgl_cnode_get(m, "schema_dir"))
            report_at(L, fnode,
                      "%s: format avro-confluent needs 'schema_dir' (the directory of <id>.avsc)",
                      where);
        if (schema && in->format != VGL_FMT_AVRO)
            report_at(L, schema, "%s.schema is only used with format avro", where);
        if (dir && in->format != VGL_FMT_AVRO_CONFLUENT)
            report_at(L, dir, "%s.schema_dir is only used with format avro-confluent", where);
    }
    report_repeats(L, topics, ntopics, "input topic", "");
    free(topics);
}

static void load_outputs(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"alerts", "incidents", "actions", "action_results",
                                       "dead_letter", "events", "format", "schema_dir",
                                       "schema_ids", NULL};
    static const char *const id_keys[] = {"alert", "incident", "action", "event", NULL};
    vgl_outputs_cfg *o = &cfg->outputs;
    const vgl_cnode *m = get_map(L, root, "outputs", NULL);
    if (!m)
        return;
    check_keys(L, m, keys, "outputs");
    get_topic(L, m, "alerts", "outputs", &o->alerts);
    get_topic(L, m, "incidents", "outputs", &o->incidents);
    get_topic(L, m, "actions", "outputs", &o->actions);
    get_topic(L, m, "action_results", "outputs", &o->action_results);
    get_topic(L, m, "dead_letter", "outputs", &o->dead_letter);
    get_topic(L, m, "events", "outputs", &o->events);
    int fmt;
    if (get_enum(L, m, "format", "outputs", output_format_names, &fmt))
        o->format = (vgl_format)fmt;
    get_str(L, m, "schema_dir", "outputs", true, &o->schema_dir);
    const vgl_cnode *ids = get_map(L, m, "schema_ids", "outputs");
    if (ids) {
        int32_t *dst[] = {&o->alert_schema_id, &o->incident_schema_id, &o->action_schema_id,
                          &o->event_schema_id};
        check_keys(L, ids, id_keys, "outputs.schema_ids");
        for (size_t i = 0; id_keys[i]; i++) {
            int64_t v;
            if (get_int(L, ids, id_keys[i], "outputs.schema_ids", 1, INT32_MAX, &v))
                *dst[i] = (int32_t)v;
        }
    }
}

static void load_plugins(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"name", "id", "path", "config", NULL};
    get_strs(L, root, "plugin_path", NULL, false, true, &cfg->plugin_path, &cfg->nplugin_path);
    const vgl_cnode *list = get_list(L, root, "plugins", NULL);
    if (!list)
        return;
    cfg->plugins = xcalloc(list->n, sizeof(*cfg->plugins));
    named *ids = xcalloc(list->n, sizeof(*ids));
    size_t nids = 0;
    for (size_t i = 0; i < list->n; i++) {
        const vgl_cnode *m = list->items[i];
        char where[WHERE_MAX];
        shown sh;
        place(where, sizeof(where), "plugins[%zu]", i);
        if (node_bad(m) || !expect_kind(L, m, VGL_CN_MAP, where))
            continue;
        vgl_plugin_cfg *p = &cfg->plugins[cfg->nplugins++];
        p->line = m->line;
        check_keys(L, m, keys, where);
        require(L, m, "name", where);
        const vgl_cnode *name = get_str(L, m, "name", where, false, &p->name);
        if (name && !valid_name(name->scalar, false))
            report_at(L, name, "%s.name: invalid plugin name '%s' (letters, digits, '-' and '_')",
                      where, show(&sh, name->scalar));
        const vgl_cnode *id = get_str(L, m, "id", where, false, &p->id);
        if (id && !valid_name(id->scalar, true))
            report_at(L, id, "%s.id: invalid id '%s' (letters, digits, '.', '-' and '_')", where,
                      show(&sh, id->scalar));
        if (!id && p->name) {
            p->id = xstrdup(p->name);
            id = name;
        }
        if (id)
            ids[nids++] = (named){id->scalar, id, i};
        get_str(L, m, "path", where, true, &p->path);
        p->config = (vgl_cnode *)get_map(L, m, "config", where);
    }
    report_repeats(L, ids, nids, "plugin id", "; give each instance its own 'id'");
    free(ids);
}

static void load_rules(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"paths", NULL};
    const vgl_cnode *m = get_map(L, root, "rules", NULL);
    if (!m)
        return;
    check_keys(L, m, keys, "rules");
    get_strs(L, m, "paths", "rules", false, true, &cfg->rule_paths, &cfg->nrule_paths);
}

static void load_incidents(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"group_by", "group_window", "max_open",
                                       "max_alerts_per_rule_per_min", "grouping", "topic",
                                       NULL};
    static const char *const grouping_names[] = {"global", "worker", NULL};
    vgl_incidents_cfg *inc = &cfg->incidents;
    const vgl_cnode *m = get_map(L, root, "incidents", NULL);
    if (!m)
        return;
    check_keys(L, m, keys, "incidents");
    int mode;
    int64_t v;
    if (get_enum(L, m, "group_by", "incidents", group_names, &mode))
        inc->group_by = (vgl_group_mode)mode;
    get_duration(L, m, "group_window", "incidents", true, &inc->group_window_ms);
    if (get_int(L, m, "max_open", "incidents", 1, UINT32_MAX, &v))
        inc->max_open = (uint32_t)v;
    if (get_int(L, m, "max_alerts_per_rule_per_min", "incidents", 1, UINT32_MAX, &v))
        inc->max_alerts_per_rule_per_min = (uint32_t)v;
    if (get_enum(L, m, "grouping", "incidents", grouping_names, &mode))
        inc->per_worker = mode == 1;
    get_str(L, m, "topic", "incidents", false, &inc->topic);
}

static void load_when(loader *L, vgl_automation_when *w, const vgl_cnode *m, const char *where)
{
    static const char *const keys[] = {"severity", "tactic", "technique", "rule_id",
                                       "tags", "entity_type", NULL};
    char path[WHERE_MAX];
    check_keys(L, m, keys, where);
    const vgl_cnode *sev =
        get_strs(L, m, "severity", where, true, false, &w->severity, &w->nseverity);
    if (sev)
        check_enum_items(L, sev, join(path, sizeof(path), where, "severity"), severity_names);
    get_strs(L, m, "tactic", where, true, false, &w->tactic, &w->ntactic);
    get_strs(L, m, "technique", where, true, false, &w->technique, &w->ntechnique);
    get_strs(L, m, "rule_id", where, true, false, &w->rule_id, &w->nrule_id);
    get_strs(L, m, "tags", where, true, false, &w->tags, &w->ntags);
    const vgl_cnode *et =
        get_strs(L, m, "entity_type", where, true, false, &w->entity_type, &w->nentity_type);
    if (et)
        check_enum_items(L, et, join(path, sizeof(path), where, "entity_type"), entity_names);
}

static void load_actions(loader *L, vgl_automation_rule *r, const vgl_cnode *list,
                         const char *where)
{
    static const char *const keys[] = {"action", "target", "params", "duration", NULL};
    if (list->n == 0)
        report_at(L, list, "%s.do must list at least one action", where);
    r->actions = xcalloc(list->n, sizeof(*r->actions));
    for (size_t i = 0; i < list->n; i++) {
        const vgl_cnode *m = list->items[i];
        char w[WHERE_MAX];
        place(w, sizeof(w), "%s.do[%zu]", where, i);
        if (node_bad(m) || !expect_kind(L, m, VGL_CN_MAP, w))
            continue;
        vgl_automation_do *a = &r->actions[r->nactions++];
        check_keys(L, m, keys, w);
        require(L, m, "action", w);
        get_str(L, m, "action", w, false, &a->action);
        int target;
        if (get_enum(L, m, "target", w, entity_names, &target))
            a->target = xstrdup(entity_names[target]);
        a->params = (vgl_cnode *)get_map(L, m, "params", w);
        get_duration(L, m, "duration", w, false, &a->duration_ms);
    }
}

static void load_automation(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"name", "when", "do", "dry_run", NULL};
    const vgl_cnode *list = get_list(L, root, "automation", NULL);
    if (!list)
        return;
    cfg->automation = xcalloc(list->n, sizeof(*cfg->automation));
    named *names = xcalloc(list->n, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i < list->n; i++) {
        const vgl_cnode *m = list->items[i];
        char where[WHERE_MAX];
        place(where, sizeof(where), "automation[%zu]", i);
        if (node_bad(m) || !expect_kind(L, m, VGL_CN_MAP, where))
            continue;
        vgl_automation_rule *r = &cfg->automation[cfg->nautomation++];
        r->line = m->line;
        check_keys(L, m, keys, where);
        require(L, m, "name", where);
        require(L, m, "do", where);
        const vgl_cnode *name = get_str(L, m, "name", where, false, &r->name);
        if (name)
            names[nnames++] = (named){name->scalar, name, i};
        char w[WHERE_MAX + 8];
        place(w, sizeof(w), "%s.when", where);
        const vgl_cnode *when = get_map(L, m, "when", where);
        if (when)
            load_when(L, &r->when, when, w);
        const vgl_cnode *acts = get_list(L, m, "do", where);
        if (acts)
            load_actions(L, r, acts, where);
        get_bool(L, m, "dry_run", where, &r->dry_run);
    }
    report_repeats(L, names, nnames, "automation name", "");
    free(names);
}

static void load_response(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"dry_run", "protected", "rate_limit", "responder",
                                       "group", NULL};
    static const char *const prot_keys[] = {"ips", "accounts", "hosts", NULL};
    static const char *const rl_keys[] = {"action", "count", "window", NULL};
    vgl_response_cfg *r = &cfg->response;
    const vgl_cnode *m = get_map(L, root, "response", NULL);
    if (!m)
        return;
    check_keys(L, m, keys, "response");
    get_bool(L, m, "dry_run", "response", &r->dry_run);
    get_str(L, m, "responder", "response", false, &r->responder);
    get_str(L, m, "group", "response", false, &r->group);
    const vgl_cnode *prot = get_map(L, m, "protected", "response");
    if (prot) {
        const char *w = "response.protected";
        check_keys(L, prot, prot_keys, w);
        const vgl_cnode *ips =
            get_strs(L, prot, "ips", w, false, false, &r->protected_ips, &r->nprotected_ips);
        for (size_t i = 0; ips && i < ips->n; i++) {
            const vgl_cnode *ip = ips->items[i];
            shown sh;
            if (ip->kind == VGL_CN_SCALAR && !ip->is_null && !node_bad(ip) && ip->scalar[0] &&
                !valid_ip_or_cidr(ip->scalar))
                report_at(L, ip,
                          "%s.ips[%zu]: '%s' is not an IP address or CIDR "
                          "(e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)",
                          w, i, show(&sh, ip->scalar));
        }
        get_strs(L, prot, "accounts", w, false, false, &r->protected_accounts,
                 &r->nprotected_accounts);
        get_strs(L, prot, "hosts", w, false, false, &r->protected_hosts, &r->nprotected_hosts);
    }
    const vgl_cnode *rl = get_list(L, m, "rate_limit", "response");
    if (rl) {
        r->rate_limits = xcalloc(rl->n, sizeof(*r->rate_limits));
        for (size_t i = 0; i < rl->n; i++) {
            const vgl_cnode *it = rl->items[i];
            char w[WHERE_MAX];
            int64_t v;
            place(w, sizeof(w), "response.rate_limit[%zu]", i);
            if (node_bad(it) || !expect_kind(L, it, VGL_CN_MAP, w))
                continue;
            vgl_rate_limit_cfg *lim = &r->rate_limits[r->nrate_limits++];
            check_keys(L, it, rl_keys, w);
            require(L, it, "count", w);
            require(L, it, "window", w);
            lim->action = xstrdup("*");
            get_str(L, it, "action", w, false, &lim->action);
            if (get_int(L, it, "count", w, 1, UINT32_MAX, &v))
                lim->count = (uint32_t)v;
            get_duration(L, it, "window", w, true, &lim->window_ms);
        }
    }
}

static void load_limits(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const keys[] = {"workers", "max_message_bytes", "max_depth",
                                       "event_memory", "queue_events", "shutdown_timeout",
                                       "allowed_lateness", "max_keys_per_rule",
                                       "rule_max_failures", "max_evidence", "lua_memory",
                                       "lua_instructions", NULL};
    const char *w = "limits";
    vgl_limits_cfg *l = &cfg->limits;
    const vgl_cnode *m = get_map(L, root, "limits", NULL);
    int64_t v;
    if (!m)
        return;
    check_keys(L, m, keys, w);
    if (get_int(L, m, "workers", w, 1, 1024, &v))
        l->workers = (int)v;
    get_size(L, m, "max_message_bytes", w, 1024, (size_t)1 << 30, &l->max_message_bytes);
    if (get_int(L, m, "max_depth", w, 1, 1024, &v))
        l->max_depth = (uint32_t)v;
    get_size(L, m, "event_memory", w, (size_t)64 << 10, SIZE_MAX, &l->event_memory);
    if (get_int(L, m, "queue_events", w, 1, 10000000, &v))
        l->queue_events = (uint32_t)v;
    get_duration(L, m, "shutdown_timeout", w, false, &l->shutdown_timeout_ms);
    get_duration(L, m, "allowed_lateness", w, false, &l->allowed_lateness_ms);
    if (get_int(L, m, "max_keys_per_rule", w, 1, UINT32_MAX, &v))
        l->max_keys_per_rule = (uint32_t)v;
    if (get_int(L, m, "rule_max_failures", w, 1, UINT32_MAX, &v))
        l->rule_max_failures = (uint32_t)v;
    if (get_int(L, m, "max_evidence", w, 0, 1000, &v))
        l->max_evidence = (uint32_t)v;
    get_size(L, m, "lua_memory", w, (size_t)1 << 20, SIZE_MAX, &l->lua_memory);
    if (get_int(L, m, "lua_instructions", w, 1000, INT64_MAX, &v))
        l->lua_instructions = (uint64_t)v;
}

static void load_metrics_log(loader *L, vgl_config *cfg, const vgl_cnode *root)
{
    static const char *const metrics_keys[] = {"listen", NULL};
    static const char *const log_keys[] = {"level", "stats_interval", NULL};
    const vgl_cnode *m = get_map(L, root, "metrics", NULL);
    if (m) {
        check_keys(L, m, metrics_keys, "metrics");
        const vgl_cnode *n = get_str(L, m, "listen", "metrics", false, &cfg->metrics.listen);
        shown sh;
        if (n && !valid_listen(n->scalar))
            report_at(L, n,
                      "metrics.listen: invalid address '%s' (use host:port, e.g. 127.0.0.1:9464 "
                      "or [::1]:9464)",
                      show(&sh, n->scalar));
    }
    m = get_map(L, root, "log", NULL);
    if (m) {
        int level;
        check_keys(L, m, log_keys, "log");
        if (get_enum(L, m, "level", "log", level_names, &level)) {
            free(cfg->log.level);
            cfg->log.level = xstrdup(level_names[level]);
        }
        get_duration(L, m, "stats_interval", "log", false, &cfg->log.stats_interval_ms);
    }
}

static void validate(loader *L, vgl_config *cfg)
{
    static const char *const sections[] = {"kafka", "inputs", "outputs", "plugin_path",
                                           "plugins", "rules", "incidents", "automation",
                                           "response", "limits", "metrics", "log", NULL};
    const vgl_cnode *root = cfg->root;
    if (!root || (root->kind == VGL_CN_SCALAR && root->is_null))
        return; /* an empty file: every default */
    if (node_bad(root))
        return;
    if (root->kind != VGL_CN_MAP) {
        shown sh;
        report_at(L, root, "expected a map of sections (kafka, inputs, ...) at the top level "
                           "(got %s)", describe(&sh, root));
        return;
    }
    check_keys(L, root, sections, NULL);
    load_kafka(L, cfg, root);
    load_inputs(L, cfg, root);
    load_outputs(L, cfg, root);
    load_plugins(L, cfg, root);
    load_rules(L, cfg, root);
    load_incidents(L, cfg, root);
    load_automation(L, cfg, root);
    load_response(L, cfg, root);
    load_limits(L, cfg, root);
    load_metrics_log(L, cfg, root);
}

/* ----------------------------------------------------------- public API */

vgl_config *vgl_config_defaults(void)
{
    vgl_config *c = xcalloc(1, sizeof(*c));
    c->kafka.brokers = xstrdup("embedded");
    c->kafka.embedded_brokers = 1;
    c->kafka.embedded_partitions = 4;
    c->kafka.group = xstrdup("vigil");

    c->outputs.alerts = xstrdup("vigil.alerts");
    c->outputs.incidents = xstrdup("vigil.incidents");
    c->outputs.actions = xstrdup("vigil.actions");
    c->outputs.action_results = xstrdup("vigil.action-results");
    c->outputs.dead_letter = xstrdup("vigil.dead-letter");
    c->outputs.format = VGL_FMT_JSON;
    c->outputs.schema_dir = xstrdup(VGL_SYSCONFDIR "/schemas");
    c->outputs.alert_schema_id = 1;
    c->outputs.incident_schema_id = 2;
    c->outputs.action_schema_id = 3;
    c->outputs.event_schema_id = 4;

    c->incidents.group_by = VGL_GROUP_ANY;
    c->incidents.group_window_ms = 5 * 3600 * 1000LL;
    c->incidents.max_open = 100000;
    c->incidents.max_alerts_per_rule_per_min = 600;
    c->incidents.topic = xstrdup("vigil.alerts.grouping");

    c->response.group = xstrdup("vigil-respond");

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->limits.workers = cpus < 1 ? 1 : cpus > 1024 ? 1024 : (int)cpus;
    c->limits.max_message_bytes = (size_t)1 << 20;
    c->limits.max_depth = 64;
    c->limits.event_memory = (size_t)4 << 20;
    c->limits.queue_events = 10000;
    c->limits.shutdown_timeout_ms = 30 * 1000;
    c->limits.allowed_lateness_ms = 5 * 60 * 1000;
    c->limits.max_keys_per_rule = 100000;
    c->limits.rule_max_failures = 100;
    c->limits.max_evidence = 10;
    c->limits.lua_memory = (size_t)64 << 20;
    c->limits.lua_instructions = 1000000;

    c->log.level = xstrdup("info");
    c->log.stats_interval_ms = 60 * 1000;
    return c;
}

static void free_when(vgl_automation_when *w)
{
    free_strv(w->severity, w->nseverity);
    free_strv(w->tactic, w->ntactic);
    free_strv(w->technique, w->ntechnique);
    free_strv(w->rule_id, w->nrule_id);
    free_strv(w->tags, w->ntags);
    free_strv(w->entity_type, w->nentity_type);
}

void vgl_config_free(vgl_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->kafka.brokers);
    free(c->kafka.group);
    for (size_t i = 0; i < c->kafka.nproperties; i++) {
        free(c->kafka.properties[i].key);
        free(c->kafka.properties[i].value);
    }
    free(c->kafka.properties);
    for (size_t i = 0; i < c->ninputs; i++) {
        vgl_input_cfg *in = &c->inputs[i];
        free(in->topic);
        free(in->source);
        free(in->schema);
        free(in->schema_dir);
        free_strv(in->time_fields, in->ntime_fields);
    }
    free(c->inputs);
    free(c->outputs.alerts);
    free(c->incidents.topic);
    free(c->outputs.incidents);
    free(c->outputs.actions);
    free(c->outputs.action_results);
    free(c->outputs.dead_letter);
    free(c->outputs.events);
    free(c->outputs.schema_dir);
    free_strv(c->plugin_path, c->nplugin_path);
    for (size_t i = 0; i < c->nplugins; i++) { /* config points into root */
        free(c->plugins[i].name);
        free(c->plugins[i].id);
        free(c->plugins[i].path);
    }
    free(c->plugins);
    free_strv(c->rule_paths, c->nrule_paths);
    for (size_t i = 0; i < c->nautomation; i++) {
        vgl_automation_rule *r = &c->automation[i];
        free(r->name);
        free_when(&r->when);
        for (size_t j = 0; j < r->nactions; j++) { /* params points into root */
            free(r->actions[j].action);
            free(r->actions[j].target);
        }
        free(r->actions);
    }
    free(c->automation);
    free_strv(c->response.protected_ips, c->response.nprotected_ips);
    free_strv(c->response.protected_accounts, c->response.nprotected_accounts);
    free_strv(c->response.protected_hosts, c->response.nprotected_hosts);
    for (size_t i = 0; i < c->response.nrate_limits; i++)
        free(c->response.rate_limits[i].action);
    free(c->response.rate_limits);
    free(c->response.responder);
    free(c->response.group);
    free(c->metrics.listen);
    free(c->log.level);
    node_free(c->root);
    free(c);
}

/* Directory of the config file for relative paths; NULL when the name has
 * no directory part (paths then stay relative to the working directory,
 * which is that directory). */
static char *config_dir(const char *name)
{
    const char *slash = strrchr(name, '/');
    if (!slash)
        return NULL;
    if (slash == name)
        return xstrdup("/");
    return xstrndup(name, (size_t)(slash - name));
}

vgl_config *vgl_config_load_string(const char *yaml, size_t len, const char *name,
                                   vgl_diag *diag)
{
    loader L = {.name = name ? name : "<string>"};
    if (len > MAX_FILE_BYTES) {
        vgl_diag_add(diag, "%s: the configuration is larger than 16 MiB", L.name);
        return NULL;
    }
    L.src = yaml ? yaml : "";
    L.len = yaml ? len : 0;
    L.dir = config_dir(L.name);
    index_lines(&L);
    parse_yaml(&L);

    vgl_config *cfg = vgl_config_defaults();
    cfg->path = xstrdup(L.name);
    cfg->root = L.root;
    if (L.complete)
        validate(&L, cfg);

    bool failed = L.nmsgs > 0 || L.dropped > 0;
    flush_messages(&L, diag);
    free(L.line_start);
    free(L.dir);
    if (failed) {
        vgl_config_free(cfg);
        return NULL;
    }
    return cfg;
}

vgl_config *vgl_config_load(const char *path, vgl_diag *diag)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        vgl_diag_add(diag, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        vgl_diag_add(diag, "%s: is a directory, not a configuration file", path);
        fclose(f);
        return NULL;
    }
    /* Read one byte past the cap so an oversized file is recognised
     * whatever stat says (pipes, /proc). */
    size_t cap = 64 << 10, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > MAX_FILE_BYTES)
                break;
            cap = cap * 2 > MAX_FILE_BYTES + 1 ? MAX_FILE_BYTES + 1 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool read_error = ferror(f);
    int err = errno;
    fclose(f);
    vgl_config *cfg = NULL;
    if (read_error)
        vgl_diag_add(diag, "%s: cannot read: %s", path, strerror(err));
    else if (len > MAX_FILE_BYTES)
        vgl_diag_add(diag, "%s: the configuration is larger than 16 MiB", path);
    else
        cfg = vgl_config_load_string(buf, len, path, diag);
    free(buf);
    return cfg;
}
