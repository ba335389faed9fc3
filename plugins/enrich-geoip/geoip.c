/*
 * enrich-geoip: adds source.geo.*, source.as.* (and the same for every
 * other configured IP field) from MaxMind DB files (GeoLite2/GeoIP2 City or
 * Country, and ASN), read with libmaxminddb.
 *
 * One shared instance serves every worker: an opened MMDB_s is read-only
 * and libmaxminddb's lookups on it are thread-safe (the file is mmap()ed,
 * a lookup only reads), so there is no per-worker copy and no lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vigil/plugin.h>

#define MAX_FIELDS 32
#define MAX_PREFIX 256
/* longest textual IPv6 address is 45 bytes; zones ("%eth0") are refused */
#define MAX_IP_TEXT 46

/* The output paths of one configured IP field ("source.ip" -> "source.geo.*"). */
typedef struct geo_target {
    const vgl_path *ip;
    const vgl_path *country_iso, *country_name, *city, *lat, *lon;
    const vgl_path *as_number, *as_org;
} geo_target;

typedef struct geoip {
    const vgl_host *host; /* borrowed until destroy */
    MMDB_s city_db, asn_db;
    bool have_city, have_asn;
    bool overwrite;
    geo_target targets[MAX_FIELDS];
    size_t ntargets;
    vgl_plugin_metric *hits, *misses, *invalid;
} geoip;

/* ------------------------------------------------------------------ init */

static bool open_db(const char *option, const char *path, MMDB_s *db, bool want_city,
                    char *err, size_t errlen)
{
    /* MMDB_open reports only "Error opening the specified MaxMind DB
     * file"; open it once ourselves for the reason. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s %s: %s", option, path, strerror(errno));
        return false;
    }
    close(fd);
    int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (rc != MMDB_SUCCESS) {
        snprintf(err, errlen, "%s %s is not a valid MaxMind DB file: %s", option, path,
                 MMDB_strerror(rc));
        return false;
    }
    const char *type = db->metadata.database_type ? db->metadata.database_type : "";
    bool ok = want_city ? (strstr(type, "City") || strstr(type, "Country"))
                        : (strstr(type, "ASN") || strstr(type, "ISP"));
    if (!ok) {
        snprintf(err, errlen, "%s %s is a \"%.64s\" database, expected %s", option, path,
                 type, want_city ? "a City or Country database" : "an ASN or ISP database");
        MMDB_close(db);
        return false;
    }
    return true;
}

/* "source.ip" -> paths under "source". */
static bool add_target(geoip *g, const char *field, char *err, size_t errlen)
{
    const vgl_host *h = g->host;
    const char *dot = strrchr(field, '.');
    if (!dot || dot == field || (size_t)(dot - field) >= MAX_PREFIX - 32) {
        snprintf(err, errlen,
                 "fields: \"%.128s\" must be a dotted path whose parent object receives "
                 "geo and as (like source.ip)",
                 field);
        return false;
    }
    if (g->ntargets == MAX_FIELDS) {
        snprintf(err, errlen, "fields: at most %d fields", MAX_FIELDS);
        return false;
    }
    int plen = (int)(dot - field);
    char buf[MAX_PREFIX];
    geo_target *t = &g->targets[g->ntargets];
#define OUT(member, suffix)                                                    \
    do {                                                                       \
        snprintf(buf, sizeof(buf), "%.*s." suffix, plen, field);               \
        if (!(t->member = h->path(h, buf))) {                                  \
            snprintf(err, errlen, "fields: \"%.128s\" is not a valid path", field); \
            return false;                                                      \
        }                                                                      \
    } while (0)
    if (!(t->ip = h->path(h, field))) {
        snprintf(err, errlen, "fields: \"%.128s\" is not a valid path", field);
        return false;
    }
    OUT(country_iso, "geo.country_iso_code");
    OUT(country_name, "geo.country_name");
    OUT(city, "geo.city_name");
    OUT(lat, "geo.location.lat");
    OUT(lon, "geo.location.lon");
    OUT(as_number, "as.number");
    OUT(as_org, "as.organization.name");
#undef OUT
    g->ntargets++;
    return true;
}

static void geoip_destroy(void *inst)
{
    geoip *g = inst;
    if (!g)
        return;
    if (g->have_city)
        MMDB_close(&g->city_db);
    if (g->have_asn)
        MMDB_close(&g->asn_db);
    free(g);
}

static void *geoip_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                        size_t errlen)
{
    geoip *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->host = host;
    const char *city = NULL, *asn = NULL;
    host->config_str(cfg, "city_db", &city);
    host->config_str(cfg, "asn_db", &asn);
    if (city && !*city)
        city = NULL;
    if (asn && !*asn)
        asn = NULL;
    if (!city && !asn) {
        snprintf(err, errlen, "set city_db, asn_db or both (paths of .mmdb files)");
        goto fail;
    }
    if (city) {
        if (!open_db("city_db", city, &g->city_db, true, err, errlen))
            goto fail;
        g->have_city = true;
    }
    if (asn) {
        if (!open_db("asn_db", asn, &g->asn_db, false, err, errlen))
            goto fail;
        g->have_asn = true;
    }
    host->config_bool(cfg, "overwrite", &g->overwrite);
    const char *const *fields;
    size_t nfields = host->config_list(cfg, "fields", &fields);
    if (nfields == 0) {
        snprintf(err, errlen, "fields: name at least one IP field");
        goto fail;
    }
    for (size_t i = 0; i < nfields; i++)
        if (!add_target(g, fields[i], err, errlen))
            goto fail;
    g->hits = host->metric(host, VGL_METRIC_COUNTER, "geoip_lookups_total", "result=hit",
                           "GeoIP lookups by result");
    g->misses = host->metric(host, VGL_METRIC_COUNTER, "geoip_lookups_total", "result=miss",
                             "GeoIP lookups by result");
    g->invalid = host->metric(host, VGL_METRIC_COUNTER, "geoip_lookups_total",
                              "result=invalid", "GeoIP lookups by result");
    return g;
fail:
    geoip_destroy(g);
    return NULL;
}

