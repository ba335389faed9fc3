/*
 * `vigil test`: replay JSON-lines files through decode -> source plugin ->
 * enrichment -> rules -> incidents with no Kafka, print alerts and
 * incidents as JSON lines, and optionally compare the alerts with an
 * expected file.
 */
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "log.h"
#include "stages.h"

static const char test_usage[] =
    "Usage: vigil test [-c CONFIG] [--rules PATH]... [--source PLUGIN]\n"
    "                  [--expect EXPECTED.jsonl] [--alerts-only] EVENTS.jsonl...\n"
    "\n"
    "Replay JSON-lines event files ('-' reads stdin) through the pipeline offline:\n"
    "decode, the source plugin (--source, else the first input's), enrichment,\n"
    "detection plugins and rules, incidents. Alerts and incidents are printed to\n"
    "stdout as JSON lines. Each event's evidence position is FILE/0@LINE-1.\n"
    "\n"
    "With --expect, the alerts are compared with EXPECTED.jsonl (one alert per line;\n"
    "rule_id is required, and entities and evidence offsets are compared when given):\n"
    "a missing or unexpected alert prints a diff and exits 1.\n"
    "On a terminal a progress line (events, events/s, alerts) is kept on stderr;\n"
    "nothing extra is printed when stderr is not a terminal.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE     configuration (default: built-in defaults, no plugins)\n"
    "  -r, --rules PATH      rule file or directory (repeatable; replaces rules.paths)\n"
    "  -s, --source PLUGIN   source plugin to normalize with ('none' for raw events)\n"
    "  -e, --expect FILE     expected alerts\n"
    "  -a, --alerts-only     print alerts only\n"
    "  -q, --quiet           print nothing but the comparison result\n"
    "  -h, --help            this help\n";

typedef struct test_run {
    json_t *alerts; /* every alert, for --expect */
    bool alerts_only;
    bool quiet;
    size_t nalerts, nincidents, nactions;
    /* progress line on a terminal (stderr is a TTY and not --quiet) */
    bool progress;
    size_t events;
    struct timespec t0, last;
} test_run;

static double secs_since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Redraw the progress line at most 5 times a second. */
static void progress(test_run *t, bool final)
{
    if (!t->progress)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && secs_since(&t->last, &now) < 0.2)
        return;
    t->last = now;
    double el = secs_since(&t->t0, &now);
    fprintf(stderr, "\r\033[K  %zu events  %.0f events/s  %zu alerts", t->events,
            el > 0 ? (double)t->events / el : 0.0, t->nalerts);
    if (final)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void sink_emit(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                      const void *value, size_t len)
{
    (void)key;
    (void)keylen;
    test_run *t = opaque;
    if (kind == VGL_OUT_ALERTS) {
        t->nalerts++;
        json_t *j = json_loadb(value, len, 0, NULL);
        if (j)
            json_array_append_new(t->alerts, j);
    } else if (kind == VGL_OUT_INCIDENTS) {
        t->nincidents++;
    } else if (kind == VGL_OUT_ACTIONS) {
        t->nactions++;
    }
    if (kind == VGL_OUT_DEAD_LETTER || kind == VGL_OUT_EVENTS || t->quiet)
        return;
    if (t->alerts_only && kind != VGL_OUT_ALERTS)
        return;
    fwrite(value, 1, len, stdout);
    fputc('\n', stdout);
}

/* Does actual alert a satisfy expected alert e? */
static bool alert_matches(json_t *e, json_t *a)
{
    const char *erule = json_string_value(json_object_get(e, "rule_id"));
    const char *arule = json_string_value(json_object_get(a, "rule_id"));
    if (!erule || !arule || strcmp(erule, arule) != 0)
        return false;
    json_t *eent = json_object_get(e, "entities");
    if (eent) {
        json_t *aent = json_object_get(a, "entities");
        if (json_array_size(eent) != json_array_size(aent))
            return false;
        size_t i;
        json_t *x;
        json_array_foreach(eent, i, x) {
            bool found = false;
            size_t k;
            json_t *y;
            json_array_foreach(aent, k, y) {
                if (json_equal(json_object_get(x, "type"), json_object_get(y, "type")) &&
                    json_equal(json_object_get(x, "value"), json_object_get(y, "value")))
                    found = true;
            }
            if (!found)
                return false;
        }
    }
    json_t *eev = json_object_get(e, "evidence");
    if (eev) {
        json_t *aev = json_object_get(a, "evidence");
        if (json_array_size(eev) != json_array_size(aev))
            return false;
        size_t i;
        json_t *x;
        json_array_foreach(eev, i, x) {
            json_t *y = json_array_get(aev, i);
            json_t *off = json_object_get(x, "offset");
            if (off && !json_equal(off, json_object_get(y, "offset")))
                return false;
        }
    }
    return true;
}

