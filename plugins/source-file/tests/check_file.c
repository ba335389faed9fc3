/*
 * Tests of the file connector, loaded and started through the plugin host
 * with a short poll_interval: real files in a temporary directory are
 * written, appended, rotated (rename + create), truncated and deleted
 * while it runs, and the records it produces (captured through the host's
 * producer hook) are asserted in order: nothing lost, nothing twice.
 * The valid lines are real Sentinel 4624 records (tests/data).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "event.h"
#include "log.h"
#include "plugin.h"
#include "../file_json.h" /* the line check is also compiled into this test */

/* ------------------------------------------------------ capture */

#define MAX_RECORDS 512

typedef struct record {
    char key[256];
    char *value;
    size_t len;
} record;

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static record recs[MAX_RECORDS];
static int nrecs;

static vgl_rc capture(void *opaque, const char *topic, const void *key, size_t keylen,
                      const void *value, size_t len)
{
    (void)opaque;
    ck_assert_str_eq(topic, "raw.files");
    pthread_mutex_lock(&rec_lock);
    if (nrecs < MAX_RECORDS) {
        record *r = &recs[nrecs++];
        snprintf(r->key, sizeof(r->key), "%.*s", (int)keylen, (const char *)key);
        r->value = malloc(len + 1);
        memcpy(r->value, value, len);
        r->value[len] = '\0';
        r->len = len;
    }
    pthread_mutex_unlock(&rec_lock);
    return VGL_OK;
}

static int record_count(void)
{
    pthread_mutex_lock(&rec_lock);
    int n = nrecs;
    pthread_mutex_unlock(&rec_lock);
    return n;
}

/* Wait (up to 5 s) for n records, then 300 ms more for extra ones. */
static void expect_records(int n)
{
    for (int i = 0; i < 500 && record_count() < n; i++)
        usleep(10000);
    usleep(300000);
    ck_assert_int_eq(record_count(), n);
}

/* ------------------------------------------------------ fixture */

static vgl_config *cfg;
static vgl_plugins *plugins;
static vgl_diag diag;
static char dir[64];
static char *sample[6]; /* the lines of tests/data/logons_4624.jsonl */
static vgl_event decoded_ev;

static void setup(void)
{
    memset(&diag, 0, sizeof(diag));
    cfg = NULL;
    plugins = NULL;
    nrecs = 0;
    vgl_event_init(&decoded_ev, 0);
    snprintf(dir, sizeof(dir), "/tmp/check_file.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    FILE *f = fopen(DATA_DIR "/logons_4624.jsonl", "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    for (int i = 0; i < 6; i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
        line[strcspn(line, "\n")] = '\0';
        sample[i] = strdup(line);
    }
    fclose(f);
}

static void stop_plugins(void)
{
    vgl_plugins_free(plugins);
    plugins = NULL;
    vgl_config_free(cfg);
    cfg = NULL;
}

static void teardown(void)
{
    stop_plugins();
    vgl_event_destroy(&decoded_ev);
    vgl_diag_free(&diag);
    for (int i = 0; i < nrecs; i++)
        free(recs[i].value);
    nrecs = 0;
    for (int i = 0; i < 6; i++)
        free(sample[i]);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    vgl_path_registry_free();
}

static const char *diag_text(void)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < diag.n; i++) {
        strncat(buf, diag.msgs[i], sizeof(buf) - strlen(buf) - 2);
        strcat(buf, "\n");
    }
    return buf;
}

/* Load with paths [DIR/<pattern>] plus `extra` lines. */
static vgl_plugins *load_file(const char *pattern, const char *extra)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "plugin_path: [\"%s\"]\n"
             "plugins:\n"
             "  - name: file\n"
             "    config:\n"
             "      topic: raw.files\n"
             "      paths: [\"%s/%s\"]\n"
             "      poll_interval: 20ms\n"
             "%s",
             PLUGIN_DIR, dir, pattern, extra ? extra : "");
    cfg = vgl_config_load_string(yaml, strlen(yaml), "vigil.yaml", &diag);
    ck_assert_msg(cfg, "config: %s", diag_text());
    plugins = vgl_plugins_load(cfg, &diag);
    if (plugins)
        vgl_plugins_set_producer(plugins, capture, NULL);
    return plugins;
}

