/*
 * Incidents and automated response through real `vigil run` processes on
 * an embedded cluster, outputs read back by an independent consumer:
 *  - alerts raised on 8 input partitions (2 workers) that share an IP
 *    entity form ONE incident (global grouping through the internal topic);
 *  - block_ip automation yields one action per target, a protected IP is
 *    refused and recorded, the rate limit trips and is recorded;
 *  - a full replay of the input (new consumer group, after a restart)
 *    produces the same alert, incident and action ids: nothing new.
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NPART 8
#define SPRAY_IP "198.51.100.7"
#define PROTECTED_IP "203.0.113.9"
#define OTHER_IP "192.0.2.50"

static const char *write_file(const char *name, const char *text)
{
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", h_tmpdir(), name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *config(const h_cluster *c, const char *name, const char *group,
                          const char *rules)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "kafka:\n"
             "  brokers: \"%s\"\n"
             "  group: %s\n"
             "  properties:\n"
             "    session.timeout.ms: \"6000\"\n"
             "    heartbeat.interval.ms: \"500\"\n"
             "    topic.metadata.refresh.interval.ms: \"1000\"\n"
             "inputs:\n"
             "  - topic: in\n"
             "outputs:\n"
             "  alerts: alerts\n"
             "  incidents: incidents\n"
             "  actions: actions\n"
             "  action_results: results\n"
             "  dead_letter: dlq\n"
             "rules:\n"
             "  paths: [%s]\n"
             "incidents:\n"
             "  group_by: any\n"
             "  topic: grouping\n"
             "automation:\n"
             "  - name: block-sprayers\n"
             "    when: {severity: [high, critical]}\n"
             "    do:\n"
             "      - action: block_ip\n"
             "        target: ip\n"
             "        duration: 1h\n"
             "response:\n"
             "  protected:\n"
             "    ips: [\"203.0.113.0/24\"]\n"
             "  rate_limit:\n"
             "    - {action: block_ip, count: 1, window: 1h}\n"
             "limits:\n"
             "  workers: 2\n"
             "  shutdown_timeout: 20s\n"
             "metrics:\n"
             "  listen: 127.0.0.1:0\n"
             "log:\n"
             "  level: info\n",
             c->bootstraps, group, rules);
    char fname[128];
    snprintf(fname, sizeof(fname), "%s.yaml", name);
    return write_file(fname, text);
}

static void produce_input(rd_kafka_t *p)
{
    char buf[512];
    /* the spray: one failed sign-in per partition, all from SPRAY_IP */
    for (int part = 0; part < NPART; part++) {
        int n = snprintf(buf, sizeof(buf),
                         "{\"@timestamp\":\"2024-03-01T10:0%d:00Z\",\"event\":{\"category\":"
                         "\"authentication\",\"outcome\":\"failure\"},\"source\":{\"ip\":\"%s\"},"
                         "\"user\":{\"name\":\"user%d@contoso.com\"}}",
                         part, SPRAY_IP, part);
        h_produce(p, "in", part, NULL, 0, buf, (size_t)n);
    }
    /* an unrelated failure from a protected address, and one from another
     * address (its block is over the rate limit) */
    const char *others[][2] = {{PROTECTED_IP, "scanner@contoso.com"},
                               {OTHER_IP, "dave@contoso.com"}};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(buf, sizeof(buf),
                         "{\"@timestamp\":\"2024-03-01T10:3%d:00Z\",\"event\":{\"category\":"
                         "\"authentication\",\"outcome\":\"failure\"},\"source\":{\"ip\":\"%s\"},"
                         "\"user\":{\"name\":\"%s\"}}",
                         i, others[i][0], others[i][1]);
        h_produce(p, "in", 3 + i, NULL, 0, buf, (size_t)n);
    }
    h_flush(p);
}

/* GET path from the metrics endpoint of the vigil whose log is NAME.log;
 * returns the HTTP status, body in buf. */
