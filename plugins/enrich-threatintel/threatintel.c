/*
 * enrich-threatintel: matches event fields against indicator sets loaded
 * from CSV files and STIX 2.1 bundles and adds threat.indicator.* on a
 * match (docs/fields.md).
 *
 * One shared instance serves every worker. The indicator set is immutable
 * and published through an rcu_ptr: a background thread checks the files'
 * modification times every reload_interval, builds a new set off the hot
 * path and swaps it in; workers take the current set once per batch
 * without a lock and never wait for a reload.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <vigil/plugin.h>

#include "feeds.h"
#include "intel.h"
#include "rcu.h"

#define MAX_FILES 64
#define MAX_FIELDS 64
#define MAX_REJECT_LOGS 10 /* per load; the rest are counted */

/* what a file looked like when it was last loaded */
typedef struct file_sig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_sig;

typedef struct feed_file {
    const char *path; /* borrowed from the config */
    bool stix;
    file_sig sig;
} feed_file;

typedef struct threatintel {
    const vgl_host *host;
    feed_file files[MAX_FILES];
    size_t nfiles;
    feed_columns columns;
    uint64_t max_file;
    bool strict, subdomains, header;
    int64_t reload_ms;
    const vgl_path *fields[MAX_FIELDS];
    size_t nfields;
    const vgl_path *p_type, *p_value, *p_provider, *p_confidence, *p_description, *p_matched;

    rcu_ptr set; /* intel_set * */

    /* reload thread */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    size_t reject_logs; /* rejected rows logged during the current load */

    vgl_plugin_metric *m_indicators, *m_matches, *m_reloads, *m_reload_failures, *m_rejected;
} threatintel;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- load */

static void on_reject(void *opaque, const char *msg)
{
    threatintel *t = opaque;
    if (t->reject_logs++ < MAX_REJECT_LOGS) {
        vgl_pair f[] = {{"reason", msg}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "indicator skipped", f, 1);
    }
}

static void sig_of(const char *path, file_sig *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (stat(path, &st) != 0)
        return;
    s->exists = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
}

static bool sig_eq(const file_sig *a, const file_sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Build a set from every file; sigs receives what was read. */
static intel_set *load_all(threatintel *t, file_sig *sigs, char *err, size_t errlen)
{
    intel_builder *b = intel_builder_new();
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    feed_opts o = {.columns = t->columns, .max_file = t->max_file, .strict = t->strict,
                   .header = t->header,
                   .now_ms = wall_ms(), .reject = on_reject, .opaque = t};
    feed_stats st = {0};
    t->reject_logs = 0;
    for (size_t i = 0; i < t->nfiles; i++) {
        sig_of(t->files[i].path, &sigs[i]); /* before reading: a write after it shows next time */
        bool ok = t->files[i].stix ? feed_load_stix(b, t->files[i].path, &o, &st, err, errlen)
                                   : feed_load_csv(b, t->files[i].path, &o, &st, err, errlen);
        if (!ok) {
            intel_builder_free(b);
            return NULL;
        }
    }
    size_t dups = 0;
    intel_set *s = intel_build(b, &dups);
    if (!s) {
        snprintf(err, errlen, "out of memory building the indicator set");
        return NULL;
    }
    if (t->reject_logs > MAX_REJECT_LOGS) {
        char more[32];
        snprintf(more, sizeof(more), "%zu", t->reject_logs - MAX_REJECT_LOGS);
        vgl_pair f[] = {{"more", more}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "more indicators skipped", f, 1);
    }
    t->host->counter_add(t->m_rejected, st.rejected);
    char n[32], rej[32], exp[32], uns[32], dup[32];
    snprintf(n, sizeof(n), "%zu", intel_set_count(s));
    snprintf(rej, sizeof(rej), "%zu", st.rejected);
    snprintf(exp, sizeof(exp), "%zu", st.expired);
    snprintf(uns, sizeof(uns), "%zu", st.unsupported);
    snprintf(dup, sizeof(dup), "%zu", dups);
    vgl_pair f[] = {{"indicators", n}, {"rejected", rej}, {"expired", exp},
                    {"unsupported", uns}, {"duplicates", dup}};
    t->host->log(t->host, VGL_PLUGIN_LOG_INFO, "indicators loaded", f, 5);
    t->host->gauge_set(t->m_indicators, (double)intel_set_count(s));
    return s;
}

/* ------------------------------------------------------- reload thread */

static bool files_changed(const threatintel *t)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        file_sig now;
        sig_of(t->files[i].path, &now);
        if (!sig_eq(&now, &t->files[i].sig))
            return true;
    }
    return false;
}

