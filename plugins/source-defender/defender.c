/*
 * vigil-source-defender.so: normalizes Microsoft security alerts and
 * Defender for Endpoint device events to the ECS fields of docs/fields.md
 * ("Defender"), beside the original fields.
 *
 * Record shapes, recognized per record in this order:
 *   cloud     Defender for Cloud alert: properties.alertDisplayName, ...
 *   sentinel  Sentinel SecurityAlert row: AlertDisplayName/AlertName; its
 *             Entities and ExtendedProperties columns are JSON text
 *             (parsed here with embedded_json.c) or already JSON values;
 *   graph     Defender XDR, Graph security alert_v2: title, severity,
 *             category, mitreTechniques[], evidence[];
 *   hunting   Defender XDR AlertInfo/AlertEvidence rows: AlertId, Title;
 *   mde       MDE process-creation events (CreatedProcess*, MachineId);
 *   device    Advanced Hunting Device*Events: ActionType + DeviceName.
 * Anything else is not a Defender record and is dead-lettered with a
 * reason (option on_unknown). Embedded JSON that does not parse does not
 * lose the alert: the error is written to defender.entities_error /
 * defender.extended_properties_error and the alert is normalized from its
 * other columns (README.md).
 *
 * Per-worker instances: each owns the parser's buffers (allocated once).
 * Event strings are never held across a write to the event: values that
 * are needed after a write are copied to bounded local buffers first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#include "../source-winevent/ecs_norm.h"
#include "embedded_json.h"

/* embedded JSON limits: nesting and values per Entities/ExtendedProperties */
#define EJ_MAX_DEPTH 32
#define EJ_MAX_VALUES 16384
/* entity walk over JSON values of the record itself */
#define WALK_MAX_NODES 4096
#define WALK_MAX_DEPTH 16
/* longest path built by joining a folder and a file name */
#define PATH_MAX_JOIN 4096

typedef enum in_field {
    /* Sentinel SecurityAlert */
    I_ALERT_DISPLAY_NAME, I_ALERT_NAME, I_ALERT_TYPE, I_SEVERITY, I_ALERT_SEVERITY,
    I_SYSTEM_ALERT_ID, I_DESCRIPTION, I_COMPROMISED_ENTITY, I_ENTITIES, I_EXTENDED_PROPERTIES,
    I_TACTICS, I_TECHNIQUES, I_TIME_GENERATED, I_START_TIME_UTC, I_PROVIDER_NAME,
    /* Graph alert_v2 */
    I_G_TITLE, I_G_SEVERITY, I_G_CATEGORY, I_G_MITRE, I_G_EVIDENCE, I_G_CREATED, I_G_ID,
    I_G_DESCRIPTION, I_G_SERVICE_SOURCE,
    /* AlertInfo / AlertEvidence, Device*Events */
    I_TITLE, I_ALERT_ID, I_CATEGORY, I_ATTACK_TECHNIQUES, I_TIMESTAMP, I_ACTION_TYPE,
    I_DEVICE_NAME, I_DEVICE_ID, I_ACCOUNT_NAME, I_ACCOUNT_DOMAIN, I_ACCOUNT_SID,
    I_ACCOUNT_UPN, I_REMOTE_IP, I_REMOTE_PORT, I_LOCAL_IP, I_LOCAL_PORT, I_PROTOCOL,
    I_FILE_NAME, I_FOLDER_PATH, I_PROCESS_COMMAND_LINE, I_PROCESS_ID, I_SHA256, I_MD5,
    I_INIT_FILE_NAME, I_INIT_FOLDER_PATH, I_INIT_COMMAND_LINE, I_INIT_ID,
    I_INIT_ACCOUNT_NAME, I_INIT_ACCOUNT_DOMAIN, I_INIT_ACCOUNT_SID, I_FAILURE_REASON,
    I_REGISTRY_KEY, I_REGISTRY_VALUE_NAME, I_LOGON_TYPE,
    /* Defender for Cloud */
    I_P, I_P_DISPLAY_NAME, I_P_ALERT_TYPE, I_P_SEVERITY, I_P_DESCRIPTION, I_P_INTENT,
    I_P_TECHNIQUES, I_P_COMPROMISED, I_P_ENTITIES, I_P_TIME_GENERATED, I_P_START_TIME,
    I_P_SYSTEM_ALERT_ID, I_ID,
    /* MDE process creation */
    I_CP_NAME, I_CP_PATH, I_CP_CMD, I_CP_ID, I_CP_SHA256, I_CP_MD5, I_CP_ACCOUNT,
    I_CP_DOMAIN, I_CP_SID, I_CP_TIME, I_IP_NAME, I_IP_PATH, I_IP_ID, I_PROCESS_CMDLINE_MDE,
    I_MACHINE_ID, I_COMPUTER_DNS_NAME, I_REPORT_TIME,
    N_IN
} in_field;

