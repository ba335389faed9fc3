/*
 * Avro codec: records in the Avro binary encoding, with one fixed schema
 * (format: avro) or the Confluent wire format (magic byte 0, 4-byte
 * big-endian schema id) resolved from a directory of <id>.avsc files.
 *
 * Avro C parses and validates every schema at open. The binary data itself
 * is read and written here, by a walker over a compiled copy of the
 * schema, and not through Avro C values, for three reasons:
 *  - Avro C trusts the data: a hostile length makes it malloc gigabytes or
 *    assert, and an array block of 2^62 nulls spins forever. Here every
 *    length is checked against the bytes left in the record before it is
 *    used, and a record may hold at most 65,536 items that take no bytes
 *    (nulls, empty records) in its arrays.
 *  - Avro C values are not thread-safe; the compiled schema is read-only
 *    after open and shared by every worker.
 *  - It decodes straight into the event arena, with no intermediate tree.
 * Tests check the wire format against Avro C in both directions.
 *
 * Decoding maps records and maps to objects, arrays to arrays, unions to
 * their branch, enums to their symbol, bytes and fixed to a string (as-is
 * when valid UTF-8, else base64), int/long to int, float/double to double.
 * Strings get the JSON decoder's rule: invalid UTF-8 bytes become U+FFFD.
 *
 * Two record names are special (configs/schemas/event.avsc): a record
 * named vigil.Value or vigil.Event with exactly one field stands for that
 * field. So vigil.Event decodes to the object of its `fields` map and each
 * vigil.Value to the JSON value it holds, and encoding does the reverse:
 * JSON -> event -> Avro -> event -> JSON gives back the input.
 */
#include "codec.h"

#include <avro.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_DEPTH 64
#define SCHEMA_FILE_MAX (4u << 20) /* bytes of one .avsc */
#define SCHEMA_JSON_DEPTH 1024
#define SCHEMA_NEST_MAX 256        /* nesting of types inside one schema */
#define ENCODE_MAX_CALLS 1024      /* schema nodes on the way to a value */
#define ERR_PATH_MAX 32
#define CONFLUENT_HEADER 5
/* Items that take no bytes (null, empty records) one record may hold: a
 * 10-byte record could otherwise claim 2^62 of them. */
#define ZERO_SIZE_ITEMS_MAX 65536

typedef enum kind {
    K_NULL, K_BOOLEAN, K_INT, K_LONG, K_FLOAT, K_DOUBLE, K_BYTES, K_STRING,
    K_RECORD, K_ENUM, K_FIXED, K_ARRAY, K_MAP, K_UNION
} kind;

static const char *const kind_names[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    "record", "enum", "fixed", "array", "map", "union",
};

typedef struct node node;

typedef struct field {
    const char *name;
    uint32_t len, hash;
    uint32_t key_off;     /* of the name in the record's key blob */
    node *type;
    const vgl_value *def; /* default from the .avsc; NULL when none */
} field;

struct node {
    kind k;
    bool unwrap;      /* vigil.Value / vigil.Event: stands for its one field */
    bool zero_width;  /* always encodes to no bytes */
    bool has_null;    /* null, or a union with a null branch */
    uint32_t null_branch;
    const char *name; /* full name of a record, enum or fixed */
    uint32_t n;       /* fields, symbols or branches */
    int64_t size;     /* fixed */
    field *fields;
    char *keys;       /* record: every field name, NUL-separated */
    uint32_t keys_len;
    const char **symbols;
    uint32_t *symlen;
    node **branches;
    node *child;      /* array items, map values */
};

typedef struct schema {
    int32_t id;
    node *root;
    vgl_event json;   /* the parsed .avsc; holds the field defaults */
} schema;

struct vgl_avro_codec {
    vgl_arena arena;  /* nodes and names */
    schema *schemas;  /* sorted by id */
    size_t nschemas;
    bool confluent;
    char *dir;
};

typedef struct path_seg {
    const char *s;    /* field name or map key; NULL: array index */
    uint32_t len;
    int64_t index;
} path_seg;

struct vgl_avro_ctx {
    const vgl_avro_codec *c;
    /* where an error happened, innermost first, filled while unwinding */
    path_seg path[ERR_PATH_MAX];
    uint32_t npath;
    bool path_cut;
};

/* ------------------------------------------------------------ errors */

static void path_reset(vgl_avro_ctx *x)
{
    x->npath = 0;
    x->path_cut = false;
}

static void path_add(vgl_avro_ctx *x, const char *s, uint32_t len, int64_t index)
{
    if (x->npath == ERR_PATH_MAX) {
        x->path_cut = true;
        return;
    }
    x->path[x->npath++] = (path_seg){s, len, index};
}

/* " (field a.b[2].c)", or "" at the top. */
static void path_render(const vgl_avro_ctx *x, char *buf, size_t buflen)
{
    size_t o = 0;
    buf[0] = '\0';
    if (!x->npath)
        return;
    int n = snprintf(buf, buflen, " (field %s", x->path_cut ? "..." : "");
    o = n > 0 && (size_t)n < buflen ? (size_t)n : buflen - 1;
    for (uint32_t i = x->npath; i-- > 0 && o + 1 < buflen;) {
        const path_seg *sg = &x->path[i];
        if (sg->s)
            n = snprintf(buf + o, buflen - o, "%s%.*s", i + 1 == x->npath ? "" : ".",
                         (int)(sg->len > 64 ? 64 : sg->len), sg->s);
        else
            n = snprintf(buf + o, buflen - o, "[%lld]", (long long)sg->index);
        if (n < 0)
            break;
        o = (size_t)n < buflen - o ? o + (size_t)n : buflen - 1;
    }
    if (o + 2 <= buflen) {
        buf[o++] = ')';
        buf[o] = '\0';
    }
}

