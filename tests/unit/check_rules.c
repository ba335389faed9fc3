/*
 * Check suite for the Lua rule engine (lua/): where-matchers, the rule
 * index, the stateful forms, on_event's ctx, suppression, lateness, LRU
 * eviction, replay determinism, hot reload, load errors and the sandbox
 * against hostile rules (tests/lua/hostile_*.lua).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <regex.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert.h"
#include "config.h"
#include "engine.h"
#include "event.h"
#include "log.h"

#ifndef VGL_SRCDIR
#define VGL_SRCDIR "."
#endif

#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */
#define SEC 1000LL
#define MIN (60 * SEC)

/* ------------------------------------------------------------ helpers */

static char tmpdir[64];
static int nfiles;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup_dir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vgl_rules_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    nfiles = 0;
}

static void teardown_dir(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write text to tmpdir/name; returns the path (static per call slot). */
static const char *write_rule(const char *name, const char *text)
{
    static char paths[32][256];
    char *p = paths[nfiles++ % 32];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static vgl_limits_cfg limits(void)
{
    vgl_limits_cfg l;
    memset(&l, 0, sizeof(l));
    l.allowed_lateness_ms = 5 * MIN;
    l.max_keys_per_rule = 1000;
    l.rule_max_failures = 100;
    l.max_evidence = 10;
    l.lua_memory = 32u << 20;
    l.lua_instructions = 1000000;
    return l;
}

static vgl_ruleset *load_lim(const char *text, const vgl_limits_cfg *lim)
{
    const char *path = write_rule("rule.lua", text);
    vgl_diag d = {0};
    vgl_ruleset *rs = vgl_ruleset_load(&path, 1, lim, &d);
    if (!rs)
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "diag: %s\n", d.msgs[i]);
    vgl_diag_free(&d);
    ck_assert_ptr_nonnull(rs);
    return rs;
}

static vgl_ruleset *load(const char *text)
{
    vgl_limits_cfg l = limits();
    return load_lim(text, &l);
}

/* Load text expecting failure; returns the diagnostics joined by "\n". */
static char *load_errors(const char *name, const char *text)
{
    const char *path = write_rule(name, text);
    vgl_diag d = {0};
    vgl_limits_cfg l = limits();
    vgl_ruleset *rs = vgl_ruleset_load(&path, 1, &l, &d);
    ck_assert_ptr_null(rs);
    vgl_buf b;
    vgl_buf_init(&b, 0);
    for (size_t i = 0; i < d.n; i++)
        vgl_buf_printf(&b, "%s%s", i ? "\n" : "", d.msgs[i]);
    vgl_diag_free(&d);
    return b.data ? b.data : strdup("");
}

typedef struct got {
    char rule[64];
    char title[128];
    int sev;
    int64_t t;
    char ents[512];
    char evid[512];
    char fields[512];
    char resp[256];
    char id[VGL_ALERT_ID_LEN + 1];
} got;

static got alerts[512], supp[512];
static int nalerts, nsupp;

static void record(got *g, const vgl_alert *a)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->rule, sizeof(g->rule), "%s", a->rule_id);
    snprintf(g->title, sizeof(g->title), "%s", a->title);
    g->sev = (int)a->severity;
    g->t = a->time_ms;
    memcpy(g->id, a->alert_id, sizeof(g->id));
    size_t n = 0;
    for (size_t i = 0; i < a->nentities; i++)
        n += (size_t)snprintf(g->ents + n, sizeof(g->ents) - n, "%s%s=%s", i ? "," : "",
                              a->entities[i].type, a->entities[i].value);
    n = 0;
    for (size_t i = 0; i < a->nevidence; i++)
        n += (size_t)snprintf(g->evid + n, sizeof(g->evid) - n, "%s%lld", i ? "," : "",
                              (long long)a->evidence[i].offset);
    n = 0;
    const vgl_value *f = a->nevidence ? a->evidence[a->nevidence - 1].fields : NULL;
    for (uint32_t i = 0; f && i < f->n; i++) {
        char buf[32];
        const char *s;
        size_t len;
        const vgl_member *m = &f->u.members[i];
        if (m->v.type == VGL_T_ARRAY)
            s = "[...]", len = 5;
        else if (!vgl_value_text(&m->v, buf, sizeof(buf), &s, &len))
            s = "?", len = 1;
        n += (size_t)snprintf(g->fields + n, sizeof(g->fields) - n, "%s%s=%.*s", i ? ";" : "",
                              m->key, (int)len, s);
    }
    n = 0;
    for (size_t i = 0; i < a->nresponses; i++)
        n += (size_t)snprintf(g->resp + n, sizeof(g->resp) - n, "%s%s:%s", i ? "," : "",
                              a->responses[i].action, a->responses[i].target);
}

static void on_alert(void *opaque, const vgl_alert *a)
{
    (void)opaque;
    ck_assert_int_lt(nalerts, 512);
    record(&alerts[nalerts++], a);
}

static void on_supp(void *opaque, const vgl_alert *a)
{
    (void)opaque;
    ck_assert_int_lt(nsupp, 512);
    record(&supp[nsupp++], a);
}

static vgl_rules *engine(vgl_ruleset *rs)
{
    char err[256];
    nalerts = nsupp = 0;
    vgl_rules *e = vgl_rules_new(rs, 0, on_alert, on_supp, NULL, err, sizeof(err));
    if (!e)
        fprintf(stderr, "engine: %s\n", err);
    ck_assert_ptr_nonnull(e);
    return e;
}

/* ------------------------------------------------------------- events */

static vgl_event *ev_new(int64_t ts, int64_t offset)
{
    vgl_event *ev = malloc(sizeof(*ev));
    vgl_event_init(ev, 0);
    ev->ts_ms = ts;
    ev->meta.topic = "logs";
    ev->meta.partition = 0;
    ev->meta.offset = offset;
    ev->meta.received_ms = ts;
    return ev;
}

static void set_s(vgl_event *ev, const char *path, const char *v)
{
    ck_assert_int_eq(vgl_event_set_str(ev, vgl_path_intern(path), v, strlen(v)), VGL_OK);
}

static void set_i(vgl_event *ev, const char *path, int64_t v)
{
    ck_assert_int_eq(vgl_event_set_int(ev, vgl_path_intern(path), v), VGL_OK);
}

static void push_s(vgl_event *ev, const char *path, const char *v)
{
    ck_assert_int_eq(vgl_event_append_str(ev, vgl_path_intern(path), v, strlen(v)), VGL_OK);
}

static void ev_free(vgl_event *ev)
{
    vgl_event_destroy(ev);
    free(ev);
}

/* Process and free. */
static void feed(vgl_rules *e, vgl_event *ev)
{
    ck_assert_int_eq(vgl_rules_process(e, ev), VGL_OK);
    ev_free(ev);
}

/* One event with a string field. */
static void feed1(vgl_rules *e, int64_t ts, int64_t off, const char *path, const char *v)
{
    vgl_event *ev = ev_new(ts, off);
    set_s(ev, path, v);
    feed(e, ev);
}

static const vgl_rule_stats *rstats(vgl_rules *e, const char *id)
{
    static vgl_rule_stats st;
    for (size_t i = 0; i < vgl_rules_count(e); i++) {
        vgl_rules_rule_stats(e, i, &st);
        if (strcmp(st.rule_id, id) == 0)
            return &st;
    }
    ck_abort_msg("no rule %s", id);
    return NULL;
}

