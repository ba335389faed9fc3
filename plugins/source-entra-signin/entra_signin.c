/*
 * Source plugin `entra-signin` (vigil-source-entra-signin.so): Entra ID
 * (Azure AD) interactive and non-interactive user sign-ins, in the two
 * shapes they reach Kafka in:
 *
 *   - the diagnostic-settings export (Event Hub / storage): time, category
 *     SignInLogs | NonInteractiveUserSignInLogs, resultType, properties.*
 *     (userPrincipalName, ipAddress, status.errorCode, location, ...);
 *   - the Sentinel / Log Analytics tables SigninLogs and
 *     AADNonInteractiveUserSignInLogs: TimeGenerated, Type,
 *     UserPrincipalName, IPAddress, ResultType, LocationDetails (an object,
 *     or JSON text in CSV/API exports), ...
 *
 * An Event Hub envelope {"records":[...]} becomes one event per record.
 * Fields: docs/fields.md, "Entra ID sign-ins".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vigil/plugin.h>

#include "azure_common.h"

/* Top-level keys of both shapes. */
enum {
    K_NONE = 0,
    K_RECORDS,
    /* diagnostic export */
    K_PROPERTIES,
    K_TIME,
    K_CATEGORY,
    K_RESULT_TYPE,
    K_RESULT_DESCRIPTION,
    K_CALLER_IP,
    K_LOCATION,
    K_TENANT_ID,
    /* Sentinel tables */
    K_TYPE,
    K_TIME_GENERATED,
    K_S_CREATED,
    K_S_CATEGORY,
    K_S_RESULT_TYPE,
    K_S_RESULT_DESCRIPTION,
    K_S_STATUS,
    K_S_UPN,
    K_S_USER_ID,
    K_S_IP,
    K_S_LOCATION_DETAILS,
    K_S_LOCATION,
    K_S_USER_AGENT,
    K_S_APP,
    K_S_APP_ID,
    K_S_CLIENT_APP,
    K_S_RISK_LEVEL,
    K_S_RISK_STATE,
    K_S_CA_STATUS,
    K_S_AUTH_REQUIREMENT,
    K_S_IS_INTERACTIVE,
    K_S_RESOURCE,
    K_S_CORRELATION,
    K_S_MFA,
    K_S_DEVICE,
    K_S_TENANT,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    [K_NONE] = "", [K_RECORDS] = "records", [K_PROPERTIES] = "properties", [K_TIME] = "time",
    [K_CATEGORY] = "category", [K_RESULT_TYPE] = "resultType",
    [K_RESULT_DESCRIPTION] = "resultDescription", [K_CALLER_IP] = "callerIpAddress",
    [K_LOCATION] = "location", [K_TENANT_ID] = "tenantId", [K_TYPE] = "Type",
    [K_TIME_GENERATED] = "TimeGenerated", [K_S_CREATED] = "CreatedDateTime",
    [K_S_CATEGORY] = "Category", [K_S_RESULT_TYPE] = "ResultType",
    [K_S_RESULT_DESCRIPTION] = "ResultDescription", [K_S_STATUS] = "Status",
    [K_S_UPN] = "UserPrincipalName", [K_S_USER_ID] = "UserId", [K_S_IP] = "IPAddress",
    [K_S_LOCATION_DETAILS] = "LocationDetails", [K_S_LOCATION] = "Location",
    [K_S_USER_AGENT] = "UserAgent", [K_S_APP] = "AppDisplayName", [K_S_APP_ID] = "AppId",
    [K_S_CLIENT_APP] = "ClientAppUsed", [K_S_RISK_LEVEL] = "RiskLevelDuringSignIn",
    [K_S_RISK_STATE] = "RiskState", [K_S_CA_STATUS] = "ConditionalAccessStatus",
    [K_S_AUTH_REQUIREMENT] = "AuthenticationRequirement", [K_S_IS_INTERACTIVE] = "IsInteractive",
    [K_S_RESOURCE] = "ResourceDisplayName", [K_S_CORRELATION] = "CorrelationId",
    [K_S_MFA] = "MfaDetail", [K_S_DEVICE] = "DeviceDetail", [K_S_TENANT] = "AADTenantId",
};

