/*
 * The operator's HTTP endpoint (libmicrohttpd, one internal poll thread):
 *
 *   GET /metrics  200, the registry in Prometheus text format 0.0.4
 *   GET /healthz  200 "ok": the process is alive and serving
 *   GET /readyz   200 "ready", or 503 with the reason the ready callback gives
 *
 * Other paths answer 404; methods other than GET and HEAD answer 405.
 * Connections are bounded: at most VGL_HTTP_MAX_CONNECTIONS are served at
 * once (more wait in the kernel's listen backlog until one closes), an idle
 * one is dropped after VGL_HTTP_TIMEOUT_S, and each may use at most 32 KiB
 * for its request.
 */
#ifndef VGL_HTTP_H
#define VGL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define VGL_HTTP_MAX_CONNECTIONS 32
#define VGL_HTTP_TIMEOUT_S 10
#define VGL_HTTP_MAX_SCRAPE_BYTES (64u << 20) /* a larger exposition answers 500 */

typedef struct vgl_http vgl_http;

/*
 * Readiness, called on the HTTP thread for every /readyz request, so it
 * must be thread-safe (read atomics) and quick. Returns true when ready;
 * otherwise writes a one-line reason a person can act on into reason
 * ("no partitions assigned yet", "producer not connected to any broker",
 * "rules not loaded") and returns false.
 */
typedef bool (*vgl_ready_fn)(void *opaque, char *reason, size_t reasonlen);

/*
 * Start serving. listen: "host:port" with an IPv4 address or host name,
 * "[v6addr]:port", or ":port" for every interface (IPv6 and IPv4); port 0
 * binds an ephemeral port (see vgl_http_port). reg is borrowed and must
 * outlive the server; ready may be NULL (always ready), opaque is passed
 * to it. Returns NULL and a sentence in err when the address is invalid or
 * cannot be bound ("metrics.listen 127.0.0.1:9464: bind: Address already
 * in use").
 */
vgl_http *vgl_http_start(const char *listen, vgl_metrics *reg, vgl_ready_fn ready, void *opaque,
                         char *err, size_t errlen);
/* The bound TCP port. */
uint16_t vgl_http_port(const vgl_http *h);
/* Stop: closes the listening socket and every connection, joins the
 * thread, frees h. NULL is ignored. */
void vgl_http_stop(vgl_http *h);

#endif