static int count_rule(const char *id)
{
    int n = 0;
    for (int i = 0; i < nalerts; i++)
        n += strcmp(alerts[i].rule, id) == 0;
    return n;
}

/* A regex sees the first and last 4096 bytes of a long value: bounded cost
 * on hostile input (glibc's matcher is quadratic in the length). */
START_TEST(test_regex_window)
{
    vgl_ruleset *rs = load("return vigil.rule { id = \"RE\", title = \"t\", severity = \"low\",\n"
                           "  where = { cmd = vigil.re\"power.*shell.*-enc\" } }\n");
    vgl_rules *e = engine(rs);
    size_t big = 1 << 20;
    char *v = malloc(big + 64);
    ck_assert_ptr_nonnull(v);
    /* 1 MiB of near-misses: no alert, and it returns (quadratic before) */
    memset(v, 'a', big);
    memcpy(v, "powershell ", 11);
    v[big] = 0;
    feed1(e, 1000, 0, "cmd", v);
    ck_assert_int_eq(count_rule("RE"), 0);
    /* the payload at the end of a long value is seen (tail window) */
    memset(v, 'x', big);
    strcpy(v + big - 20, " powershell -enc AA");
    feed1(e, 2000, 1, "cmd", v);
    ck_assert_int_eq(count_rule("RE"), 1);
    /* and at the start (head window) */
    memset(v, 'x', big);
    memcpy(v, "powershell -enc AA ", 19);
    feed1(e, 3000, 2, "cmd", v);
    ck_assert_int_eq(count_rule("RE"), 2);
    /* ^ anchors at the value's start, not at the tail window's */
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
    rs = load("return vigil.rule { id = \"RE2\", title = \"t\", severity = \"low\",\n"
              "  where = { cmd = vigil.re\"^zz\" } }\n");
    e = engine(rs);
    memset(v, 'x', big);
    memcpy(v + big - 4096, "zz", 2);
    feed1(e, 4000, 3, "cmd", v);
    ck_assert_int_eq(count_rule("RE2"), 0);
    free(v);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* The required-literal shortcut in front of regexec never changes a
 * result: every pattern x subject agrees with a plain regexec. */
START_TEST(test_regex_literal_shortcut)
{
    static const char *const pats[] = {
        "lsass", "ab?cde", "abc+def", "(foo|barbaz)qux", "x(foo|barbaz)?yz12",
        "comsvcs(\\.dll)?\"?[[:space:]]*,?[[:space:]]*(minidump|#[+-]?0*24([^0-9]|$))",
        "[[:space:]][/-](urlcache|verifyctl|transfer|addfile)[[:space:]]",
        "^power(shell)?[.]exe", "abc|xyz", "a{2,3}bcd", "(^|[/])reg(\\.exe)? save",
        "\\(literal\\)paren", "k[e]rberos", "ev+il+cmd",
    };
    static const char *const subj[] = {
        "procdump -ma LSASS.exe", "ACDE", "abde", "abcccdef", "xbarbazQUX", "xfooqux",
        "xyz12", "xfooyz12", "rundll32 comsvcs.dll, MiniDump 624", "comsvcs #24",
        "certutil -urlcache -f", "certutil /transfer x", "PowerShell.exe -nop", "powerexe",
        "xyz", "aabcd", "abcd", "c:/windows/reg.exe save hklm", "reg save", "(literal)paren",
        "kerberos", "evvilllcmd", "evilcmd", "", "unrelated text",
    };
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        char rule[1024];
        snprintf(rule, sizeof(rule),
                 "return vigil.rule { id = 'RX', title = 't', severity = 'low',\n"
                 "  where = { cmd = vigil.re [==[%s]==] } }\n",
                 pats[i]);
        vgl_ruleset *rs = load(rule);
        vgl_rules *e = engine(rs);
        regex_t re;
        ck_assert_int_eq(regcomp(&re, pats[i], REG_EXTENDED | REG_NOSUB | REG_ICASE), 0);
        for (size_t k = 0; k < sizeof(subj) / sizeof(subj[0]); k++) {
            int before = count_rule("RX");
            feed1(e, 1000 + (int64_t)k, (int64_t)k, "cmd", subj[k]);
            bool hit = count_rule("RX") > before;
            bool want = regexec(&re, subj[k], 0, NULL, 0) == 0;
            ck_assert_msg(hit == want, "pattern %s on \"%s\": vigil %d, regexec %d", pats[i],
                          subj[k], hit, want);
        }
        regfree(&re);
        vgl_rules_free(e);
        vgl_ruleset_free(rs);
    }
}
END_TEST

/* ============================================================ matchers */

static const char *matcher_rules =
    "return {\n"
    " vigil.rule{ id='EQ', title='eq', severity='low', where={['event.code']='4624'} },\n"
    " vigil.rule{ id='EQN', title='eqn', severity='low', where={['event.code']=4624} },\n"
    " vigil.rule{ id='CI', title='ci', severity='low', where={['user.name']='ADMIN'} },\n"
    " vigil.rule{ id='LIST', title='list', severity='low', where={['user.name']={'root','bob'}} },\n"
    " vigil.rule{ id='NEG', title='neg', severity='low', where={['kind']='neg', ['user.name']=vigil.neg('admin')} },\n"
    " vigil.rule{ id='CONTAINS', title='c', severity='low', where={['cmd']=vigil.contains('-EncodedCommand')} },\n"
    " vigil.rule{ id='STARTS', title='s', severity='low', where={['cmd']=vigil.startswith('powershell')} },\n"
    " vigil.rule{ id='ENDS', title='e', severity='low', where={['image']=vigil.endswith('.EXE')} },\n"
    " vigil.rule{ id='LIKE', title='l', severity='low', where={['image']=vigil.like('*\\\\powershell.exe')} },\n"
    " vigil.rule{ id='LIKEQ', title='lq', severity='low', where={['host']=vigil.like('ws-?" "?')} },\n"
    " vigil.rule{ id='RE', title='r', severity='low', where={['cmd']=vigil.re('^(iex|invoke-expression)[[:space:]]')} },\n"
    " vigil.rule{ id='CIDR4', title='c4', severity='low', where={['ip']=vigil.cidr('10.0.0.0/8')} },\n"
    " vigil.rule{ id='CIDR6', title='c6', severity='low', where={['ip']=vigil.cidr('2001:db8::/32')} },\n"
    " vigil.rule{ id='GT', title='gt', severity='low', where={['bytes']=vigil.gt(1000)} },\n"
    " vigil.rule{ id='LT', title='lt', severity='low', where={['bytes']=vigil.lt(10)} },\n"
    " vigil.rule{ id='EXISTS', title='x', severity='low', where={['kind']='exists', ['flag']=vigil.exists} },\n"
    " vigil.rule{ id='MISSING', title='m', severity='low', where={['kind']='exists', ['flag']=vigil.neg(vigil.exists)} },\n"
    " vigil.rule{ id='ANY', title='a', severity='low', where={['cmd']=vigil.any{vigil.contains('mimikatz'), vigil.endswith('.ps1')}} },\n"
    " vigil.rule{ id='BOOL', title='b', severity='low', where={['ok']=true} },\n"
    " vigil.rule{ id='TWO', title='two', severity='low', where={['event.code']='1', ['user.name']='x'} },\n"
    "}\n";

