/*
 * Tests of the incident stage (core/incidents.c): the records it writes,
 * grouping by any/all/rule, window expiry by event time, versions and
 * titles, deterministic ids across runs, suppression and the per-rule rate
 * cap (counted and summarized, never lost), eviction at max_open, Avro
 * output, and grouping of real logons (tests/data/samples).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "incidents.h"
#include "log.h"

#define H (3600LL * 1000)
#define T0 1579046400000LL /* 2020-01-15T00:00:00Z */

/* ------------------------------------------------------------ capture */

typedef struct rec {
    vgl_output_kind kind;
    char key[64];
    char *value;
    size_t len;
} rec;

typedef struct capture {
    rec r[4096];
    size_t n;
} capture;

static void on_emit(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                    const void *value, size_t len)
{
    capture *c = opaque;
    ck_assert_uint_lt(c->n, 4096);
    rec *r = &c->r[c->n++];
    r->kind = kind;
    ck_assert_uint_lt(keylen, sizeof(r->key));
    memcpy(r->key, key, keylen);
    r->key[keylen] = '\0';
    r->value = malloc(len + 1);
    memcpy(r->value, value, len);
    r->value[len] = '\0';
    r->len = len;
}

static void capture_free(capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->r[i].value);
    c->n = 0;
}

static json_t *js(const rec *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->value, r->len, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s (%s)", e.text, r->value);
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* Count records of kind. */
static size_t count_kind(const capture *c, vgl_output_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->r[i].kind == k;
    return n;
}

/* The last record of kind, or NULL. */
static const rec *last_kind(const capture *c, vgl_output_kind k)
{
    for (size_t i = c->n; i-- > 0;)
        if (c->r[i].kind == k)
            return &c->r[i];
    return NULL;
}

/* ------------------------------------------------------------ fixtures */

static vgl_config *cfg;
static vgl_incidents *inc;
static vgl_incident_worker *w;
static capture cap;

static void start(const char *yaml)
{
    vgl_diag d = {0};
    cfg = vgl_config_load_string(yaml, strlen(yaml), "test.yaml", &d);
    ck_assert_msg(cfg != NULL, "config: %s", d.n ? d.msgs[0] : "?");
    vgl_diag_free(&d);
    inc = vgl_incidents_new(cfg, &d);
    ck_assert_msg(inc != NULL, "incidents: %s", d.n ? d.msgs[0] : "?");
    vgl_diag_free(&d);
    memset(&cap, 0, sizeof(cap));
    w = vgl_incident_worker_new(inc, 0, on_emit, &cap);
    ck_assert_ptr_nonnull(w);
}

static void stop(void)
{
    vgl_incident_worker_free(w);
    vgl_incidents_free(inc);
    vgl_config_free(cfg);
    capture_free(&cap);
    w = NULL;
    inc = NULL;
    cfg = NULL;
}

/* An alert with up to 4 entities given as "type=value". */
typedef struct test_alert {
    vgl_alert a;
    vgl_entity ents[8];
    vgl_evidence ev;
} test_alert;

static const vgl_alert *mk(test_alert *t, const char *rule, vgl_severity sev, int64_t time_ms,
                           int64_t offset, const char *tactic, const char *const *ents)
{
    memset(t, 0, sizeof(*t));
    t->a.rule_id = rule;
    t->a.title = rule;
    t->a.severity = sev;
    t->a.time_ms = time_ms;
    t->a.tactic = tactic;
    size_t n = 0;
    for (; ents && ents[n] && n < 8; n++) {
        const char *eq = strchr(ents[n], '=');
        static char types[64][32];
        static int ti;
        char *ty = types[ti++ % 64];
        snprintf(ty, 32, "%.*s", (int)(eq - ents[n]), ents[n]);
        t->ents[n] = (vgl_entity){ty, eq + 1};
    }
    t->a.entities = t->ents;
    t->a.nentities = n;
    t->ev = (vgl_evidence){.topic = "in", .partition = 0, .offset = offset, .ts_ms = time_ms};
    t->a.evidence = &t->ev;
    t->a.nevidence = 1;
    vgl_alert_make_id(&t->a);
    return &t->a;
}

#define ENTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* --------------------------------------------------------------- tests */

START_TEST(alert_then_incident_records)
{
    start("incidents: {group_by: any}\n");
    test_alert t;
    const vgl_alert *a = mk(&t, "brute-force", VGL_SEV_MEDIUM, T0, 7, "CredentialAccess",
                            ENTS("ip=203.0.113.7", "account=alice@example.com"));
    vgl_incident_alert(w, a);
    ck_assert_uint_eq(cap.n, 2);
    ck_assert_int_eq(cap.r[0].kind, VGL_OUT_ALERTS);
    ck_assert_str_eq(cap.r[0].key, a->alert_id);
    json_t *al = js(&cap.r[0]);
    ck_assert_str_eq(jstr(al, "rule_id"), "brute-force");
    ck_assert_str_eq(jstr(al, "time"), "2020-01-15T00:00:00.000Z");
    json_decref(al);
    ck_assert_int_eq(cap.r[1].kind, VGL_OUT_INCIDENTS);
    json_t *j = js(&cap.r[1]);
    ck_assert_str_eq(jstr(j, "incident_id"), cap.r[1].key);
    ck_assert_str_eq(jstr(j, "title"), "brute-force");
    ck_assert_str_eq(jstr(j, "status"), "new");
    ck_assert_str_eq(jstr(j, "severity"), "medium");
    ck_assert_int_eq(jint(j, "version"), 1);
    ck_assert_int_eq(jint(j, "alert_count"), 1);
    ck_assert_int_eq(jint(j, "suppressed_count"), 0);
    ck_assert_str_eq(jstr(j, "first_seen"), "2020-01-15T00:00:00.000Z");
    ck_assert_str_eq(jstr(j, "last_seen"), "2020-01-15T00:00:00.000Z");
    json_t *ents = json_object_get(j, "entities");
    ck_assert_uint_eq(json_array_size(ents), 2);
    ck_assert_str_eq(jstr(json_array_get(ents, 0), "type"), "ip");
    ck_assert_str_eq(jstr(json_array_get(ents, 0), "value"), "203.0.113.7");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "alert_ids"), 0)),
                     a->alert_id);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "tactics"), 0)),
                     "CredentialAccess");
    json_decref(j);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.alerts, 1);
    ck_assert_uint_eq(st.opened, 1);
    stop();
}
END_TEST

