/*
 * Tests of the exec responder, loaded through the plugin host: the exact
 * argv a real program receives (hostile values stay literal, one element
 * each), its stdin document, exit codes, the timeout that kills the whole
 * process group, duplicate suppression and the config errors.
 *
 * The program is tests/data/record.sh: it writes its argv to OUT.argv
 * (NUL-separated), its stdin to OUT.stdin, appends a line to OUT.count,
 * and then fails, hangs, crashes... as its first argument (the action) says.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "plugin.h"

static char tmpdir[64];
static char out_base[128];
static vgl_config *cfg;
static vgl_plugins *plugins;
static vgl_diag diag;

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_exec.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(out_base, sizeof(out_base), "%s/out", tmpdir);
    memset(&diag, 0, sizeof(diag));
    cfg = NULL;
    plugins = NULL;
    vgl_log_set_sink(NULL, NULL);
}

static void teardown(void)
{
    vgl_plugins_free(plugins);
    vgl_config_free(cfg);
    vgl_diag_free(&diag);
    vgl_path_registry_free();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *diag_text(void)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < diag.n; i++) {
        strncat(buf, diag.msgs[i], sizeof(buf) - strlen(buf) - 2);
        strcat(buf, "\n");
    }
    return buf;
}

/* Load the exec plugin with `config_yaml` (the lines under config:,
 * indented by 6). Returns the instance, or NULL with diag filled. */
static vgl_plugin_instance *load_exec(const char *config_yaml)
{
    char yaml[8192];
    snprintf(yaml, sizeof(yaml),
             "plugin_path: [\"%s\"]\n"
             "plugins:\n"
             "  - name: exec\n"
             "    config:\n"
             "%s",
             PLUGIN_DIR, config_yaml);
    cfg = vgl_config_load_string(yaml, strlen(yaml), "vigil.yaml", &diag);
    ck_assert_msg(cfg, "config: %s", diag_text());
    plugins = vgl_plugins_load(cfg, &diag);
    if (!plugins)
        return NULL;
    vgl_plugin_instance *pi = vgl_plugins_find(plugins, "exec", VGL_PLUGIN_RESPOND);
    ck_assert_ptr_nonnull(pi);
    return pi;
}

/* The standard template: record.sh OUT {action} --target={target.value} ... */
static vgl_plugin_instance *load_standard(const char *extra)
{
    char c[4096];
    snprintf(c, sizeof(c),
             "      command: [\"%s/record.sh\", \"%s\", \"{action}\", \"--target={target.value}\",\n"
             "                \"{target.type}\", \"{action_id}\", \"{incident_id}\", \"{rule_id}\",\n"
             "                \"{op}\", \"{dry_run}\", \"literal {X} {} {\"]\n"
             "%s",
             DATA_DIR, out_base, extra ? extra : "");
    vgl_plugin_instance *pi = load_exec(c);
    ck_assert_msg(pi, "load: %s", diag_text());
    return pi;
}