/* Which rules alert for one event: "A,B,..." in rule order. */
static const char *hits(vgl_rules *e, vgl_event *ev)
{
    static char out[512];
    nalerts = 0;
    feed(e, ev);
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < nalerts; i++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "", alerts[i].rule);
    return out;
}

START_TEST(test_where_equality)
{
    vgl_ruleset *rs = load(matcher_rules);
    vgl_rules *e = engine(rs);
    vgl_ruleset_free(rs); /* the engine keeps its own reference */
    vgl_event *ev = ev_new(T0, 1);
    set_s(ev, "event.code", "4624"); /* Sentinel CSV: a string */
    ck_assert_str_eq(hits(e, ev), "EQ,EQN");
    ev = ev_new(T0, 2);
    set_i(ev, "event.code", 4624); /* JSON: a number */
    ck_assert_str_eq(hits(e, ev), "EQ,EQN");
    ev = ev_new(T0, 3);
    set_s(ev, "event.code", "4624.0");
    ck_assert_str_eq(hits(e, ev), "EQ,EQN");
    ev = ev_new(T0, 4);
    set_s(ev, "event.code", "4625");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 5);
    set_s(ev, "user.name", "Admin");
    ck_assert_str_eq(hits(e, ev), "CI");
    ev = ev_new(T0, 6);
    set_s(ev, "user.name", "BOB");
    ck_assert_str_eq(hits(e, ev), "LIST");
    ev = ev_new(T0, 7); /* arrays: any item */
    push_s(ev, "user.name", "alice");
    push_s(ev, "user.name", "admin");
    ck_assert_str_eq(hits(e, ev), "CI");
    ev = ev_new(T0, 8);
    ck_assert_int_eq(vgl_event_set_bool(ev, vgl_path_intern("ok"), true), VGL_OK);
    ck_assert_str_eq(hits(e, ev), "BOOL");
    ev = ev_new(T0, 9); /* all conditions must hold */
    set_s(ev, "event.code", "1");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 10);
    set_s(ev, "event.code", "1");
    set_s(ev, "user.name", "X");
    ck_assert_str_eq(hits(e, ev), "TWO");
    vgl_rules_free(e);
}
END_TEST

START_TEST(test_where_matchers)
{
    vgl_ruleset *rs = load(matcher_rules);
    vgl_rules *e = engine(rs);
    vgl_ruleset_free(rs);
    vgl_event *ev = ev_new(T0, 1);
    set_s(ev, "kind", "neg");
    set_s(ev, "user.name", "bob");
    ck_assert_str_eq(hits(e, ev), "LIST,NEG");
    ev = ev_new(T0, 2);
    set_s(ev, "kind", "neg");
    push_s(ev, "user.name", "bob");
    push_s(ev, "user.name", "ADMIN");
    ck_assert_str_eq(hits(e, ev), "CI,LIST"); /* neg: no item may match */
    ev = ev_new(T0, 3);
    set_s(ev, "kind", "neg"); /* a missing field is not "admin" */
    ck_assert_str_eq(hits(e, ev), "NEG");
    ev = ev_new(T0, 4);
    set_s(ev, "cmd", "PowerShell.exe -encodedcommand AAAA");
    ck_assert_str_eq(hits(e, ev), "CONTAINS,STARTS");
    ev = ev_new(T0, 5);
    set_s(ev, "image", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\POWERSHELL.EXE");
    ck_assert_str_eq(hits(e, ev), "ENDS,LIKE");
    ev = ev_new(T0, 6);
    set_s(ev, "image", "C:\\tools\\notpowershell.exe");
    ck_assert_str_eq(hits(e, ev), "ENDS");
    ev = ev_new(T0, 7);
    set_s(ev, "host", "WS-07");
    ck_assert_str_eq(hits(e, ev), "LIKEQ");
    ev = ev_new(T0, 8);
    set_s(ev, "host", "ws-100");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 9);
    set_s(ev, "cmd", "IEX (New-Object Net.WebClient)");
    ck_assert_str_eq(hits(e, ev), "RE");
    ev = ev_new(T0, 10);
    set_s(ev, "cmd", "calc iex x");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 11);
    set_s(ev, "ip", "10.1.2.3");
    ck_assert_str_eq(hits(e, ev), "CIDR4");
    ev = ev_new(T0, 12);
    set_s(ev, "ip", "11.1.2.3");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 13);
    set_s(ev, "ip", "2001:DB8:1::5");
    ck_assert_str_eq(hits(e, ev), "CIDR6");
    ev = ev_new(T0, 14);
    set_s(ev, "ip", "::ffff:10.9.8.7"); /* v4-mapped */
    ck_assert_str_eq(hits(e, ev), "CIDR4");
    ev = ev_new(T0, 15);
    set_s(ev, "ip", "not an ip");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 16);
    set_s(ev, "bytes", "4096"); /* numeric string */
    ck_assert_str_eq(hits(e, ev), "GT");
    ev = ev_new(T0, 17);
    set_i(ev, "bytes", 3);
    ck_assert_str_eq(hits(e, ev), "LT");
    ev = ev_new(T0, 18);
    set_s(ev, "bytes", "lots");
    ck_assert_str_eq(hits(e, ev), "");
    ev = ev_new(T0, 19);
    set_s(ev, "kind", "exists");
    set_i(ev, "flag", 0);
    ck_assert_str_eq(hits(e, ev), "EXISTS");
    ev = ev_new(T0, 20);
    set_s(ev, "kind", "exists");
    ck_assert_str_eq(hits(e, ev), "MISSING");
    ev = ev_new(T0, 21);
    set_s(ev, "cmd", "run.PS1");
    ck_assert_str_eq(hits(e, ev), "ANY");
    vgl_rules_free(e);
}
END_TEST

/* ============================================================== index */

