/*
 * vigil-source-winevent.so: normalizes Windows event log records (Security,
 * Sysmon, System, PowerShell, TaskScheduler) to the ECS fields of
 * docs/fields.md, beside the original fields.
 *
 * Three record shapes are recognized, per record:
 *   flat     nxlog / Security-Datasets: EventID, Channel, Hostname and the
 *            EventData fields at the top level, @timestamp or TimeCreated;
 *   sentinel the Sentinel SecurityEvent table (or a CSV export of it):
 *            the same top-level EventData columns, everything as strings,
 *            TimeGenerated and Computer;
 *   nested   Winlogbeat / ECS: winlog.event_id, winlog.event_data.*.
 * A record with neither EventID nor winlog.event_id is not a Windows event:
 * by default it is dead-lettered with a reason naming the missing field
 * (option on_unknown). README.md lists every field set per event id.
 *
 * The plugin keeps no per-event state: one shared instance serves every
 * worker. It never holds an event string across a write to that event
 * (the ABI's lifetime rule): derived values are copied into bounded local
 * buffers first, long values are re-read right before they are written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#include "ecs_norm.h"

/* ------------------------------------------------------------ field names */

/* Known EventData field names. The ABI cannot enumerate the top level of an
 * event, so flat records copy these (when present) to winlog.event_data.*;
 * other top-level keys stay where they are. */
#define EVENT_DATA_FIELDS(X)                                                                  \
    X(AccessList) X(AccessMask) X(AccessReason) X(AccountExpires) X(ActionName)               \
    X(AllowedToDelegateTo) X(Application) X(Archived) X(AuditSourceName)                      \
    X(AuthenticationPackageName) X(CallTrace) X(CallerProcessId) X(CallerProcessName)         \
    X(CertIssuerName) X(CertSerialNumber) X(CertThumbprint) X(ClientInfo) X(ClientProcessId)  \
    X(ClientProcessStartKey) X(CommandLine) X(Company) X(Contents) X(ContextInfo)             \
    X(CorruptionActionState) X(CreationUtcTime) X(CurrentDirectory) X(Description)            \
    X(DestAddress) X(DestPort) X(DestinationHostname) X(DestinationIp)                        \
    X(DestinationIsIpv6) X(DestinationPort) X(DestinationPortName) X(Details) X(Device)       \
    X(DeviceName) X(Direction) X(DisabledPrivilegeList) X(DisplayName) X(DriveName)           \
    X(ElevatedToken) X(EnabledPrivilegeList) X(EnginePID) X(EngineVersion)                    \
    X(EventCountTotal) X(EventIdx) X(EventType) X(FQDN) X(FailureReason) X(FileVersion)       \
    X(FilterRTID) X(GrantedAccess) X(GroupMembership) X(HandleId) X(Hashes)                   \
    X(HomeDirectory) X(HomePath) X(HostApplication) X(Image) X(ImageLoaded) X(ImagePath)      \
    X(ImpersonationLevel) X(Initiated) X(InstanceId) X(IntegrityLevel) X(IpAddress)           \
    X(IpPort) X(IsExecutable) X(KeyLength) X(LayerName) X(LayerRTID) X(LmPackageName)         \
    X(LogonGuid) X(LogonHours) X(LogonId) X(LogonProcessName) X(LogonType)                    \
    X(MandatoryLabel) X(MemberName) X(MemberSid) X(MessageNumber) X(MessageTotal)             \
    X(MiniportName) X(MiniportNameLen) X(NewName) X(NewProcessId) X(NewProcessName)           \
    X(NewSd) X(NewThreadId) X(NewUacValue) X(ObjectName) X(ObjectServer) X(ObjectType)       \
    X(OldSd) X(OldUacValue) X(OriginalFileName) X(ParentCommandLine) X(ParentImage)          \
    X(ParentProcessGuid) X(ParentProcessId) X(ParentProcessName) X(ParentUser)               \
    X(PasswordLastSet) X(Path) X(Payload) X(PipeName) X(PreAuthType)                          \
    X(PreviousCreationUtcTime) X(PrimaryGroupId) X(PrivilegeList) X(ProcessGuid)              \
    X(ProcessID) X(ProcessId) X(ProcessName) X(Product) X(ProfilePath) X(Protocol)            \
    X(QueryName) X(QueryResults) X(QueryStatus) X(RelativeTargetName) X(RemoteMachineID)      \
    X(RemoteUserID) X(ResourceAttributes) X(RestrictedAdminMode) X(RestrictedSidCount)        \
    X(ResultCode) X(RpcCallClientLocality) X(RuleName) X(SamAccountName) X(ScriptBlockId)     \
    X(ScriptBlockText) X(ScriptPath) X(Service) X(ServiceAccount) X(ServiceFileName)          \
    X(ServiceName) X(ServiceSid) X(ServiceStartType) X(ServiceType) X(Session)                \
    X(ShareLocalPath) X(ShareName) X(SidHistory) X(Signature) X(SignatureStatus) X(Signed)    \
    X(SourceAddress) X(SourceHandleId) X(SourceHostname) X(SourceImage) X(SourceIp)           \
    X(SourceIsIpv6) X(SourcePort) X(SourcePortName) X(SourceProcessGUID)                      \
    X(SourceProcessGuid) X(SourceProcessId) X(SourceThreadId) X(SourceUser)                   \
    X(StartAddress) X(StartFunction) X(StartModule) X(StartType) X(Status) X(SubStatus)       \
    X(SubjectDomainName) X(SubjectLogonId) X(SubjectUserName) X(SubjectUserSid)              \
    X(TargetDomainName) X(TargetFilename) X(TargetHandleId) X(TargetImage) X(TargetInfo)      \
    X(TargetLinkedLogonId) X(TargetLogonId) X(TargetObject) X(TargetOutboundDomainName)       \
    X(TargetOutboundUserName) X(TargetProcessGUID) X(TargetProcessGuid) X(TargetProcessId)    \
    X(TargetServerName) X(TargetSid) X(TargetUser) X(TargetUserName) X(TargetUserSid)         \
    X(TaskContent) X(TaskName) X(TerminalSessionId) X(TicketEncryptionType)                   \
    X(TicketOptions) X(TokenElevationType) X(TransactionId) X(TransmittedServices) X(User)    \
    X(UserAccountControl) X(UserContext) X(UserName) X(UserParameters)                        \
    X(UserPrincipalName) X(UserWorkstations) X(UtcTime) X(VirtualAccount)                     \
    X(WorkstationName)                                                                        \
    X(param1) X(param2) X(param3) X(param4)

typedef enum ed_field {
#define ED_ENUM(n) ED_##n,
    EVENT_DATA_FIELDS(ED_ENUM)
#undef ED_ENUM
    N_ED
} ed_field;

static const char *const ed_names[N_ED] = {
#define ED_NAME(n) #n,
    EVENT_DATA_FIELDS(ED_NAME)
#undef ED_NAME
};

