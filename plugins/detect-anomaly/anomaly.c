/*
 * detect-anomaly: per-entity baselines with an exponentially weighted mean
 * and variance (EWMA/EWMV) over fixed time buckets. For each configured
 * metric, events are grouped by an entity field (`by`) into buckets of
 * event time; a bucket's value is the event count or the sum of a field.
 * When a bucket closes with a value above mean + z * stddev, after a
 * warm-up of `warmup` buckets, an alert goes to the host.
 *
 * Event time drives everything (no wall clock), so a replay of the same
 * partition gives the same alerts. A bucket closes when the entity's next
 * event falls in a later bucket, or when the worker's event-time watermark
 * (the newest event time it has seen, minus `lateness`) passes it; events
 * older than their entity's open bucket are late and only counted.
 *
 * Per-worker instances: each worker keeps its own entities (workers are
 * partition-affine), so there are no locks. Entities are bounded by
 * max_entities per metric and worker; the least recently updated one is
 * evicted (and counted) to make room.
 *
 * The plugin ABI has no option type for a list of maps, so each metric is
 * one string of "key=value" pairs separated by ';':
 *   "name=logons; by=user.name; bucket=1h; alpha=0.1; z=3; warmup=24"
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <vigil/plugin.h>

#define MAX_METRICS 16
#define MAX_KEY 256
#define MAX_GAP_UPDATES 1000 /* empty buckets folded into a baseline at once */
#define MAX_SPEC 4096
#define MAX_TEXT 256
#define MAX_TIME_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

typedef struct entity {
    char *key;
    size_t klen;
    uint64_t hash;
    int64_t bucket;  /* open bucket index (time / bucket_ms) */
    double cur;      /* its value so far */
    double mean, var;
    uint64_t n;      /* buckets folded into the baseline */
    struct entity *hnext;
    struct entity *prev, *next; /* LRU: head = most recently updated */
} entity;

typedef struct metric {
    char name[MAX_TEXT], rule_id[MAX_TEXT], title[MAX_TEXT], tactic[MAX_TEXT],
        technique[MAX_TEXT], entity_type[MAX_TEXT];
    char tag[MAX_TEXT + 8];
    const vgl_path *by, *value; /* value NULL = count events */
    int64_t bucket_ms;
    double alpha, z, min_value;
    uint64_t warmup;
    vgl_plugin_severity severity;

    entity **table;
    size_t mask, count;
    entity *head, *tail;
    int64_t watermark_ms;   /* newest event time seen, INT64_MIN none */
    int64_t swept_bucket;   /* buckets before it are closed for every entity */
} metric;

typedef struct anomaly {
    const vgl_host *host;
    metric metrics[MAX_METRICS];
    size_t nmetrics;
    size_t max_entities;
    int64_t lateness_ms;
    vgl_plugin_metric *m_evicted, *m_late, *m_skipped, *m_alerts;
} anomaly;

