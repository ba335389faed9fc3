/*
 * Bounded CSV reader: see csv.h.
 */
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool csv_open(csv_reader *r, const char *path, const csv_limits *lim, char *err,
              size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->lim = *lim;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 errno ? strerror(errno) : "not a regular file");
        close(fd);
        return false;
    }
    if ((unsigned long long)st.st_size > lim->max_file) {
        snprintf(err, errlen, "%s: file of %lld bytes exceeds the limit of %zu bytes", path,
                 (long long)st.st_size, lim->max_file);
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    r->buf = malloc(size + 1);
    r->path = strdup(path);
    if (!r->buf || !r->path) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        csv_close(r);
        return false;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, r->buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            csv_close(r);
            return false;
        }
        if (n == 0)
            break; /* truncated while we read: take what is there */
        got += (size_t)n;
    }
    close(fd);
    r->len = got;
    r->buf[got] = '\0';
    r->line = 1;
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    return true;
}

void csv_close(csv_reader *r)
{
    free(r->path);
    free(r->buf);
    free(r->scratch);
    free(r->offs);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

/* Skip to just past the end of the current physical line. */
static void skip_line(csv_reader *r)
{
    while (r->pos < r->len && r->buf[r->pos] != '\n')
        r->pos++;
    if (r->pos < r->len) {
        r->pos++;
        r->line++;
    }
}

static bool reserve_scratch(csv_reader *r, size_t need)
{
    if (need <= r->scratch_cap)
        return true;
    size_t cap = r->scratch_cap ? r->scratch_cap : 256;
    while (cap < need)
        cap *= 2;
    char *n = realloc(r->scratch, cap);
    if (!n)
        return false;
    r->scratch = n;
    r->scratch_cap = cap;
    return true;
}

static bool push_field(csv_reader *r, size_t off, size_t len)
{
    if (r->nfields == r->fields_cap) {
        size_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
        size_t *o = realloc(r->offs, cap * sizeof(*o));
        if (!o)
            return false;
        r->offs = o;
        size_t *l = realloc(r->lens, cap * sizeof(*l));
        if (!l)
            return false;
        r->lens = l;
        r->fields_cap = cap;
    }
    r->offs[r->nfields] = off;
    r->lens[r->nfields] = len;
    r->nfields++;
    return true;
}

#define FAIL(...)                                                              \
    do {                                                                       \
        int k_ = snprintf(err, errlen, "%s:%zu: ", r->path, r->rec_line);      \
        if (k_ >= 0 && (size_t)k_ < errlen)                                    \
            snprintf(err + k_, errlen - (size_t)k_, __VA_ARGS__);              \
        goto bad;                                                              \
    } while (0)

int csv_next(csv_reader *r, char *err, size_t errlen)
{
    const char *b = r->buf;
    /* blank and comment lines */
    for (;;) {
        if (r->pos >= r->len)
            return 0;
        char c = b[r->pos];
        if (c == '\n') {
            r->pos++;
            r->line++;
        } else if (c == '\r' && (r->pos + 1 >= r->len || b[r->pos + 1] == '\n')) {
            r->pos++;
        } else if (c == '#' && r->lim.comments) {
            skip_line(r);
        } else {
            break;
        }
    }
    r->rec_line = r->line;
    r->nfields = 0;
    /* a record's fields never need more than its own bytes plus NULs */
    size_t used = 0;
    for (;;) {
        if (r->nfields == r->lim.max_fields)
            FAIL("more than %zu fields", r->lim.max_fields);
        size_t start = used;
        if (!reserve_scratch(r, used + r->lim.max_field + 1))
            FAIL("out of memory");
        if (r->pos < r->len && b[r->pos] == '"') {
            size_t open_line = r->line;
            r->pos++;
            for (;;) {
                if (r->pos >= r->len) {
                    r->rec_line = open_line;
                    FAIL("unterminated quoted field");
                }
                char c = b[r->pos];
                if (c == '"') {
                    if (r->pos + 1 < r->len && b[r->pos + 1] == '"') {
                        c = '"';
                        r->pos += 2;
                    } else {
                        r->pos++;
                        break;
                    }
                } else {
                    r->pos++;
                    if (c == '\n')
                        r->line++;
                }
                if (used - start == r->lim.max_field)
                    FAIL("field %zu is longer than %zu bytes", r->nfields + 1, r->lim.max_field);
                r->scratch[used++] = c;
            }
            /* after the closing quote: a delimiter or the end of the record */
            if (r->pos < r->len && b[r->pos] != ',' && b[r->pos] != '\n' &&
                !(b[r->pos] == '\r' && (r->pos + 1 >= r->len || b[r->pos + 1] == '\n')))
                FAIL("unexpected character after the closing quote of field %zu",
                     r->nfields + 1);
        } else {
            while (r->pos < r->len) {
                char c = b[r->pos];
                if (c == ',' || c == '\n')
                    break;
                if (c == '\r' && (r->pos + 1 >= r->len || b[r->pos + 1] == '\n'))
                    break;
                if (c == '"')
                    FAIL("quote inside unquoted field %zu", r->nfields + 1);
                if (used - start == r->lim.max_field)
                    FAIL("field %zu is longer than %zu bytes", r->nfields + 1, r->lim.max_field);
                r->scratch[used++] = c;
                r->pos++;
            }
        }
        r->scratch[used++] = '\0';
        if (!push_field(r, start, used - start - 1))
            FAIL("out of memory");
        if (r->pos >= r->len)
            return 1;
        char c = b[r->pos];
        if (c == ',') {
            r->pos++;
            continue;
        }
        if (c == '\r')
            r->pos++;
        if (r->pos < r->len && b[r->pos] == '\n') {
            r->pos++;
            r->line++;
        }
        return 1;
    }
bad:
    /* resynchronize at the next physical line */
    if (r->pos < r->len && b[r->pos] != '\n')
        skip_line(r);
    else if (r->pos < r->len) {
        r->pos++;
        r->line++;
    }
    return -1;
}
