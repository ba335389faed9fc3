/*
 * The action a responder receives, as one JSON object: the document the
 * exec responder writes to its child's stdin and the webhook responder
 * POSTs. Shared by plugins/respond-exec and plugins/respond-webhook (the
 * webhook's local.mk compiles this file into its own plugin); it uses only
 * libc and <vigil/plugin.h>.
 *
 *   {"action_id":"...","action":"block_ip","op":"apply",
 *    "target":{"type":"ip","value":"203.0.113.7"},
 *    "incident_id":"..."|null,"rule_id":"..."|null,
 *    "requested_at":"2024-01-02T03:04:05.678Z","expires_at":"..."|null,
 *    "dry_run":false,"params":{...}}
 *
 * Strings are escaped for JSON; bytes that are not valid UTF-8 become
 * U+FFFD, so the document is always valid JSON whatever the action holds.
 */
#ifndef VGL_ACTION_JSON_H
#define VGL_ACTION_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <vigil/plugin.h>

/* A growable byte buffer that refuses to pass `cap` bytes. */
typedef struct json_buf {
    char *data;
    size_t len, size, cap;
    bool failed; /* an append hit the cap or malloc failed: the content is cut */
} json_buf;

void json_buf_init(json_buf *b, size_t cap);
void json_buf_free(json_buf *b);
void json_buf_put(json_buf *b, const char *s, size_t n);
void json_buf_puts(json_buf *b, const char *s);
/* A JSON string literal (with quotes) of s[0..n), or null when s is NULL. */
void json_buf_str(json_buf *b, const char *s, size_t n);
void json_buf_cstr(json_buf *b, const char *s);

/* ms since the epoch as RFC 3339 UTC with milliseconds into out[32]. */
void action_time_rfc3339(long long ms, char out[32]);

/*
 * The action's JSON document. params_json is embedded as is when it is a
 * JSON object written by the host (starts with '{' after blanks), else {}.
 * @return a NUL-terminated string the caller frees, length in *len; NULL
 *         when memory runs out or the document would pass max_bytes.
 */
char *action_json(const vgl_action_view *a, bool dry_run, size_t max_bytes, size_t *len);

#endif