/* Contents of OUT<suffix>, NUL-terminated, length in *len. */
static char *read_out(const char *suffix, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s%s", out_base, suffix);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int run_count(void)
{
    char *s = read_out(".count", NULL);
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Compare the recorded argv (after OUT) with want[0..n). */
static void assert_argv(const char *const *want, size_t n)
{
    size_t len;
    char *got = read_out(".argv", &len);
    ck_assert_ptr_nonnull(got);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(off < len, "argv has only %zu elements, want %zu", i, n);
        ck_assert_str_eq(got + off, want[i]);
        off += strlen(got + off) + 1;
    }
    ck_assert_uint_eq(off, len);
}

static vgl_action_view action(const char *id, const char *name, const char *target)
{
    return (vgl_action_view){.action_id = id, .action = name, .op = VGL_ACTION_APPLY,
                             .target_type = "ip", .target = target,
                             .incident_id = "inc-42", .rule_id = "ssh-brute",
                             .requested_ms = 1700000000123, .expires_ms = 0,
                             .params_json = "{\"duration\":\"1h\"}"};
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------- tests */

START_TEST(argv_and_stdin_exact)
{
    vgl_plugin_instance *pi = load_standard(NULL);
    char err[256] = "x";
    vgl_action_view a = action("0123456789abcdef0123456789abcdef", "block_ip", "203.0.113.7");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_str_eq(err, "");
    const char *want[] = {"block_ip", "--target=203.0.113.7", "ip",
                          "0123456789abcdef0123456789abcdef", "inc-42", "ssh-brute", "apply",
                          "false", "literal {X} {} {"};
    assert_argv(want, 9);
    ck_assert_str_eq(read_out(".stdin", NULL),
                     "{\"action_id\":\"0123456789abcdef0123456789abcdef\",\"action\":\"block_ip\","
                     "\"op\":\"apply\",\"target\":{\"type\":\"ip\",\"value\":\"203.0.113.7\"},"
                     "\"incident_id\":\"inc-42\",\"rule_id\":\"ssh-brute\","
                     "\"requested_at\":\"2023-11-14T22:13:20.123Z\",\"expires_at\":null,"
                     "\"dry_run\":false,\"params\":{\"duration\":\"1h\"}}");
    /* revert, no incident, a temporary action, dry_run from the config */
    vgl_plugins_free(plugins);
    vgl_config_free(cfg);
    plugins = NULL;
    cfg = NULL;
    pi = load_standard("      dry_run: true\n");
    a.action_id = "ffff";
    a.op = VGL_ACTION_REVERT;
    a.incident_id = NULL;
    a.rule_id = NULL;
    a.expires_ms = 1700003600000;
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    const char *want2[] = {"block_ip", "--target=203.0.113.7", "ip", "ffff", "", "", "revert",
                           "true", "literal {X} {} {"};
    assert_argv(want2, 9);
    ck_assert_ptr_nonnull(strstr(read_out(".stdin", NULL),
                                 "\"incident_id\":null,\"rule_id\":null,"
                                 "\"requested_at\":\"2023-11-14T22:13:20.123Z\","
                                 "\"expires_at\":\"2023-11-14T23:13:20.000Z\",\"dry_run\":true"));
}
END_TEST

START_TEST(hostile_values_stay_literal)
{
    vgl_plugin_instance *pi = load_standard(NULL);
    char err[256];
    const char *hostile[] = {
        "; rm -rf /", "$(id)", "`id`", "a\nb\nc", "' \" \\ |&<>*?~", "-rf", "{action}",
        "\xff\xfe not utf-8", "  spaces  ", "${PATH}",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        char id[16];
        snprintf(id, sizeof(id), "h%zu", i);
        vgl_action_view a = action(id, "block_ip", hostile[i]);
        a.target_type = hostile[(i + 1) % 10];
        ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
        char t[64];
        snprintf(t, sizeof(t), "--target=%s", hostile[i]);
        const char *want[] = {"block_ip", t, hostile[(i + 1) % 10], id, "inc-42", "ssh-brute",
                              "apply", "false", "literal {X} {} {"};
        assert_argv(want, 9);
    }
    /* the stdin document stays valid JSON: escapes and U+FFFD */
    ck_assert_ptr_nonnull(strstr(read_out(".stdin", NULL),
                                 "\"target\":{\"type\":\"; rm -rf /\",\"value\":\"${PATH}\"}"));
    vgl_action_view a = action("h-nl", "block_ip", "x");
    a.target_type = "a\nb\"\x01\xff";
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_ptr_nonnull(
        strstr(read_out(".stdin", NULL), "\"type\":\"a\\nb\\\"\\u0001\xEF\xBF\xBD\""));
    /* nothing ran a shell: no file named by the injected commands exists */
    ck_assert_int_eq(run_count(), 11);
}
END_TEST

START_TEST(value_length_limit)
{
    vgl_plugin_instance *pi = load_standard(NULL);
    char err[256];
    char *big = malloc(5000);
    memset(big, 'A', 4999);
    big[4999] = '\0';
    vgl_action_view a = action("big", "block_ip", big);
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_str_eq(err, "target.value is 4999 bytes, over the 4096-byte limit");
    ck_assert_int_eq(run_count(), 0);
    big[4096] = '\0'; /* exactly at the limit is fine */
    a.action_id = "big2";
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    free(big);
}
END_TEST

START_TEST(nonzero_exit_and_signal)
{
    vgl_plugin_instance *pi = load_standard(NULL);
    char err[256], want[512];
    vgl_action_view a = action("f1", "fail", "203.0.113.7");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    snprintf(want, sizeof(want),
             "%s/record.sh exited with status 3: boom: permission denied second line", DATA_DIR);
    ck_assert_str_eq(err, want);
    a = action("c1", "crash", "x");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    snprintf(want, sizeof(want), "%s/record.sh was killed by signal 11", DATA_DIR);
    ck_assert_str_eq(err, want);
    /* a small err buffer is cut, never overrun */
    char small[16];
    a = action("f2", "fail", "x");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, small, sizeof(small)), VGL_RESPOND_FAILED);
    ck_assert_uint_eq(strlen(small), 15);
    vgl_plugin_stats st;
    vgl_plugin_stats_get(pi, &st);
    ck_assert_uint_eq(st.calls, 3);
    ck_assert_uint_eq(st.errors, 3);
}
END_TEST

