/*
 * `vigil respond`: the action executor. Consumes outputs.actions with its
 * own consumer group (response.group), checks each action again
 * (response.protected, response.rate_limit, dry run: the records may come
 * from another vigil with another configuration, or be replayed), hands it
 * to the responder plugin instance response.responder, and writes the
 * outcome to outputs.action_results keyed by action_id.
 *
 * At-least-once: an action's offset is stored for commit only after its
 * result record is acknowledged by the broker, so a crash replays the
 * actions whose results were not written. A repeated action_id (a replay,
 * or the same decision written twice) is recognised in a bounded set of
 * recent ids and answered with status "duplicate" without running again;
 * beyond that set, responders themselves must be idempotent on action_id.
 *
 * One thread: actions are rare and each waits for its responder anyway.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "automation.h"
#include "cli.h"
#include "kafka.h"
#include "log.h"
#include "plugin.h"

#define RECENT_IDS 65536      /* action ids remembered for duplicates */
#define MAX_PARAMS 64
#define MAX_RULE_IDS 32
#define RESPOND_ATTEMPTS 3    /* calls of a responder that answers RETRY */
#define RETRY_BACKOFF_MS 250  /* doubled after each RETRY */

static volatile sig_atomic_t respond_stop;

static void on_respond_signal(int sig)
{
    (void)sig;
    respond_stop = 1;
}

/* ------------------------------------------------------ recent ids */

/* Two generations of an open-addressing set: when the current one holds
 * half of RECENT_IDS, it becomes the previous one and the oldest ids go. */
typedef struct idset {
    char (*slots)[33];
    size_t cap, n;
} idset;

typedef struct recent_ids {
    idset gen[2];
    int cur;
} recent_ids;

static uint64_t id_hash(const char *id)
{
    uint64_t h = 0;
    for (int i = 0; i < 16 && id[i]; i++)
        h = (h << 4) | (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    return h;
}

static bool idset_init(idset *s, size_t cap)
{
    s->slots = calloc(cap, sizeof(*s->slots));
    s->cap = cap;
    s->n = 0;
    return s->slots != NULL;
}

static bool idset_has(const idset *s, const char *id)
{
    for (size_t k = (size_t)(id_hash(id) & (s->cap - 1));; k = (k + 1) & (s->cap - 1)) {
        if (!s->slots[k][0])
            return false;
        if (strcmp(s->slots[k], id) == 0)
            return true;
    }
}

static void idset_add(idset *s, const char *id)
{
    size_t k = (size_t)(id_hash(id) & (s->cap - 1));
    while (s->slots[k][0]) {
        if (strcmp(s->slots[k], id) == 0)
            return;
        k = (k + 1) & (s->cap - 1);
    }
    memcpy(s->slots[k], id, 33);
    s->n++;
}

static bool recent_has(const recent_ids *r, const char *id)
{
    return idset_has(&r->gen[0], id) || idset_has(&r->gen[1], id);
}

static void recent_add(recent_ids *r, const char *id)
{
    idset *s = &r->gen[r->cur];
    if (s->n >= RECENT_IDS / 2) {
        r->cur ^= 1;
        s = &r->gen[r->cur];
        memset(s->slots, 0, s->cap * sizeof(*s->slots));
        s->n = 0;
    }
    idset_add(s, id);
}

/* ------------------------------------------------------- responder */

typedef struct responder {
    const vgl_config *cfg;
    vgl_plugin_instance *pi;
    vgl_protected *prot;
    vgl_rate_limiter *rl;
    vgl_outctx *ox;
    recent_ids recent;
    rd_kafka_t *consumer, *producer;
    const char *results_topic;
    vgl_event ev;
    vgl_event out_ev;
    vgl_buf out;
    vgl_buf params_json;
    int64_t last_rl_log_ms;
    uint64_t handled, by_status[VGL_ACT_DUPLICATE + 1], malformed;
} responder;

typedef struct delivery {
    bool done;
    rd_kafka_resp_err_t err;
} delivery;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery *d = m->_private;
    if (d) {
        d->err = m->err;
        d->done = true;
    }
}