/* --------------------------------------------------------------- lookups */

/* Parse a textual IPv4/IPv6 address into *ss; false for anything else. */
static bool parse_ip(const char *s, size_t len, struct sockaddr_storage *ss)
{
    char buf[MAX_IP_TEXT];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return true;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

static bool want(const geoip *g, const vgl_event *ev, const vgl_path *p)
{
    return g->overwrite || !g->host->has(ev, p);
}

static vgl_rc put_str(const geoip *g, vgl_event *ev, const vgl_path *p, MMDB_entry_s *e,
                      const char *const *lookup_path)
{
    MMDB_entry_data_s d;
    if (!want(g, ev, p) || MMDB_aget_value(e, &d, lookup_path) != MMDB_SUCCESS ||
        !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING)
        return VGL_OK;
    return g->host->set_str(ev, p, d.utf8_string, d.data_size);
}

static vgl_rc put_double(const geoip *g, vgl_event *ev, const vgl_path *p, MMDB_entry_s *e,
                         const char *const *lookup_path)
{
    MMDB_entry_data_s d;
    if (!want(g, ev, p) || MMDB_aget_value(e, &d, lookup_path) != MMDB_SUCCESS ||
        !d.has_data || d.type != MMDB_DATA_TYPE_DOUBLE)
        return VGL_OK;
    return g->host->set_double(ev, p, d.double_value);
}

static const char *const K_ISO[] = {"country", "iso_code", NULL};
static const char *const K_COUNTRY[] = {"country", "names", "en", NULL};
static const char *const K_CITY[] = {"city", "names", "en", NULL};
static const char *const K_LAT[] = {"location", "latitude", NULL};
static const char *const K_LON[] = {"location", "longitude", NULL};
static const char *const K_ASN[] = {"autonomous_system_number", NULL};
static const char *const K_ASORG[] = {"autonomous_system_organization", NULL};

/* Keep the first error of a sequence of writes. */
#define KEEP(rc, expr)                 \
    do {                               \
        vgl_rc r_ = (expr);            \
        if ((rc) == VGL_OK)            \
            (rc) = r_;                 \
    } while (0)

static vgl_rc enrich_one(const geoip *g, vgl_event *ev, const geo_target *t)
{
    const char *s;
    size_t len;
    if (!g->host->get_str(ev, t->ip, &s, &len))
        return VGL_OK;
    struct sockaddr_storage ss;
    if (!parse_ip(s, len, &ss)) {
        g->host->counter_add(g->invalid, 1);
        return VGL_OK;
    }
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    vgl_rc rc = VGL_OK;
    bool hit = false;
    int mmdb_err;
    if (g->have_city) {
        MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->city_db, sa, &mmdb_err);
        if (mmdb_err == MMDB_SUCCESS && r.found_entry) {
            hit = true;
            KEEP(rc, put_str(g, ev, t->country_iso, &r.entry, K_ISO));
            KEEP(rc, put_str(g, ev, t->country_name, &r.entry, K_COUNTRY));
            KEEP(rc, put_str(g, ev, t->city, &r.entry, K_CITY));
            KEEP(rc, put_double(g, ev, t->lat, &r.entry, K_LAT));
            KEEP(rc, put_double(g, ev, t->lon, &r.entry, K_LON));
        }
    }
    if (g->have_asn) {
        MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->asn_db, sa, &mmdb_err);
        if (mmdb_err == MMDB_SUCCESS && r.found_entry) {
            hit = true;
            MMDB_entry_data_s d;
            if (want(g, ev, t->as_number) &&
                MMDB_aget_value(&r.entry, &d, K_ASN) == MMDB_SUCCESS && d.has_data &&
                d.type == MMDB_DATA_TYPE_UINT32)
                KEEP(rc, g->host->set_int(ev, t->as_number, (int64_t)d.uint32));
            KEEP(rc, put_str(g, ev, t->as_org, &r.entry, K_ASORG));
        }
    }
    g->host->counter_add(hit ? g->hits : g->misses, 1);
    return rc;
}