static const char *const in_names[N_IN] = {
    [I_ALERT_DISPLAY_NAME] = "AlertDisplayName", [I_ALERT_NAME] = "AlertName",
    [I_ALERT_TYPE] = "AlertType", [I_SEVERITY] = "Severity",
    [I_ALERT_SEVERITY] = "AlertSeverity", [I_SYSTEM_ALERT_ID] = "SystemAlertId",
    [I_DESCRIPTION] = "Description", [I_COMPROMISED_ENTITY] = "CompromisedEntity",
    [I_ENTITIES] = "Entities", [I_EXTENDED_PROPERTIES] = "ExtendedProperties",
    [I_TACTICS] = "Tactics", [I_TECHNIQUES] = "Techniques",
    [I_TIME_GENERATED] = "TimeGenerated", [I_START_TIME_UTC] = "StartTimeUtc",
    [I_PROVIDER_NAME] = "ProviderName",
    [I_G_TITLE] = "title", [I_G_SEVERITY] = "severity", [I_G_CATEGORY] = "category",
    [I_G_MITRE] = "mitreTechniques", [I_G_EVIDENCE] = "evidence",
    [I_G_CREATED] = "createdDateTime", [I_G_ID] = "id", [I_G_DESCRIPTION] = "description",
    [I_G_SERVICE_SOURCE] = "serviceSource",
    [I_TITLE] = "Title", [I_ALERT_ID] = "AlertId", [I_CATEGORY] = "Category",
    [I_ATTACK_TECHNIQUES] = "AttackTechniques", [I_TIMESTAMP] = "Timestamp",
    [I_ACTION_TYPE] = "ActionType", [I_DEVICE_NAME] = "DeviceName",
    [I_DEVICE_ID] = "DeviceId", [I_ACCOUNT_NAME] = "AccountName",
    [I_ACCOUNT_DOMAIN] = "AccountDomain", [I_ACCOUNT_SID] = "AccountSid",
    [I_ACCOUNT_UPN] = "AccountUpn", [I_REMOTE_IP] = "RemoteIP",
    [I_REMOTE_PORT] = "RemotePort", [I_LOCAL_IP] = "LocalIP", [I_LOCAL_PORT] = "LocalPort",
    [I_PROTOCOL] = "Protocol", [I_FILE_NAME] = "FileName", [I_FOLDER_PATH] = "FolderPath",
    [I_PROCESS_COMMAND_LINE] = "ProcessCommandLine", [I_PROCESS_ID] = "ProcessId",
    [I_SHA256] = "SHA256", [I_MD5] = "MD5", [I_INIT_FILE_NAME] = "InitiatingProcessFileName",
    [I_INIT_FOLDER_PATH] = "InitiatingProcessFolderPath",
    [I_INIT_COMMAND_LINE] = "InitiatingProcessCommandLine",
    [I_INIT_ID] = "InitiatingProcessId",
    [I_INIT_ACCOUNT_NAME] = "InitiatingProcessAccountName",
    [I_INIT_ACCOUNT_DOMAIN] = "InitiatingProcessAccountDomain",
    [I_INIT_ACCOUNT_SID] = "InitiatingProcessAccountSid",
    [I_FAILURE_REASON] = "FailureReason", [I_REGISTRY_KEY] = "RegistryKey",
    [I_REGISTRY_VALUE_NAME] = "RegistryValueName", [I_LOGON_TYPE] = "LogonType",
    [I_P] = "properties", [I_P_DISPLAY_NAME] = "properties.alertDisplayName",
    [I_P_ALERT_TYPE] = "properties.alertType", [I_P_SEVERITY] = "properties.severity",
    [I_P_DESCRIPTION] = "properties.description", [I_P_INTENT] = "properties.intent",
    [I_P_TECHNIQUES] = "properties.techniques",
    [I_P_COMPROMISED] = "properties.compromisedEntity",
    [I_P_ENTITIES] = "properties.entities",
    [I_P_TIME_GENERATED] = "properties.timeGeneratedUtc",
    [I_P_START_TIME] = "properties.startTimeUtc",
    [I_P_SYSTEM_ALERT_ID] = "properties.systemAlertId", [I_ID] = "id",
    [I_CP_NAME] = "CreatedProcessName", [I_CP_PATH] = "CreatedProcessFilePath",
    [I_CP_CMD] = "CreatedProcessCommandLine", [I_CP_ID] = "CreatedProcessId",
    [I_CP_SHA256] = "CreatedProcessFileSha256", [I_CP_MD5] = "CreatedProcessFileMd5",
    [I_CP_ACCOUNT] = "CreatedProcessAccountName",
    [I_CP_DOMAIN] = "CreatedProcessAccountDomainName",
    [I_CP_SID] = "CreatedProcessAccountSid", [I_CP_TIME] = "CreatedProcessCreationTime",
    [I_IP_NAME] = "InitiatingProcessName", [I_IP_PATH] = "InitiatingProcessImageFilePath",
    [I_IP_ID] = "InitiatingProcessId", [I_PROCESS_CMDLINE_MDE] = "Process_CommandLine",
    [I_MACHINE_ID] = "MachineId", [I_COMPUTER_DNS_NAME] = "ComputerDnsName",
    [I_REPORT_TIME] = "ReportTime",
};

typedef enum out_field {
    O_TIMESTAMP, O_EVENT_KIND, O_EVENT_CATEGORY, O_EVENT_TYPE, O_EVENT_ACTION, O_EVENT_ID,
    O_EVENT_OUTCOME, O_EVENT_PROVIDER, O_EVENT_DATASET, O_EVENT_SEVERITY, O_EVENT_REASON,
    O_MESSAGE, O_RULE_NAME, O_RULE_ID, O_THREAT_TECHNIQUE_ID, O_THREAT_TACTIC_NAME,
    O_VIGIL_USER, O_VIGIL_HOST, O_USER_NAME, O_USER_DOMAIN, O_USER_ID, O_HOST_NAME,
    O_HOST_ID, O_SOURCE_IP, O_SOURCE_PORT, O_DEST_IP, O_DEST_PORT, O_NET_TRANSPORT,
    O_NET_DIRECTION, O_PROC_NAME, O_PROC_EXE, O_PROC_CMD, O_PROC_PID, O_PROC_SHA256,
    O_PROC_MD5, O_PPROC_NAME, O_PPROC_EXE, O_PPROC_CMD, O_PPROC_PID, O_FILE_PATH,
    O_FILE_NAME, O_FILE_SHA256, O_REG_PATH, O_REG_VALUE, O_ENTITIES_ERROR, O_EXTPROPS_ERROR,
    N_OUT
} out_field;

static const char *const out_names[N_OUT] = {
    [O_TIMESTAMP] = "@timestamp", [O_EVENT_KIND] = "event.kind",
    [O_EVENT_CATEGORY] = "event.category", [O_EVENT_TYPE] = "event.type",
    [O_EVENT_ACTION] = "event.action", [O_EVENT_ID] = "event.id",
    [O_EVENT_OUTCOME] = "event.outcome", [O_EVENT_PROVIDER] = "event.provider",
    [O_EVENT_DATASET] = "event.dataset", [O_EVENT_SEVERITY] = "event.severity",
    [O_EVENT_REASON] = "event.reason", [O_MESSAGE] = "message", [O_RULE_NAME] = "rule.name",
    [O_RULE_ID] = "rule.id", [O_THREAT_TECHNIQUE_ID] = "threat.technique.id",
    [O_THREAT_TACTIC_NAME] = "threat.tactic.name", [O_VIGIL_USER] = "vigil.user",
    [O_VIGIL_HOST] = "vigil.host", [O_USER_NAME] = "user.name",
    [O_USER_DOMAIN] = "user.domain", [O_USER_ID] = "user.id", [O_HOST_NAME] = "host.name",
    [O_HOST_ID] = "host.id", [O_SOURCE_IP] = "source.ip", [O_SOURCE_PORT] = "source.port",
    [O_DEST_IP] = "destination.ip", [O_DEST_PORT] = "destination.port",
    [O_NET_TRANSPORT] = "network.transport", [O_NET_DIRECTION] = "network.direction",
    [O_PROC_NAME] = "process.name", [O_PROC_EXE] = "process.executable",
    [O_PROC_CMD] = "process.command_line", [O_PROC_PID] = "process.pid",
    [O_PROC_SHA256] = "process.hash.sha256", [O_PROC_MD5] = "process.hash.md5",
    [O_PPROC_NAME] = "process.parent.name", [O_PPROC_EXE] = "process.parent.executable",
    [O_PPROC_CMD] = "process.parent.command_line", [O_PPROC_PID] = "process.parent.pid",
    [O_FILE_PATH] = "file.path", [O_FILE_NAME] = "file.name",
    [O_FILE_SHA256] = "file.hash.sha256",
    [O_REG_PATH] = "registry.path", [O_REG_VALUE] = "registry.value",
    [O_ENTITIES_ERROR] = "defender.entities_error",
    [O_EXTPROPS_ERROR] = "defender.extended_properties_error",
};

typedef enum on_unknown { UNKNOWN_FAIL, UNKNOWN_DROP, UNKNOWN_PASS } on_unknown;