/* ------------------------------------------------------------ helpers */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 31);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void format_time(int64_t ms, char *out, size_t cap)
{
    time_t s = (time_t)floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "%g" with enough digits to be read back, for evidence text. */
static void fmt_num(double v, char *out, size_t cap)
{
    if (isinf(v))
        snprintf(out, cap, "inf");
    else
        snprintf(out, cap, "%.6g", v);
}

/* ------------------------------------------------------------ entities */

static void lru_unlink(metric *m, entity *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(metric *m, entity *e)
{
    e->next = m->head;
    e->prev = NULL;
    if (m->head)
        m->head->prev = e;
    m->head = e;
    if (!m->tail)
        m->tail = e;
}

static void entity_remove(metric *m, entity *e)
{
    entity **pp = &m->table[e->hash & m->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(m, e);
    m->count--;
    free(e->key);
    free(e);
}

static entity *entity_find(metric *m, const char *key, size_t klen, uint64_t h)
{
    for (entity *e = m->table[h & m->mask]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
            return e;
    return NULL;
}

/* ----------------------------------------------------------- baselines */

static void fold(metric *m, entity *e, double v)
{
    if (e->n == 0) {
        e->mean = v;
        e->var = 0;
    } else {
        double diff = v - e->mean;
        double incr = m->alpha * diff;
        e->mean += incr;
        e->var = (1 - m->alpha) * (e->var + diff * incr);
    }
    e->n++;
}

static void raise_alert(anomaly *a, metric *m, entity *e, double v, vgl_batch *batch,
                        const vgl_event *ev)
{
    const vgl_host *h = a->host;
    double sd = sqrt(e->var);
    double zs = sd > 0 ? (v - e->mean) / sd : INFINITY;
    char start[32], sv[32], mean[32], sds[32], zz[32], zt[32], desc[1024];
    format_time(e->bucket * m->bucket_ms, start, sizeof(start));
    fmt_num(v, sv, sizeof(sv));
    fmt_num(e->mean, mean, sizeof(mean));
    fmt_num(sd, sds, sizeof(sds));
    fmt_num(zs, zz, sizeof(zz));
    fmt_num(m->z, zt, sizeof(zt));
    snprintf(desc, sizeof(desc),
             "%s for %s \"%.*s\" was %s in the bucket starting %s; baseline mean %s, stddev %s "
             "over %llu buckets; z-score %s > %s",
             m->name, m->entity_type, (int)e->klen, e->key, sv, start, mean, sds,
             (unsigned long long)e->n, zz, zt);
    char key[MAX_KEY + 1];
    memcpy(key, e->key, e->klen);
    key[e->klen] = '\0';
    vgl_plugin_entity ents[] = {{m->entity_type, key}};
    const char *tags[] = {"anomaly", m->tag};
    const vgl_path *evidence[2] = {m->by, m->value};
    vgl_plugin_alert al = {
        .rule_id = m->rule_id,
        .title = m->title,
        .description = desc,
        .severity = m->severity,
        .tactic = m->tactic[0] ? m->tactic : NULL,
        .technique = m->technique[0] ? m->technique : NULL,
        .entities = ents,
        .nentities = 1,
        .tags = tags,
        .ntags = 2,
        .event = ev,
        .evidence_fields = evidence,
        .nevidence_fields = m->value ? 2 : 1,
    };
    if (h->alert_emit(batch, &al) == VGL_OK)
        h->counter_add(a->m_alerts, 1);
}

/* Close the entity's open bucket and the empty ones after it, up to (not
 * including) bucket `to`, which becomes the open one. */
static void close_until(anomaly *a, metric *m, entity *e, int64_t to, vgl_batch *batch,
                        const vgl_event *ev)
{
    double v = e->cur;
    if (e->n >= m->warmup && e->n > 0 && v >= m->min_value) {
        double sd = sqrt(e->var);
        if (v > e->mean + m->z * sd && v > e->mean)
            raise_alert(a, m, e, v, batch, ev);
    }
    fold(m, e, v);
    int64_t gaps = to - e->bucket - 1;
    for (int64_t i = 0; i < gaps && i < MAX_GAP_UPDATES; i++)
        fold(m, e, 0);
    e->bucket = to;
    e->cur = 0;
}

/* The watermark moved: close every bucket that ended before it. */
static void sweep(anomaly *a, metric *m, vgl_batch *batch, const vgl_event *ev)
{
    if (m->watermark_ms < a->lateness_ms)
        return; /* not yet a whole lateness after the epoch */
    int64_t wb = floor_div(m->watermark_ms - a->lateness_ms, m->bucket_ms);
    if (wb <= m->swept_bucket)
        return;
    m->swept_bucket = wb;
    for (entity *e = m->head; e; e = e->next)
        if (e->bucket < wb)
            close_until(a, m, e, wb, batch, ev);
}

static void observe(anomaly *a, metric *m, vgl_batch *batch, vgl_event *ev, int64_t t)
{
    const vgl_host *h = a->host;
    const char *key;
    size_t klen;
    char num[32];
    int64_t iv;
    if (!h->get_str(ev, m->by, &key, &klen)) {
        if (!h->get_int(ev, m->by, &iv))
            return; /* no entity: not for this metric */
        klen = (size_t)snprintf(num, sizeof(num), "%lld", (long long)iv);
        key = num;
    }
    if (klen == 0 || klen > MAX_KEY || memchr(key, '\0', klen)) {
        h->counter_add(a->m_skipped, 1);
        return;
    }
    double val = 1;
    if (m->value && (!h->get_double(ev, m->value, &val) || !isfinite(val))) {
        h->counter_add(a->m_skipped, 1);
        return;
    }
    if (t > m->watermark_ms) {
        m->watermark_ms = t;
        sweep(a, m, batch, ev);
    }
    int64_t b = floor_div(t, m->bucket_ms);
    uint64_t hh = hash_bytes(key, klen);
    entity *e = entity_find(m, key, klen, hh);
    if (!e) {
        if (m->count >= a->max_entities && m->tail) {
            entity_remove(m, m->tail);
            h->counter_add(a->m_evicted, 1);
        }
        e = calloc(1, sizeof(*e));
        if (!e || !(e->key = malloc(klen))) {
            free(e);
            h->counter_add(a->m_skipped, 1);
            return;
        }
        memcpy(e->key, key, klen);
        e->klen = klen;
        e->hash = hh;
        e->bucket = b;
        e->hnext = m->table[hh & m->mask];
        m->table[hh & m->mask] = e;
        m->count++;
        lru_push(m, e);
    } else {
        lru_unlink(m, e);
        lru_push(m, e);
    }
    if (b < e->bucket) {
        h->counter_add(a->m_late, 1);
        return;
    }
    if (b > e->bucket)
        close_until(a, m, e, b, batch, ev);
    e->cur += val;
}

static vgl_rc anomaly_process(void *inst, vgl_batch *batch)
{
    anomaly *a = inst;
    const vgl_host *h = a->host;
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        int64_t t = h->time_get(ev);
        if (t < 0 || t > MAX_TIME_MS) { /* unknown (INT64_MIN) or outside 1970..9999 */
            h->counter_add(a->m_skipped, 1);
            continue;
        }
        for (size_t k = 0; k < a->nmetrics; k++)
            observe(a, &a->metrics[k], batch, ev, t);
    }
    return VGL_OK;
}

/* ---------------------------------------------------------------- init */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static bool parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v <= 0)
        return false;
    double mul;
    if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "s") || !*end)
        mul = 1000;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else if (!strcmp(end, "d"))
        mul = 86400000;
    else
        return false;
    double r = v * mul;
    if (r < 1 || r > 366.0 * 86400000)
        return false;
    *ms = (int64_t)r;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static const char *default_entity_type(const char *by)
{
    size_t n = strlen(by);
    if ((n >= 2 && !strcmp(by + n - 2, "ip")) || strstr(by, "address"))
        return "ip";
    if (strstr(by, "user") || strstr(by, "account"))
        return "account";
    if (strstr(by, "host") || strstr(by, "computer") || strstr(by, "Computer"))
        return "host";
    if (strstr(by, "process"))
        return "process";
    if (strstr(by, "domain"))
        return "domain";
    return "resource";
}

