/*
 * Tests of automated response (core/automation.c and the actions the
 * incident stage writes): protected IPs/CIDRs/accounts/hosts, rate limits,
 * `when` matching, action ids, the action record and its decoding
 * (malformed records named), and end to end through vgl_incident_alert:
 * automation, refusals, the critical log line, dry runs, expires_at, a
 * rule's own response request, and one action per decision.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "automation.h"
#include "incidents.h"
#include "log.h"

#define T0 1579046400000LL /* 2020-01-15T00:00:00Z */

static vgl_config *load(const char *yaml)
{
    vgl_diag d = {0};
    vgl_config *c = vgl_config_load_string(yaml, strlen(yaml), "test.yaml", &d);
    ck_assert_msg(c != NULL, "config: %s", d.n ? d.msgs[0] : "?");
    vgl_diag_free(&d);
    return c;
}

/* ----------------------------------------------------------- protected */

START_TEST(protected_ips_and_networks)
{
    vgl_config *c = load("response:\n  protected:\n"
                         "    ips: [10.0.0.0/8, 192.0.2.10, \"fd00::/8\", \"2001:db8::1\"]\n");
    vgl_diag d = {0};
    vgl_protected *p = vgl_protected_new(&c->response, &d);
    ck_assert_ptr_nonnull(p);
    ck_assert(vgl_protected_match(p, "ip", "10.200.3.4"));
    ck_assert(vgl_protected_match(p, "ip", "192.0.2.10"));
    ck_assert(!vgl_protected_match(p, "ip", "192.0.2.11"));
    ck_assert(!vgl_protected_match(p, "ip", "11.0.0.1"));
    ck_assert(vgl_protected_match(p, "ip", "fd12:3456::1"));
    ck_assert(vgl_protected_match(p, "ip", "2001:db8::1"));
    ck_assert(!vgl_protected_match(p, "ip", "2001:db8::2"));
    /* IPv4-mapped IPv6 is the IPv4 address */
    ck_assert(vgl_protected_match(p, "ip", "::ffff:10.1.2.3"));
    /* not an address, or a network as a target: not matched (and not acted on
     * by a responder expecting an address) */
    ck_assert(!vgl_protected_match(p, "ip", "10.0.0.0/8x"));
    ck_assert(!vgl_protected_match(p, "ip", "not-an-ip"));
    ck_assert(!vgl_protected_match(p, "ip", ""));
    /* only type ip is compared with the networks */
    ck_assert(!vgl_protected_match(p, "host", "10.1.2.3"));
    vgl_protected_free(p);
    vgl_config_free(c);
}
END_TEST

START_TEST(protected_accounts_and_hosts)
{
    vgl_config *c = load("response:\n  protected:\n"
                         "    accounts: [BreakGlass@Example.com, svc-backup]\n"
                         "    hosts: [dc01, DC02.corp.example.com]\n");
    vgl_diag d = {0};
    vgl_protected *p = vgl_protected_new(&c->response, &d);
    ck_assert_ptr_nonnull(p);
    ck_assert(vgl_protected_match(p, "account", "breakglass@example.com"));
    ck_assert(vgl_protected_match(p, "mailbox", "BREAKGLASS@EXAMPLE.COM"));
    ck_assert(!vgl_protected_match(p, "account", "breakglass@other.com"));
    /* an unqualified entry covers every domain's account of that name */
    ck_assert(vgl_protected_match(p, "account", "CORP\\SVC-Backup"));
    ck_assert(vgl_protected_match(p, "account", "svc-backup@corp.example.com"));
    ck_assert(!vgl_protected_match(p, "account", "svc-backup2"));
    ck_assert(vgl_protected_match(p, "host", "DC01"));
    ck_assert(vgl_protected_match(p, "host", "dc01.corp.example.com"));
    ck_assert(vgl_protected_match(p, "host", "dc02"));
    ck_assert(!vgl_protected_match(p, "host", "dc03"));
    ck_assert(!vgl_protected_match(p, "host", "dc01x"));
    vgl_protected_free(p);
    vgl_config_free(c);
}
END_TEST

