/* Tests of the JSON codec (core/codec_json.c): exact errors with byte
 * offsets, limits, UTF-8 repair, numbers, and round trips checked against
 * jansson as an independent oracle. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#ifndef VGL_TEST_DATA
#define VGL_TEST_DATA "tests/data"
#endif

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

static vgl_rc decode_lim(const char *s, size_t len, const vgl_decode_limits *lim)
{
    vgl_event_reset(&ev);
    return vgl_json_decode(&ev, s, len, lim, err, sizeof(err));
}

static vgl_rc decode(const char *s)
{
    return decode_lim(s, strlen(s), NULL);
}

/* The event's root as compact JSON; caller frees. */
static char *encode_root(void)
{
    vgl_buf b;
    vgl_buf_init(&b, 0);
    ck_assert_int_eq(vgl_json_encode_event(&b, &ev), VGL_OK);
    return b.data ? b.data : strdup("");
}

static const vgl_value *field(const char *key)
{
    return vgl_object_get(&ev.root, key, strlen(key), vgl_hash(key, strlen(key)));
}

/* --------------------------------------------------------------- errors */

typedef struct bad_case {
    const char *in;
    vgl_rc rc;
    const char *msg;
} bad_case;

static const bad_case syntax_cases[] = {
    {"{\"a\" 1}", VGL_ERR_INVALID, "invalid JSON at byte 5: expected ':' after object key"},
    {"{\"a\":1,}", VGL_ERR_INVALID, "invalid JSON at byte 7: expected a string key after ','"},
    {"{\"a\":1 \"b\":2}", VGL_ERR_INVALID,
     "invalid JSON at byte 7: expected ',' or '}' after an object member"},
    {"{\"a\":[1 2]}", VGL_ERR_INVALID,
     "invalid JSON at byte 8: expected ',' or ']' after an array item"},
    {"{\"a\":[1,]}", VGL_ERR_INVALID, "invalid JSON at byte 8: expected a value"},
    {"{\"a\":[}", VGL_ERR_INVALID, "invalid JSON at byte 6: expected a value"},
    {"{a:1}", VGL_ERR_INVALID, "invalid JSON at byte 1: expected a string key or '}'"},
    {"{\"a\":\"abc", VGL_ERR_INVALID, "invalid JSON at byte 5: unterminated string"},
    {"{\"a\":\"abc\\", VGL_ERR_INVALID, "invalid JSON at byte 5: unterminated string"},
    {"{\"abc", VGL_ERR_INVALID, "invalid JSON at byte 1: unterminated string"},
    {"{\"a\":\"x\\qy\"}", VGL_ERR_INVALID, "invalid JSON at byte 7: invalid escape"},
    {"{\"a\":\"\\u12G4\"}", VGL_ERR_INVALID, "invalid JSON at byte 6: invalid \\u escape"},
    {"{\"a\":\"\\u12\"}", VGL_ERR_INVALID, "invalid JSON at byte 6: invalid \\u escape"},
    {"{\"a\":\"x\ny\"}", VGL_ERR_INVALID,
     "invalid JSON at byte 7: unescaped control character 0x0a in string"},
    {"{\"a\":1} x", VGL_ERR_INVALID,
     "invalid JSON at byte 8: trailing data after the top-level object"},
    {"{\"a\":1}{}", VGL_ERR_INVALID,
     "invalid JSON at byte 7: trailing data after the top-level object"},
    {"{\"a\":", VGL_ERR_INVALID, "invalid JSON at byte 5: unexpected end of input"},
    {"{\"a\"", VGL_ERR_INVALID, "invalid JSON at byte 4: unexpected end of input"},
    {"{\"a\":1,", VGL_ERR_INVALID, "invalid JSON at byte 7: unexpected end of input"},
    {"{", VGL_ERR_INVALID, "invalid JSON at byte 1: unexpected end of input"},
    {"", VGL_ERR_INVALID, "invalid JSON at byte 0: unexpected end of input"},
    {" \t\r\n", VGL_ERR_INVALID, "invalid JSON at byte 4: unexpected end of input"},
    {"{\"a\":01}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":-}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":1.}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":1.e5}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":1e}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":1e+}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":-01}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid number"},
    {"{\"a\":.5}", VGL_ERR_INVALID, "invalid JSON at byte 5: expected a value"},
    {"{\"a\":+1}", VGL_ERR_INVALID, "invalid JSON at byte 5: expected a value"},
    {"{\"a\":NaN}", VGL_ERR_INVALID, "invalid JSON at byte 5: expected a value"},
    {"{\"a\":tru}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid literal"},
    {"{\"a\":nul}", VGL_ERR_INVALID, "invalid JSON at byte 5: invalid literal"},
    {"{\"a\":False}", VGL_ERR_INVALID, "invalid JSON at byte 5: expected a value"},
    {"{\"a\":'x'}", VGL_ERR_INVALID, "invalid JSON at byte 5: expected a value"},
    /* not an object */
    {"[1,2]", VGL_ERR_INVALID, "top-level JSON value is an array, expected an object"},
    {"  \"x\"", VGL_ERR_INVALID, "top-level JSON value is a string, expected an object"},
    {"-12", VGL_ERR_INVALID, "top-level JSON value is a number, expected an object"},
    {"42", VGL_ERR_INVALID, "top-level JSON value is a number, expected an object"},
    {"true", VGL_ERR_INVALID, "top-level JSON value is true, expected an object"},
    {"false", VGL_ERR_INVALID, "top-level JSON value is false, expected an object"},
    {"null", VGL_ERR_INVALID, "top-level JSON value is null, expected an object"},
    {"nul", VGL_ERR_INVALID, "invalid JSON at byte 0: expected '{', found 'n'"},
    {"<xml/>", VGL_ERR_INVALID, "invalid JSON at byte 0: expected '{', found '<'"},
};