START_TEST(two_rules_same_user_join_one_incident)
{
    start("incidents: {group_by: any}\n");
    test_alert t1, t2;
    vgl_incident_alert(w, mk(&t1, "impossible-travel", VGL_SEV_MEDIUM, T0, 1, "InitialAccess",
                             ENTS("account=bob@example.com", "ip=198.51.100.1")));
    /* same user, other case; other rule, other IP, 2h later */
    vgl_incident_alert(w, mk(&t2, "mfa-fatigue", VGL_SEV_HIGH, T0 + 2 * H, 2,
                             "CredentialAccess",
                             ENTS("account=BOB@example.com", "ip=192.0.2.9")));
    ck_assert_uint_eq(count_kind(&cap, VGL_OUT_INCIDENTS), 2);
    json_t *v1 = js(&cap.r[1]), *v2 = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_str_eq(jstr(v1, "incident_id"), jstr(v2, "incident_id"));
    ck_assert_int_eq(jint(v1, "version"), 1);
    ck_assert_int_eq(jint(v2, "version"), 2);
    ck_assert_str_eq(jstr(v2, "status"), "updated");
    ck_assert_str_eq(jstr(v2, "title"), "impossible-travel (+1 more)");
    ck_assert_str_eq(jstr(v2, "severity"), "high");
    ck_assert_int_eq(jint(v2, "alert_count"), 2);
    ck_assert_str_eq(jstr(v2, "first_seen"), "2020-01-15T00:00:00.000Z");
    ck_assert_str_eq(jstr(v2, "last_seen"), "2020-01-15T02:00:00.000Z");
    ck_assert_uint_eq(json_array_size(json_object_get(v2, "tactics")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(v2, "alert_ids")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(v2, "rule_ids")), 2);
    /* entities: account once (case-insensitive), both IPs */
    ck_assert_uint_eq(json_array_size(json_object_get(v2, "entities")), 3);
    json_decref(v1);
    json_decref(v2);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.opened, 1);
    ck_assert_uint_eq(st.updated, 1);
    stop();
}
END_TEST

