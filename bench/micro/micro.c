/*
 * bench/micro/micro.c: the per-event operations of the hot path, each in a
 * loop of its own, for instruction counts under callgrind
 * (bench/micro.sh runs it under `valgrind --tool=callgrind --collect-atstart=no`;
 * collection is switched on around the measured loop only, with callgrind's
 * client requests, and the instructions are divided by the operations).
 *
 *   micro OP [ITERATIONS]      OP: decode lookup prefilter prefilter_re lua
 *                                  engine_lua threshold engine_threshold
 *
 * Inputs are built in: 256 variants of a ~400-byte normalized Entra
 * sign-in (256 users and source IPs, every 8th a failure), decoded once
 * before the measured loop where the operation needs a decoded event.
 * Rules are written to a temporary directory and loaded through the real
 * loader, so the prefilters, the Lua functions and the threshold state are
 * exactly what the engine runs. Without valgrind the program also prints
 * ns/op from the wall clock (noisy; the instruction counts are the figure).
 */
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

/* Callgrind's client requests are header-only and do nothing outside
 * valgrind; without the header the wall-clock figures still work. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "codec.h"
#include "config.h"
#include "engine.h"
#include "event.h"
#include "log.h"
#include "prefilter.h"
#include "rule.h"
#include "sandbox.h"
#include "stateful.h"

#define NVAR 256

static const char event_fmt[] =
    "{\"@timestamp\":\"2024-05-01T10:%02u:%02u.%03uZ\",\"event\":{\"kind\":\"event\","
    "\"category\":\"authentication\",\"type\":\"start\",\"action\":\"signin\",\"code\":\"%s\","
    "\"outcome\":\"%s\",\"dataset\":\"azure.signinlogs\"},%s\"user\":{\"name\":"
    "\"user%05u@contoso.com\"},\"vigil\":{\"user\":\"user%05u\"},\"source\":{\"ip\":"
    "\"203.0.%u.%u\",\"geo\":{\"country_iso_code\":\"US\",\"city_name\":\"Seattle\"}},"
    "\"azure\":{\"signin\":{\"app_name\":\"Office 365 Exchange Online\",\"client_app\":"
    "\"Browser\",\"risk_level\":\"none\"}},\"user_agent\":{\"original\":"
    "\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0\"}}";

static char texts[NVAR][1024];
static size_t lens[NVAR];
static vgl_event events[NVAR];
static const vgl_decode_limits limits = {1u << 20, 64};
static char tmpdir[] = "/tmp/vigil-micro-XXXXXX";
static volatile size_t sink;
static size_t alerts;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "micro: %s: %s\n", what, why);
    exit(1);
}

static void make_events(void)
{
    for (unsigned i = 0; i < NVAR; i++) {
        bool fail = i % 8 == 0;
        int n = snprintf(texts[i], sizeof(texts[i]), event_fmt, i / 60 % 60, i % 60, i * 7 % 1000,
                         fail ? "50126" : "0", fail ? "failure" : "success",
                         fail ? "\"error\":{\"code\":\"50126\"}," : "", i * 37 % 5000,
                         i * 37 % 5000, 113 + i % 2, 1 + i);
        if (n < 0 || (size_t)n >= sizeof(texts[i]))
            die("event template", "too long");
        lens[i] = (size_t)n;
        char err[256];
        vgl_event_init(&events[i], 0);
        if (vgl_json_decode(&events[i], texts[i], lens[i], &limits, err, sizeof(err)) != VGL_OK)
            die("decode", err);
        events[i].ts_ms = 1714557600000 + (int64_t)i * 10;
        events[i].meta.topic = "bench";
        events[i].meta.offset = i;
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Write src as a rule file and load it as a one-file ruleset. */
static vgl_ruleset *load_rule(const char *name, const char *src)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.lua", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(src, f) < 0 || fclose(f) != 0)
        die(path, "cannot write");
    vgl_config *cfg = vgl_config_defaults();
    vgl_diag diag = {0};
    const char *paths[] = {path};
    vgl_ruleset *rs = vgl_ruleset_load(paths, 1, &cfg->limits, &diag);
    if (!rs)
        die(path, diag.n ? diag.msgs[0] : "cannot load");
    vgl_diag_free(&diag);
    vgl_config_free(cfg);
    return rs;
}

static void on_alert(void *opaque, const vgl_alert *a)
{
    (void)opaque;
    (void)a;
    alerts++;
}

/* ------------------------------------------------------- measured loops */

static __attribute__((noinline)) void loop_decode(vgl_event *ev, size_t iters)
{
    char err[256];
    for (size_t i = 0; i < iters; i++) {
        vgl_event_reset(ev);
        if (vgl_json_decode(ev, texts[i % NVAR], lens[i % NVAR], &limits, err, sizeof(err)) !=
            VGL_OK)
            die("decode", err);
    }
}