START_TEST(test_index_selectivity)
{
    vgl_ruleset *rs = load(
        "local r = {}\n"
        "for i = 1, 50 do\n"
        "  r[#r+1] = vigil.rule{ id='IDX-'..i, title='t', severity='low',\n"
        "    where={['event.category']='process', ['event.code']=tostring(i)} }\n"
        "end\n"
        "r[#r+1] = vigil.rule{ id='ALWAYS', title='t', severity='low',\n"
        "  where={['cmd']=vigil.contains('x')} }\n"
        "r[#r+1] = vigil.rule{ id='MULTI', title='t', severity='low',\n"
        "  where={['event.code']={'7','8'}} }\n"
        "return r\n");
    vgl_rules *e = engine(rs);
    vgl_event *ev = ev_new(T0, 1);
    set_s(ev, "event.category", "process");
    set_i(ev, "event.code", 7);
    ck_assert_str_eq(hits(e, ev), "IDX-7,MULTI");
    vgl_engine_stats st;
    vgl_rules_stats(e, &st);
    /* IDX-7, MULTI and the always-candidate: not the other 49 */
    ck_assert_uint_eq(st.candidates, 3);
    ck_assert_uint_eq(rstats(e, "IDX-7")->evaluations, 1);
    ck_assert_uint_eq(rstats(e, "IDX-8")->evaluations, 0);
    ck_assert_uint_eq(rstats(e, "ALWAYS")->evaluations, 1);
    ev = ev_new(T0, 2);
    set_s(ev, "event.code", "unknown");
    ck_assert_str_eq(hits(e, ev), "");
    vgl_rules_stats(e, &st);
    ck_assert_uint_eq(st.candidates, 4);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ========================================================== threshold */

START_TEST(test_threshold_window_edge)
{
    vgl_ruleset *rs = load(
        "return vigil.rule{ id='TH', title='burst', severity='high',\n"
        "  where={['event.outcome']='failure'},\n"
        "  threshold={by='source.ip', count=3, window='10s'},\n"
        "  entities={ip='source.ip'} }\n");
    vgl_rules *e = engine(rs);
    vgl_event *ev;
    int64_t ts[] = {0, 5 * SEC, 10 * SEC}; /* 0 and 10s are not in one 10s window */
    for (int i = 0; i < 3; i++) {
        ev = ev_new(T0 + ts[i], 100 + i);
        set_s(ev, "event.outcome", "failure");
        set_s(ev, "source.ip", "1.2.3.4");
        feed(e, ev);
    }
    ck_assert_int_eq(nalerts, 0);
    ev = ev_new(T0 + 11 * SEC, 103); /* 5s, 10s, 11s */
    set_s(ev, "event.outcome", "failure");
    set_s(ev, "source.ip", "1.2.3.4");
    feed(e, ev);
    ck_assert_int_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].rule, "TH");
    ck_assert_int_eq(alerts[0].t, T0 + 11 * SEC);
    ck_assert_str_eq(alerts[0].ents, "ip=1.2.3.4");
    ck_assert_str_eq(alerts[0].evid, "101,102,103");
    ck_assert_str_eq(alerts[0].fields, "source.ip=1.2.3.4;event.outcome=failure");
    /* another key is counted apart; the fired key starts over */
    ev = ev_new(T0 + 12 * SEC, 104);
    set_s(ev, "event.outcome", "failure");
    set_s(ev, "source.ip", "5.6.7.8");
    feed(e, ev);
    ck_assert_int_eq(nalerts, 1);
    ck_assert_uint_eq(rstats(e, "TH")->state_keys, 2);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

static void spray(vgl_rules *e, int64_t ts, int64_t off, const char *user)
{
    vgl_event *ev = ev_new(ts, off);
    set_s(ev, "event.category", "authentication");
    set_s(ev, "event.outcome", "failure");
    set_s(ev, "source.ip", "203.0.113.9");
    set_s(ev, "user.name", user);
    feed(e, ev);
}

START_TEST(test_threshold_distinct)
{
    vgl_ruleset *rs = load(
        "return vigil.rule {\n"
        "  id = 'VGL-CA-0002', title = 'Password spray from one source', severity = 'high',\n"
        "  tactic = 'Credential Access', technique = 'T1110.003', tags = {'entra'},\n"
        "  where = { ['event.category'] = 'authentication', ['event.outcome'] = 'failure' },\n"
        "  threshold = { by = 'source.ip', distinct = 'user.name', count = 3, window = '10m' },\n"
        "  entities = { ip = 'source.ip' },\n"
        "}\n");
    vgl_rules *e = engine(rs);
    spray(e, T0, 1, "alice");
    spray(e, T0 + 1 * MIN, 2, "ALICE"); /* the same user */
    spray(e, T0 + 2 * MIN, 3, "bob");
    ck_assert_int_eq(nalerts, 0);
    spray(e, T0 + 3 * MIN, 4, "carol");
    ck_assert_int_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].evid, "2,3,4"); /* latest event of each user */
    ck_assert_str_eq(alerts[0].ents, "ip=203.0.113.9");
    ck_assert_int_eq(alerts[0].sev, VGL_SEV_HIGH);
    /* across the window edge: dave at 0, erin at 5m, frank at 10m: dave is out */
    spray(e, T0 + 20 * MIN, 5, "dave");
    spray(e, T0 + 25 * MIN, 6, "erin");
    spray(e, T0 + 30 * MIN, 7, "frank");
    ck_assert_int_eq(nalerts, 1);
    spray(e, T0 + 31 * MIN, 8, "gina");
    ck_assert_int_eq(nalerts, 2);
    ck_assert_str_eq(alerts[1].evid, "6,7,8");
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* =========================================================== sequence */

static const char *seq_rule =
    "return vigil.rule{ id='SEQ', title='download then run', severity='high',\n"
    "  sequence={ by='host.name', within='5m', steps={\n"
    "    { where={['event.action']='download'} },\n"
    "    { where={['event.action']='exec'}, match=function(e) return e.file.name:find('%.exe$') ~= nil end },\n"
    "  } },\n"
    "  entities={host='host.name'} }\n";

static void step(vgl_rules *e, int64_t ts, int64_t off, const char *host, const char *action,
                 const char *file)
{
    vgl_event *ev = ev_new(ts, off);
    set_s(ev, "host.name", host);
    set_s(ev, "event.action", action);
    set_s(ev, "file.name", file);
    feed(e, ev);
}

START_TEST(test_sequence)
{
    vgl_ruleset *rs = load(seq_rule);
    vgl_rules *e = engine(rs);
    step(e, T0, 1, "ws1", "exec", "a.exe"); /* step 2 before step 1 */
    step(e, T0 + SEC, 2, "ws1", "download", "a.exe");
    step(e, T0 + 2 * SEC, 3, "ws2", "exec", "a.exe"); /* other host */
    step(e, T0 + 3 * SEC, 4, "ws1", "exec", "a.txt"); /* match() says no */
    ck_assert_int_eq(nalerts, 0);
    step(e, T0 + 4 * SEC, 5, "ws1", "exec", "a.exe");
    ck_assert_int_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].evid, "2,5");
    ck_assert_str_eq(alerts[0].ents, "host=ws1");
    ck_assert_int_eq(alerts[0].t, T0 + 4 * SEC);
    /* too slow: the second step comes after `within` */
    step(e, T0 + 10 * SEC, 6, "ws3", "download", "b.exe");
    step(e, T0 + 10 * SEC + 5 * MIN, 7, "ws3", "exec", "b.exe");
    ck_assert_int_eq(nalerts, 1);
    /* a newer first step restarts the wait: download at 0, again at 4m,
     * exec at 6m completes from the second download */
    step(e, T0 + 20 * MIN, 8, "ws4", "download", "c.exe");
    step(e, T0 + 24 * MIN, 9, "ws4", "download", "c.exe");
    step(e, T0 + 26 * MIN, 10, "ws4", "exec", "c.exe");
    ck_assert_int_eq(nalerts, 2);
    ck_assert_str_eq(alerts[1].evid, "9,10");
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ============================================================ absence */

static const char *absence_rule =
    "return vigil.rule{ id='ABS', title='no MFA after password', severity='medium',\n"
    "  absence={ by='user.name', within='1m',\n"
    "    after={ where={['event.action']='password'} },\n"
    "    missing={ where={['event.action']='mfa'} } },\n"
    "  entities={account='user.name'} }\n";

