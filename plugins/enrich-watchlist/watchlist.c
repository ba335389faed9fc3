/*
 * enrich-watchlist: CSV lookup tables keyed by one column, like Sentinel
 * watchlists. When an event field equals a row's key, the row's columns
 * are added as watchlist.<list>.<column> and the list's name is appended
 * to watchlist.names (comma-separated, docs/fields.md).
 *
 * One shared instance serves every worker: the tables are immutable and
 * published through an rcu_ptr (see ../enrich-threatintel/rcu.h); a
 * background thread reloads every table when a file's modification time
 * changes and swaps the new set in without making workers wait. The CSV
 * reader is ../enrich-threatintel/csv.c.
 *
 * The plugin ABI has no option type for a list of maps, so each list is
 * one string of "key=value" pairs separated by ';':
 *   "name=vip; path=/etc/vigil/vip.csv; key_column=upn; field=user.name"
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <vigil/plugin.h>

#include "csv.h"
#include "rcu.h"

#define MAX_LISTS 32
#define MAX_COLUMNS 64
#define MAX_FIELD 8192
#define MAX_NAME 64
#define MAX_NAMES_TEXT 2048 /* watchlist.names */
#define MAX_REJECT_LOGS 10

typedef struct list_spec {
    char name[MAX_NAME + 1];
    char *path;                /* owned */
    char *key_column;          /* owned */
    const vgl_path *field;
    bool case_insensitive;
} list_spec;

/* one loaded list: rows of ncols strings, indexed by key */
typedef struct table {
    size_t ncols, nrows, key_col;
    bool case_insensitive;
    const vgl_path *col_paths[MAX_COLUMNS];
    char *pool;              /* every cell, NUL-terminated */
    size_t pool_len, pool_cap;
    uint32_t *cells;         /* nrows * ncols offsets into pool */
    size_t cells_cap;
    uint32_t *slots;         /* row + 1, 0 = empty */
    size_t mask;
} table;

typedef struct wl_set {
    table *tables[MAX_LISTS];
} wl_set;

typedef struct file_sig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_sig;

typedef struct watchlist {
    const vgl_host *host;
    list_spec lists[MAX_LISTS];
    file_sig sigs[MAX_LISTS];
    size_t nlists;
    uint64_t max_file;
    int64_t reload_ms;
    const vgl_path *p_names;
    rcu_ptr set;
    pthread_t thread;
    bool thread_started, stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    size_t reject_logs;
    vgl_plugin_metric *m_rows, *m_matches, *m_reloads, *m_reload_failures, *m_rejected;
} watchlist;

/* ------------------------------------------------------------- tables */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static void table_free(table *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->cells);
    free(t->slots);
    free(t);
}

static void set_free(wl_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < MAX_LISTS; i++)
        table_free(s->tables[i]);
    free(s);
}

static bool pool_add(table *t, const char *s, size_t n, uint32_t *off)
{
    if (t->pool_len + n + 1 > UINT32_MAX)
        return false;
    if (t->pool_len + n + 1 > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 4096;
        while (cap < t->pool_len + n + 1)
            cap *= 2;
        char *p = realloc(t->pool, cap);
        if (!p)
            return false;
        t->pool = p;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, s, n);
    t->pool[t->pool_len + n] = '\0';
    *off = (uint32_t)t->pool_len;
    t->pool_len += n + 1;
    return true;
}

/* "Cost Center" -> "Cost_Center": a column name as one path segment. */
static void column_segment(const char *name, size_t i, char *out, size_t cap)
{
    size_t k = 0;
    for (; name[k] && k + 1 < cap && k < MAX_NAME; k++) {
        char c = name[k];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        out[k] = ok ? c : '_';
    }
    out[k] = '\0';
    if (k == 0)
        snprintf(out, cap, "column_%zu", i + 1);
}

static bool table_key_eq(const table *t, const char *cellv, const char *k, size_t n)
{
    return strlen(cellv) == n &&
           (t->case_insensitive ? !strncasecmp(cellv, k, n) : !memcmp(cellv, k, n));
}

