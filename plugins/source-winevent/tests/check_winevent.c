/*
 * Tests of vigil-source-winevent.so, loaded through the host: exact ECS
 * values on real Security-Datasets and Sentinel records (excerpts in
 * tests/data, origins in tests/data/README.md), the Winlogbeat shape,
 * every failure reason, the options, and every line of the repository's
 * Windows samples (tests/data/samples).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_harness.h"

#ifndef PLUGIN_DIR
#error "PLUGIN_DIR must name the directory of the built plugin"
#endif
#ifndef DATA_DIR
#error "DATA_DIR must name the plugin's test data directory"
#endif

static harness t;

static void open_plugin(const char *const *opts)
{
    char *err = NULL;
    ck_assert_msg(harness_open(&t, PLUGIN_DIR, "winevent", opts, &err), "load failed: %s",
                  err ? err : "");
}

static void setup(void)
{
    open_plugin(NULL);
}

static void teardown(void)
{
    harness_close(&t);
}

/* Run every line of DATA_DIR/file; returns the lines (caller frees). */
static char **run_file(const char *file, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, file);
    char **lines = lines_read(path, n);
    harness_run(&t, (const char *const *)lines, *n);
    return lines;
}

/* The live event of the run whose winlog.event_id is id (first match). */
static vgl_event *by_id(int64_t id)
{
    for (size_t i = 0; i < harness_count(&t); i++) {
        vgl_event *ev = harness_event(&t, i);
        int64_t v;
        if (ev && hint(ev, "winlog.event_id", &v) && v == id)
            return ev;
    }
    ck_abort_msg("no event with winlog.event_id %lld", (long long)id);
    return NULL;
}

static void run_one(const char *json)
{
    harness_run(&t, &json, 1);
}

#define STR(ev, path, want) \
    ck_assert_str_eq(hstr((ev), (path)) ? hstr((ev), (path)) : "(missing)", (want))
#define INT(ev, path, want)                                                   \
    do {                                                                      \
        int64_t v_ = -999999;                                                 \
        ck_assert_msg(hint((ev), (path), &v_), "%s is not an integer", path); \
        ck_assert_int_eq(v_, (want));                                         \
    } while (0)
#define MISSING(ev, path) ck_assert_msg(!hhas((ev), (path)), "%s should be absent", path)

/* ------------------------------------------------- Security-Datasets */

START_TEST(rubeus_kerberos_tgt_request)
{
    size_t n;
    char **lines = run_file("rubeus_excerpt.jsonl", &n);
    ck_assert_uint_eq(n, 8);
    vgl_event *ev = by_id(4768);
    STR(ev, "event.code", "4768");
    STR(ev, "event.kind", "event");
    STR(ev, "event.category", "authentication");
    STR(ev, "event.type", "start");
    STR(ev, "event.action", "kerberos-authentication-ticket-requested");
    STR(ev, "event.outcome", "success");
    STR(ev, "event.provider", "Microsoft-Windows-Security-Auditing");
    STR(ev, "event.dataset", "windows.security");
    STR(ev, "winlog.channel", "Security");
    STR(ev, "winlog.computer_name", "MORDORDC.theshire.local");
    STR(ev, "host.name", "MORDORDC.theshire.local");
    STR(ev, "host.os.type", "windows");
    STR(ev, "host.hostname", "MORDORDC.theshire.local");
    STR(ev, "observer.hostname", "wec.internal.cloudapp.net"); /* nxlog's "host" */
    STR(ev, "vigil.host", "mordordc");
    STR(ev, "user.name", "pgustavo");
    STR(ev, "user.domain", "theshire.local");
    STR(ev, "user.id", "S-1-5-21-4228717743-1032521047-1810997296-1104");
    STR(ev, "vigil.user", "pgustavo");
    STR(ev, "service.name", "krbtgt");
    STR(ev, "source.ip", "172.18.39.6"); /* logged as ::ffff:172.18.39.6 */
    INT(ev, "source.port", 53409);
    STR(ev, "winlog.event_data.TicketEncryptionType", "0x17");
    STR(ev, "winlog.event_data.TicketOptions", "0x40800010");
    STR(ev, "winlog.event_data.IpAddress", "::ffff:172.18.39.6");
    STR(ev, "@timestamp", "2020-09-22T02:39:14.736Z");
    ck_assert_int_eq(ev->ts_ms, 1600742354736LL);
    /* originals stay */
    STR(ev, "TargetUserName", "pgustavo");
    INT(ev, "EventID", 4768);
    MISSING(ev, "error.code");
    lines_free(lines, n);
}
END_TEST

