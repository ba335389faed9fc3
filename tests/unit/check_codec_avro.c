/* Tests of the Avro codec (core/codec_avro.c): the shipped schemas, the
 * generic event schema round trip, Confluent framing, exact errors on
 * hostile records, and the wire format checked against Avro C (which
 * writes what we decode and reads back what we encode). */
#include <avro.h>
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#ifndef VGL_TEST_DATA
#define VGL_TEST_DATA "tests/data"
#endif

#define SCHEMAS VGL_TEST_DATA "/../../configs/schemas"
#define TEST_SCHEMAS VGL_TEST_DATA "/schemas"

static vgl_event ev;
static char err[512];

static void setup(void)
{
    vgl_event_init(&ev, 0);
    err[0] = '\0';
}

static void teardown(void)
{
    vgl_event_destroy(&ev);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static avro_schema_t avro_c_schema(const char *path)
{
    size_t len;
    char *text = slurp(path, &len);
    avro_schema_t s = NULL;
    ck_assert_msg(avro_schema_from_json_length(text, len, &s) == 0, "%s: %s", path,
                  avro_strerror());
    free(text);
    return s;
}

static vgl_avro_codec *open_file(const char *path)
{
    vgl_avro_codec *c = vgl_avro_codec_from_file(path, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

/* Avro C reads buf with schema s and writes it again: the same bytes
 * prove it read exactly our encoding. */
static void avro_c_same_bytes(avro_schema_t s, const void *buf, size_t len)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t val;
    ck_assert_int_eq(avro_generic_value_new(iface, &val), 0);
    avro_reader_t rd = avro_reader_memory((const char *)buf, (int64_t)len);
    ck_assert_msg(avro_value_read(rd, &val) == 0, "Avro C cannot read it: %s", avro_strerror());
    char *copy = malloc(len + 64);
    avro_writer_t wr = avro_writer_memory(copy, (int64_t)len + 64);
    ck_assert_int_eq(avro_value_write(wr, &val), 0);
    ck_assert_int_eq(avro_writer_tell(wr), (int64_t)len);
    ck_assert_mem_eq(copy, buf, len);
    free(copy);
    avro_writer_free(wr);
    avro_reader_free(rd);
    avro_value_decref(&val);
    avro_value_iface_decref(iface);
}

static char *to_json(const vgl_value *v)
{
    vgl_buf b;
    vgl_buf_init(&b, 0);
    ck_assert_int_eq(vgl_json_encode_value(&b, v), VGL_OK);
    return b.data;
}

static void json_decode_ok(vgl_event *e, const char *s, size_t len)
{
    vgl_event_reset(e);
    ck_assert_msg(vgl_json_decode(e, s, len, NULL, err, sizeof(err)) == VGL_OK, "%s", err);
}

/* ------------------------------------------------------------- schemas */

START_TEST(test_shipped_schemas_parse)
{
    const char *names[] = {"event", "alert", "incident", "action"};
    for (size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s.avsc", SCHEMAS, names[i]);
        avro_schema_t s = avro_c_schema(path);
        ck_assert_int_eq(avro_typeof(s), AVRO_RECORD);
        ck_assert_str_eq(avro_schema_namespace(s), "vigil");
        avro_schema_decref(s);
        vgl_avro_codec *c = open_file(path);
        vgl_avro_codec_free(c);
    }
}
END_TEST

START_TEST(test_open_errors)
{
    char want[1024];
    ck_assert_ptr_null(vgl_avro_codec_from_file(VGL_TEST_DATA "/nope.avsc", err, sizeof(err)));
    ck_assert_str_eq(err, "cannot open schema " VGL_TEST_DATA
                          "/nope.avsc: No such file or directory");
    ck_assert_ptr_null(vgl_avro_codec_from_dir(VGL_TEST_DATA "/nope", err, sizeof(err)));
    ck_assert_str_eq(err, "cannot open schema directory " VGL_TEST_DATA
                          "/nope: No such file or directory");

    const char *bad = VGL_TEST_DATA "/bad_schemas";
    snprintf(want, sizeof(want), "schema %s/syntax/1.avsc: Error parsing JSON: ']' expected "
             "near end of file", bad);
    ck_assert_ptr_null(vgl_avro_codec_from_dir(VGL_TEST_DATA "/bad_schemas/syntax", err,
                                               sizeof(err)));
    ck_assert_str_eq(err, want);
    snprintf(want, sizeof(want),
             "schema directory %s/name: latest.avsc is not named <schema id>.avsc", bad);
    ck_assert_ptr_null(vgl_avro_codec_from_dir(VGL_TEST_DATA "/bad_schemas/name", err,
                                               sizeof(err)));
    ck_assert_str_eq(err, want);
    snprintf(want, sizeof(want), "schema %s/default/1.avsc: the default of field test.Bad.count "
             "does not fit its type: expected long, got string", bad);
    ck_assert_ptr_null(vgl_avro_codec_from_dir(VGL_TEST_DATA "/bad_schemas/default", err,
                                               sizeof(err)));
    ck_assert_str_eq(err, want);
    snprintf(want, sizeof(want),
             "schema %s/toplevel/1.avsc: the top-level type is string, expected a record", bad);
    ck_assert_ptr_null(vgl_avro_codec_from_dir(VGL_TEST_DATA "/bad_schemas/toplevel", err,
                                               sizeof(err)));
    ck_assert_str_eq(err, want);
    snprintf(want, sizeof(want), "schema directory %s/empty holds no <schema id>.avsc", bad);
    ck_assert_ptr_null(vgl_avro_codec_from_dir(VGL_TEST_DATA "/bad_schemas/empty", err,
                                               sizeof(err)));
    ck_assert_str_eq(err, want);
}
END_TEST

/* ------------------------------------------------- the generic event schema */

typedef struct rt {
    vgl_avro_codec *c;
    vgl_avro_ctx *x;
    avro_schema_t as;
    vgl_event back;
    vgl_buf bin;
} rt;

static void rt_open(rt *t, vgl_avro_codec *c, const char *avsc)
{
    t->c = c;
    t->x = vgl_avro_ctx_new(c);
    ck_assert_ptr_nonnull(t->x);
    t->as = avro_c_schema(avsc);
    vgl_event_init(&t->back, 0);
    vgl_buf_init(&t->bin, 0);
}

static void rt_close(rt *t)
{
    vgl_buf_free(&t->bin);
    vgl_event_destroy(&t->back);
    avro_schema_decref(t->as);
    vgl_avro_ctx_free(t->x);
    vgl_avro_codec_free(t->c);
}

/* JSON -> event -> Avro -> event -> JSON equals the input (jansson's
 * json_equal), and Avro C agrees with the bytes. header: Confluent id or
 * -1 for a plain record. */
static void rt_check(rt *t, const char *json, size_t len, int32_t id)
{
    json_decode_ok(&ev, json, len);
    vgl_buf_reset(&t->bin);
    ck_assert_msg(vgl_avro_encode(t->x, id, &ev.root, &t->bin, err, sizeof(err)) == VGL_OK,
                  "%s", err);
    size_t skip = 0;
    if (id >= 0) {
        ck_assert_uint_ge(t->bin.len, 5);
        ck_assert_int_eq(t->bin.data[0], 0);
        ck_assert_int_eq(((unsigned char)t->bin.data[1] << 24 | (unsigned char)t->bin.data[2] << 16 |
                          (unsigned char)t->bin.data[3] << 8 | (unsigned char)t->bin.data[4]),
                         id);
        skip = 5;
    }
    avro_c_same_bytes(t->as, t->bin.data + skip, t->bin.len - skip);
    vgl_event_reset(&t->back);
    ck_assert_msg(vgl_avro_decode(t->x, &t->back, t->bin.data, t->bin.len, NULL, err,
                                  sizeof(err)) == VGL_OK,
                  "%s", err);
    char *out = to_json(&t->back.root);
    json_error_t je;
    json_t *want = json_loadb(json, len, JSON_ALLOW_NUL, &je);
    json_t *got = json_loadb(out, strlen(out), JSON_ALLOW_NUL, &je);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(json_equal(want, got), "differs:\n%.*s\n%s", (int)len, json, out);
    ck_assert(vgl_value_equal(&ev.root, &t->back.root));
    json_decref(want);
    json_decref(got);
    free(out);
}

START_TEST(test_event_wire_format)
{
    /* {"a":1}: map of 1 (02), key "a" (02 61), vigil.Value branch long (04)
     * 1 (02), end of map (00) */
    rt t;
    rt_open(&t, open_file(SCHEMAS "/event.avsc"), SCHEMAS "/event.avsc");
    json_decode_ok(&ev, "{\"a\":1}", 7);
    ck_assert_int_eq(vgl_avro_encode(t.x, 0, &ev.root, &t.bin, err, sizeof(err)), VGL_OK);
    ck_assert_uint_eq(t.bin.len, 6);
    ck_assert_mem_eq(t.bin.data, "\x02\x02" "a\x04\x02\x00", 6);
    /* {} is an empty map */
    json_decode_ok(&ev, "{}", 2);
    vgl_buf_reset(&t.bin);
    ck_assert_int_eq(vgl_avro_encode(t.x, 0, &ev.root, &t.bin, err, sizeof(err)), VGL_OK);
    ck_assert_uint_eq(t.bin.len, 1);
    ck_assert_int_eq(t.bin.data[0], 0);
    rt_close(&t);
}
END_TEST

START_TEST(test_event_round_trip)
{
    const char *docs[] = {
        "{}",
        "{\"s\":\"x\",\"i\":-42,\"d\":2.5,\"t\":true,\"f\":false,\"n\":null}",
        "{\"a\":[1,\"b\",[],{},[null,[true]]],\"o\":{\"k\":{\"deep\":{\"er\":[1.0]}}}}",
        "{\"big\":9223372036854775807,\"small\":-9223372036854775808,\"e\":1e300,\"z\":-0.0}",
        "{\"uni\":\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x92\xa9\",\"nul\":\"a\\u0000b\",\"\":\"empty key\"}",
        "{\"dotted.key\":1,\"host\":{\"name\":\"ws5\",\"ip\":[\"10.0.0.5\",\"::1\"]}}",
    };
    rt t;
    rt_open(&t, open_file(SCHEMAS "/event.avsc"), SCHEMAS "/event.avsc");
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        rt_check(&t, docs[i], strlen(docs[i]), -1);
    rt_close(&t);
}
END_TEST

/* every line of every sample, through a plain and a Confluent codec */
START_TEST(test_event_round_trip_samples)
{
    rt plain, conf;
    rt_open(&plain, open_file(SCHEMAS "/event.avsc"), SCHEMAS "/event.avsc");
    vgl_avro_codec *dc = vgl_avro_codec_from_dir(TEST_SCHEMAS, err, sizeof(err));
    ck_assert_msg(dc != NULL, "%s", err);
    rt_open(&conf, dc, TEST_SCHEMAS "/1.avsc");
    const char *dir = VGL_TEST_DATA "/samples";
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    size_t files = 0, lines = 0;
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl < 6 || strcmp(de->d_name + nl - 6, ".jsonl") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
            rt_check(&plain, line, (size_t)n, -1);
            rt_check(&conf, line, (size_t)n, 1);
            lines++;
        }
        free(line);
        fclose(f);
        files++;
    }
    closedir(d);
    ck_assert_uint_eq(files, 10);
    ck_assert_uint_eq(lines, 227);
    rt_close(&plain);
    rt_close(&conf);
}
END_TEST