START_TEST(timeout_kills_the_group)
{
    vgl_plugin_instance *pi = load_standard("      timeout: 700ms\n");
    char err[256], want[512];
    vgl_action_view a = action("t1", "hang", "x");
    double t0 = now_s();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    double took = now_s() - t0;
    ck_assert_msg(took >= 0.6 && took < 3.0, "took %.2fs", took);
    snprintf(want, sizeof(want), "%s/record.sh timed out after 700 ms (process group killed)",
             DATA_DIR);
    ck_assert_str_eq(err, want);
    /* the grandchild (sleep 30 &) went with the group */
    char *pidtxt = read_out(".grandchild", NULL);
    ck_assert_ptr_nonnull(pidtxt);
    pid_t gc = (pid_t)atoi(pidtxt);
    ck_assert_int_gt(gc, 1);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        char path[64], stat[256] = "";
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)gc);
        FILE *f = fopen(path, "r");
        if (!f) {
            gone = true;
            break;
        }
        size_t n = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
        stat[n] = '\0';
        char *rp = strrchr(stat, ')');
        gone = rp && (rp[2] == 'Z' || rp[2] == 'X'); /* dead, waiting to be reaped by init */
        if (!gone)
            usleep(10000);
    }
    ck_assert_msg(gone, "grandchild %d still runs", (int)gc);
}
END_TEST

START_TEST(grandchild_holding_stdout_does_not_block)
{
    vgl_plugin_instance *pi = load_standard("      timeout: 3s\n");
    char err[256];
    vgl_action_view a = action("d1", "daemon", "x");
    double t0 = now_s();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_msg(now_s() - t0 < 1.5, "took %.2fs", now_s() - t0);
    /* 1 MB of output with a 4 KiB cap: read, discarded, no deadlock */
    vgl_plugins_free(plugins);
    vgl_config_free(cfg);
    plugins = NULL;
    cfg = NULL;
    pi = load_standard("      max_output_bytes: 4KiB\n");
    a = action("n1", "noisy", "x");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
}
END_TEST