static void start_file(const char *pattern, const char *extra)
{
    ck_assert_msg(load_file(pattern, extra), "load: %s", diag_text());
    ck_assert_msg(vgl_plugins_start(plugins, &diag) == VGL_OK, "start: %s", diag_text());
}

static const char *path_of(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* Append text to DIR/name (created when missing). */
static void append(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "a");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    fclose(f);
}

static void append_line(const char *name, const char *line)
{
    append(name, line);
    append(name, "\n");
}

/* "{"n":I}" lines: easy to check for order and duplicates. */
static void append_numbered(const char *name, int from, int to)
{
    FILE *f = fopen(path_of(name), "a");
    ck_assert_ptr_nonnull(f);
    for (int i = from; i <= to; i++)
        fprintf(f, "{\"n\":%d}\n", i);
    fclose(f);
}

static void assert_numbered(int first_record, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char want[32];
        snprintf(want, sizeof(want), "{\"n\":%d}", i);
        int r = first_record + (i - from);
        ck_assert_msg(r < record_count(), "record %d missing", r);
        ck_assert_msg(strcmp(recs[r].value, want) == 0, "record %d is %s, want %s", r,
                      recs[r].value, want);
    }
}

/* Decode record i with vigil's JSON codec; a string field of it. */
static const char *field_str(int i, const char *path)
{
    char err[256];
    vgl_event_reset(&decoded_ev);
    ck_assert_msg(vgl_json_decode(&decoded_ev, recs[i].value, recs[i].len, NULL, err,
                                  sizeof(err)) == VGL_OK,
                  "record %d is not valid JSON: %s", i, err);
    const vgl_value *v = vgl_event_get(&decoded_ev, vgl_path_intern(path));
    if (!v)
        return NULL;
    if (v->type == VGL_T_STRING)
        return v->u.s;
    if (v->type == VGL_T_ARRAY) { /* tags: joined with ',' */
        static char joined[256];
        joined[0] = '\0';
        for (uint32_t k = 0; k < v->n; k++) {
            if (k)
                strcat(joined, ",");
            strncat(joined, v->u.items[k].u.s, sizeof(joined) - strlen(joined) - 2);
        }
        return joined;
    }
    if (v->type == VGL_T_INT) {
        static char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        return num;
    }
    return "?";
}

/* ------------------------------------------------------ tests */

START_TEST(tails_real_lines_in_order)
{
    for (int i = 0; i < 3; i++)
        append_line("logons.jsonl", sample[i]);
    start_file("*.jsonl", NULL);
    expect_records(3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(recs[i].value, sample[i]);
        ck_assert_str_eq(recs[i].key, path_of("logons.jsonl"));
    }
    /* a partial last line is held until its newline arrives */
    append_line("logons.jsonl", sample[3]);
    size_t half = strlen(sample[4]) / 2;
    char first[4096];
    snprintf(first, sizeof(first), "%.*s", (int)half, sample[4]);
    append("logons.jsonl", first);
    expect_records(4);
    ck_assert_str_eq(recs[3].value, sample[3]);
    append("logons.jsonl", sample[4] + half);
    usleep(100000);
    ck_assert_int_eq(record_count(), 4);
    append("logons.jsonl", "\r\n\n   \n");
    expect_records(5);
    ck_assert_str_eq(recs[4].value, sample[4]); /* CR stripped, blank lines skipped */
    ck_assert_str_eq(field_str(4, "TargetUserName"), "SYSTEM");
    ck_assert_str_eq(field_str(4, "LogonType"), "5");
    ck_assert_str_eq(field_str(4, "EventID"), "4624");
}
END_TEST