START_TEST(protected_bad_network_rejected)
{
    vgl_response_cfg r = {0};
    char *ips[] = {"10.0.0.0/33"};
    r.protected_ips = ips;
    r.nprotected_ips = 1;
    vgl_diag d = {0};
    ck_assert_ptr_null(vgl_protected_new(&r, &d));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.msgs[0], "response.protected.ips[0]: '10.0.0.0/33' is not an IP "
                                "address or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)");
    vgl_diag_free(&d);
}
END_TEST

/* ---------------------------------------------------------- rate limit */

START_TEST(rate_limit_windows)
{
    vgl_config *c = load("response:\n  rate_limit:\n"
                         "    - {action: block_ip, count: 2, window: 1m}\n"
                         "    - {count: 3, window: 1h}\n");
    vgl_rate_limiter *rl = vgl_rate_limiter_new(&c->response);
    const vgl_rate_limit_cfg *lim;
    ck_assert(vgl_rate_limiter_take(rl, "block_ip", T0, &lim));
    ck_assert(vgl_rate_limiter_take(rl, "block_ip", T0 + 1000, &lim));
    ck_assert(!vgl_rate_limiter_take(rl, "block_ip", T0 + 2000, &lim));
    ck_assert_str_eq(lim->action, "block_ip");
    /* the refused one was not charged to "*": one more of another type fits */
    ck_assert(vgl_rate_limiter_take(rl, "notify", T0 + 3000, &lim));
    ck_assert(!vgl_rate_limiter_take(rl, "notify", T0 + 4000, &lim));
    ck_assert_str_eq(lim->action, "*");
    ck_assert_uint_eq(lim->count, 3);
    /* after the minute block_ip's window is over, but "*" still holds */
    ck_assert(!vgl_rate_limiter_take(rl, "block_ip", T0 + 61000, &lim));
    ck_assert_str_eq(lim->action, "*");
    /* an hour later both are open again */
    ck_assert(vgl_rate_limiter_take(rl, "block_ip", T0 + 3600 * 1000 + 1, &lim));
    ck_assert_ptr_null(lim);
    vgl_rate_limiter_free(rl);
    vgl_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ matching */

static vgl_alert alert_of(const char *rule, vgl_severity sev, const char *tactic,
                          const char *technique, const char *const *tags, size_t ntags,
                          const vgl_entity *ents, size_t nents)
{
    vgl_alert a = {0};
    a.rule_id = rule;
    a.title = rule;
    a.severity = sev;
    a.tactic = tactic;
    a.technique = technique;
    a.tags = tags;
    a.ntags = ntags;
    a.entities = ents;
    a.nentities = nents;
    a.time_ms = T0;
    vgl_alert_make_id(&a);
    return a;
}

START_TEST(when_matching)
{
    vgl_config *c = load(
        "automation:\n"
        "  - name: all\n"
        "    do: [{action: notify}]\n"
        "  - name: sev\n"
        "    when: {severity: [high, critical]}\n"
        "    do: [{action: notify}]\n"
        "  - name: tactic\n"
        "    when: {tactic: credential-access, technique: T1110}\n"
        "    do: [{action: notify}]\n"
        "  - name: rule-tags\n"
        "    when: {rule_id: [spray, other], tags: [identity]}\n"
        "    do: [{action: notify}]\n"
        "  - name: entity\n"
        "    when: {entity_type: ip, severity: low}\n"
        "    do: [{action: notify}]\n");
    vgl_diag d = {0};
    vgl_automation *am = vgl_automation_new(c, &d);
    ck_assert_ptr_nonnull(am);
    ck_assert_uint_eq(vgl_automation_count(am), 5);
    const char *tags[] = {"identity", "aad"};
    vgl_entity ip[] = {{"ip", "192.0.2.1"}}, acct[] = {{"account", "eve"}};
    vgl_alert a = alert_of("spray", VGL_SEV_HIGH, "CredentialAccess", "T1110.003", tags, 2, ip,
                           1);
    ck_assert(vgl_automation_matches(am, 0, &a));
    ck_assert(vgl_automation_matches(am, 1, &a));
    ck_assert(vgl_automation_matches(am, 2, &a)); /* tactic spelling, parent technique */
    ck_assert(vgl_automation_matches(am, 3, &a));
    ck_assert(!vgl_automation_matches(am, 4, &a)); /* severity low only */
    vgl_alert b = alert_of("brute", VGL_SEV_LOW, "Credential Access", "T1110", NULL, 0, acct, 1);
    ck_assert(vgl_automation_matches(am, 0, &b));
    ck_assert(!vgl_automation_matches(am, 1, &b));
    ck_assert(vgl_automation_matches(am, 2, &b));
    ck_assert(!vgl_automation_matches(am, 3, &b)); /* rule and tags */
    ck_assert(!vgl_automation_matches(am, 4, &b)); /* no ip entity */
    vgl_alert e = alert_of("x", VGL_SEV_LOW, NULL, "T1110003", NULL, 0, ip, 1);
    ck_assert(!vgl_automation_matches(am, 2, &e)); /* no tactic; not a sub-technique */
    ck_assert(vgl_automation_matches(am, 4, &e));
    /* "at least" through the lower-level matcher */
    vgl_automation_when none = {0};
    ck_assert(vgl_automation_when_matches(&none, VGL_SEV_MEDIUM, &a));
    ck_assert(!vgl_automation_when_matches(&none, VGL_SEV_MEDIUM, &b));
    vgl_automation_free(am);
    vgl_config_free(c);
}
END_TEST

/* ------------------------------------------------------------- records */

START_TEST(action_id_deterministic)
{
    vgl_action a = {.incident_id = "0123456789abcdef0123456789abcdef", .action = "block_ip",
                    .target_type = "ip", .target = "203.0.113.7"};
    vgl_action b = a;
    vgl_action_make_id(&a);
    vgl_action_make_id(&b);
    ck_assert_str_eq(a.action_id, b.action_id);
    ck_assert_uint_eq(strlen(a.action_id), 32);
    b.target = "203.0.113.8";
    vgl_action_make_id(&b);
    ck_assert_str_ne(a.action_id, b.action_id);
    b.target = "203.0.113.7";
    b.action = "isolate_host";
    vgl_action_make_id(&b);
    ck_assert_str_ne(a.action_id, b.action_id);
    b.action = "block_ip";
    b.incident_id = NULL;
    vgl_action_make_id(&b);
    ck_assert_str_ne(a.action_id, b.action_id);
}
END_TEST

static void roundtrip(const char *yaml)
{
    vgl_config *c = load(yaml);
    char err[512];
    vgl_outcodec *codec = vgl_outcodec_new(&c->outputs, err, sizeof(err));
    ck_assert_msg(codec != NULL, "%s", err);
    vgl_outctx *x = vgl_outctx_new(codec);
    const char *rules[] = {"spray", "travel"};
    vgl_pair params[] = {{"zone", "edge"}, {"comment", "x\"y"}};
    vgl_action a = {.action = "block_ip", .target_type = "ip", .target = "203.0.113.7",
                    .incident_id = "0123456789abcdef0123456789abcdef", .rule_ids = rules,
                    .nrule_ids = 2, .automation = "block", .reason = "because",
                    .requested_ms = T0, .dry_run = true, .expires_ms = T0 + 3600000,
                    .params = params, .nparams = 2};
    vgl_action_make_id(&a);
    vgl_event ev, back;
    vgl_event_init(&ev, 0);
    vgl_event_init(&back, 0);
    vgl_value root = {0};
    ck_assert_int_eq(vgl_action_to_value(&a, &ev, &root), VGL_OK);
    vgl_buf out;
    vgl_buf_init(&out, 0);
    ck_assert_int_eq(vgl_outctx_encode(x, VGL_REC_ACTION, &root, &out, err, sizeof(err)),
                     VGL_OK);
    vgl_action b;
    vgl_pair bp[8];
    const char *br[8];
    ck_assert_int_eq(vgl_outctx_decode_action(x, out.data, out.len, &back, &b, bp, 8, br, 8, err,
                                              sizeof(err)),
                     VGL_OK);
    ck_assert_str_eq(b.action_id, a.action_id);
    ck_assert_str_eq(b.action, "block_ip");
    ck_assert_str_eq(b.target_type, "ip");
    ck_assert_str_eq(b.target, "203.0.113.7");
    ck_assert_str_eq(b.incident_id, a.incident_id);
    ck_assert_str_eq(b.automation, "block");
    ck_assert_uint_eq(b.nrule_ids, 2);
    ck_assert_str_eq(b.rule_ids[1], "travel");
    ck_assert_int_eq(b.requested_ms, T0);
    ck_assert_int_eq(b.expires_ms, T0 + 3600000);
    ck_assert(b.dry_run);
    ck_assert_int_eq(b.status, VGL_ACT_REQUESTED);
    ck_assert_ptr_null(b.error);
    ck_assert_uint_eq(b.nparams, 2);
    ck_assert_str_eq(b.params[1].value, "x\"y");
    vgl_buf_free(&out);
    vgl_event_destroy(&ev);
    vgl_event_destroy(&back);
    vgl_outctx_free(x);
    vgl_outcodec_free(codec);
    vgl_config_free(c);
}

START_TEST(action_roundtrip_json)
{
    roundtrip("outputs: {format: json}\n");
}
END_TEST

START_TEST(action_roundtrip_avro)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "outputs: {format: avro, schema_dir: %s/configs/schemas}\n",
             VGL_SRCDIR);
    roundtrip(yaml);
}
END_TEST