/* Record envelope fields read by the plugin (never copied to event_data). */
typedef enum in_field {
    I_EVENT_ID, I_CHANNEL, I_HOSTNAME, I_COMPUTER, I_SOURCE_NAME, I_PROVIDER_NAME,
    I_EVENT_SOURCE_NAME, I_TIMESTAMP, I_TIME_CREATED, I_TIME_GENERATED,
    I_MESSAGE, I_KEYWORDS, I_ACCOUNT, I_ACCOUNT_NAME, I_DOMAIN, I_USER_ID, I_ACCOUNT_TYPE,
    I_WL_EVENT_ID, I_WL_CHANNEL, I_WL_COMPUTER, I_WL_PROVIDER, I_WL_KEYWORDS,
    I_WL_USER_NAME, I_WL_USER_DOMAIN, I_WL_USER_ID, I_WL_EVENT_DATA, I_HOST_NAME,
    I_EVENT_OUTCOME, I_HOST,
    N_IN
} in_field;

static const char *const in_names[N_IN] = {
    [I_EVENT_ID] = "EventID", [I_CHANNEL] = "Channel", [I_HOSTNAME] = "Hostname",
    [I_COMPUTER] = "Computer", [I_SOURCE_NAME] = "SourceName",
    [I_PROVIDER_NAME] = "ProviderName", [I_EVENT_SOURCE_NAME] = "EventSourceName",
    [I_TIMESTAMP] = "@timestamp", [I_TIME_CREATED] = "TimeCreated",
    [I_TIME_GENERATED] = "TimeGenerated", [I_MESSAGE] = "Message",
    [I_KEYWORDS] = "Keywords", [I_ACCOUNT] = "Account", [I_ACCOUNT_NAME] = "AccountName",
    [I_DOMAIN] = "Domain", [I_USER_ID] = "UserID", [I_ACCOUNT_TYPE] = "AccountType",
    [I_WL_EVENT_ID] = "winlog.event_id", [I_WL_CHANNEL] = "winlog.channel",
    [I_WL_COMPUTER] = "winlog.computer_name", [I_WL_PROVIDER] = "winlog.provider_name",
    [I_WL_KEYWORDS] = "winlog.keywords", [I_WL_USER_NAME] = "winlog.user.name",
    [I_WL_USER_DOMAIN] = "winlog.user.domain", [I_WL_USER_ID] = "winlog.user.identifier",
    [I_WL_EVENT_DATA] = "winlog.event_data", [I_HOST_NAME] = "host.name",
    [I_EVENT_OUTCOME] = "event.outcome", [I_HOST] = "host",
};

/* Normalized fields written. */
typedef enum out_field {
    O_TIMESTAMP, O_EVENT_KIND, O_EVENT_CATEGORY, O_EVENT_TYPE, O_EVENT_ACTION, O_EVENT_CODE,
    O_EVENT_OUTCOME, O_EVENT_PROVIDER, O_EVENT_DATASET, O_EVENT_REASON, O_ERROR_CODE,
    O_MESSAGE, O_VIGIL_USER, O_VIGIL_HOST, O_USER_NAME, O_USER_DOMAIN, O_USER_ID,
    O_USER_TARGET_NAME, O_USER_TARGET_DOMAIN, O_USER_TARGET_ID, O_GROUP_NAME, O_GROUP_DOMAIN,
    O_GROUP_ID, O_HOST_NAME, O_HOST_OS_TYPE, O_SOURCE_IP, O_SOURCE_PORT, O_DEST_IP,
    O_DEST_PORT, O_NET_TRANSPORT, O_NET_DIRECTION, O_PROC_NAME, O_PROC_EXE, O_PROC_CMD,
    O_PROC_PID, O_PROC_ENTITY_ID, O_PROC_SHA256, O_PROC_MD5, O_PPROC_NAME, O_PPROC_EXE,
    O_PPROC_CMD, O_PPROC_PID, O_FILE_PATH, O_FILE_NAME, O_SERVICE_NAME, O_SERVICE_TYPE,
    O_REG_PATH, O_REG_VALUE, O_WL_EVENT_ID, O_WL_CHANNEL, O_WL_COMPUTER, O_WL_LOGON_TYPE,
    O_WL_PROVIDER, O_WL_USER_NAME, O_WL_USER_DOMAIN, O_WL_USER_ID, O_WL_USER_TYPE,
    O_OBSERVER, O_OBSERVER_HOSTNAME, O_HOST_HOSTNAME,
    N_OUT
} out_field;

static const char *const out_names[N_OUT] = {
    [O_TIMESTAMP] = "@timestamp", [O_EVENT_KIND] = "event.kind",
    [O_EVENT_CATEGORY] = "event.category", [O_EVENT_TYPE] = "event.type",
    [O_EVENT_ACTION] = "event.action", [O_EVENT_CODE] = "event.code",
    [O_EVENT_OUTCOME] = "event.outcome", [O_EVENT_PROVIDER] = "event.provider",
    [O_EVENT_DATASET] = "event.dataset", [O_EVENT_REASON] = "event.reason",
    [O_ERROR_CODE] = "error.code", [O_MESSAGE] = "message", [O_VIGIL_USER] = "vigil.user",
    [O_VIGIL_HOST] = "vigil.host", [O_USER_NAME] = "user.name", [O_USER_DOMAIN] = "user.domain",
    [O_USER_ID] = "user.id", [O_USER_TARGET_NAME] = "user.target.name",
    [O_USER_TARGET_DOMAIN] = "user.target.domain", [O_USER_TARGET_ID] = "user.target.id",
    [O_GROUP_NAME] = "group.name", [O_GROUP_DOMAIN] = "group.domain", [O_GROUP_ID] = "group.id",
    [O_HOST_NAME] = "host.name", [O_HOST_OS_TYPE] = "host.os.type",
    [O_SOURCE_IP] = "source.ip", [O_SOURCE_PORT] = "source.port",
    [O_DEST_IP] = "destination.ip", [O_DEST_PORT] = "destination.port",
    [O_NET_TRANSPORT] = "network.transport", [O_NET_DIRECTION] = "network.direction",
    [O_PROC_NAME] = "process.name", [O_PROC_EXE] = "process.executable",
    [O_PROC_CMD] = "process.command_line", [O_PROC_PID] = "process.pid",
    [O_PROC_ENTITY_ID] = "process.entity_id", [O_PROC_SHA256] = "process.hash.sha256",
    [O_PROC_MD5] = "process.hash.md5", [O_PPROC_NAME] = "process.parent.name",
    [O_PPROC_EXE] = "process.parent.executable", [O_PPROC_CMD] = "process.parent.command_line",
    [O_PPROC_PID] = "process.parent.pid", [O_FILE_PATH] = "file.path",
    [O_FILE_NAME] = "file.name", [O_SERVICE_NAME] = "service.name",
    [O_SERVICE_TYPE] = "service.type", [O_REG_PATH] = "registry.path",
    [O_REG_VALUE] = "registry.value", [O_WL_EVENT_ID] = "winlog.event_id",
    [O_WL_CHANNEL] = "winlog.channel", [O_WL_COMPUTER] = "winlog.computer_name",
    [O_WL_LOGON_TYPE] = "winlog.logon.type", [O_WL_PROVIDER] = "winlog.provider_name",
    [O_WL_USER_NAME] = "winlog.user.name", [O_WL_USER_DOMAIN] = "winlog.user.domain",
    [O_WL_USER_ID] = "winlog.user.identifier", [O_WL_USER_TYPE] = "winlog.user.type",
    [O_OBSERVER] = "observer", [O_OBSERVER_HOSTNAME] = "observer.hostname",
    [O_HOST_HOSTNAME] = "host.hostname",
};

