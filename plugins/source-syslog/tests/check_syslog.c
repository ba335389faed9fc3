/*
 * Tests of the syslog connector, loaded and started through the plugin
 * host: real UDP datagrams and TCP streams go to its sockets on loopback,
 * the records it produces are captured through the host's producer hook
 * and decoded with vigil's own JSON codec, and the fields are asserted.
 * Covers RFC 5424 and RFC 3164, both TCP framings, partial writes,
 * oversize messages, garbage and binary input, max_connections, and
 * shutdown. The parser is also driven directly with every prefix of valid
 * messages and with random bytes: its JSON must always decode.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "event.h"
#include "log.h"
#include "plugin.h"
#include "../syslog_parse.h" /* the parser is also compiled into this test */

/* ------------------------------------------------------ capture */

#define MAX_RECORDS 256

typedef struct record {
    char topic[64];
    char key[64];
    char *value;
    size_t len;
} record;

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static record recs[MAX_RECORDS];
static int nrecs;
static bool refuse_produce; /* the test checks nothing is produced after stop */

static vgl_rc capture(void *opaque, const char *topic, const void *key, size_t keylen,
                      const void *value, size_t len)
{
    (void)opaque;
    pthread_mutex_lock(&rec_lock);
    if (!refuse_produce && nrecs < MAX_RECORDS) {
        record *r = &recs[nrecs++];
        snprintf(r->topic, sizeof(r->topic), "%s", topic);
        snprintf(r->key, sizeof(r->key), "%.*s", (int)keylen, key ? (const char *)key : "");
        r->value = malloc(len + 1);
        memcpy(r->value, value, len);
        r->value[len] = '\0';
        r->len = len;
    }
    pthread_mutex_unlock(&rec_lock);
    return VGL_OK;
}

static int record_count(void)
{
    pthread_mutex_lock(&rec_lock);
    int n = nrecs;
    pthread_mutex_unlock(&rec_lock);
    return n;
}

/* Wait (up to 5 s) until n records arrived; then a little longer to catch
 * extra ones, and assert exactly n. */
static void expect_records(int n)
{
    for (int i = 0; i < 500 && record_count() < n; i++)
        usleep(10000);
    usleep(50000);
    ck_assert_int_eq(record_count(), n);
}

/* ------------------------------------------------------ fixture */

static vgl_config *cfg;
static vgl_plugins *plugins;
static vgl_diag diag;
static int udp_port, tcp_port;
static vgl_event events[MAX_RECORDS];
static bool decoded[MAX_RECORDS];

static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static void setup(void)
{
    memset(&diag, 0, sizeof(diag));
    cfg = NULL;
    plugins = NULL;
    nrecs = 0;
    refuse_produce = false;
    memset(decoded, 0, sizeof(decoded));
    udp_port = free_port(SOCK_DGRAM);
    tcp_port = free_port(SOCK_STREAM);
}

static void teardown(void)
{
    vgl_plugins_free(plugins);
    vgl_config_free(cfg);
    vgl_diag_free(&diag);
    for (int i = 0; i < MAX_RECORDS; i++)
        if (decoded[i])
            vgl_event_destroy(&events[i]);
    for (int i = 0; i < nrecs; i++)
        free(recs[i].value);
    nrecs = 0;
    vgl_path_registry_free();
}

static const char *diag_text(void)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < diag.n; i++) {
        strncat(buf, diag.msgs[i], sizeof(buf) - strlen(buf) - 2);
        strcat(buf, "\n");
    }
    return buf;
}

/* Load the connector with listen_udp/listen_tcp on the free ports and
 * `extra` config lines; NULL (diag filled) when loading failed. */
static vgl_plugins *load_syslog(const char *extra)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "plugin_path: [\"%s\"]\n"
             "plugins:\n"
             "  - name: syslog\n"
             "    config:\n"
             "      topic: raw.syslog\n"
             "%s",
             PLUGIN_DIR, extra);
    cfg = vgl_config_load_string(yaml, strlen(yaml), "vigil.yaml", &diag);
    ck_assert_msg(cfg, "config: %s", diag_text());
    plugins = vgl_plugins_load(cfg, &diag);
    if (plugins)
        vgl_plugins_set_producer(plugins, capture, NULL);
    return plugins;
}