static void expect_decode_error(vgl_outctx *x, const char *text, const char *want)
{
    vgl_event ev;
    vgl_event_init(&ev, 0);
    vgl_action a;
    vgl_pair p[2];
    const char *r[2];
    char err[512];
    ck_assert_int_eq(vgl_outctx_decode_action(x, text, strlen(text), &ev, &a, p, 2, r, 2, err,
                                              sizeof(err)),
                     VGL_ERR_INVALID);
    ck_assert_str_eq(err, want);
    vgl_event_destroy(&ev);
}

START_TEST(action_decode_malformed)
{
    vgl_config *c = load("outputs: {format: json}\n");
    char err[256];
    vgl_outcodec *codec = vgl_outcodec_new(&c->outputs, err, sizeof(err));
    vgl_outctx *x = vgl_outctx_new(codec);
#define OKID "\"action_id\":\"0123456789abcdef0123456789abcdef\""
#define TGT "\"target\":{\"type\":\"ip\",\"value\":\"1.2.3.4\"}"
    expect_decode_error(x, "{\"action\":", "invalid JSON at byte 10: unexpected end of input");
    expect_decode_error(x, "{}", "field action_id is missing");
    expect_decode_error(x, "{\"action_id\":\"XYZ\"}", "field action_id: expected 32 hex digits");
    expect_decode_error(x, "{\"action_id\":7}", "field action_id: expected a string, got int");
    expect_decode_error(x, "{" OKID "}", "field target: expected an object {type, value}");
    expect_decode_error(x, "{" OKID "," TGT "}", "field action is missing");
    expect_decode_error(x, "{" OKID "," TGT ",\"action\":\"a\\u0000b\"}",
                        "field action holds a NUL byte");
    expect_decode_error(x, "{" OKID "," TGT ",\"action\":\"block_ip\"}",
                        "field requested_at is missing");
    expect_decode_error(x,
                        "{" OKID "," TGT ",\"action\":\"block_ip\",\"requested_at\":\"yesterday\"}",
                        "field requested_at: 'yesterday' is not an RFC 3339 time");
    expect_decode_error(x,
                        "{" OKID "," TGT ",\"action\":\"b\",\"requested_at\":"
                        "\"2020-01-15T00:00:00Z\",\"status\":\"maybe\"}",
                        "field status: unknown status 'maybe'");
    expect_decode_error(x,
                        "{" OKID "," TGT ",\"action\":\"b\",\"requested_at\":"
                        "\"2020-01-15T00:00:00Z\",\"params\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}",
                        "field params: more than 2 parameters");
    expect_decode_error(x,
                        "{" OKID "," TGT ",\"action\":\"b\",\"requested_at\":"
                        "\"2020-01-15T00:00:00Z\",\"params\":{\"a\":1}}",
                        "field params.a: expected a string without NUL bytes");
    expect_decode_error(x,
                        "{" OKID "," TGT ",\"action\":\"b\",\"requested_at\":"
                        "\"2020-01-15T00:00:00Z\",\"dry_run\":\"yes\"}",
                        "field dry_run: expected a boolean");
    vgl_outctx_free(x);
    vgl_outcodec_free(codec);
    vgl_config_free(c);
}
END_TEST