/* -------------------------------------------------------------- instance */

typedef enum on_unknown { UNKNOWN_FAIL, UNKNOWN_DROP, UNKNOWN_PASS } on_unknown;

typedef struct winevent {
    const vgl_host *host;
    bool copy_event_data;
    size_t max_field;
    on_unknown unknown;
    const vgl_path *ed_flat[N_ED];   /* "TargetUserName" */
    const vgl_path *ed_nested[N_ED]; /* "winlog.event_data.TargetUserName" */
    const vgl_path *in[N_IN];
    const vgl_path *out[N_OUT];
    vgl_plugin_metric *m_normalized, *m_failed, *m_unknown, *m_truncated, *m_conflicts;
} winevent;

typedef enum channel {
    CH_UNKNOWN, CH_SECURITY, CH_SYSMON, CH_SYSTEM, CH_POWERSHELL, CH_TASKSCHEDULER, CH_OTHER
} channel;

typedef enum shape { SHAPE_FLAT, SHAPE_SENTINEL, SHAPE_NESTED } shape;

/* One record being normalized. */
typedef struct rec {
    const winevent *w;
    const vgl_host *h;
    vgl_event *ev;
    shape shape;
    channel chan;
    int64_t id;
    vgl_rc rc; /* first write error */
} rec;

/* ---------------------------------------------------------- read / write */

/* Where EventData field f lives in this record. */
static const vgl_path *edp(const rec *r, ed_field f)
{
    return r->shape == SHAPE_NESTED ? r->w->ed_nested[f] : r->w->ed_flat[f];
}

/* A useful string at p (not missing, empty or "-"). Borrowed until the
 * next write to the event. */
static bool rd(const rec *r, const vgl_path *p, const char **s, size_t *len)
{
    return r->h->get_str(r->ev, p, s, len) && ecs_useful(*s, *len);
}

static bool rd_ed(const rec *r, ed_field f, const char **s, size_t *len)
{
    return rd(r, edp(r, f), s, len);
}

/* A write error. A field whose parent is taken by a scalar of the record
 * ("user": "bob" blocks user.name) is skipped and counted; running out of
 * the event's memory fails the record. */
static void note(rec *r, vgl_rc rc)
{
    if (rc == VGL_ERR_TYPE) {
        r->h->counter_add(r->w->m_conflicts, 1);
        return;
    }
    if (rc != VGL_OK && r->rc == VGL_OK)
        r->rc = rc;
}

/* Write a string, cut to max_field_bytes on a UTF-8 boundary. s may point
 * into the event: set_str copies it before it modifies anything. */
static void put(rec *r, out_field o, const char *s, size_t len)
{
    size_t n = ecs_utf8_cut(s, len, r->w->max_field);
    if (n < len)
        r->h->counter_add(r->w->m_truncated, 1);
    note(r, r->h->set_str(r->ev, r->w->out[o], s, n));
}

static void put_lit(rec *r, out_field o, const char *lit)
{
    put(r, o, lit, strlen(lit));
}

static void put_int(rec *r, out_field o, int64_t v)
{
    note(r, r->h->set_int(r->ev, r->w->out[o], v));
}

/* Copy the string at p to o; true when something was written. */
static bool copy(rec *r, const vgl_path *p, out_field o)
{
    const char *s;
    size_t len;
    if (!rd(r, p, &s, &len))
        return false;
    put(r, o, s, len);
    return true;
}

static bool copy_ed(rec *r, ed_field f, out_field o)
{
    return copy(r, edp(r, f), o);
}

/* A path at p to o, and its file name to oname. */
static bool copy_path(rec *r, const vgl_path *p, out_field o, out_field oname)
{
    if (!copy(r, p, o))
        return false;
    const char *s, *base;
    size_t len, blen;
    if (rd(r, p, &s, &len) && (base = ecs_basename(s, len, &blen), blen > 0))
        put(r, oname, base, blen);
    return true;
}

/* An unsigned number at p: an int, a decimal or 0x-hex string. */
static bool rd_uint(const rec *r, const vgl_path *p, uint64_t *out)
{
    const vgl_value *v = r->h->get(r->ev, p);
    int64_t i;
    if (r->h->value_type(v) == VGL_T_INT || r->h->value_type(v) == VGL_T_DOUBLE) {
        if (!r->h->value_int(v, &i) || i < 0)
            return false;
        *out = (uint64_t)i;
        return true;
    }
    const char *s;
    size_t len;
    return r->h->value_str(v, &s, &len) && ecs_parse_uint(s, len, out);
}

static void copy_pid(rec *r, ed_field f, out_field o)
{
    uint64_t v;
    if (rd_uint(r, edp(r, f), &v) && v <= UINT32_MAX)
        put_int(r, o, (int64_t)v);
}

static void copy_port(rec *r, ed_field f, out_field o)
{
    uint64_t v;
    if (rd_uint(r, edp(r, f), &v) && v > 0 && v <= 65535)
        put_int(r, o, (int64_t)v);
}

/* An address; source.ip never takes loopback/unspecified placeholders. */
static bool copy_ip(rec *r, ed_field f, out_field o)
{
    const char *s;
    size_t len;
    char ip[ECS_IP_MAX];
    if (!rd_ed(r, f, &s, &len) || !ecs_ip_norm(s, len, ip, sizeof(ip)))
        return false;
    if (o == O_SOURCE_IP && ecs_ip_placeholder(ip))
        return false;
    put(r, o, ip, strlen(ip));
    return true;
}

/* ------------------------------------------------------- users and hosts */

/* user.name/domain/id (or the user.target.* / group.* triple starting at
 * oname) from three event paths; a "DOMAIN\name" value is split when no
 * separate domain is given. vigil.user follows user.name. */