static int compare_expected(const char *path, json_t *actual)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vigil test: cannot open %s\n", path);
        return VGL_EXIT_USAGE;
    }
    json_t *expected = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, bad = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (n <= 1 || line[0] == '#')
            continue;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)n, 0, &je);
        if (!j || !json_is_object(j) || !json_string_value(json_object_get(j, "rule_id"))) {
            fprintf(stderr, "%s:%d:%d: expected alert must be a JSON object with rule_id%s%s\n",
                    path, lineno, j ? 1 : je.column, j ? "" : ": ", j ? "" : je.text);
            json_decref(j);
            bad++;
            continue;
        }
        json_array_append_new(expected, j);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (bad) {
        json_decref(expected);
        return VGL_EXIT_USAGE;
    }
    size_t na = json_array_size(actual);
    char *used = calloc(na ? na : 1, 1);
    int missing = 0, unexpected = 0;
    size_t i;
    json_t *e;
    json_array_foreach(expected, i, e) {
        bool found = false;
        for (size_t k = 0; k < na && !found; k++) {
            if (!used[k] && alert_matches(e, json_array_get(actual, k))) {
                used[k] = 1;
                found = true;
            }
        }
        if (!found) {
            char *s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(stderr, "- missing    %s\n", s);
            free(s);
            missing++;
        }
    }
    for (size_t k = 0; k < na; k++) {
        if (used[k])
            continue;
        json_t *a = json_array_get(actual, k);
        json_t *brief = json_pack("{s:O?,s:O?,s:O?}", "rule_id", json_object_get(a, "rule_id"),
                                  "entities", json_object_get(a, "entities"), "time",
                                  json_object_get(a, "time"));
        char *s = json_dumps(brief, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "+ unexpected %s\n", s);
        free(s);
        json_decref(brief);
        unexpected++;
    }
    free(used);
    size_t nexp = json_array_size(expected);
    json_decref(expected);
    if (missing || unexpected) {
        fprintf(stderr, "vigil test: %d missing, %d unexpected of %zu expected alerts\n", missing,
                unexpected, nexp);
        return VGL_EXIT_PROBLEMS;
    }
    fprintf(stderr, "vigil test: all %zu expected alerts raised, none unexpected\n", nexp);
    return VGL_EXIT_OK;
}

/* Replay one file; returns the number of bad lines. */
static size_t replay_file(const char *path, const vgl_config *cfg, void *wctx, vgl_event *ev,
                          const vgl_path *const *tfields, size_t ntf, test_run *t)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vigil test: cannot open %s\n", path);
        return 1;
    }
    char *pathcopy = strdup(path);
    const char *topic = strcmp(path, "-") == 0 ? "stdin" : basename(pathcopy);
    vgl_decode_limits lim = {cfg->limits.max_message_bytes, cfg->limits.max_depth};
    char *line = NULL;
    size_t cap = 0, bad = 0;
    ssize_t n;
    int64_t lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        char err[512];
        vgl_event_reset(ev);
        if (vgl_json_decode(ev, line, (size_t)n, &lim, err, sizeof(err)) != VGL_OK) {
            fprintf(stderr, "%s:%lld: %s\n", path, (long long)lineno, err);
            bad++;
            continue;
        }
        ev->meta.topic = topic;
        ev->meta.partition = 0;
        ev->meta.offset = lineno - 1;
        ev->meta.received_ms = 0; /* replays must not depend on the wall clock */
        vgl_event_take_time(ev, tfields, ntf);
        if (!vgl_stages_process(wctx, ev, err, sizeof(err))) {
            if (t->progress)
                fputs("\r\033[K", stderr);
            fprintf(stderr, "%s:%lld: %s\n", path, (long long)lineno, err);
            bad++;
        }
        t->events++;
        if ((t->events & 1023) == 0)
            progress(t, false);
    }
    free(line);
    free(pathcopy);
    if (f != stdin)
        fclose(f);
    return bad;
}

