/* Unit tests: event model (paths, get/set, values, time). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static vgl_event ev;

static void setup(void) { vgl_event_init(&ev, 0); }
static void teardown(void) { vgl_event_destroy(&ev); }

START_TEST(path_intern_is_stable)
{
    const vgl_path *a = vgl_path_intern("source.ip");
    const vgl_path *b = vgl_path_intern("source.ip");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_eq(a->nseg, 2);
    ck_assert_uint_eq(a->seg[1].len, 2);
    ck_assert_ptr_null(vgl_path_intern(""));
    ck_assert_ptr_null(vgl_path_intern("a..b"));
    ck_assert_ptr_null(vgl_path_intern(".a"));
    ck_assert_ptr_null(vgl_path_intern("a."));
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_ptr_null(vgl_path_intern(big));
}
END_TEST

START_TEST(set_and_get_nested)
{
    const vgl_path *ip = vgl_path_intern("source.ip");
    const vgl_path *port = vgl_path_intern("source.port");
    const vgl_path *name = vgl_path_intern("process.parent.name");
    ck_assert_int_eq(vgl_event_set_str(&ev, ip, "10.0.0.1", 8), VGL_OK);
    ck_assert_int_eq(vgl_event_set_int(&ev, port, 443), VGL_OK);
    ck_assert_int_eq(vgl_event_set_str(&ev, name, "cmd.exe", 7), VGL_OK);
    const vgl_value *v = vgl_event_get(&ev, ip);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, VGL_T_STRING);
    ck_assert_str_eq(v->u.s, "10.0.0.1");
    v = vgl_event_get(&ev, port);
    ck_assert_int_eq(v->type, VGL_T_INT);
    ck_assert_int_eq(v->u.i, 443);
    ck_assert_str_eq(vgl_event_get(&ev, name)->u.s, "cmd.exe");
    /* "source" is one object holding both fields */
    const vgl_value *src = vgl_event_get(&ev, vgl_path_intern("source"));
    ck_assert_int_eq(src->type, VGL_T_OBJECT);
    ck_assert_uint_eq(src->n, 2);
    /* overwrite keeps one member */
    ck_assert_int_eq(vgl_event_set_str(&ev, ip, "10.0.0.2", 8), VGL_OK);
    ck_assert_uint_eq(src->n, 2);
    ck_assert_str_eq(vgl_event_get(&ev, ip)->u.s, "10.0.0.2");
    ck_assert_ptr_null(vgl_event_get(&ev, vgl_path_intern("source.missing")));
    ck_assert_ptr_null(vgl_event_get(&ev, vgl_path_intern("nothing.here")));
}
END_TEST

START_TEST(set_through_scalar_is_type_error)
{
    vgl_event_set_str(&ev, vgl_path_intern("user"), "bob", 3);
    vgl_rc rc = VGL_OK;
    ck_assert_ptr_null(vgl_event_set(&ev, vgl_path_intern("user.name"), &rc));
    ck_assert_int_eq(rc, VGL_ERR_TYPE);
}
END_TEST

START_TEST(literal_dotted_key)
{
    /* vendor keys may contain dots: {"a.b": 1} is found by path a.b */
    vgl_value *v = vgl_object_add(&ev, &ev.root, "winlog.event_id", 15, false);
    v->type = VGL_T_INT;
    v->u.i = 4624;
    const vgl_value *got = vgl_event_get(&ev, vgl_path_intern("winlog.event_id"));
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->u.i, 4624);
}
END_TEST

START_TEST(duplicate_key_last_wins)
{
    vgl_value *a = vgl_object_add(&ev, &ev.root, "k", 1, false);
    vgl_value_set_str(&ev, a, "first", 5, NULL);
    vgl_value *b = vgl_object_add(&ev, &ev.root, "k", 1, false);
    vgl_value_set_str(&ev, b, "second", 6, NULL);
    ck_assert_str_eq(vgl_event_get(&ev, vgl_path_intern("k"))->u.s, "second");
}
END_TEST