typedef struct defender {
    const vgl_host *host;
    size_t max_field;
    on_unknown unknown;
    ej_parser parser;
    const vgl_path *in[N_IN];
    const vgl_path *out[N_OUT];
    vgl_plugin_metric *m_normalized, *m_failed, *m_unknown, *m_embedded_errors, *m_truncated,
        *m_conflicts;
} defender;

typedef struct rec {
    defender *d;
    const vgl_host *h;
    vgl_event *ev;
    vgl_rc rc;
} rec;

/* ---------------------------------------------------------- read / write */

static bool rd(const rec *r, in_field f, const char **s, size_t *len)
{
    return r->h->get_str(r->ev, r->d->in[f], s, len) && ecs_useful(*s, *len);
}

static void note(rec *r, vgl_rc rc)
{
    if (rc == VGL_ERR_TYPE) { /* a record scalar holds the parent's name */
        r->h->counter_add(r->d->m_conflicts, 1);
        return;
    }
    if (rc != VGL_OK && r->rc == VGL_OK)
        r->rc = rc;
}

static void put(rec *r, out_field o, const char *s, size_t len)
{
    size_t n = ecs_utf8_cut(s, len, r->d->max_field);
    if (n < len)
        r->h->counter_add(r->d->m_truncated, 1);
    note(r, r->h->set_str(r->ev, r->d->out[o], s, n));
}

static void put_lit(rec *r, out_field o, const char *lit)
{
    put(r, o, lit, strlen(lit));
}

static void put_int(rec *r, out_field o, int64_t v)
{
    note(r, r->h->set_int(r->ev, r->d->out[o], v));
}

static bool copy(rec *r, in_field f, out_field o)
{
    const char *s;
    size_t len;
    if (!rd(r, f, &s, &len))
        return false;
    put(r, o, s, len);
    return true;
}

/* An executable from a folder and a file name: FolderPath may already end
 * with the file name (Advanced Hunting) or be the folder only (MDE's
 * InitiatingProcessImageFilePath). */
static void join_path(rec *r, in_field folder, in_field name, out_field o)
{
    const char *f, *n;
    size_t flen, nlen;
    if (!rd(r, folder, &f, &flen))
        return;
    if (!rd(r, name, &n, &nlen)) {
        put(r, o, f, flen);
        return;
    }
    size_t blen;
    const char *base = ecs_basename(f, flen, &blen);
    if (blen == nlen && ecs_ieq(base, blen, n)) { /* the folder is the full path */
        put(r, o, f, flen);
        return;
    }
    char buf[PATH_MAX_JOIN];
    bool sep = flen > 0 && f[flen - 1] != '\\' && f[flen - 1] != '/';
    if (flen + nlen + 1 >= sizeof(buf))
        return;
    memcpy(buf, f, flen);
    size_t k = flen;
    if (sep)
        buf[k++] = '\\';
    memcpy(buf + k, n, nlen);
    put(r, o, buf, k + nlen);
}

static bool rd_uint(const rec *r, in_field f, uint64_t *out)
{
    const vgl_value *v = r->h->get(r->ev, r->d->in[f]);
    int64_t i;
    vgl_type t = r->h->value_type(v);
    if (t == VGL_T_INT || t == VGL_T_DOUBLE) {
        if (!r->h->value_int(v, &i) || i < 0)
            return false;
        *out = (uint64_t)i;
        return true;
    }
    const char *s;
    size_t len;
    return r->h->value_str(v, &s, &len) && ecs_parse_uint(s, len, out);
}

static void copy_pid(rec *r, in_field f, out_field o)
{
    uint64_t v;
    if (rd_uint(r, f, &v) && v <= UINT32_MAX)
        put_int(r, o, (int64_t)v);
}

static void copy_port(rec *r, in_field f, out_field o)
{
    uint64_t v;
    if (rd_uint(r, f, &v) && v > 0 && v <= 65535)
        put_int(r, o, (int64_t)v);
}

static bool put_ip(rec *r, out_field o, const char *s, size_t len)
{
    char ip[ECS_IP_MAX];
    if (!ecs_ip_norm(s, len, ip, sizeof(ip)))
        return false;
    if (o == O_SOURCE_IP && ecs_ip_placeholder(ip))
        return false;
    put(r, o, ip, strlen(ip));
    return true;
}

static void copy_ip(rec *r, in_field f, out_field o)
{
    const char *s;
    size_t len;
    if (rd(r, f, &s, &len))
        put_ip(r, o, s, len);
}

/* ---------------------------------------------------- users and hosts */

/* A user found in a record or an entity, copied out of the event. */
typedef struct account {
    char name[ECS_NAME_MAX + 1], domain[ECS_NAME_MAX + 1], id[ECS_NAME_MAX + 1];
    size_t nlen, dlen, ilen;
} account;

static void keep(char *dst, size_t *dlen, const char *s, size_t len)
{
    if (!s || !ecs_useful(s, len) || len > ECS_NAME_MAX)
        return;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *dlen = len;
}

static void put_account(rec *r, account *a)
{
    if (!a->nlen)
        return;
    const char *d, *u;
    size_t dl, ul;
    if (!a->dlen && ecs_split_account(a->name, a->nlen, &d, &dl, &u, &ul)) {
        char name[ECS_NAME_MAX + 1];
        memcpy(name, u, ul);
        memmove(a->domain, d, dl);
        a->dlen = dl;
        memcpy(a->name, name, ul);
        a->nlen = ul;
    }
    put(r, O_USER_NAME, a->name, a->nlen);
    if (a->dlen)
        put(r, O_USER_DOMAIN, a->domain, a->dlen);
    if (a->ilen)
        put(r, O_USER_ID, a->id, a->ilen);
    char key[ECS_NAME_MAX + 1];
    size_t klen = ecs_user_key(a->name, a->nlen, key, sizeof(key));
    if (klen)
        put(r, O_VIGIL_USER, key, klen);
}

static void user_from(rec *r, in_field name, in_field domain, in_field sid)
{
    account a = {0};
    const char *s;
    size_t len;
    if (rd(r, name, &s, &len))
        keep(a.name, &a.nlen, s, len);
    if (rd(r, domain, &s, &len))
        keep(a.domain, &a.dlen, s, len);
    if (rd(r, sid, &s, &len))
        keep(a.id, &a.ilen, s, len);
    put_account(r, &a);
}

static void put_host(rec *r, const char *s, size_t len)
{
    char name[ECS_NAME_MAX + 1], key[ECS_NAME_MAX + 1];
    if (!ecs_useful(s, len) || len > ECS_NAME_MAX)
        return;
    memcpy(name, s, len);
    put(r, O_HOST_NAME, name, len);
    size_t klen = ecs_host_key(name, len, key, sizeof(key));
    if (klen)
        put(r, O_VIGIL_HOST, key, klen);
}

static void host_from(rec *r, in_field f)
{
    const char *s;
    size_t len;
    if (rd(r, f, &s, &len))
        put_host(r, s, len);
}