static vgl_rc geoip_process(void *inst, vgl_batch *batch)
{
    const geoip *g = inst;
    vgl_rc result = VGL_OK;
    size_t n = g->host->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = g->host->batch_event(batch, i);
        if (!ev)
            continue;
        for (size_t t = 0; t < g->ntargets; t++)
            KEEP(result, enrich_one(g, ev, &g->targets[t]));
    }
    return result;
}

static const vgl_plugin_option geoip_options[] = {
    {.name = "city_db", .type = VGL_OPT_STRING,
     .description = "path of a City or Country .mmdb (GeoLite2-City.mmdb)"},
    {.name = "asn_db", .type = VGL_OPT_STRING,
     .description = "path of an ASN .mmdb (GeoLite2-ASN.mmdb)"},
    {.name = "fields", .type = VGL_OPT_LIST, .default_value = "source.ip,destination.ip",
     .description = "IP fields to look up; X.ip fills X.geo.* and X.as.*"},
    {.name = "overwrite", .type = VGL_OPT_BOOL, .default_value = "false",
     .description = "replace geo/as fields the event already has"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "geoip",
    .version = "1.0.0",
    .description = "adds source/destination .geo and .as fields from MaxMind DB files",
    .kind = VGL_PLUGIN_ENRICH,
    .threading = VGL_THREADING_SHARED, /* MMDB_s is read-only after open */
    .options = geoip_options,
    .init = geoip_init,
    .process = geoip_process,
    .destroy = geoip_destroy,
};