/* What is read from a record; each has a first and a fallback source. */
enum {
    S_TIME,
    S_CATEGORY,
    S_CODE,
    S_REASON,
    S_UPN,
    S_USER_ID,
    S_IP,
    S_CITY,
    S_STATE,
    S_COUNTRY,
    S_LAT,
    S_LON,
    S_USER_AGENT,
    S_APP,
    S_APP_ID,
    S_CLIENT_APP,
    S_RISK_LEVEL,
    S_RISK_STATE,
    S_CA_STATUS,
    S_AUTH_REQUIREMENT,
    S_IS_INTERACTIVE,
    S_RESOURCE,
    S_CORRELATION,
    S_MFA_METHOD,
    S_DEVICE_OS,
    S_TENANT,
    S_COUNT
};

/* A place in a record: a top-level key and up to 3 members below it. */
typedef struct place {
    int top;
    const char *sub[3];
} place;

typedef struct source_map {
    place first, fallback;
} source_map;

#define P(top, ...) {top, {__VA_ARGS__}}

static const source_map diag_map[S_COUNT] = {
    [S_TIME] = {P(K_TIME), P(K_PROPERTIES, "createdDateTime")},
    [S_CATEGORY] = {P(K_CATEGORY), P(K_NONE)},
    [S_CODE] = {P(K_PROPERTIES, "status", "errorCode"), P(K_RESULT_TYPE)},
    [S_REASON] = {P(K_PROPERTIES, "status", "failureReason"), P(K_RESULT_DESCRIPTION)},
    [S_UPN] = {P(K_PROPERTIES, "userPrincipalName"), P(K_NONE)},
    [S_USER_ID] = {P(K_PROPERTIES, "userId"), P(K_NONE)},
    [S_IP] = {P(K_PROPERTIES, "ipAddress"), P(K_CALLER_IP)},
    [S_CITY] = {P(K_PROPERTIES, "location", "city"), P(K_NONE)},
    [S_STATE] = {P(K_PROPERTIES, "location", "state"), P(K_NONE)},
    [S_COUNTRY] = {P(K_PROPERTIES, "location", "countryOrRegion"), P(K_LOCATION)},
    [S_LAT] = {P(K_PROPERTIES, "location", "geoCoordinates", "latitude"), P(K_NONE)},
    [S_LON] = {P(K_PROPERTIES, "location", "geoCoordinates", "longitude"), P(K_NONE)},
    [S_USER_AGENT] = {P(K_PROPERTIES, "userAgent"), P(K_NONE)},
    [S_APP] = {P(K_PROPERTIES, "appDisplayName"), P(K_NONE)},
    [S_APP_ID] = {P(K_PROPERTIES, "appId"), P(K_NONE)},
    [S_CLIENT_APP] = {P(K_PROPERTIES, "clientAppUsed"), P(K_NONE)},
    [S_RISK_LEVEL] = {P(K_PROPERTIES, "riskLevelDuringSignIn"), P(K_NONE)},
    [S_RISK_STATE] = {P(K_PROPERTIES, "riskState"), P(K_NONE)},
    [S_CA_STATUS] = {P(K_PROPERTIES, "conditionalAccessStatus"), P(K_NONE)},
    [S_AUTH_REQUIREMENT] = {P(K_PROPERTIES, "authenticationRequirement"), P(K_NONE)},
    [S_IS_INTERACTIVE] = {P(K_PROPERTIES, "isInteractive"), P(K_NONE)},
    [S_RESOURCE] = {P(K_PROPERTIES, "resourceDisplayName"), P(K_NONE)},
    [S_CORRELATION] = {P(K_PROPERTIES, "correlationId"), P(K_NONE)},
    [S_MFA_METHOD] = {P(K_PROPERTIES, "mfaDetail", "authMethod"), P(K_NONE)},
    [S_DEVICE_OS] = {P(K_PROPERTIES, "deviceDetail", "operatingSystem"), P(K_NONE)},
    [S_TENANT] = {P(K_TENANT_ID), P(K_NONE)},
};

