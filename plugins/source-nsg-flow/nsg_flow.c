/*
 * Source plugin `nsg-flow` (vigil-source-nsg-flow.so): Azure network
 * security group flow logs, version 2 (and version 1), expanded to one
 * event per flow tuple; and Traffic Analytics rows (AzureNetworkAnalytics_CL
 * as projected by msticpy: FlowType, SrcIP, DestPort "443.0", ...), one
 * event per row. Fields: docs/fields.md, "Azure NSG flow logs v2".
 *
 * A record is checked completely before any event is emitted: a malformed
 * tuple anywhere, or more tuples than max_tuples_per_record, sends the
 * whole input record to the dead-letter topic with a reason naming the
 * place, and nothing of it reaches the rules. A {"records":[...]} envelope
 * counts as one input record (its tuples are counted together).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#include "azure_common.h"

#define MAX_TUPLES_LIMIT 1000000 /* highest accepted max_tuples_per_record */

/* Fields read from a record. */
enum {
    K_RECORDS,
    K_PROPERTIES,
    K_TIME,
    K_SYSTEM_ID,
    K_MAC,
    K_CATEGORY,
    K_RESOURCE_ID,
    K_OPERATION,
    /* Traffic Analytics */
    K_TIME_GENERATED,
    K_FLOW_START,
    K_FLOW_END,
    K_FLOW_TYPE,
    K_SRC_IP,
    K_DEST_IP,
    K_VM_IP,
    K_EXT_IPS,
    K_L4,
    K_L7,
    K_DEST_PORT,
    K_DIRECTION,
    K_ALLOWED_IN,
    K_ALLOWED_OUT,
    K_DENIED_IN,
    K_DENIED_OUT,
    K_VM_NAME,
    K_RESOURCE_GROUP,
    K_REMOTE_REGION,
    K_VM_REGION,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    [K_RECORDS] = "records", [K_PROPERTIES] = "properties", [K_TIME] = "time",
    [K_SYSTEM_ID] = "systemId", [K_MAC] = "macAddress", [K_CATEGORY] = "category",
    [K_RESOURCE_ID] = "resourceId", [K_OPERATION] = "operationName",
    [K_TIME_GENERATED] = "TimeGenerated", [K_FLOW_START] = "FlowStartTime",
    [K_FLOW_END] = "FlowEndTime", [K_FLOW_TYPE] = "FlowType", [K_SRC_IP] = "SrcIP",
    [K_DEST_IP] = "DestIP", [K_VM_IP] = "VMIPAddress", [K_EXT_IPS] = "AllExtIPs",
    [K_L4] = "L4Protocol", [K_L7] = "L7Protocol", [K_DEST_PORT] = "DestPort",
    [K_DIRECTION] = "FlowDirection", [K_ALLOWED_IN] = "AllowedInFlows",
    [K_ALLOWED_OUT] = "AllowedOutFlows", [K_DENIED_IN] = "DeniedInFlows",
    [K_DENIED_OUT] = "DeniedOutFlows", [K_VM_NAME] = "VMName",
    [K_RESOURCE_GROUP] = "ResourceGroup", [K_REMOTE_REGION] = "RemoteRegion",
    [K_VM_REGION] = "VMRegion",
};

/* Top-level scalars of a flow record copied onto each tuple's event. */
static const int copied_keys[] = {K_TIME, K_SYSTEM_ID, K_MAC, K_CATEGORY, K_RESOURCE_ID,
                                  K_OPERATION};