START_TEST(invalid_lines_kept_raw)
{
    start_file("*.jsonl", NULL);
    const char *bad[] = {
        "not json at all",
        "{\"a\":1",
        "[1,2,3]",
        "{\"a\":1} {\"b\":2}",
        "{\"a\":01}",
        "{\"a\":\"tab\there\"}",
        "{a:1}",
        "\"just a string\"",
    };
    const char *why[] = {
        "invalid JSON at byte 0: unexpected character",
        "invalid JSON at byte 6: expected ',' or '}' in object",
        "top-level JSON value is not an object",
        "invalid JSON at byte 8: data after the JSON object",
        "invalid JSON at byte 6: expected ',' or '}' in object",
        "invalid JSON at byte 9: control character in string",
        "invalid JSON at byte 1: object key (a string) expected",
        "top-level JSON value is not an object",
    };
    size_t nbad = sizeof(bad) / sizeof(bad[0]);
    append_line("mixed.jsonl", sample[0]);
    for (size_t i = 0; i < nbad; i++)
        append_line("mixed.jsonl", bad[i]);
    /* binary with invalid UTF-8 and a NUL */
    append("mixed.jsonl", "\x01\xff\xfe");
    FILE *f = fopen(path_of("mixed.jsonl"), "a");
    fputc('\0', f);
    fputs("z\n", f);
    fclose(f);
    /* 65 levels of nesting */
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 64; i++)
        strcat(deep, "[");
    append_line("mixed.jsonl", deep);
    append_line("mixed.jsonl", sample[1]);
    expect_records((int)nbad + 4);
    ck_assert_str_eq(recs[0].value, sample[0]);
    uint64_t offset = strlen(sample[0]) + 1;
    for (size_t i = 0; i < nbad; i++) {
        int r = (int)i + 1;
        ck_assert_str_eq(field_str(r, "message"), bad[i]);
        ck_assert_str_eq(field_str(r, "event.original"), bad[i]);
        ck_assert_str_eq(field_str(r, "error.message"), why[i]);
        ck_assert_str_eq(field_str(r, "tags"), "file_parse_error");
        ck_assert_str_eq(field_str(r, "log.file.path"), path_of("mixed.jsonl"));
        char off[32];
        snprintf(off, sizeof(off), "%llu", (unsigned long long)offset);
        ck_assert_str_eq(field_str(r, "log.offset"), off);
        offset += strlen(bad[i]) + 1;
    }
    int b = (int)nbad + 1;
    ck_assert_str_eq(field_str(b, "error.message"),
                     "invalid JSON at byte 0: unexpected character");
    ck_assert_ptr_nonnull(strstr(recs[b].value, "\"message\":\"\\u0001\xEF\xBF\xBD\xEF\xBF\xBD\\u0000z\""));
    ck_assert_str_eq(field_str(b + 1, "error.message"), "nesting deeper than 64 at byte 68");
    ck_assert_str_eq(recs[b + 2].value, sample[1]);
}
END_TEST

START_TEST(rotation_rename_and_create)
{
    /* the pattern matches the rotated name too: it must not be read twice */
    start_file("app.log*", NULL);
    append_numbered("app.log", 1, 3);
    expect_records(3);
    append_numbered("app.log", 4, 5);
    ck_assert_int_eq(rename(path_of("app.log"), path_of("app.log.1")), 0);
    append_numbered("app.log.1", 6, 6); /* the writer still had the old file open */
    append_numbered("app.log", 7, 9);   /* and then opened a new one */
    expect_records(9);
    assert_numbered(0, 1, 9);
    ck_assert_str_eq(recs[5].key, path_of("app.log.1"));
    ck_assert_str_eq(recs[8].key, path_of("app.log"));
    /* a second rotation, the oldest file deleted */
    ck_assert_int_eq(unlink(path_of("app.log.1")), 0);
    ck_assert_int_eq(rename(path_of("app.log"), path_of("app.log.1")), 0);
    append_numbered("app.log", 10, 12);
    expect_records(12);
    assert_numbered(0, 1, 12);
}
END_TEST

START_TEST(rotation_out_of_the_pattern)
{
    /* the rotated name does not match: the old file is read to its end */
    start_file("app.log", NULL);
    append_numbered("app.log", 1, 3);
    expect_records(3);
    append_numbered("app.log", 4, 5);
    ck_assert_int_eq(rename(path_of("app.log"), path_of("app.log.old")), 0);
    append_numbered("app.log", 6, 8);
    usleep(100000);
    append_numbered("app.log.old", 100, 100); /* a late write inside the grace period */
    expect_records(9);
    assert_numbered(0, 1, 8);
    ck_assert_str_eq(recs[8].value, "{\"n\":100}");
}
END_TEST