static const source_map table_map[S_COUNT] = {
    [S_TIME] = {P(K_TIME_GENERATED), P(K_S_CREATED)},
    [S_CATEGORY] = {P(K_TYPE), P(K_S_CATEGORY)},
    [S_CODE] = {P(K_S_RESULT_TYPE), P(K_S_STATUS, "errorCode")},
    [S_REASON] = {P(K_S_RESULT_DESCRIPTION), P(K_S_STATUS, "failureReason")},
    [S_UPN] = {P(K_S_UPN), P(K_NONE)},
    [S_USER_ID] = {P(K_S_USER_ID), P(K_NONE)},
    [S_IP] = {P(K_S_IP), P(K_NONE)},
    [S_CITY] = {P(K_S_LOCATION_DETAILS, "city"), P(K_NONE)},
    [S_STATE] = {P(K_S_LOCATION_DETAILS, "state"), P(K_NONE)},
    [S_COUNTRY] = {P(K_S_LOCATION_DETAILS, "countryOrRegion"), P(K_S_LOCATION)},
    [S_LAT] = {P(K_S_LOCATION_DETAILS, "geoCoordinates", "latitude"), P(K_NONE)},
    [S_LON] = {P(K_S_LOCATION_DETAILS, "geoCoordinates", "longitude"), P(K_NONE)},
    [S_USER_AGENT] = {P(K_S_USER_AGENT), P(K_NONE)},
    [S_APP] = {P(K_S_APP), P(K_NONE)},
    [S_APP_ID] = {P(K_S_APP_ID), P(K_NONE)},
    [S_CLIENT_APP] = {P(K_S_CLIENT_APP), P(K_NONE)},
    [S_RISK_LEVEL] = {P(K_S_RISK_LEVEL), P(K_NONE)},
    [S_RISK_STATE] = {P(K_S_RISK_STATE), P(K_NONE)},
    [S_CA_STATUS] = {P(K_S_CA_STATUS), P(K_NONE)},
    [S_AUTH_REQUIREMENT] = {P(K_S_AUTH_REQUIREMENT), P(K_NONE)},
    [S_IS_INTERACTIVE] = {P(K_S_IS_INTERACTIVE), P(K_NONE)},
    [S_RESOURCE] = {P(K_S_RESOURCE), P(K_NONE)},
    [S_CORRELATION] = {P(K_S_CORRELATION), P(K_NONE)},
    [S_MFA_METHOD] = {P(K_S_MFA, "authMethod"), P(K_NONE)},
    [S_DEVICE_OS] = {P(K_S_DEVICE, "operatingSystem"), P(K_NONE)},
    [S_TENANT] = {P(K_S_TENANT), P(K_NONE)},
};

#undef P