START_TEST(window_expiry_by_event_time)
{
    start("incidents: {group_by: any, group_window: 5h}\n");
    test_alert t1, t2, t3;
    vgl_incident_alert(w, mk(&t1, "r1", VGL_SEV_LOW, T0, 1, NULL, ENTS("host=ws1")));
    vgl_incident_tick(w, 0);
    ck_assert_uint_eq(vgl_incident_worker_open(w), 1);
    /* 6h later: outside the window, a new incident */
    vgl_incident_alert(w, mk(&t2, "r1", VGL_SEV_LOW, T0 + 6 * H, 2, NULL, ENTS("host=ws1")));
    json_t *a = js(&cap.r[1]), *b = js(&cap.r[3]);
    ck_assert_str_ne(jstr(a, "incident_id"), jstr(b, "incident_id"));
    ck_assert_int_eq(jint(b, "version"), 1);
    /* tick: the first one is idle beyond the window and closes */
    size_t before = cap.n;
    vgl_incident_tick(w, 0);
    ck_assert_uint_eq(cap.n, before + 1);
    json_t *c = js(&cap.r[before]);
    ck_assert_str_eq(jstr(c, "incident_id"), jstr(a, "incident_id"));
    ck_assert_str_eq(jstr(c, "status"), "closed");
    ck_assert_int_eq(jint(c, "version"), 2);
    ck_assert_uint_eq(vgl_incident_worker_open(w), 1);
    /* within the window of the second: joins it */
    vgl_incident_alert(w, mk(&t3, "r2", VGL_SEV_LOW, T0 + 10 * H, 3, NULL, ENTS("host=WS1")));
    json_t *d = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_str_eq(jstr(d, "incident_id"), jstr(b, "incident_id"));
    ck_assert_int_eq(jint(d, "version"), 2);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.closed, 1);
    ck_assert_uint_eq(st.opened, 2);
    stop();
}
END_TEST

START_TEST(group_by_all)
{
    start("incidents: {group_by: all}\n");
    test_alert t1, t2, t3;
    vgl_incident_alert(w, mk(&t1, "r1", VGL_SEV_LOW, T0, 1, NULL,
                             ENTS("ip=10.1.1.1", "account=carol")));
    /* a subset is not all entities: new incident */
    vgl_incident_alert(w, mk(&t2, "r2", VGL_SEV_LOW, T0 + 1000, 2, NULL, ENTS("ip=10.1.1.1")));
    /* the same set in another order and case: joins the first */
    vgl_incident_alert(w, mk(&t3, "r3", VGL_SEV_LOW, T0 + 2000, 3, NULL,
                             ENTS("account=CAROL", "ip=10.1.1.1")));
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.opened, 2);
    ck_assert_uint_eq(st.updated, 1);
    json_t *first = js(&cap.r[1]), *last = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_str_eq(jstr(first, "incident_id"), jstr(last, "incident_id"));
    ck_assert_int_eq(jint(last, "version"), 2);
    json_decref(first);
    json_decref(last);
    stop();
}
END_TEST

START_TEST(group_by_rule)
{
    start("incidents: {group_by: rule}\n");
    test_alert t1, t2, t3;
    vgl_incident_alert(w, mk(&t1, "r1", VGL_SEV_LOW, T0, 1, NULL, ENTS("host=a")));
    vgl_incident_alert(w, mk(&t2, "r1", VGL_SEV_LOW, T0 + 1000, 2, NULL, ENTS("host=b")));
    vgl_incident_alert(w, mk(&t3, "r2", VGL_SEV_LOW, T0 + 2000, 3, NULL, ENTS("host=a")));
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.opened, 2); /* r1 (a, b) and r2 */
    ck_assert_uint_eq(st.updated, 1);
    json_t *j = js(&cap.r[3]);
    ck_assert_int_eq(jint(j, "version"), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "entities")), 2);
    json_decref(j);
    stop();
}
END_TEST