static void reload_once(threatintel *t)
{
    file_sig sigs[MAX_FILES];
    char err[1024];
    intel_set *s = load_all(t, sigs, err, sizeof(err));
    /* remember what was read even on failure: retry when it changes again */
    for (size_t i = 0; i < t->nfiles; i++)
        t->files[i].sig = sigs[i];
    if (!s) {
        t->host->counter_add(t->m_reload_failures, 1);
        vgl_pair f[] = {{"reason", err}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "reload failed, keeping the current indicators",
                     f, 1);
        return;
    }
    intel_set_free(rcu_publish(&t->set, s));
    t->host->counter_add(t->m_reloads, 1);
}

static void *reload_main(void *arg)
{
    threatintel *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += t->reload_ms / 1000;
        until.tv_nsec += (t->reload_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!t->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->lock);
        if (files_changed(t))
            reload_once(t);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---------------------------------------------------------------- init */

static void threatintel_destroy(void *inst)
{
    threatintel *t = inst;
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->lock);
        t->stop = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    intel_set_free(rcu_peek(&t->set));
    free(t);
}

static bool add_files(threatintel *t, const vgl_plugin_config *cfg, const char *option,
                      bool stix, char *err, size_t errlen)
{
    const char *const *items;
    size_t n = t->host->config_list(cfg, option, &items);
    for (size_t i = 0; i < n; i++) {
        if (!*items[i]) {
            snprintf(err, errlen, "%s: item %zu is empty", option, i + 1);
            return false;
        }
        if (t->nfiles == MAX_FILES) {
            snprintf(err, errlen, "at most %d indicator files (csv and stix together)", MAX_FILES);
            return false;
        }
        t->files[t->nfiles++] = (feed_file){.path = items[i], .stix = stix};
    }
    return true;
}

static void *threatintel_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                              size_t errlen)
{
    threatintel *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->host = host;
    rcu_init(&t->set, NULL);
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &ca);
    pthread_condattr_destroy(&ca);

    if (!add_files(t, cfg, "csv", false, err, errlen) ||
        !add_files(t, cfg, "stix", true, err, errlen))
        goto fail;
    if (t->nfiles == 0) {
        snprintf(err, errlen, "no indicator files: set csv, stix or both");
        goto fail;
    }
    const char *const *cols;
    size_t ncols = host->config_list(cfg, "columns", &cols);
    if (!feed_columns_parse(cols, ncols, &t->columns, err, errlen))
        goto fail;
    host->config_size(cfg, "max_file_size", &t->max_file);
    host->config_bool(cfg, "strict", &t->strict);
    host->config_bool(cfg, "header", &t->header);
    host->config_bool(cfg, "match_subdomains", &t->subdomains);
    host->config_duration(cfg, "reload_interval", &t->reload_ms);
    if (t->reload_ms < 0) {
        snprintf(err, errlen, "reload_interval must not be negative");
        goto fail;
    }
    const char *const *fields;
    size_t nf = host->config_list(cfg, "fields", &fields);
    if (nf == 0 || nf > MAX_FIELDS) {
        snprintf(err, errlen, "fields: name 1 to %d event fields to match", MAX_FIELDS);
        goto fail;
    }
    for (size_t i = 0; i < nf; i++)
        if (!(t->fields[t->nfields++] = host->path(host, fields[i]))) {
            snprintf(err, errlen, "fields: \"%.128s\" is not a valid field path", fields[i]);
            goto fail;
        }
    t->p_type = host->path(host, "threat.indicator.type");
    t->p_value = host->path(host, "threat.indicator.value");
    t->p_provider = host->path(host, "threat.indicator.provider");
    t->p_confidence = host->path(host, "threat.indicator.confidence");
    t->p_description = host->path(host, "threat.indicator.description");
    t->p_matched = host->path(host, "threat.indicator.matched.field");

    t->m_indicators = host->metric(host, VGL_METRIC_GAUGE, "threatintel_indicators", NULL,
                                   "Indicators in the current set");
    t->m_matches = host->metric(host, VGL_METRIC_COUNTER, "threatintel_matches_total", NULL,
                                "Events that matched an indicator");
    t->m_reloads = host->metric(host, VGL_METRIC_COUNTER, "threatintel_reloads_total", NULL,
                                "Indicator sets swapped in after a file changed");
    t->m_reload_failures = host->metric(host, VGL_METRIC_COUNTER,
                                        "threatintel_reload_failures_total", NULL,
                                        "Reloads that failed (the previous set stays)");
    t->m_rejected = host->metric(host, VGL_METRIC_COUNTER, "threatintel_rejected_total", NULL,
                                 "Malformed indicator rows skipped while loading");

    file_sig sigs[MAX_FILES];
    intel_set *s = load_all(t, sigs, err, errlen);
    if (!s)
        goto fail;
    for (size_t i = 0; i < t->nfiles; i++)
        t->files[i].sig = sigs[i];
    rcu_init(&t->set, s);

    if (t->reload_ms > 0) {
        int rc = pthread_create(&t->thread, NULL, reload_main, t);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the reload thread: %s", strerror(rc));
            goto fail;
        }
        t->thread_started = true;
    }
    return t;