static vgl_rc set_err(char *err, size_t errlen, vgl_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vgl_rc set_err(char *err, size_t errlen, vgl_rc rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ------------------------------------------------------------ schemas */

typedef struct named {
    avro_schema_t s;
    node *n;
} named;

typedef struct compiler {
    vgl_avro_codec *c;
    const char *path;  /* the .avsc, for errors */
    named *named;
    size_t nnamed, cap;
    char *err;
    size_t errlen;
} compiler;

static void *cc_alloc(compiler *cc, size_t n)
{
    void *p = vgl_arena_alloc(&cc->c->arena, n);
    if (p)
        memset(p, 0, n);
    return p;
}

static char *cc_strdup(compiler *cc, const char *s)
{
    return vgl_arena_strndup(&cc->c->arena, s, strlen(s));
}

static const vgl_value *js_get(const vgl_value *obj, const char *key)
{
    size_t n = strlen(key);
    return obj ? vgl_object_get(obj, key, n, vgl_hash(key, n)) : NULL;
}

/* The JSON of a type: a name or union as is, an object's "type" when it
 * is itself a type ({"type": {"type": "array", ...}}). */
static const vgl_value *js_type(const vgl_value *js)
{
    if (js && js->type == VGL_T_OBJECT) {
        const vgl_value *t = js_get(js, "type");
        if (t && (t->type == VGL_T_OBJECT || t->type == VGL_T_ARRAY))
            return js_type(t);
    }
    return js;
}

static node *compile(compiler *cc, avro_schema_t s, const vgl_value *js, int nest);

static bool compile_record(compiler *cc, avro_schema_t s, const vgl_value *js, node *n, int nest)
{
    const vgl_value *fjs = js && js->type == VGL_T_OBJECT ? js_get(js, "fields") : NULL;
    size_t nf = avro_schema_record_size(s);
    if (nf > UINT32_MAX / 2)
        return false;
    n->n = (uint32_t)nf;
    n->fields = cc_alloc(cc, (nf ? nf : 1) * sizeof(field));
    if (!n->fields)
        return false;
    size_t blob = 0;
    for (size_t i = 0; i < nf; i++)
        blob += strlen(avro_schema_record_field_name(s, (int)i)) + 1;
    if (blob > UINT32_MAX)
        return false;
    n->keys = cc_alloc(cc, blob ? blob : 1);
    n->keys_len = (uint32_t)blob;
    if (!n->keys)
        return false;
    uint32_t off = 0;
    bool zero = true;
    for (size_t i = 0; i < nf; i++) {
        field *f = &n->fields[i];
        const char *name = avro_schema_record_field_name(s, (int)i);
        const vgl_value *fj = fjs && fjs->type == VGL_T_ARRAY && i < fjs->n
                                  ? &fjs->u.items[i] : NULL;
        const vgl_value *fname = js_get(fj, "name");
        if (!fname || fname->type != VGL_T_STRING || strcmp(fname->u.s, name) != 0)
            fj = NULL; /* Avro C and the JSON disagree: no default then */
        f->len = (uint32_t)strlen(name);
        f->key_off = off;
        memcpy(n->keys + off, name, f->len + 1);
        f->name = n->keys + off;
        off += f->len + 1;
        f->hash = vgl_hash(f->name, f->len);
        f->def = js_get(fj, "default");
        const vgl_value *ft = js_get(fj, "type");
        f->type = compile(cc, avro_schema_record_field_get_by_index(s, (int)i), js_type(ft),
                          nest + 1);
        if (!f->type)
            return false;
        zero = zero && f->type->zero_width;
    }
    n->zero_width = zero;
    n->unwrap = nf == 1 && (strcmp(n->name, "vigil.Value") == 0 ||
                            strcmp(n->name, "vigil.Event") == 0);
    return true;
}

static node *compile(compiler *cc, avro_schema_t s, const vgl_value *js, int nest)
{
    if (nest > SCHEMA_NEST_MAX) {
        set_err(cc->err, cc->errlen, VGL_ERR_CONFIG, "schema %s: types nested deeper than %d",
                cc->path, SCHEMA_NEST_MAX);
        return NULL;
    }
    if (is_avro_link(s))
        s = avro_schema_link_target(s);
    for (size_t i = 0; i < cc->nnamed; i++)
        if (cc->named[i].s == s)
            return cc->named[i].n;
    node *n = cc_alloc(cc, sizeof(*n));
    if (!n)
        goto nomem;
    switch (avro_typeof(s)) {
    case AVRO_NULL: n->k = K_NULL; n->zero_width = n->has_null = true; break;
    case AVRO_BOOLEAN: n->k = K_BOOLEAN; break;
    case AVRO_INT32: n->k = K_INT; break;
    case AVRO_INT64: n->k = K_LONG; break;
    case AVRO_FLOAT: n->k = K_FLOAT; break;
    case AVRO_DOUBLE: n->k = K_DOUBLE; break;
    case AVRO_BYTES: n->k = K_BYTES; break;
    case AVRO_STRING: n->k = K_STRING; break;
    case AVRO_RECORD:
    case AVRO_ENUM:
    case AVRO_FIXED: {
        n->k = avro_typeof(s) == AVRO_RECORD ? K_RECORD
               : avro_typeof(s) == AVRO_ENUM ? K_ENUM : K_FIXED;
        const char *name = avro_schema_name(s), *ns = avro_schema_namespace(s);
        char full[512];
        snprintf(full, sizeof(full), "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "." : "",
                 name ? name : "");
        if (!(n->name = cc_strdup(cc, full)))
            goto nomem;
        /* registered before the fields, for recursive references */
        if (cc->nnamed == cc->cap) {
            size_t ncap = cc->cap ? 2 * cc->cap : 16;
            named *mem = realloc(cc->named, ncap * sizeof(*mem));
            if (!mem)
                goto nomem;
            cc->named = mem;
            cc->cap = ncap;
        }
        cc->named[cc->nnamed++] = (named){s, n};
        if (n->k == K_RECORD) {
            if (!compile_record(cc, s, js, n, nest))
                return NULL; /* error set, or out of memory below */
        } else if (n->k == K_ENUM) {
            int ns_count = avro_schema_enum_number_of_symbols(s);
            n->n = ns_count > 0 ? (uint32_t)ns_count : 0;
            n->symbols = cc_alloc(cc, (n->n ? n->n : 1) * sizeof(char *));
            n->symlen = cc_alloc(cc, (n->n ? n->n : 1) * sizeof(uint32_t));
            if (!n->symbols || !n->symlen)
                goto nomem;
            for (uint32_t i = 0; i < n->n; i++) {
                if (!(n->symbols[i] = cc_strdup(cc, avro_schema_enum_get(s, (int)i))))
                    goto nomem;
                n->symlen[i] = (uint32_t)strlen(n->symbols[i]);
            }
        } else {
            n->size = avro_schema_fixed_size(s);
            n->zero_width = n->size == 0;
        }
        break;
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        n->k = avro_typeof(s) == AVRO_ARRAY ? K_ARRAY : K_MAP;
        const vgl_value *cj = js && js->type == VGL_T_OBJECT
                                  ? js_type(js_get(js, n->k == K_ARRAY ? "items" : "values"))
                                  : NULL;
        n->child = compile(cc, n->k == K_ARRAY ? avro_schema_array_items(s)
                                               : avro_schema_map_values(s),
                           cj, nest + 1);
        if (!n->child)
            return NULL;
        break;
    }
    case AVRO_UNION: {
        n->k = K_UNION;
        size_t nb = avro_schema_union_size(s);
        n->n = (uint32_t)nb;
        n->branches = cc_alloc(cc, (nb ? nb : 1) * sizeof(node *));
        if (!n->branches)
            goto nomem;
        for (size_t i = 0; i < nb; i++) {
            const vgl_value *bj = js && js->type == VGL_T_ARRAY && i < js->n
                                      ? js_type(&js->u.items[i]) : NULL;
            n->branches[i] = compile(cc, avro_schema_union_branch(s, (int)i), bj, nest + 1);
            if (!n->branches[i])
                return NULL;
            if (n->branches[i]->k == K_NULL && !n->has_null) {
                n->has_null = true;
                n->null_branch = (uint32_t)i;
            }
        }
        break;
    }
    default:
        set_err(cc->err, cc->errlen, VGL_ERR_CONFIG, "schema %s: unsupported Avro type %d",
                cc->path, (int)avro_typeof(s));
        return NULL;
    }
    return n;
nomem:
    set_err(cc->err, cc->errlen, VGL_ERR_NOMEM, "schema %s: out of memory", cc->path);
    return NULL;
}

/* ------------------------------------------------------------ writing */

typedef struct wr {
    vgl_avro_ctx *x;
    vgl_buf *out;
    uint32_t calls;
    vgl_rc rc;
    char reason[192];
} wr;

static bool wr_fail(wr *w, vgl_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool wr_fail(wr *w, vgl_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
    va_end(ap);
    w->rc = rc;
    return false;
}

static bool wr_nomem(wr *w)
{
    if (w->out->limit)
        return wr_fail(w, VGL_ERR_TOOBIG, "output over its limit of %zu bytes", w->out->limit);
    return wr_fail(w, VGL_ERR_NOMEM, "out of memory");
}

static bool put_long(wr *w, int64_t v)
{
    uint64_t u = v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
    unsigned char tmp[10];
    size_t n = 0;
    while (u >= 0x80) {
        tmp[n++] = (unsigned char)(u | 0x80);
        u >>= 7;
    }
    tmp[n++] = (unsigned char)u;
    return vgl_buf_append(w->out, tmp, n) || wr_nomem(w);
}

static bool put_bytes(wr *w, const void *p, size_t n)
{
    return put_long(w, (int64_t)n) && (vgl_buf_append(w->out, p, n) || wr_nomem(w));
}

static const char *value_kind(const vgl_value *v)
{
    return vgl_type_name((vgl_type)v->type);
}

static bool type_error(wr *w, const node *n, const vgl_value *v)
{
    return wr_fail(w, VGL_ERR_TYPE, "expected %s%s%s, got %s", kind_names[n->k],
                   n->name ? " " : "", n->name ? n->name : "", value_kind(v));
}

static bool enc(wr *w, const node *n, const vgl_value *v);

/* Bytes/fixed default: a JSON string whose code points 0-255 are the bytes. */
static bool enc_default_bytes(wr *w, const node *n, const vgl_value *def)
{
    if (def->type != VGL_T_STRING)
        return type_error(w, n, def);
    unsigned char local[256];
    unsigned char *b = def->n <= sizeof(local) ? local : malloc(def->n);
    if (!b)
        return wr_nomem(w);
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)def->u.s;
    bool ok = true;
    for (uint32_t i = 0; i < def->n && ok;) {
        if (s[i] < 0x80) {
            b[o++] = s[i++];
        } else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < def->n) {
            b[o++] = (unsigned char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
            i += 2;
        } else {
            ok = false;
        }
    }
    if (!ok)
        wr_fail(w, VGL_ERR_TYPE, "bytes default has a code point above U+00FF");
    else if (n->k == K_FIXED && (int64_t)o != n->size)
        ok = wr_fail(w, VGL_ERR_TYPE, "expected %lld bytes for fixed %s, got %zu",
                     (long long)n->size, n->name, o);
    else if (n->k == K_FIXED)
        ok = vgl_buf_append(w->out, b, o) || wr_nomem(w);
    else
        ok = put_bytes(w, b, o);
    if (b != local)
        free(b);
    return ok;
}

/* A field default: a union's default is for its first branch. */
static bool enc_default(wr *w, const node *n, const vgl_value *def)
{
    if (n->k == K_UNION) {
        if (n->n == 0)
            return wr_fail(w, VGL_ERR_TYPE, "empty union");
        return put_long(w, 0) && enc_default(w, n->branches[0], def);
    }
    if (n->k == K_BYTES || n->k == K_FIXED)
        return enc_default_bytes(w, n, def);
    return enc(w, n, def);
}

/* Does obj fit record n: all its keys are fields, every field without a
 * default or null is there? Picks among several record branches. */
static bool record_fits(const node *n, const vgl_value *obj)
{
    for (uint32_t i = 0; i < obj->n; i++) {
        const vgl_member *m = &obj->u.members[i];
        bool known = false;
        for (uint32_t f = 0; f < n->n && !known; f++)
            known = n->fields[f].hash == m->khash && n->fields[f].len == m->klen &&
                    memcmp(n->fields[f].name, m->key, m->klen) == 0;
        if (!known)
            return false;
    }
    for (uint32_t f = 0; f < n->n; f++) {
        const field *fd = &n->fields[f];
        if (!fd->def && !fd->type->has_null &&
            !vgl_object_get(obj, fd->name, fd->len, fd->hash))
            return false;
    }
    return true;
}

static bool fits_int(int64_t i) { return i >= INT32_MIN && i <= INT32_MAX; }

static int enum_index(const node *n, const char *s, uint32_t len)
{
    for (uint32_t i = 0; i < n->n; i++)
        if (n->symlen[i] == len && memcmp(n->symbols[i], s, len) == 0)
            return (int)i;
    return -1;
}

/* The union branch for v: the first of its natural type, then widening
 * (int to float/double), then a vigil.Value record, which holds anything. */
static int pick_branch(const node *u, const vgl_value *v)
{
    for (int pass = 0; pass < 3; pass++) {
        for (uint32_t i = 0; i < u->n; i++) {
            const node *b = u->branches[i];
            bool ok = false;
            switch (v->type) {
            case VGL_T_NULL: ok = b->k == K_NULL; break;
            case VGL_T_BOOL: ok = b->k == K_BOOLEAN; break;
            case VGL_T_INT:
                ok = pass == 0 ? b->k == K_LONG || (b->k == K_INT && fits_int(v->u.i))
                               : b->k == K_DOUBLE || b->k == K_FLOAT;
                break;
            case VGL_T_DOUBLE: ok = b->k == K_DOUBLE || b->k == K_FLOAT; break;
            case VGL_T_STRING:
                ok = pass == 0 ? b->k == K_STRING || (b->k == K_ENUM &&
                                                      enum_index(b, v->u.s, v->n) >= 0)
                               : b->k == K_BYTES || (b->k == K_FIXED && b->size == v->n);
                break;
            case VGL_T_ARRAY: ok = b->k == K_ARRAY; break;
            case VGL_T_OBJECT:
                ok = pass == 0 ? b->k == K_RECORD && !b->unwrap && record_fits(b, v)
                               : b->k == K_MAP || (b->k == K_RECORD && !b->unwrap);
                break;
            }
            if (pass == 2)
                ok = b->k == K_RECORD && b->unwrap;
            if (ok)
                return (int)i;
        }
    }
    return -1;
}

static bool enc_record(wr *w, const node *n, const vgl_value *v)
{
    if (v->type != VGL_T_OBJECT)
        return type_error(w, n, v);
    for (uint32_t i = 0; i < n->n; i++) {
        const field *f = &n->fields[i];
        const vgl_value *fv = vgl_object_get(v, f->name, f->len, f->hash);
        bool ok;
        if (fv)
            ok = enc(w, f->type, fv);
        else if (f->def)
            ok = enc_default(w, f->type, f->def);
        else if (f->type->k == K_NULL)
            ok = true;
        else if (f->type->has_null)
            ok = put_long(w, f->type->null_branch);
        else
            ok = wr_fail(w, VGL_ERR_TYPE, "missing, and the schema gives no default");
        if (!ok) {
            path_add(w->x, f->name, f->len, 0);
            return false;
        }
    }
    return true;
}

static bool enc(wr *w, const node *n, const vgl_value *v)
{
    if (++w->calls > ENCODE_MAX_CALLS)
        return wr_fail(w, VGL_ERR_TOOBIG, "value nested deeper than %d schema types",
                       ENCODE_MAX_CALLS);
    bool ok = true;
    switch (n->k) {
    case K_NULL:
        ok = v->type == VGL_T_NULL || type_error(w, n, v);
        break;
    case K_BOOLEAN:
        if (v->type != VGL_T_BOOL)
            ok = type_error(w, n, v);
        else
            ok = vgl_buf_putc(w->out, v->u.b ? 1 : 0) || wr_nomem(w);
        break;
    case K_INT:
        if (v->type != VGL_T_INT)
            ok = type_error(w, n, v);
        else if (!fits_int(v->u.i))
            ok = wr_fail(w, VGL_ERR_TYPE, "%lld is out of range for int", (long long)v->u.i);
        else
            ok = put_long(w, v->u.i);
        break;
    case K_LONG:
        ok = v->type == VGL_T_INT ? put_long(w, v->u.i) : type_error(w, n, v);
        break;
    case K_FLOAT:
    case K_DOUBLE: {
        if (v->type != VGL_T_INT && v->type != VGL_T_DOUBLE) {
            ok = type_error(w, n, v);
            break;
        }
        double d = v->type == VGL_T_INT ? (double)v->u.i : v->u.d;
        unsigned char b[8];
        if (n->k == K_FLOAT) {
            float f = (float)d;
            uint32_t u;
            memcpy(&u, &f, 4);
            for (int i = 0; i < 4; i++)
                b[i] = (unsigned char)(u >> (8 * i));
        } else {
            uint64_t u;
            memcpy(&u, &d, 8);
            for (int i = 0; i < 8; i++)
                b[i] = (unsigned char)(u >> (8 * i));
        }
        ok = vgl_buf_append(w->out, b, n->k == K_FLOAT ? 4 : 8) || wr_nomem(w);
        break;
    }
    case K_BYTES:
    case K_STRING:
        ok = v->type == VGL_T_STRING ? put_bytes(w, v->u.s, v->n) : type_error(w, n, v);
        break;
    case K_FIXED:
        if (v->type != VGL_T_STRING)
            ok = type_error(w, n, v);
        else if ((int64_t)v->n != n->size)
            ok = wr_fail(w, VGL_ERR_TYPE, "expected %lld bytes for fixed %s, got %u",
                         (long long)n->size, n->name, v->n);
        else
            ok = vgl_buf_append(w->out, v->u.s, v->n) || wr_nomem(w);
        break;
    case K_ENUM: {
        int idx = v->type == VGL_T_STRING ? enum_index(n, v->u.s, v->n) : -1;
        if (v->type != VGL_T_STRING)
            ok = type_error(w, n, v);
        else if (idx < 0)
            ok = wr_fail(w, VGL_ERR_TYPE, "\"%.*s\" is not a symbol of enum %s",
                         (int)(v->n > 64 ? 64 : v->n), v->u.s, n->name);
        else
            ok = put_long(w, idx);
        break;
    }
    case K_ARRAY:
        if (v->type != VGL_T_ARRAY) {
            ok = type_error(w, n, v);
            break;
        }
        if (v->n && !put_long(w, v->n))
            return false;
        for (uint32_t i = 0; i < v->n; i++) {
            if (!enc(w, n->child, &v->u.items[i])) {
                path_add(w->x, NULL, 0, i);
                return false;
            }
        }
        ok = put_long(w, 0);
        break;
    case K_MAP:
        if (v->type != VGL_T_OBJECT) {
            ok = type_error(w, n, v);
            break;
        }
        /* every member in order, duplicates included: readers keep the
         * last, as vigil's lookups do */
        if (v->n && !put_long(w, v->n))
            return false;
        for (uint32_t i = 0; i < v->n; i++) {
            const vgl_member *m = &v->u.members[i];
            if (!put_bytes(w, m->key, m->klen))
                return false;
            if (!enc(w, n->child, &m->v)) {
                path_add(w->x, m->key, m->klen, 0);
                return false;
            }
        }
        ok = put_long(w, 0);
        break;
    case K_RECORD:
        if (n->unwrap)
            ok = enc(w, n->fields[0].type, v);
        else
            ok = enc_record(w, n, v);
        break;
    case K_UNION: {
        int b = pick_branch(n, v);
        if (b < 0) {
            char types[160];
            size_t o = 0;
            for (uint32_t i = 0; i < n->n && o < sizeof(types) - 1; i++) {
                const node *br = n->branches[i];
                int k = snprintf(types + o, sizeof(types) - o, "%s%s", i ? ", " : "",
                                 br->name ? br->name : kind_names[br->k]);
                o = k > 0 && (size_t)k < sizeof(types) - o ? o + (size_t)k : sizeof(types) - 1;
            }
            types[o] = '\0';
            ok = wr_fail(w, VGL_ERR_TYPE, "no branch of union [%s] holds %s", types,
                         value_kind(v));
        } else {
            ok = put_long(w, b) && enc(w, n->branches[b], v);
        }
        break;
    }
    }
    w->calls--;
    return ok;
}

/* Check every default of the schema encodes with its field's type. */
static bool check_defaults(compiler *cc, vgl_buf *scratch)
{
    vgl_avro_ctx x = {.c = cc->c};
    for (size_t i = 0; i < cc->nnamed; i++) {
        const node *n = cc->named[i].n;
        if (n->k != K_RECORD)
            continue;
        for (uint32_t f = 0; f < n->n; f++) {
            const field *fd = &n->fields[f];
            if (!fd->def)
                continue;
            wr w = {.x = &x, .out = scratch};
            vgl_buf_reset(scratch);
            path_reset(&x);
            if (!enc_default(&w, fd->type, fd->def)) {
                set_err(cc->err, cc->errlen, VGL_ERR_CONFIG,
                        "schema %s: the default of field %s.%s does not fit its type: %s",
                        cc->path, n->name, fd->name, w.reason);
                return false;
            }
        }
    }
    return true;
}

/* ------------------------------------------------------------ loading */

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, VGL_ERR_IO, "cannot open schema %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SCHEMA_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SCHEMA_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf) {
        set_err(err, errlen, VGL_ERR_NOMEM, "schema %s: out of memory", path);
        return NULL;
    }
    if (bad || n > SCHEMA_FILE_MAX) {
        set_err(err, errlen, VGL_ERR_IO, bad ? "cannot read schema %s" :
                "schema %s is larger than 4 MiB", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parse, validate and compile one .avsc into s. */
static bool load_schema(vgl_avro_codec *c, schema *s, const char *path, char *err,
                        size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (!text)
        return false;
    bool ok = false;
    avro_schema_t as = NULL;
    vgl_buf scratch;
    vgl_buf_init(&scratch, 0);
    compiler cc = {.c = c, .path = path, .err = err, .errlen = errlen};
    vgl_event_init(&s->json, 0);
    if (avro_schema_from_json_length(text, len, &as) != 0) {
        const char *why = avro_strerror();
        size_t wl = strlen(why);
        while (wl && (why[wl - 1] == '\n' || why[wl - 1] == ' '))
            wl--;
        set_err(err, errlen, VGL_ERR_CONFIG, "schema %s: %.*s", path, (int)wl, why);
        as = NULL;
        goto out;
    }
    char jerr[256];
    vgl_decode_limits lim = {.max_depth = SCHEMA_JSON_DEPTH};
    if (avro_typeof(as) != AVRO_RECORD) {
        set_err(err, errlen, VGL_ERR_CONFIG,
                "schema %s: the top-level type is %s, expected a record", path,
                avro_schema_type_name(as));
        goto out;
    }
    if (vgl_json_decode(&s->json, text, len, &lim, jerr, sizeof(jerr)) != VGL_OK) {
        set_err(err, errlen, VGL_ERR_CONFIG, "schema %s: %s", path, jerr);
        goto out;
    }
    s->root = compile(&cc, as, &s->json.root, 0);
    if (!s->root) {
        if (err && errlen && !err[0])
            set_err(err, errlen, VGL_ERR_NOMEM, "schema %s: out of memory", path);
        goto out;
    }
    if (s->root->unwrap && s->root->fields[0].type->k != K_MAP &&
        !(s->root->fields[0].type->k == K_RECORD && !s->root->fields[0].type->unwrap)) {
        set_err(err, errlen, VGL_ERR_CONFIG,
                "schema %s: the one field of %s must be a map or a record to hold an event",
                path, s->root->name);
        goto out;
    }
    if (!check_defaults(&cc, &scratch))
        goto out;
    ok = true;
out:
    if (as)
        avro_schema_decref(as);
    free(cc.named);
    vgl_buf_free(&scratch);
    free(text);
    return ok;
}

static vgl_avro_codec *codec_new(void)
{
    vgl_avro_codec *c = calloc(1, sizeof(*c));
    if (c)
        vgl_arena_init(&c->arena, 16384, 0);
    return c;
}

vgl_avro_codec *vgl_avro_codec_from_file(const char *avsc_path, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    vgl_avro_codec *c = codec_new();
    if (!c || !(c->schemas = calloc(1, sizeof(schema)))) {
        set_err(err, errlen, VGL_ERR_NOMEM, "schema %s: out of memory", avsc_path);
        vgl_avro_codec_free(c);
        return NULL;
    }
    c->nschemas = 1;
    if (!load_schema(c, &c->schemas[0], avsc_path, err, errlen)) {
        vgl_avro_codec_free(c);
        return NULL;
    }
    return c;
}

/* "42.avsc" -> 42; -1 when the stem is not a canonical id. */
static int64_t schema_file_id(const char *name)
{
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 5, ".avsc") != 0)
        return -2; /* not a schema file */
    size_t digits = n - 5;
    if (digits > 10 || (digits > 1 && name[0] == '0'))
        return -1;
    int64_t id = 0;
    for (size_t i = 0; i < digits; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        id = id * 10 + (name[i] - '0');
    }
    return id <= INT32_MAX ? id : -1;
}

static int schema_cmp(const void *a, const void *b)
{
    int32_t x = ((const schema *)a)->id, y = ((const schema *)b)->id;
    return (x > y) - (x < y);
}

vgl_avro_codec *vgl_avro_codec_from_dir(const char *dir, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    vgl_avro_codec *c = codec_new();
    if (!c || !(c->dir = strdup(dir))) {
        set_err(err, errlen, VGL_ERR_NOMEM, "schema directory %s: out of memory", dir);
        vgl_avro_codec_free(c);
        return NULL;
    }
    c->confluent = true;
    DIR *d = opendir(dir);
    if (!d) {
        set_err(err, errlen, VGL_ERR_IO, "cannot open schema directory %s: %s", dir,
                strerror(errno));
        vgl_avro_codec_free(c);
        return NULL;
    }
    size_t cap = 0;
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir(d)) != NULL) {
        int64_t id = schema_file_id(de->d_name);
        if (id == -2)
            continue;
        if (id < 0) {
            set_err(err, errlen, VGL_ERR_CONFIG,
                    "schema directory %s: %s is not named <schema id>.avsc", dir, de->d_name);
            ok = false;
            break;
        }
        if (c->nschemas == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            schema *mem = realloc(c->schemas, ncap * sizeof(*mem));
            if (!mem) {
                set_err(err, errlen, VGL_ERR_NOMEM, "schema directory %s: out of memory", dir);
                ok = false;
                break;
            }
            c->schemas = mem;
            cap = ncap;
        }
        size_t plen = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(plen);
        if (!path) {
            set_err(err, errlen, VGL_ERR_NOMEM, "schema directory %s: out of memory", dir);
            ok = false;
            break;
        }
        snprintf(path, plen, "%s/%s", dir, de->d_name);
        schema *s = &c->schemas[c->nschemas++];
        memset(s, 0, sizeof(*s));
        s->id = (int32_t)id;
        ok = load_schema(c, s, path, err, errlen);
        free(path);
    }
    closedir(d);
    if (ok && c->nschemas == 0) {
        set_err(err, errlen, VGL_ERR_CONFIG, "schema directory %s holds no <schema id>.avsc",
                dir);
        ok = false;
    }
    if (!ok) {
        vgl_avro_codec_free(c);
        return NULL;
    }
    qsort(c->schemas, c->nschemas, sizeof(schema), schema_cmp);
    return c;
}