static const char *cell(const table *t, size_t row, size_t col)
{
    return t->pool + t->cells[row * t->ncols + col];
}

static void reject(watchlist *w, const char *msg)
{
    w->host->counter_add(w->m_rejected, 1);
    if (w->reject_logs++ < MAX_REJECT_LOGS) {
        vgl_pair f[] = {{"reason", msg}};
        w->host->log(w->host, VGL_PLUGIN_LOG_WARN, "watchlist row skipped", f, 1);
    }
}

static void key_text(const list_spec *l, const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        out[i] = l->case_insensitive && c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    out[n] = '\0';
}

static table *table_load(watchlist *w, const list_spec *l, char *err, size_t errlen)
{
    csv_reader r;
    csv_limits lim = {.max_file = w->max_file, .max_fields = MAX_COLUMNS,
                      .max_field = MAX_FIELD, .comments = false};
    if (!csv_open(&r, l->path, &lim, err, errlen))
        return NULL;
    table *t = calloc(1, sizeof(*t));
    char msg[1024];
    char key[MAX_FIELD + 1];
    if (!t)
        goto nomem;
    /* the header */
    int rc;
    while ((rc = csv_next(&r, err, errlen)) < 0)
        goto fail; /* a broken header is not a table */
    if (rc == 0) {
        snprintf(err, errlen, "%s: empty file (a header row naming the columns is required)",
                 l->path);
        goto fail;
    }
    t->ncols = r.nfields;
    t->key_col = SIZE_MAX;
    for (size_t i = 0; i < r.nfields; i++) {
        if (!strcasecmp(csv_field(&r, i), l->key_column))
            t->key_col = i;
        char seg[MAX_NAME + 16], dotted[2 * MAX_NAME + 64];
        column_segment(csv_field(&r, i), i, seg, sizeof(seg));
        snprintf(dotted, sizeof(dotted), "watchlist.%s.%s", l->name, seg);
        if (!(t->col_paths[i] = w->host->path(w->host, dotted))) {
            snprintf(err, errlen, "%s:%zu: column \"%.64s\" cannot be a field name", l->path,
                     r.rec_line, csv_field(&r, i));
            goto fail;
        }
    }
    if (t->key_col == SIZE_MAX) {
        snprintf(err, errlen, "%s:%zu: no column \"%.64s\" (key_column) in the header", l->path,
                 r.rec_line, l->key_column);
        goto fail;
    }
    while ((rc = csv_next(&r, msg, sizeof(msg))) != 0) {
        if (rc < 0) {
            reject(w, msg);
            continue;
        }
        if (r.nfields != t->ncols) {
            snprintf(msg, sizeof(msg), "%s:%zu: %zu fields, the header has %zu", l->path,
                     r.rec_line, r.nfields, t->ncols);
            reject(w, msg);
            continue;
        }
        if (csv_len(&r, t->key_col) == 0) {
            snprintf(msg, sizeof(msg), "%s:%zu: empty key", l->path, r.rec_line);
            reject(w, msg);
            continue;
        }
        if (t->nrows >= UINT32_MAX - 1) {
            snprintf(err, errlen, "%s: too many rows", l->path);
            goto fail;
        }
        if ((t->nrows + 1) * t->ncols > t->cells_cap) {
            size_t cap = t->cells_cap ? t->cells_cap * 2 : 64 * t->ncols;
            uint32_t *c = realloc(t->cells, cap * sizeof(*c));
            if (!c)
                goto nomem;
            t->cells = c;
            t->cells_cap = cap;
        }
        for (size_t i = 0; i < t->ncols; i++)
            if (!pool_add(t, csv_field(&r, i), csv_len(&r, i), &t->cells[t->nrows * t->ncols + i]))
                goto nomem;
        t->nrows++;
    }
    /* index */
    size_t nslots = 16;
    while (nslots < t->nrows * 2)
        nslots *= 2;
    if (!(t->slots = calloc(nslots, sizeof(uint32_t))))
        goto nomem;
    t->mask = nslots - 1;
    t->case_insensitive = l->case_insensitive;
    for (size_t row = 0; row < t->nrows; row++) {
        const char *k = cell(t, row, t->key_col);
        size_t kn = strlen(k);
        key_text(l, k, kn, key);
        size_t at = (size_t)hash_bytes(key, kn) & t->mask;
        bool dup = false;
        while (t->slots[at]) {
            if (table_key_eq(t, cell(t, t->slots[at] - 1, t->key_col), k, kn)) {
                dup = true;
                break;
            }
            at = (at + 1) & t->mask;
        }
        if (!dup)
            t->slots[at] = (uint32_t)row + 1;
    }
    csv_close(&r);
    return t;
nomem:
    snprintf(err, errlen, "%s: out of memory", l->path);
fail:
    csv_close(&r);
    table_free(t);
    return NULL;
}