START_TEST(test_syntax_errors)
{
    const bad_case *c = &syntax_cases[_i];
    size_t len = strlen(c->in);
    ck_assert_msg(decode_lim(c->in, len, NULL) == c->rc, "input %s: %s", c->in, err);
    ck_assert_str_eq(err, c->msg);
    /* a failed decode leaves an empty object */
    ck_assert_int_eq(ev.root.type, VGL_T_OBJECT);
    ck_assert_uint_eq(ev.root.n, 0);
}
END_TEST

START_TEST(test_binary_garbage)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    ck_assert_int_eq(decode_lim(png, sizeof(png) - 1, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 0: expected '{', found byte 0x89");
    /* a Confluent-framed Avro record sent to a JSON topic */
    static const char confluent[] = "\0\0\0\0\x01\x02\x06" "abc";
    ck_assert_int_eq(decode_lim(confluent, sizeof(confluent) - 1, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 0: expected '{', found byte 0x00 "
                          "(Avro or Confluent-framed data?)");
    /* a NUL after the object */
    ck_assert_int_eq(decode_lim("{\"a\":1}\0", 8, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 7: trailing data after the top-level object");
    /* garbage after a valid start */
    static const char mixed[] = "{\"a\":\xff\xfe}";
    ck_assert_int_eq(decode_lim(mixed, sizeof(mixed) - 1, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 5: expected a value");

    /* Random bytes (fixed seed), with and without a leading '{': every
     * one is rejected with a located error or accepted, never a crash. */
    unsigned seed = 12345;
    char buf[256];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
        for (size_t i = 0; i < n; i++) {
            int r = rand_r(&seed);
            /* bias towards JSON's own characters so parsing gets deep */
            static const char alphabet[] = "{}[]\":,0123456789-+.eE \\utrfalsn";
            buf[i] = r & 1 ? alphabet[(r >> 1) % (sizeof(alphabet) - 1)] : (char)(r >> 8);
        }
        if (n && round % 2)
            buf[0] = '{';
        vgl_rc rc = decode_lim(buf, n, NULL);
        if (rc == VGL_OK)
            continue;
        ck_assert_int_eq(rc, VGL_ERR_INVALID);
        size_t at;
        if (sscanf(err, "invalid JSON at byte %zu:", &at) == 1)
            ck_assert_uint_le(at, n);
        else
            ck_assert_msg(strstr(err, "top-level JSON value is ") == err, "%s", err);
    }
}
END_TEST

START_TEST(test_truncated)
{
    const char *doc = "{\"host\":{\"name\":\"ws5\",\"ip\":[\"10.0.0.5\",\"::1\"]},"
                      "\"EventID\":4624,\"ok\":true,\"score\":-1.5e3,\"note\":\"a\\u00e9\\n\"}";
    size_t n = strlen(doc);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(decode_lim(doc, i, NULL), VGL_ERR_INVALID);
        size_t at;
        ck_assert_msg(sscanf(err, "invalid JSON at byte %zu:", &at) == 1, "%zu: %s", i, err);
        ck_assert_uint_le(at, i);
    }
    ck_assert_int_eq(decode_lim(doc, n, NULL), VGL_OK);
    ck_assert_int_eq(decode_lim(doc, 47, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 47: unexpected end of input");
    ck_assert_int_eq(decode_lim(doc, 30, NULL), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 28: unterminated string");
}
END_TEST

START_TEST(test_too_big)
{
    size_t n = 2u << 20;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    memcpy(big, "{\"a\":\"", 6);
    memset(big + 6, 'x', n - 8);
    memcpy(big + n - 2, "\"}", 2);
    vgl_decode_limits lim = {.max_bytes = 1u << 20};
    ck_assert_int_eq(decode_lim(big, n, &lim), VGL_ERR_TOOBIG);
    ck_assert_str_eq(err, "message of 2097152 bytes exceeds the limit of 1048576 bytes");
    /* the same message without the limit decodes */
    ck_assert_int_eq(decode_lim(big, n, NULL), VGL_OK);
    ck_assert_uint_eq(field("a")->n, n - 8);
    /* exactly at the limit is fine */
    lim.max_bytes = n;
    ck_assert_int_eq(decode_lim(big, n, &lim), VGL_OK);
    free(big);
}
END_TEST

/* {"a":[[[...1...]]]} with `levels` containers including the root. */
static char *nested(size_t levels, size_t *len)
{
    size_t arrays = levels - 1;
    char *s = malloc(arrays * 2 + 16);
    size_t o = 0;
    o += (size_t)sprintf(s, "{\"a\":");
    memset(s + o, '[', arrays);
    o += arrays;
    s[o++] = '1';
    memset(s + o, ']', arrays);
    o += arrays;
    s[o++] = '}';
    s[o] = '\0';
    *len = o;
    return s;
}

START_TEST(test_depth)
{
    size_t len;
    char *s = nested(10000, &len);
    ck_assert_int_eq(decode_lim(s, len, NULL), VGL_ERR_TOOBIG);
    /* the root is level 1; the 64th '[' (level 65) is at byte 5 + 63 */
    ck_assert_str_eq(err, "nesting deeper than 64 at byte 68");
    vgl_decode_limits lim = {.max_depth = 100};
    ck_assert_int_eq(decode_lim(s, len, &lim), VGL_ERR_TOOBIG);
    ck_assert_str_eq(err, "nesting deeper than 100 at byte 104");
    free(s);

    s = nested(64, &len);
    ck_assert_int_eq(decode_lim(s, len, NULL), VGL_OK);
    free(s);
    s = nested(65, &len);
    ck_assert_int_eq(decode_lim(s, len, NULL), VGL_ERR_TOOBIG);
    free(s);

    /* a deep limit, for which the parser and encoder use the heap: 10,000
     * levels decode and encode back without recursion */
    s = nested(10000, &len);
    lim.max_depth = 10000;
    ck_assert_int_eq(decode_lim(s, len, &lim), VGL_OK);
    char *out = encode_root();
    ck_assert_str_eq(out, s);
    free(out);
    free(s);
    /* objects count too */
    ck_assert_int_eq(decode_lim("{\"a\":{\"b\":{\"c\":{}}}}", 21, &(vgl_decode_limits){.max_depth = 3}),
                     VGL_ERR_TOOBIG);
    ck_assert_str_eq(err, "nesting deeper than 3 at byte 15");
}
END_TEST

START_TEST(test_memory_limit)
{
    vgl_event small;
    vgl_event_init(&small, 256);
    const char *doc = "{\"k1\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                      "\"k2\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
                      "\"k3\":[1,2,3,4,5,6,7,8,9,10,11,12],\"k4\":{\"x\":1,\"y\":2}}";
    ck_assert_int_eq(vgl_json_decode(&small, doc, strlen(doc), NULL, err, sizeof(err)),
                     VGL_ERR_TOOBIG);
    ck_assert_msg(strncmp(err, "event exceeds its memory limit of 256 bytes at byte ", 52) == 0,
                  "%s", err);
    vgl_event_destroy(&small);
}
END_TEST

START_TEST(test_not_empty)
{
    ck_assert_int_eq(decode("{\"a\":1}"), VGL_OK);
    ck_assert_int_eq(vgl_json_decode(&ev, "{}", 2, NULL, err, sizeof(err)), VGL_ERR_STATE);
    ck_assert_str_eq(err, "event is not empty: reset it before decoding");
    /* err may be NULL */
    vgl_event_reset(&ev);
    ck_assert_int_eq(vgl_json_decode(&ev, "[", 1, NULL, NULL, 0), VGL_ERR_INVALID);
}
END_TEST

/* ---------------------------------------------------------------- values */

START_TEST(test_types)
{
    ck_assert_int_eq(decode(" {\"s\":\"x\", \"i\":-42, \"d\":2.5, \"t\":true, \"f\":false,\n"
                            "\"n\":null, \"a\":[1,\"b\",[]], \"o\":{\"k\":{}} }\r\n"),
                     VGL_OK);
    ck_assert_uint_eq(ev.root.n, 8);
    ck_assert_int_eq(field("s")->type, VGL_T_STRING);
    ck_assert_str_eq(field("s")->u.s, "x");
    ck_assert_int_eq(field("i")->type, VGL_T_INT);
    ck_assert_int_eq(field("i")->u.i, -42);
    ck_assert_int_eq(field("d")->type, VGL_T_DOUBLE);
    ck_assert_double_eq(field("d")->u.d, 2.5);
    ck_assert_int_eq(field("t")->type, VGL_T_BOOL);
    ck_assert(field("t")->u.b);
    ck_assert(!field("f")->u.b);
    ck_assert_int_eq(field("n")->type, VGL_T_NULL);
    const vgl_value *a = field("a");
    ck_assert_int_eq(a->type, VGL_T_ARRAY);
    ck_assert_uint_eq(a->n, 3);
    ck_assert_int_eq(a->u.items[0].u.i, 1);
    ck_assert_str_eq(a->u.items[1].u.s, "b");
    ck_assert_int_eq(a->u.items[2].type, VGL_T_ARRAY);
    ck_assert_uint_eq(a->u.items[2].n, 0);
    const vgl_value *o = field("o");
    ck_assert_int_eq(o->type, VGL_T_OBJECT);
    ck_assert_uint_eq(o->n, 1);
    ck_assert_str_eq(o->u.members[0].key, "k");
    ck_assert_uint_eq(o->u.members[0].khash, vgl_hash("k", 1));
    /* dotted-path lookup works on the decoded tree */
    ck_assert_int_eq(decode("{\"host\":{\"ip\":\"10.0.0.5\"}}"), VGL_OK);
    const vgl_value *ip = vgl_event_get(&ev, vgl_path_intern("host.ip"));
    ck_assert_ptr_nonnull(ip);
    ck_assert_str_eq(ip->u.s, "10.0.0.5");
    ck_assert_int_eq(decode("{}"), VGL_OK);
    ck_assert_uint_eq(ev.root.n, 0);
}
END_TEST

START_TEST(test_duplicate_keys)
{
    ck_assert_int_eq(decode("{\"a\":1,\"b\":0,\"a\":2}"), VGL_OK);
    ck_assert_uint_eq(ev.root.n, 3);
    ck_assert_int_eq(field("a")->u.i, 2); /* lookups see the last */
    char *out = encode_root();
    ck_assert_str_eq(out, "{\"a\":1,\"b\":0,\"a\":2}"); /* both kept */
    free(out);
}
END_TEST

START_TEST(test_strings)
{
    ck_assert_int_eq(decode("{\"e\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\","
                            "\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\","
                            "\"nul\":\"a\\u0000b\"}"),
                     VGL_OK);
    ck_assert_str_eq(field("e")->u.s, "q\"b\\s/b\bf\fn\nr\rt\t");
    ck_assert_str_eq(field("u")->u.s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    const vgl_value *nul = field("nul");
    ck_assert_uint_eq(nul->n, 3);
    ck_assert_mem_eq(nul->u.s, "a\0b", 4); /* inner NUL kept, NUL-terminated */
    char *out = encode_root();
    ck_assert_str_eq(out, "{\"e\":\"q\\\"b\\\\s/b\\bf\\fn\\nr\\rt\\t\","
                          "\"u\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"nul\":\"a\\u0000b\"}");
    free(out);
    /* keys are decoded the same way and hashed after decoding */
    ck_assert_int_eq(decode("{\"k\\u00e9y\":1}"), VGL_OK);
    ck_assert_ptr_nonnull(field("k\xc3\xa9y"));
}
END_TEST

START_TEST(test_surrogates)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"{\"s\":\"\\ud83d\\ude00\"}", "\xf0\x9f\x98\x80"},
        {"{\"s\":\"\\uD834\\uDD1E\"}", "\xf0\x9d\x84\x9e"},
        {"{\"s\":\"\\ud83dx\"}", "\xef\xbf\xbdx"},                  /* lone high */
        {"{\"s\":\"\\ude00\"}", "\xef\xbf\xbd"},                    /* lone low */
        {"{\"s\":\"\\ud83d\\u0041\"}", "\xef\xbf\xbd" "A"},         /* high + not low */
        {"{\"s\":\"\\ud83d\\ud83d\\ude00\"}", "\xef\xbf\xbd\xf0\x9f\x98\x80"},
        {"{\"s\":\"\\ud83d\"}", "\xef\xbf\xbd"},                    /* high at the end */
        {"{\"s\":\"\\udbff\\udfff\"}", "\xf4\x8f\xbf\xbf"},         /* U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(decode(cases[i].in), VGL_OK);
        ck_assert_str_eq(field("s")->u.s, cases[i].out);
        ck_assert_uint_eq(field("s")->n, strlen(cases[i].out));
    }
    ck_assert_int_eq(decode("{\"s\":\"\\ud83d\\uZZZZ\"}"), VGL_ERR_INVALID);
    ck_assert_str_eq(err, "invalid JSON at byte 12: invalid \\u escape");
}
END_TEST

START_TEST(test_invalid_utf8_replaced)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"{\"s\":\"x\xffy\"}", "x\xef\xbf\xbdy"},
        {"{\"s\":\"\xc3\xa9\"}", "\xc3\xa9"},                           /* valid */
        {"{\"s\":\"\xe2\x82\"}", "\xef\xbf\xbd\xef\xbf\xbd"},           /* truncated */
        {"{\"s\":\"\xc0\x80\"}", "\xef\xbf\xbd\xef\xbf\xbd"},           /* overlong NUL */
        {"{\"s\":\"\xed\xa0\x80\"}", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"{\"s\":\"\xf4\x90\x80\x80\"}",                                  /* > U+10FFFF */
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"{\"s\":\"\x80\"}", "\xef\xbf\xbd"},                           /* continuation */
        {"{\"s\":\"\xf0\x9f\x98\x80\"}", "\xf0\x9f\x98\x80"},           /* valid 4-byte */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(decode(cases[i].in) == VGL_OK, "case %zu: %s", i, err);
        ck_assert_str_eq(field("s")->u.s, cases[i].out);
        ck_assert_uint_eq(field("s")->n, strlen(cases[i].out));
    }
    /* in keys too, and the event stays detectable: the rest is intact */
    ck_assert_int_eq(decode("{\"k\xfe\":\"v\",\"CommandLine\":\"mimikatz\xff.exe\"}"), VGL_OK);
    ck_assert_ptr_nonnull(field("k\xef\xbf\xbd"));
    ck_assert_str_eq(field("CommandLine")->u.s, "mimikatz\xef\xbf\xbd.exe");

    /* A long string of bad bytes triples in size: beyond the string
     * area's first chunk. */
    size_t n = 20000;
    char *s = malloc(n + 16);
    memcpy(s, "{\"s\":\"", 6);
    memset(s + 6, 0xff, n);
    memcpy(s + 6 + n, "\"}", 2);
    ck_assert_int_eq(decode_lim(s, n + 8, NULL), VGL_OK);
    ck_assert_uint_eq(field("s")->n, 3 * n);
    for (size_t i = 0; i < 3 * n; i += 3)
        ck_assert_mem_eq(field("s")->u.s + i, "\xef\xbf\xbd", 3);
    free(s);
}
END_TEST

START_TEST(test_numbers)
{
    ck_assert_int_eq(decode("{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                            "\"over\":9223372036854775808,\"under\":-9223372036854775809,"
                            "\"huge\":123456789012345678901234567890,"
                            "\"zero\":0,\"negzero\":-0,\"dnegzero\":-0.0,"
                            "\"big\":1.7976931348623157e308,\"tiny\":5e-324,"
                            "\"uflow\":1e-400,\"oflow\":1e400,\"noflow\":-1E+400,"
                            "\"frac\":0.1,\"exp\":1.5e3,\"pi\":3.14159265358979323846264338327950288,"
                            "\"small\":0.000001234,\"e22\":1e22,\"e23\":1e23,\"lead\":0.0000000000000000000000001}"),
                     VGL_OK);
    ck_assert_int_eq(field("max")->type, VGL_T_INT);
    ck_assert_int_eq(field("max")->u.i, INT64_MAX);
    ck_assert_int_eq(field("min")->type, VGL_T_INT);
    ck_assert_int_eq(field("min")->u.i, INT64_MIN);
    ck_assert_int_eq(field("over")->type, VGL_T_DOUBLE);
    ck_assert_double_eq(field("over")->u.d, 9223372036854775808.0);
    ck_assert_int_eq(field("under")->type, VGL_T_DOUBLE);
    ck_assert_double_eq(field("under")->u.d, -9223372036854775809.0);
    ck_assert_int_eq(field("huge")->type, VGL_T_DOUBLE);
    ck_assert_double_eq(field("huge")->u.d, 123456789012345678901234567890.0);
    ck_assert_int_eq(field("zero")->type, VGL_T_INT);
    ck_assert_int_eq(field("negzero")->type, VGL_T_INT);
    ck_assert_int_eq(field("negzero")->u.i, 0);
    ck_assert_int_eq(field("dnegzero")->type, VGL_T_DOUBLE);
    ck_assert(signbit(field("dnegzero")->u.d));
    ck_assert_double_eq(field("big")->u.d, 1.7976931348623157e308);
    ck_assert_double_eq(field("tiny")->u.d, 5e-324);
    ck_assert_double_eq(field("uflow")->u.d, 0.0);
    ck_assert(isinf(field("oflow")->u.d) && field("oflow")->u.d > 0);
    ck_assert(isinf(field("noflow")->u.d) && field("noflow")->u.d < 0);
    ck_assert_double_eq(field("frac")->u.d, 0.1);
    ck_assert_int_eq(field("exp")->type, VGL_T_DOUBLE);
    ck_assert_double_eq(field("exp")->u.d, 1500.0);
    ck_assert_double_eq(field("pi")->u.d, 3.141592653589793);
    ck_assert_double_eq(field("small")->u.d, 0.000001234);
    ck_assert_double_eq(field("e22")->u.d, 1e22);
    ck_assert_double_eq(field("e23")->u.d, 1e23);
    ck_assert_double_eq(field("lead")->u.d, 1e-25);

    /* every double reads back bit-exact (the fast path and strtod agree) */
    unsigned seed = 7;
    for (int i = 0; i < 20000; i++) {
        char doc[96];
        double d;
        uint64_t bits = ((uint64_t)rand_r(&seed) << 33) ^ ((uint64_t)rand_r(&seed) << 11) ^
                        (uint64_t)rand_r(&seed);
        memcpy(&d, &bits, 8);
        if (!isfinite(d))
            continue;
        int k = i % 3;
        snprintf(doc, sizeof(doc), k == 0 ? "{\"d\":%.17g}" : k == 1 ? "{\"d\":%.6g}" : "{\"d\":%.15e}",
                 i % 2 ? d : (double)(rand_r(&seed) % 100000) / 1000.0);
        ck_assert_int_eq(decode(doc), VGL_OK);
        const vgl_value *v = field("d");
        double want = strtod(doc + 5, NULL);
        double got = v->type == VGL_T_INT ? (double)v->u.i : v->u.d;
        ck_assert_msg(memcmp(&got, &want, 8) == 0 || (got == 0 && want == 0), "%s", doc);
    }
}
END_TEST

START_TEST(test_encode)
{
    vgl_value arr, *it;
    vgl_value_set_array(&arr);
    double ds[] = {1.0, 0.1, -2.5, 1e300, 1e-7, 100.0, -0.0, NAN, INFINITY, -INFINITY, 123456789.0};
    for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
        it = vgl_array_push(&ev, &arr);
        it->type = VGL_T_DOUBLE;
        it->u.d = ds[i];
    }
    it = vgl_array_push(&ev, &arr);
    it->type = VGL_T_INT;
    it->u.i = INT64_MIN;
    it = vgl_array_push(&ev, &arr);
    vgl_value_set_str(&ev, it, "a\"\\\x01\x1f\xff\xc3\xa9", 8, NULL);
    vgl_buf b;
    vgl_buf_init(&b, 0);
    ck_assert_int_eq(vgl_json_encode_value(&b, &arr), VGL_OK);
    ck_assert_str_eq(b.data, "[1.0,0.10000000000000001,-2.5,1.0000000000000001e+300,"
                             "9.9999999999999995e-08,100.0,-0.0,null,null,null,123456789.0,"
                             "-9223372036854775808,\"a\\\"\\\\\\u0001\\u001f\xef\xbf\xbd\xc3\xa9\"]");
    /* a limit on the output is VGL_ERR_TOOBIG */
    vgl_buf small;
    vgl_buf_init(&small, 16);
    ck_assert_int_eq(vgl_json_encode_value(&small, &arr), VGL_ERR_TOOBIG);
    vgl_buf_free(&small);
    /* encoding appends */
    vgl_buf_reset(&b);
    vgl_buf_puts(&b, "x=");
    ck_assert_int_eq(decode("{ \"a\" : [ ] , \"b\" : { } }"), VGL_OK);
    ck_assert_int_eq(vgl_json_encode_event(&b, &ev), VGL_OK);
    ck_assert_str_eq(b.data, "x={\"a\":[],\"b\":{}}");
    vgl_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ round trips */

/* decode, encode, and check with jansson that the output equals the
 * input; returns the decode rc */
static void round_trip(const char *in, size_t len)
{
    ck_assert_msg(decode_lim(in, len, NULL) == VGL_OK, "%s: %.*s", err, (int)len, in);
    char *out = encode_root();
    json_error_t je;
    json_t *want = json_loadb(in, len, JSON_ALLOW_NUL, &je);
    ck_assert_msg(want != NULL, "jansson: %s", je.text);
    json_t *got = json_loadb(out, strlen(out), JSON_ALLOW_NUL, &je);
    ck_assert_msg(got != NULL, "jansson on our output: %s: %s", je.text, out);
    ck_assert_msg(json_equal(want, got), "differs:\n%.*s\n%s", (int)len, in, out);
    ck_assert_uint_eq(ev.root.n, json_object_size(want));
    json_decref(want);
    json_decref(got);
    /* and the output is a fixed point */
    size_t olen = strlen(out);
    char *copy = strdup(out);
    ck_assert_int_eq(decode_lim(copy, olen, NULL), VGL_OK);
    char *again = encode_root();
    ck_assert_str_eq(again, out);
    free(again);
    free(copy);
    free(out);
}

START_TEST(test_round_trip_handmade)
{
    const char *docs[] = {
        "{}",
        "{\"a\":[]}",
        "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}},\"e\":\"\"}",
        "{\"num\":[0,-1,1.5,-0.25,1e-10,6.02214076e23,9007199254740993,1.0]}",
        "{\"esc\":\"tab\\tnl\\nquote\\\"back\\\\slash\\/\\u0001\\u001f\\u007f\"}",
        "{\"uni\":\"\\u65e5\\u672c\\u8a9e \xf0\x9f\x92\xa9 \\ud83d\\udca9\"}",
        "{\"bool\":[true,false],\"n\":null}",
        "{\"k with space\":1,\"\":2,\"a.b\":3}",
        "{\"nul\":\"x\\u0000y\"}",
        "  {\"ws\" :\t[ 1 ,\n2 ] }  ",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        round_trip(docs[i], strlen(docs[i]));
}
END_TEST

START_TEST(test_round_trip_large)
{
    /* more members than the parser keeps on the C stack, long strings
     * that span string-area chunks */
    vgl_buf b;
    vgl_buf_init(&b, 0);
    vgl_buf_putc(&b, '{');
    for (int i = 0; i < 3000; i++)
        vgl_buf_printf(&b, "%s\"key%d\":[%d,\"%0*d\",{\"x\":%d.5}]", i ? "," : "", i, i,
                       (i % 50) * 100 + 1, i, i);
    vgl_buf_puts(&b, ",\"arr\":[");
    for (int i = 0; i < 10000; i++)
        vgl_buf_printf(&b, "%s%d", i ? "," : "", i);
    vgl_buf_puts(&b, "]}");
    round_trip(b.data, b.len);
    ck_assert_uint_eq(ev.root.n, 3001);
    vgl_buf_free(&b);
}
END_TEST

START_TEST(test_round_trip_samples)
{
    const char *dir = VGL_TEST_DATA "/samples";
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
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
            round_trip(line, (size_t)n);
            lines++;
        }
        free(line);
        fclose(f);
        files++;
    }
    closedir(d);
    ck_assert_uint_eq(files, 10);
    ck_assert_uint_eq(lines, 227);
}
END_TEST

static Suite *codec_json_suite(void)
{
    Suite *s = suite_create("codec_json");
    TCase *tc = tcase_create("decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_syntax_errors, 0,
                        (int)(sizeof(syntax_cases) / sizeof(syntax_cases[0])));
    tcase_add_test(tc, test_binary_garbage);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_too_big);
    tcase_add_test(tc, test_depth);
    tcase_add_test(tc, test_memory_limit);
    tcase_add_test(tc, test_not_empty);
    tcase_add_test(tc, test_types);
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_surrogates);
    tcase_add_test(tc, test_invalid_utf8_replaced);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_encode);
    suite_add_tcase(s, tc);
    TCase *rt = tcase_create("round_trip");
    tcase_add_checked_fixture(rt, setup, teardown);
    tcase_set_timeout(rt, 60);
    tcase_add_test(rt, test_round_trip_handmade);
    tcase_add_test(rt, test_round_trip_large);
    tcase_add_test(rt, test_round_trip_samples);
    suite_add_tcase(s, rt);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vgl_path_registry_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