START_TEST(rubeus_other_events)
{
    size_t n;
    char **lines = run_file("rubeus_excerpt.jsonl", &n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(harness_event(&t, i), "line %zu: %s", i, harness_reason(&t, i));

    /* network logon of the DC's machine account from ::1: no source.ip */
    vgl_event *ev = by_id(4624);
    STR(ev, "event.action", "logged-in");
    STR(ev, "event.outcome", "success");
    STR(ev, "user.name", "MORDORDC$");
    STR(ev, "vigil.user", "mordordc$");
    STR(ev, "winlog.logon.type", "3");
    MISSING(ev, "source.ip");
    INT(ev, "source.port", 53436);

    /* Sysmon 1: Rubeus started from the Empire PowerShell agent */
    ev = by_id(1);
    STR(ev, "event.dataset", "windows.sysmon");
    STR(ev, "event.provider", "Microsoft-Windows-Sysmon");
    STR(ev, "event.action", "process-created");
    STR(ev, "event.category", "process");
    STR(ev, "process.executable", "C:\\Users\\sbeavers\\Desktop\\Rubeus.exe");
    STR(ev, "process.name", "Rubeus.exe");
    STR(ev, "process.command_line",
        "\"C:\\users\\sbeavers\\Desktop\\Rubeus.exe\" asktgt /user:pgustavo "
        "/rc4:81d310fa34e6a56a31145445891bb7b8 /ptt");
    STR(ev, "process.parent.executable",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
    STR(ev, "process.parent.name", "powershell.exe");
    STR(ev, "process.hash.sha256",
        "16f711036a102605e2760a9ca8e3027138da68a3a77c2281382ab19c50fcd0ec");
    STR(ev, "process.hash.md5", "30fe511dd46bab0635913cec84c93bf5");
    STR(ev, "user.name", "wardog");
    STR(ev, "user.domain", "THESHIRE");
    STR(ev, "vigil.user", "wardog");
    STR(ev, "@timestamp", "2020-09-22T02:39:11.626Z");
    /* nxlog's record user (the Sysmon service) is winlog.user, not user */
    STR(ev, "winlog.user.name", "SYSTEM");
    STR(ev, "winlog.user.identifier", "S-1-5-18");

    /* 4688 on a host that ships the channel as "security" */
    ev = by_id(4688);
    STR(ev, "winlog.channel", "security");
    STR(ev, "event.dataset", "windows.security");
    STR(ev, "process.executable", "C:\\Users\\sbeavers\\Desktop\\Rubeus.exe");
    INT(ev, "process.pid", 0x9ac);
    INT(ev, "process.parent.pid", 0x13c0);
    STR(ev, "process.parent.name", "powershell.exe");
    STR(ev, "user.name", "wardog");
    STR(ev, "user.domain", "THESHIRE");

    /* Sysmon 3: Rubeus talks Kerberos to the DC */
    ev = by_id(3);
    STR(ev, "event.category", "network");
    STR(ev, "event.action", "network-connection");
    STR(ev, "source.ip", "172.18.39.6");
    INT(ev, "source.port", 53409);
    STR(ev, "destination.ip", "172.18.38.5");
    INT(ev, "destination.port", 88);
    STR(ev, "network.transport", "tcp");
    STR(ev, "network.direction", "outbound");
    STR(ev, "process.name", "Rubeus.exe");

    /* 4672 special logon */
    ev = by_id(4672);
    STR(ev, "event.action", "logged-in-special");
    STR(ev, "event.category", "iam");
    STR(ev, "user.name", "MORDORDC$");

    /* PowerShell 4103: generic, the user is the record's user */
    ev = by_id(4103);
    STR(ev, "event.dataset", "windows.powershell");
    STR(ev, "event.code", "4103");
    STR(ev, "event.provider", "Microsoft-Windows-PowerShell");
    STR(ev, "user.name", "wardog");
    STR(ev, "user.domain", "THESHIRE");
    STR(ev, "user.id", "S-1-5-21-4228717743-1032521047-1810997296-500");
    MISSING(ev, "event.category");
    MISSING(ev, "event.action");
    ck_assert_ptr_nonnull(strstr(hstr(ev, "winlog.event_data.Payload"), "Start-Sleep"));

    /* System 7040 (service start type changed): generic */
    ev = by_id(7040);
    STR(ev, "event.dataset", "windows.system");
    STR(ev, "event.provider", "Service Control Manager");
    STR(ev, "winlog.event_data.param1", "Microsoft NDIS Capture");
    STR(ev, "user.name", "SYSTEM");
    STR(ev, "user.domain", "NT AUTHORITY");
    lines_free(lines, n);
}
END_TEST

START_TEST(sam_copy_esentutl)
{
    size_t n;
    char **lines = run_file("sam_copy_excerpt.jsonl", &n);
    ck_assert_uint_eq(n, 6);
    vgl_event *ev = by_id(1);
    STR(ev, "event.action", "process-created");
    STR(ev, "process.executable", "C:\\Windows\\System32\\esentutl.exe");
    STR(ev, "process.name", "esentutl.exe");
    STR(ev, "process.command_line",
        "esentutl.exe  /y /vss C:\\windows/system32/config/SAM /d C:\\ProgramData\\SAM");
    INT(ev, "process.pid", 5136);
    STR(ev, "process.entity_id", "{39e4a257-15ef-5f8d-e704-000000000700}");
    STR(ev, "process.parent.executable", "C:\\Windows\\System32\\cmd.exe");
    STR(ev, "process.parent.name", "cmd.exe");
    STR(ev, "process.parent.command_line", "\"C:\\windows\\system32\\cmd.exe\" ");
    INT(ev, "process.parent.pid", 5884);
    STR(ev, "process.hash.sha256",
        "8a0bf768502c8006ceac62e3f1564e6893595170a4601e89b0f67c574ec98c41");
    STR(ev, "process.hash.md5", "a9df466f89b546452c955c6dfc91bf0f");
    STR(ev, "user.name", "wardog");
    STR(ev, "user.domain", "WORKSTATION5");
    STR(ev, "host.name", "WORKSTATION5");
    STR(ev, "vigil.host", "workstation5");
    /* TimeCreated (no zone, UTC) wins over Sysmon's UtcTime */
    STR(ev, "@timestamp", "2020-10-19T12:28:31.098Z");
    STR(ev, "winlog.event_data.OriginalFileName", "esentutl.exe");

    ev = by_id(4688);
    STR(ev, "process.command_line",
        "esentutl.exe  /y /vss C:\\windows/system32/config/SAM /d C:\\ProgramData\\SAM");
    INT(ev, "process.pid", 0x1410);
    INT(ev, "process.parent.pid", 0x16fc);
    STR(ev, "user.name", "wardog");
    STR(ev, "vigil.user", "wardog");

    ev = by_id(10);
    STR(ev, "event.category", "process");
    STR(ev, "event.type", "access");
    STR(ev, "event.action", "process-access");
    STR(ev, "process.executable", "C:\\windows\\system32\\svchost.exe");
    INT(ev, "process.pid", 404);
    STR(ev, "process.entity_id", "{39e4a257-f132-5f8b-1200-000000000700}");
    STR(ev, "winlog.event_data.TargetImage", "C:\\windows\\System32\\svchost.exe");
    STR(ev, "winlog.event_data.GrantedAccess", "0x1000");

    ev = by_id(11);
    STR(ev, "event.category", "file");
    STR(ev, "event.type", "creation");
    STR(ev, "event.action", "file-created");
    STR(ev, "file.path", "C:\\Windows\\ServiceState\\EventLog\\Data\\lastalive1.dat");
    STR(ev, "file.name", "lastalive1.dat");
    INT(ev, "process.pid", 1260);

    ev = by_id(13);
    STR(ev, "event.category", "registry");
    STR(ev, "event.action", "registry-value-set");
    STR(ev, "registry.path",
        "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\VFUProvider\\StartTime");
    STR(ev, "registry.value", "StartTime");
    /* Sysmon's own EventType is event data; nxlog's audit level is not */
    STR(ev, "winlog.event_data.EventType", "SetValue");

    ev = by_id(1102);
    STR(ev, "event.dataset", "windows.security");
    STR(ev, "event.provider", "Microsoft-Windows-Eventlog");
    MISSING(ev, "event.action");
    lines_free(lines, n);
}
END_TEST

START_TEST(schtask_remote_creation)
{
    size_t n;
    char **lines = run_file("schtask_excerpt.jsonl", &n);
    ck_assert_uint_eq(n, 5);
    vgl_event *ev = by_id(4698);
    STR(ev, "event.category", "configuration");
    STR(ev, "event.type", "creation");
    STR(ev, "event.action", "scheduled-task-created");
    STR(ev, "user.name", "pgustavo");
    STR(ev, "user.domain", "THESHIRE");
    STR(ev, "winlog.event_data.TaskName",
        "\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager");
    STR(ev, "vigil.host", "workstation6");
    STR(ev, "@timestamp", "2020-12-19T07:00:22.264Z");
    STR(ev, "event.outcome", "success"); /* Keywords 0x8020000000000000 */

    ev = by_id(4624);
    STR(ev, "source.ip", "172.18.39.5");
    INT(ev, "source.port", 56588);
    STR(ev, "winlog.logon.type", "3");
    STR(ev, "user.name", "pgustavo");
    STR(ev, "user.domain", "THESHIRE.LOCAL");

    ev = by_id(106);
    STR(ev, "event.dataset", "windows.taskscheduler");
    STR(ev, "winlog.channel", "Microsoft-Windows-TaskScheduler/Operational");

    ev = by_id(3);
    STR(ev, "source.ip", "172.18.39.5");
    STR(ev, "destination.ip", "172.18.39.6");
    INT(ev, "destination.port", 135);
    MISSING(ev, "user.name"); /* User is "-" */
    lines_free(lines, n);
}
END_TEST

/* ---------------------------------------------------------- Sentinel */

START_TEST(sentinel_net_user_add)
{
    size_t n;
    char **lines = run_file("sentinel_4688_excerpt.jsonl", &n);
    ck_assert_uint_eq(n, 1);
    vgl_event *ev = harness_event(&t, 0);
    ck_assert_ptr_nonnull(ev);
    STR(ev, "event.code", "4688");
    INT(ev, "winlog.event_id", 4688);
    STR(ev, "event.dataset", "windows.security");
    STR(ev, "event.provider", "Microsoft-Windows-Security-Auditing");
    STR(ev, "event.action", "process-created");
    STR(ev, "process.executable", "C:\\Windows\\System32\\net.exe");
    STR(ev, "process.name", "net.exe");
    STR(ev, "process.command_line", "net  user adm1nistrator Bob_testing /add");
    INT(ev, "process.pid", 0x2a8);
    STR(ev, "process.parent.executable", "C:\\Windows\\System32\\cmd.exe");
    STR(ev, "process.parent.name", "cmd.exe");
    INT(ev, "process.parent.pid", 0xbc8);
    STR(ev, "user.name", "MSTICAdmin");
    STR(ev, "user.domain", "MSTICAlertsWin1");
    STR(ev, "user.id", "S-1-5-21-996632719-2361334927-4038480536-500");
    STR(ev, "vigil.user", "msticadmin");
    STR(ev, "host.name", "MSTICAlertsWin1");
    STR(ev, "vigil.host", "msticalertswin1");
    STR(ev, "@timestamp", "2019-01-15T05:15:03.390Z");
    MISSING(ev, "winlog.channel"); /* the projection has no Channel column */
    STR(ev, "EventID", "4688");    /* original kept as logged */
    lines_free(lines, n);
}
END_TEST

START_TEST(sentinel_account_column_fallback)
{
    /* a projection without Subject* columns: the Account column is split */
    run_one("{\"EventID\":\"4688\",\"TimeGenerated\":\"2019-01-15 05:15:03.390\","
            "\"Computer\":\"MSTICAlertsWin1\",\"Account\":\"MSTICAlertsWin1\\\\MSTICAdmin\","
            "\"NewProcessName\":\"C:\\\\Windows\\\\System32\\\\net.exe\","
            "\"NewProcessId\":\"0x2a8.0\"}");
    vgl_event *ev = harness_event(&t, 0);
    STR(ev, "user.name", "MSTICAdmin");
    STR(ev, "user.domain", "MSTICAlertsWin1");
    INT(ev, "process.pid", 0x2a8);
}
END_TEST

/* ---------------------------------------------------- Winlogbeat shape */

START_TEST(nested_failed_logon)
{
    run_one("{\"@timestamp\":\"2024-05-01T10:00:00.123Z\",\"winlog\":{\"event_id\":\"4625\","
            "\"channel\":\"Security\",\"computer_name\":\"DC01.contoso.com\","
            "\"provider_name\":\"Microsoft-Windows-Security-Auditing\",\"event_data\":{"
            "\"TargetUserName\":\"Bob@contoso.com\",\"TargetDomainName\":\"CONTOSO\","
            "\"LogonType\":\"3\",\"IpAddress\":\"::ffff:203.0.113.7\",\"IpPort\":\"50123\","
            "\"Status\":\"0xc000006d\",\"SubStatus\":\"0xc000006a\","
            "\"FailureReason\":\"%%2313\"}},\"message\":\"An account failed to log on.\"}");
    vgl_event *ev = harness_event(&t, 0);
    ck_assert_msg(ev != NULL, "%s", harness_reason(&t, 0));
    INT(ev, "winlog.event_id", 4625);
    STR(ev, "event.code", "4625");
    STR(ev, "event.action", "logon-failed");
    STR(ev, "event.outcome", "failure");
    STR(ev, "error.code", "0xc000006a");
    STR(ev, "event.reason", "wrong password");
    STR(ev, "user.name", "Bob@contoso.com");
    STR(ev, "user.domain", "CONTOSO");
    STR(ev, "vigil.user", "bob");
    STR(ev, "source.ip", "203.0.113.7");
    INT(ev, "source.port", 50123);
    STR(ev, "winlog.logon.type", "3");
    STR(ev, "host.name", "DC01.contoso.com");
    STR(ev, "vigil.host", "dc01");
    STR(ev, "event.provider", "Microsoft-Windows-Security-Auditing");
    STR(ev, "message", "An account failed to log on.");
    ck_assert_int_eq(ev->ts_ms, 1714557600123LL);
}
END_TEST

START_TEST(nested_group_member_added)
{
    run_one("{\"@timestamp\":\"2024-05-01T10:00:00Z\",\"host\":{\"name\":\"dc01\"},"
            "\"winlog\":{\"event_id\":4732,\"channel\":\"Security\",\"event_data\":{"
            "\"SubjectUserName\":\"admin\",\"SubjectDomainName\":\"CONTOSO\","
            "\"TargetUserName\":\"Administrators\",\"TargetDomainName\":\"Builtin\","
            "\"TargetSid\":\"S-1-5-32-544\","
            "\"MemberName\":\"CN=Mallory\\\\, M.,OU=Users,DC=contoso\","
            "\"MemberSid\":\"S-1-5-21-1-2-3-1337\"}}}");
    vgl_event *ev = harness_event(&t, 0);
    STR(ev, "event.action", "added-member-to-group");
    STR(ev, "event.category", "iam");
    STR(ev, "user.name", "admin");
    STR(ev, "group.name", "Administrators");
    STR(ev, "group.domain", "Builtin");
    STR(ev, "group.id", "S-1-5-32-544");
    STR(ev, "user.target.name", "Mallory\\, M.");
    STR(ev, "user.target.id", "S-1-5-21-1-2-3-1337");
    STR(ev, "host.name", "dc01"); /* no computer_name: host.name as given */
}
END_TEST

START_TEST(flat_service_installed)
{
    run_one("{\"EventID\":7045,\"Channel\":\"System\",\"SourceName\":\"Service Control "
            "Manager\",\"Hostname\":\"WS1.contoso.com\",\"ServiceName\":\"PSEXESVC\","
            "\"ImagePath\":\"%SystemRoot%\\\\PSEXESVC.exe\",\"ServiceType\":\"user mode "
            "service\",\"StartType\":\"demand start\",\"@timestamp\":\"2024-05-01T10:00:00Z\"}");
    vgl_event *ev = harness_event(&t, 0);
    STR(ev, "event.action", "service-installed");
    STR(ev, "event.dataset", "windows.system");
    STR(ev, "service.name", "PSEXESVC");
    STR(ev, "service.type", "user mode service");
    STR(ev, "file.path", "%SystemRoot%\\PSEXESVC.exe");
    STR(ev, "file.name", "PSEXESVC.exe");
    STR(ev, "winlog.event_data.StartType", "demand start");
}
END_TEST

START_TEST(kerberos_failure_reason)
{
    run_one("{\"EventID\":4771,\"Channel\":\"Security\",\"Hostname\":\"dc\"}"); /* generic */
    ck_assert_ptr_nonnull(harness_event(&t, 0));
    run_one("{\"EventID\":4769,\"Channel\":\"Security\",\"Hostname\":\"dc\","
            "\"TargetUserName\":\"pgustavo@THESHIRE.LOCAL\",\"ServiceName\":\"MSSQLSvc\","
            "\"Status\":\"0x18\",\"IpAddress\":\"-\"}");
    vgl_event *ev = harness_event(&t, 0);
    STR(ev, "event.action", "kerberos-service-ticket-requested");
    STR(ev, "event.outcome", "failure");
    STR(ev, "error.code", "0x18");
    STR(ev, "event.reason", "pre-authentication failed (wrong password)");
    STR(ev, "user.name", "pgustavo@THESHIRE.LOCAL");
    STR(ev, "vigil.user", "pgustavo");
    STR(ev, "service.name", "MSSQLSvc");
    MISSING(ev, "source.ip");
}
END_TEST

/* ------------------------------------------------------------ failures */

static void expect_fail(const char *json, const char *reason)
{
    run_one(json);
    ck_assert_msg(harness_failed(&t, 0), "not failed: %s", json);
    ck_assert_str_eq(harness_reason(&t, 0), reason);
}

START_TEST(fail_not_windows)
{
    expect_fail("{\"Channel\":\"Security\",\"Hostname\":\"x\"}",
                "plugin winevent: not a Windows event: no EventID or winlog.event_id field");
    expect_fail("{}",
                "plugin winevent: not a Windows event: no EventID or winlog.event_id field");
}
END_TEST

START_TEST(fail_bad_event_id)
{
    expect_fail("{\"EventID\":\"abc\"}",
                "plugin winevent: EventID is a string that is not an event number");
    expect_fail("{\"EventID\":\"0x1200\"}",
                "plugin winevent: EventID is a string that is not an event number");
    expect_fail("{\"EventID\":true}",
                "plugin winevent: EventID must be an event number, got a boolean");
    expect_fail("{\"EventID\":null}", "plugin winevent: EventID must be an event number, got null");
    expect_fail("{\"EventID\":4624.5}",
                "plugin winevent: EventID must be an event number, got a number");
    expect_fail("{\"EventID\":{\"id\":4624}}",
                "plugin winevent: EventID must be an event number, got an object");
    expect_fail("{\"EventID\":[4624]}",
                "plugin winevent: EventID must be an event number, got an array");
    expect_fail("{\"EventID\":70000}", "plugin winevent: EventID 70000 is out of range (0-65535)");
    expect_fail("{\"EventID\":-1}", "plugin winevent: EventID -1 is out of range (0-65535)");
    expect_fail("{\"EventID\":\"99999999\"}",
                "plugin winevent: EventID 99999999 is out of range (0-65535)");
    expect_fail("{\"winlog\":{\"event_id\":\"x\"}}",
                "plugin winevent: winlog.event_id is a string that is not an event number");
}
END_TEST

START_TEST(fail_wrong_structure)
{
    expect_fail("{\"winlog\":{\"event_id\":4624,\"event_data\":\"TargetUserName=bob\"}}",
                "plugin winevent: winlog.event_data must be an object, got a string");
}
END_TEST

START_TEST(field_conflicts_are_skipped)
{
    /* scalars where ECS needs objects: those fields are skipped, the rest
     * is normalized and the originals stay */
    run_one("{\"EventID\":4624,\"winlog\":\"x\",\"user\":\"bob\",\"host\":42,"
            "\"Channel\":\"Security\",\"Hostname\":\"WS1.contoso.com\","
            "\"TargetUserName\":\"alice\"}");
    vgl_event *ev = harness_event(&t, 0);
    ck_assert_msg(ev != NULL, "%s", harness_reason(&t, 0));
    STR(ev, "event.code", "4624");
    STR(ev, "winlog", "x");
    STR(ev, "user", "bob");
    INT(ev, "host", 42);
    STR(ev, "vigil.user", "alice");
    STR(ev, "vigil.host", "ws1");
    STR(ev, "event.action", "logged-in");
    MISSING(ev, "observer.hostname");
}
END_TEST

START_TEST(nxlog_host_moves_to_observer)
{
    run_one("{\"EventID\":4624,\"Channel\":\"Security\",\"host\":\"wec.contoso.com\","
            "\"Hostname\":\"WS1.contoso.com\"}");
    vgl_event *ev = harness_event(&t, 0);
    STR(ev, "observer.hostname", "wec.contoso.com");
    STR(ev, "host.hostname", "WS1.contoso.com");
    STR(ev, "host.name", "WS1.contoso.com");
    STR(ev, "host.os.type", "windows");
    /* no computer name: the collector's "host" string stays as it is */
    run_one("{\"EventID\":4624,\"Channel\":\"Security\",\"host\":\"wec.contoso.com\"}");
    ev = harness_event(&t, 0);
    STR(ev, "host", "wec.contoso.com");
    MISSING(ev, "observer.hostname");
}
END_TEST

START_TEST(non_object_and_too_deep_records)
{
    /* the codec refuses these before the plugin: they stay failed with the
     * codec's reason, and the plugin leaves them alone */
    const char *recs[] = {"[1,2]", "\"4624\"", NULL};
    char deep[300];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof(deep), "{\"EventID\":4624,\"x\":");
    for (int i = 0; i < 70; i++)
        deep[k++] = '[';
    for (int i = 0; i < 70; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    recs[2] = deep;
    harness_run(&t, recs, 3);
    ck_assert(harness_failed(&t, 0));
    ck_assert_str_eq(harness_reason(&t, 0), "top-level JSON value is an array, expected an object");
    ck_assert(harness_failed(&t, 1));
    ck_assert_str_eq(harness_reason(&t, 1),
                     "top-level JSON value is a string, expected an object");
    ck_assert(harness_failed(&t, 2));
    ck_assert_str_eq(harness_reason(&t, 2), "nesting deeper than 64 at byte 83");
}
END_TEST

START_TEST(hostile_values_are_skipped)
{
    /* nested arrays, numbers and oversized names where strings belong:
     * the event is normalized, the bad fields are left out */
    char host[5000];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    char open[61], close[61];
    memset(open, '[', 60);
    memset(close, ']', 60);
    open[60] = close[60] = '\0';
    char *rec = malloc(8000);
    snprintf(rec, 8000,
             "{\"EventID\":\"4624\",\"Channel\":\"Security\",\"Hostname\":\"%s\","
             "\"TargetUserName\":%s\"bob\"%s,"
             "\"IpAddress\":\"999.1.1.1\",\"IpPort\":\"70000\",\"LogonType\":3,"
             "\"@timestamp\":\"not a time\",\"TimeCreated\":\"2024-13-01 10:00:00\"}",
             host, open, close);
    run_one(rec);
    vgl_event *ev = harness_event(&t, 0);
    ck_assert_msg(ev != NULL, "%s", harness_reason(&t, 0));
    STR(ev, "event.action", "logged-in");
    MISSING(ev, "host.name");
    MISSING(ev, "vigil.host");
    MISSING(ev, "user.name");
    MISSING(ev, "vigil.user");
    MISSING(ev, "source.ip");
    MISSING(ev, "source.port");
    MISSING(ev, "winlog.logon.type"); /* a number, not the string the contract promises */
    STR(ev, "@timestamp", "not a time"); /* no parsable time: original and time stay */
    ck_assert_int_eq(ev->ts_ms, INT64_MIN);
    /* the nested original is copied as logged */
    ck_assert_int_eq(vgl_event_get(ev, vgl_path_intern("winlog.event_data.TargetUserName"))->type,
                     VGL_T_ARRAY);
    free(rec);
}
END_TEST

START_TEST(huge_strings_are_cut_on_utf8_boundary)
{
    /* "a" + 150,000 x "é" (2 bytes): 300,001 bytes, cut to 131,071 */
    size_t n = 1 + 150000 * 2;
    char *cmd = malloc(n + 1);
    cmd[0] = 'a';
    for (size_t i = 0; i < 150000; i++) {
        cmd[1 + 2 * i] = (char)0xC3;
        cmd[2 + 2 * i] = (char)0xA9;
    }
    cmd[n] = '\0';
    char *rec = malloc(n + 200);
    snprintf(rec, n + 200,
             "{\"EventID\":4688,\"Channel\":\"Security\",\"NewProcessName\":\"C:\\\\x.exe\","
             "\"CommandLine\":\"%s\"}",
             cmd);
    run_one(rec);
    vgl_event *ev = harness_event(&t, 0);
    const vgl_value *v = vgl_event_get(ev, vgl_path_intern("process.command_line"));
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->n, 131071);
    ck_assert_int_eq(memcmp(v->u.s, cmd, 131071), 0);
    v = vgl_event_get(ev, vgl_path_intern("CommandLine"));
    ck_assert_uint_eq(v->n, n); /* the original is intact */
    free(rec);
    free(cmd);
}
END_TEST

/* ------------------------------------------------------------- options */

START_TEST(option_on_unknown)
{
    harness_close(&t);
    const char *drop[] = {"on_unknown", "drop", NULL};
    open_plugin(drop);
    const char *recs[] = {"{\"foo\":1}", "{\"EventID\":4624}"};
    harness_run(&t, recs, 2);
    ck_assert(harness_dropped(&t, 0));
    ck_assert_ptr_nonnull(harness_event(&t, 1));
    harness_close(&t);

    const char *pass[] = {"on_unknown", "pass", NULL};
    open_plugin(pass);
    harness_run(&t, recs, 2);
    vgl_event *ev = harness_event(&t, 0);
    ck_assert_ptr_nonnull(ev);
    MISSING(ev, "event.code");
    /* a malformed Windows event still fails whatever on_unknown says */
    const char *bad = "{\"EventID\":\"x\"}";
    harness_run(&t, &bad, 1);
    ck_assert(harness_failed(&t, 0));
}
END_TEST

START_TEST(option_event_data_off)
{
    harness_close(&t);
    const char *opts[] = {"event_data", "false", NULL};
    open_plugin(opts);
    size_t n;
    char **lines = run_file("rubeus_excerpt.jsonl", &n);
    vgl_event *ev = by_id(4768);
    MISSING(ev, "winlog.event_data");
    STR(ev, "user.name", "pgustavo"); /* normalization reads the top level */
    STR(ev, "source.ip", "172.18.39.6");
    lines_free(lines, n);
}
END_TEST

START_TEST(option_max_field_bytes)
{
    harness_close(&t);
    const char *opts[] = {"max_field_bytes", "64", NULL};
    open_plugin(opts);
    size_t n;
    char **lines = run_file("rubeus_excerpt.jsonl", &n);
    vgl_event *ev = by_id(1);
    STR(ev, "process.command_line",
        "\"C:\\users\\sbeavers\\Desktop\\Rubeus.exe\" asktgt /user:pgustavo /rc");
    lines_free(lines, n);
}
END_TEST

START_TEST(option_errors)
{
    harness_close(&t);
    char *err = NULL;
    const char *bad[] = {"on_unknown", "maybe", NULL};
    ck_assert(!harness_open(&t, PLUGIN_DIR, "winevent", bad, &err));
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin winevent (%s/vigil-source-winevent.so): on_unknown must be fail, drop or "
             "pass, got \"maybe\"\n",
             PLUGIN_DIR);
    ck_assert_str_eq(err, want);
    free(err);
    const char *small[] = {"max_field_bytes", "10", NULL};
    ck_assert(!harness_open(&t, PLUGIN_DIR, "winevent", small, &err));
    snprintf(want, sizeof(want),
             "plugin winevent (%s/vigil-source-winevent.so): max_field_bytes must be between "
             "64 bytes and 64MiB, got 10\n",
             PLUGIN_DIR);
    ck_assert_str_eq(err, want);
    free(err);
    const char *typo[] = {"event_dat", "true", NULL};
    ck_assert(!harness_open(&t, PLUGIN_DIR, "winevent", typo, &err));
    snprintf(want, sizeof(want),
             "plugin winevent (%s/vigil-source-winevent.so): vigil.yaml:12:20: unknown option "
             "\"event_dat\" (did you mean \"event_data\"?)\n",
             PLUGIN_DIR);
    ck_assert_str_eq(err, want);
    free(err);
    open_plugin(NULL); /* for teardown */
}
END_TEST