/* ----------------------------------------- entities (alerts' evidence) */

/* A JSON value of either origin: the embedded parser's tree or the
 * record's own values (host API). Exactly one pointer is set. */
typedef struct node {
    const ej_value *j;
    const vgl_value *v;
} node;

/* What the entities say, copied out so the event can be written after. */
typedef struct found {
    account user;
    char host[ECS_NAME_MAX + 1], ip[ECS_IP_MAX];
    size_t hlen;
    bool have_user, have_host, have_ip;
} found;

typedef struct walker {
    const rec *r;
    found *f;
    size_t visited;
} walker;

static bool n_str(const walker *w, node n, const char **s, size_t *len)
{
    if (n.j) {
        if (n.j->type != EJ_STRING)
            return false;
        *s = n.j->s;
        *len = n.j->n;
        return true;
    }
    return w->r->h->value_str(n.v, s, len);
}

/* Member of an object by key, ASCII case-insensitive. */
static node n_get(const walker *w, node n, const char *key)
{
    node out = {0};
    if (n.j) {
        out.j = ej_get(n.j, key);
        return out;
    }
    const vgl_host *h = w->r->h;
    if (h->value_type(n.v) != VGL_T_OBJECT)
        return out;
    size_t cnt = h->value_count(n.v);
    for (size_t i = 0; i < cnt && i < WALK_MAX_NODES; i++) {
        const char *k;
        size_t klen;
        const vgl_value *m = h->value_member(n.v, i, &k, &klen);
        if (m && ecs_ieq(k, klen, key)) {
            out.v = m;
            return out;
        }
    }
    return out;
}

static bool n_get_str(const walker *w, node n, const char *key, const char **s, size_t *len)
{
    node m = n_get(w, n, key);
    return (m.j || m.v) && n_str(w, m, s, len) && ecs_useful(*s, *len);
}

/* One entity object: Sentinel/Cloud ("Type": host/account/ip) and Graph
 * evidence ("@odata.type": ...deviceEvidence/userEvidence/ipEvidence). */
static void entity(walker *w, node n)
{
    const char *type, *s;
    size_t tlen, len;
    found *f = w->f;
    if (!n_get_str(w, n, "Type", &type, &tlen) && !n_get_str(w, n, "@odata.type", &type, &tlen))
        return;
    if (!f->have_host &&
        (ecs_ieq(type, tlen, "host") || ecs_icontains(type, tlen, "deviceEvidence"))) {
        if (n_get_str(w, n, "HostName", &s, &len) || n_get_str(w, n, "deviceDnsName", &s, &len) ||
            n_get_str(w, n, "NetBiosName", &s, &len)) {
            keep(f->host, &f->hlen, s, len);
            f->have_host = f->hlen > 0;
        }
    } else if (!f->have_user &&
               (ecs_ieq(type, tlen, "account") || ecs_icontains(type, tlen, "userEvidence"))) {
        node acc = n_get(w, n, "userAccount"); /* Graph nests the account */
        node a = acc.j || acc.v ? acc : n;
        if (n_get_str(w, a, "Name", &s, &len) || n_get_str(w, a, "accountName", &s, &len) ||
            n_get_str(w, a, "userPrincipalName", &s, &len)) {
            keep(f->user.name, &f->user.nlen, s, len);
            if (n_get_str(w, a, "NTDomain", &s, &len) || n_get_str(w, a, "domainName", &s, &len))
                keep(f->user.domain, &f->user.dlen, s, len);
            if (n_get_str(w, a, "Sid", &s, &len) || n_get_str(w, a, "userSid", &s, &len) ||
                n_get_str(w, a, "AadUserId", &s, &len) ||
                n_get_str(w, a, "azureAdUserId", &s, &len))
                keep(f->user.id, &f->user.ilen, s, len);
            f->have_user = f->user.nlen > 0;
        }
    } else if (!f->have_ip &&
               (ecs_ieq(type, tlen, "ip") || ecs_icontains(type, tlen, "ipEvidence"))) {
        char ip[ECS_IP_MAX];
        if ((n_get_str(w, n, "Address", &s, &len) || n_get_str(w, n, "ipAddress", &s, &len)) &&
            ecs_ip_norm(s, len, ip, sizeof(ip)) && !ecs_ip_placeholder(ip)) {
            memcpy(f->ip, ip, strlen(ip) + 1);
            f->have_ip = true;
        }
    }
}

/* Depth-first over a value: every object with a type is an entity, so
 * entities nested inline (Sentinel writes an entity in full where it is
 * first referenced) are found; the first of each kind wins. */
static void walk(walker *w, node n, unsigned depth)
{
    if (depth > WALK_MAX_DEPTH || ++w->visited > WALK_MAX_NODES)
        return;
    const vgl_host *h = w->r->h;
    bool object = n.j ? n.j->type == EJ_OBJECT : h->value_type(n.v) == VGL_T_OBJECT;
    bool array = n.j ? n.j->type == EJ_ARRAY : h->value_type(n.v) == VGL_T_ARRAY;
    if (!object && !array)
        return;
    if (object)
        entity(w, n);
    size_t cnt = n.j ? n.j->n : h->value_count(n.v);
    for (size_t i = 0; i < cnt; i++) {
        node c = {0};
        if (n.j)
            c.j = &n.j->members[i].v;
        else
            c.v = array ? h->value_at(n.v, i) : h->value_member(n.v, i, NULL, NULL);
        walk(w, c, depth + 1);
    }
}

static const char *type_phrase(vgl_type t)
{
    switch (t) {
    case VGL_T_NULL: return "null";
    case VGL_T_BOOL: return "a boolean";
    case VGL_T_INT: return "an integer";
    case VGL_T_DOUBLE: return "a number";
    case VGL_T_STRING: return "a string";
    case VGL_T_ARRAY: return "an array";
    case VGL_T_OBJECT: return "an object";
    }
    return "a value";
}

/* Entities of field `in` (JSON text or a JSON value) into f. On a parse
 * error writes `field: reason` to oerr and counts it. */
static void entities_of(rec *r, in_field in, out_field oerr, const char *field, found *f)
{
    const vgl_host *h = r->h;
    const vgl_value *v = h->get(r->ev, r->d->in[in]);
    vgl_type t = h->value_type(v);
    walker w = {.r = r, .f = f};
    char err[192], msg[256];
    if (!v || t == VGL_T_NULL)
        return;
    if (t == VGL_T_ARRAY || t == VGL_T_OBJECT) {
        walk(&w, (node){.v = v}, 0);
        return;
    }
    if (t != VGL_T_STRING) {
        snprintf(msg, sizeof(msg), "%s must be JSON text or a JSON value, got %s", field,
                 type_phrase(t));
        goto error;
    }
    const char *s;
    size_t len;
    h->value_str(v, &s, &len);
    if (!ecs_useful(s, len))
        return; /* empty column */
    ej_value root;
    if (!ej_parse(&r->d->parser, s, len, &root, err, sizeof(err))) {
        snprintf(msg, sizeof(msg), "%s: %s", field, err);
        goto error;
    }
    walk(&w, (node){.j = &root}, 0);
    return;
error:
    h->counter_add(r->d->m_embedded_errors, 1);
    put(r, oerr, msg, strlen(msg));
}