/* The same input twice, in two fresh workers: byte-identical output. */
static void run_sequence(capture *out)
{
    static const char *yaml =
        "incidents: {group_by: any}\n"
        "automation:\n"
        "  - name: block\n"
        "    when: {severity: [high, critical]}\n"
        "    do: [{action: block_ip, target: ip, duration: 1h}]\n";
    start(yaml);
    test_alert t;
    for (int i = 0; i < 50; i++) {
        char ip[32], user[32];
        snprintf(ip, sizeof(ip), "ip=198.51.100.%d", i % 7);
        snprintf(user, sizeof(user), "account=user%d", i % 5);
        const char *ents[] = {ip, user, NULL};
        vgl_incident_alert(w, mk(&t, i % 3 ? "spray" : "travel",
                                 i % 4 == 0 ? VGL_SEV_HIGH : VGL_SEV_LOW,
                                 T0 + (int64_t)i * 20 * 60 * 1000, i, "CredentialAccess", ents));
        if (i % 10 == 9)
            vgl_incident_tick(w, 0);
    }
    *out = cap;
    memset(&cap, 0, sizeof(cap));
    stop();
}

START_TEST(deterministic_across_runs)
{
    static capture a, b;
    run_sequence(&a);
    run_sequence(&b);
    ck_assert_uint_gt(a.n, 50);
    ck_assert_uint_eq(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_int_eq(a.r[i].kind, b.r[i].kind);
        ck_assert_str_eq(a.r[i].key, b.r[i].key);
        ck_assert_str_eq(a.r[i].value, b.r[i].value);
    }
    ck_assert_uint_gt(count_kind(&a, VGL_OUT_ACTIONS), 0);
    capture_free(&a);
    capture_free(&b);
}
END_TEST

START_TEST(suppressed_counted_and_summarized)
{
    start("incidents: {group_by: any}\n");
    test_alert t;
    vgl_incident_alert(w, mk(&t, "r1", VGL_SEV_LOW, T0, 1, NULL, ENTS("host=ws9")));
    for (int i = 0; i < 3; i++)
        vgl_incident_suppressed(w, mk(&t, "r1", VGL_SEV_LOW, T0 + 1000 * (i + 1), 2 + i, NULL,
                                      ENTS("host=ws9")));
    /* one that would join nothing: counted only */
    vgl_incident_suppressed(w, mk(&t, "r1", VGL_SEV_LOW, T0 + 5000, 9, NULL, ENTS("host=zz")));
    ck_assert_uint_eq(cap.n, 2); /* nothing written yet */
    vgl_incident_tick(w, 0);
    ck_assert_uint_eq(cap.n, 3); /* one re-emission for three suppressed */
    json_t *j = js(&cap.r[2]);
    ck_assert_int_eq(jint(j, "suppressed_count"), 3);
    ck_assert_int_eq(jint(j, "alert_count"), 1);
    ck_assert_int_eq(jint(j, "version"), 2);
    ck_assert_str_eq(jstr(j, "status"), "updated");
    json_decref(j);
    vgl_incident_tick(w, 0);
    ck_assert_uint_eq(cap.n, 3);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.suppressed, 4);
    ck_assert_uint_eq(st.alerts, 1);
    stop();
}
END_TEST

START_TEST(rate_cap_counted_not_lost)
{
    start("incidents: {group_by: any, max_alerts_per_rule_per_min: 3}\n");
    test_alert t;
    for (int i = 0; i < 5; i++)
        vgl_incident_alert(w, mk(&t, "noisy", VGL_SEV_LOW, T0 + i * 1000, i, NULL,
                                 ENTS("ip=192.0.2.1")));
    /* another rule is not capped by noisy's count */
    vgl_incident_alert(w, mk(&t, "quiet", VGL_SEV_LOW, T0 + 6000, 10, NULL,
                             ENTS("ip=192.0.2.1")));
    ck_assert_uint_eq(count_kind(&cap, VGL_OUT_ALERTS), 4);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.rate_capped, 2);
    ck_assert_uint_eq(st.alerts, 4);
    vgl_incident_tick(w, 0);
    json_t *j = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_int_eq(jint(j, "alert_count"), 4);
    ck_assert_int_eq(jint(j, "suppressed_count"), 2);
    json_decref(j);
    /* the next minute of event time: allowed again */
    vgl_incident_alert(w, mk(&t, "noisy", VGL_SEV_LOW, T0 + 61000, 20, NULL,
                             ENTS("ip=192.0.2.1")));
    ck_assert_uint_eq(count_kind(&cap, VGL_OUT_ALERTS), 5);
    stop();
}
END_TEST

