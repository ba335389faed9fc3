/*
 * Decoders and encoders between wire records and events.
 *
 * JSON (core/codec_json.c): vigil's own strict RFC 8259 parser that builds
 * the event tree straight into the event arena (no per-node malloc), and an
 * encoder. Avro (core/codec_avro.c): Avro C, with a fixed .avsc schema or the
 * Confluent wire format resolved from a directory of <id>.avsc files.
 *
 * Every decode error fills err with a sentence naming the place in the
 * record ("invalid JSON at byte 17: expected ':' after object key").
 */
#ifndef VGL_CODEC_H
#define VGL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"

typedef struct vgl_decode_limits {
    size_t max_bytes;    /* whole record, 0 = unlimited */
    uint32_t max_depth;  /* nesting of arrays/objects, 0 = 64 */
} vgl_decode_limits;

/* ---- JSON ---- */

/* Error texts (offsets count bytes of the record from 0):
 *   invalid JSON at byte 17: expected ':' after object key       (INVALID)
 *   top-level JSON value is an array, expected an object          (INVALID)
 *   nesting deeper than 64 at byte 68                             (TOOBIG)
 *   message of 2097152 bytes exceeds the limit of 1048576 bytes   (TOOBIG)
 *   event exceeds its memory limit of N bytes at byte M            (TOOBIG)
 *   event is not empty: reset it before decoding                  (STATE)
 * Bytes of a string that are not valid UTF-8 become U+FFFD rather than
 * failing the record (see codec_json.c). */

/* Decode one JSON object into ev->root (which must be empty). Errors:
 * VGL_ERR_TOOBIG (record over max_bytes, nesting over max_depth, arena
 * limit), VGL_ERR_INVALID (syntax, with byte offset; top level not an
 * object), VGL_ERR_NOMEM. On error the event content is unspecified. */
vgl_rc vgl_json_decode(vgl_event *ev, const char *buf, size_t len,
                       const vgl_decode_limits *lim, char *err, size_t errlen);

/* Append the JSON text of v / of the event's root object to out. Doubles
 * print with 17 significant digits and always as a number with a '.' or
 * exponent; NaN/Inf become null. */
vgl_rc vgl_json_encode_value(vgl_buf *out, const vgl_value *v);
vgl_rc vgl_json_encode_event(vgl_buf *out, const vgl_event *ev);

/* ---- shared by the decoders (core/codec_json.c) ---- */

/* True when s[0..len) is valid UTF-8 (RFC 3629: no overlongs, surrogates
 * or code points past U+10FFFF). */
bool vgl_codec_utf8_valid(const char *s, size_t len);
/* Make v a string holding a copy of s[0..len) in ev's arena, every byte
 * that does not start a valid UTF-8 sequence replaced by U+FFFD: the rule
 * of every decoder, so one stray byte cannot make an event undecodable.
 * VGL_ERR_NOMEM when the arena is exhausted or over its limit. */
vgl_rc vgl_codec_set_utf8(vgl_event *ev, vgl_value *v, const char *s, size_t len);

/* ---- Avro ---- */

typedef struct vgl_avro_codec vgl_avro_codec;
typedef struct vgl_avro_ctx vgl_avro_ctx;

/* A codec for one fixed schema (format: avro). */
vgl_avro_codec *vgl_avro_codec_from_file(const char *avsc_path, char *err, size_t errlen);
/* A codec resolving Confluent schema ids from DIR/<id>.avsc (format:
 * avro-confluent); every schema in dir is loaded and checked here. */
vgl_avro_codec *vgl_avro_codec_from_dir(const char *dir, char *err, size_t errlen);
void vgl_avro_codec_free(vgl_avro_codec *c);

/* Per-thread decoding/encoding state (Avro C values are not shareable
 * between threads); a codec may have one ctx per worker. */
vgl_avro_ctx *vgl_avro_ctx_new(vgl_avro_codec *c);
void vgl_avro_ctx_free(vgl_avro_ctx *x);

/* Error texts (offsets count from the first byte of the Kafka record,
 * Confluent header included; the field path is where it happened):
 *   invalid Avro at byte 12 (field evidence[0].offset): unexpected end of record   (INVALID)
 *   invalid Confluent header: magic byte is 0x7b, expected 0x00 (JSON data?)      (INVALID)
 *   record of 3 bytes is shorter than the 5-byte Confluent header                 (INVALID)
 *   unknown schema id 42 (no 42.avsc in DIR)                                      (NOTFOUND)
 *   nesting deeper than 64 at byte 256 (field a.b)                                (TOOBIG)
 * Every length is checked against the bytes left before use, and a record
 * may hold at most 65,536 array items that take no bytes (nulls). */

/* Decode one record into ev->root. Records and maps become objects,
 * arrays arrays, unions their branch, enums their symbol, bytes/fixed a
 * string (bytes as-is when valid UTF-8, else base64), and a record of the
 * generic vigil.Value type (configs/schemas/event.avsc) the JSON value it
 * holds, so JSON -> event -> Avro -> event -> JSON round-trips. */
vgl_rc vgl_avro_decode(vgl_avro_ctx *x, vgl_event *ev, const void *buf, size_t len,
                       const vgl_decode_limits *lim, char *err, size_t errlen);
/* Encode errors name the field: "field evidence[0].partition: expected
 * int, got string" (TYPE); out is left as it was on any error. Members of
 * v that the schema does not name are ignored; a union takes the first
 * branch of v's type (an int also fits float/double). */
/* Encode v (an object) with the schema of id (Confluent: writes the
 * 5-byte header; fixed-schema codec: id is ignored). Fields of the schema
 * missing in v take their default or null; a value that does not fit the
 * schema is VGL_ERR_TYPE naming the field. */
vgl_rc vgl_avro_encode(vgl_avro_ctx *x, int32_t schema_id, const vgl_value *v, vgl_buf *out,
                       char *err, size_t errlen);

#endif