int vgl_cmd_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"rules", required_argument, NULL, 'r'},
        {"source", required_argument, NULL, 's'},
        {"expect", required_argument, NULL, 'e'},
        {"alerts-only", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_arg = NULL, *source = NULL, *expect = NULL;
    char **rules = calloc((size_t)argc + 1, sizeof(char *));
    size_t nrules = 0;
    test_run t = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:s:e:aqh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_arg = optarg; break;
        case 'r': rules[nrules++] = optarg; break;
        case 's': source = optarg; break;
        case 'e': expect = optarg; break;
        case 'a': t.alerts_only = true; break;
        case 'q': t.quiet = true; break;
        case 'h': fputs(test_usage, stdout); free(rules); return VGL_EXIT_OK;
        default: fputs(test_usage, stderr); free(rules); return VGL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "vigil test: no event files given\n\n%s", test_usage);
        free(rules);
        return VGL_EXIT_USAGE;
    }
    vgl_log_set_level(VGL_LOG_WARN);
    vgl_config *cfg = cfg_arg ? vgl_cli_load_config(cfg_arg) : vgl_config_defaults();
    if (!cfg) {
        free(rules);
        return VGL_EXIT_PROBLEMS;
    }
    /* command-line overrides */
    if (nrules) {
        for (size_t i = 0; i < cfg->nrule_paths; i++)
            free(cfg->rule_paths[i]);
        free(cfg->rule_paths);
        cfg->rule_paths = calloc(nrules, sizeof(char *));
        for (size_t i = 0; i < nrules; i++)
            cfg->rule_paths[i] = strdup(rules[i]);
        cfg->nrule_paths = nrules;
    }
    free(rules);
    /* one process, one worker: grouping needs no internal topic */
    cfg->incidents.per_worker = true;
    if (cfg->ninputs == 0) {
        cfg->inputs = calloc(1, sizeof(vgl_input_cfg));
        cfg->ninputs = 1;
        cfg->inputs[0].topic = strdup("vigil-test");
    }
    if (source) {
        free(cfg->inputs[0].source);
        cfg->inputs[0].source = strcmp(source, "none") == 0 ? NULL : strdup(source);
    }
    /* only the first input is replayed: keep it alone so only its source loads */
    const vgl_input_cfg *in = &cfg->inputs[0];
    const char *deftf[] = {"@timestamp", "TimeGenerated", "time", "TimeCreated", "timestamp"};
    size_t ntf = in->ntime_fields ? in->ntime_fields : 5;
    const vgl_path **tfields = calloc(ntf, sizeof(vgl_path *));
    for (size_t i = 0; i < ntf; i++)
        tfields[i] = vgl_path_intern(in->ntime_fields ? in->time_fields[i] : deftf[i]);

    int rc = VGL_EXIT_OK;
    char err[8192];
    t.alerts = json_array();
    vgl_stages *st = vgl_stages_new(cfg, err, sizeof(err));
    void *wctx = NULL;
    if (!st) {
        fprintf(stderr, "%s\n", err);
        rc = VGL_EXIT_PROBLEMS;
        goto out;
    }
    if (vgl_stages_start(st, 1, NULL, NULL, err, sizeof(err)) != VGL_OK) {
        fprintf(stderr, "%s\n", err);
        rc = VGL_EXIT_PROBLEMS;
        goto out;
    }
    vgl_sink sink = {sink_emit, &t};
    wctx = vgl_stages_worker_new(st, 0, &sink, err, sizeof(err));
    if (!wctx) {
        fprintf(stderr, "%s\n", err);
        rc = VGL_EXIT_PROBLEMS;
        goto out;
    }
    vgl_event ev;
    vgl_event_init(&ev, cfg->limits.event_memory);
    size_t bad = 0;
    t.progress = !t.quiet && isatty(STDERR_FILENO);
    clock_gettime(CLOCK_MONOTONIC, &t.t0);
    t.last = t.t0;
    for (int i = optind; i < argc; i++)
        bad += replay_file(argv[i], cfg, wctx, &ev, tfields, ntf, &t);
    progress(&t, true);
    /* end of input: let time-driven rules (absence) conclude */
    vgl_stages_idle(wctx, INT64_MAX);
    vgl_event_destroy(&ev);
    fflush(stdout);
    if (!t.quiet)
        fprintf(stderr, "vigil test: %zu alerts, %zu incident updates, %zu actions; %zu bad lines\n",
                t.nalerts, t.nincidents, t.nactions, bad);
    if (expect)
        rc = compare_expected(expect, t.alerts);
out:
    if (wctx)
        vgl_stages_worker_free(wctx);
    vgl_stages_free(st);
    json_decref(t.alerts);
    free(tfields);
    vgl_config_free(cfg);
    vgl_path_registry_free();
    return rc;
}