/* ---------------------------------------------- every line of the samples */

static void all_lines(const char *file, size_t want_lines, const char *want_dataset_counts)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/samples/%s", VGL_TEST_DATA, file);
    size_t n;
    char **lines = lines_read(path, &n);
    ck_assert_uint_eq(n, want_lines);
    harness_run(&t, (const char *const *)lines, n);
    const char *names[] = {"windows.security", "windows.sysmon", "windows.system",
                           "windows.powershell", "windows.taskscheduler", "windows.other"};
    size_t counts[6] = {0}, live = 0;
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = harness_event(&t, i);
        ck_assert_msg(ev != NULL, "%s line %zu failed: %s", file, i + 1, harness_reason(&t, i));
        live++;
        const char *ds = hstr(ev, "event.dataset");
        ck_assert_ptr_nonnull(ds);
        for (size_t k = 0; k < 6; k++)
            if (strcmp(ds, names[k]) == 0)
                counts[k]++;
        /* every event has its code, host and time */
        ck_assert_ptr_nonnull(hstr(ev, "event.code"));
        ck_assert_ptr_nonnull(hstr(ev, "vigil.host"));
        ck_assert_ptr_nonnull(hstr(ev, "@timestamp"));
    }
    char got[256];
    snprintf(got, sizeof(got), "live=%zu security=%zu sysmon=%zu system=%zu powershell=%zu "
             "taskscheduler=%zu other=%zu", live, counts[0], counts[1], counts[2], counts[3],
             counts[4], counts[5]);
    ck_assert_str_eq(got, want_dataset_counts);
    lines_free(lines, n);
}