static bool set_account(rec *r, const vgl_path *pname, const vgl_path *pdomain,
                        const vgl_path *pid, out_field oname)
{
    char name[ECS_NAME_MAX + 1], domain[ECS_NAME_MAX + 1];
    size_t nlen = 0, dlen = 0;
    const char *s, *d, *u;
    size_t len, dl, ul;
    if (!rd(r, pname, &s, &len) || len > ECS_NAME_MAX)
        return false;
    if (ecs_split_account(s, len, &d, &dl, &u, &ul)) {
        memcpy(domain, d, dl);
        dlen = dl;
        memcpy(name, u, ul);
        nlen = ul;
    } else {
        memcpy(name, s, len);
        nlen = len;
    }
    if (pdomain && rd(r, pdomain, &s, &len) && len <= ECS_NAME_MAX) {
        memcpy(domain, s, len);
        dlen = len;
    }
    out_field odomain = oname + 1, oid = oname + 2;
    put(r, oname, name, nlen);
    if (dlen)
        put(r, odomain, domain, dlen);
    if (pid)
        copy(r, pid, oid);
    if (oname == O_USER_NAME) {
        char key[ECS_NAME_MAX + 1];
        size_t klen = ecs_user_key(name, nlen, key, sizeof(key));
        if (klen)
            put(r, O_VIGIL_USER, key, klen);
    }
    return true;
}

static bool set_user_ed(rec *r, ed_field name, ed_field domain, ed_field sid)
{
    return set_account(r, edp(r, name), edp(r, domain), edp(r, sid), O_USER_NAME);
}

/* nxlog ships the collector's name as a top-level string "host", where ECS
 * needs an object. That string moves to observer.hostname (ECS: the
 * collector) and "host" becomes {"hostname": computer name, "name": ...}:
 * the one original field that is not kept in place. The ABI cannot create
 * an empty object, so the object is a copy of "observer" with its one
 * member then overwritten. False when "host" cannot hold host.* fields. */
static bool host_object(rec *r, const char *name, size_t len)
{
    const vgl_host *h = r->h;
    const winevent *w = r->w;
    vgl_type t = h->get_type(r->ev, w->in[I_HOST]);
    if (t == VGL_T_OBJECT || !h->has(r->ev, w->in[I_HOST]))
        return true;
    if (t != VGL_T_STRING || h->has(r->ev, w->out[O_OBSERVER]))
        return false;
    copy(r, w->in[I_HOST], O_OBSERVER_HOSTNAME);
    const vgl_value *obs = h->get(r->ev, w->out[O_OBSERVER]);
    if (h->value_type(obs) != VGL_T_OBJECT)
        return false;
    note(r, h->set_value(r->ev, w->in[I_HOST], obs));
    put(r, O_HOST_HOSTNAME, name, len);
    return h->get_type(r->ev, w->in[I_HOST]) == VGL_T_OBJECT;
}

static void set_host(rec *r, const vgl_path *p)
{
    const char *s;
    size_t len;
    char name[ECS_NAME_MAX + 1], key[ECS_NAME_MAX + 1];
    if (!rd(r, p, &s, &len) || len > ECS_NAME_MAX)
        return;
    memcpy(name, s, len);
    put(r, O_WL_COMPUTER, name, len);
    size_t klen = ecs_host_key(name, len, key, sizeof(key));
    if (klen)
        put(r, O_VIGIL_HOST, key, klen);
    if (host_object(r, name, len)) {
        put(r, O_HOST_NAME, name, len);
        put_lit(r, O_HOST_OS_TYPE, "windows");
    }
}

/* "CN=Bob Smith,OU=Users,DC=contoso" -> "Bob Smith" (escapes kept). */
static bool dn_common_name(const char *s, size_t len, const char **cn, size_t *cnlen)
{
    if (len < 4 || !ecs_ieq(s, 3, "CN="))
        return false;
    size_t i = 3;
    while (i < len && s[i] != ',') {
        if (s[i] == '\\' && i + 1 < len)
            i++;
        i++;
    }
    if (i == 3)
        return false;
    *cn = s + 3;
    *cnlen = i - 3;
    return true;
}

/* ----------------------------------------------------------- semantics */

/* event.category, event.type, event.action (each may be NULL). */
static void ecs(rec *r, const char *category, const char *type, const char *action)
{
    if (category)
        put_lit(r, O_EVENT_CATEGORY, category);
    if (type)
        put_lit(r, O_EVENT_TYPE, type);
    if (action)
        put_lit(r, O_EVENT_ACTION, action);
}

/* NTSTATUS codes of failed logons (4625 Status/SubStatus) and Kerberos
 * result codes (4768/4769 Status) that have a short text. */
static const char *status_text(uint64_t code, bool kerberos)
{
    if (kerberos) {
        switch (code) {
        case 0x6: return "client not found in Kerberos database";
        case 0x7: return "server not found in Kerberos database";
        case 0xC: return "policy rejects the request";
        case 0x12: return "client credentials revoked (account disabled, expired or locked)";
        case 0x17: return "password has expired";
        case 0x18: return "pre-authentication failed (wrong password)";
        case 0x1F: return "integrity check on decrypted field failed";
        case 0x20: return "ticket expired";
        case 0x25: return "clock skew too great";
        default: return NULL;
        }
    }
    switch (code) {
    case 0xC000005E: return "no logon servers available";
    case 0xC0000064: return "user name does not exist";
    case 0xC000006A: return "wrong password";
    case 0xC000006D: return "bad user name or authentication information";
    case 0xC000006E: return "account restriction";
    case 0xC000006F: return "logon outside the allowed hours";
    case 0xC0000070: return "logon from an unauthorized workstation";
    case 0xC0000071: return "password has expired";
    case 0xC0000072: return "account is disabled";
    case 0xC000009A: return "insufficient system resources";
    case 0xC0000133: return "clock skew between client and server";
    case 0xC000015B: return "logon type not granted";
    case 0xC0000192: return "netlogon service not started";
    case 0xC0000193: return "account has expired";
    case 0xC0000224: return "password must change at next logon";
    case 0xC0000225: return "Windows error (not a risk)";
    case 0xC0000234: return "account is locked out";
    case 0xC00002EE: return "an error occurred during logon";
    case 0xC0000413: return "authentication firewall prohibits the logon";
    default: return NULL;
    }
}

/* 4625: error.code = SubStatus (or Status when SubStatus is 0), reason. */
static void logon_failure(rec *r)
{
    uint64_t code = 0;
    ed_field used = ED_SubStatus;
    if (!rd_uint(r, edp(r, ED_SubStatus), &code) || code == 0) {
        used = ED_Status;
        if (!rd_uint(r, edp(r, ED_Status), &code))
            code = 0;
    }
    if (code)
        copy_ed(r, used, O_ERROR_CODE);
    const char *text = code ? status_text(code, false) : NULL;
    const char *s;
    size_t len;
    if (text)
        put_lit(r, O_EVENT_REASON, text);
    else if (rd_ed(r, ED_FailureReason, &s, &len) && s[0] != '%')
        put(r, O_EVENT_REASON, s, len);
}

/* 4768/4769: Status 0x0 is success, anything else a failure with a reason. */
static void kerberos_result(rec *r)
{
    uint64_t code;
    if (!rd_uint(r, edp(r, ED_Status), &code))
        return;
    if (code == 0) {
        put_lit(r, O_EVENT_OUTCOME, "success");
        return;
    }
    put_lit(r, O_EVENT_OUTCOME, "failure");
    copy_ed(r, ED_Status, O_ERROR_CODE);
    const char *text = status_text(code, true);
    if (text)
        put_lit(r, O_EVENT_REASON, text);
}