void vgl_avro_codec_free(vgl_avro_codec *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nschemas; i++)
        vgl_event_destroy(&c->schemas[i].json);
    free(c->schemas);
    free(c->dir);
    vgl_arena_free(&c->arena);
    free(c);
}

vgl_avro_ctx *vgl_avro_ctx_new(vgl_avro_codec *c)
{
    vgl_avro_ctx *x = calloc(1, sizeof(*x));
    if (x)
        x->c = c;
    return x;
}

void vgl_avro_ctx_free(vgl_avro_ctx *x)
{
    free(x);
}

static const schema *find_schema(const vgl_avro_codec *c, int32_t id)
{
    size_t lo = 0, hi = c->nschemas;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->schemas[mid].id == id)
            return &c->schemas[mid];
        if (c->schemas[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------ reading */

typedef struct rd {
    vgl_avro_ctx *x;
    const unsigned char *base, *p, *end;
    vgl_event *ev;
    uint32_t depth, max_depth, calls, max_calls;
    size_t zero_budget; /* zero-size array items still allowed */
    char *sa, *sa_end;  /* free part of the string area (see rd_text) */
    vgl_rc rc;
    size_t at;          /* byte of the error */
    char reason[160];
} rd;

static bool rd_fail_at(rd *r, const unsigned char *at, vgl_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool rd_fail_at(rd *r, const unsigned char *at, vgl_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    r->rc = rc;
    r->at = (size_t)(at - r->base);
    return false;
}

static bool rd_truncated(rd *r)
{
    return rd_fail_at(r, r->end, VGL_ERR_INVALID, "unexpected end of record");
}

static bool rd_nomem(rd *r, const unsigned char *at)
{
    vgl_arena *a = &r->ev->arena;
    if (a->limit)
        return rd_fail_at(r, at, VGL_ERR_TOOBIG, "event exceeds its memory limit of %zu bytes",
                          a->limit);
    return rd_fail_at(r, at, VGL_ERR_NOMEM, "out of memory");
}

static inline bool rd_long(rd *r, int64_t *out)
{
    const unsigned char *p = r->p, *start = p;
    uint64_t u = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (p == r->end)
            return rd_truncated(r);
        unsigned char b = *p++;
        if (shift == 63 && b > 1)
            return rd_fail_at(r, start, VGL_ERR_INVALID, "varint longer than 64 bits");
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    r->p = p;
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return true;
}

/* A length prefix that must fit in the rest of the record. */
static bool rd_len(rd *r, const char *what, size_t *out)
{
    const unsigned char *at = r->p;
    int64_t n = 0;
    if (!rd_long(r, &n))
        return false;
    if (n < 0)
        return rd_fail_at(r, at, VGL_ERR_INVALID, "negative %s length %lld", what,
                          (long long)n);
    if ((uint64_t)n > (uint64_t)(r->end - r->p))
        return rd_fail_at(r, at, VGL_ERR_INVALID,
                          "%s of %lld bytes runs past the end of the record (%zu bytes left)",
                          what, (long long)n, (size_t)(r->end - r->p));
    if ((uint64_t)n >= UINT32_MAX)
        return rd_fail_at(r, at, VGL_ERR_TOOBIG, "%s of %lld bytes is over 4 GiB", what,
                          (long long)n);
    *out = (size_t)n;
    return true;
}

static bool set_base64(rd *r, vgl_value *v, const unsigned char *s, size_t n,
                       const unsigned char *at)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = (n + 2) / 3 * 4;
    if (olen >= UINT32_MAX)
        return rd_fail_at(r, at, VGL_ERR_TOOBIG, "bytes too long for base64");
    char *o = vgl_arena_alloc(&r->ev->arena, olen + 1), *d = o;
    if (!o)
        return rd_nomem(r, at);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t t = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = tbl[t >> 18];
        *d++ = tbl[(t >> 12) & 63];
        *d++ = tbl[(t >> 6) & 63];
        *d++ = tbl[t & 63];
    }
    if (i < n) {
        uint32_t t = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *d++ = tbl[t >> 18];
        *d++ = tbl[(t >> 12) & 63];
        *d++ = i + 1 < n ? tbl[(t >> 6) & 63] : '=';
        *d++ = '=';
    }
    *d = '\0';
    v->type = VGL_T_STRING;
    v->n = (uint32_t)olen;
    v->cap = 0;
    v->u.s = o;
    return true;
}

/* v = a copy of valid UTF-8 text s[0..n) in the event arena. Like the
 * JSON decoder, strings share chunks of a string area sized by the
 * record (decoded text is never longer than the record), so a small
 * event makes one allocation for all its strings and keys. */
static bool rd_text(rd *r, vgl_value *v, const void *s, size_t n, const unsigned char *at)
{
    if ((size_t)(r->sa_end - r->sa) < n + 1) {
        size_t rest = (size_t)(r->end - r->base) + 8;
        size_t chunk = rest < 4096 ? rest : 4096;
        if (chunk < n + 1)
            chunk = n + 1;
        char *mem = vgl_arena_alloc(&r->ev->arena, chunk);
        if (!mem)
            return rd_nomem(r, at);
        r->sa = mem;
        r->sa_end = mem + chunk;
    }
    char *d = r->sa;
    memcpy(d, s, n);
    d[n] = '\0';
    r->sa = d + n + 1;
    v->type = VGL_T_STRING;
    v->n = (uint32_t)n;
    v->cap = 0;
    v->u.s = d;
    return true;
}

/* string: invalid UTF-8 bytes become U+FFFD, as in JSON */
static bool set_string(rd *r, vgl_value *v, const unsigned char *s, size_t n,
                       const unsigned char *at)
{
    if (vgl_codec_utf8_valid((const char *)s, n))
        return rd_text(r, v, s, n, at);
    return vgl_codec_set_utf8(r->ev, v, (const char *)s, n) == VGL_OK || rd_nomem(r, at);
}

/* bytes and fixed: the bytes when they are UTF-8 text, else base64 */
static bool set_binary(rd *r, vgl_value *v, const unsigned char *s, size_t n,
                       const unsigned char *at)
{
    if (!vgl_codec_utf8_valid((const char *)s, n))
        return set_base64(r, v, s, n, at);
    return rd_text(r, v, s, n, at);
}

static bool dec(rd *r, const node *n, vgl_value *out);

/* The items of one array or map block, appended to out. */
static bool dec_blocks(rd *r, const node *n, vgl_value *out)
{
    bool is_map = n->k == K_MAP;
    uint32_t total = 0, cap = 0;
    void *items = NULL;
    size_t elem = is_map ? sizeof(vgl_member) : sizeof(vgl_value);
    for (;;) {
        const unsigned char *at = r->p;
        int64_t count = 0;
        if (!rd_long(r, &count))
            return false;
        if (count == 0)
            break;
        if (count < 0) {
            int64_t bytes = 0;
            if (count == INT64_MIN)
                return rd_fail_at(r, at, VGL_ERR_INVALID, "invalid block count");
            count = -count;
            const unsigned char *bat = r->p;
            if (!rd_long(r, &bytes))
                return false;
            if (bytes < 0 || (uint64_t)bytes > (uint64_t)(r->end - r->p))
                return rd_fail_at(r, bat, VGL_ERR_INVALID,
                                  "block size %lld does not fit in the record", (long long)bytes);
        }
        /* Every item takes a byte, except zero-size ones, which get a
         * fixed budget per record: no spinning on a huge count. */
        if (is_map || !n->child->zero_width) {
            if ((uint64_t)count > (uint64_t)(r->end - r->p))
                return rd_fail_at(r, at, VGL_ERR_INVALID,
                                  "block of %lld items runs past the end of the record "
                                  "(%zu bytes left)",
                                  (long long)count, (size_t)(r->end - r->p));
        } else {
            if ((uint64_t)count > r->zero_budget)
                return rd_fail_at(r, at, VGL_ERR_INVALID,
                                  "block of %lld zero-size items: more than the %d allowed "
                                  "in one record",
                                  (long long)count, ZERO_SIZE_ITEMS_MAX);
            r->zero_budget -= (size_t)count;
        }
        if ((uint64_t)count > UINT32_MAX - 1 - total)
            return rd_fail_at(r, at, VGL_ERR_TOOBIG, "more than 4294967294 items");
        uint32_t need = total + (uint32_t)count;
        if (need > cap) {
            void *mem = vgl_arena_alloc(&r->ev->arena, (size_t)need * elem);
            if (!mem)
                return rd_nomem(r, at);
            if (total)
                memcpy(mem, items, (size_t)total * elem);
            items = mem;
            cap = need;
        }
        for (uint32_t i = total; i < need; i++) {
            if (is_map) {
                vgl_member *m = (vgl_member *)items + i;
                const unsigned char *kat = r->p;
                size_t klen;
                vgl_value key;
                if (!rd_len(r, "map key", &klen))
                    return false;
                if (!set_string(r, &key, r->p, klen, kat))
                    return false;
                r->p += klen;
                m->key = key.u.s;
                m->klen = key.n;
                m->khash = vgl_hash(key.u.s, key.n);
                memset(&m->v, 0, sizeof(m->v));
                if (!dec(r, n->child, &m->v)) {
                    path_add(r->x, m->key, m->klen, 0);
                    return false;
                }
            } else {
                vgl_value *v = (vgl_value *)items + i;
                memset(v, 0, sizeof(*v));
                if (!dec(r, n->child, v)) {
                    path_add(r->x, NULL, 0, i);
                    return false;
                }
            }
        }
        total = need;
    }
    memset(out, 0, sizeof(*out));
    out->type = is_map ? VGL_T_OBJECT : VGL_T_ARRAY;
    out->n = out->cap = total;
    if (is_map)
        out->u.members = items;
    else
        out->u.items = items;
    return true;
}

static bool dec(rd *r, const node *n, vgl_value *out)
{
    const unsigned char *at = r->p;
    if (++r->calls > r->max_calls)
        return rd_fail_at(r, at, VGL_ERR_TOOBIG, "nesting deeper than %u", r->max_depth);
    bool ok = true;
    out->n = out->cap = 0;
    switch (n->k) {
    case K_NULL:
        out->type = VGL_T_NULL;
        out->u.i = 0;
        break;
    case K_BOOLEAN:
        if (r->p == r->end)
            return rd_truncated(r);
        if (*r->p > 1)
            return rd_fail_at(r, at, VGL_ERR_INVALID, "invalid boolean byte 0x%02x", *r->p);
        out->type = VGL_T_BOOL;
        out->u.b = *r->p++ == 1;
        break;
    case K_INT:
    case K_LONG: {
        int64_t i = 0;
        if (!rd_long(r, &i))
            return false;
        if (n->k == K_INT && !fits_int(i))
            return rd_fail_at(r, at, VGL_ERR_INVALID, "int %lld out of range", (long long)i);
        out->type = VGL_T_INT;
        out->u.i = i;
        break;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        size_t w = n->k == K_FLOAT ? 4 : 8;
        if ((size_t)(r->end - r->p) < w)
            return rd_truncated(r);
        uint64_t u = 0;
        for (size_t i = 0; i < w; i++)
            u |= (uint64_t)r->p[i] << (8 * i);
        r->p += w;
        out->type = VGL_T_DOUBLE;
        if (w == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, 4);
            out->u.d = f;
        } else {
            memcpy(&out->u.d, &u, 8);
        }
        break;
    }
    case K_STRING:
    case K_BYTES: {
        size_t len;
        if (!rd_len(r, n->k == K_STRING ? "string" : "bytes", &len))
            return false;
        if (n->k == K_STRING) {
            if (!set_string(r, out, r->p, len, at))
                return false;
        } else if (!set_binary(r, out, r->p, len, at)) {
            return false;
        }
        r->p += len;
        break;
    }
    case K_FIXED:
        if ((uint64_t)(r->end - r->p) < (uint64_t)n->size)
            return rd_truncated(r);
        if (!set_binary(r, out, r->p, (size_t)n->size, at))
            return false;
        r->p += n->size;
        break;
    case K_ENUM: {
        int64_t i = 0;
        if (!rd_long(r, &i))
            return false;
        if (i < 0 || i >= n->n)
            return rd_fail_at(r, at, VGL_ERR_INVALID,
                              "enum index %lld out of range (%s has %u symbols)", (long long)i,
                              n->name, n->n);
        if (!rd_text(r, out, n->symbols[i], n->symlen[i], at))
            return false;
        break;
    }
    case K_UNION: {
        int64_t i = 0;
        if (!rd_long(r, &i))
            return false;
        if (i < 0 || i >= n->n)
            return rd_fail_at(r, at, VGL_ERR_INVALID,
                              "union branch %lld out of range (%u branches)", (long long)i, n->n);
        ok = dec(r, n->branches[i], out);
        break;
    }
    case K_RECORD:
        if (n->unwrap) {
            ok = dec(r, n->fields[0].type, out);
            break;
        }
        /* fall through */
    case K_ARRAY:
    case K_MAP:
        if (++r->depth > r->max_depth)
            return rd_fail_at(r, at, VGL_ERR_TOOBIG, "nesting deeper than %u", r->max_depth);
        if (n->k != K_RECORD) {
            ok = dec_blocks(r, n, out);
        } else {
            vgl_member *m = n->n ? vgl_arena_alloc(&r->ev->arena, n->n * sizeof(*m)) : NULL;
            char *keys = n->n ? vgl_arena_alloc(&r->ev->arena, n->keys_len) : NULL;
            if (n->n && (!m || !keys))
                return rd_nomem(r, at);
            if (n->n)
                memcpy(keys, n->keys, n->keys_len);
            for (uint32_t i = 0; i < n->n && ok; i++) {
                const field *f = &n->fields[i];
                m[i].key = keys + f->key_off;
                m[i].klen = f->len;
                m[i].khash = f->hash;
                if (!dec(r, f->type, &m[i].v)) {
                    path_add(r->x, f->name, f->len, 0);
                    ok = false;
                }
            }
            out->type = VGL_T_OBJECT;
            out->n = out->cap = n->n;
            out->u.members = m;
        }
        r->depth--;
        break;
    }
    r->calls--;
    return ok;
}