START_TEST(truncation_restarts)
{
    start_file("t.jsonl", NULL);
    append_numbered("t.jsonl", 1, 5);
    expect_records(5);
    ck_assert_int_eq(truncate(path_of("t.jsonl"), 0), 0);
    usleep(100000);
    append_numbered("t.jsonl", 6, 7);
    expect_records(7);
    assert_numbered(0, 1, 7);
    /* truncated with a held partial line: the partial line is produced */
    append("t.jsonl", "{\"n\":8}");
    usleep(100000);
    ck_assert_int_eq(truncate(path_of("t.jsonl"), 0), 0);
    usleep(100000);
    append_numbered("t.jsonl", 9, 9);
    expect_records(9);
    assert_numbered(0, 1, 9);
}
END_TEST

START_TEST(start_at_end)
{
    append_numbered("e.jsonl", 1, 3);
    start_file("*.jsonl", "      start_at: end\n");
    usleep(200000);
    ck_assert_int_eq(record_count(), 0);
    append_numbered("e.jsonl", 4, 5);
    append_numbered("new.jsonl", 1, 2); /* files found later are read from the start */
    expect_records(4);
    /* per-file order holds; the two files may interleave */
    int e = 0, n = 0;
    for (int i = 0; i < 4; i++) {
        char want[32];
        if (strcmp(recs[i].key, path_of("e.jsonl")) == 0) {
            snprintf(want, sizeof(want), "{\"n\":%d}", 4 + e++);
        } else {
            ck_assert_str_eq(recs[i].key, path_of("new.jsonl"));
            snprintf(want, sizeof(want), "{\"n\":%d}", 1 + n++);
        }
        ck_assert_str_eq(recs[i].value, want);
    }
}
END_TEST