/* Fields written. */
enum {
    F_TIMESTAMP,
    F_KIND,
    F_CATEGORY,
    F_TYPE,
    F_ACTION,
    F_OUTCOME,
    F_CODE,
    F_ERROR_CODE,
    F_REASON,
    F_PROVIDER,
    F_DATASET,
    F_USER_NAME,
    F_USER_ID,
    F_USER_DOMAIN,
    F_VIGIL_USER,
    F_SOURCE_IP,
    F_GEO_COUNTRY,
    F_GEO_CITY,
    F_GEO_REGION,
    F_GEO_LAT,
    F_GEO_LON,
    F_USER_AGENT,
    F_APP,
    F_APP_ID,
    F_CLIENT_APP,
    F_RISK_LEVEL,
    F_RISK_STATE,
    F_MFA_REQUIRED,
    F_CA_STATUS,
    F_AUTH_REQUIREMENT,
    F_IS_INTERACTIVE,
    F_RESOURCE,
    F_CORRELATION,
    F_MFA_METHOD,
    F_DEVICE_OS,
    F_SIGNIN_CATEGORY,
    F_TENANT,
    F_CLOUD_PROVIDER,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_TIMESTAMP] = "@timestamp", [F_KIND] = "event.kind", [F_CATEGORY] = "event.category",
    [F_TYPE] = "event.type", [F_ACTION] = "event.action", [F_OUTCOME] = "event.outcome",
    [F_CODE] = "event.code", [F_ERROR_CODE] = "error.code", [F_REASON] = "event.reason",
    [F_PROVIDER] = "event.provider", [F_DATASET] = "event.dataset", [F_USER_NAME] = "user.name",
    [F_USER_ID] = "user.id", [F_USER_DOMAIN] = "user.domain", [F_VIGIL_USER] = "vigil.user",
    [F_SOURCE_IP] = "source.ip", [F_GEO_COUNTRY] = "source.geo.country_iso_code",
    [F_GEO_CITY] = "source.geo.city_name", [F_GEO_REGION] = "source.geo.region_name",
    [F_GEO_LAT] = "source.geo.location.lat", [F_GEO_LON] = "source.geo.location.lon",
    [F_USER_AGENT] = "user_agent.original", [F_APP] = "azure.signin.app_name",
    [F_APP_ID] = "azure.signin.app_id", [F_CLIENT_APP] = "azure.signin.client_app",
    [F_RISK_LEVEL] = "azure.signin.risk_level", [F_RISK_STATE] = "azure.signin.risk_state",
    [F_MFA_REQUIRED] = "azure.signin.mfa_required",
    [F_CA_STATUS] = "azure.signin.conditional_access_status",
    [F_AUTH_REQUIREMENT] = "azure.signin.authentication_requirement",
    [F_IS_INTERACTIVE] = "azure.signin.is_interactive",
    [F_RESOURCE] = "azure.signin.resource_name", [F_CORRELATION] = "azure.signin.correlation_id",
    [F_MFA_METHOD] = "azure.signin.mfa_method", [F_DEVICE_OS] = "azure.signin.device_os",
    [F_SIGNIN_CATEGORY] = "azure.signin.category", [F_TENANT] = "azure.tenant_id",
    [F_CLOUD_PROVIDER] = "cloud.provider",
};

/* Text fields copied as they are: source -> field. */
static const struct {
    int s, f;
} text_fields[] = {
    {S_USER_ID, F_USER_ID},       {S_CITY, F_GEO_CITY},
    {S_STATE, F_GEO_REGION},      {S_COUNTRY, F_GEO_COUNTRY},
    {S_USER_AGENT, F_USER_AGENT}, {S_APP, F_APP},
    {S_APP_ID, F_APP_ID},         {S_CLIENT_APP, F_CLIENT_APP},
    {S_RISK_STATE, F_RISK_STATE}, {S_CA_STATUS, F_CA_STATUS},
    {S_AUTH_REQUIREMENT, F_AUTH_REQUIREMENT},
    {S_RESOURCE, F_RESOURCE},     {S_CORRELATION, F_CORRELATION},
    {S_MFA_METHOD, F_MFA_METHOD}, {S_DEVICE_OS, F_DEVICE_OS},
    {S_TENANT, F_TENANT},
};
#define NTEXT (sizeof(text_fields) / sizeof(text_fields[0]))

typedef struct text {
    const char *s;
    size_t len;
} text;

/* One sign-in, read and checked; strings live in the scratch. */
typedef struct signin {
    bool has_time;
    int64_t time_ms;
    bool interactive;
    text category, code, reason, upn, ip, risk_level;
    text t[S_COUNT]; /* the plain text fields, by source index */
    bool has_lat, has_lon, has_is_interactive, is_interactive;
    double lat, lon;
    char code_buf[24];
} signin;

typedef struct entra_source {
    const vgl_host *h;
    az_ctx c;
    az_copier cp;
    size_t max_records;
    az_key keys[K_COUNT];
    const vgl_path *f[F_COUNT];
    /* the dotted name of every place of both maps (for error messages),
     * joined at init; index: place_index() */
    char pl_name[4 * S_COUNT][96];
    size_t pl_len[4 * S_COUNT];
    /* top-level members of the record being read, looked up once each
     * (every place starts at one; most at "properties") */
    const az_rec *top_rec;
    az_val top_val[K_COUNT];
    bool top_have[K_COUNT];
    vgl_plugin_metric *m_signins, *m_failures, *m_skipped;
    signin parsed;
} entra_source;

