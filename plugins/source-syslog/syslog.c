/*
 * Connector "syslog" (vigil-connector-syslog.so): a syslog listener on UDP
 * and/or TCP that turns each message into one JSON event (syslog_parse.h)
 * and produces it to `topic`, keyed by the sender's address.
 *
 * One thread polls the UDP socket, the TCP listener and every TCP
 * connection. TCP frames are octet-counted (RFC 6587: "LEN SP MSG") or
 * newline-terminated, detected per frame. Memory is bounded: one buffer of
 * max_message_bytes (+ the octet-count header) per connection, at most
 * max_connections connections (more are accepted and closed at once),
 * longer messages are cut and tagged syslog_truncated, the rest of their
 * frame skipped. Nothing that arrives is dropped silently: unparseable
 * text becomes an event tagged syslog_parse_error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vigil/plugin.h>

#include "syslog_parse.h"

#define OCTET_HEADER_MAX 11 /* up to 10 digits and the space */
#define POLL_MS 250         /* stopping() is checked at least this often */
#define JSON_SLACK (64 * 1024)

typedef struct connection {
    int fd;
    char peer[64];
    char *buf;          /* max_message_bytes + OCTET_HEADER_MAX, allocated on first data */
    size_t len;
    uint64_t skip;      /* bytes left of an oversize octet-counted frame */
    bool skip_line;     /* discarding the rest of an oversize newline frame */
} connection;

typedef struct syslog_listener {
    const vgl_host *host;
    const char *topic;
    const char *listen_udp, *listen_tcp;
    size_t max_message;
    size_t max_connections;
    int udp_fd, tcp_fd, wake_fd;
    connection *conns;  /* max_connections slots, fd -1 = free */
    size_t nconns;
    char *dgram;        /* UDP receive buffer: max_message + 1 */
    syslog_buf json;
    syslog_msg msg;     /* the message being parsed (the thread's scratch) */
    pthread_t thread;
    bool running;
    vgl_plugin_metric *m_messages, *m_parse_errors, *m_truncated, *m_produce_errors,
        *m_refused, *m_connections;
} syslog_listener;

/* ------------------------------------------------------------ sockets */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "host:port" / "[v6]:port" into a resolved address. */
static bool resolve(const char *spec, int socktype, struct addrinfo **out, char *err,
                    size_t errlen)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        snprintf(err, errlen, "%s: want host:port (e.g. 127.0.0.1:5514)", spec);
        return false;
    }
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if (spec[0] == '[' && colon[-1] == ']') {
        h = spec + 1;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "%.64s...: host name too long", spec);
        return false;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int rc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, out);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", spec, gai_strerror(rc));
        return false;
    }
    return true;
}

