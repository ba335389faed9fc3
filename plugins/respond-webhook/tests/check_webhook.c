/*
 * Tests of the webhook responder, loaded through the plugin host, against
 * a tiny HTTP/1.1 server on loopback (plain sockets in a thread) that
 * records every request and answers from a script: the exact body and
 * headers sent, retries on 5xx/429 with backoff, no retry on 4xx, no
 * redirects, timeouts, refused connections, oversize answers and the
 * config errors.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "plugin.h"

/* ------------------------------------------------------ HTTP server */

#define MAX_REQ 16

typedef struct http_request {
    char line[256];    /* "POST /hook?x=1 HTTP/1.1" */
    char headers[4096];/* raw header block */
    char *body;
    size_t body_len;
} http_request;

typedef struct http_answer {
    int status;        /* 0 = never answer (hang until the client gives up) */
    const char *body;
    size_t body_len;   /* 0 = strlen(body) */
    const char *extra; /* more header lines, "\r\n"-terminated, may be NULL */
} http_answer;

static int srv_fd = -1, srv_port;
static pthread_t srv_thread;
static volatile bool srv_stop;
static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static http_request reqs[MAX_REQ];
static int nreqs;
static http_answer script[MAX_REQ];
static int nscript;

static int request_count(void)
{
    pthread_mutex_lock(&srv_lock);
    int n = nreqs;
    pthread_mutex_unlock(&srv_lock);
    return n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void serve_one(int fd)
{
    char buf[1 << 16];
    size_t len = 0;
    char *end = NULL;
    while (!end && len < sizeof(buf) - 1) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 3000) <= 0)
            return;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return;
    size_t hdr_len = (size_t)(end - buf) + 4;
    size_t clen = 0;
    for (char *h = strstr(buf, "\r\n"); h && h < end; h = strstr(h, "\r\n")) {
        h += 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = strtoul(h + 15, NULL, 10);
    }
    char *body = malloc(clen + 1);
    size_t have = len - hdr_len < clen ? len - hdr_len : clen;
    memcpy(body, buf + hdr_len, have);
    while (have < clen) {
        ssize_t n = recv(fd, body + have, clen - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    body[have] = '\0';
    http_answer ans = {500, "no script", 0, NULL};
    pthread_mutex_lock(&srv_lock);
    if (nreqs < MAX_REQ) {
        http_request *r = &reqs[nreqs];
        char *eol = strstr(buf, "\r\n");
        snprintf(r->line, sizeof(r->line), "%.*s", (int)(eol - buf), buf);
        snprintf(r->headers, sizeof(r->headers), "%.*s", (int)(end - eol - 2), eol + 2);
        r->body = body;
        r->body_len = have;
        body = NULL;
        if (nreqs < nscript)
            ans = script[nreqs];
        else if (nscript > 0)
            ans = script[nscript - 1];
        nreqs++;
    }
    pthread_mutex_unlock(&srv_lock);
    free(body);
    if (ans.status == 0) { /* hang: wait for the client to give up */
        char c;
        struct pollfd pf = {fd, POLLIN, 0};
        while (!srv_stop && poll(&pf, 1, 100) == 0)
            ;
        (void)recv(fd, &c, 1, 0);
        return;
    }
    size_t blen = ans.body_len ? ans.body_len : strlen(ans.body);
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      ans.status, blen, ans.extra ? ans.extra : "");
    write_all(fd, head, (size_t)hl);
    write_all(fd, ans.body, blen);
}