/* four lookups per iteration: 1, 2, 2 and 3 path segments */
static __attribute__((noinline)) void loop_lookup(const vgl_path *const *p, size_t iters)
{
    size_t hits = 0;
    for (size_t i = 0; i < iters; i++) {
        const vgl_event *ev = &events[i % NVAR];
        hits += vgl_event_get(ev, p[0]) != NULL;
        hits += vgl_event_get(ev, p[1]) != NULL;
        hits += vgl_event_get(ev, p[2]) != NULL;
        hits += vgl_event_get(ev, p[3]) != NULL;
    }
    sink = hits;
}

static __attribute__((noinline)) void loop_prefilter(const vgl_prefilter *pf, const regex_t *re,
                                                     size_t iters)
{
    size_t hits = 0;
    for (size_t i = 0; i < iters; i++)
        hits += vgl_prefilter_match(pf, &events[i % NVAR], re);
    sink = hits;
}

static __attribute__((noinline)) void loop_lua(vgl_sandbox *sb, int ref, size_t iters)
{
    size_t hits = 0;
    char msg[512];
    for (size_t i = 0; i < iters; i++) {
        const vgl_event *ev = &events[i % NVAR];
        lua_rawgeti(sb->L, LUA_REGISTRYINDEX, ref);
        vgl_sandbox_push_view(sb, &ev->root);
        if (vgl_sandbox_call(sb, ev, 1, 1, msg, sizeof(msg)) != VGL_CALL_OK)
            die("lua call", msg);
        hits += lua_toboolean(sb->L, -1);
        lua_pop(sb->L, 1);
    }
    sink = hits;
}

static __attribute__((noinline)) void loop_engine(vgl_rules *e, size_t iters)
{
    for (size_t i = 0; i < iters; i++) {
        vgl_event *ev = &events[i % NVAR];
        ev->ts_ms = 1714557600000 + (int64_t)i * 10; /* 100 events/s of event time */
        ev->meta.offset = (int64_t)i;
        vgl_rules_process(e, ev);
    }
}

/* count 50 within 60 s at 100 events/s: fires every 50 events, as a busy
 * key of a threshold rule does; evidence of 10 events */
static __attribute__((noinline)) void loop_threshold(vgl_threshold_state *st, size_t iters)
{
    vgl_evrec out[16];
    size_t nout, fired = 0;
    for (size_t i = 0; i < iters; i++) {
        vgl_evrec rec = {.topic = "bench", .partition = 0, .offset = (int64_t)i,
                         .ts_ms = 1714557600000 + (int64_t)i * 10, .fields = NULL};
        if (vgl_threshold_add(st, 50, 60000, 10, rec.ts_ms, &rec, NULL, 0, out, &nout)) {
            fired++;
            for (size_t k = 0; k < nout; k++)
                vgl_evrec_free(&out[k]);
        }
    }
    sink = fired;
}

/* ------------------------------------------------------------- the ops */

static const char spray_rule[] =
    "return vigil.rule {\n"
    "  id = 'MICRO-PF', title = 'prefilter', severity = 'high',\n"
    "  where = { ['event.category'] = 'authentication', ['event.outcome'] = 'failure',\n"
    "            ['error.code'] = vigil.neg{ '50072', '50074', '50076', '50079', '50097',\n"
    "              '50125', '50140', '50158', '50199', '500121', '53000', '53001', '53002',\n"
    "              '53003', '53004', '65001', '16000', '16001', '16003', '81010', '81012',\n"
    "              '81016' } },\n"
    "  threshold = { by = 'source.ip', distinct = 'user.name', count = 10, window = '10m' },\n"
    "}\n";

static const char re_rule[] =
    "return vigil.rule {\n"
    "  id = 'MICRO-RE', title = 'regex prefilter', severity = 'high',\n"
    "  where = { ['event.category'] = 'authentication',\n"
    "            ['user_agent.original'] = vigil.re [=[(python|curl|go-http)[-/][0-9]]=] },\n"
    "}\n";

static const char lua_rule[] =
    "return vigil.rule {\n"
    "  id = 'MICRO-LUA', title = 'lua predicate', severity = 'low',\n"
    "  where = { ['event.category'] = 'authentication' },\n"
    "  match = function(e) return e['azure.signin.risk_level'] == 'high' end,\n"
    "}\n";