/* ExtendedProperties of a Sentinel alert: the process it names, and the
 * host/user when the entities had none. */
static void extended_properties(rec *r, found *f)
{
    const vgl_host *h = r->h;
    const vgl_value *v = h->get(r->ev, r->d->in[I_EXTENDED_PROPERTIES]);
    vgl_type t = h->value_type(v);
    char err[192], msg[256];
    const char *s;
    size_t len;
    if (!v || t == VGL_T_NULL || t == VGL_T_OBJECT)
        return; /* an object value is already searchable as it is */
    if (t != VGL_T_STRING) {
        snprintf(msg, sizeof(msg), "ExtendedProperties must be JSON text or a JSON value, got %s",
                 type_phrase(t));
        goto error;
    }
    h->value_str(v, &s, &len);
    if (!ecs_useful(s, len))
        return;
    ej_value root;
    if (!ej_parse(&r->d->parser, s, len, &root, err, sizeof(err))) {
        snprintf(msg, sizeof(msg), "ExtendedProperties: %s", err);
        goto error;
    }
    if (root.type != EJ_OBJECT) {
        snprintf(msg, sizeof(msg), "ExtendedProperties: expected a JSON object");
        goto error;
    }
    /* the tree lives in the parser, not in the event: safe across writes */
    static const struct {
        const char *key;
        out_field o;
    } props[] = {
        {"Suspicious Process", O_PROC_EXE},
        {"Suspicious Command Line", O_PROC_CMD},
        {"Parent Process", O_PPROC_EXE},
    };
    for (size_t k = 0; k < sizeof(props) / sizeof(props[0]); k++) {
        const ej_value *p = ej_get(&root, props[k].key);
        if (p && p->type == EJ_STRING && ecs_useful(p->s, p->n)) {
            put(r, props[k].o, p->s, p->n);
            size_t blen;
            const char *base = ecs_basename(p->s, p->n, &blen);
            if (blen && props[k].o != O_PROC_CMD)
                put(r, props[k].o == O_PROC_EXE ? O_PROC_NAME : O_PPROC_NAME, base, blen);
        }
    }
    const ej_value *p = ej_get(&root, "Suspicious Process Id");
    uint64_t pid;
    if (p && p->type == EJ_STRING && ecs_parse_uint(p->s, p->n, &pid) && pid <= UINT32_MAX)
        put_int(r, O_PROC_PID, (int64_t)pid);
    if (!f->have_host && (p = ej_get(&root, "Compromised Host")) && p->type == EJ_STRING) {
        keep(f->host, &f->hlen, p->s, p->n);
        f->have_host = f->hlen > 0;
    }
    if (!f->have_user && (p = ej_get(&root, "User Name")) && p->type == EJ_STRING) {
        keep(f->user.name, &f->user.nlen, p->s, p->n);
        f->have_user = f->user.nlen > 0;
    }
    return;
error:
    h->counter_add(r->d->m_embedded_errors, 1);
    put(r, O_EXTPROPS_ERROR, msg, strlen(msg));
}

static void put_found(rec *r, found *f)
{
    if (f->have_host)
        put_host(r, f->host, f->hlen);
    if (f->have_user)
        put_account(r, &f->user);
    if (f->have_ip)
        put(r, O_SOURCE_IP, f->ip, strlen(f->ip));
}

/* ------------------------------------------------------------- alerts */

static bool set_time(rec *r, in_field f)
{
    const char *s;
    size_t len;
    int64_t ms;
    if (!r->h->get_str(r->ev, r->d->in[f], &s, &len) || !r->h->time_parse(s, len, &ms))
        return false;
    r->h->time_set(r->ev, ms);
    char buf[40];
    size_t n = ecs_format_time(ms, buf, sizeof(buf));
    if (n)
        put(r, O_TIMESTAMP, buf, n);
    return true;
}

static void alert_common(rec *r, const char *provider)
{
    put_lit(r, O_EVENT_KIND, "alert");
    put_lit(r, O_EVENT_CATEGORY, "intrusion_detection");
    put_lit(r, O_EVENT_TYPE, "info");
    put_lit(r, O_EVENT_DATASET, "defender.alert");
    put_lit(r, O_EVENT_PROVIDER, provider);
}

static void severity(rec *r, in_field f)
{
    const char *s;
    size_t len;
    int sev;
    if (rd(r, f, &s, &len) && (sev = ecs_severity(s, len)) > 0)
        put_int(r, O_EVENT_SEVERITY, sev);
}

/* First technique id in a text field ("T1059.001", "[\"T1059\"]",
 * "PowerShell (T1059.001)") or in the strings of an array field. */
static void technique(rec *r, in_field f)
{
    const vgl_host *h = r->h;
    const vgl_value *v = h->get(r->ev, r->d->in[f]);
    const char *s, *id;
    size_t len, idlen;
    char buf[16];
    if (h->value_str(v, &s, &len) && ecs_find_technique(s, len, &id, &idlen)) {
        memcpy(buf, id, idlen);
        put(r, O_THREAT_TECHNIQUE_ID, buf, idlen);
        return;
    }
    size_t cnt = h->value_type(v) == VGL_T_ARRAY ? h->value_count(v) : 0;
    for (size_t i = 0; i < cnt && i < 256; i++) {
        if (h->value_str(h->value_at(v, i), &s, &len) && ecs_find_technique(s, len, &id, &idlen)) {
            memcpy(buf, id, idlen);
            put(r, O_THREAT_TECHNIQUE_ID, buf, idlen);
            return;
        }
    }
}

/* First tactic of a comma-separated list ("Execution, Persistence"). */
static void tactic(rec *r, in_field f)
{
    const char *s;
    size_t len;
    if (!rd(r, f, &s, &len))
        return;
    const char *comma = memchr(s, ',', len);
    size_t n = comma ? (size_t)(comma - s) : len;
    while (n && s[n - 1] == ' ')
        n--;
    if (n && ecs_useful(s, n) && !ecs_ieq(s, n, "Unknown"))
        put(r, O_THREAT_TACTIC_NAME, s, n);
}