START_TEST(state_file_resumes)
{
    char extra[512];
    snprintf(extra, sizeof(extra), "      state_file: \"%s/state\"\n", dir);
    append_numbered("s.jsonl", 1, 3);
    append("s.jsonl", "{\"n\":4"); /* partial: not committed */
    start_file("s.jsonl", extra);
    expect_records(3);
    stop_plugins();
    /* DEV INO OFFSET PATH, offset after the last complete line */
    FILE *f = fopen(path_of("state"), "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "vigil-file-state 1\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    struct stat st;
    stat(path_of("s.jsonl"), &st);
    char want[512];
    snprintf(want, sizeof(want), "%llu %llu 24 %s\n", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, path_of("s.jsonl"));
    ck_assert_str_eq(line, want);
    fclose(f);
    /* written while vigil was down */
    append("s.jsonl", "}\n");
    append_numbered("s.jsonl", 5, 6);
    start_file("s.jsonl", extra);
    expect_records(6);
    assert_numbered(0, 1, 6);
    stop_plugins();
    /* a restart with nothing new produces nothing */
    start_file("s.jsonl", extra);
    expect_records(6);
    stop_plugins();
    /* a state file that is not one is refused at init */
    FILE *g = fopen(path_of("state"), "w");
    fputs("something else\n", g);
    fclose(g);
    ck_assert_ptr_null(load_file("s.jsonl", extra));
    snprintf(want, sizeof(want),
             "plugin file (%s/vigil-connector-file.so): %s/state:1: not a vigil file state "
             "(want \"vigil-file-state 1\")\n",
             PLUGIN_DIR, dir);
    ck_assert_str_eq(diag_text(), want);
}
END_TEST

START_TEST(long_lines_cut)
{
    start_file("*.jsonl", "      max_line_bytes: 100\n");
    char big[400] = "{\"k\":\"";
    for (int i = 6; i < 390; i++)
        big[i] = 'x';
    strcpy(big + 390, "\"}");
    append_line("l.jsonl", big);
    append_numbered("l.jsonl", 1, 1);
    expect_records(2);
    ck_assert_str_eq(field_str(0, "tags"), "file_parse_error,file_line_truncated");
    ck_assert_str_eq(field_str(0, "error.message"), "line longer than max_line_bytes (100): cut");
    ck_assert_uint_eq(strlen(field_str(0, "message")), 100);
    ck_assert_str_eq(recs[1].value, "{\"n\":1}");
    /* a line of exactly max_line_bytes is whole */
    char exact[101] = "{\"k\":\"";
    memset(exact + 6, 'y', 92);
    strcpy(exact + 98, "\"}");
    ck_assert_uint_eq(strlen(exact), 100);
    append_line("l.jsonl", exact);
    expect_records(3);
    ck_assert_str_eq(recs[2].value, exact);
}
END_TEST

START_TEST(config_errors)
{
    char want[1024];
    ck_assert_ptr_null(load_file("x", "      start_at: middle\n"));
    snprintf(want, sizeof(want),
             "plugin file (%s/vigil-connector-file.so): start_at must be beginning or end, got "
             "\"middle\"\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);
    ck_assert_ptr_null(load_file("x", "      max_line_bytes: 10\n"));
    snprintf(want, sizeof(want),
             "plugin file (%s/vigil-connector-file.so): max_line_bytes must be between 64 and "
             "256MiB\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
}
END_TEST

/* The line check against vigil's own decoder: for every prefix of real
 * lines and for random mutations, file_json_check accepts exactly what the
 * decoder accepts (so a "valid" line never dead-letters later), and the raw
 * event of a rejected line always decodes. */
static void check_agrees(const char *s, size_t n, file_buf *b)
{
    char err[200], derr[256];
    bool ok = file_json_check(s, n, err, sizeof(err));
    vgl_event e;
    vgl_event_init(&e, 0);
    vgl_rc rc = vgl_json_decode(&e, s, n, NULL, derr, sizeof(derr));
    vgl_event_destroy(&e);
    ck_assert_msg(ok == (rc == VGL_OK), "check says %s (%s), decoder says %s: %.*s",
                  ok ? "valid" : "invalid", ok ? "" : err, rc == VGL_OK ? "valid" : derr, (int)n, s);
    if (!ok) {
        ck_assert(file_raw_event(s, n, err, "/var/log/x.jsonl", 42, false, b));
        vgl_event_init(&e, 0);
        rc = vgl_json_decode(&e, b->data, b->len, NULL, derr, sizeof(derr));
        vgl_event_destroy(&e);
        ck_assert_msg(rc == VGL_OK, "raw event does not decode: %s", derr);
    }
}

START_TEST(line_check_agrees_with_decoder)
{
    file_buf b;
    file_buf_init(&b, 1 << 20);
    const char *extra[] = {
        "{\"a\":[1,-0.5e+3,true,false,null,{\"b\":\"\\u00e9\\n\\\"\"}],\"c\":{}}",
        "  {\"k\" : \"v\" }  ",
        "{\"n\":-0,\"m\":1E5,\"o\":[[]],\"p\":\"\\/\"}",
    };
    for (int v = 0; v < 9; v++) {
        const char *line = v < 6 ? sample[v] : extra[v - 6];
        size_t n = strlen(line);
        for (size_t k = 0; k <= n; k += (v < 6 ? 7 : 1)) {
            char *copy = malloc(k ? k : 1);
            memcpy(copy, line, k);
            check_agrees(copy, k, &b);
            free(copy);
        }
    }
    unsigned seed = 777;
    for (int i = 0; i < 5000; i++) {
        const char *line = extra[i % 3];
        size_t n = strlen(line);
        char *copy = malloc(n);
        memcpy(copy, line, n);
        for (int m = 0; m < 1 + i % 3; m++)
            copy[(size_t)rand_r(&seed) % n] = "{}[],:\"\\ 0-eE.tfnu\x01\xff"[rand_r(&seed) % 21];
        check_agrees(copy, n, &b);
        free(copy);
    }
    file_buf_free(&b);
}
END_TEST

static Suite *file_suite(void)
{
    Suite *s = suite_create("connector-file");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, tails_real_lines_in_order);
    tcase_add_test(tc, invalid_lines_kept_raw);
    tcase_add_test(tc, rotation_rename_and_create);
    tcase_add_test(tc, rotation_out_of_the_pattern);
    tcase_add_test(tc, truncation_restarts);
    tcase_add_test(tc, start_at_end);
    tcase_add_test(tc, state_file_resumes);
    tcase_add_test(tc, long_lines_cut);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, line_check_agrees_with_decoder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vgl_log_set_sink(NULL, NULL);
    SRunner *sr = srunner_create(file_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
