/* Unit tests: logfmt logging and its escaping of hostile text. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static char last[4096];

static void capture(const char *line, void *opaque)
{
    (void)opaque;
    snprintf(last, sizeof(last), "%s", line);
}

static const char *after_ts(void)
{
    /* skip "ts=... " */
    const char *p = strchr(last, ' ');
    return p ? p + 1 : last;
}

START_TEST(plain_fields)
{
    vgl_log_set_sink(capture, NULL);
    vgl_log_set_level(VGL_LOG_INFO);
    vgl_log(VGL_LOG_INFO, "partition assigned", "topic=%s partition=%d offset=%lld", "in", 3,
            (long long)42);
    ck_assert_str_eq(after_ts(), "level=info msg=\"partition assigned\" topic=in partition=3 offset=42");
    ck_assert(strncmp(last, "ts=", 3) == 0);
}
END_TEST

START_TEST(hostile_values_are_escaped)
{
    vgl_log_set_sink(capture, NULL);
    vgl_log(VGL_LOG_WARN, "bad", "user=%s", "x level=error msg=\"forged\"\nts=now");
    ck_assert_str_eq(after_ts(),
                     "level=warn msg=bad user=\"x level=error msg=\\\"forged\\\"\\nts=now\"");
    vgl_log(VGL_LOG_WARN, "bad", "v=%s e=%s", "%s%n%x", "");
    ck_assert_str_eq(after_ts(), "level=warn msg=bad v=%s%n%x e=\"\"");
    vgl_log(VGL_LOG_WARN, "bad", "v=%.*s", 3, "a\x01" "bcdef");
    ck_assert_str_eq(after_ts(), "level=warn msg=bad v=\"a\\x01b\"");
}
END_TEST

START_TEST(level_filter)
{
    vgl_log_set_sink(capture, NULL);
    vgl_log_set_level(VGL_LOG_WARN);
    last[0] = '\0';
    vgl_log(VGL_LOG_INFO, "hidden", "%s", "");
    ck_assert_str_eq(last, "");
    vgl_log_level l;
    ck_assert(vgl_log_level_parse("debug", &l));
    ck_assert_int_eq(l, VGL_LOG_DEBUG);
    ck_assert(!vgl_log_level_parse("loud", &l));
    vgl_log_set_level(VGL_LOG_INFO);
}
END_TEST

START_TEST(long_lines_are_bounded)
{
    vgl_log_set_sink(capture, NULL);
    char *big = malloc(10000);
    memset(big, 'a', 9999);
    big[9999] = '\0';
    vgl_log(VGL_LOG_INFO, "big", "v=%s", big);
    ck_assert_uint_lt(strlen(last), 4096);
    free(big);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("logfmt");
    tcase_add_test(tc, plain_fields);
    tcase_add_test(tc, hostile_values_are_escaped);
    tcase_add_test(tc, level_filter);
    tcase_add_test(tc, long_lines_are_bounded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