/* ---------------------------------------------------------- reading */

/* Index of a place of diag_map/table_map in the per-instance tables, -1 for
 * any other place. */
static int place_index(const place *pl)
{
    uintptr_t p = (uintptr_t)pl;
    const source_map *maps[2] = {diag_map, table_map};
    for (int m = 0; m < 2; m++) {
        uintptr_t base = (uintptr_t)maps[m];
        if (p >= base && p < base + sizeof(source_map) * S_COUNT) {
            uintptr_t off = p - base;
            size_t s = off / sizeof(source_map);
            int fb = off % sizeof(source_map) >= offsetof(source_map, fallback);
            return (int)((size_t)m * 2 * S_COUNT + s * 2 + (size_t)fb);
        }
    }
    return -1;
}

static void resolve_places(entra_source *n)
{
    const source_map *maps[2] = {diag_map, table_map};
    for (int m = 0; m < 2; m++)
        for (int s = 0; s < S_COUNT; s++)
            for (int fb = 0; fb < 2; fb++) {
                const place *pl = fb ? &maps[m][s].fallback : &maps[m][s].first;
                int i = place_index(pl);
                n->pl_name[i][0] = '\0';
                n->pl_len[i] = 0;
                if (pl->top == K_NONE)
                    continue;
                size_t nsub = 0;
                while (nsub < 3 && pl->sub[nsub])
                    nsub++;
                az_name_join(n->pl_name[i], sizeof(n->pl_name[i]), key_names[pl->top], pl->sub,
                             nsub);
                n->pl_len[i] = strlen(n->pl_name[i]);
            }
}

/* The value at place pl, and its dotted name. */
static bool read_place(entra_source *n, const az_rec *rec, const place *pl, az_val *out,
                       char *name, size_t namecap)
{
    memset(out, 0, sizeof(*out));
    name[0] = '\0';
    if (pl->top == K_NONE)
        return true;
    if (n->top_rec != rec) {
        memset(n->top_have, 0, sizeof(n->top_have));
        n->top_rec = rec;
    }
    if (!n->top_have[pl->top]) {
        az_field(&n->c, rec, &n->keys[pl->top], &n->top_val[pl->top]);
        n->top_have[pl->top] = true;
    }
    az_val top = n->top_val[pl->top];
    size_t nsub = 0;
    while (nsub < 3 && pl->sub[nsub])
        nsub++;
    if (!az_walk(&n->c, &top, key_names[pl->top], pl->sub, nsub, out))
        return false;
    int pi = place_index(pl);
    if (pi >= 0 && n->pl_len[pi] < namecap)
        memcpy(name, n->pl_name[pi], n->pl_len[pi] + 1); /* joined once, at init */
    else
        az_name_join(name, namecap, key_names[pl->top], pl->sub, nsub);
    return true;
}

/* Source s of the map: the first place when it holds a value (not null,
 * not ""), else the fallback. */
static bool read_source(entra_source *n, const az_rec *rec, const source_map *map, int s,
                        az_val *out, char *name, size_t namecap)
{
    if (!read_place(n, rec, &map[s].first, out, name, namecap))
        return false;
    bool empty = out->t == AZ_MISSING || out->t == AZ_NULL || (out->t == AZ_STR && !out->len);
    if (!empty || map[s].fallback.top == K_NONE)
        return true;
    return read_place(n, rec, &map[s].fallback, out, name, namecap);
}

static bool read_text(entra_source *n, const az_rec *rec, const source_map *map, int s,
                      text *out)
{
    az_val v;
    char name[128];
    return read_source(n, rec, map, s, &v, name, sizeof(name)) &&
           az_str(&n->c, &v, name, &out->s, &out->len);
}