/* Fields written. */
enum {
    F_TIMESTAMP,
    F_KIND,
    F_CATEGORY,
    F_TYPE,
    F_ACTION,
    F_PROVIDER,
    F_DATASET,
    F_START,
    F_END,
    F_DIRECTION,
    F_TRANSPORT,
    F_PROTOCOL,
    F_SRC_IP,
    F_SRC_PORT,
    F_DST_IP,
    F_DST_PORT,
    F_SRC_PACKETS,
    F_SRC_BYTES,
    F_DST_PACKETS,
    F_DST_BYTES,
    F_NET_PACKETS,
    F_NET_BYTES,
    F_RULE,
    F_MAC,
    F_VERSION,
    F_TUPLE,
    F_RESOURCE_ID,
    F_RESOURCE_GROUP,
    F_CLOUD_PROVIDER,
    F_CLOUD_ACCOUNT,
    F_HOST_NAME,
    F_VIGIL_HOST,
    F_NA_FLOW_TYPE,
    F_NA_ALLOWED_IN,
    F_NA_ALLOWED_OUT,
    F_NA_DENIED_IN,
    F_NA_DENIED_OUT,
    F_NA_REMOTE_REGION,
    F_NA_VM_REGION,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_TIMESTAMP] = "@timestamp", [F_KIND] = "event.kind", [F_CATEGORY] = "event.category",
    [F_TYPE] = "event.type", [F_ACTION] = "event.action", [F_PROVIDER] = "event.provider",
    [F_DATASET] = "event.dataset", [F_START] = "event.start", [F_END] = "event.end",
    [F_DIRECTION] = "network.direction", [F_TRANSPORT] = "network.transport",
    [F_PROTOCOL] = "network.protocol", [F_SRC_IP] = "source.ip", [F_SRC_PORT] = "source.port",
    [F_DST_IP] = "destination.ip", [F_DST_PORT] = "destination.port",
    [F_SRC_PACKETS] = "source.packets", [F_SRC_BYTES] = "source.bytes",
    [F_DST_PACKETS] = "destination.packets", [F_DST_BYTES] = "destination.bytes",
    [F_NET_PACKETS] = "network.packets", [F_NET_BYTES] = "network.bytes",
    [F_RULE] = "azure.nsg.rule", [F_MAC] = "azure.nsg.mac", [F_VERSION] = "azure.nsg.version",
    [F_TUPLE] = "azure.nsg.flow_tuple", [F_RESOURCE_ID] = "azure.resource.id",
    [F_RESOURCE_GROUP] = "azure.resource.group", [F_CLOUD_PROVIDER] = "cloud.provider",
    [F_CLOUD_ACCOUNT] = "cloud.account.id", [F_HOST_NAME] = "host.name",
    [F_VIGIL_HOST] = "vigil.host", [F_NA_FLOW_TYPE] = "azure.networkanalytics.flow_type",
    [F_NA_ALLOWED_IN] = "azure.networkanalytics.allowed_in_flows",
    [F_NA_ALLOWED_OUT] = "azure.networkanalytics.allowed_out_flows",
    [F_NA_DENIED_IN] = "azure.networkanalytics.denied_in_flows",
    [F_NA_DENIED_OUT] = "azure.networkanalytics.denied_out_flows",
    [F_NA_REMOTE_REGION] = "azure.networkanalytics.remote_region",
    [F_NA_VM_REGION] = "azure.networkanalytics.vm_region",
};

typedef struct nsg_source {
    const vgl_host *h;
    az_ctx c;
    az_copier cp; /* members of Traffic Analytics rows inside an envelope */
    size_t max_tuples;
    az_key keys[K_COUNT];
    const vgl_path *f[F_COUNT];
    vgl_plugin_metric *m_tuples, *m_rows, *m_skipped;
} nsg_source;

/* One parsed flow tuple. */
typedef struct flow_tuple {
    int version; /* 1 or 2 (by field count) */
    int64_t ts_ms;
    const char *src, *dst;
    size_t srclen, dstlen;
    int sport, dport;
    char proto, dir, decision, state; /* state 0 in version 1 */
    bool has_count[4];
    int64_t count[4]; /* packets S2D, bytes S2D, packets D2S, bytes D2S */
} flow_tuple;

/* What a record contributes, shared by the check and the emit pass. */
typedef struct flow_record {
    const az_rec *rec;
    const char *resource_id;
    size_t resource_id_len;
    bool has_version;
    int64_t version;
} flow_record;

/* --------------------------------------------------------------- init */

static void nsg_destroy(void *inst)
{
    nsg_source *n = inst;
    if (!n)
        return;
    az_ctx_free(&n->c);
    az_copier_free(&n->cp);
    free(n);
}

static void *nsg_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                      size_t errlen)
{
    int64_t max = 0;
    host->config_int(cfg, "max_tuples_per_record", &max);
    if (max < 1 || max > MAX_TUPLES_LIMIT) {
        snprintf(err, errlen, "max_tuples_per_record must be between 1 and %d, got %lld",
                 MAX_TUPLES_LIMIT, (long long)max);
        return NULL;
    }
    nsg_source *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->h = host;
    n->max_tuples = (size_t)max;
    /* strings of one record: a few per flow group and TA row */
    if (!az_ctx_init(&n->c, host, 0, 16u << 20) || !az_copier_init(&n->cp, host)) {
        nsg_destroy(n);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int k = 0; k < K_COUNT; k++) {
        n->keys[k].name = key_names[k];
        n->keys[k].path = host->path(host, key_names[k]);
    }
    for (int f = 0; f < F_COUNT; f++)
        n->f[f] = host->path(host, field_names[f]);
    n->m_tuples = host->metric(host, VGL_METRIC_COUNTER, "nsg_flow_tuples_total", NULL,
                               "NSG flow tuples turned into events");
    n->m_rows = host->metric(host, VGL_METRIC_COUNTER, "nsg_analytics_rows_total", NULL,
                             "Traffic Analytics rows normalized");
    n->m_skipped = host->metric(host, VGL_METRIC_COUNTER, "nsg_fields_skipped_total", NULL,
                                "values too long to normalize (kept in the original only)");
    return n;
}

