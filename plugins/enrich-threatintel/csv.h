/*
 * A bounded CSV reader (RFC 4180 plus what real feeds do): quoted fields
 * with "" escapes, commas and newlines inside quotes, a UTF-8 BOM, CRLF or
 * LF line ends, blank lines skipped, optional '#' comment lines. The file is
 * read whole (up to a size limit); every record is checked against a field
 * count and a field length limit. Errors name the place: "PATH:LINE: ...",
 * LINE being the physical line where the record starts.
 *
 * Shared by enrich-threatintel and enrich-watchlist. Not thread-safe: one
 * reader per thread.
 */
#ifndef VGL_PLUGIN_CSV_H
#define VGL_PLUGIN_CSV_H

#include <stdbool.h>
#include <stddef.h>

typedef struct csv_limits {
    size_t max_file;   /* bytes of the whole file */
    size_t max_fields; /* fields of one record */
    size_t max_field;  /* bytes of one field */
    bool comments;     /* a line whose first byte is '#' is skipped */
} csv_limits;

typedef struct csv_reader {
    char *path;        /* owned copy, for messages */
    char *buf;         /* the whole file, owned */
    size_t len, pos;
    size_t line;       /* physical line at pos (1-based) */
    size_t rec_line;   /* line where the current record starts */
    csv_limits lim;
    /* the current record: NUL-terminated copies in scratch */
    char *scratch;
    size_t scratch_cap;
    size_t *offs;      /* field i starts at scratch + offs[i] */
    size_t *lens;
    size_t nfields, fields_cap;
} csv_reader;

/* Read PATH. false with "cannot open PATH: reason" / "PATH: file of N bytes
 * exceeds the limit of M bytes" in err. */
bool csv_open(csv_reader *r, const char *path, const csv_limits *lim, char *err,
              size_t errlen);

/* The next record. 1: a record (csv_field/csv_len/nfields valid until the
 * next call), 0: end of file, -1: a malformed record with "PATH:LINE:
 * reason" in err; the reader has skipped it and the next call goes on. */
int csv_next(csv_reader *r, char *err, size_t errlen);

static inline const char *csv_field(const csv_reader *r, size_t i)
{
    return r->scratch + r->offs[i];
}

static inline size_t csv_len(const csv_reader *r, size_t i)
{
    return r->lens[i];
}

void csv_close(csv_reader *r);

#endif