static void *server_main(void *arg)
{
    (void)arg;
    while (!srv_stop) {
        struct pollfd pf = {srv_fd, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int fd = accept(srv_fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_one(fd);
        close(fd);
    }
    return NULL;
}

static void server_start(void)
{
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(srv_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(srv_fd, (struct sockaddr *)&sa, &sl);
    srv_port = ntohs(sa.sin_port);
    ck_assert_int_eq(listen(srv_fd, 16), 0);
    srv_stop = false;
    ck_assert_int_eq(pthread_create(&srv_thread, NULL, server_main, NULL), 0);
}

static void server_stop(void)
{
    if (srv_fd < 0)
        return;
    srv_stop = true;
    pthread_join(srv_thread, NULL);
    close(srv_fd);
    srv_fd = -1;
}

/* The value of header `name` in request i ("" when absent). */
static const char *req_header(int i, const char *name)
{
    static char v[1024];
    v[0] = '\0';
    size_t nl = strlen(name);
    for (const char *h = reqs[i].headers; h && *h;) {
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *s = h + nl + 1;
            while (*s == ' ')
                s++;
            const char *e = strstr(s, "\r\n");
            snprintf(v, sizeof(v), "%.*s", (int)(e ? e - s : (long)strlen(s)), s);
            return v;
        }
        h = strstr(h, "\r\n");
        if (h)
            h += 2;
    }
    return v;
}

/* ------------------------------------------------------ fixture */

static vgl_config *cfg;
static vgl_plugins *plugins;
static vgl_diag diag;

static void setup(void)
{
    memset(&diag, 0, sizeof(diag));
    cfg = NULL;
    plugins = NULL;
    nreqs = 0;
    nscript = 0;
    server_start();
}

static void teardown(void)
{
    server_stop();
    vgl_plugins_free(plugins);
    vgl_config_free(cfg);
    vgl_diag_free(&diag);
    for (int i = 0; i < nreqs; i++)
        free(reqs[i].body);
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

static vgl_plugin_instance *load_webhook(const char *config_yaml)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "plugin_path: [\"%s\"]\n"
             "plugins:\n"
             "  - name: webhook\n"
             "    config:\n"
             "%s",
             PLUGIN_DIR, config_yaml);
    cfg = vgl_config_load_string(yaml, strlen(yaml), "vigil.yaml", &diag);
    ck_assert_msg(cfg, "config: %s", diag_text());
    plugins = vgl_plugins_load(cfg, &diag);
    if (!plugins)
        return NULL;
    return vgl_plugins_find(plugins, "webhook", VGL_PLUGIN_RESPOND);
}

/* url http://127.0.0.1:PORT/hook?x=1, 10ms backoff, plus extra lines. */
static vgl_plugin_instance *load_local(const char *extra)
{
    char c[2048];
    snprintf(c, sizeof(c),
             "      url: \"http://127.0.0.1:%d/hook?x=1\"\n"
             "%s"
             "%s",
             srv_port, extra && strstr(extra, "backoff:") ? "" : "      backoff: 10ms\n",
             extra ? extra : "");
    vgl_plugin_instance *pi = load_webhook(c);
    ck_assert_msg(pi, "load: %s", diag_text());
    return pi;
}

static vgl_action_view action(void)
{
    return (vgl_action_view){.action_id = "7f3a9c1e0b2d4e6f8a9b0c1d2e3f4a5b",
                             .action = "block_ip", .op = VGL_ACTION_APPLY,
                             .target_type = "ip", .target = "203.0.113.7",
                             .incident_id = "inc-1", .rule_id = "ssh-brute",
                             .requested_ms = 1700000000123, .expires_ms = 1700003600123,
                             .params_json = "{\"duration\":\"1h\"}"};
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ tests */

START_TEST(posts_body_and_headers)
{
    script[0] = (http_answer){200, "{\"ok\":true}", 0, NULL};
    nscript = 1;
    vgl_plugin_instance *pi = load_local("      headers:\n"
                                         "        - \"Authorization: Bearer s3cr3t\"\n"
                                         "        - \"X-Team: blue team\"\n");
    char err[256] = "x";
    vgl_action_view a = action();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(request_count(), 1);
    ck_assert_str_eq(reqs[0].line, "POST /hook?x=1 HTTP/1.1");
    ck_assert_str_eq(req_header(0, "Content-Type"), "application/json");
    ck_assert_str_eq(req_header(0, "Authorization"), "Bearer s3cr3t");
    ck_assert_str_eq(req_header(0, "X-Team"), "blue team");
    ck_assert_str_eq(req_header(0, "Idempotency-Key"), "7f3a9c1e0b2d4e6f8a9b0c1d2e3f4a5b");
    ck_assert_str_eq(req_header(0, "Expect"), "");
    ck_assert_ptr_nonnull(strstr(req_header(0, "User-Agent"), "webhook/1.0.0"));
    ck_assert_str_eq(reqs[0].body,
                     "{\"action_id\":\"7f3a9c1e0b2d4e6f8a9b0c1d2e3f4a5b\",\"action\":\"block_ip\","
                     "\"op\":\"apply\",\"target\":{\"type\":\"ip\",\"value\":\"203.0.113.7\"},"
                     "\"incident_id\":\"inc-1\",\"rule_id\":\"ssh-brute\","
                     "\"requested_at\":\"2023-11-14T22:13:20.123Z\","
                     "\"expires_at\":\"2023-11-14T23:13:20.123Z\",\"dry_run\":false,"
                     "\"params\":{\"duration\":\"1h\"}}");
    /* hostile values are JSON-escaped; the idempotency header stays one line */
    a.target = "\"},\"action\":\"x\n\xff";
    a.action_id = "id\r\nX-Injected: 1";
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(request_count(), 2);
    ck_assert_ptr_nonnull(
        strstr(reqs[1].body, "\"value\":\"\\\"},\\\"action\\\":\\\"x\\n\xEF\xBF\xBD\""));
    ck_assert_str_eq(req_header(1, "X-Injected"), "");
    ck_assert_str_eq(req_header(1, "Idempotency-Key"), "id  X-Injected: 1");
}
END_TEST

START_TEST(retries_on_5xx)
{
    script[0] = (http_answer){500, "db down", 0, NULL};
    script[1] = (http_answer){503, "busy", 0, NULL};
    script[2] = (http_answer){204, "", 0, NULL};
    nscript = 3;
    vgl_plugin_instance *pi = load_local(NULL);
    char err[256];
    vgl_action_view a = action();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(request_count(), 3);
    ck_assert_str_eq(reqs[2].body, reqs[0].body); /* the same document each time */
    ck_assert_str_eq(req_header(2, "Idempotency-Key"), "7f3a9c1e0b2d4e6f8a9b0c1d2e3f4a5b");
}
END_TEST

START_TEST(gives_up_with_retry)
{
    script[0] = (http_answer){502, "bad gateway\r\nsecond line", 0, NULL};
    nscript = 1;
    vgl_plugin_instance *pi = load_local("      retries: 2\n      backoff: 50ms\n");
    char err[256], want[256];
    vgl_action_view a = action();
    double t0 = now_s();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_RETRY);
    double took = now_s() - t0;
    ck_assert_int_eq(request_count(), 3);
    /* backoff 50ms then 100ms */
    ck_assert_msg(took >= 0.15 && took < 2.0, "took %.3fs", took);
    snprintf(want, sizeof(want),
             "HTTP 502 from 127.0.0.1:%d: bad gateway second line (after 3 attempts)", srv_port);
    ck_assert_str_eq(err, want);
    /* 429 is transient too */
    script[0] = (http_answer){429, "slow down", 0, NULL};
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_RETRY);
    ck_assert_int_eq(request_count(), 6);
}
END_TEST