/* The result code as decimal text: a number or a string of digits. */
static bool read_code(entra_source *n, const az_rec *rec, const source_map *map, signin *si)
{
    az_ctx *c = &n->c;
    az_val v;
    char name[128], q[80];
    if (!read_source(n, rec, map, S_CODE, &v, name, sizeof(name)))
        return false;
    if (v.t == AZ_NUM) {
        if (v.num < 0 || v.num > 9999999999.0 || v.num != (double)(int64_t)v.num)
            return az_fail(c, "%s %g is not a result code", name, v.num);
        int l = snprintf(si->code_buf, sizeof(si->code_buf), "%lld", (long long)v.num);
        si->code.s = si->code_buf;
        si->code.len = (size_t)l;
        return true;
    }
    if (v.t == AZ_STR && v.len > 0) {
        bool digits = v.len <= 10;
        for (size_t i = 0; digits && i < v.len; i++)
            digits = v.s[i] >= '0' && v.s[i] <= '9';
        if (!digits)
            return az_fail(c, "%s \"%s\" is not a numeric result code", name,
                           az_quote(q, sizeof(q), v.s, v.len));
        return az_str(c, &v, name, &si->code.s, &si->code.len);
    }
    if (v.t == AZ_MISSING || v.t == AZ_NULL || v.t == AZ_STR)
        return true; /* the caller reports the missing code */
    return az_fail(c, "%s is %s, expected a number or a string of digits", name,
                   az_type_name(v.t));
}

static bool read_coordinate(entra_source *n, const az_rec *rec, const source_map *map, int s,
                            double limit, double *out, bool *present)
{
    az_val v;
    char name[128];
    if (!read_source(n, rec, map, s, &v, name, sizeof(name)) ||
        !az_num(&n->c, &v, name, out, present))
        return false;
    if (*present && (*out < -limit || *out > limit))
        return az_fail(&n->c, "%s %g is out of range", name, *out);
    return true;
}

static bool text_is(const text *t, const char *s)
{
    return t->s && t->len == strlen(s) && strncasecmp(t->s, s, t->len) == 0;
}

static bool signin_read(void *plugin, const az_rec *rec, void *parsed)
{
    entra_source *n = plugin;
    az_ctx *c = &n->c;
    signin *si = parsed;
    memset(si, 0, sizeof(*si));
    n->top_rec = NULL; /* a new record: forget the cached top-level members */
    char q[80];

    /* which shape */
    az_val v;
    const source_map *map;
    bool table;
    az_field(c, rec, &n->keys[K_PROPERTIES], &v);
    if (v.t != AZ_MISSING) {
        if (v.t != AZ_OBJ)
            return az_fail(c, "properties is %s, expected an object", az_type_name(v.t));
        map = diag_map;
        table = false;
    } else {
        az_val u, r;
        az_field(c, rec, &n->keys[K_S_UPN], &u);
        az_field(c, rec, &n->keys[K_S_RESULT_TYPE], &r);
        if (u.t == AZ_MISSING && r.t == AZ_MISSING)
            return az_fail(c, "not an Entra sign-in record: no properties (diagnostic export) "
                              "nor UserPrincipalName/ResultType (SigninLogs table)");
        map = table_map;
        table = true;
    }

    /* which log: interactive or not */
    if (!read_text(n, rec, map, S_CATEGORY, &si->category))
        return false;
    az_val iv;
    char name[128];
    if (!read_source(n, rec, map, S_IS_INTERACTIVE, &iv, name, sizeof(name)) ||
        !az_bool(c, &iv, name, &si->is_interactive, &si->has_is_interactive))
        return false;
    if (si->category.s) {
        if (text_is(&si->category, "SignInLogs") || text_is(&si->category, "SigninLogs"))
            si->interactive = true;
        else if (text_is(&si->category, "NonInteractiveUserSignInLogs") ||
                 text_is(&si->category, "AADNonInteractiveUserSignInLogs"))
            si->interactive = false;
        else
            return az_fail(c, table ? "Type \"%s\" is not a sign-in table (SigninLogs or "
                                      "AADNonInteractiveUserSignInLogs)"
                                    : "category \"%s\" is not a sign-in log (SignInLogs or "
                                      "NonInteractiveUserSignInLogs)",
                           az_quote(q, sizeof(q), si->category.s, si->category.len));
    } else {
        si->interactive = !si->has_is_interactive || si->is_interactive;
    }

    /* time */
    text t;
    if (!read_source(n, rec, map, S_TIME, &v, name, sizeof(name)) ||
        !az_str(c, &v, name, &t.s, &t.len))
        return false;
    if (t.s && t.len) {
        if (!c->h->time_parse(t.s, t.len, &si->time_ms))
            return az_fail(c, "%s \"%s\" is not a time", name, az_quote(q, sizeof(q), t.s,
                                                                         t.len));
        si->has_time = true;
    }

    /* who and the result */
    if (!read_code(n, rec, map, si))
        return false;
    if (!si->code.s)
        return az_fail(c, table ? "sign-in record has no result code (ResultType or "
                                  "Status.errorCode)"
                                : "sign-in record has no result code (properties.status."
                                  "errorCode or resultType)");
    if (!read_text(n, rec, map, S_UPN, &si->upn) ||
        !read_text(n, rec, map, S_USER_ID, &si->t[S_USER_ID]))
        return false;
    if (!si->upn.s && !si->t[S_USER_ID].s)
        return az_fail(c, table ? "sign-in record names no user (UserPrincipalName or UserId)"
                                : "sign-in record names no user (properties.userPrincipalName "
                                  "or properties.userId)");
    if (!read_text(n, rec, map, S_REASON, &si->reason) || !read_text(n, rec, map, S_IP, &si->ip) ||
        !read_text(n, rec, map, S_RISK_LEVEL, &si->risk_level))
        return false;
    for (size_t i = 0; i < NTEXT; i++)
        if (text_fields[i].s != S_USER_ID &&
            !read_text(n, rec, map, text_fields[i].s, &si->t[text_fields[i].s]))
            return false;
    if (!read_coordinate(n, rec, map, S_LAT, 90, &si->lat, &si->has_lat) ||
        !read_coordinate(n, rec, map, S_LON, 180, &si->lon, &si->has_lon))
        return false;
    return true;
}