START_TEST(test_absence_tick)
{
    vgl_ruleset *rs = load(absence_rule);
    vgl_rules *e = engine(rs);
    vgl_event *ev = ev_new(T0, 1);
    set_s(ev, "user.name", "alice");
    set_s(ev, "event.action", "password");
    feed(e, ev);
    ev = ev_new(T0 + SEC, 2);
    set_s(ev, "user.name", "bob");
    set_s(ev, "event.action", "password");
    feed(e, ev);
    ev = ev_new(T0 + 30 * SEC, 3);
    set_s(ev, "user.name", "bob");
    set_s(ev, "event.action", "mfa");
    feed(e, ev);
    /* idle for less than the lateness: nothing moves */
    vgl_rules_tick(e, T0 + 30 * SEC + 4 * MIN);
    ck_assert_int_eq(nalerts, 0);
    /* idle long enough: event time follows the wall clock */
    vgl_rules_tick(e, T0 + 30 * SEC + 5 * MIN + 30 * SEC);
    ck_assert_int_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].rule, "ABS");
    ck_assert_str_eq(alerts[0].ents, "account=alice");
    ck_assert_str_eq(alerts[0].evid, "1");
    ck_assert_int_eq(alerts[0].t, T0);
    vgl_rules_tick(e, T0 + 60 * MIN);
    ck_assert_int_eq(nalerts, 1);
    ck_assert_uint_eq(rstats(e, "ABS")->state_keys, 0);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

START_TEST(test_absence_watermark)
{
    vgl_ruleset *rs = load(absence_rule);
    vgl_rules *e = engine(rs);
    vgl_event *ev = ev_new(T0, 1);
    set_s(ev, "user.name", "carol");
    set_s(ev, "event.action", "password");
    feed(e, ev);
    /* later events move the watermark (max time - 5m lateness) */
    feed1(e, T0 + 6 * MIN - 1, 2, "other", "x");
    ck_assert_int_eq(nalerts, 0);
    /* a late mfa inside the window still answers... but carol had none */
    feed1(e, T0 + 6 * MIN, 3, "other", "x");
    ck_assert_int_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].ents, "account=carol");
    /* a late `missing` event within the lateness cancels */
    ev = ev_new(T0 + 7 * MIN, 4);
    set_s(ev, "user.name", "dan");
    set_s(ev, "event.action", "password");
    feed(e, ev);
    feed1(e, T0 + 11 * MIN, 5, "other", "x");
    ev = ev_new(T0 + 7 * MIN + 30 * SEC, 6); /* arrives late, within lateness */
    set_s(ev, "user.name", "dan");
    set_s(ev, "event.action", "mfa");
    feed(e, ev);
    feed1(e, T0 + 20 * MIN, 7, "other", "x");
    ck_assert_int_eq(nalerts, 1);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* =========================================================== on_event */