static int open_socket(const char *spec, int socktype, char *err, size_t errlen)
{
    struct addrinfo *ai;
    if (!resolve(spec, socktype, &ai, err, errlen))
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a socket for %s: %s", spec, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        (socktype == SOCK_STREAM && listen(fd, 128) != 0)) {
        snprintf(err, errlen, "cannot bind %s/%s: %s", spec,
                 socktype == SOCK_STREAM ? "tcp" : "udp", strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void format_peer(const struct sockaddr_storage *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(out, outlen, "%s:%u", ip, port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(out, outlen, "[%s]:%u", ip, port);
    } else {
        snprintf(out, outlen, "unknown");
    }
}

/* --------------------------------------------------------------- emit */

/* Parse one message and produce its event. The key is the peer address
 * without the port, so one sender's messages stay in order. */
static void emit(syslog_listener *l, const char *msg, size_t len, const char *peer,
                 const char *transport, bool truncated)
{
    /* trailing newline, CR and NUL are framing, not content */
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r' || msg[len - 1] == '\0'))
        len--;
    if (len == 0)
        return;
    int64_t now = wall_ms();
    syslog_msg *m = &l->msg;
    char perr[128] = "";
    bool ok = syslog_parse(msg, len, now, m, perr, sizeof(perr));
    syslog_origin o = {.received_ms = now, .peer = peer, .transport = transport,
                       .truncated = truncated};
    l->host->counter_add(l->m_messages, 1);
    if (!ok)
        l->host->counter_add(l->m_parse_errors, 1);
    if (truncated)
        l->host->counter_add(l->m_truncated, 1);
    if (!syslog_to_json(m, ok, perr, msg, len, &o, &l->json)) {
        l->host->counter_add(l->m_produce_errors, 1);
        return;
    }
    size_t keylen = strlen(peer);
    const char *colon = strrchr(peer, ':');
    if (colon)
        keylen = (size_t)(colon - peer);
    if (l->host->produce(l->host, l->topic, peer, keylen, l->json.data, l->json.len) != VGL_OK)
        l->host->counter_add(l->m_produce_errors, 1);
}

/* ------------------------------------------------------------ UDP */

static void udp_read(syslog_listener *l)
{
    for (int i = 0; i < 64; i++) { /* then let TCP have a turn */
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        ssize_t n = recvfrom(l->udp_fd, l->dgram, l->max_message + 1, MSG_TRUNC,
                             (struct sockaddr *)&sa, &salen);
        if (n < 0)
            return; /* EAGAIN, or an ICMP error: nothing to do */
        char peer[64];
        format_peer(&sa, peer, sizeof(peer));
        bool truncated = (size_t)n > l->max_message;
        emit(l, l->dgram, truncated ? l->max_message : (size_t)n, peer, "udp", truncated);
    }
}

/* ------------------------------------------------------------ TCP */

static void conn_close(syslog_listener *l, connection *c)
{
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    l->nconns--;
    l->host->gauge_set(l->m_connections, (double)l->nconns);
}

static void tcp_accept(syslog_listener *l)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        int fd = accept4(l->tcp_fd, (struct sockaddr *)&sa, &salen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        connection *slot = NULL;
        for (size_t i = 0; i < l->max_connections && !slot; i++)
            if (l->conns[i].fd < 0)
                slot = &l->conns[i];
        if (!slot) {
            close(fd);
            l->host->counter_add(l->m_refused, 1);
            continue;
        }
        memset(slot, 0, sizeof(*slot));
        slot->fd = fd;
        format_peer(&sa, slot->peer, sizeof(slot->peer));
        l->nconns++;
        l->host->gauge_set(l->m_connections, (double)l->nconns);
    }
}

/* Cut complete frames from the connection's buffer. at_eof: the peer
 * closed, so what is left is the last (possibly partial) message. */
static void conn_frames(syslog_listener *l, connection *c, bool at_eof)
{
    size_t off = 0;
    while (off < c->len) {
        char *p = c->buf + off;
        size_t avail = c->len - off;
        if (c->skip > 0) {
            size_t k = avail < c->skip ? avail : (size_t)c->skip;
            c->skip -= k;
            off += k;
            continue;
        }
        if (c->skip_line) {
            char *nl = memchr(p, '\n', avail);
            if (!nl) {
                off = c->len;
                break;
            }
            c->skip_line = false;
            off += (size_t)(nl - p) + 1;
            continue;
        }
        /* octet counting: 1-10 digits, no leading zero, then one space */
        if (p[0] >= '1' && p[0] <= '9') {
            size_t nd = 0;
            uint64_t count = 0;
            while (nd < avail && nd < 11 && p[nd] >= '0' && p[nd] <= '9')
                count = count * 10 + (uint64_t)(p[nd++] - '0');
            if (nd == avail && nd <= 10 && !at_eof)
                break; /* the header is not complete yet */
            if (nd <= 10 && nd < avail && p[nd] == ' ') {
                size_t hdr = nd + 1;
                if (count <= l->max_message) {
                    if (avail - hdr < count) {
                        if (!at_eof)
                            break;
                        emit(l, p + hdr, avail - hdr, c->peer, "tcp", true);
                        off = c->len;
                        break;
                    }
                    emit(l, p + hdr, (size_t)count, c->peer, "tcp", false);
                    off += hdr + (size_t)count;
                    continue;
                }
                if (avail - hdr < l->max_message && !at_eof)
                    break;
                size_t take = avail - hdr < l->max_message ? avail - hdr : l->max_message;
                emit(l, p + hdr, take, c->peer, "tcp", true);
                c->skip = count - take;
                off += hdr + take;
                continue;
            }
            /* digits without the space: not octet-counted, read it as a line */
        }
        char *nl = memchr(p, '\n', avail < l->max_message + 1 ? avail : l->max_message + 1);
        if (nl) {
            emit(l, p, (size_t)(nl - p), c->peer, "tcp", false);
            off += (size_t)(nl - p) + 1;
            continue;
        }
        if (avail > l->max_message) {
            emit(l, p, l->max_message, c->peer, "tcp", true);
            off += l->max_message;
            c->skip_line = true;
            continue;
        }
        if (at_eof) {
            emit(l, p, avail, c->peer, "tcp", false);
            off = c->len;
        }
        break;
    }
    if (off > 0) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
}

static void conn_read(syslog_listener *l, connection *c)
{
    size_t cap = l->max_message + OCTET_HEADER_MAX;
    if (!c->buf) {
        c->buf = malloc(cap);
        if (!c->buf) {
            l->host->counter_add(l->m_produce_errors, 1);
            conn_close(l, c);
            return;
        }
    }
    for (int rounds = 0; rounds < 16 && c->len < cap; rounds++) {
        ssize_t n = read(c->fd, c->buf + c->len, cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            conn_frames(l, c, false);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        /* EOF or a reset: what is buffered is the last message */
        conn_frames(l, c, true);
        conn_close(l, c);
        return;
    }
}

/* ------------------------------------------------------------ thread */

static void *listener_main(void *arg)
{
    syslog_listener *l = arg;
    size_t cap = l->max_connections + 3;
    struct pollfd *pf = calloc(cap, sizeof(*pf));
    connection **owner = calloc(cap, sizeof(*owner));
    if (!pf || !owner) {
        l->host->log(l->host, VGL_PLUGIN_LOG_ERROR, "out of memory: listener stopped", NULL, 0);
        free(pf);
        free(owner);
        return NULL;
    }
    while (!l->host->stopping(l->host)) {
        nfds_t n = 0;
        pf[n++] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
        if (l->udp_fd >= 0)
            pf[n++] = (struct pollfd){.fd = l->udp_fd, .events = POLLIN};
        if (l->tcp_fd >= 0)
            pf[n++] = (struct pollfd){.fd = l->tcp_fd, .events = POLLIN};
        nfds_t first_conn = n;
        for (size_t i = 0; i < l->max_connections; i++) {
            if (l->conns[i].fd >= 0) {
                owner[n] = &l->conns[i];
                pf[n++] = (struct pollfd){.fd = l->conns[i].fd, .events = POLLIN};
            }
        }
        int rc = poll(pf, n, POLL_MS);
        if (rc <= 0)
            continue;
        if (pf[0].revents)
            break; /* stop() */
        for (nfds_t i = 1; i < first_conn; i++) {
            if (!pf[i].revents)
                continue;
            if (pf[i].fd == l->udp_fd)
                udp_read(l);
            else
                tcp_accept(l);
        }
        for (nfds_t i = first_conn; i < n; i++)
            if (pf[i].revents && owner[i]->fd == pf[i].fd)
                conn_read(l, owner[i]);
    }
    /* shutdown: a frame still incomplete is delivered as it is (produce
     * is allowed until stop returns), so nothing received is lost */
    for (size_t i = 0; i < l->max_connections; i++)
        if (l->conns[i].fd >= 0 && l->conns[i].len > 0)
            conn_frames(l, &l->conns[i], true);
    free(pf);
    free(owner);
    return NULL;
}

/* ---------------------------------------------------------- callbacks */

static void syslog_destroy(void *inst)
{
    syslog_listener *l = inst;
    if (!l)
        return;
    for (size_t i = 0; l->conns && i < l->max_connections; i++)
        if (l->conns[i].fd >= 0)
            conn_close(l, &l->conns[i]);
    if (l->udp_fd >= 0)
        close(l->udp_fd);
    if (l->tcp_fd >= 0)
        close(l->tcp_fd);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    free(l->conns);
    free(l->dgram);
    syslog_buf_free(&l->json);
    free(l);
}

static void *syslog_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                         size_t errlen)
{
    syslog_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->host = host;
    l->udp_fd = l->tcp_fd = l->wake_fd = -1;
    host->config_str(cfg, "topic", &l->topic);
    if (!host->config_str(cfg, "listen_udp", &l->listen_udp) || !*l->listen_udp)
        l->listen_udp = NULL;
    if (!host->config_str(cfg, "listen_tcp", &l->listen_tcp) || !*l->listen_tcp)
        l->listen_tcp = NULL;
    uint64_t max_message = 0;
    int64_t max_conn = 0;
    host->config_size(cfg, "max_message_bytes", &max_message);
    host->config_int(cfg, "max_connections", &max_conn);
    if (!l->listen_udp && !l->listen_tcp) {
        snprintf(err, errlen, "set listen_udp and/or listen_tcp (e.g. 127.0.0.1:5514)");
        goto fail;
    }
    if (!l->topic || !*l->topic) {
        snprintf(err, errlen, "topic must not be empty");
        goto fail;
    }
    if (max_message < 480 || max_message > (16u << 20)) {
        snprintf(err, errlen, "max_message_bytes must be between 480 and 16MiB");
        goto fail;
    }
    if (max_conn < 1 || max_conn > 65536) {
        snprintf(err, errlen, "max_connections must be between 1 and 65536");
        goto fail;
    }
    l->max_message = (size_t)max_message;
    l->max_connections = (size_t)max_conn;
    l->conns = calloc(l->max_connections, sizeof(*l->conns));
    l->dgram = malloc(l->max_message + 1);
    if (!l->conns || !l->dgram) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < l->max_connections; i++)
        l->conns[i].fd = -1;
    /* the event is the message (escaped: up to 6 bytes per input byte) and fields */
    syslog_buf_init(&l->json, l->max_message * 6 * 2 + JSON_SLACK);
    l->m_messages = host->metric(host, VGL_METRIC_COUNTER, "syslog_messages_total", NULL,
                                 "Syslog messages received");
    l->m_parse_errors = host->metric(host, VGL_METRIC_COUNTER, "syslog_parse_errors_total",
                                     NULL, "Messages kept raw because they did not parse");
    l->m_truncated = host->metric(host, VGL_METRIC_COUNTER, "syslog_truncated_total", NULL,
                                  "Messages cut at max_message_bytes");
    l->m_produce_errors = host->metric(host, VGL_METRIC_COUNTER, "syslog_produce_errors_total",
                                       NULL, "Events that could not be produced");
    l->m_refused = host->metric(host, VGL_METRIC_COUNTER, "syslog_refused_connections_total",
                                NULL, "TCP connections closed at max_connections");
    l->m_connections = host->metric(host, VGL_METRIC_GAUGE, "syslog_connections", NULL,
                                    "Open TCP connections");
    return l;
fail:
    syslog_destroy(l);
    return NULL;
}