vgl_rc vgl_avro_decode(vgl_avro_ctx *x, vgl_event *ev, const void *buf, size_t len,
                       const vgl_decode_limits *lim, char *err, size_t errlen)
{
    const vgl_avro_codec *c = x->c;
    const unsigned char *b = buf;
    if (err && errlen)
        err[0] = '\0';
    if (lim && lim->max_bytes && len > lim->max_bytes)
        return set_err(err, errlen, VGL_ERR_TOOBIG,
                       "message of %zu bytes exceeds the limit of %zu bytes", len,
                       lim->max_bytes);
    if (ev->root.type != VGL_T_OBJECT || ev->root.n != 0)
        return set_err(err, errlen, VGL_ERR_STATE, "event is not empty: reset it before decoding");
    if (!b && len)
        return set_err(err, errlen, VGL_ERR_INVALID, "no Avro buffer");
    if (!b)
        b = (const unsigned char *)"";
    const schema *s = &c->schemas[0];
    size_t start = 0;
    if (c->confluent) {
        if (len < CONFLUENT_HEADER)
            return set_err(err, errlen, VGL_ERR_INVALID,
                           "record of %zu bytes is shorter than the 5-byte Confluent header",
                           len);
        if (b[0] != 0)
            return set_err(err, errlen, VGL_ERR_INVALID,
                           "invalid Confluent header: magic byte is 0x%02x, expected 0x00%s",
                           b[0], b[0] == '{' ? " (JSON data?)" : "");
        int32_t id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                               (uint32_t)b[3] << 8 | b[4]);
        if (!(s = find_schema(c, id)))
            return set_err(err, errlen, VGL_ERR_NOTFOUND, "unknown schema id %d (no %d.avsc in %s)",
                           (int)id, (int)id, c->dir);
        start = CONFLUENT_HEADER;
    }
    uint32_t max_depth = lim && lim->max_depth ? lim->max_depth : DEFAULT_MAX_DEPTH;
    rd r = {
        .x = x,
        .base = b,
        .p = b + start,
        .end = b + len,
        .ev = ev,
        .max_depth = max_depth,
        /* a JSON level is at most 3 schema types (vigil.Value, union, map) */
        .max_calls = max_depth > UINT32_MAX / 4 ? UINT32_MAX : 4 * max_depth + 8,
        .zero_budget = ZERO_SIZE_ITEMS_MAX,
    };
    path_reset(x);
    vgl_value root;
    memset(&root, 0, sizeof(root));
    bool ok = dec(&r, s->root, &root);
    if (ok && root.type != VGL_T_OBJECT)
        ok = rd_fail_at(&r, r.base + start, VGL_ERR_INVALID,
                        "the record decodes to %s, expected an object",
                        vgl_type_name((vgl_type)root.type));
    if (ok && r.p != r.end) {
        path_reset(x);
        size_t extra = (size_t)(r.end - r.p);
        ok = rd_fail_at(&r, r.p, VGL_ERR_INVALID, "%zu byte%s of trailing data after the record",
                        extra, extra == 1 ? "" : "s");
    }
    if (!ok) {
        char path[256];
        path_render(x, path, sizeof(path));
        if (r.rc == VGL_ERR_INVALID)
            set_err(err, errlen, r.rc, "invalid Avro at byte %zu%s: %s", r.at, path, r.reason);
        else
            set_err(err, errlen, r.rc, "%s at byte %zu%s", r.reason, r.at, path);
        vgl_value_set_object(&ev->root);
        return r.rc;
    }
    ev->root = root;
    return VGL_OK;
}