START_TEST(duplicates_not_run_twice)
{
    vgl_plugin_instance *pi = load_standard("      recent_ids: 3\n");
    char err[256];
    vgl_action_view a = action("dup-1", "block_ip", "203.0.113.7");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(run_count(), 1);
    /* a failure is remembered too, with its reason */
    vgl_action_view f = action("dup-2", "fail", "x");
    ck_assert_int_eq(vgl_plugin_respond(pi, &f, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_int_eq(vgl_plugin_respond(pi, &f, err, sizeof(err)), VGL_RESPOND_FAILED);
    char want[512];
    snprintf(want, sizeof(want),
             "duplicate of an action that failed: %s/record.sh exited with status 3: boom: "
             "permission denied second line",
             DATA_DIR);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(run_count(), 2);
    /* the set is bounded: after 3 newer ids, dup-1 is forgotten and runs again */
    const char *ids[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        vgl_action_view n = action(ids[i], "block_ip", "x");
        ck_assert_int_eq(vgl_plugin_respond(pi, &n, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    }
    ck_assert_int_eq(run_count(), 5);
    vgl_action_view n3 = action("n3", "block_ip", "x");
    ck_assert_int_eq(vgl_plugin_respond(pi, &n3, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(run_count(), 5);
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(run_count(), 6);
}
END_TEST

START_TEST(allowed_actions)
{
    vgl_plugin_instance *pi = load_standard("      allowed_actions: [block_ip, unblock_ip]\n");
    char err[256];
    vgl_action_view a = action("a1", "disable_user", "bob");
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_str_eq(err, "action \"disable_user\" is not in allowed_actions");
    ck_assert_int_eq(run_count(), 0);
    a.action = "block_ip";
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(run_count(), 1);
}
END_TEST

START_TEST(config_errors)
{
    char c[1024], want[2048];
    snprintf(c, sizeof(c), "      command: [\"%s/record.sh\", \"{target.ip}\"]\n", DATA_DIR);
    ck_assert_ptr_null(load_exec(c));
    snprintf(want, sizeof(want),
             "plugin exec (%s/vigil-respond-exec.so): command[1]: unknown placeholder "
             "{target.ip} (known: {action} {target.type} {target.value} {action_id} "
             "{incident_id} {rule_id} {op} {dry_run})\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_exec("      command: [\"sh\", \"-c\", \"echo {target.value}\"]\n"));
    snprintf(want, sizeof(want),
             "plugin exec (%s/vigil-respond-exec.so): command[0] \"sh\" must be a path (the "
             "program is never looked up in PATH)\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_exec("      command: [\"/nonexistent/fw\"]\n"));
    snprintf(want, sizeof(want),
             "plugin exec (%s/vigil-respond-exec.so): cannot execute /nonexistent/fw: No such "
             "file or directory\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_exec("      command: []\n"));
    snprintf(want, sizeof(want),
             "plugin exec (%s/vigil-respond-exec.so): command must list the program and its "
             "arguments\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
}
END_TEST

START_TEST(child_gets_nothing_of_vigil)
{
    vgl_plugin_instance *pi = load_standard(NULL);
    /* a descriptor without close-on-exec and a secret in the environment */
    int fd = open("/dev/null", O_RDONLY);
    ck_assert_int_gt(fd, 2);
    setenv("VIGIL_TEST_SECRET", "hunter2", 1);
    char fdtxt[16], err[256];
    snprintf(fdtxt, sizeof(fdtxt), "%d", fd);
    vgl_action_view a = action("fd1", "fdcheck", fdtxt);
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    close(fd);
    const char *env = read_out(".env", NULL);
    ck_assert_ptr_nonnull(env);
    ck_assert_ptr_null(strstr(env, "hunter2"));
    ck_assert_ptr_nonnull(strstr(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    ck_assert_str_eq(read_out(".pwd", NULL), "/\n");
}
END_TEST

static Suite *exec_suite(void)
{
    Suite *s = suite_create("respond-exec");
    TCase *tc = tcase_create("exec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, argv_and_stdin_exact);
    tcase_add_test(tc, hostile_values_stay_literal);
    tcase_add_test(tc, value_length_limit);
    tcase_add_test(tc, nonzero_exit_and_signal);
    tcase_add_test(tc, timeout_kills_the_group);
    tcase_add_test(tc, grandchild_holding_stdout_does_not_block);
    tcase_add_test(tc, duplicates_not_run_twice);
    tcase_add_test(tc, allowed_actions);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, child_gets_nothing_of_vigil);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(exec_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