/* ------------------------------------------------------------ tuples */

static bool all_digits(const char *s, size_t len, size_t maxlen)
{
    if (len == 0 || len > maxlen)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int64_t digits_value(const char *s, size_t len)
{
    int64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static const char *const tuple_field_names[13] = {
    "timestamp", "source IP", "destination IP", "source port", "destination port",
    "protocol", "direction", "decision", "flow state", "packets sent",
    "bytes sent", "packets received", "bytes received",
};

/* Parse one tuple. The reason says what is wrong, without the place
 * (" has 7 fields, ...", ": source IP ... is invalid"): the caller puts
 * the tuple's name before it, formatted only then. */
static bool parse_tuple(az_ctx *c, const char *s, size_t len, flow_tuple *t)
{
    const char *f[14];
    size_t fl[14], nf = 0;
    const char *p = s, *end = s + len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *fe = comma ? comma : end;
        if (nf == 14)
            break;
        f[nf] = p;
        fl[nf] = (size_t)(fe - p);
        nf++;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (nf == 14 || (nf != 13 && nf != 8)) {
        /* count them all for the message */
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total += s[i] == ',';
        return az_fail(c, " has %zu fields, expected 13 (version 2) or 8 (version 1)", total);
    }
    memset(t, 0, sizeof(*t));
    t->version = nf == 13 ? 2 : 1;
    char q[80];
#define BAD(i) \
    az_fail(c, ": %s \"%s\" is invalid", tuple_field_names[i], \
            az_quote(q, sizeof(q), f[i], fl[i]))
    if (!all_digits(f[0], fl[0], 12))
        return BAD(0);
    t->ts_ms = digits_value(f[0], fl[0]) * 1000;
    if (!az_ip_valid(f[1], fl[1]))
        return BAD(1);
    if (!az_ip_valid(f[2], fl[2]))
        return BAD(2);
    t->src = f[1];
    t->srclen = fl[1];
    t->dst = f[2];
    t->dstlen = fl[2];
    if (!all_digits(f[3], fl[3], 5) || digits_value(f[3], fl[3]) > 65535)
        return BAD(3);
    if (!all_digits(f[4], fl[4], 5) || digits_value(f[4], fl[4]) > 65535)
        return BAD(4);
    t->sport = (int)digits_value(f[3], fl[3]);
    t->dport = (int)digits_value(f[4], fl[4]);
    if (fl[5] != 1 || (f[5][0] != 'T' && f[5][0] != 'U'))
        return BAD(5);
    if (fl[6] != 1 || (f[6][0] != 'I' && f[6][0] != 'O'))
        return BAD(6);
    if (fl[7] != 1 || (f[7][0] != 'A' && f[7][0] != 'D'))
        return BAD(7);
    t->proto = f[5][0];
    t->dir = f[6][0];
    t->decision = f[7][0];
    if (t->version == 1)
        return true;
    if (fl[8] != 1 || (f[8][0] != 'B' && f[8][0] != 'C' && f[8][0] != 'E'))
        return BAD(8);
    t->state = f[8][0];
    for (int i = 0; i < 4; i++) {
        if (fl[9 + i] == 0)
            continue; /* empty in begin tuples */
        if (!all_digits(f[9 + i], fl[9 + i], 18))
            return BAD(9 + i);
        t->has_count[i] = true;
        t->count[i] = digits_value(f[9 + i], fl[9 + i]);
    }
    return true;
#undef BAD
}

static void write_tuple(nsg_source *n, az_out *o, const flow_record *fr, const char *rule,
                        size_t rulelen, const char *mac, size_t maclen, const char *raw,
                        size_t rawlen, const flow_tuple *t)
{
    const vgl_path *const *f = n->f;
    az_put_time(o, f[F_TIMESTAMP], t->ts_ms);
    az_put_cstr(o, f[F_KIND], "event");
    az_put_cstr(o, f[F_CATEGORY], "network");
    az_put_cstr(o, f[F_TYPE], t->decision == 'A' ? "allowed" : "denied");
    if (t->state)
        az_put_cstr(o, f[F_ACTION], t->state == 'B'   ? "flow-begin"
                                    : t->state == 'C' ? "flow-continue"
                                                      : "flow-end");
    az_put_cstr(o, f[F_PROVIDER], "NSG");
    az_put_cstr(o, f[F_DATASET], "azure.nsgflow");
    az_put_cstr(o, f[F_DIRECTION], t->dir == 'I' ? "inbound" : "outbound");
    az_put_cstr(o, f[F_TRANSPORT], t->proto == 'T' ? "tcp" : "udp");
    az_put_str(o, f[F_SRC_IP], t->src, t->srclen);
    az_put_int(o, f[F_SRC_PORT], t->sport);
    az_put_str(o, f[F_DST_IP], t->dst, t->dstlen);
    az_put_int(o, f[F_DST_PORT], t->dport);
    static const int count_fields[4] = {F_SRC_PACKETS, F_SRC_BYTES, F_DST_PACKETS, F_DST_BYTES};
    for (int i = 0; i < 4; i++)
        if (t->has_count[i])
            az_put_int(o, f[count_fields[i]], t->count[i]);
    if (t->has_count[0] && t->has_count[2])
        az_put_int(o, f[F_NET_PACKETS], t->count[0] + t->count[2]);
    if (t->has_count[1] && t->has_count[3])
        az_put_int(o, f[F_NET_BYTES], t->count[1] + t->count[3]);
    az_put_str(o, f[F_RULE], rule, rulelen);
    az_put_str(o, f[F_MAC], mac, maclen);
    if (fr->has_version)
        az_put_int(o, f[F_VERSION], fr->version);
    az_put_str(o, f[F_TUPLE], raw, rawlen);
    az_put_cstr(o, f[F_CLOUD_PROVIDER], "azure");
    if (fr->resource_id) {
        az_put_str(o, f[F_RESOURCE_ID], fr->resource_id, fr->resource_id_len);
        const char *sub, *rg;
        size_t sublen, rglen;
        az_resource_parts(fr->resource_id, fr->resource_id_len, &sub, &sublen, &rg, &rglen);
        if (sub) /* a GUID, upper-case in NSG resource ids */
            az_put_cstr(o, f[F_CLOUD_ACCOUNT], az_lower(o->c, sub, sublen));
        az_put_str(o, f[F_RESOURCE_GROUP], rg, rglen);
    }
}

/* An array member of obj that must be present. */
static bool need_array(az_ctx *c, const az_val *obj, const char *objname, const char *key,
                       az_val *out)
{
    if (!az_member(c, obj, objname, key, out))
        return false;
    if (out->t == AZ_MISSING || out->t == AZ_NULL)
        return az_fail(c, "%s.%s is missing", objname, key);
    if (out->t != AZ_ARR)
        return az_fail(c, "%s.%s is %s, expected an array", objname, key,
                       az_type_name(out->t));
    return true;
}

/* Walk every tuple of a flow record. With batch NULL only check and count
 * (*ntuples grows); else emit one event per tuple after origin. */
static bool flow_record_walk(nsg_source *n, const flow_record *fr, const az_val *props,
                             vgl_batch *batch, size_t origin, size_t *ntuples, size_t total)
{
    const vgl_host *h = n->h;
    az_ctx *c = &n->c;
    az_val flows;
    if (!need_array(c, props, "properties", "flows", &flows))
        return false;
    size_t nflows = h->value_count(flows.tree);
    for (size_t i = 0; i < nflows; i++) {
        char gname[64];
        snprintf(gname, sizeof(gname), "properties.flows[%zu]", i);
        az_val group, rulev, inner;
        az_from_tree(h, h->value_at(flows.tree, i), &group);
        if (group.t != AZ_OBJ)
            return az_fail(c, "%s is %s, expected an object", gname, az_type_name(group.t));
        const char *rule;
        size_t rulelen;
        if (!az_member(c, &group, gname, "rule", &rulev))
            return false;
        char rname[80];
        snprintf(rname, sizeof(rname), "%s.rule", gname);
        if (!az_str(c, &rulev, rname, &rule, &rulelen))
            return false;
        if (!need_array(c, &group, gname, "flows", &inner))
            return false;
        size_t ninner = h->value_count(inner.tree);
        for (size_t j = 0; j < ninner; j++) {
            char fname[96];
            snprintf(fname, sizeof(fname), "%s.flows[%zu]", gname, j);
            az_val flow, macv, tuples;
            az_from_tree(h, h->value_at(inner.tree, j), &flow);
            if (flow.t != AZ_OBJ)
                return az_fail(c, "%s is %s, expected an object", fname, az_type_name(flow.t));
            const char *mac;
            size_t maclen;
            char mname[112];
            snprintf(mname, sizeof(mname), "%s.mac", fname);
            if (!az_member(c, &flow, fname, "mac", &macv) ||
                !az_str(c, &macv, mname, &mac, &maclen))
                return false;
            if (!need_array(c, &flow, fname, "flowTuples", &tuples))
                return false;
            size_t nt = h->value_count(tuples.tree);
            for (size_t k = 0; k < nt; k++) {
                az_val tv;
                az_from_tree(h, h->value_at(tuples.tree, k), &tv);
                flow_tuple t;
                bool ok = tv.t == AZ_STR
                              ? parse_tuple(c, tv.s, tv.len, &t)
                              : az_fail(c, " is %s, expected a string", az_type_name(tv.t));
                if (!ok) {
                    char tname[160];
                    snprintf(tname, sizeof(tname), "%s.flowTuples[%zu]", fname, k);
                    az_reason_prefix(c, tname);
                    return false;
                }
                if (!batch) {
                    if (++*ntuples > n->max_tuples)
                        return true; /* the caller reports the total */
                    continue;
                }
                vgl_event *out = h->batch_emit_new(batch, origin);
                if (!out)
                    return az_fail(c,
                                   "cannot expand the record: the batch's event limit was "
                                   "reached after %zu of %zu flow tuples",
                                   *ntuples, total);
                (*ntuples)++;
                for (size_t x = 0; x < sizeof(copied_keys) / sizeof(copied_keys[0]); x++) {
                    az_val v;
                    az_field(c, fr->rec, &n->keys[copied_keys[x]], &v);
                    if (v.tree && v.t != AZ_OBJ && v.t != AZ_ARR &&
                        h->set_value(out, n->keys[copied_keys[x]].path, v.tree) != VGL_OK)
                        return az_fail(c, "cannot copy %s: the event's memory limit is reached",
                                       key_names[copied_keys[x]]);
                }
                az_out o;
                az_out_start(&o, c, out);
                write_tuple(n, &o, fr, rule, rulelen, mac, maclen, tv.s, tv.len, &t);
                if (!az_out_ok(&o))
                    return false;
                h->counter_add(n->m_tuples, 1);
            }
        }
    }
    return true;
}

/* Read what a flow record shares with all its tuples. */
static bool flow_record_start(nsg_source *n, const az_rec *rec, flow_record *fr, az_val *props)
{
    az_ctx *c = &n->c;
    memset(fr, 0, sizeof(*fr));
    fr->rec = rec;
    az_field(c, rec, &n->keys[K_PROPERTIES], props);
    if (props->t != AZ_OBJ)
        return az_fail(c, "properties is %s, expected an object", az_type_name(props->t));
    az_val v;
    az_field(c, rec, &n->keys[K_RESOURCE_ID], &v);
    if (!az_str(c, &v, "resourceId", &fr->resource_id, &fr->resource_id_len))
        return false;
    if (!az_member(c, props, "properties", "Version", &v))
        return false;
    double ver;
    if (!az_num(c, &v, "properties.Version", &ver, &fr->has_version))
        return false;
    if (fr->has_version) {
        if (ver != 1 && ver != 2)
            return az_fail(c, "properties.Version is %g, expected 1 or 2", ver);
        fr->version = (int64_t)ver;
    }
    return true;
}

/* ---------------------------------------------------- traffic analytics */

typedef struct ta_row {
    int64_t time_ms, start_ms, end_ms; /* event time: FlowStartTime, else TimeGenerated */
    bool has_time, has_start, has_end;
    const char *flow_type, *src, *dst, *l7, *vm, *rg, *remote_region, *vm_region;
    size_t flow_type_len, src_len, dst_len, l7_len, vm_len, rg_len, remote_region_len,
        vm_region_len;
    char l4, dir;
    bool has_port;
    int port;
    bool has_count[4];
    int64_t count[4]; /* allowed in, allowed out, denied in, denied out */
} ta_row;

static bool ta_time(nsg_source *n, const az_rec *rec, int key, int64_t *ms, bool *present)
{
    az_ctx *c = &n->c;
    az_val v;
    const char *s;
    size_t len;
    *present = false;
    az_field(c, rec, &n->keys[key], &v);
    if (!az_str(c, &v, key_names[key], &s, &len))
        return false;
    if (!s || len == 0)
        return true;
    char q[80];
    if (!n->h->time_parse(s, len, ms))
        return az_fail(c, "%s \"%s\" is not a time", key_names[key], az_quote(q, sizeof(q), s,
                                                                               len));
    *present = true;
    return true;
}

static bool ta_str(nsg_source *n, const az_rec *rec, int key, const char **s, size_t *len)
{
    az_val v;
    az_field(&n->c, rec, &n->keys[key], &v);
    return az_str(&n->c, &v, key_names[key], s, len);
}

/* "T"/"U" (also "tcp"/"udp"), "I"/"O": one letter in upper case, or 0. */
static char first_upper(const char *s, size_t len)
{
    if (!s || len == 0)
        return 0;
    return s[0] >= 'a' && s[0] <= 'z' ? (char)(s[0] - 32) : s[0];
}

static bool ta_read(nsg_source *n, const az_rec *rec, ta_row *r)
{
    az_ctx *c = &n->c;
    memset(r, 0, sizeof(*r));
    char q[80];
    if (!ta_time(n, rec, K_FLOW_START, &r->start_ms, &r->has_start) ||
        !ta_time(n, rec, K_FLOW_END, &r->end_ms, &r->has_end))
        return false;
    r->time_ms = r->start_ms;
    r->has_time = r->has_start;
    if (!r->has_time && !ta_time(n, rec, K_TIME_GENERATED, &r->time_ms, &r->has_time))
        return false;
    const char *dir, *l4, *src, *dst, *vmip, *ext;
    size_t dirlen, l4len, srclen, dstlen, vmiplen, extlen;
    if (!ta_str(n, rec, K_FLOW_TYPE, &r->flow_type, &r->flow_type_len) ||
        !ta_str(n, rec, K_DIRECTION, &dir, &dirlen) || !ta_str(n, rec, K_L4, &l4, &l4len) ||
        !ta_str(n, rec, K_L7, &r->l7, &r->l7_len) || !ta_str(n, rec, K_SRC_IP, &src, &srclen) ||
        !ta_str(n, rec, K_DEST_IP, &dst, &dstlen) || !ta_str(n, rec, K_VM_IP, &vmip, &vmiplen) ||
        !ta_str(n, rec, K_EXT_IPS, &ext, &extlen) ||
        !ta_str(n, rec, K_VM_NAME, &r->vm, &r->vm_len) ||
        !ta_str(n, rec, K_RESOURCE_GROUP, &r->rg, &r->rg_len) ||
        !ta_str(n, rec, K_REMOTE_REGION, &r->remote_region, &r->remote_region_len) ||
        !ta_str(n, rec, K_VM_REGION, &r->vm_region, &r->vm_region_len))
        return false;
    if (!dir || dirlen == 0)
        return az_fail(c, "FlowDirection is missing");
    r->dir = first_upper(dir, dirlen);
    if (dirlen != 1 || (r->dir != 'I' && r->dir != 'O'))
        return az_fail(c, "FlowDirection \"%s\" is not I or O", az_quote(q, sizeof(q), dir,
                                                                         dirlen));
    if (l4 && l4len) {
        r->l4 = first_upper(l4, l4len);
        if (l4len != 1 || (r->l4 != 'T' && r->l4 != 'U'))
            return az_fail(c, "L4Protocol \"%s\" is not T or U", az_quote(q, sizeof(q), l4,
                                                                          l4len));
    }
    az_val v;
    double d;
    az_field(c, rec, &n->keys[K_DEST_PORT], &v);
    if (!az_num(c, &v, "DestPort", &d, &r->has_port))
        return false;
    if (r->has_port) {
        if (d < 0 || d > 65535 || d != (double)(int)d)
            return az_fail(c, "DestPort %g is not a port number", d);
        r->port = (int)d;
    }
    static const int count_keys[4] = {K_ALLOWED_IN, K_ALLOWED_OUT, K_DENIED_IN, K_DENIED_OUT};
    for (int i = 0; i < 4; i++) {
        az_field(c, rec, &n->keys[count_keys[i]], &v);
        if (!az_num(c, &v, key_names[count_keys[i]], &d, &r->has_count[i]))
            return false;
        if (r->has_count[i]) {
            if (d < 0 || d > 1e15 || d != (double)(int64_t)d)
                return az_fail(c, "%s %g is not a count", key_names[count_keys[i]], d);
            r->count[i] = (int64_t)d;
        }
    }
    /* The addresses: IntraVNet rows name both ends; public ones name the
     * VM and the external address, the direction saying which is which. */
    if (src && dst && srclen && dstlen) {
        r->src = src, r->src_len = srclen;
        r->dst = dst, r->dst_len = dstlen;
    } else if (r->dir == 'O') {
        r->src = vmip, r->src_len = vmiplen;
        r->dst = ext, r->dst_len = extlen;
    } else {
        r->src = ext, r->src_len = extlen;
        r->dst = vmip, r->dst_len = vmiplen;
    }
    if (r->src && !az_ip_useful(r->src, r->src_len))
        r->src = NULL;
    if (r->dst && !az_ip_valid(r->dst, r->dst_len))
        r->dst = NULL;
    return true;
}

static void ta_write(nsg_source *n, az_out *o, const ta_row *r)
{
    const vgl_path *const *f = n->f;
    if (r->has_time)
        az_put_time(o, f[F_TIMESTAMP], r->time_ms);
    char buf[32];
    size_t bl;
    if (r->has_start && (bl = az_time_format(r->start_ms, buf, sizeof(buf))))
        az_put_str(o, f[F_START], buf, bl);
    if (r->has_end && (bl = az_time_format(r->end_ms, buf, sizeof(buf))))
        az_put_str(o, f[F_END], buf, bl);
    az_put_cstr(o, f[F_KIND], "event");
    az_put_cstr(o, f[F_CATEGORY], "network");
    int64_t allowed = r->count[0] + r->count[1], denied = r->count[2] + r->count[3];
    az_put_cstr(o, f[F_TYPE], allowed > 0 && denied == 0   ? "allowed"
                              : denied > 0 && allowed == 0 ? "denied"
                                                           : "connection");
    az_put_cstr(o, f[F_ACTION], "flow-summary");
    az_put_cstr(o, f[F_PROVIDER], "AzureNetworkAnalytics");
    az_put_cstr(o, f[F_DATASET], "azure.networkanalytics");
    az_put_cstr(o, f[F_DIRECTION], r->dir == 'I' ? "inbound" : "outbound");
    if (r->l4)
        az_put_cstr(o, f[F_TRANSPORT], r->l4 == 'T' ? "tcp" : "udp");
    if (r->l7)
        az_put_cstr(o, f[F_PROTOCOL], az_lower(o->c, r->l7, r->l7_len));
    az_put_str(o, f[F_SRC_IP], r->src, r->src_len);
    az_put_str(o, f[F_DST_IP], r->dst, r->dst_len);
    if (r->has_port)
        az_put_int(o, f[F_DST_PORT], r->port);
    static const int count_fields[4] = {F_NA_ALLOWED_IN, F_NA_ALLOWED_OUT, F_NA_DENIED_IN,
                                        F_NA_DENIED_OUT};
    for (int i = 0; i < 4; i++)
        if (r->has_count[i])
            az_put_int(o, f[count_fields[i]], r->count[i]);
    az_put_str(o, f[F_NA_FLOW_TYPE], r->flow_type, r->flow_type_len);
    az_put_str(o, f[F_NA_REMOTE_REGION], r->remote_region, r->remote_region_len);
    az_put_str(o, f[F_NA_VM_REGION], r->vm_region, r->vm_region_len);
    az_put_cstr(o, f[F_CLOUD_PROVIDER], "azure");
    az_put_str(o, f[F_RESOURCE_GROUP], r->rg, r->rg_len);
    if (r->vm && r->vm_len) {
        az_put_str(o, f[F_HOST_NAME], r->vm, r->vm_len);
        const char *dot = memchr(r->vm, '.', r->vm_len);
        size_t l = dot ? (size_t)(dot - r->vm) : r->vm_len;
        az_put_cstr(o, f[F_VIGIL_HOST], az_lower(o->c, r->vm, l));
    }
}

/* ------------------------------------------------------------ process */

typedef enum record_kind { REC_FLOW, REC_ANALYTICS } record_kind;

static bool classify(nsg_source *n, const az_rec *rec, record_kind *kind)
{
    az_val v;
    az_field(&n->c, rec, &n->keys[K_PROPERTIES], &v);
    if (v.t != AZ_MISSING) {
        *kind = REC_FLOW;
        return true;
    }
    az_field(&n->c, rec, &n->keys[K_FLOW_TYPE], &v);
    if (v.t == AZ_MISSING)
        az_field(&n->c, rec, &n->keys[K_DIRECTION], &v);
    if (v.t != AZ_MISSING) {
        *kind = REC_ANALYTICS;
        return true;
    }
    return az_fail(&n->c, "not an NSG flow log record (no properties) nor a Traffic Analytics "
                          "row (no FlowType or FlowDirection)");
}

/* One input event: check everything, then emit or normalize in place. */
static bool process_one(nsg_source *n, vgl_batch *batch, size_t i, vgl_event *ev)
{
    const vgl_host *h = n->h;
    az_ctx *c = &n->c;
    const vgl_value *items = NULL;
    int env = az_envelope(c, ev, n->keys[K_RECORDS].path, n->max_tuples, &items);
    if (env < 0)
        return false;
    size_t nrec = env ? h->value_count(items) : 1;

    /* pass 1: check every record, count the events */
    size_t total = 0;
    for (size_t r = 0; r < nrec; r++) {
        az_rec rec = {.ev = ev, .obj = env ? h->value_at(items, r) : NULL};
        record_kind kind;
        bool ok;
        if (!classify(n, &rec, &kind))
            ok = false;
        else if (kind == REC_FLOW) {
            flow_record fr;
            az_val props;
            ok = flow_record_start(n, &rec, &fr, &props) &&
                 flow_record_walk(n, &fr, &props, NULL, i, &total, 0);
        } else {
            ta_row row;
            ok = ta_read(n, &rec, &row);
            total++;
        }
        if (!ok) {
            if (env) { /* name the record */
                char prefix[40];
                snprintf(prefix, sizeof(prefix), "records[%zu]: ", r);
                az_reason_prefix(c, prefix);
            }
            return false;
        }
        if (total > n->max_tuples)
            return az_fail(c, "the record holds more than %zu flow tuples (max_tuples_per_record)",
                           n->max_tuples);
        az_ctx_reset(c);
    }

    /* a single Traffic Analytics row: normalized in place */
    az_rec root = {.ev = ev, .obj = NULL};
    record_kind kind0;
    if (!env && classify(n, &root, &kind0) && kind0 == REC_ANALYTICS) {
        ta_row row;
        if (!ta_read(n, &root, &row))
            return false;
        az_out o;
        az_out_start(&o, c, ev);
        ta_write(n, &o, &row);
        if (!az_out_ok(&o))
            return false;
        h->counter_add(n->m_rows, 1);
        return true;
    }

    /* pass 2: emit */
    size_t done = 0;
    for (size_t r = 0; r < nrec; r++) {
        az_ctx_reset(c);
        az_rec rec = {.ev = ev, .obj = env ? h->value_at(items, r) : NULL};
        record_kind kind;
        if (!classify(n, &rec, &kind))
            return false;
        if (kind == REC_FLOW) {
            flow_record fr;
            az_val props;
            if (!flow_record_start(n, &rec, &fr, &props) ||
                !flow_record_walk(n, &fr, &props, batch, i, &done, total))
                return false;
            continue;
        }
        ta_row row;
        if (!ta_read(n, &rec, &row))
            return false;
        vgl_event *out = h->batch_emit_new(batch, i);
        if (!out)
            return az_fail(c, "cannot expand the record: the batch's event limit was reached "
                              "after %zu of %zu events", done, total);
        done++;
        /* Traffic Analytics rows are flat: copy all their members */
        if (az_copy_members(&n->cp, out, rec.obj, false) != VGL_OK)
            return az_fail(c, "cannot copy records[%zu]: the event's memory limit is reached", r);
        az_out o;
        az_out_start(&o, c, out);
        ta_write(n, &o, &row);
        if (!az_out_ok(&o))
            return false;
        h->counter_add(n->m_rows, 1);
    }
    h->batch_drop(batch, i); /* replaced by its flows */
    return true;
}

static vgl_rc nsg_process(void *inst, vgl_batch *batch)
{
    nsg_source *n = inst;
    const vgl_host *h = n->h;
    size_t count = h->batch_count(batch);
    for (size_t i = 0; i < count; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        az_ctx_reset(&n->c);
        n->c.skipped = 0;
        if (!process_one(n, batch, i, ev))
            h->batch_fail(batch, i, n->c.reason);
        uint64_t skipped = n->c.skipped + n->cp.skipped;
        n->cp.skipped = 0;
        if (skipped)
            h->counter_add(n->m_skipped, skipped);
    }
    az_ctx_reset(&n->c);
    return VGL_OK;
}

static const vgl_plugin_option nsg_options[] = {
    {.name = "max_tuples_per_record", .type = VGL_OPT_INT, .default_value = "10000",
     .description = "most flow tuples (events) one input record may expand to; more "
                    "dead-letters the record"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "nsg-flow",
    .version = "1.0.0",
    .description = "Azure NSG flow logs (v1/v2, one event per flow tuple) and Traffic "
                   "Analytics rows",
    .kind = VGL_PLUGIN_SOURCE,
    .threading = VGL_THREADING_PER_WORKER,
    .options = nsg_options,
    .init = nsg_init,
    .process = nsg_process,
    .destroy = nsg_destroy,
};
