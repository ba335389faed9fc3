/*
 * Source plugin `azure-activity` (vigil-source-azure-activity.so): the
 * Azure Activity log (control-plane operations on subscriptions), in the
 * two shapes it reaches Kafka in:
 *
 *   - the diagnostic-settings export (Event Hub / storage): time,
 *     resourceId, operationName, category, resultType, callerIpAddress,
 *     identity.claims, properties.* (requestbody of role assignments, ...);
 *   - the Sentinel / Log Analytics table AzureActivity: TimeGenerated,
 *     OperationNameValue, ActivityStatusValue, Caller, CallerIpAddress,
 *     SubscriptionId, ResourceGroup, _ResourceId, Properties (JSON text) or
 *     Properties_d.
 *
 * An Event Hub envelope {"records":[...]} becomes one event per record.
 * Fields: docs/fields.md, "Azure Activity".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vigil/plugin.h>

#include "azure_common.h"

enum {
    K_RECORDS,
    /* diagnostic export */
    K_TIME,
    K_OPERATION,
    K_RESULT_TYPE,
    K_RESULT_SIGNATURE,
    K_CALLER,
    K_CALLER_IP,
    K_RESOURCE_ID,
    K_CATEGORY,
    K_CORRELATION,
    K_IDENTITY,
    K_PROPERTIES,
    /* AzureActivity table */
    K_TYPE,
    K_TIME_GENERATED,
    K_S_OPERATION,
    K_S_STATUS,
    K_S_STATUS_OLD,
    K_S_SUBSTATUS,
    K_S_CALLER,
    K_S_CALLER_IP,
    K_S_SUBSCRIPTION,
    K_S_RESOURCE_GROUP,
    K_S_RESOURCE_ID,
    K_S_RESOURCE_ID_OLD,
    K_S_CATEGORY,
    K_S_CATEGORY_OLD,
    K_S_CORRELATION,
    K_S_PROPERTIES_D,
    K_S_PROPERTIES,
    K_S_CLAIMS_D,
    K_S_CLAIMS,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    [K_RECORDS] = "records", [K_TIME] = "time", [K_OPERATION] = "operationName",
    [K_RESULT_TYPE] = "resultType", [K_RESULT_SIGNATURE] = "resultSignature",
    [K_CALLER] = "caller", [K_CALLER_IP] = "callerIpAddress", [K_RESOURCE_ID] = "resourceId",
    [K_CATEGORY] = "category", [K_CORRELATION] = "correlationId", [K_IDENTITY] = "identity",
    [K_PROPERTIES] = "properties", [K_TYPE] = "Type", [K_TIME_GENERATED] = "TimeGenerated",
    [K_S_OPERATION] = "OperationNameValue", [K_S_STATUS] = "ActivityStatusValue",
    [K_S_STATUS_OLD] = "ActivityStatus", [K_S_SUBSTATUS] = "ActivitySubstatusValue",
    [K_S_CALLER] = "Caller", [K_S_CALLER_IP] = "CallerIpAddress",
    [K_S_SUBSCRIPTION] = "SubscriptionId", [K_S_RESOURCE_GROUP] = "ResourceGroup",
    [K_S_RESOURCE_ID] = "_ResourceId", [K_S_RESOURCE_ID_OLD] = "ResourceId",
    [K_S_CATEGORY] = "CategoryValue", [K_S_CATEGORY_OLD] = "Category",
    [K_S_CORRELATION] = "CorrelationId", [K_S_PROPERTIES_D] = "Properties_d",
    [K_S_PROPERTIES] = "Properties", [K_S_CLAIMS_D] = "Claims_d", [K_S_CLAIMS] = "Claims",
};

