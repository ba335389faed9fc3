/*
 * Responder "webhook" (vigil-respond-webhook.so): POSTs each action as JSON
 * (the document of plugins/respond-exec/action_json.h) to `url` with
 * libcurl, and maps the answer to an outcome:
 *
 *   2xx                      succeeded
 *   3xx                      failed (redirects are never followed)
 *   4xx (but 408, 429)       failed at once, no retry
 *   408, 429, 5xx, timeouts,
 *   connection errors        retried `retries` times with doubling backoff,
 *                            then RETRY (the host may deliver it again)
 *   TLS verification errors  failed (a configuration problem)
 *
 * Every request carries Idempotency-Key: <action_id>, so a receiver can
 * drop a redelivered action. Only http and https are allowed; the response
 * body is kept up to max_response_bytes (for the error text) and the
 * transfer is cut beyond it. Error texts name the host, never the full URL
 * (its query may hold a token); header values are never logged.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <vigil/plugin.h>

#include "action_json.h"

#define MAX_JSON_BYTES (4u << 20)
#define MAX_BACKOFF_MS 30000
#define EXCERPT_BYTES 200

typedef struct webhook {
    const vgl_host *host;
    const char *url;
    char where[300];          /* "host[:port]" for error texts */
    int64_t timeout_ms, backoff_ms;
    int64_t retries;
    bool tls_verify, dry_run;
    const char *ca_file;
    size_t max_response;
    CURL *curl;
    struct curl_slist *headers;
    char *response;           /* max_response bytes */
    size_t response_len;
    bool response_cut;
    char curl_err[CURL_ERROR_SIZE];
    vgl_plugin_metric *m_requests, *m_retries, *m_failed;
} webhook;

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    webhook *w = opaque;
    size_t n = size * nmemb;
    size_t room = w->max_response - w->response_len;
    if (n > room) {
        memcpy(w->response + w->response_len, data, room);
        w->response_len += room;
        w->response_cut = true;
        return 0; /* abort the transfer: the answer is too big to keep reading */
    }
    memcpy(w->response + w->response_len, data, n);
    w->response_len += n;
    return n;
}

static void webhook_destroy(void *inst)
{
    webhook *w = inst;
    if (!w)
        return;
    if (w->curl)
        curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->headers);
    free(w->response);
    free(w);
    curl_global_cleanup();
}