static vgl_rc syslog_start(void *inst, char *err, size_t errlen)
{
    syslog_listener *l = inst;
    if (l->listen_udp && (l->udp_fd = open_socket(l->listen_udp, SOCK_DGRAM, err, errlen)) < 0)
        return VGL_ERR_IO;
    if (l->listen_tcp && (l->tcp_fd = open_socket(l->listen_tcp, SOCK_STREAM, err, errlen)) < 0)
        return VGL_ERR_IO;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        snprintf(err, errlen, "cannot create an eventfd: %s", strerror(errno));
        return VGL_ERR_IO;
    }
    if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
        snprintf(err, errlen, "cannot start the listener thread");
        return VGL_ERR_NOMEM;
    }
    l->running = true;
    return VGL_OK;
}

static void syslog_stop(void *inst)
{
    syslog_listener *l = inst;
    if (!l->running)
        return;
    uint64_t one = 1;
    ssize_t w = write(l->wake_fd, &one, sizeof(one));
    (void)w;
    pthread_join(l->thread, NULL);
    l->running = false;
}

static const vgl_plugin_option syslog_options[] = {
    {.name = "topic", .type = VGL_OPT_STRING, .required = true,
     .description = "Kafka topic the events are produced to"},
    {.name = "listen_udp", .type = VGL_OPT_STRING,
     .description = "UDP address to listen on (host:port, [v6]:port); unset = no UDP"},
    {.name = "listen_tcp", .type = VGL_OPT_STRING,
     .description = "TCP address to listen on (host:port, [v6]:port); unset = no TCP"},
    {.name = "max_message_bytes", .type = VGL_OPT_SIZE, .default_value = "64KiB",
     .description = "longer messages are cut and tagged syslog_truncated"},
    {.name = "max_connections", .type = VGL_OPT_INT, .default_value = "256",
     .description = "open TCP connections; more are closed at once"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "syslog",
    .version = "1.0.0",
    .description = "syslog listener (UDP/TCP, RFC 5424/3164) producing JSON events",
    .kind = VGL_PLUGIN_CONNECTOR,
    .options = syslog_options,
    .init = syslog_init,
    .start = syslog_start,
    .stop = syslog_stop,
    .destroy = syslog_destroy,
};