/* ---------------------------------------------------------- writing */

static void signin_write(void *plugin, az_out *o, const void *parsed)
{
    entra_source *n = plugin;
    const signin *si = parsed;
    const vgl_path *const *f = n->f;
    if (si->has_time)
        az_put_time(o, f[F_TIMESTAMP], si->time_ms);
    bool success = si->code.len == 1 && si->code.s[0] == '0';
    az_put_cstr(o, f[F_KIND], "event");
    az_put_cstr(o, f[F_CATEGORY], "authentication");
    az_put_cstr(o, f[F_TYPE], "start");
    az_put_cstr(o, f[F_ACTION], si->interactive ? "signin" : "signin-noninteractive");
    az_put_cstr(o, f[F_OUTCOME], success ? "success" : "failure");
    az_put_str(o, f[F_CODE], si->code.s, si->code.len);
    if (!success) {
        az_put_str(o, f[F_ERROR_CODE], si->code.s, si->code.len);
        az_put_str(o, f[F_REASON], si->reason.s, si->reason.len);
    }
    az_put_cstr(o, f[F_PROVIDER], "AzureAD");
    az_put_cstr(o, f[F_DATASET], "azure.signinlogs");
    az_put_cstr(o, f[F_CLOUD_PROVIDER], "azure");
    if (si->upn.s) {
        az_put_str(o, f[F_USER_NAME], si->upn.s, si->upn.len);
        char key[256];
        size_t kl = az_user_key(si->upn.s, si->upn.len, key, sizeof(key));
        az_put_str(o, f[F_VIGIL_USER], key, kl);
        size_t dl;
        const char *d = az_user_domain(si->upn.s, si->upn.len, &dl);
        if (d)
            az_put_cstr(o, f[F_USER_DOMAIN], az_lower(o->c, d, dl));
    }
    if (si->ip.s && az_ip_useful(si->ip.s, si->ip.len))
        az_put_str(o, f[F_SOURCE_IP], si->ip.s, si->ip.len);
    for (size_t i = 0; i < NTEXT; i++)
        az_put_str(o, f[text_fields[i].f], si->t[text_fields[i].s].s,
                   si->t[text_fields[i].s].len);
    if (si->has_lat && si->has_lon) {
        az_put_double(o, f[F_GEO_LAT], si->lat);
        az_put_double(o, f[F_GEO_LON], si->lon);
    }
    if (si->risk_level.s)
        az_put_cstr(o, f[F_RISK_LEVEL], az_lower(o->c, si->risk_level.s, si->risk_level.len));
    const text *req = &si->t[S_AUTH_REQUIREMENT];
    if (text_is(req, "multiFactorAuthentication"))
        az_put_bool(o, f[F_MFA_REQUIRED], true);
    else if (text_is(req, "singleFactorAuthentication"))
        az_put_bool(o, f[F_MFA_REQUIRED], false);
    if (si->has_is_interactive)
        az_put_bool(o, f[F_IS_INTERACTIVE], si->is_interactive);
    az_put_str(o, f[F_SIGNIN_CATEGORY], si->category.s, si->category.len);
    n->h->counter_add(n->m_signins, 1);
    if (!success)
        n->h->counter_add(n->m_failures, 1);
}