static void respond_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    for (int i = 0; i < parts->cnt; i++)
        vgl_info(err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "partition assigned"
                                                              : "partition revoked",
                 "topic=%s partition=%d", parts->elems[i].topic, (int)parts->elems[i].partition);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* Write the result and wait for the broker's acknowledgement. */
static bool deliver(responder *r, const char *key, const void *val, size_t len)
{
    int64_t deadline = vgl_now_ms() + (r->cfg->limits.shutdown_timeout_ms > 0
                                           ? r->cfg->limits.shutdown_timeout_ms
                                           : 30000) + 60000;
    for (int attempt = 0; attempt < 5; attempt++) {
        delivery d = {0};
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->producer, RD_KAFKA_V_TOPIC(r->results_topic),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
        if (e) {
            vgl_warn("cannot queue an action result", "topic=%s error=%s", r->results_topic,
                     rd_kafka_err2str(e));
            rd_kafka_poll(r->producer, 100);
            continue;
        }
        while (!d.done && vgl_now_ms() < deadline)
            rd_kafka_poll(r->producer, 50);
        if (!d.done) {
            /* the delivery report still points at d: wait for it without limit */
            vgl_error("action result not acknowledged in time; waiting for the broker",
                      "topic=%s action_id=%s", r->results_topic, key);
            while (!d.done)
                rd_kafka_poll(r->producer, 100);
        }
        if (!d.err)
            return true;
        vgl_warn("action result not delivered", "topic=%s action_id=%s error=%s attempt=%d",
                 r->results_topic, key, rd_kafka_err2str(d.err), attempt + 1);
        if (respond_stop)
            break;
    }
    return false;
}

static const char *params_to_json(responder *r, const vgl_action *a)
{
    vgl_buf_reset(&r->params_json);
    vgl_buf_putc(&r->params_json, '{');
    for (size_t i = 0; i < a->nparams; i++) {
        if (i)
            vgl_buf_putc(&r->params_json, ',');
        vgl_buf_json_str(&r->params_json, a->params[i].key, strlen(a->params[i].key));
        vgl_buf_putc(&r->params_json, ':');
        vgl_buf_json_str(&r->params_json, a->params[i].value, strlen(a->params[i].value));
    }
    vgl_buf_putc(&r->params_json, '}');
    return r->params_json.failed ? "{}" : r->params_json.data;
}