static const char threshold_rule[] =
    "return vigil.rule {\n"
    "  id = 'MICRO-THR', title = 'threshold', severity = 'low',\n"
    "  where = { ['event.category'] = 'authentication' },\n"
    "  threshold = { by = 'source.ip', count = 100000, window = '10m' },\n"
    "  entities = { ip = 'source.ip' },\n"
    "}\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fputs("usage: micro OP [ITERATIONS]\n"
              "  OP: decode lookup prefilter prefilter_re lua engine_lua threshold "
              "engine_threshold\n",
              stderr);
        return 2;
    }
    const char *op = argv[1];
    size_t iters = argc == 3 ? strtoul(argv[2], NULL, 10) : 100000;
    if (iters == 0)
        die("iterations", "must be positive");
    vgl_log_set_level(VGL_LOG_ERROR);
    if (!mkdtemp(tmpdir))
        die(tmpdir, "cannot create");
    atexit(cleanup);
    make_events();

    double t0 = now_s(), t1;
    if (strcmp(op, "decode") == 0) {
        vgl_event ev;
        vgl_event_init(&ev, 0);
        loop_decode(&ev, NVAR); /* warm the arena */
        t0 = now_s();
        CALLGRIND_TOGGLE_COLLECT;
        loop_decode(&ev, iters);
        CALLGRIND_TOGGLE_COLLECT;
        t1 = now_s();
        vgl_event_destroy(&ev);
    } else if (strcmp(op, "lookup") == 0) {
        const vgl_path *p[4] = {vgl_path_intern("@timestamp"), vgl_path_intern("source.ip"),
                                vgl_path_intern("event.outcome"),
                                vgl_path_intern("azure.signin.app_name")};
        t0 = now_s();
        CALLGRIND_TOGGLE_COLLECT;
        loop_lookup(p, iters);
        CALLGRIND_TOGGLE_COLLECT;
        t1 = now_s();
        iters *= 4; /* per lookup */
    } else if (strcmp(op, "prefilter") == 0 || strcmp(op, "prefilter_re") == 0) {
        bool re_op = strcmp(op, "prefilter_re") == 0;
        vgl_ruleset *rs = load_rule(re_op ? "re" : "pf", re_op ? re_rule : spray_rule);
        regex_t re[4];
        if (rs->patterns.n > 4 || !vgl_pf_patterns_compile(&rs->patterns, re))
            die("patterns", "cannot compile");
        t0 = now_s();
        CALLGRIND_TOGGLE_COLLECT;
        loop_prefilter(&rs->rules[0].where, re, iters);
        CALLGRIND_TOGGLE_COLLECT;
        t1 = now_s();
        for (size_t i = 0; i < rs->patterns.n; i++)
            regfree(&re[i]);
        vgl_ruleset_free(rs);
    } else if (strcmp(op, "lua") == 0) {
        char err[512];
        vgl_sandbox *sb = vgl_sandbox_new(64u << 20, 1000000, err, sizeof(err));
        if (!sb)
            die("sandbox", err);
        static const char chunk[] =
            "return function(e) return e['azure.signin.risk_level'] == 'high' end";
        if (!vgl_sandbox_load(sb, "micro", chunk, sizeof(chunk) - 1, err, sizeof(err)) ||
            vgl_sandbox_call(sb, NULL, 0, 1, err, sizeof(err)) != VGL_CALL_OK)
            die("lua chunk", err);
        int ref = luaL_ref(sb->L, LUA_REGISTRYINDEX);
        loop_lua(sb, ref, NVAR);
        t0 = now_s();
        CALLGRIND_TOGGLE_COLLECT;
        loop_lua(sb, ref, iters);
        CALLGRIND_TOGGLE_COLLECT;
        t1 = now_s();
        vgl_sandbox_free(sb);
    } else if (strcmp(op, "engine_lua") == 0 || strcmp(op, "engine_threshold") == 0) {
        bool thr = strcmp(op, "engine_threshold") == 0;
        vgl_ruleset *rs = load_rule(thr ? "thr" : "lua", thr ? threshold_rule : lua_rule);
        char err[512];
        vgl_rules *e = vgl_rules_new(rs, 0, on_alert, NULL, NULL, err, sizeof(err));
        if (!e)
            die("engine", err);
        loop_engine(e, NVAR); /* every key seen once: steady state */
        t0 = now_s();
        CALLGRIND_TOGGLE_COLLECT;
        loop_engine(e, iters);
        CALLGRIND_TOGGLE_COLLECT;
        t1 = now_s();
        vgl_rules_free(e);
        vgl_ruleset_free(rs);
    } else if (strcmp(op, "threshold") == 0) {
        vgl_threshold_state *st = calloc(1, sizeof(*st));
        if (!st)
            die("threshold", "out of memory");
        loop_threshold(st, NVAR);
        t0 = now_s();
        CALLGRIND_TOGGLE_COLLECT;
        loop_threshold(st, iters);
        CALLGRIND_TOGGLE_COLLECT;
        t1 = now_s();
        vgl_threshold_free(st);
    } else {
        die(op, "unknown operation");
    }
    printf("%s: %zu ops, %.1f ns/op (wall clock), %zu alerts\n", op, iters,
           (t1 - t0) * 1e9 / (double)iters, alerts);
    fprintf(stderr, "ops=%zu\n", iters);
    for (size_t i = 0; i < NVAR; i++)
        vgl_event_destroy(&events[i]);
    return 0;
}
