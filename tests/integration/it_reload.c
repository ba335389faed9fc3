/*
 * Rule hot reload in a running `vigil run`: SIGHUP swaps in the new rule
 * set between batches; a broken set is reported and the running one stays;
 * a rule file change is picked up without a signal.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void write_rule(const char *path, const char *id, bool broken)
{
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    if (broken)
        fprintf(f, "return vigil.rule { id = \"%s\", title = \"x\", severity = \"loud\",\n", id);
    else
        fprintf(f,
                "return vigil.rule {\n"
                "  id = \"%s\", title = \"Login by %s\", severity = \"low\",\n"
                "  where = { [\"user.name\"] = \"mallory\" },\n"
                "  entities = { account = \"user.name\" },\n"
                "}\n",
                id, id);
    fclose(f);
    ck_assert_int_eq(rename(tmp, path), 0); /* as editors save */
}

static void login(rd_kafka_t *p, int n)
{
    char buf[256];
    int len = snprintf(buf, sizeof(buf),
                       "{\"@timestamp\":\"2024-01-01T00:00:%02dZ\",\"user\":{\"name\":\"mallory\"}}",
                       n);
    h_produce(p, "in", 0, NULL, 0, buf, (size_t)len);
    h_flush(p);
}

/* Wait until the alerts topic holds `want` records; the last one's rule. */
static bool last_alert_rule(const h_cluster *c, size_t want, const char *rule)
{
    h_records r = {0};
    h_consume(c, "alerts", want, 15000, &r);
    bool ok = r.n == want && strstr(r.r[r.n - 1].value, rule) != NULL;
    if (!ok)
        fprintf(stderr, "alerts: %zu of %zu, last: %s\n", r.n, want,
                r.n ? r.r[r.n - 1].value : "-");
    h_records_free(&r);
    return ok;
}

START_TEST(sighup_and_file_change_reload)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    h_topic(&c, "in", 1);
    h_topic(&c, "alerts", 1);
    h_topic(&c, "grouping", 1);
    h_topic(&c, "dlq", 1);
    char rule[512];
    snprintf(rule, sizeof(rule), "%s/rules", h_tmpdir());
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", rule);
    ck_assert_int_eq(system(cmd), 0);
    strcat(rule, "/watch.lua");
    write_rule(rule, "RL-A", false);
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "inputs:\n  - topic: in\n"
             "outputs:\n  alerts: alerts\n  incidents: alerts-incidents\n"
             "  actions: alerts-actions\n  action_results: alerts-results\n  dead_letter: dlq\n"
             "incidents:\n  topic: grouping\n"
             "rules:\n  paths: [\"%s\"]\n"
             "limits:\n  workers: 1\n",
             rule);
    const char *cfg = h_config(&c, "rl", extra);
    pid_t pid = h_vigil_start(cfg, "rl");
    ck_assert(h_log_wait("rl", "partition assigned", 20000));
    rd_kafka_t *p = h_producer(&c);

    login(p, 1);
    ck_assert(last_alert_rule(&c, 1, "\"rule_id\":\"RL-A\""));

    /* SIGHUP with a new rule id */
    write_rule(rule, "RL-B", false);
    kill(pid, SIGHUP);
    ck_assert(h_log_wait("rl", "rules reloaded", 10000));
    login(p, 2);
    ck_assert(last_alert_rule(&c, 2, "\"rule_id\":\"RL-B\""));

    /* a broken set is reported; RL-B keeps running */
    write_rule(rule, "RL-C", true);
    kill(pid, SIGHUP);
    ck_assert(h_log_wait("rl", "rule reload failed", 10000));
    ck_assert(h_log_wait("rl", "watch.lua", 1000));
    login(p, 3);
    ck_assert(last_alert_rule(&c, 3, "\"rule_id\":\"RL-B\""));

    /* a file change alone (no signal) is picked up */
    sleep(1); /* mtime granularity */
    write_rule(rule, "RL-D", false);
    ck_assert(h_log_wait("rl", "trigger=file-change rules=1", 15000));
    sleep(1); /* workers swap between batches */
    login(p, 4);
    ck_assert(last_alert_rule(&c, 4, "\"rule_id\":\"RL-D\""));

    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("kafka");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sighup_and_file_change_reload);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
