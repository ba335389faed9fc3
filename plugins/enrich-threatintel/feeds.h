/*
 * Indicator feeds: CSV files and STIX 2.1 JSON bundles, read into an
 * intel_builder. Every problem names its place ("PATH:LINE: reason").
 * A malformed row or indicator is either reported through the reject
 * callback and skipped (the default), or fails the whole load (strict).
 */
#ifndef VGL_PLUGIN_FEEDS_H
#define VGL_PLUGIN_FEEDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "intel.h"

/* Which CSV column holds what (-1 = absent). */
typedef struct feed_columns {
    int type, value, provider, confidence, description, valid_until;
    size_t count; /* columns declared */
} feed_columns;

typedef struct feed_opts {
    feed_columns columns;
    size_t max_file;   /* bytes of one file */
    bool strict;       /* a malformed row fails the load */
    bool header;       /* the first CSV record is a header (skipped) */
    int64_t now_ms;    /* indicators that expired before this are skipped */
    /* a skipped row/indicator: "PATH:LINE: reason" (may be NULL) */
    void (*reject)(void *opaque, const char *msg);
    void *opaque;
} feed_opts;

typedef struct feed_stats {
    size_t loaded;      /* indicators added */
    size_t rejected;    /* malformed rows/indicators skipped */
    size_t expired;     /* STIX/CSV valid_until in the past, or revoked */
    size_t unsupported; /* STIX indicators with patterns we do not evaluate */
} feed_stats;

/* Parse a column list ("type,value,provider,confidence,description"):
 * false with a reason for an unknown name, a repeated one, or no "value". */
bool feed_columns_parse(const char *const *names, size_t n, feed_columns *out, char *err,
                        size_t errlen);

bool feed_load_csv(intel_builder *b, const char *path, const feed_opts *o, feed_stats *st,
                   char *err, size_t errlen);
bool feed_load_stix(intel_builder *b, const char *path, const feed_opts *o, feed_stats *st,
                    char *err, size_t errlen);

/* RFC 3339 ("2024-01-31T12:00:00Z", "...+02:00", fractions) to ms since the
 * epoch. false when malformed. */
bool feed_parse_time(const char *s, size_t len, int64_t *ms);

#endif