START_TEST(no_retry_on_4xx_or_3xx)
{
    script[0] = (http_answer){400, "{\"error\":\"unknown target\"}", 0, NULL};
    script[1] = (http_answer){302, "", 0, "Location: http://127.0.0.1:1/elsewhere\r\n"};
    nscript = 2;
    vgl_plugin_instance *pi = load_local(NULL);
    char err[256], want[256];
    vgl_action_view a = action();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_int_eq(request_count(), 1);
    snprintf(want, sizeof(want), "HTTP 400 from 127.0.0.1:%d: {\"error\":\"unknown target\"}",
             srv_port);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_int_eq(request_count(), 2);
    snprintf(want, sizeof(want), "HTTP 302 from 127.0.0.1:%d (redirects are not followed)",
             srv_port);
    ck_assert_str_eq(err, want);
    vgl_plugin_stats st;
    vgl_plugin_stats_get(pi, &st);
    ck_assert_uint_eq(st.errors, 2);
}
END_TEST

START_TEST(timeout_is_retried)
{
    script[0] = (http_answer){0, NULL, 0, NULL}; /* never answers */
    nscript = 1;
    vgl_plugin_instance *pi = load_local("      timeout: 300ms\n      retries: 1\n");
    char err[256], want[256];
    vgl_action_view a = action();
    double t0 = now_s();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_RETRY);
    double took = now_s() - t0;
    ck_assert_msg(took >= 0.6 && took < 2.5, "took %.3fs", took);
    ck_assert_int_eq(request_count(), 2);
    snprintf(want, sizeof(want), "127.0.0.1:%d timed out after 300 ms (after 2 attempts)",
             srv_port);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(connection_refused)
{
    int port = srv_port;
    server_stop(); /* nothing listens there any more */
    vgl_plugin_instance *pi = load_local("      retries: 1\n");
    char err[256], want[256];
    vgl_action_view a = action();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_RETRY);
    snprintf(want, sizeof(want), "127.0.0.1:%d: ", port);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "(after 2 attempts)"));
}
END_TEST