#define SPEC_FAIL(...)                                       \
    do {                                                     \
        int k_ = snprintf(err, errlen, "metrics: item %zu: ", idx); \
        if (k_ >= 0 && (size_t)k_ < errlen)                  \
            snprintf(err + k_, errlen - (size_t)k_, __VA_ARGS__); \
        return false;                                        \
    } while (0)

static bool copy_text(char *dst, const char *v)
{
    size_t n = strlen(v);
    if (n >= MAX_TEXT)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

static bool parse_spec(anomaly *a, size_t idx, const char *text, metric *m, char *err,
                       size_t errlen)
{
    const vgl_host *h = a->host;
    char buf[MAX_SPEC];
    if (strlen(text) >= sizeof(buf))
        SPEC_FAIL("longer than %d bytes", MAX_SPEC - 1);
    snprintf(buf, sizeof(buf), "%s", text);
    const char *by = NULL, *value = NULL;
    bool have_bucket = false;
    m->alpha = 0.1;
    m->z = 3;
    m->warmup = 24;
    m->min_value = 0;
    m->severity = VGL_PLUGIN_SEV_MEDIUM;
    char *save = NULL;
    for (char *part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
        part = trim(part);
        if (!*part)
            continue;
        char *eq = strchr(part, '=');
        if (!eq)
            SPEC_FAIL("\"%.64s\" is not key=value", part);
        *eq = '\0';
        char *k = trim(part), *v = trim(eq + 1);
        bool ok = true;
        if (!strcmp(k, "name"))
            ok = copy_text(m->name, v);
        else if (!strcmp(k, "by"))
            by = v;
        else if (!strcmp(k, "value"))
            value = *v ? v : NULL;
        else if (!strcmp(k, "bucket")) {
            if (!parse_duration(v, &m->bucket_ms))
                SPEC_FAIL("bucket \"%.32s\" is not a duration (500ms, 30s, 10m, 1h, 1d)", v);
            have_bucket = true;
        } else if (!strcmp(k, "alpha")) {
            if (!parse_double(v, &m->alpha) || m->alpha <= 0 || m->alpha > 1)
                SPEC_FAIL("alpha must be a number in (0, 1], got \"%.32s\"", v);
        } else if (!strcmp(k, "z")) {
            if (!parse_double(v, &m->z) || m->z <= 0)
                SPEC_FAIL("z must be a positive number, got \"%.32s\"", v);
        } else if (!strcmp(k, "warmup")) {
            char *end;
            long long w = strtoll(v, &end, 10);
            if (end == v || *end || w < 0 || w > 1000000)
                SPEC_FAIL("warmup must be a number of buckets (0-1000000), got \"%.32s\"", v);
            m->warmup = (uint64_t)w;
        } else if (!strcmp(k, "min_value")) {
            if (!parse_double(v, &m->min_value))
                SPEC_FAIL("min_value must be a number, got \"%.32s\"", v);
        } else if (!strcmp(k, "severity")) {
            static const char *const sev[] = {"informational", "low", "medium", "high",
                                              "critical"};
            size_t s = 0;
            while (s < 5 && strcasecmp(v, sev[s]))
                s++;
            if (s == 5)
                SPEC_FAIL("severity must be informational, low, medium, high or critical");
            m->severity = (vgl_plugin_severity)s;
        } else if (!strcmp(k, "rule_id"))
            ok = copy_text(m->rule_id, v);
        else if (!strcmp(k, "title"))
            ok = copy_text(m->title, v);
        else if (!strcmp(k, "tactic"))
            ok = copy_text(m->tactic, v);
        else if (!strcmp(k, "technique"))
            ok = copy_text(m->technique, v);
        else if (!strcmp(k, "entity_type"))
            ok = copy_text(m->entity_type, v);
        else
            SPEC_FAIL("unknown key \"%.32s\" (name, by, value, bucket, alpha, z, warmup, "
                      "min_value, severity, rule_id, title, tactic, technique, entity_type)",
                      k);
        if (!ok)
            SPEC_FAIL("%s is longer than %d bytes", k, MAX_TEXT - 1);
    }
    if (!m->name[0] || !by || !*by || !have_bucket)
        SPEC_FAIL("needs name, by and bucket");
    if (strlen(m->name) > 64)
        SPEC_FAIL("name is longer than 64 bytes");
    for (const char *c = m->name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            SPEC_FAIL("name \"%s\" must be of [A-Za-z0-9_-]", m->name);
    for (size_t i = 0; i < a->nmetrics; i++)
        if (!strcmp(a->metrics[i].name, m->name))
            SPEC_FAIL("name \"%s\" is used twice", m->name);
    if (!(m->by = h->path(h, by)))
        SPEC_FAIL("by \"%.64s\" is not a valid field path", by);
    if (value && !(m->value = h->path(h, value)))
        SPEC_FAIL("value \"%.64s\" is not a valid field path", value);
    if (!m->rule_id[0])
        snprintf(m->rule_id, sizeof(m->rule_id), "anomaly-%.64s", m->name);
    if (!m->title[0])
        snprintf(m->title, sizeof(m->title), "Anomalous %.64s", m->name);
    if (!m->entity_type[0])
        snprintf(m->entity_type, sizeof(m->entity_type), "%s", default_entity_type(by));
    snprintf(m->tag, sizeof(m->tag), "metric:%s", m->name);
    m->watermark_ms = INT64_MIN;
    m->swept_bucket = INT64_MIN;
    return true;
}

static void anomaly_destroy(void *inst)
{
    anomaly *a = inst;
    if (!a)
        return;
    for (size_t k = 0; k < a->nmetrics; k++) {
        metric *m = &a->metrics[k];
        entity *e = m->head;
        while (e) {
            entity *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
        free(m->table);
    }
    free(a);
}

static void *anomaly_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                          size_t errlen)
{
    anomaly *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->host = host;
    int64_t max = 0;
    host->config_int(cfg, "max_entities", &max);
    if (max < 1 || max > 100000000) {
        snprintf(err, errlen, "max_entities must be 1 to 100000000, got %lld", (long long)max);
        goto fail;
    }
    a->max_entities = (size_t)max;
    host->config_duration(cfg, "lateness", &a->lateness_ms);
    if (a->lateness_ms < 0) {
        snprintf(err, errlen, "lateness must not be negative");
        goto fail;
    }
    const char *const *items;
    size_t n = host->config_list(cfg, "metrics", &items);
    if (n == 0 || n > MAX_METRICS) {
        snprintf(err, errlen, "metrics: configure 1 to %d metrics", MAX_METRICS);
        goto fail;
    }
    size_t slots = 16;
    while (slots < a->max_entities && slots < ((size_t)1 << 20))
        slots *= 2;
    for (size_t i = 0; i < n; i++) {
        metric *m = &a->metrics[a->nmetrics];
        if (!parse_spec(a, i + 1, items[i], m, err, errlen))
            goto fail;
        if (!(m->table = calloc(slots, sizeof(entity *)))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        m->mask = slots - 1;
        a->nmetrics++;
    }
    a->m_evicted = host->metric(host, VGL_METRIC_COUNTER, "anomaly_evicted_entities_total", NULL,
                                "Entities evicted (least recently updated) at max_entities");
    a->m_late = host->metric(host, VGL_METRIC_COUNTER, "anomaly_late_events_total", NULL,
                             "Events older than their entity's open bucket");
    a->m_skipped = host->metric(host, VGL_METRIC_COUNTER, "anomaly_skipped_events_total", NULL,
                                "Events without a time, or with an unusable key or value");
    a->m_alerts = host->metric(host, VGL_METRIC_COUNTER, "anomaly_alerts_total", NULL,
                               "Anomaly alerts raised");
    return a;
fail:
    anomaly_destroy(a);
    return NULL;
}

static const vgl_plugin_option anomaly_options[] = {
    {.name = "metrics", .type = VGL_OPT_LIST, .required = true,
     .description = "one item per metric: \"name=N; by=FIELD; bucket=1h[; value=FIELD; "
                    "alpha=0.1; z=3; warmup=24; ...]\""},
    {.name = "max_entities", .type = VGL_OPT_INT, .default_value = "100000",
     .description = "entities kept per metric and worker (LRU eviction)"},
    {.name = "lateness", .type = VGL_OPT_DURATION, .default_value = "0s",
     .description = "how far behind the newest event time idle buckets close"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "anomaly",
    .version = "1.0.0",
    .description = "alerts on per-entity spikes over EWMA/EWMV baselines",
    .kind = VGL_PLUGIN_DETECT,
    .threading = VGL_THREADING_PER_WORKER, /* state per worker, no locks */
    .options = anomaly_options,
    .init = anomaly_init,
    .process = anomaly_process,
    .destroy = anomaly_destroy,
};