static int http_get(const char *name, const char *path, char *buf, size_t len)
{
    char logpath[512], line[1024];
    snprintf(logpath, sizeof(logpath), "%s/%s.log", h_tmpdir(), name);
    FILE *f = fopen(logpath, "r");
    ck_assert_ptr_nonnull(f);
    int port = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "metrics endpoint listening");
        if (p && (p = strstr(line, " port=")))
            port = atoi(p + 6);
    }
    fclose(f);
    ck_assert_int_gt(port, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    ck_assert_int_eq((int)write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fd, buf + got, len - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

/* Value of the sample line starting with `series ` in a scrape, or -1. */
static double sample(const char *body, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = body; (p = strstr(p, series)); p += n)
        if ((p == body || p[-1] == '\n') && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

/* The latest version of every incident, by incident_id. */
static json_t *latest_incidents(const h_records *r)
{
    json_t *by_id = json_object();
    for (size_t i = 0; i < r->n; i++) {
        json_t *j = json_loadb(r->r[i].value, r->r[i].len, 0, NULL);
        ck_assert_ptr_nonnull(j);
        const char *id = json_string_value(json_object_get(j, "incident_id"));
        ck_assert_ptr_nonnull(id);
        json_t *prev = json_object_get(by_id, id);
        if (!prev || json_integer_value(json_object_get(j, "version")) >
                         json_integer_value(json_object_get(prev, "version")))
            json_object_set(by_id, id, j);
        json_decref(j);
    }
    return by_id;
}

static bool has_entity(json_t *inc, const char *type, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(inc, "entities"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(e, "value")), value) == 0)
            return true;
    }
    return false;
}

/* action_id -> status, one entry per distinct action id */
static json_t *actions_by_id(const h_records *r)
{
    json_t *m = json_object();
    for (size_t i = 0; i < r->n; i++) {
        json_t *j = json_loadb(r->r[i].value, r->r[i].len, 0, NULL);
        ck_assert_ptr_nonnull(j);
        const char *id = json_string_value(json_object_get(j, "action_id"));
        ck_assert_ptr_nonnull(id);
        /* the record key is the action id */
        ck_assert_int_eq((int)r->r[i].keylen, (int)strlen(id));
        ck_assert(memcmp(r->r[i].key, id, r->r[i].keylen) == 0);
        json_object_set(m, id, j);
        json_decref(j);
    }
    return m;
}

static const char *status_of_target(json_t *acts, const char *ip)
{
    const char *k;
    json_t *a;
    json_object_foreach(acts, k, a) {
        json_t *t = json_object_get(a, "target");
        if (strcmp(json_string_value(json_object_get(t, "value")), ip) == 0)
            return json_string_value(json_object_get(a, "status"));
    }
    return NULL;
}