/* ------------------------------------------ every type (tests/data/schemas/2.avsc) */

typedef struct bb {
    unsigned char d[512];
    size_t n;
} bb;

static void bb_raw(bb *b, const void *p, size_t n)
{
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void bb_long(bb *b, int64_t v)
{
    uint64_t u = v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
    while (u >= 0x80) {
        b->d[b->n++] = (unsigned char)(u | 0x80);
        u >>= 7;
    }
    b->d[b->n++] = (unsigned char)u;
}

static void bb_str(bb *b, const char *s, size_t n)
{
    bb_long(b, (int64_t)n);
    bb_raw(b, s, n);
}

/* Offsets of some fields in the typed record built below. */
typedef struct typed_offsets {
    size_t i, s, color, opt, tags, nulls, child_next;
} typed_offsets;

/* The typed record, assembled by hand from the Avro spec. */
static void typed_bytes(bb *b, typed_offsets *o)
{
    float f = 1.5f;
    double d = 0.25;
    b->n = 0;
    b->d[b->n++] = 1;                   /* b */
    o->i = b->n;
    bb_long(b, -5);                     /* i */
    bb_long(b, 1234567890123);          /* l */
    bb_raw(b, &f, 4);                   /* f (little-endian host) */
    bb_raw(b, &d, 8);                   /* d */
    o->s = b->n;
    bb_str(b, "h\xc3\xa9llo", 6);       /* s */
    bb_str(b, "\x00\x01\x02\xff", 4);   /* raw */
    bb_raw(b, "abcd", 4);               /* fx */
    o->color = b->n;
    bb_long(b, 1);                      /* color GREEN */
    o->opt = b->n;
    bb_long(b, 2);                      /* opt: branch long */
    bb_long(b, 42);
    o->tags = b->n;
    bb_long(b, 2);                      /* tags */
    bb_str(b, "x", 1);
    bb_str(b, "y", 1);
    bb_long(b, 0);
    bb_long(b, 1);                      /* attrs */
    bb_str(b, "k", 1);
    bb_long(b, 7);
    bb_long(b, 0);
    bb_long(b, 1);                      /* child: Node */
    bb_str(b, "n1", 2);
    o->child_next = b->n;
    bb_long(b, 1);                      /* next: Node */
    bb_str(b, "n2", 2);
    bb_long(b, 0);                      /* next: null */
    o->nulls = b->n;
    bb_long(b, 2);                      /* nulls: two of zero bytes */
    bb_long(b, 0);
    bb_str(b, "none", 4);               /* note */
    bb_str(b, "\xff\x01", 2);           /* magic */
}

static const char typed_json[] =
    "{\"b\":true,\"i\":-5,\"l\":1234567890123,\"f\":1.5,\"d\":0.25,\"s\":\"h\xc3\xa9llo\","
    "\"raw\":\"AAEC/w==\",\"fx\":\"abcd\",\"color\":\"GREEN\",\"opt\":42,\"tags\":[\"x\",\"y\"],"
    "\"attrs\":{\"k\":7},\"child\":{\"name\":\"n1\",\"next\":{\"name\":\"n2\",\"next\":null}},"
    "\"nulls\":[null,null],\"note\":\"none\",\"magic\":\"/wE=\"}";

/* The same record written by Avro C. */
static size_t typed_avro_c(avro_schema_t s, char *out, size_t cap)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t v, f, x, y;
    ck_assert_int_eq(avro_generic_value_new(iface, &v), 0);
    avro_value_get_by_name(&v, "b", &f, NULL);
    avro_value_set_boolean(&f, 1);
    avro_value_get_by_name(&v, "i", &f, NULL);
    avro_value_set_int(&f, -5);
    avro_value_get_by_name(&v, "l", &f, NULL);
    avro_value_set_long(&f, 1234567890123);
    avro_value_get_by_name(&v, "f", &f, NULL);
    avro_value_set_float(&f, 1.5f);
    avro_value_get_by_name(&v, "d", &f, NULL);
    avro_value_set_double(&f, 0.25);
    avro_value_get_by_name(&v, "s", &f, NULL);
    avro_value_set_string(&f, "h\xc3\xa9llo");
    avro_value_get_by_name(&v, "raw", &f, NULL);
    avro_value_set_bytes(&f, "\x00\x01\x02\xff", 4);
    avro_value_get_by_name(&v, "fx", &f, NULL);
    avro_value_set_fixed(&f, "abcd", 4);
    avro_value_get_by_name(&v, "color", &f, NULL);
    avro_value_set_enum(&f, 1);
    avro_value_get_by_name(&v, "opt", &f, NULL);
    avro_value_set_branch(&f, 2, &x);
    avro_value_set_long(&x, 42);
    avro_value_get_by_name(&v, "tags", &f, NULL);
    avro_value_append(&f, &x, NULL);
    avro_value_set_string(&x, "x");
    avro_value_append(&f, &x, NULL);
    avro_value_set_string(&x, "y");
    avro_value_get_by_name(&v, "attrs", &f, NULL);
    avro_value_add(&f, "k", &x, NULL, NULL);
    avro_value_set_long(&x, 7);
    avro_value_get_by_name(&v, "child", &f, NULL);
    avro_value_set_branch(&f, 1, &x);
    avro_value_get_by_name(&x, "name", &y, NULL);
    avro_value_set_string(&y, "n1");
    avro_value_get_by_name(&x, "next", &y, NULL);
    avro_value_set_branch(&y, 1, &x);
    avro_value_get_by_name(&x, "name", &y, NULL);
    avro_value_set_string(&y, "n2");
    avro_value_get_by_name(&x, "next", &y, NULL);
    avro_value_set_branch(&y, 0, &x);
    avro_value_set_null(&x);
    avro_value_get_by_name(&v, "nulls", &f, NULL);
    avro_value_append(&f, &x, NULL);
    avro_value_set_null(&x);
    avro_value_append(&f, &x, NULL);
    avro_value_set_null(&x);
    avro_value_get_by_name(&v, "note", &f, NULL);
    avro_value_set_string(&f, "none");
    avro_value_get_by_name(&v, "magic", &f, NULL);
    avro_value_set_bytes(&f, "\xff\x01", 2);
    avro_writer_t wr = avro_writer_memory(out, (int64_t)cap);
    ck_assert_msg(avro_value_write(wr, &v) == 0, "%s", avro_strerror());
    size_t n = (size_t)avro_writer_tell(wr);
    avro_writer_free(wr);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    return n;
}