/* "SHA1=..,MD5=..,SHA256=..,IMPHASH=.." (Sysmon Hashes) -> process.hash.*,
 * lower-case hex. */
static void sysmon_hashes(rec *r)
{
    const char *s;
    size_t len;
    if (!rd_ed(r, ED_Hashes, &s, &len))
        return;
    char md5[33] = "", sha256[65] = "";
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != ',')
            end++;
        const char *eq = memchr(s + i, '=', end - i);
        if (eq) {
            size_t klen = (size_t)(eq - (s + i)), vlen = (size_t)(s + end - eq - 1);
            char *dst = NULL;
            if (ecs_ieq(s + i, klen, "MD5") && vlen == 32)
                dst = md5;
            else if (ecs_ieq(s + i, klen, "SHA256") && vlen == 64)
                dst = sha256;
            if (dst) {
                for (size_t k = 0; k < vlen; k++) {
                    char c = eq[1 + k];
                    dst[k] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
                }
                dst[vlen] = '\0';
            }
        }
        i = end + 1;
    }
    if (sha256[0])
        put(r, O_PROC_SHA256, sha256, 64);
    if (md5[0])
        put(r, O_PROC_MD5, md5, 32);
}

/* process.* of Sysmon events that carry Image/ProcessId/ProcessGuid. */
static void sysmon_process(rec *r)
{
    copy_path(r, edp(r, ED_Image), O_PROC_EXE, O_PROC_NAME);
    copy_pid(r, ED_ProcessId, O_PROC_PID);
    copy_ed(r, ED_ProcessGuid, O_PROC_ENTITY_ID);
}

/* The generic acting user: Subject*, else Target*, else the Sentinel
 * Account column, else the record's own user (winlog.user / nxlog). */
static void generic_user(rec *r)
{
    if (set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid))
        return;
    if (set_user_ed(r, ED_TargetUserName, ED_TargetDomainName, ED_TargetUserSid))
        return;
    if (r->chan == CH_SYSMON) {
        /* the record's own user is the Sysmon service (SYSTEM), not the actor */
        set_account(r, edp(r, ED_User), NULL, NULL, O_USER_NAME);
        return;
    }
    const winevent *w = r->w;
    if (r->shape == SHAPE_SENTINEL && set_account(r, w->in[I_ACCOUNT], NULL, NULL, O_USER_NAME))
        return;
    if (r->shape == SHAPE_NESTED)
        set_account(r, w->in[I_WL_USER_NAME], w->in[I_WL_USER_DOMAIN], w->in[I_WL_USER_ID],
                    O_USER_NAME);
    else
        set_account(r, w->in[I_ACCOUNT_NAME], w->in[I_DOMAIN], w->in[I_USER_ID], O_USER_NAME);
}

static void security_event(rec *r)
{
    switch (r->id) {
    case 4624:
    case 4625:
        ecs(r, "authentication", "start", r->id == 4624 ? "logged-in" : "logon-failed");
        put_lit(r, O_EVENT_OUTCOME, r->id == 4624 ? "success" : "failure");
        set_user_ed(r, ED_TargetUserName, ED_TargetDomainName, ED_TargetUserSid);
        copy_ed(r, ED_LogonType, O_WL_LOGON_TYPE);
        copy_ip(r, ED_IpAddress, O_SOURCE_IP);
        copy_port(r, ED_IpPort, O_SOURCE_PORT);
        copy_path(r, edp(r, ED_ProcessName), O_PROC_EXE, O_PROC_NAME);
        copy_pid(r, ED_ProcessId, O_PROC_PID);
        if (r->id == 4625)
            logon_failure(r);
        break;
    case 4648:
        ecs(r, "authentication", "start", "logged-in-explicit");
        set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid);
        set_account(r, edp(r, ED_TargetUserName), edp(r, ED_TargetDomainName), NULL,
                    O_USER_TARGET_NAME);
        copy_ip(r, ED_IpAddress, O_SOURCE_IP);
        copy_port(r, ED_IpPort, O_SOURCE_PORT);
        copy_path(r, edp(r, ED_ProcessName), O_PROC_EXE, O_PROC_NAME);
        copy_pid(r, ED_ProcessId, O_PROC_PID);
        break;
    case 4672:
        ecs(r, "iam", "admin", "logged-in-special");
        set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid);
        break;
    case 4688:
        ecs(r, "process", "start", "process-created");
        if (!set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid) &&
            r->shape == SHAPE_SENTINEL)
            set_account(r, r->w->in[I_ACCOUNT], NULL, NULL, O_USER_NAME);
        copy_path(r, edp(r, ED_NewProcessName), O_PROC_EXE, O_PROC_NAME);
        copy_pid(r, ED_NewProcessId, O_PROC_PID);
        copy_ed(r, ED_CommandLine, O_PROC_CMD);
        copy_path(r, edp(r, ED_ParentProcessName), O_PPROC_EXE, O_PPROC_NAME);
        copy_pid(r, ED_ProcessId, O_PPROC_PID);
        break;
    case 4697:
        ecs(r, "configuration", "change", "service-installed");
        set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid);
        copy_ed(r, ED_ServiceName, O_SERVICE_NAME);
        copy_path(r, edp(r, ED_ServiceFileName), O_FILE_PATH, O_FILE_NAME);
        copy_ed(r, ED_ServiceType, O_SERVICE_TYPE);
        break;
    case 4698:
        ecs(r, "configuration", "creation", "scheduled-task-created");
        set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid);
        break;
    case 4720:
        ecs(r, "iam", "creation", "added-user-account");
        set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid);
        set_account(r, edp(r, ED_TargetUserName), edp(r, ED_TargetDomainName),
                    edp(r, ED_TargetSid), O_USER_TARGET_NAME);
        break;
    case 4728:
    case 4732:
    case 4756: {
        ecs(r, "iam", "change", "added-member-to-group");
        set_user_ed(r, ED_SubjectUserName, ED_SubjectDomainName, ED_SubjectUserSid);
        set_account(r, edp(r, ED_TargetUserName), edp(r, ED_TargetDomainName),
                    edp(r, ED_TargetSid), O_GROUP_NAME);
        const char *s, *cn;
        size_t len, cnlen;
        if (rd_ed(r, ED_MemberName, &s, &len) && dn_common_name(s, len, &cn, &cnlen))
            put(r, O_USER_TARGET_NAME, cn, cnlen);
        copy_ed(r, ED_MemberSid, O_USER_TARGET_ID);
        break;
    }
    case 4768:
    case 4769:
        ecs(r, "authentication", "start",
            r->id == 4768 ? "kerberos-authentication-ticket-requested"
                          : "kerberos-service-ticket-requested");
        set_user_ed(r, ED_TargetUserName, ED_TargetDomainName, ED_TargetSid);
        copy_ed(r, ED_ServiceName, O_SERVICE_NAME);
        copy_ip(r, ED_IpAddress, O_SOURCE_IP);
        copy_port(r, ED_IpPort, O_SOURCE_PORT);
        kerberos_result(r);
        break;
    default:
        generic_user(r);
        break;
    }
}