enum {
    F_TIMESTAMP,
    F_KIND,
    F_CATEGORY,
    F_TYPE,
    F_ACTION,
    F_OUTCOME,
    F_REASON,
    F_PROVIDER,
    F_DATASET,
    F_USER_NAME,
    F_USER_ID,
    F_USER_DOMAIN,
    F_VIGIL_USER,
    F_SOURCE_IP,
    F_CLOUD_PROVIDER,
    F_CLOUD_ACCOUNT,
    F_RESOURCE_ID,
    F_RESOURCE_GROUP,
    F_OPERATION_NAME,
    F_ACTIVITY_CATEGORY,
    F_STATUS,
    F_CORRELATION,
    F_ROLE_DEFINITION,
    F_PRINCIPAL_TYPE,
    F_TARGET_ID,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_TIMESTAMP] = "@timestamp", [F_KIND] = "event.kind", [F_CATEGORY] = "event.category",
    [F_TYPE] = "event.type", [F_ACTION] = "event.action", [F_OUTCOME] = "event.outcome",
    [F_REASON] = "event.reason", [F_PROVIDER] = "event.provider", [F_DATASET] = "event.dataset",
    [F_USER_NAME] = "user.name", [F_USER_ID] = "user.id", [F_USER_DOMAIN] = "user.domain",
    [F_VIGIL_USER] = "vigil.user", [F_SOURCE_IP] = "source.ip",
    [F_CLOUD_PROVIDER] = "cloud.provider", [F_CLOUD_ACCOUNT] = "cloud.account.id",
    [F_RESOURCE_ID] = "azure.resource.id", [F_RESOURCE_GROUP] = "azure.resource.group",
    [F_OPERATION_NAME] = "azure.activity.operation_name",
    [F_ACTIVITY_CATEGORY] = "azure.activity.category", [F_STATUS] = "azure.activity.status",
    [F_CORRELATION] = "azure.activity.correlation_id",
    [F_ROLE_DEFINITION] = "azure.activity.role_definition_id",
    [F_PRINCIPAL_TYPE] = "azure.activity.principal_type", [F_TARGET_ID] = "user.target.id",
};

/* Claim names, as the token carries them. */
#define CLAIM_UPN "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
#define CLAIM_NAME "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
#define CLAIM_OID "http://schemas.microsoft.com/identity/claims/objectidentifier"

typedef struct text {
    const char *s;
    size_t len;
} text;

/* One activity record, read and checked; strings live in the scratch. */
typedef struct activity {
    bool has_time;
    int64_t time_ms;
    text operation, status, reason, caller, user_id, ip, resource_id, subscription, group,
        category, correlation, role_definition, principal_id, principal_type;
} activity;

typedef struct activity_source {
    const vgl_host *h;
    az_ctx c;
    az_copier cp;
    size_t max_records;
    az_key keys[K_COUNT];
    const vgl_path *f[F_COUNT];
    vgl_plugin_metric *m_events, *m_bodies, *m_skipped;
    uint64_t unparsed_bodies;
    activity parsed;
} activity_source;

/* ---------------------------------------------------------- reading */

static bool empty(const az_val *v)
{
    return v->t == AZ_MISSING || v->t == AZ_NULL || (v->t == AZ_STR && v->len == 0);
}

/* Top-level key k, or k2 when k is empty. */
static void top(activity_source *n, const az_rec *rec, int k, int k2, az_val *out, int *used)
{
    az_field(&n->c, rec, &n->keys[k], out);
    *used = k;
    if (empty(out) && k2 >= 0) {
        az_field(&n->c, rec, &n->keys[k2], out);
        *used = k2;
    }
}

static bool top_text(activity_source *n, const az_rec *rec, int k, int k2, text *out)
{
    az_val v;
    int used;
    top(n, rec, k, k2, &v, &used);
    return az_str(&n->c, &v, key_names[used], &out->s, &out->len);
}