fail:
    threatintel_destroy(t);
    return NULL;
}

/* ------------------------------------------------------------- process */

#define KEEP(rc, expr)          \
    do {                        \
        vgl_rc r_ = (expr);     \
        if ((rc) == VGL_OK)     \
            (rc) = r_;          \
    } while (0)

static vgl_rc put(const threatintel *t, vgl_event *ev, const vgl_path *p, const char *s)
{
    return s ? t->host->set_str(ev, p, s, strlen(s)) : VGL_OK;
}

static vgl_rc threatintel_process(void *inst, vgl_batch *batch)
{
    threatintel *t = inst;
    const vgl_host *h = t->host;
    vgl_rc result = VGL_OK;
    unsigned slot;
    const intel_set *s = rcu_read_lock(&t->set, &slot);
    int64_t now = wall_ms();
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev || h->has(ev, t->p_value))
            continue; /* already matched (another instance): keep the first */
        for (size_t f = 0; f < t->nfields; f++) {
            const char *v;
            size_t len;
            intel_match m;
            if (!h->get_str(ev, t->fields[f], &v, &len) ||
                !intel_lookup(s, v, len, t->subdomains, now, &m))
                continue;
            vgl_rc rc = VGL_OK;
            KEEP(rc, put(t, ev, t->p_type, m.type));
            KEEP(rc, put(t, ev, t->p_value, m.value));
            KEEP(rc, put(t, ev, t->p_provider, m.provider));
            KEEP(rc, put(t, ev, t->p_confidence, m.confidence));
            KEEP(rc, put(t, ev, t->p_description, m.description));
            KEEP(rc, put(t, ev, t->p_matched, h->path_str(t->fields[f])));
            KEEP(result, rc);
            h->counter_add(t->m_matches, 1);
            break;
        }
    }
    rcu_read_unlock(&t->set, slot);
    return result;
}

static const vgl_plugin_option threatintel_options[] = {
    {.name = "csv", .type = VGL_OPT_LIST, .description = "CSV indicator files"},
    {.name = "stix", .type = VGL_OPT_LIST, .description = "STIX 2.1 JSON bundles"},
    {.name = "columns", .type = VGL_OPT_LIST,
     .default_value = "type,value,provider,confidence,description",
     .description = "CSV column order (type, value, provider, confidence, description, "
                    "valid_until, - to skip)"},
    {.name = "header", .type = VGL_OPT_BOOL, .default_value = "true",
     .description = "the first row of each CSV file is a header"},
    {.name = "fields", .type = VGL_OPT_LIST,
     .default_value = "source.ip,destination.ip,url.full,url.original,url.domain,"
                      "dns.question.name,destination.domain,file.hash.sha256,file.hash.sha1,"
                      "file.hash.md5,process.hash.sha256,process.hash.sha1,process.hash.md5",
     .description = "event fields matched against the indicators, in order"},
    {.name = "reload_interval", .type = VGL_OPT_DURATION, .default_value = "60s",
     .description = "how often file changes are checked (0 = never)"},
    {.name = "match_subdomains", .type = VGL_OPT_BOOL, .default_value = "false",
     .description = "a domain indicator also matches its subdomains"},
    {.name = "strict", .type = VGL_OPT_BOOL, .default_value = "false",
     .description = "a malformed row fails the load instead of being skipped"},
    {.name = "max_file_size", .type = VGL_OPT_SIZE, .default_value = "512MiB",
     .description = "largest indicator file read"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "threatintel",
    .version = "1.0.0",
    .description = "matches fields against CSV/STIX indicators and adds threat.indicator.*",
    .kind = VGL_PLUGIN_ENRICH,
    .threading = VGL_THREADING_SHARED, /* immutable sets behind an RCU pointer */
    .options = threatintel_options,
    .init = threatintel_init,
    .process = threatintel_process,
    .destroy = threatintel_destroy,
};