START_TEST(max_open_evicts_oldest)
{
    start("incidents: {group_by: any, max_open: 2}\n");
    test_alert t;
    vgl_incident_alert(w, mk(&t, "r", VGL_SEV_LOW, T0, 1, NULL, ENTS("host=h1")));
    char first[64];
    snprintf(first, sizeof(first), "%s", cap.r[1].key);
    vgl_incident_alert(w, mk(&t, "r", VGL_SEV_LOW, T0 + 1, 2, NULL, ENTS("host=h2")));
    vgl_incident_alert(w, mk(&t, "r", VGL_SEV_LOW, T0 + 2, 3, NULL, ENTS("host=h3")));
    ck_assert_uint_eq(vgl_incident_worker_open(w), 2);
    /* the eviction wrote the first one as closed before the third opened */
    const rec *r = &cap.r[5];
    ck_assert_int_eq(r->kind, VGL_OUT_INCIDENTS);
    ck_assert_str_eq(r->key, first);
    json_t *j = js(r);
    ck_assert_str_eq(jstr(j, "status"), "closed");
    json_decref(j);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.evicted, 1);
    /* h1 again: a new incident (the old one is gone) */
    vgl_incident_alert(w, mk(&t, "r", VGL_SEV_LOW, T0 + 3, 4, NULL, ENTS("host=h1")));
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.opened, 4);
    ck_assert_uint_eq(st.evicted, 2);
    stop();
}
END_TEST

START_TEST(bounded_state_exact_counts)
{
    start("incidents: {group_by: rule, max_alerts_per_rule_per_min: 100000}\n");
    test_alert t;
    char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        char host[64];
        snprintf(host, sizeof(host), "host=h%d", i);
        const char *ents[] = {host, i == 0 ? "url=" : NULL, NULL};
        vgl_incident_alert(w, mk(&t, "r", VGL_SEV_LOW, T0 + i, i, NULL, ents));
    }
    json_t *j = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_int_eq(jint(j, "alert_count"), 300);
    ck_assert_int_eq(jint(j, "version"), 300);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "alert_ids")),
                      VGL_INCIDENT_MAX_ALERT_IDS);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "entities")),
                      VGL_INCIDENT_MAX_ENTITIES);
    json_decref(j);
    /* a hostile long value is cut (at a character boundary) */
    char ent[4100];
    snprintf(ent, sizeof(ent), "host=%s", big);
    vgl_incident_alert(w, mk(&t, "long", VGL_SEV_LOW, T0, 1000, NULL, ENTS(ent)));
    j = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_uint_eq(strlen(jstr(json_array_get(json_object_get(j, "entities"), 0), "value")),
                      1024);
    json_decref(j);
    stop();
}
END_TEST

START_TEST(avro_output)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "outputs:\n  format: avro\n  schema_dir: %s/configs/schemas\n"
             "  schema_ids: {alert: 11, incident: 12, action: 13}\n"
             "automation:\n  - name: b\n    do: [{action: block_ip, target: ip}]\n",
             VGL_SRCDIR);
    start(yaml);
    test_alert t;
    vgl_incident_alert(w, mk(&t, "r1", VGL_SEV_HIGH, T0, 1, "Impact", ENTS("ip=192.0.2.5")));
    ck_assert_uint_eq(cap.n, 3);
    const char *files[] = {"alert.avsc", "incident.avsc", "action.avsc"};
    const int ids[] = {11, 12, 13};
    for (int k = 0; k < 3; k++) {
        const rec *r = &cap.r[k];
        ck_assert_int_eq((unsigned char)r->value[0], 0);
        ck_assert_int_eq((unsigned char)r->value[4], ids[k]);
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/configs/schemas/%s", VGL_SRCDIR, files[k]);
        vgl_avro_codec *c = vgl_avro_codec_from_file(path, err, sizeof(err));
        ck_assert_msg(c != NULL, "%s", err);
        vgl_avro_ctx *x = vgl_avro_ctx_new(c);
        vgl_event ev;
        vgl_event_init(&ev, 0);
        vgl_decode_limits lim = {0};
        ck_assert_int_eq(vgl_avro_decode(x, &ev, r->value + 5, r->len - 5, &lim, err,
                                         sizeof(err)),
                         VGL_OK);
        const char *idk = k == 0 ? "alert_id" : k == 1 ? "incident_id" : "action_id";
        const vgl_value *v = vgl_object_get(&ev.root, idk, strlen(idk), vgl_hash(idk, strlen(idk)));
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(v->u.s, r->key);
        vgl_event_destroy(&ev);
        vgl_avro_ctx_free(x);
        vgl_avro_codec_free(c);
    }
    stop();
}
END_TEST