static vgl_avro_codec *typed_codec;
static vgl_avro_ctx *typed_ctx;

static void typed_setup(void)
{
    setup();
    typed_codec = open_file(TEST_SCHEMAS "/2.avsc");
    typed_ctx = vgl_avro_ctx_new(typed_codec);
}

static void typed_teardown(void)
{
    vgl_avro_ctx_free(typed_ctx);
    vgl_avro_codec_free(typed_codec);
    teardown();
}

static vgl_rc typed_decode(const void *buf, size_t len, const vgl_decode_limits *lim)
{
    vgl_event_reset(&ev);
    return vgl_avro_decode(typed_ctx, &ev, buf, len, lim, err, sizeof(err));
}

START_TEST(test_typed_decode)
{
    bb b;
    typed_offsets o;
    typed_bytes(&b, &o);
    /* our reading of the spec is Avro C's */
    avro_schema_t s = avro_c_schema(TEST_SCHEMAS "/2.avsc");
    char ref[512];
    size_t n = typed_avro_c(s, ref, sizeof(ref));
    ck_assert_uint_eq(n, b.n);
    ck_assert_mem_eq(ref, b.d, n);
    avro_schema_decref(s);

    ck_assert_msg(typed_decode(b.d, b.n, NULL) == VGL_OK, "%s", err);
    char *out = to_json(&ev.root);
    ck_assert_str_eq(out, typed_json);
    free(out);

    /* a block with a negative count carries its size in bytes */
    bb neg = {.n = 0};
    bb_raw(&neg, b.d, o.tags);
    bb_long(&neg, -2);
    bb_long(&neg, 4);
    bb_str(&neg, "x", 1);
    bb_str(&neg, "y", 1);
    bb_long(&neg, 0);
    bb_raw(&neg, b.d + o.tags + 6, b.n - o.tags - 6);
    ck_assert_msg(typed_decode(neg.d, neg.n, NULL) == VGL_OK, "%s", err);
    out = to_json(&ev.root);
    ck_assert_str_eq(out, typed_json);
    free(out);
}
END_TEST