START_TEST(append_str_makes_set)
{
    const vgl_path *p = vgl_path_intern("related.ip");
    ck_assert_int_eq(vgl_event_append_str(&ev, p, "1.1.1.1", 7), VGL_OK);
    ck_assert_int_eq(vgl_event_append_str(&ev, p, "2.2.2.2", 7), VGL_OK);
    ck_assert_int_eq(vgl_event_append_str(&ev, p, "1.1.1.1", 7), VGL_OK);
    const vgl_value *v = vgl_event_get(&ev, p);
    ck_assert_int_eq(v->type, VGL_T_ARRAY);
    ck_assert_uint_eq(v->n, 2);
    ck_assert_str_eq(v->u.items[1].u.s, "2.2.2.2");
    /* a scalar becomes the first item */
    const vgl_path *q = vgl_path_intern("related.user");
    vgl_event_set_str(&ev, q, "alice", 5);
    vgl_event_append_str(&ev, q, "bob", 3);
    v = vgl_event_get(&ev, q);
    ck_assert_uint_eq(v->n, 2);
    ck_assert_str_eq(v->u.items[0].u.s, "alice");
}
END_TEST

START_TEST(arena_limit_is_enforced)
{
    vgl_event small;
    vgl_event_init(&small, 1024);
    char buf[600];
    memset(buf, 'a', sizeof(buf));
    ck_assert_int_eq(vgl_event_set_str(&small, vgl_path_intern("a"), buf, sizeof(buf)), VGL_OK);
    ck_assert_int_eq(vgl_event_set_str(&small, vgl_path_intern("b"), buf, sizeof(buf)),
                     VGL_ERR_NOMEM);
    vgl_event_reset(&small);
    ck_assert_int_eq(vgl_event_set_str(&small, vgl_path_intern("b"), buf, sizeof(buf)), VGL_OK);
    vgl_event_destroy(&small);
}
END_TEST

START_TEST(reset_reuses_memory)
{
    for (int round = 0; round < 1000; round++) {
        vgl_event_reset(&ev);
        for (int i = 0; i < 50; i++) {
            char k[16];
            int n = snprintf(k, sizeof(k), "f%d", i);
            vgl_value *v = vgl_object_add(&ev, &ev.root, k, (size_t)n, false);
            vgl_value_set_str(&ev, v, "value value value", 17, NULL);
        }
    }
    ck_assert_uint_eq(ev.root.n, 50);
    ck_assert_uint_le(ev.arena.reserved, 4 * 8192);
}
END_TEST

START_TEST(copy_and_equal)
{
    vgl_event_set_str(&ev, vgl_path_intern("a.b"), "x", 1);
    vgl_event_set_double(&ev, vgl_path_intern("a.c"), 1.5);
    vgl_event_append_str(&ev, vgl_path_intern("a.d"), "y", 1);
    vgl_event other;
    vgl_event_init(&other, 0);
    ck_assert_int_eq(vgl_value_copy(&other, &other.root, &ev.root), VGL_OK);
    ck_assert(vgl_value_equal(&ev.root, &other.root));
    vgl_event_set_bool(&other, vgl_path_intern("a.e"), true);
    ck_assert(!vgl_value_equal(&ev.root, &other.root));
    vgl_event_destroy(&other);
}
END_TEST

START_TEST(value_text_and_number)
{
    char buf[64];
    const char *out;
    size_t n;
    vgl_value v = {.type = VGL_T_INT, .u.i = -42};
    ck_assert(vgl_value_text(&v, buf, sizeof(buf), &out, &n));
    ck_assert_str_eq(out, "-42");
    v.type = VGL_T_BOOL;
    v.u.b = true;
    ck_assert(vgl_value_text(&v, buf, sizeof(buf), &out, &n));
    ck_assert_str_eq(out, "true");
    v.type = VGL_T_NULL;
    ck_assert(!vgl_value_text(&v, buf, sizeof(buf), &out, &n));
    double d;
    vgl_value s = {.type = VGL_T_STRING, .n = 5, .u.s = "443.0"};
    ck_assert(vgl_value_number(&s, &d));
    ck_assert(d == 443.0);
    vgl_value bad = {.type = VGL_T_STRING, .n = 4, .u.s = "443x"};
    ck_assert(!vgl_value_number(&bad, &d));
}
END_TEST