static bool sentinel_alert(rec *r, char *reason, size_t rlen)
{
    in_field name = I_ALERT_DISPLAY_NAME;
    const char *s;
    size_t len;
    if (!rd(r, name, &s, &len) && !rd(r, name = I_ALERT_NAME, &s, &len)) {
        snprintf(reason, rlen, "SecurityAlert without a usable AlertDisplayName or AlertName "
                               "(a non-empty string)");
        return false;
    }
    alert_common(r, "SecurityAlert");
    copy(r, name, O_RULE_NAME);
    copy(r, I_ALERT_TYPE, O_RULE_ID);
    copy(r, I_ALERT_TYPE, O_EVENT_ACTION);
    copy(r, I_SYSTEM_ALERT_ID, O_EVENT_ID);
    copy(r, I_DESCRIPTION, O_MESSAGE);
    if (r->h->has(r->ev, r->d->in[I_SEVERITY]))
        severity(r, I_SEVERITY);
    else
        severity(r, I_ALERT_SEVERITY);
    tactic(r, I_TACTICS);
    technique(r, I_TECHNIQUES);
    if (!set_time(r, I_TIME_GENERATED))
        set_time(r, I_START_TIME_UTC);
    found f = {0};
    entities_of(r, I_ENTITIES, O_ENTITIES_ERROR, "Entities", &f);
    extended_properties(r, &f);
    if (!f.have_host && rd(r, I_COMPROMISED_ENTITY, &s, &len)) {
        keep(f.host, &f.hlen, s, len);
        f.have_host = f.hlen > 0;
    }
    put_found(r, &f);
    return true;
}

static void graph_alert(rec *r)
{
    alert_common(r, "DefenderXDR");
    copy(r, I_G_TITLE, O_RULE_NAME);
    copy(r, I_G_ID, O_EVENT_ID);
    copy(r, I_G_DESCRIPTION, O_MESSAGE);
    severity(r, I_G_SEVERITY);
    tactic(r, I_G_CATEGORY);
    technique(r, I_G_MITRE);
    set_time(r, I_G_CREATED);
    found f = {0};
    entities_of(r, I_G_EVIDENCE, O_ENTITIES_ERROR, "evidence", &f);
    put_found(r, &f);
}

static void hunting_alert(rec *r)
{
    alert_common(r, "DefenderXDR");
    copy(r, I_TITLE, O_RULE_NAME);
    copy(r, I_ALERT_ID, O_EVENT_ID);
    severity(r, I_SEVERITY);
    tactic(r, I_CATEGORY);
    technique(r, I_ATTACK_TECHNIQUES);
    set_time(r, I_TIMESTAMP);
    host_from(r, I_DEVICE_NAME);
    copy(r, I_DEVICE_ID, O_HOST_ID);
    user_from(r, I_ACCOUNT_NAME, I_ACCOUNT_DOMAIN, I_ACCOUNT_SID);
    if (!r->h->has(r->ev, r->d->out[O_USER_NAME]))
        user_from(r, I_ACCOUNT_UPN, I_ACCOUNT_DOMAIN, I_ACCOUNT_SID);
    copy_ip(r, I_REMOTE_IP, O_SOURCE_IP);
    copy(r, I_PROCESS_COMMAND_LINE, O_PROC_CMD);
    join_path(r, I_FOLDER_PATH, I_FILE_NAME, O_FILE_PATH);
    copy(r, I_FILE_NAME, O_FILE_NAME);
}

static void cloud_alert(rec *r)
{
    alert_common(r, "DefenderForCloud");
    copy(r, I_P_DISPLAY_NAME, O_RULE_NAME);
    copy(r, I_P_ALERT_TYPE, O_RULE_ID);
    copy(r, I_P_ALERT_TYPE, O_EVENT_ACTION);
    if (!copy(r, I_P_SYSTEM_ALERT_ID, O_EVENT_ID))
        copy(r, I_ID, O_EVENT_ID);
    copy(r, I_P_DESCRIPTION, O_MESSAGE);
    severity(r, I_P_SEVERITY);
    tactic(r, I_P_INTENT);
    technique(r, I_P_TECHNIQUES);
    if (!set_time(r, I_P_TIME_GENERATED))
        set_time(r, I_P_START_TIME);
    found f = {0};
    entities_of(r, I_P_ENTITIES, O_ENTITIES_ERROR, "properties.entities", &f);
    const char *s;
    size_t len;
    if (!f.have_host && rd(r, I_P_COMPROMISED, &s, &len)) {
        keep(f.host, &f.hlen, s, len);
        f.have_host = f.hlen > 0;
    }
    put_found(r, &f);
}

/* ------------------------------------------------------ device events */

static void endpoint_common(rec *r)
{
    put_lit(r, O_EVENT_KIND, "event");
    put_lit(r, O_EVENT_DATASET, "defender.endpoint");
    put_lit(r, O_EVENT_PROVIDER, "MDE");
}

/* MDE's internal process-creation schema. */
static void mde_process(rec *r)
{
    endpoint_common(r);
    put_lit(r, O_EVENT_CATEGORY, "process");
    put_lit(r, O_EVENT_TYPE, "start");
    put_lit(r, O_EVENT_ACTION, "ProcessCreated");
    if (!set_time(r, I_CP_TIME))
        set_time(r, I_REPORT_TIME);
    host_from(r, I_COMPUTER_DNS_NAME);
    copy(r, I_MACHINE_ID, O_HOST_ID);
    copy(r, I_CP_NAME, O_PROC_NAME);
    if (!copy(r, I_CP_PATH, O_PROC_EXE))
        join_path(r, I_CP_PATH, I_CP_NAME, O_PROC_EXE);
    copy(r, I_CP_CMD, O_PROC_CMD);
    copy_pid(r, I_CP_ID, O_PROC_PID);
    copy(r, I_CP_SHA256, O_PROC_SHA256);
    copy(r, I_CP_MD5, O_PROC_MD5);
    copy(r, I_IP_NAME, O_PPROC_NAME);
    join_path(r, I_IP_PATH, I_IP_NAME, O_PPROC_EXE);
    copy(r, I_PROCESS_CMDLINE_MDE, O_PPROC_CMD);
    copy_pid(r, I_IP_ID, O_PPROC_PID);
    user_from(r, I_CP_ACCOUNT, I_CP_DOMAIN, I_CP_SID);
}

/* The initiating process of a device event as process.* */
static void initiating_process(rec *r)
{
    copy(r, I_INIT_FILE_NAME, O_PROC_NAME);
    join_path(r, I_INIT_FOLDER_PATH, I_INIT_FILE_NAME, O_PROC_EXE);
    copy(r, I_INIT_COMMAND_LINE, O_PROC_CMD);
    copy_pid(r, I_INIT_ID, O_PROC_PID);
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && ecs_ieq(s, n, prefix);
}