/* Member key of obj as text (name: obj's dotted name). */
static bool member_text(activity_source *n, const az_val *obj, const char *name, const char *key,
                        text *out)
{
    az_val v;
    char full[160];
    az_name_join(full, sizeof(full), name, &key, 1);
    return az_member(&n->c, obj, name, key, &v) && az_str(&n->c, &v, full, &out->s, &out->len);
}

/* The role assignment in a request (or response) body: Properties.
 * RoleDefinitionId / PrincipalId / PrincipalType, in either case. The body
 * is optional evidence: when it is not valid JSON the record still goes
 * on, without these fields, and the metric counts it. */
static void read_role(activity_source *n, const az_val *props, const char *pname, activity *a)
{
    az_ctx *c = &n->c;
    static const char *const body_keys[] = {"requestbody", "requestBody", "responseBody",
                                            "responsebody"};
    char saved[AZ_REASON_MAX];
    snprintf(saved, sizeof(saved), "%s", c->reason);
    for (size_t b = 0; b < sizeof(body_keys) / sizeof(body_keys[0]); b++) {
        az_val body, inner;
        if (!az_member(c, props, pname, body_keys[b], &body) || empty(&body)) {
            snprintf(c->reason, sizeof(c->reason), "%s", saved);
            continue;
        }
        bool ok = az_member(c, &body, body_keys[b], "Properties", &inner);
        if (ok && empty(&inner))
            ok = az_member(c, &body, body_keys[b], "properties", &inner);
        text def = {0}, pid = {0}, ptype = {0};
        if (ok) {
            static const char *const def_keys[] = {"RoleDefinitionId", "roleDefinitionId"};
            static const char *const pid_keys[] = {"PrincipalId", "principalId"};
            static const char *const type_keys[] = {"PrincipalType", "principalType"};
            for (int k = 0; ok && k < 2; k++) {
                if (!def.s)
                    ok = member_text(n, &inner, "Properties", def_keys[k], &def);
                if (ok && !pid.s)
                    ok = member_text(n, &inner, "Properties", pid_keys[k], &pid);
                if (ok && !ptype.s)
                    ok = member_text(n, &inner, "Properties", type_keys[k], &ptype);
            }
        }
        /* a bad body is not the record's failure */
        snprintf(c->reason, sizeof(c->reason), "%s", saved);
        if (!ok) {
            n->unparsed_bodies++;
            continue;
        }
        if (def.s || pid.s) {
            a->role_definition = def;
            a->principal_id = pid;
            a->principal_type = ptype;
            return;
        }
    }
}

/* The caller from the token's claims: UPN, else name, else the
 * application id (service principals). */
static bool read_claims(activity_source *n, const az_val *claims, const char *cname, activity *a)
{
    static const char *const caller_claims[] = {CLAIM_UPN, CLAIM_NAME, "appid"};
    for (size_t i = 0; !a->caller.s && i < 3; i++)
        if (!member_text(n, claims, cname, caller_claims[i], &a->caller))
            return false;
    return member_text(n, claims, cname, CLAIM_OID, &a->user_id);
}