/* ----------------------------------------------- through the incident stage */

typedef struct capture {
    json_t *actions[256];
    size_t nactions;
    char keys[256][64];
    size_t nrecords;
} capture;

static void on_emit(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                    const void *value, size_t len)
{
    capture *c = opaque;
    c->nrecords++;
    if (kind != VGL_OUT_ACTIONS)
        return;
    ck_assert_uint_lt(c->nactions, 256);
    json_error_t e;
    json_t *j = json_loadb(value, len, 0, &e);
    ck_assert_ptr_nonnull(j);
    snprintf(c->keys[c->nactions], 64, "%.*s", (int)keylen, (const char *)key);
    c->actions[c->nactions++] = j;
}

static void capture_free(capture *c)
{
    for (size_t i = 0; i < c->nactions; i++)
        json_decref(c->actions[i]);
    memset(c, 0, sizeof(*c));
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *log_lines[64];
static size_t nlog;

static void log_capture(const char *line, void *opaque)
{
    (void)opaque;
    if (nlog < 64)
        log_lines[nlog++] = strdup(line);
}

static void log_reset(void)
{
    for (size_t i = 0; i < nlog; i++)
        free(log_lines[i]);
    nlog = 0;
}

static const char *log_find(const char *needle)
{
    for (size_t i = 0; i < nlog; i++)
        if (strstr(log_lines[i], needle))
            return log_lines[i];
    return NULL;
}

typedef struct stage {
    vgl_config *cfg;
    vgl_incidents *inc;
    vgl_incident_worker *w;
    capture cap;
} stage;

static void stage_start(stage *s, const char *yaml)
{
    memset(s, 0, sizeof(*s));
    s->cfg = load(yaml);
    vgl_diag d = {0};
    s->inc = vgl_incidents_new(s->cfg, &d);
    ck_assert_msg(s->inc != NULL, "%s", d.n ? d.msgs[0] : "?");
    s->w = vgl_incident_worker_new(s->inc, 0, on_emit, &s->cap);
}

static void stage_stop(stage *s)
{
    vgl_incident_worker_free(s->w);
    vgl_incidents_free(s->inc);
    vgl_config_free(s->cfg);
    capture_free(&s->cap);
}

static const char *automation_yaml =
    "automation:\n"
    "  - name: block-brute-force\n"
    "    when: {severity: [high, critical], tactic: CredentialAccess}\n"
    "    do:\n"
    "      - {action: block_ip, target: ip, duration: 1h, params: {zone: edge}}\n"
    "      - {action: disable_user, target: account}\n"
    "response:\n"
    "  protected:\n"
    "    ips: [10.0.0.0/8]\n"
    "    accounts: [breakglass]\n";

START_TEST(automation_actions_and_protected)
{
    stage s;
    stage_start(&s, automation_yaml);
    vgl_entity ents[] = {{"ip", "203.0.113.7"}, {"ip", "10.1.2.3"},
                         {"account", "CORP\\BreakGlass"}, {"account", "eve@example.com"}};
    vgl_alert a = alert_of("spray", VGL_SEV_HIGH, "CredentialAccess", "T1110.003", NULL, 0, ents,
                           4);
    vgl_incident_alert(s.w, &a);
    ck_assert_uint_eq(s.cap.nrecords, 6); /* alert, incident, 4 actions */
    ck_assert_uint_eq(s.cap.nactions, 4);
    json_t *blk = s.cap.actions[0], *prot_ip = s.cap.actions[1], *prot_acct = s.cap.actions[2],
           *dis = s.cap.actions[3];
    ck_assert_str_eq(jstr(blk, "action"), "block_ip");
    ck_assert_str_eq(jstr(json_object_get(blk, "target"), "value"), "203.0.113.7");
    ck_assert_str_eq(jstr(blk, "status"), "requested");
    ck_assert_str_eq(jstr(blk, "automation"), "block-brute-force");
    ck_assert_str_eq(jstr(blk, "requested_at"), "2020-01-15T00:00:00.000Z");
    ck_assert_str_eq(jstr(blk, "expires_at"), "2020-01-15T01:00:00.000Z");
    ck_assert_str_eq(jstr(json_object_get(blk, "params"), "zone"), "edge");
    ck_assert(json_is_false(json_object_get(blk, "dry_run")));
    ck_assert_str_eq(jstr(blk, "action_id"), s.cap.keys[0]);
    ck_assert_ptr_nonnull(strstr(jstr(blk, "reason"), "automation block-brute-force: alert "));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(blk, "rule_ids"), 0)),
                     "spray");
    /* the action id is the hash of incident, action and target */
    vgl_action want = {.incident_id = jstr(blk, "incident_id"), .action = "block_ip",
                       .target_type = "ip", .target = "203.0.113.7"};
    vgl_action_make_id(&want);
    ck_assert_str_eq(jstr(blk, "action_id"), want.action_id);
    /* protected: still recorded, with the refusal */
    ck_assert_str_eq(jstr(prot_ip, "status"), "refused_protected");
    ck_assert_str_eq(jstr(prot_ip, "error"), "the ip is listed in response.protected");
    ck_assert_str_eq(jstr(json_object_get(prot_acct, "target"), "value"), "CORP\\BreakGlass");
    ck_assert_str_eq(jstr(prot_acct, "status"), "refused_protected");
    ck_assert_str_eq(jstr(dis, "status"), "requested");
    ck_assert(json_is_null(json_object_get(dis, "expires_at")));
    /* a second alert joining the incident does not issue the same actions */
    vgl_entity more[] = {{"ip", "203.0.113.7"}, {"ip", "198.51.100.9"}};
    vgl_alert b = alert_of("spray", VGL_SEV_CRITICAL, "CredentialAccess", NULL, NULL, 0, more,
                           2);
    b.time_ms = T0 + 60000;
    vgl_alert_make_id(&b);
    vgl_incident_alert(s.w, &b);
    ck_assert_uint_eq(s.cap.nactions, 5); /* only the new IP */
    ck_assert_str_eq(jstr(json_object_get(s.cap.actions[4], "target"), "value"),
                     "198.51.100.9");
    /* a low-severity alert of another incident: no action */
    vgl_entity other[] = {{"ip", "192.0.2.77"}};
    vgl_alert c = alert_of("spray", VGL_SEV_LOW, "CredentialAccess", NULL, NULL, 0, other, 1);
    vgl_incident_alert(s.w, &c);
    ck_assert_uint_eq(s.cap.nactions, 5);
    vgl_incident_stats st;
    vgl_incident_worker_stats(s.w, &st);
    ck_assert_uint_eq(st.actions, 5);
    ck_assert_uint_eq(st.refused_protected, 2);
    stage_stop(&s);
}
END_TEST