static void sysmon_event(rec *r)
{
    switch (r->id) {
    case 1:
        ecs(r, "process", "start", "process-created");
        sysmon_process(r);
        copy_ed(r, ED_CommandLine, O_PROC_CMD);
        sysmon_hashes(r);
        copy_path(r, edp(r, ED_ParentImage), O_PPROC_EXE, O_PPROC_NAME);
        copy_ed(r, ED_ParentCommandLine, O_PPROC_CMD);
        copy_pid(r, ED_ParentProcessId, O_PPROC_PID);
        set_account(r, edp(r, ED_User), NULL, NULL, O_USER_NAME);
        break;
    case 3: {
        ecs(r, "network", "connection", "network-connection");
        sysmon_process(r);
        copy_ip(r, ED_SourceIp, O_SOURCE_IP);
        copy_port(r, ED_SourcePort, O_SOURCE_PORT);
        copy_ip(r, ED_DestinationIp, O_DEST_IP);
        copy_port(r, ED_DestinationPort, O_DEST_PORT);
        const char *s;
        size_t len;
        if (rd_ed(r, ED_Protocol, &s, &len)) {
            if (ecs_ieq(s, len, "tcp"))
                put_lit(r, O_NET_TRANSPORT, "tcp");
            else if (ecs_ieq(s, len, "udp"))
                put_lit(r, O_NET_TRANSPORT, "udp");
            else if (ecs_ieq(s, len, "icmp"))
                put_lit(r, O_NET_TRANSPORT, "icmp");
        }
        bool initiated;
        if (r->h->get_bool(r->ev, edp(r, ED_Initiated), &initiated))
            put_lit(r, O_NET_DIRECTION, initiated ? "outbound" : "inbound");
        set_account(r, edp(r, ED_User), NULL, NULL, O_USER_NAME);
        break;
    }
    case 10:
        ecs(r, "process", "access", "process-access");
        copy_path(r, edp(r, ED_SourceImage), O_PROC_EXE, O_PROC_NAME);
        copy_pid(r, ED_SourceProcessId, O_PROC_PID);
        if (!copy_ed(r, ED_SourceProcessGUID, O_PROC_ENTITY_ID))
            copy_ed(r, ED_SourceProcessGuid, O_PROC_ENTITY_ID);
        set_account(r, edp(r, ED_SourceUser), NULL, NULL, O_USER_NAME);
        break;
    case 11:
        ecs(r, "file", "creation", "file-created");
        sysmon_process(r);
        copy_path(r, edp(r, ED_TargetFilename), O_FILE_PATH, O_FILE_NAME);
        set_account(r, edp(r, ED_User), NULL, NULL, O_USER_NAME);
        break;
    case 13: {
        ecs(r, "registry", "change", "registry-value-set");
        sysmon_process(r);
        const char *s, *base;
        size_t len, blen;
        if (copy_ed(r, ED_TargetObject, O_REG_PATH) && rd_ed(r, ED_TargetObject, &s, &len) &&
            (base = ecs_basename(s, len, &blen), blen > 0))
            put(r, O_REG_VALUE, base, blen);
        set_account(r, edp(r, ED_User), NULL, NULL, O_USER_NAME);
        break;
    }
    default:
        sysmon_process(r);
        copy_path(r, edp(r, ED_TargetFilename), O_FILE_PATH, O_FILE_NAME);
        set_account(r, edp(r, ED_User), NULL, NULL, O_USER_NAME);
        break;
    }
}

static void system_event(rec *r)
{
    if (r->id == 7045) {
        ecs(r, "configuration", "change", "service-installed");
        copy_ed(r, ED_ServiceName, O_SERVICE_NAME);
        copy_path(r, edp(r, ED_ImagePath), O_FILE_PATH, O_FILE_NAME);
        copy_ed(r, ED_ServiceType, O_SERVICE_TYPE);
    }
    generic_user(r);
}

/* ------------------------------------------------------------- envelope */

static channel channel_of(const char *s, size_t len)
{
    if (ecs_ieq(s, len, "security"))
        return CH_SECURITY;
    if (ecs_icontains(s, len, "sysmon"))
        return CH_SYSMON;
    if (ecs_ieq(s, len, "system"))
        return CH_SYSTEM;
    if (ecs_icontains(s, len, "powershell"))
        return CH_POWERSHELL;
    if (ecs_icontains(s, len, "taskscheduler"))
        return CH_TASKSCHEDULER;
    return CH_OTHER;
}

static channel provider_channel(const char *s, size_t len)
{
    if (ecs_ieq(s, len, "Microsoft-Windows-Security-Auditing"))
        return CH_SECURITY;
    if (ecs_icontains(s, len, "sysmon"))
        return CH_SYSMON;
    if (ecs_ieq(s, len, "Service Control Manager"))
        return CH_SYSTEM;
    if (ecs_icontains(s, len, "powershell"))
        return CH_POWERSHELL;
    if (ecs_icontains(s, len, "taskscheduler"))
        return CH_TASKSCHEDULER;
    return CH_UNKNOWN;
}