START_TEST(test_on_event_ctx)
{
    vgl_ruleset *rs = load(
        "return vigil.rule{ id='OE', title='default title', severity='low',\n"
        "  where={['event.outcome']='failure'}, state_ttl='10m',\n"
        "  entities={ip='source.ip'},\n"
        "  on_event=function(e, ctx)\n"
        "    local s = ctx:state(e.source.ip)\n"
        "    s.n = (s.n or 0) + 1\n"
        "    s.users = s.users or {}\n"
        "    s.users[#s.users + 1] = e['user.name']\n"
        "    if s.n == 3 then\n"
        "      ctx:alert{ title='3 failures from '..e.source.ip, severity='critical',\n"
        "                 entities={ ip=e.source.ip, account=s.users } }\n"
        "      ctx:respond{ action='block_ip', target='ip' }\n"
        "    elseif s.n == 4 then\n"
        "      ctx:alert{}\n"
        "    end\n"
        "  end }\n");
    vgl_rules *e = engine(rs);
    const char *users[] = {"u1", "u2", "u3", "u4"};
    for (int i = 0; i < 4; i++) {
        vgl_event *ev = ev_new(T0 + i * SEC, 10 + i);
        set_s(ev, "event.outcome", "failure");
        set_s(ev, "source.ip", "198.51.100.7");
        set_s(ev, "user.name", users[i]);
        feed(e, ev);
    }
    ck_assert_int_eq(nalerts, 2);
    ck_assert_str_eq(alerts[0].title, "3 failures from 198.51.100.7");
    ck_assert_int_eq(alerts[0].sev, VGL_SEV_CRITICAL);
    ck_assert_str_eq(alerts[0].ents, "account=u1,account=u2,account=u3,ip=198.51.100.7");
    ck_assert_str_eq(alerts[0].resp, "block_ip:ip");
    ck_assert_str_eq(alerts[0].evid, "12");
    ck_assert_int_eq(alerts[0].t, T0 + 2 * SEC);
    ck_assert_str_eq(alerts[1].title, "default title"); /* the rule's defaults */
    ck_assert_int_eq(alerts[1].sev, VGL_SEV_LOW);
    ck_assert_str_eq(alerts[1].ents, "ip=198.51.100.7");
    ck_assert_str_eq(alerts[1].resp, "");
    /* past state_ttl the table starts empty again */
    for (int i = 0; i < 3; i++) {
        vgl_event *ev = ev_new(T0 + 20 * MIN + i * SEC, 20 + i);
        set_s(ev, "event.outcome", "failure");
        set_s(ev, "source.ip", "198.51.100.7");
        set_s(ev, "user.name", "v");
        feed(e, ev);
    }
    ck_assert_int_eq(nalerts, 3);
    ck_assert_str_eq(alerts[2].ents, "account=v,ip=198.51.100.7");
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

START_TEST(test_event_view)
{
    vgl_ruleset *rs = load(
        "return vigil.rule{ id='VIEW', title='t', severity='low',\n"
        "  where={['event.code']=1},\n"
        "  match=function(e)\n"
        "    assert(e['source.ip'] == '10.0.0.1' and e.source.ip == '10.0.0.1')\n"
        "    assert(e.event.code == 1 and math.type(e.event.code) == 'integer')\n"
        "    assert(#e.tags == 2 and e.tags[2] == 'b' and e.tags[3] == nil)\n"
        "    local n = 0 for k, v in pairs(e.source) do n = n + 1 end\n"
        "    assert(n == 1 and e.missing == nil and e['no.such.field'] == nil)\n"
        "    local ok, err = pcall(function() e.x = 1 end)\n"
        "    assert(not ok and err:find('read%-only'))\n"
        "    return true\n"
        "  end }\n");
    vgl_rules *e = engine(rs);
    vgl_event *ev = ev_new(T0, 1);
    set_i(ev, "event.code", 1);
    set_s(ev, "source.ip", "10.0.0.1");
    push_s(ev, "tags", "a");
    push_s(ev, "tags", "b");
    feed(e, ev);
    ck_assert_int_eq(nalerts, 1);
    ck_assert_uint_eq(rstats(e, "VIEW")->errors, 0);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ======================================================== suppression */

START_TEST(test_suppression)
{
    vgl_ruleset *rs = load(
        "return vigil.rule{ id='SUP', title='t', severity='low',\n"
        "  where={['event.code']='x'}, entities={ip='source.ip'}, suppress='1h' }\n");
    vgl_rules *e = engine(rs);
    const struct {
        int64_t t;
        const char *ip;
    } evs[] = {{0, "1.1.1.1"}, {10 * MIN, "1.1.1.1"}, {20 * MIN, "2.2.2.2"},
               {59 * MIN, "1.1.1.1"}, {60 * MIN, "1.1.1.1"}};
    for (int i = 0; i < 5; i++) {
        vgl_event *ev = ev_new(T0 + evs[i].t, i);
        set_s(ev, "event.code", "x");
        set_s(ev, "source.ip", evs[i].ip);
        feed(e, ev);
    }
    ck_assert_int_eq(nalerts, 3);
    ck_assert_str_eq(alerts[0].evid, "0");
    ck_assert_str_eq(alerts[1].evid, "2");
    ck_assert_str_eq(alerts[2].evid, "4");
    ck_assert_int_eq(nsupp, 2);
    ck_assert_str_eq(supp[0].evid, "1");
    ck_assert_str_eq(supp[1].evid, "3");
    ck_assert_str_eq(supp[1].ents, "ip=1.1.1.1");
    ck_assert_uint_eq(rstats(e, "SUP")->suppressed, 2);
    ck_assert_uint_eq(rstats(e, "SUP")->alerts, 3);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ============================================================ lateness */

START_TEST(test_lateness)
{
    vgl_ruleset *rs = load(
        "return { vigil.rule{ id='NOW', title='t', severity='low', where={['k']='v'} },\n"
        "  vigil.rule{ id='CNT', title='t', severity='low', where={['k']='v'},\n"
        "    threshold={by='k', count=2, window='1h'} } }\n");
    vgl_rules *e = engine(rs);
    feed1(e, T0 + 60 * MIN, 1, "k", "v");
    feed1(e, T0 + 50 * MIN, 2, "k", "v"); /* 10m late, lateness 5m */
    ck_assert_int_eq(count_rule("NOW"), 2);
    ck_assert_int_eq(count_rule("CNT"), 0);
    vgl_engine_stats st;
    vgl_rules_stats(e, &st);
    ck_assert_uint_eq(st.late, 1);
    ck_assert_int_eq(st.watermark_ms, T0 + 55 * MIN);
    feed1(e, T0 + 57 * MIN, 3, "k", "v"); /* out of order but in time */
    ck_assert_int_eq(count_rule("CNT"), 1);
    ck_assert_str_eq(alerts[nalerts - 1].evid, "3,1");
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ============================================================ LRU */

START_TEST(test_lru_eviction)
{
    vgl_limits_cfg l = limits();
    l.max_keys_per_rule = 2;
    vgl_ruleset *rs = load_lim(
        "return vigil.rule{ id='LRU', title='t', severity='low', where={['k']='v'},\n"
        "  threshold={by='ip', count=2, window='1h'} }\n", &l);
    vgl_rules *e = engine(rs);
    const char *ips[] = {"ip1", "ip2", "ip3", "ip1", "ip3"};
    for (int i = 0; i < 5; i++) {
        vgl_event *ev = ev_new(T0 + i * SEC, i);
        set_s(ev, "k", "v");
        set_s(ev, "ip", ips[i]);
        feed(e, ev);
    }
    /* ip3 evicted ip1, ip1 evicted ip2; ip1 started over; ip3 completes */
    ck_assert_int_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].evid, "2,4");
    ck_assert_uint_eq(rstats(e, "LRU")->evictions, 2);
    ck_assert_uint_eq(rstats(e, "LRU")->state_keys, 2);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ============================================================ replay */

static void replay(vgl_rules *e)
{
    for (int i = 0; i < 40; i++) {
        vgl_event *ev = ev_new(T0 + i * 7 * SEC, i);
        set_s(ev, "event.category", "authentication");
        set_s(ev, "event.outcome", "failure");
        set_s(ev, "source.ip", i % 3 ? "203.0.113.9" : "198.51.100.1");
        char user[16];
        snprintf(user, sizeof(user), "user%d", i % 7);
        set_s(ev, "user.name", user);
        set_s(ev, "host.name", i % 2 ? "ws1" : "ws2");
        set_s(ev, "event.action", i % 5 ? "download" : "exec");
        set_s(ev, "file.name", "x.exe");
        feed(e, ev);
    }
    vgl_rules_advance(e, T0 + 24 * 60 * MIN);
}

START_TEST(test_replay_deterministic)
{
    vgl_ruleset *rs = load(
        "return { vigil.rule{ id='SPRAY', title='t', severity='high',\n"
        "  where={['event.outcome']='failure'},\n"
        "  threshold={by='source.ip', distinct='user.name', count=4, window='2m'},\n"
        "  entities={ip='source.ip', account='user.name'} },\n"
        " vigil.rule{ id='SEQ2', title='t', severity='low',\n"
        "  sequence={by='host.name', within='1m', steps={ {where={['event.action']='download'}},\n"
        "    {where={['event.action']='exec'}} }}, entities={host='host.name'} },\n"
        " vigil.rule{ id='ABS2', title='t', severity='low',\n"
        "  absence={by='user.name', within='30s', after={where={['event.action']='exec'}},\n"
        "    missing={where={['event.action']='download'}}}, entities={account='user.name'} } }\n");
    vgl_rules *e = engine(rs);
    replay(e);
    int n1 = nalerts;
    got first[512];
    memcpy(first, alerts, sizeof(got) * (size_t)n1);
    vgl_rules_free(e);
    e = engine(rs);
    replay(e);
    ck_assert_int_gt(n1, 3);
    ck_assert_int_eq(nalerts, n1);
    for (int i = 0; i < n1; i++) {
        ck_assert_str_eq(alerts[i].id, first[i].id);
        ck_assert_str_eq(alerts[i].evid, first[i].evid);
        ck_assert_str_eq(alerts[i].ents, first[i].ents);
    }
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

/* ========================================================= hot reload */

static const char *reload_v1 =
    "return { vigil.rule{ id='KEEP', title='v1', severity='low', where={['k']='v'},\n"
    "    threshold={by='ip', count=3, window='1h'} },\n"
    "  vigil.rule{ id='CHANGE', title='v1', severity='low', where={['k']='v'},\n"
    "    threshold={by='ip', count=3, window='1h'} },\n"
    "  vigil.rule{ id='STATE', title='v1', severity='low', where={['k']='v'},\n"
    "    on_event=function(e, ctx) local s = ctx:state('all') s.n = (s.n or 0) + 1\n"
    "      if s.n == 3 then ctx:alert{} end end } }\n";

static const char *reload_v2 =
    "return { vigil.rule{ id='KEEP', title='v2', severity='high', where={['k']='v'},\n"
    "    threshold={by='ip', count=3, window='1h'} },\n"
    "  vigil.rule{ id='CHANGE', title='v2', severity='low', where={['k']='v'},\n"
    "    threshold={by='ip', count=4, window='1h'} },\n"
    "  vigil.rule{ id='STATE', title='v2', severity='low', where={['k']='v'},\n"
    "    on_event=function(e, ctx) local s = ctx:state('all') s.n = (s.n or 0) + 1\n"
    "      if s.n == 3 then ctx:alert{} end end },\n"
    "  vigil.rule{ id='NEW', title='v2', severity='low', where={['k']='v'} } }\n";

START_TEST(test_hot_reload)
{
    vgl_ruleset *rs1 = load(reload_v1);
    vgl_rules *e = engine(rs1);
    vgl_ruleset_free(rs1); /* the engine holds its own reference */
    for (int i = 0; i < 2; i++) {
        vgl_event *ev = ev_new(T0 + i * SEC, i);
        set_s(ev, "k", "v");
        set_s(ev, "ip", "9.9.9.9");
        feed(e, ev);
    }
    ck_assert_int_eq(nalerts, 0);
    vgl_ruleset *rs2 = load(reload_v2);
    char err[256];
    ck_assert_int_eq(vgl_rules_swap(e, rs2, err, sizeof(err)), VGL_OK);
    vgl_ruleset_free(rs2);
    ck_assert_uint_eq(vgl_rules_count(e), 4);
    ck_assert_uint_eq(rstats(e, "KEEP")->evaluations, 2); /* counters carried */
    ck_assert_uint_eq(rstats(e, "KEEP")->state_keys, 1);
    ck_assert_uint_eq(rstats(e, "CHANGE")->state_keys, 0); /* count changed: reset */
    ck_assert_uint_eq(rstats(e, "STATE")->state_keys, 1);
    vgl_event *ev = ev_new(T0 + 2 * SEC, 2);
    set_s(ev, "k", "v");
    set_s(ev, "ip", "9.9.9.9");
    feed(e, ev);
    ck_assert_int_eq(count_rule("KEEP"), 1);
    ck_assert_int_eq(count_rule("CHANGE"), 0);
    ck_assert_int_eq(count_rule("STATE"), 1); /* Lua state tables carried over */
    ck_assert_int_eq(count_rule("NEW"), 1);
    for (int i = 0; i < nalerts; i++)
        if (strcmp(alerts[i].rule, "KEEP") == 0) {
            ck_assert_str_eq(alerts[i].title, "v2");
            ck_assert_str_eq(alerts[i].evid, "0,1,2");
        }
    vgl_rules_free(e);
}
END_TEST

/* ========================================================= load errors */

/* want: the expected diagnostics, "@" standing for the temp directory */
static void expect_error(const char *text, const char *want)
{
    char *diags = load_errors("bad.lua", text);
    vgl_buf full;
    vgl_buf_init(&full, 0);
    for (const char *p = want; *p; p++) {
        if (*p == '@')
            vgl_buf_puts(&full, tmpdir);
        else
            vgl_buf_putc(&full, *p);
    }
    ck_assert_str_eq(diags, full.data);
    vgl_buf_free(&full);
    free(diags);
}

START_TEST(test_load_errors)
{
    expect_error("return vigil.rule{ id='X', title='t' severity='low' }\n",
                 "@/bad.lua:1: '}' expected near 'severity'");
    expect_error("\n\nreturn vigil.rule{ id='X', title='t', severity='low',\n"
                 "  treshold={by='a', count=2, window='1m'} }\n",
                 "@/bad.lua:3: rule X: unknown key \"treshold\" (did you mean \"threshold\"?)");
    expect_error("return vigil.rule{ id='X', title='t', severity='low', colour='red' }\n",
                 "@/bad.lua:1: rule X: unknown key \"colour\"");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  threshold={by='a', count=2, window='10x'} }\n",
                 "@/bad.lua:1: rule X: threshold.window: bad duration \"10x\" (use e.g. "
                 "500ms, 30s, 10m, 1h, 7d)");
    expect_error("return vigil.rule{ id='X', title='t', severity='hgh' }\n",
                 "@/bad.lua:1: rule X: unknown severity \"hgh\" (one of informational, low, "
                 "medium, high, critical)");
    expect_error("return vigil.rule{ title='t', severity='low' }\n", "@/bad.lua:1: missing id");
    expect_error("return vigil.rule{ id='X', severity='low' }\n",
                 "@/bad.lua:1: rule X: missing title");
    expect_error("return vigil.rule{ id='X', title='t' }\n",
                 "@/bad.lua:1: rule X: missing severity");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  threshold={by='a', count=0, window='1m', windw='2m'} }\n",
                 "@/bad.lua:1: rule X: threshold: unknown key \"windw\" (did you mean "
                 "\"window\"?)\n"
                 "@/bad.lua:1: rule X: threshold.count must be an integer from 1 to 100000");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  sequence={within='1m', steps={ {where={a=1}} }} }\n",
                 "@/bad.lua:1: rule X: sequence.steps must be a list of 2 to 32 steps");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  absence={by='u', within='1m', after={where={a=1}}} }\n",
                 "@/bad.lua:1: rule X: absence.missing is required");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  where={cmd=vigil.re('(')} }\n",
                 "@/bad.lua:1: rule X: where[\"cmd\"]: invalid regex \"(\": Unmatched ( or \\(");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  where={ip=vigil.cidr('10.0.0.0/33')} }\n",
                 "@/bad.lua:1: rule X: where[\"ip\"]: invalid CIDR \"10.0.0.0/33\"");
    expect_error("return vigil.rule{ id='X', title='t', severity='low',\n"
                 "  threshold={by='a', count=2, window='1m'}, on_event=function() end }\n",
                 "@/bad.lua:1: rule X: threshold, sequence, absence and on_event are "
                 "exclusive: use one");
    expect_error("local x = 1\nos.execute('id')\nreturn {}\n",
                 "@/bad.lua:2: os.execute is not available in vigil rules");
    expect_error("local m = require('socket')\n",
                 "@/bad.lua:1: require is not available in vigil rules");
    expect_error("return 42\n",
                 "@/bad.lua:1: the file must return vigil.rule{...} or a list of them");
}
END_TEST