START_TEST(rate_limit_trips_with_critical_log)
{
    stage s;
    stage_start(&s, "automation:\n"
                    "  - name: block\n"
                    "    do: [{action: block_ip, target: ip}]\n"
                    "response:\n"
                    "  rate_limit: [{action: block_ip, count: 2, window: 10m}]\n");
    log_reset();
    vgl_log_set_sink(log_capture, NULL);
    for (int i = 0; i < 4; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
        vgl_entity e[] = {{"ip", ip}};
        vgl_alert a = alert_of("r", VGL_SEV_HIGH, NULL, NULL, NULL, 0, e, 1);
        a.time_ms = T0 + i * 1000;
        vgl_alert_make_id(&a);
        vgl_incident_alert(s.w, &a);
    }
    vgl_log_set_sink(NULL, NULL);
    ck_assert_uint_eq(s.cap.nactions, 4);
    ck_assert_str_eq(jstr(s.cap.actions[1], "status"), "requested");
    ck_assert_str_eq(jstr(s.cap.actions[2], "status"), "refused_rate_limited");
    ck_assert_str_eq(jstr(s.cap.actions[2], "error"),
                     "response.rate_limit: at most 2 block_ip actions per 600000 ms");
    ck_assert_str_eq(jstr(s.cap.actions[3], "status"), "refused_rate_limited");
    const char *line = log_find("response rate limit exceeded");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, "level=error"));
    ck_assert_ptr_nonnull(strstr(line, "severity=critical action=block_ip"));
    vgl_incident_stats st;
    vgl_incident_worker_stats(s.w, &st);
    ck_assert_uint_eq(st.refused_rate_limited, 2);
    /* 10 minutes of event time later the window is open again */
    vgl_entity e[] = {{"ip", "203.0.113.99"}};
    vgl_alert a = alert_of("r", VGL_SEV_HIGH, NULL, NULL, NULL, 0, e, 1);
    a.time_ms = T0 + 601000;
    vgl_alert_make_id(&a);
    vgl_incident_alert(s.w, &a);
    ck_assert_str_eq(jstr(s.cap.actions[4], "status"), "requested");
    log_reset();
    stage_stop(&s);
}
END_TEST

