/*
 * /metrics, /healthz and /readyz over libmicrohttpd (see http.h).
 *
 * The listening socket is created here rather than by libmicrohttpd, so a
 * bind failure is reported with the address and errno text, and port 0
 * can report the port the kernel chose.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

#define LISTEN_BACKLOG 64
#define CONNECTION_MEMORY (32 * 1024)

struct vgl_http {
    struct MHD_Daemon *mhd;
    vgl_metrics *reg;
    vgl_ready_fn ready;
    void *opaque;
    uint16_t port;
};

static const char metrics_type[] = "text/plain; version=0.0.4; charset=utf-8";
static const char text_type[] = "text/plain; charset=utf-8";

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    vgl_warn("metrics endpoint", "error=%s", line);
}

/* Queue a response; body is copied unless owned (then freed by MHD). */
static mhd_result respond(struct MHD_Connection *c, unsigned status, const char *type,
                          char *body, size_t len, bool owned)
{
    struct MHD_Response *r;
    if (owned)
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    mhd_result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static mhd_result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return respond(c, status, text_type, (char *)text, strlen(text), false);
}

static mhd_result serve_metrics(vgl_http *h, struct MHD_Connection *c)
{
    vgl_buf b;
    vgl_buf_init(&b, VGL_HTTP_MAX_SCRAPE_BYTES);
    vgl_rc rc = vgl_metrics_render(h->reg, &b);
    if (rc != VGL_OK) {
        vgl_buf_free(&b);
        vgl_warn("metrics scrape failed", "error=%s", vgl_rc_str(rc));
        return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            rc == VGL_ERR_TOOBIG ? "metrics exposition too large\n"
                                                 : "out of memory rendering metrics\n");
    }
    if (!b.data)
        return respond(c, MHD_HTTP_OK, metrics_type, (char *)"", 0, false);
    return respond(c, MHD_HTTP_OK, metrics_type, b.data, b.len, true);
}

static mhd_result serve_ready(vgl_http *h, struct MHD_Connection *c)
{
    char reason[256] = "";
    if (!h->ready || h->ready(h->opaque, reason, sizeof(reason) - 1))
        return respond_text(c, MHD_HTTP_OK, "ready\n");
    reason[sizeof(reason) - 1] = '\0';
    size_t n = strlen(reason);
    if (n == 0) {
        snprintf(reason, sizeof(reason), "not ready");
        n = strlen(reason);
    }
    /* one line: the reason is for people and log scrapers alike */
    for (size_t i = 0; i < n; i++)
        if (reason[i] == '\n' || reason[i] == '\r')
            reason[i] = ' ';
    reason[n] = '\n';
    return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_type, reason, n + 1, false);
}

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url,
                         const char *method, const char *version, const char *upload_data,
                         size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    vgl_http *h = cls;
    enum { METRICS, HEALTH, READY, OTHER } path = OTHER;
    if (strcmp(url, "/metrics") == 0)
        path = METRICS;
    else if (strcmp(url, "/healthz") == 0)
        path = HEALTH;
    else if (strcmp(url, "/readyz") == 0)
        path = READY;
    if (path == OTHER)
        return respond_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz, /readyz\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n");
    switch (path) {
    case METRICS: return serve_metrics(h, c);
    case HEALTH: return respond_text(c, MHD_HTTP_OK, "ok\n");
    default: return serve_ready(h, c);
    }
}

/* Split listen into host (NULL for "every interface") and port. */
static bool parse_listen(const char *listen, char *host, size_t hostlen, char *port,
                         size_t portlen, bool *any)
{
    const char *colon;
    *any = false;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close == listen + 1 || close[1] != ':' ||
            (size_t)(close - listen - 1) >= hostlen)
            return false;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen)) ||
            (size_t)(colon - listen) >= hostlen)
            return false;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        *any = host[0] == '\0';
    }
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || n >= portlen || n > 5)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > 65535)
        return false;
    snprintf(port, portlen, "%lu", v);
    return true;
}

static int bind_one(const struct sockaddr *sa, socklen_t salen, bool dual, int *err_no)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *err_no = errno;
        return -1;
    }
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (sa->sa_family == AF_INET6 && dual)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    if (bind(fd, sa, salen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        *err_no = errno;
        close(fd);
        return -1;
    }
    return fd;
}

/* A listening socket for listen, or -1 with err filled. */
static int open_listener(const char *listen, char *err, size_t errlen)
{
    char host[256], port[8];
    bool any;
    if (!parse_listen(listen, host, sizeof(host), port, sizeof(port), &any)) {
        snprintf(err, errlen,
                 "metrics.listen %s: invalid address (use host:port, [v6addr]:port or :port, "
                 "e.g. 127.0.0.1:9464)",
                 listen);
        return -1;
    }
    int err_no = 0;
    if (any) {
        /* every interface: IPv6 and IPv4 on one socket, else IPv4 alone */
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT,
                                  .sin6_port = htons((uint16_t)atoi(port))};
        int fd = bind_one((struct sockaddr *)&a6, sizeof(a6), true, &err_no);
        if (fd >= 0)
            return fd;
        if (err_no == EAFNOSUPPORT) {
            struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY),
                                     .sin_port = htons((uint16_t)atoi(port))};
            fd = bind_one((struct sockaddr *)&a4, sizeof(a4), false, &err_no);
            if (fd >= 0)
                return fd;
        }
        snprintf(err, errlen, "metrics.listen %s: bind: %s", listen, strerror(err_no));
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "metrics.listen %s: cannot resolve '%s': %s", listen, host,
                 gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = bind_one(ai->ai_addr, ai->ai_addrlen, false, &err_no);
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "metrics.listen %s: bind: %s", listen, strerror(err_no));
    return fd;
}

vgl_http *vgl_http_start(const char *listen, vgl_metrics *reg, vgl_ready_fn ready, void *opaque,
                         char *err, size_t errlen)
{
    if (!listen || !reg) {
        snprintf(err, errlen, "metrics endpoint: no address or registry given");
        return NULL;
    }
    vgl_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "metrics endpoint: out of memory");
        return NULL;
    }
    h->reg = reg;
    h->ready = ready;
    h->opaque = opaque;
    int fd = open_listener(listen, err, errlen);
    if (fd < 0) {
        free(h);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)VGL_HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)VGL_HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_END);
    if (!h->mhd) {
        /* libmicrohttpd leaves a socket it was given open when it fails */
        close(fd);
        snprintf(err, errlen, "metrics.listen %s: could not start the HTTP server", listen);
        free(h);
        return NULL;
    }
    vgl_info("metrics endpoint listening", "listen=%s port=%u", listen, (unsigned)h->port);
    return h;
}

uint16_t vgl_http_port(const vgl_http *h) { return h->port; }

void vgl_http_stop(vgl_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    free(h);
}