/* Advanced Hunting Device*Events, by ActionType. */
static void device_event(rec *r)
{
    endpoint_common(r);
    copy(r, I_ACTION_TYPE, O_EVENT_ACTION);
    set_time(r, I_TIMESTAMP);
    host_from(r, I_DEVICE_NAME);
    copy(r, I_DEVICE_ID, O_HOST_ID);
    char action[64] = "";
    const char *s;
    size_t len;
    if (rd(r, I_ACTION_TYPE, &s, &len) && len < sizeof(action)) {
        memcpy(action, s, len);
        action[len] = '\0';
    }
    size_t alen = strlen(action);
    bool has_cmd = r->h->has(r->ev, r->d->in[I_PROCESS_COMMAND_LINE]);
    if (ecs_ieq(action, alen, "ProcessCreated") || (!alen && has_cmd)) {
        put_lit(r, O_EVENT_CATEGORY, "process");
        put_lit(r, O_EVENT_TYPE, "start");
        copy(r, I_FILE_NAME, O_PROC_NAME);
        join_path(r, I_FOLDER_PATH, I_FILE_NAME, O_PROC_EXE);
        copy(r, I_PROCESS_COMMAND_LINE, O_PROC_CMD);
        copy_pid(r, I_PROCESS_ID, O_PROC_PID);
        copy(r, I_SHA256, O_PROC_SHA256);
        copy(r, I_MD5, O_PROC_MD5);
        copy(r, I_INIT_FILE_NAME, O_PPROC_NAME);
        join_path(r, I_INIT_FOLDER_PATH, I_INIT_FILE_NAME, O_PPROC_EXE);
        copy(r, I_INIT_COMMAND_LINE, O_PPROC_CMD);
        copy_pid(r, I_INIT_ID, O_PPROC_PID);
        user_from(r, I_ACCOUNT_NAME, I_ACCOUNT_DOMAIN, I_ACCOUNT_SID);
    } else if (starts_with(action, alen, "Logon")) {
        put_lit(r, O_EVENT_CATEGORY, "authentication");
        put_lit(r, O_EVENT_TYPE, "start");
        if (ecs_ieq(action, alen, "LogonSuccess"))
            put_lit(r, O_EVENT_OUTCOME, "success");
        else if (ecs_ieq(action, alen, "LogonFailed"))
            put_lit(r, O_EVENT_OUTCOME, "failure");
        else
            put_lit(r, O_EVENT_OUTCOME, "unknown");
        copy(r, I_FAILURE_REASON, O_EVENT_REASON);
        user_from(r, I_ACCOUNT_NAME, I_ACCOUNT_DOMAIN, I_ACCOUNT_SID);
        copy_ip(r, I_REMOTE_IP, O_SOURCE_IP);
        copy_port(r, I_REMOTE_PORT, O_SOURCE_PORT);
        initiating_process(r);
    } else if (starts_with(action, alen, "Connection") ||
               starts_with(action, alen, "InboundConnection") ||
               starts_with(action, alen, "ListeningConnection")) {
        bool inbound = starts_with(action, alen, "InboundConnection");
        put_lit(r, O_EVENT_CATEGORY, "network");
        put_lit(r, O_EVENT_TYPE, starts_with(action, alen, "Listening") ? "start" : "connection");
        if (ecs_ieq(action, alen, "ConnectionSuccess") ||
            ecs_ieq(action, alen, "InboundConnectionAccepted"))
            put_lit(r, O_EVENT_OUTCOME, "success");
        else if (ecs_ieq(action, alen, "ConnectionFailed"))
            put_lit(r, O_EVENT_OUTCOME, "failure");
        if (!starts_with(action, alen, "Listening"))
            put_lit(r, O_NET_DIRECTION, inbound ? "inbound" : "outbound");
        copy_ip(r, inbound ? I_REMOTE_IP : I_LOCAL_IP, O_SOURCE_IP);
        copy_port(r, inbound ? I_REMOTE_PORT : I_LOCAL_PORT, O_SOURCE_PORT);
        copy_ip(r, inbound ? I_LOCAL_IP : I_REMOTE_IP, O_DEST_IP);
        copy_port(r, inbound ? I_LOCAL_PORT : I_REMOTE_PORT, O_DEST_PORT);
        if (rd(r, I_PROTOCOL, &s, &len)) {
            if (starts_with(s, len, "tcp"))
                put_lit(r, O_NET_TRANSPORT, "tcp");
            else if (starts_with(s, len, "udp"))
                put_lit(r, O_NET_TRANSPORT, "udp");
            else if (starts_with(s, len, "icmp"))
                put_lit(r, O_NET_TRANSPORT, "icmp");
        }
        initiating_process(r);
        user_from(r, I_INIT_ACCOUNT_NAME, I_INIT_ACCOUNT_DOMAIN, I_INIT_ACCOUNT_SID);
    } else if (starts_with(action, alen, "File")) {
        put_lit(r, O_EVENT_CATEGORY, "file");
        put_lit(r, O_EVENT_TYPE, ecs_ieq(action, alen, "FileCreated")   ? "creation"
                                 : ecs_ieq(action, alen, "FileDeleted") ? "deletion"
                                                                        : "change");
        join_path(r, I_FOLDER_PATH, I_FILE_NAME, O_FILE_PATH);
        copy(r, I_FILE_NAME, O_FILE_NAME);
        copy(r, I_SHA256, O_FILE_SHA256);
        initiating_process(r);
        user_from(r, I_INIT_ACCOUNT_NAME, I_INIT_ACCOUNT_DOMAIN, I_INIT_ACCOUNT_SID);
    } else if (starts_with(action, alen, "Registry")) {
        put_lit(r, O_EVENT_CATEGORY, "registry");
        put_lit(r, O_EVENT_TYPE, ecs_icontains(action, alen, "Created")   ? "creation"
                                 : ecs_icontains(action, alen, "Deleted") ? "deletion"
                                                                          : "change");
        copy(r, I_REGISTRY_KEY, O_REG_PATH);
        copy(r, I_REGISTRY_VALUE_NAME, O_REG_VALUE);
        initiating_process(r);
        user_from(r, I_INIT_ACCOUNT_NAME, I_INIT_ACCOUNT_DOMAIN, I_INIT_ACCOUNT_SID);
    } else {
        initiating_process(r);
        user_from(r, I_ACCOUNT_NAME, I_ACCOUNT_DOMAIN, I_ACCOUNT_SID);
        if (!r->h->has(r->ev, r->d->out[O_USER_NAME]))
            user_from(r, I_INIT_ACCOUNT_NAME, I_INIT_ACCOUNT_DOMAIN, I_INIT_ACCOUNT_SID);
    }
}

/* ----------------------------------------------------------- dispatch */

static bool is_str(const rec *r, in_field f)
{
    return r->h->get_type(r->ev, r->d->in[f]) == VGL_T_STRING;
}