START_TEST(dry_run_global_and_per_rule)
{
    stage s;
    stage_start(&s, "automation:\n"
                    "  - {name: a, dry_run: true, do: [{action: isolate_host, target: host}]}\n"
                    "  - {name: b, do: [{action: notify}]}\n");
    vgl_entity e[] = {{"host", "ws1"}};
    vgl_alert a = alert_of("r", VGL_SEV_HIGH, NULL, NULL, NULL, 0, e, 1);
    vgl_incident_alert(s.w, &a);
    ck_assert_uint_eq(s.cap.nactions, 2);
    ck_assert(json_is_true(json_object_get(s.cap.actions[0], "dry_run")));
    ck_assert_str_eq(jstr(s.cap.actions[0], "status"), "requested");
    ck_assert(json_is_false(json_object_get(s.cap.actions[1], "dry_run")));
    /* an action without target applies to the incident */
    json_t *t = json_object_get(s.cap.actions[1], "target");
    ck_assert_str_eq(jstr(t, "type"), "incident");
    ck_assert_str_eq(jstr(t, "value"), jstr(s.cap.actions[1], "incident_id"));
    vgl_incident_stats st;
    vgl_incident_worker_stats(s.w, &st);
    ck_assert_uint_eq(st.dry_run, 1);
    stage_stop(&s);
    stage_start(&s, "response: {dry_run: true}\n"
                    "automation:\n  - {name: b, do: [{action: notify}]}\n");
    vgl_incident_alert(s.w, &a);
    ck_assert(json_is_true(json_object_get(s.cap.actions[0], "dry_run")));
    stage_stop(&s);
}
END_TEST