/* The scheme must be http or https; where = host[:port]. */
static bool check_url(webhook *w, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = false;
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, w->url, 0) != CURLUE_OK) {
        snprintf(err, errlen, "url is not a valid URL");
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "url must be http:// or https://");
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "url has no host");
    } else {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(w->where, sizeof(w->where), "%.200s:%.8s", host, port);
        else
            snprintf(w->where, sizeof(w->where), "%.200s", host);
        ok = true;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static void *webhook_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                          size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialize libcurl");
        return NULL;
    }
    webhook *w = calloc(1, sizeof(*w));
    if (!w) {
        curl_global_cleanup();
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->host = host;
    host->config_str(cfg, "url", &w->url);
    host->config_duration(cfg, "timeout", &w->timeout_ms);
    host->config_duration(cfg, "backoff", &w->backoff_ms);
    host->config_int(cfg, "retries", &w->retries);
    host->config_bool(cfg, "tls_verify", &w->tls_verify);
    host->config_bool(cfg, "dry_run", &w->dry_run);
    if (!host->config_str(cfg, "ca_file", &w->ca_file) || !*w->ca_file)
        w->ca_file = NULL;
    uint64_t max_response = 0;
    host->config_size(cfg, "max_response_bytes", &max_response);
    const char *const *headers = NULL;
    size_t nheaders = host->config_list(cfg, "headers", &headers);

    if (!check_url(w, err, errlen))
        goto fail;
    if (w->timeout_ms <= 0 || w->timeout_ms > 3600000) {
        snprintf(err, errlen, "timeout must be between 1ms and 1h");
        goto fail;
    }
    if (w->retries < 0 || w->retries > 100) {
        snprintf(err, errlen, "retries must be between 0 and 100");
        goto fail;
    }
    if (w->backoff_ms < 0 || w->backoff_ms > MAX_BACKOFF_MS) {
        snprintf(err, errlen, "backoff must be between 0 and 30s");
        goto fail;
    }
    if (max_response == 0 || max_response > (64u << 20)) {
        snprintf(err, errlen, "max_response_bytes must be between 1 and 64MiB");
        goto fail;
    }
    w->max_response = (size_t)max_response;
    w->response = malloc(w->max_response);
    w->curl = curl_easy_init();
    if (!w->response || !w->curl) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    bool has_content_type = false;
    for (size_t i = 0; i < nheaders; i++) {
        const char *h = headers[i];
        const char *colon = strchr(h, ':');
        if (!colon || colon == h || strpbrk(h, "\r\n") || strcspn(h, " \t") < (size_t)(colon - h)) {
            snprintf(err, errlen, "headers[%zu] must be \"Name: value\" on one line", i);
            goto fail;
        }
        if ((size_t)(colon - h) == 12 && strncasecmp(h, "Content-Type", 12) == 0)
            has_content_type = true;
        struct curl_slist *l = curl_slist_append(w->headers, h);
        if (!l) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        w->headers = l;
    }
    struct curl_slist *l = has_content_type
                               ? w->headers
                               : curl_slist_append(w->headers, "Content-Type: application/json");
    if (!l || !(l = curl_slist_append(l, "Expect:"))) { /* no 100-continue round trip */
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    w->headers = l;

    CURL *c = w->curl;
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, w->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, w->tls_verify ? 2L : 0L);
    if (w->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->curl_err);
    char ua[64];
    snprintf(ua, sizeof(ua), "vigil/%.20s webhook/1.0.0", host->vigil_version);
    curl_easy_setopt(c, CURLOPT_USERAGENT, ua); /* copied by libcurl */
    if (!w->tls_verify) {
        vgl_pair f[] = {{"where", w->where}};
        host->log(host, VGL_PLUGIN_LOG_WARN, "TLS verification is off for the webhook", f, 1);
    }
    w->m_requests = host->metric(host, VGL_METRIC_COUNTER, "webhook_requests_total", NULL,
                                 "HTTP requests sent");
    w->m_retries = host->metric(host, VGL_METRIC_COUNTER, "webhook_retries_total", NULL,
                                "Requests repeated after a 5xx, 408, 429 or a network error");
    w->m_failed = host->metric(host, VGL_METRIC_COUNTER, "webhook_failed_total", NULL,
                               "Actions that did not succeed");
    return w;
fail:
    webhook_destroy(w);
    return NULL;
}

/* One line of the response body for an error text. */
static void body_excerpt(const webhook *w, char *out, size_t outlen)
{
    size_t o = 0;
    bool blank = true;
    for (size_t i = 0; i < w->response_len && o + 1 < outlen && o < EXCERPT_BYTES; i++) {
        unsigned char ch = (unsigned char)w->response[i];
        if (ch < 0x20 || ch == 0x7F) {
            if (blank)
                continue;
            ch = ' ';
        }
        blank = ch == ' ';
        out[o++] = (char)ch;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

typedef enum attempt_result { ATTEMPT_OK, ATTEMPT_FAILED, ATTEMPT_TRANSIENT } attempt_result;

static attempt_result attempt(webhook *w, char *err, size_t errlen)
{
    w->response_len = 0;
    w->response_cut = false;
    w->curl_err[0] = '\0';
    w->host->counter_add(w->m_requests, 1);
    CURLcode rc = curl_easy_perform(w->curl);
    long code = 0;
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
    char body[EXCERPT_BYTES + 1];
    body_excerpt(w, body, sizeof(body));
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && w->response_cut && code > 0)) {
        if (code >= 200 && code < 300)
            return ATTEMPT_OK;
        snprintf(err, errlen, "HTTP %ld from %s%s%s", code, w->where,
                 code >= 300 && code < 400 ? " (redirects are not followed)" : "",
                 body[0] ? ": " : "");
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, "%s", body);
        if (code >= 500 || code == 408 || code == 429)
            return ATTEMPT_TRANSIENT;
        return ATTEMPT_FAILED;
    }
    const char *detail = w->curl_err[0] ? w->curl_err : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, errlen, "%s timed out after %lld ms", w->where, (long long)w->timeout_ms);
        return ATTEMPT_TRANSIENT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        snprintf(err, errlen, "%s: %s", w->where, detail);
        return ATTEMPT_FAILED;
    default:
        snprintf(err, errlen, "%s: %s", w->where, detail);
        return ATTEMPT_TRANSIENT;
    }
}

