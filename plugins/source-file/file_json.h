/*
 * JSON for the file connector: a strict RFC 8259 check of one line (is it
 * a JSON object vigil's decoder will accept?) and the raw event written
 * for a line that is not. Pure functions, no I/O.
 */
#ifndef VGL_FILE_JSON_H
#define VGL_FILE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FILE_JSON_MAX_DEPTH 64 /* as vigil's decoder (limits.max_depth default) */

/*
 * True when s[0..n) is one JSON object (with optional surrounding blanks).
 * Otherwise err holds "invalid JSON at byte 17: expected ':' after object
 * key", "top-level JSON value is not an object", "nesting deeper than 64
 * at byte 68".
 */
bool file_json_check(const char *s, size_t n, char *err, size_t errlen);

/* A growable byte buffer that refuses to pass `cap` bytes. */
typedef struct file_buf {
    char *data;
    size_t len, size, cap;
    bool failed;
} file_buf;

void file_buf_init(file_buf *b, size_t cap);
void file_buf_reset(file_buf *b);
void file_buf_free(file_buf *b);

/*
 * The event for a line that is not a JSON object, into b (reset first):
 *   {"message":LINE,"event":{"original":LINE},"error":{"message":WHY},
 *    "tags":["file_parse_error"(,"file_line_truncated")],
 *    "log":{"file":{"path":PATH},"offset":OFFSET}}
 * Bytes that are not UTF-8 become U+FFFD. False when b's cap was hit.
 */
bool file_raw_event(const char *line, size_t n, const char *why, const char *path,
                    uint64_t offset, bool truncated, file_buf *b);

#endif