START_TEST(test_duplicate_ids)
{
    char sub[96];
    snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
    mkdir(sub, 0700);
    write_rule("a.lua", "return vigil.rule{ id='DUP', title='t', severity='low' }\n");
    write_rule("sub/b.lua", "\nreturn vigil.rule{ id='DUP', title='t', severity='low' }\n");
    const char *dir = tmpdir;
    vgl_diag d = {0};
    vgl_limits_cfg l = limits();
    ck_assert_ptr_null(vgl_ruleset_load(&dir, 1, &l, &d));
    ck_assert_uint_eq(d.n, 1);
    char want[512];
    snprintf(want, sizeof(want),
             "%s/sub/b.lua:2: duplicate rule id \"DUP\" (also defined at %s/a.lua:1)", tmpdir,
             tmpdir);
    ck_assert_str_eq(d.msgs[0], want);
    vgl_diag_free(&d);
}
END_TEST

START_TEST(test_load_directory_sorted)
{
    write_rule("b.lua", "return vigil.rule{ id='B', title='t', severity='low' }\n");
    write_rule("a.lua", "return { vigil.rule{ id='A1', title='t', severity='low' },\n"
                        " vigil.rule{ id='A2', title='t', severity='low', enabled=false } }\n");
    write_rule("notes.txt", "not a rule");
    const char *dir = tmpdir;
    vgl_diag d = {0};
    vgl_limits_cfg l = limits();
    vgl_ruleset *rs = vgl_ruleset_load(&dir, 1, &l, &d);
    ck_assert_ptr_nonnull(rs);
    ck_assert_uint_eq(vgl_ruleset_count(rs), 2);
    ck_assert_str_eq(vgl_ruleset_rule_id(rs, 0), "A1");
    ck_assert_str_eq(vgl_ruleset_rule_id(rs, 1), "B");
    vgl_ruleset_free(rs);
}
END_TEST

/* ============================================================ hostile */

static char logbuf[64][1024];
static int nlogs;

static void log_sink(const char *line, void *opaque)
{
    (void)opaque;
    if (nlogs < 64)
        snprintf(logbuf[nlogs++], sizeof(logbuf[0]), "%s", line);
}