START_TEST(rule_requested_response)
{
    stage s;
    stage_start(&s, "incidents: {group_by: any}\n");
    vgl_entity e[] = {{"host", "ws5"}, {"account", "pgustavo"}, {"host", "ws6"}};
    vgl_response_req req[] = {{"isolate_host", "host"}};
    vgl_alert a = alert_of("rubeus", VGL_SEV_HIGH, NULL, NULL, NULL, 0, e, 3);
    a.responses = req;
    a.nresponses = 1;
    vgl_incident_alert(s.w, &a);
    ck_assert_uint_eq(s.cap.nactions, 2);
    ck_assert_str_eq(jstr(json_object_get(s.cap.actions[1], "target"), "value"), "ws6");
    ck_assert(json_is_null(json_object_get(s.cap.actions[0], "automation")));
    char want[128];
    snprintf(want, sizeof(want), "rule rubeus asked for isolate_host (alert %s)", a.alert_id);
    ck_assert_str_eq(jstr(s.cap.actions[0], "reason"), want);
    stage_stop(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("automation");
    TCase *tc = tcase_create("safety");
    tcase_add_test(tc, protected_ips_and_networks);
    tcase_add_test(tc, protected_accounts_and_hosts);
    tcase_add_test(tc, protected_bad_network_rejected);
    tcase_add_test(tc, rate_limit_windows);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, when_matching);
    tcase_add_test(tc, action_id_deterministic);
    tcase_add_test(tc, action_roundtrip_json);
    tcase_add_test(tc, action_roundtrip_avro);
    tcase_add_test(tc, action_decode_malformed);
    suite_add_tcase(s, tc);
    tc = tcase_create("stage");
    tcase_add_test(tc, automation_actions_and_protected);
    tcase_add_test(tc, rate_limit_trips_with_critical_log);
    tcase_add_test(tc, dry_run_global_and_per_rule);
    tcase_add_test(tc, rule_requested_response);
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