/* Run the responder, retrying a RETRY answer with backoff. */
static vgl_action_status run_responder(responder *r, const vgl_action *a, char *err,
                                       size_t errlen)
{
    vgl_action_view v = {
        .action_id = a->action_id,
        .action = a->action,
        .op = VGL_ACTION_APPLY,
        .target_type = a->target_type,
        .target = a->target,
        .incident_id = a->incident_id,
        .rule_id = a->nrule_ids ? a->rule_ids[0] : NULL,
        .requested_ms = a->requested_ms,
        .expires_ms = a->expires_ms,
        .params = a->params,
        .nparams = a->nparams,
        .params_json = params_to_json(r, a),
    };
    int backoff = RETRY_BACKOFF_MS;
    for (int attempt = 1;; attempt++) {
        err[0] = '\0';
        vgl_respond_status st = vgl_plugin_respond(r->pi, &v, err, errlen);
        if (st == VGL_RESPOND_SUCCEEDED)
            return VGL_ACT_SUCCEEDED;
        if (st != VGL_RESPOND_RETRY)
            return VGL_ACT_FAILED;
        if (attempt >= RESPOND_ATTEMPTS || respond_stop) {
            char last[512];
            size_t n = strnlen(err, sizeof(last) - 1); /* the error, cut to 511 bytes */
            memcpy(last, err, n);
            last[n] = '\0';
            snprintf(err, errlen, "gave up after %d attempts: %s", attempt, last);
            return VGL_ACT_FAILED;
        }
        vgl_warn("responder asked to retry", "action_id=%s action=%s attempt=%d error=%s",
                 a->action_id, a->action, attempt, err);
        struct timespec ts = {backoff / 1000, (long)(backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff *= 2;
    }
}

/* Handle one action record; false when its result could not be written
 * (the offset is then not stored and the action comes again). */
static bool handle(responder *r, const rd_kafka_message_t *m)
{
    vgl_action a;
    vgl_pair params[MAX_PARAMS];
    const char *rules[MAX_RULE_IDS];
    char derr[512], err[1024], reason[1024];
    int64_t now = vgl_now_ms();
    vgl_rc rc = vgl_outctx_decode_action(r->ox, m->payload, m->len, &r->ev, &a, params,
                                         MAX_PARAMS, rules, MAX_RULE_IDS, derr, sizeof(derr));
    bool remember = true;
    if (rc != VGL_OK) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        vgl_warn("malformed action record", "origin=%s/%d@%lld error=%s", topic,
                 (int)m->partition, (long long)m->offset, derr);
        r->malformed++;
        memset(&a, 0, sizeof(a));
        /* keep the key when it is an action id, so the result finds its action */
        if (m->key && m->key_len == 32 && strspn(m->key, "0123456789abcdef") >= 32) {
            memcpy(a.action_id, m->key, 32);
            a.action_id[32] = '\0';
        }
        a.action = "";
        a.target_type = "";
        a.target = "";
        a.requested_ms = now;
        a.status = VGL_ACT_FAILED;
        snprintf(err, sizeof(err), "malformed action record at %s/%d@%lld: %s", topic,
                 (int)m->partition, (long long)m->offset, derr);
        a.error = err;
        remember = false;
    } else if (recent_has(&r->recent, a.action_id)) {
        a.status = VGL_ACT_DUPLICATE;
        a.error = NULL;
        remember = false;
        vgl_info("duplicate action not run again", "action_id=%s action=%s", a.action_id,
                 a.action);
    } else if (a.status == VGL_ACT_REFUSED_PROTECTED || a.status == VGL_ACT_REFUSED_RATE_LIMITED) {
        /* refused when it was decided: recorded, never run */
        if (!a.error)
            a.error = "refused when the action was decided";
    } else if (a.status != VGL_ACT_REQUESTED) {
        snprintf(err, sizeof(err), "an action record with status %s is not an action request",
                 vgl_action_status_name(a.status));
        a.status = VGL_ACT_FAILED;
        a.error = err;
    } else if (vgl_protected_match(r->prot, a.target_type, a.target)) {
        a.status = VGL_ACT_REFUSED_PROTECTED;
        snprintf(err, sizeof(err), "the %s is listed in response.protected", a.target_type);
        a.error = err;
        vgl_warn("action refused: protected target", "action_id=%s action=%s target_type=%s "
                 "target=%s",
                 a.action_id, a.action, a.target_type, a.target);
    } else {
        const vgl_rate_limit_cfg *lim = NULL;
        if (!vgl_rate_limiter_take(r->rl, a.action, now, &lim)) {
            a.status = VGL_ACT_REFUSED_RATE_LIMITED;
            snprintf(err, sizeof(err), "response.rate_limit: at most %u %s actions per %lld ms",
                     (unsigned)lim->count, lim->action ? lim->action : "*",
                     (long long)lim->window_ms);
            a.error = err;
            if (now - r->last_rl_log_ms >= 1000) {
                r->last_rl_log_ms = now;
                vgl_error("CRITICAL: response rate limit exceeded, actions refused",
                          "severity=critical action=%s limit=%u window_ms=%lld action_id=%s",
                          a.action, (unsigned)lim->count, (long long)lim->window_ms,
                          a.action_id);
            }
        } else if (r->cfg->response.dry_run || a.dry_run) {
            a.status = VGL_ACT_DRY_RUN;
            a.error = NULL;
            vgl_info("dry run: action not carried out", "action_id=%s action=%s target_type=%s "
                     "target=%s",
                     a.action_id, a.action, a.target_type, a.target);
        } else {
            a.status = run_responder(r, &a, err, sizeof(err));
            a.error = a.status == VGL_ACT_FAILED ? err : NULL;
            if (a.status == VGL_ACT_SUCCEEDED)
                vgl_info("action carried out", "action_id=%s action=%s target_type=%s "
                         "target=%s responder=%s",
                         a.action_id, a.action, a.target_type, a.target, r->pi->id);
            else
                vgl_warn("action failed", "action_id=%s action=%s target_type=%s target=%s "
                         "responder=%s error=%s",
                         a.action_id, a.action, a.target_type, a.target, r->pi->id, err);
        }
    }
    a.finished_ms = vgl_now_ms();
    a.responder = r->pi->id;
    if (!a.reason) {
        snprintf(reason, sizeof(reason), "%s", "");
        a.reason = reason;
    }
    vgl_event_reset(&r->out_ev);
    vgl_value root = {0};
    if (vgl_action_to_value(&a, &r->out_ev, &root) != VGL_OK ||
        vgl_outctx_encode(r->ox, VGL_REC_ACTION, &root, &r->out, derr, sizeof(derr)) != VGL_OK) {
        vgl_error("cannot encode an action result; skipping the action",
                  "action_id=%s error=%s", a.action_id, derr);
        return true;
    }
    if (!deliver(r, a.action_id, r->out.data, r->out.len))
        return false;
    if (remember)
        recent_add(&r->recent, a.action_id);
    r->handled++;
    r->by_status[a.status]++;
    return true;
}

static void store_offset(responder *r, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(r->consumer, l);
    if (e)
        vgl_warn("cannot store an offset for commit", "topic=%s partition=%d error=%s",
                 rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---------------------------------------------------------- command */

static const char respond_usage[] =
    "Usage: vigil respond [-c FILE] [-b BROKERS] [-v|-q]\n"
    "\n"
    "Carry out response actions: consume outputs.actions with the consumer group\n"
    "response.group, check each action again against response.protected,\n"
    "response.rate_limit and dry run, hand it to the responder plugin instance\n"
    "response.responder, and write the outcome (succeeded, failed, refused_protected,\n"
    "refused_rate_limited, dry_run, duplicate) to outputs.action_results, keyed by\n"
    "action_id. An action's offset is committed only after its result is written\n"
    "(at-least-once); a repeated action_id is answered 'duplicate' without running.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      configuration file (see 'vigil --help')\n"
    "  -b, --brokers LIST     Kafka bootstrap list (default: kafka.brokers); needed when\n"
    "                         kafka.brokers is 'embedded': give the list that\n"
    "                         'vigil run --bootstrap-file' wrote\n"
    "  -v, --verbose          more logging (repeat for debug)\n"
    "  -q, --quiet            less logging\n"
    "  -h, --help             this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT finish the action in hand, commit, and exit 0.\n";

static bool respond_conf(rd_kafka_conf_t *c, const char *k, const char *v, char *err,
                         size_t errlen)
{
    return vgl_kafka_conf_set(c, k, v, err, errlen);
}

int vgl_cmd_respond(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'b'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_arg = NULL, *brokers_arg = NULL;
    int verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:b:vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_arg = optarg; break;
        case 'b': brokers_arg = optarg; break;
        case 'v': verbose++; break;
        case 'q': verbose--; break;
        case 'h': fputs(respond_usage, stdout); return VGL_EXIT_OK;
        default: fputs(respond_usage, stderr); return VGL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil respond: unexpected argument '%s'\n", argv[optind]);
        return VGL_EXIT_USAGE;
    }
    if (brokers_arg && !*brokers_arg) {
        fprintf(stderr, "vigil respond: --brokers needs a bootstrap list\n");
        return VGL_EXIT_USAGE;
    }
    const char *path = vgl_cli_config_path(cfg_arg);
    vgl_config *cfg = vgl_cli_load_config(path);
    if (!cfg)
        return VGL_EXIT_PROBLEMS;
    vgl_cli_set_log_level(cfg, verbose);
    const char *brokers = brokers_arg ? brokers_arg : cfg->kafka.brokers;
    if (strcmp(brokers, "embedded") == 0) {
        fprintf(stderr,
                "vigil respond: kafka.brokers is 'embedded', a cluster that lives inside "
                "'vigil run';\n  pass its bootstrap list with --brokers (see 'vigil run "
                "--bootstrap-file')\n");
        vgl_config_free(cfg);
        return VGL_EXIT_USAGE;
    }

    int rc = VGL_EXIT_OK;
    char err[1024];
    responder r;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    vgl_event_init(&r.ev, 4 * 1024 * 1024);
    vgl_event_init(&r.out_ev, 0);
    vgl_buf_init(&r.out, 0);
    vgl_buf_init(&r.params_json, 256 * 1024);
    vgl_plugins *ps = NULL;
    vgl_outcodec *codec = NULL;
    vgl_diag diag = {0};

    /* everything that can be wrong with the configuration, before Kafka */
    ps = vgl_plugins_load(cfg, &diag);
    r.prot = vgl_protected_new(&cfg->response, &diag);
    r.rl = vgl_rate_limiter_new(&cfg->response);
    codec = vgl_outcodec_new(&cfg->outputs, err, sizeof(err));
    if (!codec)
        vgl_diag_add(&diag, "%s", err);
    if (ps) {
        if (cfg->response.responder) {
            r.pi = vgl_plugins_find(ps, cfg->response.responder, VGL_PLUGIN_RESPOND);
            if (!r.pi)
                vgl_diag_add(&diag,
                             "%s: response.responder '%s' is not a configured responder plugin "
                             "instance (plugins[].id of a respond plugin)",
                             cfg->path, cfg->response.responder);
        } else {
            size_t nresp = 0;
            for (size_t i = 0; i < vgl_plugins_count(ps); i++) {
                vgl_plugin_instance *pi = vgl_plugins_at(ps, i);
                if (pi->desc->kind == VGL_PLUGIN_RESPOND) {
                    r.pi = pi;
                    nresp++;
                }
            }
            if (nresp != 1) {
                r.pi = NULL;
                vgl_diag_add(&diag,
                             "%s: response.responder is not set and %zu responder plugins are "
                             "configured: name the one to use",
                             cfg->path, nresp);
            }
        }
    }
    if (!ps || !r.pi || !r.prot || !r.rl || !codec) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(stderr, "%s\n", diag.msgs[i]);
        rc = VGL_EXIT_PROBLEMS;
        goto out;
    }
    if (!(r.ox = vgl_outctx_new(codec)) || !idset_init(&r.recent.gen[0], RECENT_IDS) ||
        !idset_init(&r.recent.gen[1], RECENT_IDS)) {
        fprintf(stderr, "vigil respond: out of memory\n");
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    r.results_topic = cfg->outputs.action_results;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_respond_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* producer of the results: idempotent, acknowledged by all replicas */
    rd_kafka_conf_t *pc = vgl_kafka_conf_new(&cfg->kafka, brokers, err, sizeof(err));
    if (!pc || !respond_conf(pc, "enable.idempotence", "true", err, sizeof(err)) ||
        !respond_conf(pc, "linger.ms", "0", err, sizeof(err))) {
        if (pc)
            rd_kafka_conf_destroy(pc);
        vgl_error("cannot configure the result producer", "error=%s", err);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    if (!(r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err)))) {
        rd_kafka_conf_destroy(pc);
        vgl_error("cannot create the result producer", "error=%s", err);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    /* consumer of the actions: offsets stored by hand after each result */
    const char *group = cfg->response.group ? cfg->response.group : "vigil-respond";
    rd_kafka_conf_t *cc = vgl_kafka_conf_new(&cfg->kafka, brokers, err, sizeof(err));
    if (!cc || !respond_conf(cc, "group.id", group, err, sizeof(err)) ||
        !respond_conf(cc, "auto.offset.reset", "earliest", err, sizeof(err)) ||
        !respond_conf(cc, "enable.auto.offset.store", "false", err, sizeof(err)) ||
        !respond_conf(cc, "enable.auto.commit", "true", err, sizeof(err)) ||
        !respond_conf(cc, "auto.commit.interval.ms", "1000", err, sizeof(err))) {
        if (cc)
            rd_kafka_conf_destroy(cc);
        vgl_error("cannot configure the action consumer", "error=%s", err);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    rd_kafka_conf_set_rebalance_cb(cc, respond_rebalance);
    if (!(r.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err)))) {
        rd_kafka_conf_destroy(cc);
        vgl_error("cannot create the action consumer", "error=%s", err);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    rd_kafka_poll_set_consumer(r.consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->outputs.actions, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(r.consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (se) {
        vgl_error("cannot subscribe to the actions topic", "topic=%s error=%s",
                  cfg->outputs.actions, rd_kafka_err2str(se));
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    vgl_info("responder started", "actions=%s results=%s group=%s responder=%s dry_run=%s",
             cfg->outputs.actions, r.results_topic, group, r.pi->id,
             cfg->response.dry_run ? "true" : "false");

    while (!respond_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r.consumer, 200);
        rd_kafka_poll(r.producer, 0);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                char fe[512];
                if (m->err == RD_KAFKA_RESP_ERR__FATAL &&
                    rd_kafka_fatal_error(r.consumer, fe, sizeof(fe))) {
                    vgl_error("fatal Kafka client error", "error=%s", fe);
                    rc = VGL_EXIT_RUNTIME;
                    rd_kafka_message_destroy(m);
                    break;
                }
                vgl_warn("action consumer error", "error=%s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        bool ok = handle(&r, m);
        if (ok)
            store_offset(&r, m);
        rd_kafka_message_destroy(m);
        if (!ok) {
            vgl_error("cannot write action results; stopping so the action is retried",
                      "topic=%s", r.results_topic);
            rc = VGL_EXIT_RUNTIME;
            break;
        }
    }
    vgl_info("responder stopping", "handled=%llu succeeded=%llu failed=%llu refused_protected=%llu "
             "refused_rate_limited=%llu dry_run=%llu duplicate=%llu malformed=%llu",
             (unsigned long long)r.handled, (unsigned long long)r.by_status[VGL_ACT_SUCCEEDED],
             (unsigned long long)r.by_status[VGL_ACT_FAILED],
             (unsigned long long)r.by_status[VGL_ACT_REFUSED_PROTECTED],
             (unsigned long long)r.by_status[VGL_ACT_REFUSED_RATE_LIMITED],
             (unsigned long long)r.by_status[VGL_ACT_DRY_RUN],
             (unsigned long long)r.by_status[VGL_ACT_DUPLICATE],
             (unsigned long long)r.malformed);
out:
    if (r.consumer) {
        rd_kafka_consumer_close(r.consumer); /* commits the stored offsets */
        rd_kafka_destroy(r.consumer);
    }
    if (r.producer) {
        rd_kafka_flush(r.producer, 10000);
        rd_kafka_destroy(r.producer);
    }
    free(r.recent.gen[0].slots);
    free(r.recent.gen[1].slots);
    vgl_outctx_free(r.ox);
    vgl_outcodec_free(codec);
    vgl_rate_limiter_free(r.rl);
    vgl_protected_free(r.prot);
    vgl_plugins_free(ps);
    vgl_diag_free(&diag);
    vgl_event_destroy(&r.ev);
    vgl_event_destroy(&r.out_ev);
    vgl_buf_free(&r.out);
    vgl_buf_free(&r.params_json);
    vgl_config_free(cfg);
    vgl_path_registry_free();
    return rc;
}