static bool activity_read(void *plugin, const az_rec *rec, void *parsed)
{
    activity_source *n = plugin;
    az_ctx *c = &n->c;
    activity *a = parsed;
    memset(a, 0, sizeof(*a));
    char q[80];
    int used;

    /* which shape */
    az_val op_table, op_diag, type;
    az_field(c, rec, &n->keys[K_S_OPERATION], &op_table);
    az_field(c, rec, &n->keys[K_OPERATION], &op_diag);
    az_field(c, rec, &n->keys[K_TYPE], &type);
    bool table = op_table.t != AZ_MISSING ||
                 (type.t == AZ_STR && type.len == strlen("AzureActivity") &&
                  memcmp(type.s, "AzureActivity", type.len) == 0);
    if (!table && op_diag.t == AZ_MISSING)
        return az_fail(c, "not an Azure Activity record: no operationName (diagnostic export) "
                          "nor OperationNameValue (AzureActivity table)");

    /* time */
    text t;
    if (!top_text(n, rec, table ? K_TIME_GENERATED : K_TIME, -1, &t))
        return false;
    if (t.s) {
        if (!c->h->time_parse(t.s, t.len, &a->time_ms))
            return az_fail(c, "%s \"%s\" is not a time", table ? "TimeGenerated" : "time",
                           az_quote(q, sizeof(q), t.s, t.len));
        a->has_time = true;
    }

    /* the operation: required */
    const char *opname = table ? "OperationNameValue" : "operationName";
    if (!az_str(c, table ? &op_table : &op_diag, opname, &a->operation.s, &a->operation.len))
        return false;
    if (!a->operation.s || a->operation.len == 0)
        return az_fail(c, "activity record has no operation (%s)", opname);

    az_val props;
    if (table) {
        if (!top_text(n, rec, K_S_STATUS, K_S_STATUS_OLD, &a->status) ||
            !top_text(n, rec, K_S_SUBSTATUS, -1, &a->reason) ||
            !top_text(n, rec, K_S_CALLER, -1, &a->caller) ||
            !top_text(n, rec, K_S_CALLER_IP, -1, &a->ip) ||
            !top_text(n, rec, K_S_RESOURCE_ID, K_S_RESOURCE_ID_OLD, &a->resource_id) ||
            !top_text(n, rec, K_S_SUBSCRIPTION, -1, &a->subscription) ||
            !top_text(n, rec, K_S_RESOURCE_GROUP, -1, &a->group) ||
            !top_text(n, rec, K_S_CATEGORY, K_S_CATEGORY_OLD, &a->category) ||
            !top_text(n, rec, K_S_CORRELATION, -1, &a->correlation))
            return false;
        top(n, rec, K_S_PROPERTIES_D, K_S_PROPERTIES, &props, &used);
        az_val claims;
        int cused;
        top(n, rec, K_S_CLAIMS_D, K_S_CLAIMS, &claims, &cused);
        text caller = a->caller;
        a->caller.s = NULL;
        if (!read_claims(n, &claims, key_names[cused], a))
            return false;
        if (caller.s) /* the Caller column wins over the claims */
            a->caller = caller;
    } else {
        if (!top_text(n, rec, K_RESULT_TYPE, -1, &a->status) ||
            !top_text(n, rec, K_CALLER, -1, &a->caller) ||
            !top_text(n, rec, K_CALLER_IP, -1, &a->ip) ||
            !top_text(n, rec, K_RESOURCE_ID, -1, &a->resource_id) ||
            !top_text(n, rec, K_CATEGORY, -1, &a->category) ||
            !top_text(n, rec, K_CORRELATION, -1, &a->correlation))
            return false;
        /* identity: an object with claims (or its JSON text); other logs put
         * a display name there, which says nothing the caller does not */
        az_val identity, claims;
        az_field(c, rec, &n->keys[K_IDENTITY], &identity);
        bool json_text = identity.t == AZ_STR && identity.len && identity.s[0] == '{';
        if (identity.t == AZ_OBJ || json_text) {
            if (!az_member(c, &identity, "identity", "claims", &claims) ||
                !read_claims(n, &claims, "identity.claims", a))
                return false;
        } else if (identity.t != AZ_STR && !empty(&identity)) {
            return az_fail(c, "identity is %s, expected an object", az_type_name(identity.t));
        }
        top(n, rec, K_PROPERTIES, -1, &props, &used);
    }
    const char *pname = key_names[used];
    if (props.t != AZ_MISSING && props.t != AZ_NULL && props.t != AZ_OBJ && props.t != AZ_STR)
        return az_fail(c, "%s is %s, expected an object", pname, az_type_name(props.t));
    if (props.t == AZ_STR && props.len == 0)
        props.t = AZ_MISSING;

    /* the failure's reason: the HTTP status word of the operation */
    if (!a->reason.s && !member_text(n, &props, pname, "statusCode", &a->reason))
        return false;
    if (!a->reason.s && !table && !top_text(n, rec, K_RESULT_SIGNATURE, -1, &a->reason))
        return false;
    read_role(n, &props, pname, a);

    if (!a->subscription.s || !a->group.s) {
        const char *sub, *rg;
        size_t sublen, rglen;
        az_resource_parts(a->resource_id.s, a->resource_id.len, &sub, &sublen, &rg, &rglen);
        if (!a->subscription.s)
            a->subscription = (text){sub, sublen};
        if (!a->group.s)
            a->group = (text){rg, rglen};
    }
    return true;
}