START_TEST(avro_missing_schema_dir)
{
    const char *yaml = "outputs:\n  format: avro\n  schema_dir: /nonexistent/schemas\n";
    vgl_diag d = {0};
    cfg = vgl_config_load_string(yaml, strlen(yaml), "test.yaml", &d);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_null(vgl_incidents_new(cfg, &d));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_msg(strstr(d.msgs[0], "outputs.format avro: ") == d.msgs[0] &&
                      strstr(d.msgs[0], "/nonexistent/schemas/alert.avsc"),
                  "%s", d.msgs[0]);
    vgl_diag_free(&d);
    vgl_config_free(cfg);
    cfg = NULL;
}
END_TEST

/* Real logons (msticpy host_logons): one alert per logon with the host and
 * the account as entities gives one incident listing every account. */
START_TEST(real_logons_one_incident)
{
    start("incidents: {group_by: any}\n");
    FILE *f = fopen(VGL_TEST_DATA "/samples/sentinel_securityevent_4624_host_logons.jsonl", "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        ck_assert_ptr_nonnull(j);
        char host[128], acct[256];
        snprintf(host, sizeof(host), "host=%s", jstr(j, "Computer"));
        snprintf(acct, sizeof(acct), "account=%s\\%s", jstr(j, "TargetDomainName"),
                 jstr(j, "TargetUserName"));
        int64_t ms;
        const char *tg = jstr(j, "TimeGenerated");
        ck_assert(vgl_time_parse(tg, strlen(tg), &ms));
        test_alert t;
        const char *ents[] = {host, acct, NULL};
        vgl_incident_alert(w, mk(&t, "logon", VGL_SEV_INFORMATIONAL, ms, n, "InitialAccess",
                                 ents));
        json_decref(j);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 14);
    vgl_incident_stats st;
    vgl_incident_worker_stats(w, &st);
    ck_assert_uint_eq(st.opened, 1);
    json_t *j = js(last_kind(&cap, VGL_OUT_INCIDENTS));
    ck_assert_int_eq(jint(j, "alert_count"), 14);
    ck_assert_int_eq(jint(j, "version"), 14);
    ck_assert_str_eq(jstr(j, "first_seen"), "2019-01-15T01:42:28.340Z");
    json_t *ents = json_object_get(j, "entities");
    int accounts = 0, hosts = 0, adm = 0;
    for (size_t i = 0; i < json_array_size(ents); i++) {
        json_t *e = json_array_get(ents, i);
        accounts += strcmp(jstr(e, "type"), "account") == 0;
        hosts += strcmp(jstr(e, "type"), "host") == 0;
        adm += strstr(jstr(e, "value"), "adm1nistrator") != NULL;
    }
    ck_assert_int_eq(hosts, 1);
    ck_assert_int_eq(accounts, 3); /* SYSTEM, MSTICAdmin, adm1nistrator */
    ck_assert_int_eq(adm, 1);
    json_decref(j);
    stop();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("incidents");
    TCase *tc = tcase_create("grouping");
    tcase_add_test(tc, alert_then_incident_records);
    tcase_add_test(tc, two_rules_same_user_join_one_incident);
    tcase_add_test(tc, window_expiry_by_event_time);
    tcase_add_test(tc, group_by_all);
    tcase_add_test(tc, group_by_rule);
    tcase_add_test(tc, deterministic_across_runs);
    tcase_add_test(tc, real_logons_one_incident);
    suite_add_tcase(s, tc);
    tc = tcase_create("accounting");
    tcase_add_test(tc, suppressed_counted_and_summarized);
    tcase_add_test(tc, rate_cap_counted_not_lost);
    tcase_add_test(tc, max_open_evicts_oldest);
    tcase_add_test(tc, bounded_state_exact_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("formats");
    tcase_add_test(tc, avro_output);
    tcase_add_test(tc, avro_missing_schema_dir);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vgl_log_set_level(VGL_LOG_ERROR);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vgl_path_registry_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