vgl_rc vgl_avro_encode(vgl_avro_ctx *x, int32_t schema_id, const vgl_value *v, vgl_buf *out,
                       char *err, size_t errlen)
{
    const vgl_avro_codec *c = x->c;
    const schema *s = &c->schemas[0];
    if (err && errlen)
        err[0] = '\0';
    if (c->confluent && !(s = find_schema(c, schema_id)))
        return set_err(err, errlen, VGL_ERR_NOTFOUND, "unknown schema id %d (no %d.avsc in %s)",
                       (int)schema_id, (int)schema_id, c->dir);
    if (!v || v->type != VGL_T_OBJECT)
        return set_err(err, errlen, VGL_ERR_TYPE, "cannot encode %s as an Avro record: expected an object",
                       v ? vgl_type_name((vgl_type)v->type) : "nothing");
    size_t mark = out->len;
    wr w = {.x = x, .out = out};
    path_reset(x);
    bool ok = true;
    if (c->confluent) {
        unsigned char h[CONFLUENT_HEADER] = {0, (unsigned char)((uint32_t)schema_id >> 24),
                                             (unsigned char)((uint32_t)schema_id >> 16),
                                             (unsigned char)((uint32_t)schema_id >> 8),
                                             (unsigned char)schema_id};
        ok = vgl_buf_append(out, h, sizeof(h)) || wr_nomem(&w);
    }
    ok = ok && enc(&w, s->root, v);
    if (!ok) {
        char path[256];
        path_render(x, path, sizeof(path));
        /* path_render gives " (field a.b)": say "field a.b: reason" */
        if (path[0])
            set_err(err, errlen, w.rc, "%.*s: %s", (int)(strlen(path) - 3), path + 2, w.reason);
        else
            set_err(err, errlen, w.rc, "%s", w.reason);
        if (out->data && mark <= out->len) {
            out->len = mark;
            out->data[mark] = '\0';
        }
        return w.rc;
    }
    return VGL_OK;
}