static bool normalize(rec *r, char *reason, size_t rlen, bool *unknown)
{
    const vgl_host *h = r->h;
    const defender *d = r->d;
    *unknown = false;
    if (h->get_type(r->ev, d->in[I_P]) == VGL_T_OBJECT &&
        h->has(r->ev, d->in[I_P_DISPLAY_NAME])) {
        if (!is_str(r, I_P_DISPLAY_NAME)) {
            snprintf(reason, rlen, "properties.alertDisplayName must be a string, got %s",
                     type_phrase(h->get_type(r->ev, d->in[I_P_DISPLAY_NAME])));
            return false;
        }
        cloud_alert(r);
    } else if (h->has(r->ev, d->in[I_ALERT_DISPLAY_NAME]) ||
               h->has(r->ev, d->in[I_ALERT_NAME])) {
        if (!sentinel_alert(r, reason, rlen))
            return false;
    } else if (h->has(r->ev, d->in[I_G_TITLE]) && h->has(r->ev, d->in[I_G_SEVERITY])) {
        if (!is_str(r, I_G_TITLE)) {
            snprintf(reason, rlen, "title must be a string, got %s",
                     type_phrase(h->get_type(r->ev, d->in[I_G_TITLE])));
            return false;
        }
        graph_alert(r);
    } else if (h->has(r->ev, d->in[I_ALERT_ID]) && h->has(r->ev, d->in[I_TITLE])) {
        if (!is_str(r, I_TITLE)) {
            snprintf(reason, rlen, "Title must be a string, got %s",
                     type_phrase(h->get_type(r->ev, d->in[I_TITLE])));
            return false;
        }
        hunting_alert(r);
    } else if (h->has(r->ev, d->in[I_CP_NAME])) {
        mde_process(r);
    } else if (h->has(r->ev, d->in[I_ACTION_TYPE]) &&
               (h->has(r->ev, d->in[I_DEVICE_NAME]) || h->has(r->ev, d->in[I_DEVICE_ID]))) {
        if (!is_str(r, I_ACTION_TYPE)) {
            snprintf(reason, rlen, "ActionType must be a string, got %s",
                     type_phrase(h->get_type(r->ev, d->in[I_ACTION_TYPE])));
            return false;
        }
        device_event(r);
    } else {
        *unknown = true;
        snprintf(reason, rlen,
                 "not a Defender record: no AlertDisplayName/AlertName (SecurityAlert), "
                 "title+severity (Defender XDR), AlertId+Title (AlertInfo), "
                 "properties.alertDisplayName (Defender for Cloud), CreatedProcessName (MDE) "
                 "or ActionType+DeviceName (Advanced Hunting)");
        return false;
    }
    if (r->rc != VGL_OK) {
        snprintf(reason, rlen, "%s while normalizing the record",
                 r->rc == VGL_ERR_NOMEM ? "event memory limit reached"
                                        : "cannot write a normalized field");
        return false;
    }
    return true;
}

static vgl_rc defender_process(void *inst, vgl_batch *batch)
{
    defender *d = inst;
    const vgl_host *h = d->host;
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        rec r = {.d = d, .h = h, .ev = ev};
        char reason[384];
        bool unknown;
        if (normalize(&r, reason, sizeof(reason), &unknown)) {
            h->counter_add(d->m_normalized, 1);
            continue;
        }
        if (unknown) {
            h->counter_add(d->m_unknown, 1);
            if (d->unknown == UNKNOWN_PASS)
                continue;
            if (d->unknown == UNKNOWN_DROP) {
                h->batch_drop(batch, i);
                continue;
            }
        }
        h->counter_add(d->m_failed, 1);
        h->batch_fail(batch, i, reason);
    }
    return VGL_OK;
}

/* ------------------------------------------------------------ lifecycle */

static void defender_destroy(void *inst)
{
    defender *d = inst;
    if (!d)
        return;
    ej_free(&d->parser);
    free(d);
}

static void *defender_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                           size_t errlen)
{
    defender *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->host = host;
    uint64_t max = 131072, embedded = 524288;
    host->config_size(cfg, "max_field_bytes", &max);
    host->config_size(cfg, "max_embedded_json_bytes", &embedded);
    const char *unknown = "fail";
    host->config_str(cfg, "on_unknown", &unknown);
    if (max < 64 || max > (64u << 20)) {
        snprintf(err, errlen, "max_field_bytes must be between 64 bytes and 64MiB, got %" PRIu64,
                 max);
        goto fail;
    }
    if (embedded < 1024 || embedded > (64u << 20)) {
        snprintf(err, errlen,
                 "max_embedded_json_bytes must be between 1KiB and 64MiB, got %" PRIu64,
                 embedded);
        goto fail;
    }
    d->max_field = (size_t)max;
    if (strcmp(unknown, "fail") == 0) {
        d->unknown = UNKNOWN_FAIL;
    } else if (strcmp(unknown, "drop") == 0) {
        d->unknown = UNKNOWN_DROP;
    } else if (strcmp(unknown, "pass") == 0) {
        d->unknown = UNKNOWN_PASS;
    } else {
        snprintf(err, errlen, "on_unknown must be fail, drop or pass, got \"%.64s\"", unknown);
        goto fail;
    }
    if (!ej_init(&d->parser, (size_t)embedded, EJ_MAX_DEPTH, EJ_MAX_VALUES)) {
        snprintf(err, errlen, "out of memory for the embedded JSON parser (%" PRIu64 " bytes)",
                 embedded);
        goto fail;
    }
    for (size_t k = 0; k < N_IN; k++)
        if (!(d->in[k] = host->path(host, in_names[k])))
            goto nopath;
    for (size_t k = 0; k < N_OUT; k++)
        if (!(d->out[k] = host->path(host, out_names[k])))
            goto nopath;
    d->m_normalized = host->metric(host, VGL_METRIC_COUNTER, "defender_normalized_total", NULL,
                                   "Defender records normalized");
    d->m_failed = host->metric(host, VGL_METRIC_COUNTER, "defender_failed_total", NULL,
                               "Records sent to the dead-letter topic");
    d->m_unknown = host->metric(host, VGL_METRIC_COUNTER, "defender_not_defender_total", NULL,
                                "Records of no known Defender shape");
    d->m_embedded_errors = host->metric(host, VGL_METRIC_COUNTER,
                                        "defender_embedded_json_errors_total", NULL,
                                        "Entities/ExtendedProperties that did not parse");
    d->m_truncated = host->metric(host, VGL_METRIC_COUNTER, "defender_truncated_fields_total",
                                  NULL, "Normalized strings cut to max_field_bytes");
    d->m_conflicts = host->metric(host, VGL_METRIC_COUNTER, "defender_field_conflicts_total",
                                  NULL, "Normalized fields skipped: a record scalar holds the "
                                        "parent name");
    return d;
nopath:
    snprintf(err, errlen, "cannot resolve the plugin's field paths (out of memory)");
fail:
    defender_destroy(d);
    return NULL;
}

static const vgl_plugin_option defender_options[] = {
    {.name = "max_field_bytes", .type = VGL_OPT_SIZE, .default_value = "128KiB",
     .description = "longest string written to a normalized field (cut on a UTF-8 boundary)"},
    {.name = "max_embedded_json_bytes", .type = VGL_OPT_SIZE, .default_value = "512KiB",
     .description = "largest Entities/ExtendedProperties JSON text parsed (per worker buffer)"},
    {.name = "on_unknown", .type = VGL_OPT_STRING, .default_value = "fail",
     .description = "records of no Defender shape: fail (dead-letter), drop or pass"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "defender",
    .version = "1.0.0",
    .description = "normalizes Sentinel/Defender XDR/Defender for Cloud alerts and MDE events "
                   "to ECS",
    .kind = VGL_PLUGIN_SOURCE,
    .threading = VGL_THREADING_PER_WORKER, /* each worker owns its parser buffers */
    .options = defender_options,
    .init = defender_init,
    .process = defender_process,
    .destroy = defender_destroy,
};