/* k: the looked-up key, already lower-cased for a case-insensitive list */
static long table_find(const table *t, const char *k, size_t n)
{
    size_t at = (size_t)hash_bytes(k, n) & t->mask;
    while (t->slots[at]) {
        const char *c = cell(t, t->slots[at] - 1, t->key_col);
        if (table_key_eq(t, c, k, n))
            return (long)t->slots[at] - 1;
        at = (at + 1) & t->mask;
    }
    return -1;
}

/* --------------------------------------------------------------- load */

static void sig_of(const char *path, file_sig *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (stat(path, &st) != 0)
        return;
    *s = (file_sig){true, st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

static bool sig_eq(const file_sig *a, const file_sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static wl_set *load_all(watchlist *w, file_sig *sigs, char *err, size_t errlen)
{
    wl_set *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->reject_logs = 0;
    size_t rows = 0;
    for (size_t i = 0; i < w->nlists; i++) {
        sig_of(w->lists[i].path, &sigs[i]);
        if (!(s->tables[i] = table_load(w, &w->lists[i], err, errlen))) {
            set_free(s);
            return NULL;
        }
        rows += s->tables[i]->nrows;
    }
    w->host->gauge_set(w->m_rows, (double)rows);
    return s;
}

static void *reload_main(void *arg)
{
    watchlist *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += w->reload_ms / 1000;
        until.tv_nsec += (w->reload_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!w->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        bool changed = false;
        for (size_t i = 0; i < w->nlists && !changed; i++) {
            file_sig now;
            sig_of(w->lists[i].path, &now);
            changed = !sig_eq(&now, &w->sigs[i]);
        }
        if (changed) {
            file_sig sigs[MAX_LISTS];
            char err[1024];
            wl_set *s = load_all(w, sigs, err, sizeof(err));
            memcpy(w->sigs, sigs, sizeof(sigs));
            if (s) {
                set_free(rcu_publish(&w->set, s));
                w->host->counter_add(w->m_reloads, 1);
            } else {
                w->host->counter_add(w->m_reload_failures, 1);
                vgl_pair f[] = {{"reason", err}};
                w->host->log(w->host, VGL_PLUGIN_LOG_WARN,
                             "reload failed, keeping the current watchlists", f, 1);
            }
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* --------------------------------------------------------------- init */

static void watchlist_destroy(void *inst)
{
    watchlist *w = inst;
    if (!w)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    set_free(rcu_peek(&w->set));
    for (size_t i = 0; i < w->nlists; i++) {
        free(w->lists[i].path);
        free(w->lists[i].key_column);
    }
    free(w);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Parse "name=x; path=y; key_column=z; field=a.b; case_insensitive=false". */
static bool parse_spec(watchlist *w, size_t idx, const char *text, list_spec *l, char *err,
                       size_t errlen)
{
    char buf[4096];
    if (strlen(text) >= sizeof(buf)) {
        snprintf(err, errlen, "lists: item %zu is longer than %zu bytes", idx, sizeof(buf) - 1);
        return false;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    const char *name = NULL, *path = NULL, *key = NULL, *field = NULL;
    l->case_insensitive = true;
    char *save = NULL;
    for (char *part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
        part = trim(part);
        if (!*part)
            continue;
        char *eq = strchr(part, '=');
        if (!eq) {
            snprintf(err, errlen, "lists: item %zu: \"%.64s\" is not key=value", idx, part);
            return false;
        }
        *eq = '\0';
        char *k = trim(part), *v = trim(eq + 1);
        if (!strcmp(k, "name"))
            name = v;
        else if (!strcmp(k, "path"))
            path = v;
        else if (!strcmp(k, "key_column"))
            key = v;
        else if (!strcmp(k, "field"))
            field = v;
        else if (!strcmp(k, "case_insensitive")) {
            if (!strcasecmp(v, "true"))
                l->case_insensitive = true;
            else if (!strcasecmp(v, "false"))
                l->case_insensitive = false;
            else {
                snprintf(err, errlen, "lists: item %zu: case_insensitive must be true or false",
                         idx);
                return false;
            }
        } else {
            snprintf(err, errlen,
                     "lists: item %zu: unknown key \"%.32s\" (name, path, key_column, field, "
                     "case_insensitive)",
                     idx, k);
            return false;
        }
    }
    const char *missing = !name ? "name" : !path ? "path" : !key ? "key_column" : !field ? "field" : NULL;
    if (missing || !*name || !*path || !*key || !*field) {
        snprintf(err, errlen, "lists: item %zu needs name, path, key_column and field%s%s", idx,
                 missing ? "; missing " : "", missing ? missing : "");
        return false;
    }
    size_t nl = strlen(name);
    bool ok = nl <= MAX_NAME;
    for (size_t i = 0; ok && i < nl; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    }
    if (!ok) {
        snprintf(err, errlen, "lists: item %zu: name \"%.64s\" must be 1-%d of [A-Za-z0-9_-]", idx,
                 name, MAX_NAME);
        return false;
    }
    for (size_t i = 0; i < w->nlists; i++)
        if (!strcmp(w->lists[i].name, name)) {
            snprintf(err, errlen, "lists: name \"%s\" is used twice", name);
            return false;
        }
    memcpy(l->name, name, nl + 1);
    if (!(l->field = w->host->path(w->host, field))) {
        snprintf(err, errlen, "lists: item %zu: field \"%.64s\" is not a valid path", idx, field);
        return false;
    }
    l->path = strdup(path);
    l->key_column = strdup(key);
    if (!l->path || !l->key_column) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}

static void *watchlist_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                            size_t errlen)
{
    watchlist *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->host = host;
    rcu_init(&w->set, NULL);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);

    const char *const *items;
    size_t n = host->config_list(cfg, "lists", &items);
    if (n == 0 || n > MAX_LISTS) {
        snprintf(err, errlen, "lists: configure 1 to %d watchlists", MAX_LISTS);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!parse_spec(w, i + 1, items[i], &w->lists[w->nlists], err, errlen)) {
            list_spec *l = &w->lists[w->nlists];
            free(l->path);
            free(l->key_column);
            goto fail;
        }
        w->nlists++;
    }
    host->config_size(cfg, "max_file_size", &w->max_file);
    host->config_duration(cfg, "reload_interval", &w->reload_ms);
    if (w->reload_ms < 0) {
        snprintf(err, errlen, "reload_interval must not be negative");
        goto fail;
    }
    w->p_names = host->path(host, "watchlist.names");
    w->m_rows = host->metric(host, VGL_METRIC_GAUGE, "watchlist_rows", NULL,
                             "Rows in the loaded watchlists");
    w->m_matches = host->metric(host, VGL_METRIC_COUNTER, "watchlist_matches_total", NULL,
                                "Watchlist rows added to events");
    w->m_reloads = host->metric(host, VGL_METRIC_COUNTER, "watchlist_reloads_total", NULL,
                                "Watchlists reloaded after a file changed");
    w->m_reload_failures = host->metric(host, VGL_METRIC_COUNTER,
                                        "watchlist_reload_failures_total", NULL,
                                        "Reloads that failed (the previous tables stay)");
    w->m_rejected = host->metric(host, VGL_METRIC_COUNTER, "watchlist_rejected_total", NULL,
                                 "Malformed watchlist rows skipped");
    wl_set *s = load_all(w, w->sigs, err, errlen);
    if (!s)
        goto fail;
    rcu_init(&w->set, s);
    if (w->reload_ms > 0) {
        int rc = pthread_create(&w->thread, NULL, reload_main, w);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the reload thread: %s", strerror(rc));
            goto fail;
        }
        w->thread_started = true;
    }
    return w;
fail:
    watchlist_destroy(w);
    return NULL;
}

/* ------------------------------------------------------------ process */

/* Append name to the comma-separated watchlist.names unless present. */
static vgl_rc add_name(const watchlist *w, vgl_event *ev, const char *name)
{
    const vgl_host *h = w->host;
    const char *cur;
    size_t len;
    char buf[MAX_NAMES_TEXT];
    size_t nl = strlen(name);
    if (!h->get_str(ev, w->p_names, &cur, &len) || len == 0)
        return h->set_str(ev, w->p_names, name, nl);
    for (const char *p = cur; p < cur + len;) {
        const char *comma = memchr(p, ',', (size_t)(cur + len - p));
        size_t k = comma ? (size_t)(comma - p) : (size_t)(cur + len - p);
        if (k == nl && !memcmp(p, name, nl))
            return VGL_OK;
        p += k + 1;
    }
    if (len + 1 + nl >= sizeof(buf))
        return VGL_ERR_TOOBIG;
    memcpy(buf, cur, len);
    buf[len] = ',';
    memcpy(buf + len + 1, name, nl);
    return h->set_str(ev, w->p_names, buf, len + 1 + nl);
}

static vgl_rc watchlist_process(void *inst, vgl_batch *batch)
{
    watchlist *w = inst;
    const vgl_host *h = w->host;
    vgl_rc result = VGL_OK;
    unsigned slot;
    const wl_set *s = rcu_read_lock(&w->set, &slot);
    char key[MAX_FIELD + 1];
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        for (size_t l = 0; l < w->nlists; l++) {
            const list_spec *spec = &w->lists[l];
            const table *t = s->tables[l];
            const char *v;
            size_t len;
            if (!h->get_str(ev, spec->field, &v, &len) || len == 0 || len > MAX_FIELD)
                continue;
            key_text(spec, v, len, key);
            long row = table_find(t, key, len);
            if (row < 0)
                continue;
            for (size_t c = 0; c < t->ncols; c++) {
                const char *val = cell(t, (size_t)row, c);
                if (!*val)
                    continue; /* empty cells are omitted, never empty fields */
                vgl_rc rc = h->set_str(ev, t->col_paths[c], val, strlen(val));
                if (rc != VGL_OK && result == VGL_OK)
                    result = rc;
            }
            vgl_rc rc = add_name(w, ev, spec->name);
            if (rc != VGL_OK && result == VGL_OK)
                result = rc;
            h->counter_add(w->m_matches, 1);
        }
    }
    rcu_read_unlock(&w->set, slot);
    return result;
}

static const vgl_plugin_option watchlist_options[] = {
    {.name = "lists", .type = VGL_OPT_LIST, .required = true,
     .description = "one item per list: \"name=N; path=P; key_column=C; field=F[; "
                    "case_insensitive=true]\""},
    {.name = "reload_interval", .type = VGL_OPT_DURATION, .default_value = "60s",
     .description = "how often file changes are checked (0 = never)"},
    {.name = "max_file_size", .type = VGL_OPT_SIZE, .default_value = "64MiB",
     .description = "largest watchlist file read"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "watchlist",
    .version = "1.0.0",
    .description = "adds watchlist.<list>.* columns from CSV lookup tables",
    .kind = VGL_PLUGIN_ENRICH,
    .threading = VGL_THREADING_SHARED, /* immutable tables behind an RCU pointer */
    .options = watchlist_options,
    .init = watchlist_init,
    .process = watchlist_process,
    .destroy = watchlist_destroy,
};
