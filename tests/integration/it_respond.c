/*
 * `vigil respond` against an embedded Kafka cluster: action records are
 * produced to the actions topic, a real `vigil respond` process runs them
 * through the test responder (tests/plugins/respond_pretend.c: block_ip
 * succeeds, flaky asks for a retry, anything else fails), and the results
 * are read back from the results topic: succeeded, failed (with the
 * responder's error), refused_protected (decided upstream, and found by
 * respond's own check), dry_run, duplicate, a malformed record, the rate
 * limit tripping, and offsets committed only for written results.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define GROUP "respond-it"

static const char *plugin_path(void)
{
    static char p[1024];
    const char *d = getenv("VGL_TEST_PLUGIN_DIR");
    ck_assert_msg(d && *d, "VGL_TEST_PLUGIN_DIR must name the built test plugins");
    snprintf(p, sizeof(p), "%s/vigil-respond-pretend.so", d);
    return p;
}

/* `vigil respond ARGS...`; stdout and stderr to TMPDIR/<name>.log. */
static pid_t respond_start(const char *name, const char *const *args)
{
    char logpath[512];
    snprintf(logpath, sizeof(logpath), "%s/%s.log", h_tmpdir(), name);
    const char *argv[16] = {"vigil", "respond"};
    int n = 2;
    for (; args && *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(h_vigil_bin(), (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", h_vigil_bin(), strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Run to completion (for --help and configuration errors). */
static int respond_run(const char *name, const char *const *args)
{
    pid_t pid = respond_start(name, args);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static const char *config(const h_cluster *c, const char *name, const char *response_extra)
{
    static char extra[4096];
    snprintf(extra, sizeof(extra),
             "outputs:\n"
             "  actions: actions\n"
             "  action_results: results\n"
             "plugins:\n"
             "  - name: pretend\n"
             "    id: fw\n"
             "    path: %s\n"
             "response:\n"
             "  responder: fw\n"
             "  group: " GROUP "\n"
             "  protected:\n"
             "    ips: [10.0.0.0/8]\n"
             "    accounts: [breakglass]\n"
             "%s",
             plugin_path(), response_extra ? response_extra : "");
    return h_config(c, name, extra);
}

/* An action record as the incident stage writes it. */
static void produce_action(rd_kafka_t *p, const char *id, const char *action, const char *ttype,
                           const char *target, const char *status, bool dry_run)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf),
                     "{\"action_id\":\"%s\",\"action\":\"%s\",\"target\":{\"type\":\"%s\","
                     "\"value\":\"%s\"},\"incident_id\":\"fb15b2d7020bc975834add4e17bd0dad\","
                     "\"rule_ids\":[\"spray\"],\"automation\":\"block\",\"reason\":\"test\","
                     "\"requested_at\":\"2020-01-15T00:00:00.000Z\",\"dry_run\":%s,"
                     "\"expires_at\":null,\"status\":\"%s\",\"error\":%s,"
                     "\"params\":{\"zone\":\"edge\"}}",
                     id, action, ttype, target, dry_run ? "true" : "false", status,
                     strcmp(status, "refused_protected") == 0
                         ? "\"the ip is listed in response.protected\""
                         : "null");
    h_produce(p, "actions", 0, id, strlen(id), buf, (size_t)n);
}

static json_t *result_for(const h_records *r, const char *key, int nth)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->r[i].key && strcmp(r->r[i].key, key) == 0 && nth-- == 0) {
            json_error_t e;
            json_t *j = json_loadb(r->r[i].value, r->r[i].len, 0, &e);
            ck_assert_msg(j != NULL, "result is not JSON: %s", e.text);
            return j;
        }
    }
    ck_abort_msg("no result %d for %s", nth, key);
    return NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void expect(const h_records *r, const char *key, int nth, const char *status,
                   const char *error)
{
    json_t *j = result_for(r, key, nth);
    ck_assert_msg(strcmp(jstr(j, "status"), status) == 0, "%s: status %s, expected %s", key,
                  jstr(j, "status"), status);
    if (error)
        ck_assert_str_eq(jstr(j, "error"), error);
    else
        ck_assert(json_is_null(json_object_get(j, "error")));
    ck_assert_str_eq(jstr(j, "responder"), "fw");
    ck_assert_ptr_nonnull(jstr(j, "finished_at"));
    json_decref(j);
}