static vgl_respond_status webhook_respond(void *inst, const vgl_action_view *a, char *err,
                                          size_t errlen)
{
    webhook *w = inst;
    size_t len = 0;
    char *json = action_json(a, w->dry_run, MAX_JSON_BYTES, &len);
    if (!json) {
        snprintf(err, errlen, "the action's JSON document is over %u bytes", MAX_JSON_BYTES);
        w->host->counter_add(w->m_failed, 1);
        return VGL_RESPOND_FAILED;
    }
    /* per-request headers: the idempotency key */
    char idem[200];
    snprintf(idem, sizeof(idem), "Idempotency-Key: %.128s", a->action_id ? a->action_id : "");
    for (char *p = idem; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    struct curl_slist *last = w->headers;
    while (last->next)
        last = last->next;
    if (!curl_slist_append(last, idem)) { /* appended after last; unlinked below */
        free(json);
        snprintf(err, errlen, "out of memory");
        w->host->counter_add(w->m_failed, 1);
        return VGL_RESPOND_RETRY;
    }
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);

    vgl_respond_status st = VGL_RESPOND_RETRY;
    int64_t backoff = w->backoff_ms;
    int64_t attempts = 0;
    for (;;) {
        attempts++;
        attempt_result r = attempt(w, err, errlen);
        if (r == ATTEMPT_OK) {
            st = VGL_RESPOND_SUCCEEDED;
            if (errlen)
                err[0] = '\0';
            break;
        }
        if (r == ATTEMPT_FAILED) {
            st = VGL_RESPOND_FAILED;
            break;
        }
        if (attempts > w->retries) {
            /* still transient: the host may deliver the action again later */
            size_t l = strnlen(err, errlen);
            char tail[48];
            snprintf(tail, sizeof(tail), " (after %lld attempts)", (long long)attempts);
            if (l + strlen(tail) < errlen)
                memcpy(err + l, tail, strlen(tail) + 1);
            st = VGL_RESPOND_RETRY;
            break;
        }
        w->host->counter_add(w->m_retries, 1);
        sleep_ms(backoff);
        backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
    }
    curl_slist_free_all(last->next);
    last->next = NULL;
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, NULL);
    free(json);
    if (st != VGL_RESPOND_SUCCEEDED)
        w->host->counter_add(w->m_failed, 1);
    return st;
}

static const vgl_plugin_option webhook_options[] = {
    {.name = "url", .type = VGL_OPT_STRING, .required = true,
     .description = "http:// or https:// URL the action is POSTed to"},
    {.name = "headers", .type = VGL_OPT_LIST,
     .description = "extra request headers, \"Name: value\" each"},
    {.name = "timeout", .type = VGL_OPT_DURATION, .default_value = "10s",
     .description = "limit of one request, connection included"},
    {.name = "retries", .type = VGL_OPT_INT, .default_value = "3",
     .description = "repeats after a 5xx, 408, 429, timeout or network error"},
    {.name = "backoff", .type = VGL_OPT_DURATION, .default_value = "500ms",
     .description = "wait before the first repeat; doubles each time, at most 30s"},
    {.name = "tls_verify", .type = VGL_OPT_BOOL, .default_value = "true",
     .description = "verify the server's certificate and name"},
    {.name = "ca_file", .type = VGL_OPT_STRING,
     .description = "CA bundle to verify the server with (default: the system's)"},
    {.name = "max_response_bytes", .type = VGL_OPT_SIZE, .default_value = "64KiB",
     .description = "response body kept; a longer one is cut off"},
    {.name = "dry_run", .type = VGL_OPT_BOOL, .default_value = "false",
     .description = "value of dry_run in the document"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "webhook",
    .version = "1.0.0",
    .description = "POSTs each action as JSON to a URL (libcurl)",
    .kind = VGL_PLUGIN_RESPOND,
    .options = webhook_options,
    .init = webhook_init,
    .respond = webhook_respond,
    .destroy = webhook_destroy,
};