static int64_t parse(const char *s)
{
    int64_t ms = 0;
    ck_assert_msg(vgl_time_parse(s, strlen(s), &ms), "could not parse %s", s);
    return ms;
}

START_TEST(time_formats)
{
    ck_assert_int_eq(parse("2020-10-22T02:57:59.857Z"), 1603335479857LL);
    ck_assert_int_eq(parse("2020-10-22T02:57:59Z"), 1603335479000LL);
    ck_assert_int_eq(parse("2020-10-22T04:57:59.857+02:00"), 1603335479857LL);
    ck_assert_int_eq(parse("2020-10-21T21:57:59.857-0500"), 1603335479857LL);
    /* Sentinel CSV exports: no zone, UTC */
    ck_assert_int_eq(parse("2019-01-15 05:15:03.047"), 1547529303047LL);
    ck_assert_int_eq(parse("2019-01-15"), 1547510400000LL);
    /* microseconds are truncated to ms */
    ck_assert_int_eq(parse("2020-10-22T02:57:59.857123Z"), 1603335479857LL);
    /* epoch seconds and milliseconds */
    ck_assert_int_eq(parse("1603335479"), 1603335479000LL);
    ck_assert_int_eq(parse("1603335479857"), 1603335479857LL);
    ck_assert_int_eq(parse("1603335479.5"), 1603335479500LL);
    int64_t ms;
    ck_assert(!vgl_time_parse("2020-13-01T00:00:00Z", 20, &ms));
    ck_assert(!vgl_time_parse("yesterday", 9, &ms));
    ck_assert(!vgl_time_parse("2020-10-22T02:57:59Q", 20, &ms));
    ck_assert(!vgl_time_parse("", 0, &ms));
    char buf[40];
    ck_assert_uint_eq(vgl_time_format(1603335479857LL, buf, sizeof(buf)), 24);
    ck_assert_str_eq(buf, "2020-10-22T02:57:59.857Z");
}
END_TEST

START_TEST(take_time_from_fields)
{
    const vgl_path *fields[] = {vgl_path_intern("@timestamp"), vgl_path_intern("TimeGenerated")};
    vgl_event_set_str(&ev, fields[1], "2019-01-15 05:15:03.047", 23);
    ck_assert(vgl_event_take_time(&ev, fields, 2));
    ck_assert_int_eq(ev.ts_ms, 1547529303047LL);
    vgl_event_set_int(&ev, fields[0], 1603335479);
    ck_assert(vgl_event_take_time(&ev, fields, 2));
    ck_assert_int_eq(ev.ts_ms, 1603335479000LL);
    vgl_event_reset(&ev);
    ck_assert(!vgl_event_take_time(&ev, fields, 2));
    ck_assert_int_eq(ev.ts_ms, VGL_TS_NONE);
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, path_intern_is_stable);
    tcase_add_test(tc, set_and_get_nested);
    tcase_add_test(tc, set_through_scalar_is_type_error);
    tcase_add_test(tc, literal_dotted_key);
    tcase_add_test(tc, duplicate_key_last_wins);
    tcase_add_test(tc, append_str_makes_set);
    tcase_add_test(tc, arena_limit_is_enforced);
    tcase_add_test(tc, reset_reuses_memory);
    tcase_add_test(tc, copy_and_equal);
    tcase_add_test(tc, value_text_and_number);
    tcase_add_test(tc, time_formats);
    tcase_add_test(tc, take_time_from_fields);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(event_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vgl_path_registry_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