START_TEST(all_lines_rubeus)
{
    all_lines("win_sd_rubeus_asktgt_ptt.jsonl", 14,
              "live=14 security=5 sysmon=1 system=0 powershell=8 taskscheduler=0 other=0");
}
END_TEST

START_TEST(all_lines_sam_copy)
{
    all_lines("win_sd_sam_copy_esentutl.jsonl", 30,
              "live=30 security=30 sysmon=0 system=0 powershell=0 taskscheduler=0 other=0");
}
END_TEST

START_TEST(all_lines_schtask)
{
    all_lines("win_sd_remote_schtask_create.jsonl", 30,
              "live=30 security=30 sysmon=0 system=0 powershell=0 taskscheduler=0 other=0");
}
END_TEST

START_TEST(all_lines_mshta)
{
    all_lines("win_sd_mshta_vbscript_execute_powershell.jsonl", 30,
              "live=30 security=30 sysmon=0 system=0 powershell=0 taskscheduler=0 other=0");
}
END_TEST

START_TEST(all_lines_sentinel)
{
    all_lines("sentinel_securityevent_4624_host_logons.jsonl", 14,
              "live=14 security=14 sysmon=0 system=0 powershell=0 taskscheduler=0 other=0");
    all_lines("sentinel_securityevent_4688_processes_on_host.jsonl", 30,
              "live=30 security=30 sysmon=0 system=0 powershell=0 taskscheduler=0 other=0");
    /* every 4688 row names its new process and its parent */
    for (size_t i = 0; i < harness_count(&t); i++) {
        vgl_event *ev = harness_event(&t, i);
        ck_assert_ptr_nonnull(hstr(ev, "process.name"));
        ck_assert_ptr_nonnull(hstr(ev, "process.parent.name"));
        ck_assert_ptr_nonnull(hstr(ev, "vigil.user"));
    }
}
END_TEST