START_TEST(big_response_cut)
{
    static char big[1 << 20];
    memset(big, 'x', sizeof(big));
    script[0] = (http_answer){200, big, sizeof(big), NULL};
    script[1] = (http_answer){500, big, sizeof(big), NULL};
    nscript = 2;
    vgl_plugin_instance *pi = load_local("      max_response_bytes: 1KiB\n      retries: 0\n");
    char err[512];
    vgl_action_view a = action();
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_int_eq(vgl_plugin_respond(pi, &a, err, sizeof(err)), VGL_RESPOND_RETRY);
    /* the excerpt is bounded */
    ck_assert_uint_lt(strlen(err), 300);
    ck_assert_ptr_nonnull(strstr(err, "HTTP 500 from"));
}
END_TEST

START_TEST(config_errors)
{
    char want[1024];
    ck_assert_ptr_null(load_webhook("      url: \"ftp://example.com/x\"\n"));
    snprintf(want, sizeof(want),
             "plugin webhook (%s/vigil-respond-webhook.so): url must be http:// or https://\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_webhook("      url: \"https://example.com/x\"\n"
                                    "      headers: [\"Authorization Bearer x\"]\n"));
    snprintf(want, sizeof(want),
             "plugin webhook (%s/vigil-respond-webhook.so): headers[0] must be \"Name: value\" "
             "on one line\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
    vgl_config_free(cfg);
    cfg = NULL;
    vgl_diag_free(&diag);

    ck_assert_ptr_null(load_webhook("      url: \"https://example.com/x\"\n"
                                    "      retries: -1\n"));
    snprintf(want, sizeof(want),
             "plugin webhook (%s/vigil-respond-webhook.so): retries must be between 0 and 100\n",
             PLUGIN_DIR);
    ck_assert_str_eq(diag_text(), want);
}
END_TEST

static Suite *webhook_suite(void)
{
    Suite *s = suite_create("respond-webhook");
    TCase *tc = tcase_create("webhook");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, posts_body_and_headers);
    tcase_add_test(tc, retries_on_5xx);
    tcase_add_test(tc, gives_up_with_retry);
    tcase_add_test(tc, no_retry_on_4xx_or_3xx);
    tcase_add_test(tc, timeout_is_retried);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, big_response_cut);
    tcase_add_test(tc, config_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vgl_log_set_sink(NULL, NULL);
    SRunner *sr = srunner_create(webhook_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