static const char *dataset_of(channel c)
{
    switch (c) {
    case CH_SECURITY: return "windows.security";
    case CH_SYSMON: return "windows.sysmon";
    case CH_SYSTEM: return "windows.system";
    case CH_POWERSHELL: return "windows.powershell";
    case CH_TASKSCHEDULER: return "windows.taskscheduler";
    default: return "windows.other";
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

/* The event id, or false with reason filled. */
static bool read_event_id(rec *r, const vgl_value *v, const char *field, char *reason,
                          size_t rlen)
{
    const vgl_host *h = r->h;
    uint64_t u = 0;
    bool ok = false;
    vgl_type t = h->value_type(v);
    int64_t i;
    const char *s;
    size_t len;
    if ((t == VGL_T_INT || t == VGL_T_DOUBLE) && h->value_int(v, &i)) {
        if (i < 0) {
            snprintf(reason, rlen, "%s %" PRId64 " is out of range (0-65535)", field, i);
            return false;
        }
        u = (uint64_t)i;
        ok = true;
    } else if (h->value_str(v, &s, &len) && len > 0 && len <= 8 && s[0] >= '0' &&
               s[0] <= '9' && !memchr(s, 'x', len) && !memchr(s, 'X', len)) {
        ok = ecs_parse_uint(s, len, &u);
    }
    if (ok && u <= 65535) {
        r->id = (int64_t)u;
        return true;
    }
    if (ok)
        snprintf(reason, rlen, "%s %" PRIu64 " is out of range (0-65535)", field, u);
    else if (t == VGL_T_STRING)
        snprintf(reason, rlen, "%s is a string that is not an event number", field);
    else
        snprintf(reason, rlen, "%s must be an event number, got %s", field, type_phrase(t));
    return false;
}

/* Security audit keywords: 0x0020... success, 0x0010... failure. */
static void audit_outcome(rec *r)
{
    const vgl_host *h = r->h;
    const char *s;
    size_t len;
    if (rd_ed(r, ED_EventType, &s, &len)) {
        if (ecs_ieq(s, len, "AUDIT_SUCCESS")) {
            put_lit(r, O_EVENT_OUTCOME, "success");
            return;
        }
        if (ecs_ieq(s, len, "AUDIT_FAILURE")) {
            put_lit(r, O_EVENT_OUTCOME, "failure");
            return;
        }
    }
    uint64_t kw = 0;
    const vgl_value *v = h->get(r->ev, r->w->in[I_KEYWORDS]);
    int64_t i;
    if (h->value_type(v) == VGL_T_INT && h->value_int(v, &i))
        kw = (uint64_t)i;
    else if (!h->value_str(v, &s, &len) || !ecs_parse_uint(s, len, &kw))
        kw = 0;
    const vgl_value *arr = h->get(r->ev, r->w->in[I_WL_KEYWORDS]);
    for (size_t k = 0; k < h->value_count(arr) && k < 16; k++) {
        if (h->value_str(h->value_at(arr, k), &s, &len)) {
            if (ecs_ieq(s, len, "Audit Success"))
                kw |= 0x0020000000000000ULL;
            else if (ecs_ieq(s, len, "Audit Failure"))
                kw |= 0x0010000000000000ULL;
        }
    }
    if (kw & 0x0020000000000000ULL)
        put_lit(r, O_EVENT_OUTCOME, "success");
    else if (kw & 0x0010000000000000ULL)
        put_lit(r, O_EVENT_OUTCOME, "failure");
}

/* Event time: @timestamp, TimeCreated, TimeGenerated, then Sysmon's
 * UtcTime (all UTC), the first that parses; nxlog's EventTime is local
 * time and is not used. Also writes @timestamp in RFC 3339. */
static void event_time(rec *r)
{
    const winevent *w = r->w;
    const vgl_path *order[] = {w->in[I_TIMESTAMP], w->in[I_TIME_CREATED],
                               w->in[I_TIME_GENERATED], edp(r, ED_UtcTime)};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        const char *s;
        size_t len;
        int64_t ms;
        if (!r->h->get_str(r->ev, order[k], &s, &len) || !r->h->time_parse(s, len, &ms))
            continue;
        r->h->time_set(r->ev, ms);
        char buf[40];
        size_t n = ecs_format_time(ms, buf, sizeof(buf));
        if (n)
            put(r, O_TIMESTAMP, buf, n);
        return;
    }
}

/* Flat records: the known EventData fields to winlog.event_data.*. A
 * Sysmon-style EventType ("SetValue") is event data, nxlog's audit/level
 * EventType ("AUDIT_SUCCESS", "INFO") is not. */
static void copy_event_data(rec *r)
{
    const vgl_host *h = r->h;
    for (size_t f = 0; f < N_ED; f++) {
        const vgl_value *v = h->get(r->ev, r->w->ed_flat[f]);
        if (!v)
            continue;
        if (f == ED_EventType) {
            const char *s;
            size_t len;
            if (h->value_str(v, &s, &len) &&
                (ecs_ieq(s, len, "AUDIT_SUCCESS") || ecs_ieq(s, len, "AUDIT_FAILURE") ||
                 ecs_ieq(s, len, "INFO") || ecs_ieq(s, len, "WARNING") ||
                 ecs_ieq(s, len, "ERROR") || ecs_ieq(s, len, "VERBOSE") ||
                 ecs_ieq(s, len, "CRITICAL")))
                continue;
        }
        /* set_value copies v before it writes: v may live in this event */
        note(r, h->set_value(r->ev, r->w->ed_nested[f], v));
    }
}

/* Normalize one record. Returns false with reason for a non-Windows or
 * malformed record. */
static bool normalize(rec *r, char *reason, size_t rlen, bool *unknown)
{
    const winevent *w = r->w;
    const vgl_host *h = r->h;
    *unknown = false;

    const vgl_value *id = h->get(r->ev, w->in[I_WL_EVENT_ID]);
    const char *id_field = "winlog.event_id";
    if (id) {
        r->shape = SHAPE_NESTED;
    } else if ((id = h->get(r->ev, w->in[I_EVENT_ID]))) {
        id_field = "EventID";
        r->shape = h->has(r->ev, w->in[I_TIME_GENERATED]) && h->has(r->ev, w->in[I_COMPUTER])
                       ? SHAPE_SENTINEL
                       : SHAPE_FLAT;
    } else {
        *unknown = true;
        snprintf(reason, rlen,
                 "not a Windows event: no EventID or winlog.event_id field");
        return false;
    }
    if (!read_event_id(r, id, id_field, reason, rlen))
        return false;
    if (r->shape == SHAPE_NESTED && h->has(r->ev, w->in[I_WL_EVENT_DATA]) &&
        h->get_type(r->ev, w->in[I_WL_EVENT_DATA]) != VGL_T_OBJECT) {
        snprintf(reason, rlen, "winlog.event_data must be an object, got %s",
                 type_phrase(h->get_type(r->ev, w->in[I_WL_EVENT_DATA])));
        return false;
    }

    /* channel, provider */
    const vgl_path *pchan = r->shape == SHAPE_NESTED ? w->in[I_WL_CHANNEL] : w->in[I_CHANNEL];
    const vgl_path *pprov = NULL;
    const char *s;
    size_t len;
    r->chan = CH_UNKNOWN;
    if (rd(r, pchan, &s, &len))
        r->chan = channel_of(s, len);
    const vgl_path *provs[] = {w->in[I_WL_PROVIDER], w->in[I_SOURCE_NAME],
                               w->in[I_PROVIDER_NAME], w->in[I_EVENT_SOURCE_NAME]};
    for (size_t k = r->shape == SHAPE_NESTED ? 0 : 1; k < 4 && !pprov; k++)
        if (rd(r, provs[k], &s, &len))
            pprov = provs[k];
    if (r->chan == CH_UNKNOWN && pprov && rd(r, pprov, &s, &len))
        r->chan = provider_channel(s, len);
    if (r->chan == CH_UNKNOWN && r->shape == SHAPE_SENTINEL)
        r->chan = CH_SECURITY; /* the SecurityEvent table holds the Security log */

    if (r->shape != SHAPE_NESTED && w->copy_event_data)
        copy_event_data(r);

    put_int(r, O_WL_EVENT_ID, r->id);
    char code[8];
    int n = snprintf(code, sizeof(code), "%" PRId64, r->id);
    put(r, O_EVENT_CODE, code, (size_t)n);
    put_lit(r, O_EVENT_KIND, "event");
    put_lit(r, O_EVENT_DATASET, dataset_of(r->chan));
    if (r->shape != SHAPE_NESTED)
        copy(r, pchan, O_WL_CHANNEL);
    if (pprov) {
        copy(r, pprov, O_EVENT_PROVIDER);
        if (r->shape != SHAPE_NESTED)
            copy(r, pprov, O_WL_PROVIDER);
    } else if (r->chan == CH_SECURITY) {
        put_lit(r, O_EVENT_PROVIDER, "Microsoft-Windows-Security-Auditing");
    } else if (r->chan == CH_SYSMON) {
        put_lit(r, O_EVENT_PROVIDER, "Microsoft-Windows-Sysmon");
    }

    /* host */
    if (r->shape == SHAPE_NESTED) {
        if (h->has(r->ev, w->in[I_WL_COMPUTER]))
            set_host(r, w->in[I_WL_COMPUTER]);
        else
            set_host(r, w->in[I_HOST_NAME]);
    } else if (r->shape == SHAPE_SENTINEL) {
        set_host(r, w->in[I_COMPUTER]);
    } else if (h->has(r->ev, w->in[I_HOSTNAME])) {
        set_host(r, w->in[I_HOSTNAME]);
    } else {
        set_host(r, w->in[I_COMPUTER]);
    }

    /* nxlog's record user (the event's security identifier) */
    if (r->shape == SHAPE_FLAT) {
        copy(r, w->in[I_ACCOUNT_NAME], O_WL_USER_NAME);
        copy(r, w->in[I_DOMAIN], O_WL_USER_DOMAIN);
        copy(r, w->in[I_USER_ID], O_WL_USER_ID);
        copy(r, w->in[I_ACCOUNT_TYPE], O_WL_USER_TYPE);
    }

    if (r->shape != SHAPE_NESTED)
        copy(r, w->in[I_MESSAGE], O_MESSAGE);
    event_time(r);
    if (r->chan == CH_SECURITY && !h->has(r->ev, w->in[I_EVENT_OUTCOME]))
        audit_outcome(r);

    switch (r->chan) {
    case CH_SECURITY: security_event(r); break;
    case CH_SYSMON: sysmon_event(r); break;
    case CH_SYSTEM: system_event(r); break;
    default: generic_user(r); break;
    }
    if (r->rc != VGL_OK) {
        snprintf(reason, rlen, "%s while normalizing event %" PRId64,
                 r->rc == VGL_ERR_NOMEM ? "event memory limit reached"
                                        : "cannot write a normalized field",
                 r->id);
        return false;
    }
    return true;
}

static vgl_rc winevent_process(void *inst, vgl_batch *batch)
{
    const winevent *w = inst;
    const vgl_host *h = w->host;
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        rec r = {.w = w, .h = h, .ev = ev};
        char reason[256];
        bool unknown;
        if (normalize(&r, reason, sizeof(reason), &unknown)) {
            h->counter_add(w->m_normalized, 1);
            continue;
        }
        if (unknown) {
            h->counter_add(w->m_unknown, 1);
            if (w->unknown == UNKNOWN_PASS)
                continue;
            if (w->unknown == UNKNOWN_DROP) {
                h->batch_drop(batch, i);
                continue;
            }
        }
        h->counter_add(w->m_failed, 1);
        h->batch_fail(batch, i, reason);
    }
    return VGL_OK;
}