START_TEST(test_typed_encode)
{
    /* missing fields take their defaults; the int goes into a float */
    const char *in = "{\"b\":false,\"i\":2147483647,\"l\":-1,\"f\":3,\"d\":-0.5,\"s\":\"x\","
                     "\"raw\":\"text\",\"fx\":\"wxyz\",\"color\":\"BLUE\",\"tags\":[],"
                     "\"child\":{\"name\":\"only\"},\"ignored\":[1,2]}";
    vgl_event src;
    vgl_event_init(&src, 0);
    json_decode_ok(&src, in, strlen(in));
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    ck_assert_msg(vgl_avro_encode(typed_ctx, 0, &src.root, &bin, err, sizeof(err)) == VGL_OK,
                  "%s", err);
    /* Avro C reads it and sees the values */
    avro_schema_t s = avro_c_schema(TEST_SCHEMAS "/2.avsc");
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t v, f, x;
    avro_generic_value_new(iface, &v);
    avro_reader_t rd = avro_reader_memory(bin.data, (int64_t)bin.len);
    ck_assert_int_eq(avro_value_read(rd, &v), 0);
    int32_t i32 = 0;
    ck_assert_int_eq(avro_value_get_by_name(&v, "i", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_int(&f, &i32), 0);
    ck_assert_int_eq(i32, 2147483647);
    float fl = 0;
    ck_assert_int_eq(avro_value_get_by_name(&v, "f", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_float(&f, &fl), 0);
    ck_assert(fl == 3.0f);
    int e = -1;
    ck_assert_int_eq(avro_value_get_by_name(&v, "color", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_enum(&f, &e), 0);
    ck_assert_int_eq(e, 2);
    int disc = -1;
    ck_assert_int_eq(avro_value_get_by_name(&v, "opt", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &disc), 0);
    ck_assert_int_eq(disc, 0);
    const char *str = NULL;
    size_t sz = 0;
    ck_assert_int_eq(avro_value_get_by_name(&v, "note", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &str, &sz), 0);
    ck_assert_str_eq(str, "none");
    const void *bytes = NULL;
    ck_assert_int_eq(avro_value_get_by_name(&v, "magic", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_bytes(&f, &bytes, &sz), 0);
    ck_assert_uint_eq(sz, 2);
    ck_assert_mem_eq(bytes, "\xff\x01", 2);
    ck_assert_int_eq(avro_value_get_by_name(&v, "child", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &disc), 0);
    ck_assert_int_eq(disc, 1);
    ck_assert_int_eq(avro_value_get_current_branch(&f, &x), 0);
    ck_assert_int_eq(avro_value_get_by_name(&x, "next", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &disc), 0);
    ck_assert_int_eq(disc, 0);
    avro_reader_free(rd);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_c_same_bytes(s, bin.data, bin.len);
    avro_schema_decref(s);
    /* and we read it back */
    ck_assert_msg(typed_decode(bin.data, bin.len, NULL) == VGL_OK, "%s", err);
    char *out = to_json(&ev.root);
    ck_assert_str_eq(out, "{\"b\":false,\"i\":2147483647,\"l\":-1,\"f\":3.0,\"d\":-0.5,\"s\":\"x\","
                          "\"raw\":\"text\",\"fx\":\"wxyz\",\"color\":\"BLUE\",\"opt\":null,"
                          "\"tags\":[],\"attrs\":{},\"child\":{\"name\":\"only\",\"next\":null},"
                          "\"nulls\":[],\"note\":\"none\",\"magic\":\"/wE=\"}");
    free(out);
    vgl_buf_free(&bin);
    vgl_event_destroy(&src);
}
END_TEST

START_TEST(test_typed_encode_errors)
{
    static const struct {
        const char *json, *msg;
        vgl_rc rc;
    } cases[] = {
        {"{\"i\":1}", "field b: missing, and the schema gives no default", VGL_ERR_TYPE},
        {"{\"b\":1}", "field b: expected boolean, got int", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":3000000000}", "field i: 3000000000 is out of range for int",
         VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1.5}", "field l: expected long, got double", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":\"1\"}", "field f: expected float, got string",
         VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abc\"}",
         "field fx: expected 4 bytes for fixed test.Tag, got 3", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abcd\","
         "\"color\":\"PINK\"}",
         "field color: \"PINK\" is not a symbol of enum test.Color", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abcd\","
         "\"color\":\"RED\",\"opt\":[1]}",
         "field opt: no branch of union [null, string, long] holds array", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abcd\","
         "\"color\":\"RED\",\"tags\":[\"a\",2]}",
         "field tags[1]: expected string, got int", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abcd\","
         "\"color\":\"RED\",\"attrs\":{\"k\":\"v\"}}",
         "field attrs.k: expected long, got string", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abcd\","
         "\"color\":\"RED\",\"child\":{\"name\":\"a\",\"next\":{\"name\":\"b\",\"next\":{}}}}",
         "field child.next.next.name: missing, and the schema gives no default", VGL_ERR_TYPE},
        {"{\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"\",\"raw\":\"\",\"fx\":\"abcd\","
         "\"color\":\"RED\",\"child\":\"n1\"}",
         "field child: no branch of union [null, test.Node] holds string", VGL_ERR_TYPE},
    };
    vgl_event src;
    vgl_event_init(&src, 0);
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    vgl_buf_puts(&bin, "kept");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_decode_ok(&src, cases[i].json, strlen(cases[i].json));
        ck_assert_int_eq(vgl_avro_encode(typed_ctx, 0, &src.root, &bin, err, sizeof(err)),
                         cases[i].rc);
        ck_assert_str_eq(err, cases[i].msg);
        /* what was in the buffer before stays, nothing more */
        ck_assert_uint_eq(bin.len, 4);
        ck_assert_str_eq(bin.data, "kept");
    }
    vgl_value arr;
    vgl_value_set_array(&arr);
    ck_assert_int_eq(vgl_avro_encode(typed_ctx, 0, &arr, &bin, err, sizeof(err)), VGL_ERR_TYPE);
    ck_assert_str_eq(err, "cannot encode array as an Avro record: expected an object");
    vgl_buf_free(&bin);
    vgl_event_destroy(&src);
}
END_TEST

/* A copy of the first `upto` bytes of the typed record and then tail. */
static void patched(bb *out, const bb *b, size_t upto, const void *tail, size_t tlen)
{
    out->n = 0;
    bb_raw(out, b->d, upto);
    bb_raw(out, tail, tlen);
}

START_TEST(test_typed_hostile)
{
    bb b, p;
    typed_offsets o;
    typed_bytes(&b, &o);
    char want[256];

    patched(&p, &b, 0, "\x02", 1);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Avro at byte 0 (field b): invalid boolean byte 0x02");

    patched(&p, &b, o.i, "\x80\x80\x80\x80\x20", 5); /* zigzag 2^33: 2^32 */
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Avro at byte 1 (field i): int 4294967296 out of range");

    patched(&p, &b, o.i, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Avro at byte 1 (field i): varint longer than 64 bits");

    patched(&p, &b, o.s, "\x05", 1); /* -3 */
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field s): negative string length -3",
             o.s);
    ck_assert_str_eq(err, want);

    p.n = 0;
    bb_raw(&p, b.d, o.s);
    bb_long(&p, 1000000);
    bb_raw(&p, "abc", 3);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field s): string of 1000000 bytes "
             "runs past the end of the record (3 bytes left)", o.s);
    ck_assert_str_eq(err, want);

    patched(&p, &b, o.color, "\x06", 1);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field color): enum index 3 out of "
             "range (test.Color has 3 symbols)", o.color);
    ck_assert_str_eq(err, want);

    patched(&p, &b, o.opt, "\x0a", 1);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field opt): union branch 5 out of "
             "range (3 branches)", o.opt);
    ck_assert_str_eq(err, want);

    p.n = 0;
    bb_raw(&p, b.d, o.tags);
    bb_long(&p, 1000);
    bb_str(&p, "x", 1);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field tags): block of 1000 items "
             "runs past the end of the record (2 bytes left)", o.tags);
    ck_assert_str_eq(err, want);

    /* 2^62 nulls take no bytes: refused, not looped over */
    p.n = 0;
    bb_raw(&p, b.d, o.nulls);
    bb_long(&p, (int64_t)1 << 62);
    bb_long(&p, 0);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field nulls): block of "
             "4611686018427387904 zero-size items: more than the 65536 allowed in one record",
             o.nulls);
    ck_assert_str_eq(err, want);
    /* 65536 of them, in two blocks, are fine; one more is not */
    for (int extra = 0; extra < 2; extra++) {
        p.n = 0;
        bb_raw(&p, b.d, o.nulls);
        bb_long(&p, 65000);
        bb_long(&p, 536 + extra);
        bb_raw(&p, b.d + o.nulls + 1, b.n - o.nulls - 1);
        if (extra) {
            ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
            snprintf(want, sizeof(want), "invalid Avro at byte %zu (field nulls): block of 537 "
                     "zero-size items: more than the 65536 allowed in one record", o.nulls + 3);
            ck_assert_str_eq(err, want);
            continue;
        }
        ck_assert_msg(typed_decode(p.d, p.n, NULL) == VGL_OK, "%s", err);
        ck_assert_uint_eq(vgl_object_get(&ev.root, "nulls", 5, vgl_hash("nulls", 5))->n, 65536);
    }

    patched(&p, &b, o.child_next, "\x0e", 1);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field child.next): union branch 7 "
             "out of range (2 branches)", o.child_next);
    ck_assert_str_eq(err, want);

    p.n = 0;
    bb_raw(&p, b.d, b.n);
    bb_raw(&p, "\x00\x00", 2);
    ck_assert_int_eq(typed_decode(p.d, p.n, NULL), VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu: 2 bytes of trailing data after the "
             "record", b.n);
    ck_assert_str_eq(err, want);

    /* every truncation fails at the end of what is there, naming the field */
    for (size_t i = 0; i < b.n; i++) {
        ck_assert_int_eq(typed_decode(b.d, i, NULL), VGL_ERR_INVALID);
        snprintf(want, sizeof(want), "invalid Avro at byte %zu (field ", i);
        bool eof = strncmp(err, want, strlen(want)) == 0 &&
                   strcmp(err + strlen(err) - 24, "unexpected end of record") == 0;
        bool past = strstr(err, "runs past the end of the record") != NULL;
        ck_assert_msg(eof || past, "prefix %zu: %s", i, err);
    }
    ck_assert_int_eq(typed_decode(b.d, 1, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Avro at byte 1 (field i): unexpected end of record");
    ck_assert_int_eq(typed_decode(b.d, 0, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Avro at byte 0 (field b): unexpected end of record");

    /* limits */
    vgl_decode_limits lim = {.max_bytes = 10};
    ck_assert_int_eq(typed_decode(b.d, b.n, &lim), VGL_ERR_TOOBIG);
    snprintf(want, sizeof(want), "message of %zu bytes exceeds the limit of 10 bytes", b.n);
    ck_assert_str_eq(err, want);
    lim = (vgl_decode_limits){.max_depth = 2};
    ck_assert_int_eq(typed_decode(b.d, b.n, &lim), VGL_ERR_TOOBIG);
    snprintf(want, sizeof(want), "nesting deeper than 2 at byte %zu (field child.next)",
             o.child_next + 1);
    ck_assert_str_eq(err, want);

    /* mutations of a valid record: decoded or refused, never a crash */
    unsigned seed = 99;
    for (int round = 0; round < 20000; round++) {
        p.n = 0;
        bb_raw(&p, b.d, b.n);
        int flips = 1 + rand_r(&seed) % 4;
        for (int k = 0; k < flips; k++)
            p.d[(size_t)rand_r(&seed) % p.n] = (unsigned char)rand_r(&seed);
        size_t len = (size_t)rand_r(&seed) % 3 ? p.n : (size_t)rand_r(&seed) % p.n;
        vgl_rc rc = typed_decode(p.d, len, NULL);
        ck_assert_msg(rc == VGL_OK || rc == VGL_ERR_INVALID, "%d %s", rc, err);
        if (rc == VGL_ERR_INVALID)
            ck_assert_msg(strncmp(err, "invalid Avro at byte ", 21) == 0, "%s", err);
    }
}
END_TEST

START_TEST(test_typed_memory_limit)
{
    bb b;
    typed_offsets o;
    typed_bytes(&b, &o);
    vgl_event small;
    vgl_event_init(&small, 128);
    ck_assert_int_eq(vgl_avro_decode(typed_ctx, &small, b.d, b.n, NULL, err, sizeof(err)),
                     VGL_ERR_TOOBIG);
    ck_assert_msg(strncmp(err, "event exceeds its memory limit of 128 bytes at byte ", 52) == 0,
                  "%s", err);
    vgl_event_destroy(&small);
    /* the root must be empty */
    ck_assert_int_eq(typed_decode(b.d, b.n, NULL), VGL_OK);
    ck_assert_int_eq(vgl_avro_decode(typed_ctx, &ev, b.d, b.n, NULL, err, sizeof(err)),
                     VGL_ERR_STATE);
    ck_assert_str_eq(err, "event is not empty: reset it before decoding");
}
END_TEST

/* ---------------------------------------------------------------- Confluent */

START_TEST(test_confluent)
{
    vgl_avro_codec *c = vgl_avro_codec_from_dir(TEST_SCHEMAS, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    vgl_avro_ctx *x = vgl_avro_ctx_new(c);
    bb b, p;
    typed_offsets o;
    typed_bytes(&b, &o);
    char want[512];

    /* schema 2 behind a header */
    p.n = 0;
    bb_raw(&p, "\x00\x00\x00\x00\x02", 5);
    bb_raw(&p, b.d, b.n);
    ck_assert_msg(vgl_avro_decode(x, &ev, p.d, p.n, NULL, err, sizeof(err)) == VGL_OK, "%s", err);
    char *out = to_json(&ev.root);
    ck_assert_str_eq(out, typed_json);
    free(out);
    /* encoded back with the same id and decoded again: the same event
     * (bytes fields come back as the base64 text they decoded to) */
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    vgl_event copy;
    vgl_event_init(&copy, 0);
    ck_assert_int_eq(vgl_avro_encode(x, 2, &ev.root, &bin, err, sizeof(err)), VGL_OK);
    ck_assert_mem_eq(bin.data, "\x00\x00\x00\x00\x02", 5);
    ck_assert_int_eq(vgl_avro_decode(x, &copy, bin.data, bin.len, NULL, err, sizeof(err)), VGL_OK);
    out = to_json(&copy.root);
    ck_assert_str_eq(out, typed_json);
    free(out);

    /* unknown id, both ways */
    vgl_event_reset(&ev);
    ck_assert_int_eq(vgl_avro_decode(x, &ev, "\x00\x00\x00\x00\x2a\x00", 6, NULL, err, sizeof(err)),
                     VGL_ERR_NOTFOUND);
    snprintf(want, sizeof(want), "unknown schema id 42 (no 42.avsc in %s)", TEST_SCHEMAS);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(vgl_avro_encode(x, 42, &copy.root, &bin, err, sizeof(err)), VGL_ERR_NOTFOUND);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(vgl_avro_decode(x, &ev, "\x00\xff\xff\xff\xff", 5, NULL, err, sizeof(err)),
                     VGL_ERR_NOTFOUND);
    snprintf(want, sizeof(want), "unknown schema id -1 (no -1.avsc in %s)", TEST_SCHEMAS);
    ck_assert_str_eq(err, want);

    /* wrong magic byte, short records */
    ck_assert_int_eq(vgl_avro_decode(x, &ev, "\x01\x00\x00\x00\x02\x00", 6, NULL, err,
                                     sizeof(err)),
                     VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Confluent header: magic byte is 0x01, expected 0x00");
    ck_assert_int_eq(vgl_avro_decode(x, &ev, "{\"a\":1}", 7, NULL, err, sizeof(err)),
                     VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid Confluent header: magic byte is 0x7b, expected 0x00 "
                          "(JSON data?)");
    ck_assert_int_eq(vgl_avro_decode(x, &ev, "\x00\x00\x00", 3, NULL, err, sizeof(err)),
                     VGL_ERR_INVALID);
    ck_assert_str_eq(err, "record of 3 bytes is shorter than the 5-byte Confluent header");
    ck_assert_int_eq(vgl_avro_decode(x, &ev, "", 0, NULL, err, sizeof(err)), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "record of 0 bytes is shorter than the 5-byte Confluent header");

    /* truncated after the header: offsets count the header */
    ck_assert_int_eq(vgl_avro_decode(x, &ev, p.d, 5 + o.s + 3, NULL, err, sizeof(err)),
                     VGL_ERR_INVALID);
    snprintf(want, sizeof(want), "invalid Avro at byte %zu (field s): string of 6 bytes runs "
             "past the end of the record (2 bytes left)", 5 + o.s);
    ck_assert_str_eq(err, want);

    /* random records with a valid header: refused or decoded, never a crash */
    unsigned seed = 5;
    for (int round = 0; round < 20000; round++) {
        unsigned char r[64] = {0, 0, 0, 0, (unsigned char)(1 + rand_r(&seed) % 2)};
        size_t n = 5 + (size_t)rand_r(&seed) % 59;
        for (size_t i = 5; i < n; i++)
            r[i] = (unsigned char)rand_r(&seed);
        vgl_event_reset(&ev);
        vgl_rc rc = vgl_avro_decode(x, &ev, r, n, NULL, err, sizeof(err));
        ck_assert_msg(rc == VGL_OK || rc == VGL_ERR_INVALID || rc == VGL_ERR_TOOBIG, "%d %s", rc,
                      err);
    }
    vgl_event_destroy(&copy);
    vgl_buf_free(&bin);
    vgl_avro_ctx_free(x);
    vgl_avro_codec_free(c);
}
END_TEST

START_TEST(test_event_depth)
{
    vgl_avro_codec *c = open_file(SCHEMAS "/event.avsc");
    vgl_avro_ctx *x = vgl_avro_ctx_new(c);
    /* {"a":{"b":{"c":1}}}: maps at bytes 0, 4 and 8 */
    vgl_event src;
    vgl_event_init(&src, 0);
    json_decode_ok(&src, "{\"a\":{\"b\":{\"c\":1}}}", 19);
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    ck_assert_int_eq(vgl_avro_encode(x, 0, &src.root, &bin, err, sizeof(err)), VGL_OK);
    vgl_decode_limits lim = {.max_depth = 2};
    ck_assert_int_eq(vgl_avro_decode(x, &ev, bin.data, bin.len, &lim, err, sizeof(err)),
                     VGL_ERR_TOOBIG);
    ck_assert_str_eq(err, "nesting deeper than 2 at byte 8 (field a.b)");
    lim.max_depth = 3;
    vgl_event_reset(&ev);
    ck_assert_int_eq(vgl_avro_decode(x, &ev, bin.data, bin.len, &lim, err, sizeof(err)), VGL_OK);

    /* 10,000 nested maps {"a":{"a":...}}: refused at the limit, no deep
     * recursion */
    size_t levels = 10000;
    unsigned char *d = malloc(levels * 5 + 8);
    size_t n = 0;
    for (size_t i = 0; i < levels; i++) {
        memcpy(d + n, "\x02\x02" "a\x0c", 4); /* 1 entry, key "a", Value branch map */
        n += 4;
    }
    d[n++] = 0;
    for (size_t i = 0; i < levels; i++)
        d[n++] = 0;
    vgl_event_reset(&ev);
    ck_assert_int_eq(vgl_avro_decode(x, &ev, d, n, NULL, err, sizeof(err)), VGL_ERR_TOOBIG);
    char want[256] = "nesting deeper than 64 at byte 256 (field ...";
    for (int i = 0; i < 32; i++)
        strcat(want, i ? ".a" : "a");
    strcat(want, ")");
    ck_assert_str_eq(err, want);
    free(d);

    /* a value deeper than the encoder follows */
    size_t jl = 0;
    char *j = malloc(levels * 2 + 16);
    jl += (size_t)sprintf(j, "{\"a\":");
    memset(j + jl, '[', levels);
    jl += levels;
    memset(j + jl, ']', levels);
    jl += levels;
    j[jl++] = '}';
    vgl_event_reset(&src);
    vgl_decode_limits jlim = {.max_depth = 20000};
    ck_assert_int_eq(vgl_json_decode(&src, j, jl, &jlim, err, sizeof(err)), VGL_OK);
    vgl_buf_reset(&bin);
    ck_assert_int_eq(vgl_avro_encode(x, 0, &src.root, &bin, err, sizeof(err)), VGL_ERR_TOOBIG);
    ck_assert_msg(strstr(err, "value nested deeper than 1024 schema types") != NULL, "%s", err);
    ck_assert_uint_eq(bin.len, 0);
    free(j);

    vgl_buf_free(&bin);
    vgl_event_destroy(&src);
    vgl_avro_ctx_free(x);
    vgl_avro_codec_free(c);
}
END_TEST

/* ------------------------------------------------- alert, incident, action */

typedef struct shipped_case {
    const char *schema, *in, *out;
} shipped_case;

static const shipped_case shipped[] = {
    {"alert",
     "{\"alert_id\":\"a-1\",\"rule_id\":\"win.mshta_vbscript\",\"title\":\"mshta runs VBScript\","
     "\"severity\":\"high\",\"technique\":\"T1218.005\",\"time\":\"2020-10-22T02:57:59.857Z\","
     "\"entities\":[{\"type\":\"host\",\"value\":\"WORKSTATION5\"},{\"type\":\"user\",\"value\":"
     "\"pgustavo\"}],\"evidence\":[{\"topic\":\"winlog\",\"partition\":3,\"offset\":1234567890123,"
     "\"fields\":{\"Image\":\"C:\\\\Windows\\\\System32\\\\mshta.exe\"}}],\"tags\":[\"lolbin\"]}",
     "{\"alert_id\":\"a-1\",\"rule_id\":\"win.mshta_vbscript\",\"title\":\"mshta runs VBScript\","
     "\"description\":null,\"severity\":\"high\",\"tactic\":null,\"technique\":\"T1218.005\","
     "\"time\":\"2020-10-22T02:57:59.857Z\",\"entities\":[{\"type\":\"host\",\"value\":"
     "\"WORKSTATION5\"},{\"type\":\"user\",\"value\":\"pgustavo\"}],\"evidence\":[{\"topic\":"
     "\"winlog\",\"partition\":3,\"offset\":1234567890123,\"time\":null,\"fields\":{\"Image\":"
     "\"C:\\\\Windows\\\\System32\\\\mshta.exe\"}}],\"tags\":[\"lolbin\"]}"},
    {"incident",
     "{\"incident_id\":\"i-9\",\"title\":\"Credential access on WORKSTATION5\",\"severity\":"
     "\"critical\",\"status\":\"updated\",\"first_seen\":\"2020-10-19T12:28:31.000Z\","
     "\"last_seen\":\"2020-10-19T12:30:00.000Z\",\"tactics\":[\"credential-access\"],"
     "\"techniques\":[\"T1003.002\"],\"entities\":[{\"type\":\"host\",\"value\":\"WORKSTATION5\"}],"
     "\"alert_ids\":[\"a-1\",\"a-2\"],\"alert_count\":2,\"version\":2}",
     "{\"incident_id\":\"i-9\",\"title\":\"Credential access on WORKSTATION5\",\"severity\":"
     "\"critical\",\"status\":\"updated\",\"first_seen\":\"2020-10-19T12:28:31.000Z\","
     "\"last_seen\":\"2020-10-19T12:30:00.000Z\",\"tactics\":[\"credential-access\"],"
     "\"techniques\":[\"T1003.002\"],\"entities\":[{\"type\":\"host\",\"value\":\"WORKSTATION5\"}],"
     "\"alert_ids\":[\"a-1\",\"a-2\"],\"alert_count\":2,\"suppressed_count\":0,\"version\":2,"
     "\"rule_ids\":[]}"},
    {"action",
     "{\"action_id\":\"x-3\",\"action\":\"isolate_host\",\"target\":{\"type\":\"host\",\"value\":"
     "\"WORKSTATION5\"},\"incident_id\":\"i-9\",\"rule_ids\":[\"win.sam_copy\"],\"reason\":"
     "\"SAM hive copied\",\"requested_at\":\"2020-10-19T12:28:32.000Z\",\"dry_run\":true,"
     "\"status\":\"refused_protected\",\"error\":\"host is on the protected list\","
     "\"params\":{\"mode\":\"full\"}}",
     "{\"action_id\":\"x-3\",\"action\":\"isolate_host\",\"target\":{\"type\":\"host\",\"value\":"
     "\"WORKSTATION5\"},\"incident_id\":\"i-9\",\"rule_ids\":[\"win.sam_copy\"],\"reason\":"
     "\"SAM hive copied\",\"requested_at\":\"2020-10-19T12:28:32.000Z\",\"dry_run\":true,"
     "\"expires_at\":null,\"status\":\"refused_protected\",\"error\":\"host is on the protected "
     "list\",\"params\":{\"mode\":\"full\"},\"automation\":null,\"finished_at\":null,"
     "\"responder\":null}"},
};

START_TEST(test_shipped_encode)
{
    const shipped_case *sc = &shipped[_i];
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.avsc", SCHEMAS, sc->schema);
    vgl_avro_codec *c = open_file(path);
    vgl_avro_ctx *x = vgl_avro_ctx_new(c);
    vgl_event src;
    vgl_event_init(&src, 0);
    json_decode_ok(&src, sc->in, strlen(sc->in));
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    ck_assert_msg(vgl_avro_encode(x, 0, &src.root, &bin, err, sizeof(err)) == VGL_OK, "%s", err);
    avro_schema_t as = avro_c_schema(path);
    avro_c_same_bytes(as, bin.data, bin.len);
    /* Avro C sees the first field */
    avro_value_iface_t *iface = avro_generic_class_from_schema(as);
    avro_value_t v, f;
    avro_generic_value_new(iface, &v);
    avro_reader_t rd = avro_reader_memory(bin.data, (int64_t)bin.len);
    ck_assert_int_eq(avro_value_read(rd, &v), 0);
    const char *s = NULL;
    size_t sz = 0;
    ck_assert_int_eq(avro_value_get_by_index(&v, 0, &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &s, &sz), 0);
    ck_assert_str_eq(s, _i == 0 ? "a-1" : _i == 1 ? "i-9" : "x-3");
    avro_reader_free(rd);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(as);
    ck_assert_msg(vgl_avro_decode(x, &ev, bin.data, bin.len, NULL, err, sizeof(err)) == VGL_OK,
                  "%s", err);
    char *out = to_json(&ev.root);
    ck_assert_str_eq(out, sc->out);
    free(out);
    vgl_buf_free(&bin);
    vgl_event_destroy(&src);
    vgl_avro_ctx_free(x);
    vgl_avro_codec_free(c);
}
END_TEST

START_TEST(test_shipped_encode_errors)
{
    vgl_avro_codec *c = open_file(SCHEMAS "/alert.avsc");
    vgl_avro_ctx *x = vgl_avro_ctx_new(c);
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"{\"rule_id\":\"r\"}", "field alert_id: missing, and the schema gives no default"},
        {"{\"alert_id\":\"a\",\"rule_id\":\"r\",\"title\":\"t\",\"description\":5}",
         "field description: no branch of union [null, string] holds int"},
        {"{\"alert_id\":\"a\",\"rule_id\":\"r\",\"title\":\"t\",\"severity\":\"low\","
         "\"time\":\"x\",\"evidence\":[{\"topic\":\"t\",\"partition\":\"3\",\"offset\":1}]}",
         "field evidence[0].partition: expected int, got string"},
        {"{\"alert_id\":\"a\",\"rule_id\":\"r\",\"title\":\"t\",\"severity\":\"low\","
         "\"time\":\"x\",\"evidence\":[{\"topic\":\"t\",\"partition\":0,\"offset\":1},"
         "{\"topic\":\"t\",\"partition\":3000000000,\"offset\":1}]}",
         "field evidence[1].partition: 3000000000 is out of range for int"},
        {"{\"alert_id\":\"a\",\"rule_id\":\"r\",\"title\":\"t\",\"severity\":\"low\","
         "\"time\":\"x\",\"evidence\":[{\"topic\":\"t\",\"partition\":0,\"offset\":1,"
         "\"fields\":{\"EventID\":4624}}]}",
         "field evidence[0].fields.EventID: expected string, got int"},
        {"{\"alert_id\":\"a\",\"rule_id\":\"r\",\"title\":\"t\",\"severity\":\"low\","
         "\"time\":\"x\",\"entities\":[{\"type\":\"host\"}]}",
         "field entities[0].value: missing, and the schema gives no default"},
    };
    vgl_event src;
    vgl_event_init(&src, 0);
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_decode_ok(&src, cases[i].in, strlen(cases[i].in));
        ck_assert_int_eq(vgl_avro_encode(x, 0, &src.root, &bin, err, sizeof(err)), VGL_ERR_TYPE);
        ck_assert_str_eq(err, cases[i].msg);
        ck_assert_uint_eq(bin.len, 0);
    }
    vgl_buf_free(&bin);
    vgl_event_destroy(&src);
    vgl_avro_ctx_free(x);
    vgl_avro_codec_free(c);
}
END_TEST

/* ------------------------------------------------------------------ threads */

typedef struct worker {
    vgl_avro_codec *c;
    const vgl_buf *in;
    const char *want;
    int ok;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    vgl_avro_ctx *x = vgl_avro_ctx_new(w->c);
    vgl_event e;
    vgl_event_init(&e, 0);
    vgl_buf out;
    vgl_buf_init(&out, 0);
    char e_err[256];
    w->ok = 1;
    for (int i = 0; i < 2000 && w->ok; i++) {
        vgl_event_reset(&e);
        vgl_buf_reset(&out);
        if (vgl_avro_decode(x, &e, w->in->data, w->in->len, NULL, e_err, sizeof(e_err)) != VGL_OK ||
            vgl_json_encode_event(&out, &e) != VGL_OK || strcmp(out.data, w->want) != 0)
            w->ok = 0;
    }
    vgl_buf_free(&out);
    vgl_event_destroy(&e);
    vgl_avro_ctx_free(x);
    return NULL;
}

START_TEST(test_shared_codec_threads)
{
    vgl_avro_codec *c = open_file(SCHEMAS "/event.avsc");
    vgl_avro_ctx *x = vgl_avro_ctx_new(c);
    const char *doc = "{\"host\":{\"name\":\"ws5\",\"ip\":[\"10.0.0.5\"]},\"EventID\":4624,"
                      "\"ok\":true,\"score\":0.5}";
    json_decode_ok(&ev, doc, strlen(doc));
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    ck_assert_int_eq(vgl_avro_encode(x, 0, &ev.root, &bin, err, sizeof(err)), VGL_OK);
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.c = c, .in = &bin, .want = doc};
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].ok, 1);
    }
    vgl_buf_free(&bin);
    vgl_avro_ctx_free(x);
    vgl_avro_codec_free(c);
}
END_TEST

static Suite *codec_avro_suite(void)
{
    Suite *s = suite_create("codec_avro");
    TCase *tc = tcase_create("schemas");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_shipped_schemas_parse);
    tcase_add_test(tc, test_open_errors);
    tcase_add_loop_test(tc, test_shipped_encode, 0, (int)(sizeof(shipped) / sizeof(shipped[0])));
    tcase_add_test(tc, test_shipped_encode_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("event");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_event_wire_format);
    tcase_add_test(tc, test_event_round_trip);
    tcase_add_test(tc, test_event_round_trip_samples);
    tcase_add_test(tc, test_event_depth);
    tcase_add_test(tc, test_confluent);
    tcase_add_test(tc, test_shared_codec_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("typed");
    tcase_add_checked_fixture(tc, typed_setup, typed_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_typed_decode);
    tcase_add_test(tc, test_typed_encode);
    tcase_add_test(tc, test_typed_encode_errors);
    tcase_add_test(tc, test_typed_hostile);
    tcase_add_test(tc, test_typed_memory_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_avro_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vgl_path_registry_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