/* ---------------------------------------------------------- plugin */

static void entra_destroy(void *inst)
{
    entra_source *n = inst;
    if (!n)
        return;
    az_ctx_free(&n->c);
    az_copier_free(&n->cp);
    free(n);
}

static void *entra_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                        size_t errlen)
{
    size_t max_records, max_json;
    if (!az_read_limits(host, cfg, &max_records, &max_json, err, errlen))
        return NULL;
    entra_source *n = calloc(1, sizeof(*n));
    if (!n || !az_ctx_init(&n->c, host, max_json, 4 * max_json + (1u << 20)) ||
        !az_copier_init(&n->cp, host)) {
        entra_destroy(n);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->h = host;
    n->max_records = max_records;
    for (int k = 1; k < K_COUNT; k++) {
        n->keys[k].name = key_names[k];
        n->keys[k].path = host->path(host, key_names[k]);
    }
    for (int f = 0; f < F_COUNT; f++)
        n->f[f] = host->path(host, field_names[f]);
    resolve_places(n);
    n->m_signins = host->metric(host, VGL_METRIC_COUNTER, "entra_signins_total", NULL,
                                "sign-in events normalized");
    n->m_failures = host->metric(host, VGL_METRIC_COUNTER, "entra_signin_failures_total", NULL,
                                 "sign-ins with a non-zero result code");
    n->m_skipped = host->metric(host, VGL_METRIC_COUNTER, "entra_fields_skipped_total", NULL,
                                "values too long to normalize (kept in the original only)");
    return n;
}

static vgl_rc entra_process(void *inst, vgl_batch *batch)
{
    entra_source *n = inst;
    const vgl_host *h = n->h;
    static const az_record_ops ops = {.read = signin_read, .write = signin_write};
    size_t count = h->batch_count(batch);
    for (size_t i = 0; i < count; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        az_ctx_reset(&n->c);
        n->c.skipped = 0;
        if (!az_process_record(&n->c, &n->cp, batch, i, ev, n->keys[K_RECORDS].path,
                               n->max_records, &ops, n, &n->parsed))
            h->batch_fail(batch, i, n->c.reason);
        uint64_t skipped = n->c.skipped + n->cp.skipped;
        n->cp.skipped = 0;
        if (skipped)
            h->counter_add(n->m_skipped, skipped);
    }
    az_ctx_reset(&n->c);
    return VGL_OK;
}

static const vgl_plugin_option entra_options[] = {
    {.name = "max_records", .type = VGL_OPT_INT, .default_value = "10000",
     .description = "most records one {\"records\":[...]} envelope may hold; more dead-letters it"},
    {.name = "max_embedded_json", .type = VGL_OPT_SIZE, .default_value = "256KiB",
     .description = "longest JSON text parsed inside a field (LocationDetails, Status, ...)"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "entra-signin",
    .version = "1.0.0",
    .description = "Entra ID sign-in logs (diagnostic export and SigninLogs tables) to ECS",
    .kind = VGL_PLUGIN_SOURCE,
    .threading = VGL_THREADING_PER_WORKER,
    .options = entra_options,
    .init = entra_init,
    .process = entra_process,
    .destroy = entra_destroy,
};