/* ------------------------------------------------------------ lifecycle */

static void *winevent_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                           size_t errlen)
{
    winevent *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->host = host;
    w->copy_event_data = true;
    host->config_bool(cfg, "event_data", &w->copy_event_data);
    uint64_t max = 131072;
    host->config_size(cfg, "max_field_bytes", &max);
    if (max < 64 || max > (64u << 20)) {
        snprintf(err, errlen, "max_field_bytes must be between 64 bytes and 64MiB, got %" PRIu64,
                 max);
        free(w);
        return NULL;
    }
    w->max_field = (size_t)max;
    const char *unknown = "fail";
    host->config_str(cfg, "on_unknown", &unknown);
    if (strcmp(unknown, "fail") == 0) {
        w->unknown = UNKNOWN_FAIL;
    } else if (strcmp(unknown, "drop") == 0) {
        w->unknown = UNKNOWN_DROP;
    } else if (strcmp(unknown, "pass") == 0) {
        w->unknown = UNKNOWN_PASS;
    } else {
        snprintf(err, errlen, "on_unknown must be fail, drop or pass, got \"%.64s\"", unknown);
        free(w);
        return NULL;
    }
    char buf[128];
    for (size_t f = 0; f < N_ED; f++) {
        w->ed_flat[f] = host->path(host, ed_names[f]);
        snprintf(buf, sizeof(buf), "winlog.event_data.%s", ed_names[f]);
        w->ed_nested[f] = host->path(host, buf);
    }
    for (size_t k = 0; k < N_IN; k++)
        w->in[k] = host->path(host, in_names[k]);
    for (size_t k = 0; k < N_OUT; k++)
        w->out[k] = host->path(host, out_names[k]);
    for (size_t f = 0; f < N_ED; f++)
        if (!w->ed_flat[f] || !w->ed_nested[f])
            goto nopath;
    for (size_t k = 0; k < N_IN; k++)
        if (!w->in[k])
            goto nopath;
    for (size_t k = 0; k < N_OUT; k++)
        if (!w->out[k])
            goto nopath;
    w->m_normalized = host->metric(host, VGL_METRIC_COUNTER, "winevent_normalized_total", NULL,
                                   "Windows events normalized");
    w->m_failed = host->metric(host, VGL_METRIC_COUNTER, "winevent_failed_total", NULL,
                               "Records sent to the dead-letter topic");
    w->m_unknown = host->metric(host, VGL_METRIC_COUNTER, "winevent_not_windows_total", NULL,
                                "Records without EventID or winlog.event_id");
    w->m_truncated = host->metric(host, VGL_METRIC_COUNTER, "winevent_truncated_fields_total",
                                  NULL, "Normalized strings cut to max_field_bytes");
    w->m_conflicts = host->metric(host, VGL_METRIC_COUNTER, "winevent_field_conflicts_total",
                                  NULL, "Normalized fields skipped: a record scalar holds the "
                                        "parent name");
    return w;
nopath:
    snprintf(err, errlen, "cannot resolve the plugin's field paths (out of memory)");
    free(w);
    return NULL;
}

static void winevent_destroy(void *inst)
{
    free(inst);
}

static const vgl_plugin_option winevent_options[] = {
    {.name = "event_data", .type = VGL_OPT_BOOL, .default_value = "true",
     .description = "copy the EventData fields of flat records to winlog.event_data.*"},
    {.name = "max_field_bytes", .type = VGL_OPT_SIZE, .default_value = "128KiB",
     .description = "longest string written to a normalized field (cut on a UTF-8 boundary)"},
    {.name = "on_unknown", .type = VGL_OPT_STRING, .default_value = "fail",
     .description = "records without EventID/winlog.event_id: fail (dead-letter), drop or pass"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "winevent",
    .version = "1.0.0",
    .description = "normalizes Windows Security/Sysmon/System/PowerShell events to ECS",
    .kind = VGL_PLUGIN_SOURCE,
    .threading = VGL_THREADING_SHARED, /* read-only after init */
    .options = winevent_options,
    .init = winevent_init,
    .process = winevent_process,
    .destroy = winevent_destroy,
};