/* ---------------------------------------------------------- writing */

static bool text_is(const text *t, const char *s)
{
    return t->s && t->len == strlen(s) && strncasecmp(t->s, s, t->len) == 0;
}

static const char *outcome(const text *status)
{
    if (text_is(status, "Success") || text_is(status, "Succeeded"))
        return "success";
    if (text_is(status, "Failure") || text_is(status, "Failed"))
        return "failure";
    return "unknown"; /* Start, Started, Accept, Accepted, ... */
}

/* From the operation's last segment. */
static const char *operation_type(const text *op)
{
    const char *slash = memrchr(op->s, '/', op->len);
    text last = slash ? (text){slash + 1, op->len - (size_t)(slash + 1 - op->s)} : *op;
    if (text_is(&last, "write"))
        return "creation";
    if (text_is(&last, "action"))
        return "change";
    if (text_is(&last, "delete"))
        return "deletion";
    if (text_is(&last, "read"))
        return "access";
    return "info";
}

static void activity_write(void *plugin, az_out *o, const void *parsed)
{
    activity_source *n = plugin;
    const activity *a = parsed;
    const vgl_path *const *f = n->f;
    if (a->has_time)
        az_put_time(o, f[F_TIMESTAMP], a->time_ms);
    static const char iam[] = "microsoft.authorization/";
    bool is_iam = a->operation.len >= sizeof(iam) - 1 &&
                  strncasecmp(a->operation.s, iam, sizeof(iam) - 1) == 0;
    const char *result = outcome(&a->status);
    az_put_cstr(o, f[F_KIND], "event");
    az_put_cstr(o, f[F_CATEGORY], is_iam ? "iam" : "configuration");
    az_put_cstr(o, f[F_TYPE], operation_type(&a->operation));
    az_put_str(o, f[F_ACTION], a->operation.s, a->operation.len);
    az_put_cstr(o, f[F_OUTCOME], result);
    if (strcmp(result, "failure") == 0)
        az_put_str(o, f[F_REASON], a->reason.s, a->reason.len);
    az_put_cstr(o, f[F_PROVIDER], "AzureActivity");
    az_put_cstr(o, f[F_DATASET], "azure.activitylogs");
    if (a->caller.s) {
        az_put_str(o, f[F_USER_NAME], a->caller.s, a->caller.len);
        char key[256];
        size_t kl = az_user_key(a->caller.s, a->caller.len, key, sizeof(key));
        az_put_str(o, f[F_VIGIL_USER], key, kl);
        size_t dl;
        const char *d = az_user_domain(a->caller.s, a->caller.len, &dl);
        if (d)
            az_put_cstr(o, f[F_USER_DOMAIN], az_lower(o->c, d, dl));
    }
    az_put_str(o, f[F_USER_ID], a->user_id.s, a->user_id.len);
    if (a->ip.s && az_ip_useful(a->ip.s, a->ip.len))
        az_put_str(o, f[F_SOURCE_IP], a->ip.s, a->ip.len);
    az_put_cstr(o, f[F_CLOUD_PROVIDER], "azure");
    if (a->subscription.s) /* a GUID, upper-case in some resource ids */
        az_put_cstr(o, f[F_CLOUD_ACCOUNT],
                    az_lower(o->c, a->subscription.s, a->subscription.len));
    az_put_str(o, f[F_RESOURCE_ID], a->resource_id.s, a->resource_id.len);
    az_put_str(o, f[F_RESOURCE_GROUP], a->group.s, a->group.len);
    az_put_cstr(o, f[F_OPERATION_NAME], az_lower(o->c, a->operation.s, a->operation.len));
    az_put_str(o, f[F_ACTIVITY_CATEGORY], a->category.s, a->category.len);
    az_put_str(o, f[F_STATUS], a->status.s, a->status.len);
    az_put_str(o, f[F_CORRELATION], a->correlation.s, a->correlation.len);
    az_put_str(o, f[F_ROLE_DEFINITION], a->role_definition.s, a->role_definition.len);
    az_put_str(o, f[F_TARGET_ID], a->principal_id.s, a->principal_id.len);
    az_put_str(o, f[F_PRINCIPAL_TYPE], a->principal_type.s, a->principal_type.len);
    n->h->counter_add(n->m_events, 1);
}