START_TEST(cross_partition_incident_and_safe_actions)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    h_topic(&c, "in", NPART);
    h_topic(&c, "alerts", 4);
    h_topic(&c, "incidents", 4);
    h_topic(&c, "actions", 4);
    h_topic(&c, "results", 1);
    h_topic(&c, "dlq", 1);
    h_topic(&c, "grouping", 1);
    const char *rules = write_file(
        "failed.lua", "return vigil.rule {\n"
                      "  id = \"IT-AUTH-0001\", title = \"Failed sign-in\", severity = \"high\",\n"
                      "  tactic = \"Credential Access\", technique = \"T1110\",\n"
                      "  where = { [\"event.category\"] = \"authentication\",\n"
                      "            [\"event.outcome\"] = \"failure\" },\n"
                      "  entities = { ip = \"source.ip\", account = \"user.name\" },\n"
                      "}\n");
    rd_kafka_t *p = h_producer(&c);
    produce_input(p);

    const char *cfg = config(&c, "inc1", "vigil-inc", rules);
    pid_t pid = h_vigil_start(cfg, "inc1");
    ck_assert(h_log_wait("inc1", "partition assigned", 20000));
    h_records alerts = {0}, incidents = {0}, actions = {0};
    h_consume(&c, "alerts", NPART + 2, 20000, &alerts);
    ck_assert_int_eq((int)alerts.n, NPART + 2);
    /* wait until the incident stage has written every action */
    h_consume(&c, "actions", 3, 20000, &actions);
    ck_assert_int_ge((int)actions.n, 3);
    /* what the operator sees: /readyz, and counters matching what was sent */
    static char body[1 << 20];
    ck_assert_int_eq(http_get("inc1", "/readyz", body, sizeof(body)), 200);
    ck_assert_int_eq(http_get("inc1", "/healthz", body, sizeof(body)), 200);
    for (int tries = 0;; tries++) {
        ck_assert_int_eq(http_get("inc1", "/metrics", body, sizeof(body)), 200);
        if (sample(body, "vigil_incidents_opened_total") == 3 || tries > 50)
            break;
        usleep(100 * 1000); /* incident counters are published between batches */
    }
    ck_assert_int_eq((int)sample(body, "vigil_events_consumed_total{topic=\"in\"}"), NPART + 2);
    ck_assert_int_eq((int)sample(body, "vigil_events_decoded_total{topic=\"in\"}"), NPART + 2);
    ck_assert_int_eq((int)sample(body, "vigil_rule_alerts_total{rule=\"IT-AUTH-0001\"}"),
                     NPART + 2);
    ck_assert_int_eq((int)sample(body, "vigil_incidents_opened_total"), 3);
    ck_assert_int_eq(
        (int)sample(body, "vigil_actions_refused_total{reason=\"protected\"}"), 1);
    ck_assert_int_eq((int)sample(body, "vigil_rules_loaded"), 1);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    h_consume(&c, "incidents", 1000, 3000, &incidents);

    json_t *inc = latest_incidents(&incidents);
    /* spray: one incident over 8 partitions; plus one per other address */
    ck_assert_int_eq((int)json_object_size(inc), 3);
    json_t *spray = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(inc, k, v) {
        if (has_entity(v, "ip", SPRAY_IP))
            spray = v;
    }
    ck_assert_ptr_nonnull(spray);
    ck_assert_int_eq((int)json_integer_value(json_object_get(spray, "alert_count")), NPART);
    ck_assert_int_eq((int)json_integer_value(json_object_get(spray, "version")), NPART);
    for (int i = 0; i < NPART; i++) {
        char user[64];
        snprintf(user, sizeof(user), "user%d@contoso.com", i);
        ck_assert_msg(has_entity(spray, "account", user), "spray incident lacks %s", user);
    }
    ck_assert_str_eq(json_string_value(json_object_get(spray, "severity")), "high");

    json_t *acts = actions_by_id(&actions);
    ck_assert_int_eq((int)json_object_size(acts), 3);
    ck_assert_str_eq(status_of_target(acts, PROTECTED_IP), "refused_protected");
    /* the rate limit (1 block_ip per hour) lets exactly one through */
    const char *s1 = status_of_target(acts, SPRAY_IP), *s2 = status_of_target(acts, OTHER_IP);
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(s2);
    ck_assert_msg((strcmp(s1, "requested") == 0) != (strcmp(s2, "requested") == 0),
                  "statuses %s / %s", s1, s2);
    ck_assert_msg(strcmp(s1, "refused_rate_limited") == 0 ||
                      strcmp(s2, "refused_rate_limited") == 0,
                  "statuses %s / %s", s1, s2);
    ck_assert(h_log_wait("inc1", "severity=critical", 1000));

    /* replay everything from the beginning in a new group: same ids */
    json_t *alert_ids = json_object();
    for (size_t i = 0; i < alerts.n; i++)
        json_object_set_new(alert_ids, alerts.r[i].key, json_true());
    const char *cfg2 = config(&c, "inc2", "vigil-inc-replay", rules);
    pid = h_vigil_start(cfg2, "inc2");
    h_records alerts2 = {0}, actions2 = {0}, incidents2 = {0};
    h_consume(&c, "alerts", 2 * (NPART + 2), 30000, &alerts2);
    ck_assert_int_eq((int)alerts2.n, 2 * (NPART + 2));
    h_consume(&c, "actions", 2 * actions.n, 20000, &actions2);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    h_consume(&c, "incidents", 1000, 3000, &incidents2);
    for (size_t i = 0; i < alerts2.n; i++)
        ck_assert_msg(json_object_get(alert_ids, alerts2.r[i].key),
                      "replay produced a new alert id %s", alerts2.r[i].key);
    json_t *acts2 = actions_by_id(&actions2);
    ck_assert_int_eq((int)json_object_size(acts2), 3); /* no new action ids */
    json_t *inc2 = latest_incidents(&incidents2);
    ck_assert_int_eq((int)json_object_size(inc2), 3); /* no new incident ids */

    json_decref(inc);
    json_decref(inc2);
    json_decref(acts);
    json_decref(acts2);
    json_decref(alert_ids);
    h_records_free(&alerts);
    h_records_free(&alerts2);
    h_records_free(&incidents);
    h_records_free(&incidents2);
    h_records_free(&actions);
    h_records_free(&actions2);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("incidents");
    TCase *tc = tcase_create("kafka");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, cross_partition_incident_and_safe_actions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