#define ID_OK "00000000000000000000000000000001"
#define ID_PROT "00000000000000000000000000000002"
#define ID_FAIL "00000000000000000000000000000003"
#define ID_FLAKY "00000000000000000000000000000004"
#define ID_UPSTREAM "00000000000000000000000000000005"
#define ID_DRY "00000000000000000000000000000006"
#define ID_ACCT "00000000000000000000000000000007"
#define ID_LATE "00000000000000000000000000000008"

START_TEST(results_on_the_results_topic)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    h_topic(&c, "actions", 2);
    h_topic(&c, "results", 2);
    const char *cfg = config(&c, "r1", NULL);
    rd_kafka_t *p = h_producer(&c);
    produce_action(p, ID_OK, "block_ip", "ip", "203.0.113.7", "requested", false);
    produce_action(p, ID_PROT, "block_ip", "ip", "10.1.2.3", "requested", false);
    produce_action(p, ID_FAIL, "disable_user", "account", "eve@example.com", "requested", false);
    produce_action(p, ID_FLAKY, "flaky", "ip", "198.51.100.1", "requested", false);
    produce_action(p, ID_UPSTREAM, "block_ip", "ip", "10.9.9.9", "refused_protected", false);
    produce_action(p, ID_DRY, "block_ip", "ip", "198.51.100.2", "requested", true);
    produce_action(p, ID_ACCT, "disable_user", "account", "CORP\\\\BreakGlass", "requested", false);
    produce_action(p, ID_OK, "block_ip", "ip", "203.0.113.7", "requested", false); /* again */
    h_produce(p, "actions", 0, "junk", 4, "not json", 8);
    h_flush(p);
    const char *args[] = {"-c", cfg, NULL};
    pid_t pid = respond_start("r1", args);
    h_records out = {0};
    h_consume(&c, "results", 9, 20000, &out);
    ck_assert_uint_eq(out.n, 9);
    expect(&out, ID_OK, 0, "succeeded", NULL);
    expect(&out, ID_OK, 1, "duplicate", NULL);
    expect(&out, ID_PROT, 0, "refused_protected", "the ip is listed in response.protected");
    expect(&out, ID_ACCT, 0, "refused_protected", "the account is listed in response.protected");
    expect(&out, ID_UPSTREAM, 0, "refused_protected", "the ip is listed in response.protected");
    expect(&out, ID_FAIL, 0, "failed", "unsupported action disable_user");
    expect(&out, ID_FLAKY, 0, "failed", "gave up after 3 attempts: upstream timed out after 5s");
    expect(&out, ID_DRY, 0, "dry_run", NULL);
    /* the result carries the action's fields */
    json_t *j = result_for(&out, ID_OK, 0);
    ck_assert_str_eq(jstr(json_object_get(j, "target"), "value"), "203.0.113.7");
    ck_assert_str_eq(jstr(j, "incident_id"), "fb15b2d7020bc975834add4e17bd0dad");
    ck_assert_str_eq(jstr(json_object_get(j, "params"), "zone"), "edge");
    ck_assert_str_eq(jstr(j, "requested_at"), "2020-01-15T00:00:00.000Z");
    json_decref(j);
    /* the malformed record: a failed result naming where it was */
    bool junk = false;
    for (size_t i = 0; i < out.n; i++) {
        json_error_t e;
        json_t *r = json_loadb(out.r[i].value, out.r[i].len, 0, &e);
        ck_assert_ptr_nonnull(r);
        if (strcmp(jstr(r, "action_id"), "") == 0) {
            junk = true;
            ck_assert_str_eq(jstr(r, "status"), "failed");
            ck_assert_str_eq(jstr(r, "error"),
                             "malformed action record at actions/0@8: invalid JSON at byte 0: "
                             "expected '{', found 'n'");
        }
        json_decref(r);
    }
    ck_assert(junk);
    /* the responder ran exactly once for block_ip (the duplicate did not) */
    ck_assert(h_log_wait("r1", "msg=blocked plugin=fw target=203.0.113.7", 5000));
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 20000), 0);
    ck_assert(h_log_wait("r1", "succeeded=1 failed=3 refused_protected=3", 1000));
    /* everything handled was committed on the way out */
    ck_assert_int_eq(h_committed(&c, GROUP, "actions", 0), 9);
    /* a restart resumes after the committed offset: one new action, one new result */
    produce_action(p, ID_LATE, "block_ip", "ip", "203.0.113.99", "requested", false);
    h_flush(p);
    pid = respond_start("r1b", args);
    h_records again = {0};
    h_consume(&c, "results", 10, 20000, &again);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 20000), 0);
    ck_assert_uint_eq(again.n, 10);
    expect(&again, ID_LATE, 0, "succeeded", NULL);
    ck_assert_int_eq(h_committed(&c, GROUP, "actions", 0), 10);
    h_records_free(&out);
    h_records_free(&again);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(rate_limit_trips)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    h_topic(&c, "actions", 1);
    h_topic(&c, "results", 1);
    const char *cfg =
        config(&c, "r2", "  rate_limit:\n    - {action: block_ip, count: 2, window: 1h}\n");
    rd_kafka_t *p = h_producer(&c);
    char ids[4][33];
    for (int i = 0; i < 4; i++) {
        char ip[32];
        snprintf(ids[i], sizeof(ids[i]), "%032d", 100 + i);
        snprintf(ip, sizeof(ip), "203.0.113.%d", 10 + i);
        produce_action(p, ids[i], "block_ip", "ip", ip, "requested", false);
    }
    h_flush(p);
    const char *args[] = {"--config", cfg, NULL};
    pid_t pid = respond_start("r2", args);
    h_records out = {0};
    h_consume(&c, "results", 4, 20000, &out);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 20000), 0);
    ck_assert_uint_eq(out.n, 4);
    expect(&out, ids[0], 0, "succeeded", NULL);
    expect(&out, ids[1], 0, "succeeded", NULL);
    expect(&out, ids[2], 0, "refused_rate_limited",
           "response.rate_limit: at most 2 block_ip actions per 3600000 ms");
    expect(&out, ids[3], 0, "refused_rate_limited",
           "response.rate_limit: at most 2 block_ip actions per 3600000 ms");
    ck_assert(h_log_wait("r2", "level=error msg=\"CRITICAL: response rate limit exceeded, "
                               "actions refused\" severity=critical action=block_ip limit=2",
                         1000));
    h_records_free(&out);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(command_line)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(respond_run("help", help), 0);
    ck_assert(h_log_wait("help", "Usage: vigil respond [-c FILE] [-b BROKERS] [-v|-q]", 0));
    const char *bad[] = {"--nope", NULL};
    ck_assert_int_eq(respond_run("bad", bad), 2);
    const char *extra[] = {"-c", "x.yaml", "stray", NULL};
    ck_assert_int_eq(respond_run("stray", extra), 2);
    ck_assert(h_log_wait("stray", "vigil respond: unexpected argument 'stray'", 0));
    /* the embedded cluster lives in `vigil run`: respond needs --brokers */
    char path[512];
    snprintf(path, sizeof(path), "%s/emb2.yaml", h_tmpdir());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "kafka:\n  brokers: embedded\n");
    fclose(f);
    const char *emb[] = {"-c", path, NULL};
    ck_assert_int_eq(respond_run("emb", emb), 2);
    ck_assert(h_log_wait("emb", "pass its bootstrap list with --brokers", 0));
    /* no responder configured: a configuration problem, exit 1 */
    const char *nocfg = h_config(&c, "noresp", "response:\n  responder: missing\n");
    const char *noresp[] = {"-c", nocfg, NULL};
    ck_assert_int_eq(respond_run("noresp", noresp), 1);
    ck_assert(h_log_wait("noresp", "response.responder 'missing' is not a configured responder "
                                   "plugin instance",
                         0));
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("it_respond");
    TCase *tc = tcase_create("respond");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, results_on_the_results_topic);
    tcase_add_test(tc, rate_limit_trips);
    tcase_add_test(tc, command_line);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