/* ---------------------------------------------------------- plugin */

static void activity_destroy(void *inst)
{
    activity_source *n = inst;
    if (!n)
        return;
    az_ctx_free(&n->c);
    az_copier_free(&n->cp);
    free(n);
}

static void *activity_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                           size_t errlen)
{
    size_t max_records, max_json;
    if (!az_read_limits(host, cfg, &max_records, &max_json, err, errlen))
        return NULL;
    activity_source *n = calloc(1, sizeof(*n));
    /* a body's strings decode once per pass: 4x the JSON limit is room */
    if (!n || !az_ctx_init(&n->c, host, max_json, 4 * max_json + (1u << 20)) ||
        !az_copier_init(&n->cp, host)) {
        activity_destroy(n);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->h = host;
    n->max_records = max_records;
    for (int k = 0; k < K_COUNT; k++) {
        n->keys[k].name = key_names[k];
        n->keys[k].path = host->path(host, key_names[k]);
    }
    for (int f = 0; f < F_COUNT; f++)
        n->f[f] = host->path(host, field_names[f]);
    n->m_events = host->metric(host, VGL_METRIC_COUNTER, "activity_events_total", NULL,
                               "activity log events normalized");
    n->m_bodies = host->metric(host, VGL_METRIC_COUNTER, "activity_unparsed_bodies_total", NULL,
                               "request/response bodies that were not valid JSON (role fields "
                               "left out)");
    n->m_skipped = host->metric(host, VGL_METRIC_COUNTER, "activity_fields_skipped_total", NULL,
                                "values too long to normalize (kept in the original only)");
    return n;
}

static vgl_rc activity_process(void *inst, vgl_batch *batch)
{
    activity_source *n = inst;
    const vgl_host *h = n->h;
    static const az_record_ops ops = {.read = activity_read, .write = activity_write};
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
        if (n->unparsed_bodies) {
            h->counter_add(n->m_bodies, n->unparsed_bodies);
            n->unparsed_bodies = 0;
        }
    }
    az_ctx_reset(&n->c);
    return VGL_OK;
}

static const vgl_plugin_option activity_options[] = {
    {.name = "max_records", .type = VGL_OPT_INT, .default_value = "10000",
     .description = "most records one {\"records\":[...]} envelope may hold; more dead-letters it"},
    {.name = "max_embedded_json", .type = VGL_OPT_SIZE, .default_value = "256KiB",
     .description = "longest JSON text parsed inside a field (Properties, requestbody, ...)"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "azure-activity",
    .version = "1.0.0",
    .description = "Azure Activity log (diagnostic export and AzureActivity table) to ECS",
    .kind = VGL_PLUGIN_SOURCE,
    .threading = VGL_THREADING_PER_WORKER,
    .options = activity_options,
    .init = activity_init,
    .process = activity_process,
    .destroy = activity_destroy,
};