static Suite *winevent_suite(void)
{
    Suite *s = suite_create("winevent");
    TCase *tc = tcase_create("samples");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rubeus_kerberos_tgt_request);
    tcase_add_test(tc, rubeus_other_events);
    tcase_add_test(tc, sam_copy_esentutl);
    tcase_add_test(tc, schtask_remote_creation);
    tcase_add_test(tc, sentinel_net_user_add);
    tcase_add_test(tc, sentinel_account_column_fallback);
    tcase_add_test(tc, nested_failed_logon);
    tcase_add_test(tc, nested_group_member_added);
    tcase_add_test(tc, flat_service_installed);
    tcase_add_test(tc, kerberos_failure_reason);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fail_not_windows);
    tcase_add_test(tc, fail_bad_event_id);
    tcase_add_test(tc, fail_wrong_structure);
    tcase_add_test(tc, field_conflicts_are_skipped);
    tcase_add_test(tc, nxlog_host_moves_to_observer);
    tcase_add_test(tc, non_object_and_too_deep_records);
    tcase_add_test(tc, hostile_values_are_skipped);
    tcase_add_test(tc, huge_strings_are_cut_on_utf8_boundary);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, option_on_unknown);
    tcase_add_test(tc, option_event_data_off);
    tcase_add_test(tc, option_max_field_bytes);
    tcase_add_test(tc, option_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("all_lines");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, all_lines_rubeus);
    tcase_add_test(tc, all_lines_sam_copy);
    tcase_add_test(tc, all_lines_schtask);
    tcase_add_test(tc, all_lines_mshta);
    tcase_add_test(tc, all_lines_sentinel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(winevent_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