static void start_syslog(const char *extra)
{
    char c[2048];
    snprintf(c, sizeof(c),
             "      listen_udp: \"127.0.0.1:%d\"\n"
             "      listen_tcp: \"127.0.0.1:%d\"\n"
             "%s",
             udp_port, tcp_port, extra ? extra : "");
    ck_assert_msg(load_syslog(c), "load: %s", diag_text());
    ck_assert_msg(vgl_plugins_start(plugins, &diag) == VGL_OK, "start: %s", diag_text());
}

/* ------------------------------------------------------ senders */

static void send_udp(const char *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)udp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
    close(fd);
}

static void send_udp_str(const char *s)
{
    send_udp(s, strlen(s));
    usleep(2000); /* keep arrival order for the assertions */
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tcp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void tcp_send(int fd, const char *data, size_t len)
{
    ck_assert_int_eq(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* ------------------------------------------------------ fields */

static vgl_event *ev(int i)
{
    ck_assert_int_lt(i, record_count());
    if (!decoded[i]) {
        char err[256];
        vgl_event_init(&events[i], 0);
        vgl_rc rc = vgl_json_decode(&events[i], recs[i].value, recs[i].len, NULL, err,
                                    sizeof(err));
        ck_assert_msg(rc == VGL_OK, "record %d is not valid JSON (%s): %s", i, err,
                      recs[i].value);
        decoded[i] = true;
    }
    return &events[i];
}

static const vgl_value *field(int i, const char *path)
{
    return vgl_event_get(ev(i), vgl_path_intern(path));
}

static void assert_str(int i, const char *path, const char *want)
{
    const vgl_value *v = field(i, path);
    ck_assert_msg(v && v->type == VGL_T_STRING, "record %d: %s missing or not a string: %s", i,
                  path, recs[i].value);
    ck_assert_msg(strlen(want) == v->n && memcmp(v->u.s, want, v->n) == 0,
                  "record %d: %s is \"%s\", want \"%s\"", i, path, v->u.s, want);
}

static void assert_int(int i, const char *path, int64_t want)
{
    const vgl_value *v = field(i, path);
    ck_assert_msg(v && v->type == VGL_T_INT, "record %d: %s missing or not an int: %s", i, path,
                  recs[i].value);
    ck_assert_int_eq(v->u.i, want);
}

static void assert_absent(int i, const char *path)
{
    ck_assert_msg(!field(i, path), "record %d: %s should be absent: %s", i, path,
                  recs[i].value);
}

static bool has_tag(int i, const char *tag)
{
    const vgl_value *v = field(i, "tags");
    if (!v || v->type != VGL_T_ARRAY)
        return false;
    for (uint32_t k = 0; k < v->n; k++)
        if (v->u.items[k].type == VGL_T_STRING && strcmp(v->u.items[k].u.s, tag) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------ tests */

START_TEST(rfc5424_over_udp)
{
    start_syslog(NULL);
    /* the examples of RFC 5424 section 6.5 */
    send_udp_str("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                 "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8");
    send_udp_str("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's "
                 "time to make the do-nuts.");
    send_udp_str("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                 "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
                 "\xEF\xBB\xBF" "An application event log entry...");
    send_udp_str("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                 "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
                 "[examplePriority@32473 class=\"high\"]");
    /* escapes in PARAM-VALUE, a repeated parameter, all-nil header */
    send_udp_str("<13>1 - - - - - [x@1 q=\"a \\\"b\\\" \\] \\\\ \\n\" ip=\"10.0.0.1\" "
                 "ip=\"10.0.0.2\"][meta.data@1] msg\n");
    expect_records(5);

    ck_assert_str_eq(recs[0].topic, "raw.syslog");
    ck_assert_str_eq(recs[0].key, "127.0.0.1");
    assert_str(0, "@timestamp", "2003-10-11T22:14:15.003Z");
    assert_int(0, "log.syslog.priority", 34);
    assert_int(0, "log.syslog.facility.code", 4);
    assert_str(0, "log.syslog.facility.name", "auth");
    assert_int(0, "log.syslog.severity.code", 2);
    assert_str(0, "log.syslog.severity.name", "critical");
    assert_int(0, "log.syslog.version", 1);
    assert_str(0, "host.hostname", "mymachine.example.com");
    assert_str(0, "process.name", "su");
    assert_absent(0, "process.pid");
    assert_str(0, "log.syslog.msgid", "ID47");
    assert_str(0, "message", "'su root' failed for lonvick on /dev/pts/8");
    assert_str(0, "event.dataset", "syslog");
    assert_str(0, "network.transport", "udp");
    ck_assert_ptr_nonnull(strstr(field(0, "log.source.address")->u.s, "127.0.0.1:"));
    assert_absent(0, "tags");
    assert_absent(0, "error.message");
    assert_absent(0, "event.original");

    assert_str(1, "@timestamp", "2003-08-24T12:14:15.000Z");
    assert_int(1, "log.syslog.facility.code", 20);
    assert_int(1, "log.syslog.severity.code", 5);
    assert_str(1, "host.hostname", "192.0.2.1");
    assert_str(1, "process.name", "myproc");
    assert_int(1, "process.pid", 8710);
    assert_str(1, "log.syslog.procid", "8710");
    assert_absent(1, "log.syslog.msgid");
    assert_str(1, "message", "%% It's time to make the do-nuts.");

    assert_str(2, "log.syslog.structured_data.exampleSDID@32473.iut", "3");
    assert_str(2, "log.syslog.structured_data.exampleSDID@32473.eventSource", "Application");
    assert_str(2, "log.syslog.structured_data.exampleSDID@32473.eventID", "1011");
    assert_str(2, "message", "An application event log entry...");

    assert_str(3, "log.syslog.structured_data.examplePriority@32473.class", "high");
    assert_absent(3, "message");

    assert_str(4, "log.syslog.structured_data.x@1.q", "a \"b\" ] \\ \\n");
    const vgl_value *ips = field(4, "log.syslog.structured_data.x@1.ip");
    ck_assert_ptr_nonnull(ips);
    ck_assert_int_eq(ips->type, VGL_T_ARRAY);
    ck_assert_uint_eq(ips->n, 2);
    ck_assert_str_eq(ips->u.items[1].u.s, "10.0.0.2");
    /* an SD-ID with a dot keeps one path segment; an element without params is {} */
    const vgl_value *meta = field(4, "log.syslog.structured_data.meta_data@1");
    ck_assert_ptr_nonnull(meta);
    ck_assert_int_eq(meta->type, VGL_T_OBJECT);
    assert_absent(4, "host.hostname");
    assert_absent(4, "process");
    assert_str(4, "message", "msg");
    /* nil timestamp: the receive time */
    const vgl_value *ts = field(4, "@timestamp"), *created = field(4, "event.created");
    ck_assert_str_eq(ts->u.s, created->u.s);
}
END_TEST

static int current_year(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900;
}

START_TEST(rfc3164_over_udp)
{
    start_syslog(NULL);
    send_udp_str("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    send_udp_str("<38>Feb  5 17:32:18 bastion sshd[4721]: Failed password for invalid user "
                 "admin from 203.0.113.9 port 52144 ssh2");
    send_udp_str("<78>Jan 01 00:00:01 CRON[123]: pam_unix(cron:session): session opened\n");
    send_udp_str("<13>Mar 14 09:26:53 host just some text without a tag");
    send_udp_str("<30>2024-02-29T12:00:00.5+01:00 fw01 kernel: [UFW BLOCK] IN=eth0 SRC=198.51.100.4");
    expect_records(5);

    assert_int(0, "log.syslog.facility.code", 4);
    assert_int(0, "log.syslog.severity.code", 2);
    assert_str(0, "host.hostname", "mymachine");
    assert_str(0, "process.name", "su");
    assert_str(0, "message", "'su root' failed for lonvick on /dev/pts/8");
    assert_absent(0, "log.syslog.version");
    const char *ts = field(0, "@timestamp")->u.s;
    int year = atoi(ts);
    ck_assert_msg(year == current_year() || year == current_year() - 1, "%s", ts);
    ck_assert_str_eq(ts + 4, "-10-11T22:14:15.000Z");

    assert_str(1, "host.hostname", "bastion");
    assert_str(1, "process.name", "sshd");
    assert_int(1, "process.pid", 4721);
    assert_str(1, "message",
               "Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2");
    ck_assert_str_eq(field(1, "@timestamp")->u.s + 4, "-02-05T17:32:18.000Z");

    /* no hostname: the first word is the tag */
    assert_absent(2, "host.hostname");
    assert_str(2, "process.name", "CRON");
    assert_int(2, "process.pid", 123);
    assert_str(2, "message", "pam_unix(cron:session): session opened");
    assert_int(2, "log.syslog.facility.code", 9);

    /* no tag: everything after the host is the message */
    assert_str(3, "host.hostname", "host");
    assert_absent(3, "process.name");
    assert_str(3, "message", "just some text without a tag");

    /* RFC 3339 time in a BSD-style header (rsyslog's default template) */
    assert_str(4, "@timestamp", "2024-02-29T11:00:00.500Z");
    assert_str(4, "host.hostname", "fw01");
    assert_str(4, "process.name", "kernel");
    assert_str(4, "message", "[UFW BLOCK] IN=eth0 SRC=198.51.100.4");
}
END_TEST

START_TEST(malformed_kept_raw)
{
    start_syslog(NULL);
    const char *bad[] = {
        "hello world",
        "<999>Oct 11 22:14:15 host tag: x",
        "<034>Oct 11 22:14:15 host tag: x",
        "<34>1 2003-13-11T22:14:15Z host app - - - month 13",
        "<34>Foo 11 22:14:15 host tag: x",
        "<165>1 2003-10-11T22:14:15.003Z host app - ID47 [bad",
        "<165>1 2003-10-11T22:14:15.003Z host app - ID47 [id a=\"unterminated]",
        "<165>1 2003-10-11T22:14:15.003Z host app - ID47 -x",
        "<13>",
    };
    const char *why[] = {
        "missing PRI (the message does not start with <)",
        "invalid PRI (want <0> to <191>)",
        "invalid PRI (want <0> to <191>)",
        "RFC 5424: bad TIMESTAMP",
        "RFC 3164: bad TIMESTAMP (want \"Mmm dd hh:mm:ss\")",
        "RFC 5424: missing ] after [bad",
        "RFC 5424: unterminated PARAM-VALUE in [id]",
        "RFC 5424: missing space before MSG",
        "RFC 3164: bad TIMESTAMP (want \"Mmm dd hh:mm:ss\")",
    };
    size_t nbad = sizeof(bad) / sizeof(bad[0]);
    for (size_t i = 0; i < nbad; i++)
        send_udp_str(bad[i]);
    /* binary: NUL, control bytes, invalid UTF-8 */
    static const char bin[] = {'<', '1', '3', '>', 0x00, 0x01, (char)0xff, (char)0xfe, 'z', 0x7f};
    send_udp(bin, sizeof(bin));
    usleep(2000);
    expect_records((int)nbad + 1);
    for (size_t i = 0; i < nbad; i++) {
        assert_str((int)i, "message", bad[i]);
        assert_str((int)i, "event.original", bad[i]);
        assert_str((int)i, "error.message", why[i]);
        assert_str((int)i, "event.dataset", "syslog");
        ck_assert_msg(has_tag((int)i, "syslog_parse_error"), "%s", recs[i].value);
        assert_absent((int)i, "host.hostname");
    }
    /* a valid PRI is still decoded when the rest is not */
    assert_absent(0, "log.syslog");
    assert_absent(1, "log.syslog");
    assert_int(3, "log.syslog.severity.code", 2);
    assert_int(3, "log.syslog.facility.code", 4);
    int b = (int)nbad;
    /* NUL and control bytes kept (escaped in JSON), invalid UTF-8 as U+FFFD */
    const vgl_value *msg = field(b, "message");
    ck_assert_uint_eq(msg->n, 14);
    ck_assert_int_eq(memcmp(msg->u.s, "<13>\x00\x01\xEF\xBF\xBD\xEF\xBF\xBDz\x7f", 14), 0);
    ck_assert_ptr_nonnull(strstr(recs[b].value, "\"message\":\"<13>\\u0000\\u0001"));
    assert_str(b, "error.message", "RFC 3164: bad TIMESTAMP (want \"Mmm dd hh:mm:ss\")");
    ck_assert(has_tag(b, "syslog_parse_error"));
}
END_TEST

START_TEST(tcp_both_framings)
{
    start_syslog(NULL);
    int fd = tcp_connect();
    /* octet-counted, several frames in one write */
    const char *m1 = "<34>1 2003-10-11T22:14:15.003Z h1 app 1 - - first";
    const char *m2 = "<34>1 2003-10-11T22:14:15.003Z h1 app 1 - - second\nwith a newline";
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%zu %s%zu %s", strlen(m1), m1, strlen(m2), m2);
    tcp_send(fd, buf, (size_t)n);
    /* newline-framed, CRLF, and empty lines between frames */
    const char *lines = "<13>Oct 11 22:14:15 h2 app: third\r\n\n<13>Oct 11 22:14:15 h2 app: fourth\n";
    tcp_send(fd, lines, strlen(lines));
    expect_records(4);
    assert_str(0, "message", "first");
    assert_str(1, "message", "second\nwith a newline");
    assert_str(2, "message", "third");
    assert_str(3, "message", "fourth");
    assert_str(3, "network.transport", "tcp");
    ck_assert_str_eq(recs[3].key, "127.0.0.1");

    /* partial writes: one byte at a time, header split, frame split */
    const char *m5 = "<165>1 2003-10-11T22:14:15.003Z h3 evntslog - ID47 [a@1 k=\"v\"] fifth";
    n = snprintf(buf, sizeof(buf), "%zu %s<13>Oct 11 22:14:15 h4 t: sixth\n", strlen(m5), m5);
    for (int i = 0; i < n; i++) {
        tcp_send(fd, buf + i, 1);
        if (i % 7 == 0)
            usleep(1000);
    }
    expect_records(6);
    assert_str(4, "message", "fifth");
    assert_str(4, "log.syslog.structured_data.a@1.k", "v");
    assert_str(5, "message", "sixth");
    assert_str(5, "host.hostname", "h4");

    /* a last message without newline is delivered when the peer closes */
    const char *last = "<13>Oct 11 22:14:15 h5 t: seventh, no newline";
    tcp_send(fd, last, strlen(last));
    usleep(50000);
    ck_assert_int_eq(record_count(), 6);
    close(fd);
    expect_records(7);
    assert_str(6, "message", "seventh, no newline");
    assert_absent(6, "tags");

    /* digits without a space are not a count: the line is kept, raw */
    fd = tcp_connect();
    tcp_send(fd, "12345abc\n", 9);
    close(fd);
    expect_records(8);
    assert_str(7, "message", "12345abc");
    ck_assert(has_tag(7, "syslog_parse_error"));
}
END_TEST

START_TEST(oversize_truncated)
{
    start_syslog("      max_message_bytes: 512\n");
    char big[3000];
    memcpy(big, "<13>Oct 11 22:14:15 host app: ", 30);
    for (size_t i = 30; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    /* UDP: cut to 512 bytes */
    send_udp(big, sizeof(big));
    expect_records(1);
    ck_assert(has_tag(0, "syslog_truncated"));
    ck_assert(!has_tag(0, "syslog_parse_error"));
    ck_assert_uint_eq(field(0, "message")->n, 512 - 30);
    ck_assert_int_eq(memcmp(field(0, "message")->u.s, big + 30, 482), 0);

    /* TCP newline frame: cut, the rest of the line skipped, the next line intact */
    int fd = tcp_connect();
    tcp_send(fd, big, sizeof(big));
    tcp_send(fd, "\n<13>Oct 11 22:14:15 host app: after-line\n", 42);
    expect_records(3);
    ck_assert(has_tag(1, "syslog_truncated"));
    ck_assert_uint_eq(field(1, "message")->n, 482);
    assert_str(2, "message", "after-line");
    assert_absent(2, "tags");

    /* TCP octet-counted frame over the limit: cut, remainder skipped */
    char hdr[16];
    int hl = snprintf(hdr, sizeof(hdr), "%zu ", sizeof(big));
    tcp_send(fd, hdr, (size_t)hl);
    tcp_send(fd, big, sizeof(big));
    const char *next = "<13>Oct 11 22:14:15 host app: after-frame";
    hl = snprintf(hdr, sizeof(hdr), "%zu ", strlen(next));
    tcp_send(fd, hdr, (size_t)hl);
    tcp_send(fd, next, strlen(next));
    expect_records(5);
    ck_assert(has_tag(3, "syslog_truncated"));
    ck_assert_uint_eq(field(3, "message")->n, 482);
    assert_str(4, "message", "after-frame");
    close(fd);
}
END_TEST

START_TEST(max_connections_bounded)
{
    start_syslog("      max_connections: 2\n");
    int a = tcp_connect(), b = tcp_connect();
    tcp_send(a, "<13>Oct 11 22:14:15 h a: one\n", 29);
    tcp_send(b, "<13>Oct 11 22:14:15 h b: two\n", 29);
    expect_records(2);
    int c = tcp_connect(); /* accepted and closed at once */
    char x;
    struct timeval tv = {2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(recv(c, &x, 1, 0), 0);
    close(c);
    close(a);
    usleep(100000);
    int d = tcp_connect(); /* a slot is free again */
    tcp_send(d, "<13>Oct 11 22:14:15 h d: three\n", 31);
    expect_records(3);
    assert_str(2, "message", "three");
    close(b);
    close(d);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(clean_shutdown)
{
    start_syslog(NULL);
    int fd = tcp_connect();
    tcp_send(fd, "<13>Oct 11 22:14:15 h a: partial", 32); /* no newline yet */
    send_udp_str("<13>Oct 11 22:14:15 h a: udp");
    expect_records(1);
    double t0 = now_s();
    vgl_plugins_stop(plugins);
    ck_assert_msg(now_s() - t0 < 0.5, "stop took %.3fs", now_s() - t0);
    /* the incomplete line was delivered at shutdown, not lost */
    ck_assert_int_eq(record_count(), 2);
    assert_str(1, "message", "partial");
    /* after stop nothing is produced, and the ports are released */
    pthread_mutex_lock(&rec_lock);
    refuse_produce = true;
    pthread_mutex_unlock(&rec_lock);
    close(fd);
    vgl_plugin_instance *pi = vgl_plugins_at(plugins, 0);
    vgl_plugin_stats st;
    vgl_plugin_stats_get(pi, &st);
    ck_assert_uint_eq(st.produced, 2);
    vgl_plugins_free(plugins);
    plugins = NULL;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)udp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
}
END_TEST

START_TEST(start_and_config_errors)
{
    /* the UDP port is taken */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)udp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char c[256], want[1024];
    snprintf(c, sizeof(c), "      listen_udp: \"127.0.0.1:%d\"\n", udp_port);
    ck_assert_ptr_nonnull(load_syslog(c));
    ck_assert_int_eq(vgl_plugins_start(plugins, &diag), VGL_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "plugin syslog (%s/vigil-connector-syslog.so): start failed: cannot bind "
             "127.0.0.1:%d/udp: Address already in use\n",
             PLUGIN_DIR, udp_port);
    ck_assert_str_eq(diag_text(), want);
    close(s);
    vgl_plugins_free(plugins);
    plugins = NULL;
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_syslog(""));
    snprintf(want, sizeof(want),
             "plugin syslog (%s/vigil-connector-syslog.so): set listen_udp and/or listen_tcp "
             "(e.g. 127.0.0.1:5514)\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_syslog("      listen_tcp: \"127.0.0.1:1\"\n"
                                   "      max_message_bytes: 100\n"));
    snprintf(want, sizeof(want),
             "plugin syslog (%s/vigil-connector-syslog.so): max_message_bytes must be between "
             "480 and 16MiB\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_nonnull(load_syslog("      listen_tcp: \"nohost\"\n"));
    ck_assert_int_eq(vgl_plugins_start(plugins, &diag), VGL_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "plugin syslog (%s/vigil-connector-syslog.so): start failed: nohost: want "
             "host:port (e.g. 127.0.0.1:5514)\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
}
END_TEST

/* The parser alone: every prefix of real messages, and random bytes, give
 * an event that vigil's JSON decoder accepts (and ASan sees every read). */
static void parse_must_decode(const char *data, size_t len, syslog_buf *b)
{
    syslog_msg m;
    char perr[128] = "";
    bool ok = syslog_parse(data, len, 1700000000000, &m, perr, sizeof(perr));
    ck_assert(ok || perr[0]);
    syslog_origin o = {.received_ms = 1700000000000, .peer = "192.0.2.1:514",
                       .transport = "udp", .truncated = (len & 1) != 0};
    ck_assert(syslog_to_json(&m, ok, perr, data, len, &o, b));
    vgl_event e;
    char err[256];
    vgl_event_init(&e, 0);
    vgl_rc rc = vgl_json_decode(&e, b->data, b->len, NULL, err, sizeof(err));
    ck_assert_msg(rc == VGL_OK, "%s: %.*s -> %s", err, (int)len, data, b->data);
    vgl_event_destroy(&e);
}

START_TEST(parser_prefixes_and_random_bytes)
{
    syslog_buf b;
    syslog_buf_init(&b, 1 << 20);
    const char *valid[] = {
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root'",
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% do-nuts.",
        "<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [ex@1 a=\"3\" b=\"x\\\"y\\]\"][p@1 c=\"h\"] m",
        "<38>Feb  5 17:32:18 bastion sshd[4721]: Failed password for invalid user admin",
        "<78>Jan 01 00:00:01 CRON[123]: pam_unix(cron:session): session opened",
        "<30>2024-02-29T12:00:00.5+01:00 fw01 kernel: [UFW BLOCK] IN=eth0",
    };
    size_t tested = 0;
    for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
        size_t n = strlen(valid[v]);
        for (size_t k = 0; k <= n; k++) {
            char *copy = malloc(k ? k : 1); /* exact size: ASan catches any overread */
            memcpy(copy, valid[v], k);
            parse_must_decode(copy, k, &b);
            free(copy);
            tested++;
        }
    }
    unsigned seed = 12345;
    for (int i = 0; i < 20000; i++) {
        char buf[256];
        size_t n = (size_t)(rand_r(&seed) % 200);
        /* half start with a valid-looking header, then random bytes */
        size_t start = 0;
        if (i % 2) {
            const char *v = valid[(size_t)i % 6];
            start = (size_t)rand_r(&seed) % (strlen(v) + 1);
            memcpy(buf, v, start);
        }
        for (size_t k = start; k < start + n && k < sizeof(buf); k++)
            buf[k] = (char)(i % 3 ? rand_r(&seed) % 256 : " <>[]\\\"=-:1T0Z"[rand_r(&seed) % 15]);
        size_t len = start + n < sizeof(buf) ? start + n : sizeof(buf);
        char *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        parse_must_decode(copy, len, &b);
        free(copy);
        tested++;
    }
    ck_assert_uint_gt(tested, 20000);
    syslog_buf_free(&b);
}
END_TEST

static Suite *syslog_suite(void)
{
    Suite *s = suite_create("connector-syslog");
    TCase *tc = tcase_create("syslog");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rfc5424_over_udp);
    tcase_add_test(tc, rfc3164_over_udp);
    tcase_add_test(tc, malformed_kept_raw);
    tcase_add_test(tc, tcp_both_framings);
    tcase_add_test(tc, oversize_truncated);
    tcase_add_test(tc, max_connections_bounded);
    tcase_add_test(tc, clean_shutdown);
    tcase_add_test(tc, start_and_config_errors);
    tcase_add_test(tc, parser_prefixes_and_random_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vgl_log_set_sink(NULL, NULL);
    SRunner *sr = srunner_create(syslog_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
