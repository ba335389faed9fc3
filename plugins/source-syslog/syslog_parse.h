/*
 * Syslog message parsing (RFC 5424 and RFC 3164) and the JSON event a
 * parsed (or unparseable) message becomes. Pure functions over a byte
 * range: no I/O, no allocation except in the JSON buffer, so the parser
 * can be tested and fuzzed alone. Used by the syslog connector (syslog.c).
 */
#ifndef VGL_SYSLOG_PARSE_H
#define VGL_SYSLOG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A byte range of the message being parsed (not NUL-terminated). */
typedef struct syslog_slice {
    const char *p;
    size_t n;
} syslog_slice;

#define SYSLOG_MAX_SD_PARAMS 128 /* structured-data parameters kept per message */

typedef struct syslog_sd_param {
    syslog_slice sd_id, name, value; /* value still holds its \" \\ \] escapes */
} syslog_sd_param;

typedef enum syslog_format {
    SYSLOG_UNPARSED = 0,
    SYSLOG_RFC5424 = 1,
    SYSLOG_RFC3164 = 2
} syslog_format;

typedef struct syslog_msg {
    syslog_format format;
    bool has_pri;
    int pri;               /* facility * 8 + severity, 0..191 */
    int version;           /* RFC 5424 VERSION */
    bool has_time;
    int64_t time_ms;       /* event time, ms since the epoch (UTC) */
    syslog_slice hostname, app_name, procid, msgid, msg; /* n == 0: absent */
    syslog_sd_param sd[SYSLOG_MAX_SD_PARAMS];
    size_t nsd;
    size_t sd_dropped;     /* parameters past SYSLOG_MAX_SD_PARAMS */
} syslog_msg;

/*
 * Parse one message (one UDP datagram or one TCP frame, without framing).
 * now_ms is the receive time: it completes RFC 3164 timestamps, which carry
 * no year (the year that puts the time closest to, and not more than a day
 * after, now) and no zone (read as UTC).
 * @return true when the message is valid RFC 5424 or RFC 3164; false with
 *         err filled ("invalid PRI", "RFC 5424: bad TIMESTAMP", ...), and
 *         the PRI fields still set when they were valid.
 */
bool syslog_parse(const char *data, size_t len, int64_t now_ms, syslog_msg *out, char *err,
                  size_t errlen);

/* ------------------------------------------------------------ JSON out */

/* A growable byte buffer that refuses to pass `cap` bytes. */
typedef struct syslog_buf {
    char *data;
    size_t len, size, cap;
    bool failed; /* an append hit the cap or malloc failed */
} syslog_buf;

void syslog_buf_init(syslog_buf *b, size_t cap);
void syslog_buf_reset(syslog_buf *b);
void syslog_buf_free(syslog_buf *b);

/* What the connector knows besides the message itself. */
typedef struct syslog_origin {
    int64_t received_ms;
    const char *peer;      /* "192.0.2.1:514" / "[2001:db8::1]:514" */
    const char *transport; /* "udp" or "tcp" */
    bool truncated;        /* the message was cut at max_message_bytes */
} syslog_origin;

/*
 * The event for raw[0..len) as one JSON object, into b (reset first).
 * When ok is false, m holds what was parsed and parse_error says why: the
 * event then carries message = event.original = the raw text, error.message
 * and the tag "syslog_parse_error". Never fails except when b's cap is hit.
 */
bool syslog_to_json(const syslog_msg *m, bool ok, const char *parse_error, const char *raw,
                    size_t len, const syslog_origin *o, syslog_buf *b);

/* ms since the epoch as RFC 3339 UTC with milliseconds, into out[32]. */
void syslog_time_rfc3339(int64_t ms, char out[32]);

#endif