/* The log line after its timestamp, or NULL. */
static const char *find_log(const char *needle)
{
    for (int i = 0; i < nlogs; i++) {
        const char *p = strstr(logbuf[i], " level=");
        if (p && strstr(p, needle))
            return p + 1;
    }
    return NULL;
}

static int count_logs(const char *needle)
{
    int n = 0;
    for (int i = 0; i < nlogs; i++)
        n += strstr(logbuf[i], needle) != NULL;
    return n;
}

START_TEST(test_hostile_rules)
{
    const char *paths[5] = {
        VGL_SRCDIR "/tests/lua/hostile_loop.lua", VGL_SRCDIR "/tests/lua/hostile_alloc.lua",
        VGL_SRCDIR "/tests/lua/hostile_exec.lua", VGL_SRCDIR "/tests/lua/hostile_stash.lua",
        write_rule("normal.lua",
                   "return vigil.rule{ id='VGL-H-OK', title='Hostile marker seen',\n"
                   "  severity='medium', where={['event.code']='hostile'},\n"
                   "  match=function(e) return e.source.ip == '10.0.0.1' end,\n"
                   "  entities={ip='source.ip'} }\n"),
    };
    vgl_limits_cfg l = limits();
    l.lua_instructions = 100000;
    l.lua_memory = 4u << 20;
    l.rule_max_failures = 3;
    vgl_diag d = {0};
    vgl_ruleset *rs = vgl_ruleset_load(paths, 5, &l, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s\n", d.msgs[i]);
    ck_assert_ptr_nonnull(rs);
    vgl_diag_free(&d);
    nlogs = 0;
    vgl_log_set_sink(log_sink, NULL);
    vgl_rules *e = engine(rs);
    for (int i = 0; i < 5; i++) {
        vgl_event *ev = ev_new(T0 + i * SEC, i);
        set_s(ev, "event.code", "hostile");
        set_s(ev, "source.ip", "10.0.0.1");
        feed(e, ev);
    }
    vgl_log_set_sink(NULL, NULL);
    /* the normal rule alerted on every event */
    ck_assert_int_eq(count_rule("VGL-H-OK"), 5);
    ck_assert_int_eq(nalerts, 5);
    ck_assert_int_eq(access("/tmp/vigil-hostile-exec", F_OK), -1);
    char want[1024];
    snprintf(want, sizeof(want),
             "level=warn msg=\"rule call failed\" rule=VGL-H-LOOP worker=0 error=\"rule "
             "VGL-H-LOOP (%s:3): instruction budget of 100000 exceeded\" failures=1 unlogged=0",
             paths[0]);
    ck_assert_ptr_nonnull(find_log("rule=VGL-H-LOOP"));
    ck_assert_str_eq(find_log("rule=VGL-H-LOOP"), want);
    snprintf(want, sizeof(want),
             "level=warn msg=\"rule call failed\" rule=VGL-H-ALLOC worker=0 error=\"rule "
             "VGL-H-ALLOC (%s:3): memory limit of 4194304 bytes exceeded\" failures=1 "
             "unlogged=0",
             paths[1]);
    ck_assert_str_eq(find_log("rule=VGL-H-ALLOC"), want);
    snprintf(want, sizeof(want),
             "level=warn msg=\"rule call failed\" rule=VGL-H-EXEC worker=0 error=\"rule "
             "VGL-H-EXEC (%s:2): %s:6: os.execute is not available in vigil rules\" "
             "failures=1 unlogged=0",
             paths[2], paths[2]);
    ck_assert_str_eq(find_log("rule=VGL-H-EXEC"), want);
    snprintf(want, sizeof(want),
             "level=warn msg=\"rule call failed\" rule=VGL-H-STASH worker=0 error=\"rule "
             "VGL-H-STASH (%s:3): %s:8: event view used after its rule call returned\" "
             "failures=1 unlogged=0",
             paths[3], paths[3]);
    ck_assert_str_eq(find_log("rule=VGL-H-STASH"), want);
    /* logged once (rate limit), disabled after 3 failures (logged) */
    ck_assert_int_eq(count_logs("msg=\"rule call failed\""), 4);
    ck_assert_int_eq(count_logs("msg=\"rule disabled\""), 4);
    snprintf(want, sizeof(want),
             "level=error msg=\"rule disabled\" rule=VGL-H-LOOP worker=0 reason=\"rule "
             "VGL-H-LOOP (%s:3): disabled after 3 failures (limits.rule_max_failures)\"",
             paths[0]);
    ck_assert_str_eq(find_log("msg=\"rule disabled\" rule=VGL-H-LOOP"), want);
    ck_assert(rstats(e, "VGL-H-LOOP")->disabled);
    ck_assert_uint_eq(rstats(e, "VGL-H-LOOP")->errors, 3);
    ck_assert_uint_eq(rstats(e, "VGL-H-LOOP")->evaluations, 3);
    ck_assert_uint_eq(rstats(e, "VGL-H-STASH")->errors, 3); /* first call stashed */
    ck_assert(!rstats(e, "VGL-H-OK")->disabled);
    vgl_engine_stats st;
    vgl_rules_stats(e, &st);
    ck_assert_uint_le(st.lua_memory, 4u << 20);
    vgl_rules_free(e);
    vgl_ruleset_free(rs);
}
END_TEST

START_TEST(test_sandbox_surface)
{
    vgl_ruleset *rs = load(
        "local blocked = {}\n"
        "for _, name in ipairs{'io.open','os.getenv','os.exit','dofile','loadfile','debug.getinfo'} do\n"
        "  local lib, fn = name:match('^(%a+)%.(%a+)$')\n"
        "  local f = lib and _G[lib][fn] or _G[name]\n"
        "  local ok, err = pcall(f, 'x')\n"
        "  assert(not ok and err == name .. ' is not available in vigil rules', err)\n"
        "end\n"
        "assert(load(string.dump(function() end)) == nil)\n"
        "assert(load('return 1')() == 1)\n"
        "assert(type(os.time()) == 'number' and type(os.clock()) == 'number')\n"
        "assert(package == nil and coroutine == nil and utf8 and string and table and math)\n"
        "assert(not pcall(setmetatable, {}, {__gc = function() end}))\n"
        "assert(not pcall(collectgarbage, 'stop'))\n"
        "return vigil.rule{ id='S', title='t', severity='low' }\n");
    vgl_ruleset_free(rs);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_where_equality);
    tcase_add_test(tc, test_where_matchers);
    tcase_add_test(tc, test_regex_window);
    tcase_add_test(tc, test_regex_literal_shortcut);
    tcase_add_test(tc, test_index_selectivity);
    tcase_add_test(tc, test_threshold_window_edge);
    tcase_add_test(tc, test_threshold_distinct);
    tcase_add_test(tc, test_sequence);
    tcase_add_test(tc, test_absence_tick);
    tcase_add_test(tc, test_absence_watermark);
    tcase_add_test(tc, test_on_event_ctx);
    tcase_add_test(tc, test_event_view);
    tcase_add_test(tc, test_suppression);
    tcase_add_test(tc, test_lateness);
    tcase_add_test(tc, test_lru_eviction);
    tcase_add_test(tc, test_replay_deterministic);
    tcase_add_test(tc, test_hot_reload);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_duplicate_ids);
    tcase_add_test(tc, test_load_directory_sorted);
    tcase_add_test(tc, test_hostile_rules);
    tcase_add_test(tc, test_sandbox_surface);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rules_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vgl_path_registry_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
