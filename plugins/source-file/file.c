/*
 * Connector "file" (vigil-connector-file.so): tails JSON-lines files and
 * produces every line to `topic`, keyed by the file's path.
 *
 * Files are found by glob every poll_interval and identified by device and
 * inode, not by name, so a rotation by rename is followed: the renamed file
 * is read to its end (and kept open a few polls for late writes), the new
 * file is read from its start, and a renamed file that still matches a
 * pattern is not read twice. A file that shrinks was truncated and is read
 * again from its start. A line is produced when its newline arrives; a
 * line that is not a JSON object is produced as a raw event tagged
 * file_parse_error (file_json.h), never dropped; a line longer than
 * max_line_bytes is cut, tagged file_line_truncated, and the rest of it
 * skipped. With state_file the committed offset of every file is saved
 * (atomically: write + rename) so a restart resumes where it stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vigil/plugin.h>

#include "file_json.h"

#define READ_BUDGET (4u << 20)   /* bytes read from one file per poll, for fairness */
#define INITIAL_BUF (64u << 10)
#define STATE_MAGIC "vigil-file-state 1"

typedef struct tailed_file {
    char *path;          /* the name it was last seen under */
    dev_t dev;
    ino_t ino;
    int fd;
    uint64_t pos;        /* next byte to read */
    uint64_t line_start; /* file offset of buf[0]: everything before is produced */
    char *buf;           /* the partial line (grows up to max_line_bytes + 1) */
    size_t len, size;
    bool skip_line;      /* discarding the rest of an over-long line */
    bool seen;           /* matched by the last scan */
    int64_t unseen_since;
} tailed_file;

typedef struct saved_offset {
    dev_t dev;
    ino_t ino;
    uint64_t offset;
} saved_offset;

typedef struct file_tailer {
    const vgl_host *host;
    const char *topic;
    const char *const *patterns;
    size_t npatterns;
    bool start_at_end;
    int64_t poll_ms;
    size_t max_line;
    size_t max_files;
    const char *state_file;
    tailed_file *files;
    size_t nfiles;
    saved_offset *saved; /* from state_file at init, used for files found later */
    size_t nsaved;
    bool first_scan, state_dirty;
    file_buf raw;
    pthread_t thread;
    bool running;
    vgl_plugin_metric *m_lines, *m_raw, *m_truncated, *m_produce_errors, *m_rotations,
        *m_truncations, *m_files;
} file_tailer;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ lines */

static void produce(file_tailer *t, const tailed_file *f, const char *data, size_t len)
{
    if (t->host->produce(t->host, t->topic, f->path, strlen(f->path), data, len) != VGL_OK)
        t->host->counter_add(t->m_produce_errors, 1);
}

/* One complete (or cut) line starting at file offset `offset`. */
static void emit_line(file_tailer *t, const tailed_file *f, const char *p, size_t n,
                      uint64_t offset, bool truncated)
{
    if (offset == 0 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 BOM */
        p += 3;
        n -= 3;
    }
    if (!truncated && n > 0 && p[n - 1] == '\r')
        n--;
    size_t k = 0;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
        k++;
    if (k == n)
        return; /* a blank line carries nothing */
    t->host->counter_add(t->m_lines, 1);
    char why[160];
    if (truncated) {
        snprintf(why, sizeof(why), "line longer than max_line_bytes (%zu): cut", t->max_line);
        t->host->counter_add(t->m_truncated, 1);
    } else if (file_json_check(p, n, why, sizeof(why))) {
        produce(t, f, p, n);
        return;
    }
    t->host->counter_add(t->m_raw, 1);
    if (file_raw_event(p, n, why, f->path, offset, truncated, &t->raw))
        produce(t, f, t->raw.data, t->raw.len);
    else
        t->host->counter_add(t->m_produce_errors, 1);
}

/* Produce the complete lines in f->buf; eof: the file ended for good
 * (rotated away, truncated), so a partial last line is a line too. */
static void take_lines(file_tailer *t, tailed_file *f, bool eof)
{
    size_t off = 0;
    while (off < f->len) {
        char *p = f->buf + off;
        size_t avail = f->len - off;
        char *nl = memchr(p, '\n', avail);
        if (f->skip_line) {
            if (!nl) {
                off = f->len;
                break;
            }
            f->skip_line = false;
            off += (size_t)(nl - p) + 1;
            continue;
        }
        if (nl && (size_t)(nl - p) <= t->max_line) {
            emit_line(t, f, p, (size_t)(nl - p), f->line_start + off, false);
            off += (size_t)(nl - p) + 1;
            continue;
        }
        if (avail > t->max_line) {
            emit_line(t, f, p, t->max_line, f->line_start + off, true);
            off += t->max_line;
            f->skip_line = true;
            continue;
        }
        if (eof) {
            emit_line(t, f, p, avail, f->line_start + off, false);
            off = f->len;
        }
        break;
    }
    if (off > 0) {
        memmove(f->buf, f->buf + off, f->len - off);
        f->len -= off;
        f->line_start += off;
        t->state_dirty = true;
    }
}

/* Read what f has past pos (at most READ_BUDGET). True when more is left. */
static bool read_file(file_tailer *t, tailed_file *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return false;
    if ((uint64_t)st.st_size < f->pos) {
        /* truncated (copytruncate): what was held is all there was */
        t->host->counter_add(t->m_truncations, 1);
        take_lines(t, f, true);
        f->len = 0;
        f->skip_line = false;
        f->pos = f->line_start = 0;
        t->state_dirty = true;
    }
    size_t budget = READ_BUDGET;
    while (f->pos < (uint64_t)st.st_size && budget > 0) {
        if (f->len == f->size) {
            size_t want = f->size ? f->size * 2 : INITIAL_BUF;
            if (want > t->max_line + 1)
                want = t->max_line + 1;
            if (want <= f->size)
                break; /* cannot happen: take_lines leaves at most max_line bytes */
            char *nb = realloc(f->buf, want);
            if (!nb)
                return false;
            f->buf = nb;
            f->size = want;
        }
        size_t room = f->size - f->len;
        if (room > budget)
            room = budget;
        ssize_t n = pread(f->fd, f->buf + f->len, room, (off_t)f->pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        f->len += (size_t)n;
        f->pos += (uint64_t)n;
        budget -= (size_t)n;
        take_lines(t, f, false);
    }
    return f->pos < (uint64_t)st.st_size;
}

/* ------------------------------------------------------------ files */

static void close_file(file_tailer *t, size_t i)
{
    tailed_file *f = &t->files[i];
    close(f->fd);
    free(f->path);
    free(f->buf);
    memmove(f, f + 1, (t->nfiles - i - 1) * sizeof(*f));
    t->nfiles--;
    t->state_dirty = true;
    t->host->gauge_set(t->m_files, (double)t->nfiles);
}

static tailed_file *find_file(file_tailer *t, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < t->nfiles; i++)
        if (t->files[i].dev == dev && t->files[i].ino == ino)
            return &t->files[i];
    return NULL;
}

static void open_file(file_tailer *t, const char *path)
{
    if (t->nfiles >= t->max_files) {
        vgl_pair f[] = {{"path", path}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "max_files reached: file not tailed", f, 1);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vgl_pair f[] = {{"path", path}, {"error", strerror(errno)}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "cannot open file", f, 2);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || find_file(t, st.st_dev, st.st_ino)) {
        close(fd);
        return;
    }
    char *copy = strdup(path);
    tailed_file *nf = realloc(t->files, (t->nfiles + 1) * sizeof(*t->files));
    if (!copy || !nf) {
        free(copy);
        if (nf)
            t->files = nf;
        close(fd);
        return;
    }
    t->files = nf;
    tailed_file *f = &t->files[t->nfiles++];
    memset(f, 0, sizeof(*f));
    f->path = copy;
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->seen = true;
    bool resumed = false;
    for (size_t i = 0; i < t->nsaved; i++) {
        if (t->saved[i].dev == st.st_dev && t->saved[i].ino == st.st_ino) {
            /* a smaller file than the saved offset was truncated meanwhile */
            f->pos = t->saved[i].offset <= (uint64_t)st.st_size ? t->saved[i].offset : 0;
            resumed = true;
            break;
        }
    }
    if (!resumed && t->first_scan && t->start_at_end)
        f->pos = (uint64_t)st.st_size;
    f->line_start = f->pos;
    t->state_dirty = true;
    t->host->gauge_set(t->m_files, (double)t->nfiles);
}

static void scan(file_tailer *t)
{
    for (size_t i = 0; i < t->nfiles; i++)
        t->files[i].seen = false;
    for (size_t p = 0; p < t->npatterns; p++) {
        glob_t g;
        if (glob(t->patterns[p], 0, NULL, &g) != 0) {
            globfree(&g);
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            const char *path = g.gl_pathv[k];
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            tailed_file *f = find_file(t, st.st_dev, st.st_ino);
            if (!f) {
                open_file(t, path);
                continue;
            }
            if (!f->seen && strcmp(f->path, path) != 0) {
                /* renamed (rotated) and still matched: same file, same offset */
                char *copy = strdup(path);
                if (copy) {
                    free(f->path);
                    f->path = copy;
                    t->host->counter_add(t->m_rotations, 1);
                }
            }
            f->seen = true;
        }
        globfree(&g);
    }
    t->first_scan = false;
}

/* ------------------------------------------------------------ state */

static void write_state(file_tailer *t)
{
    if (!t->state_file || !t->state_dirty)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", t->state_file);
    FILE *out = fopen(tmp, "we");
    if (!out) {
        vgl_pair f[] = {{"path", tmp}, {"error", strerror(errno)}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "cannot write the state file", f, 2);
        return;
    }
    fprintf(out, "%s\n", STATE_MAGIC);
    for (size_t i = 0; i < t->nfiles; i++) {
        const tailed_file *f = &t->files[i];
        if (strchr(f->path, '\n'))
            continue;
        fprintf(out, "%llu %llu %llu %s\n", (unsigned long long)f->dev,
                (unsigned long long)f->ino, (unsigned long long)f->line_start, f->path);
    }
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = fclose(out) == 0 && ok;
    if (!ok || rename(tmp, t->state_file) != 0) {
        vgl_pair f[] = {{"path", t->state_file}, {"error", strerror(errno)}};
        t->host->log(t->host, VGL_PLUGIN_LOG_WARN, "cannot write the state file", f, 2);
        unlink(tmp);
        return;
    }
    t->state_dirty = false;
}

/* Read state_file: "dev ino offset path" lines after the magic line. */
static bool read_state(file_tailer *t, char *err, size_t errlen)
{
    FILE *in = fopen(t->state_file, "re");
    if (!in) {
        if (errno == ENOENT)
            return true; /* first run */
        snprintf(err, errlen, "cannot read state_file %s: %s", t->state_file, strerror(errno));
        return false;
    }
    char line[4200];
    int lineno = 0;
    bool ok = true;
    while (fgets(line, sizeof(line), in)) {
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, STATE_MAGIC, strlen(STATE_MAGIC)) != 0) {
                snprintf(err, errlen, "%s:1: not a vigil file state (want \"%s\")",
                         t->state_file, STATE_MAGIC);
                ok = false;
                break;
            }
            continue;
        }
        unsigned long long dev, ino, off;
        int used = 0;
        if (sscanf(line, "%llu %llu %llu %n", &dev, &ino, &off, &used) != 3 || used == 0) {
            snprintf(err, errlen, "%s:%d: want \"DEV INODE OFFSET PATH\"", t->state_file, lineno);
            ok = false;
            break;
        }
        saved_offset *ns = realloc(t->saved, (t->nsaved + 1) * sizeof(*ns));
        if (!ns) {
            snprintf(err, errlen, "out of memory reading %s", t->state_file);
            ok = false;
            break;
        }
        t->saved = ns;
        t->saved[t->nsaved++] = (saved_offset){(dev_t)dev, (ino_t)ino, off};
    }
    fclose(in);
    return ok;
}

/* ------------------------------------------------------------ thread */

static void *tailer_main(void *arg)
{
    file_tailer *t = arg;
    while (!t->host->stopping(t->host)) {
        scan(t);
        bool more = false;
        int64_t now = mono_ms();
        for (size_t i = 0; i < t->nfiles;) {
            tailed_file *f = &t->files[i];
            bool left = read_file(t, f);
            more = more || left;
            if (f->seen) {
                f->unseen_since = 0;
                i++;
                continue;
            }
            /* renamed away or deleted: keep reading a while for late writes */
            if (f->unseen_since == 0)
                f->unseen_since = now;
            int64_t grace = t->poll_ms * 4 > 1000 ? t->poll_ms * 4 : 1000;
            if (!left && now - f->unseen_since >= grace) {
                take_lines(t, f, true);
                close_file(t, i);
                continue;
            }
            i++;
        }
        write_state(t);
        if (!more)
            t->host->wait_stop(t->host, t->poll_ms);
    }
    write_state(t);
    return NULL;
}

/* ---------------------------------------------------------- callbacks */

static void file_destroy(void *inst)
{
    file_tailer *t = inst;
    if (!t)
        return;
    while (t->nfiles > 0)
        close_file(t, t->nfiles - 1);
    free(t->files);
    free(t->saved);
    file_buf_free(&t->raw);
    free(t);
}

static void *file_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                       size_t errlen)
{
    file_tailer *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->host = host;
    t->first_scan = true;
    host->config_str(cfg, "topic", &t->topic);
    t->npatterns = host->config_list(cfg, "paths", &t->patterns);
    const char *start_at = "beginning";
    host->config_str(cfg, "start_at", &start_at);
    host->config_duration(cfg, "poll_interval", &t->poll_ms);
    uint64_t max_line = 0;
    host->config_size(cfg, "max_line_bytes", &max_line);
    int64_t max_files = 0;
    host->config_int(cfg, "max_files", &max_files);
    if (!host->config_str(cfg, "state_file", &t->state_file) || !*t->state_file)
        t->state_file = NULL;

    if (t->npatterns == 0) {
        snprintf(err, errlen, "paths must list at least one file or glob");
        goto fail;
    }
    if (!t->topic || !*t->topic) {
        snprintf(err, errlen, "topic must not be empty");
        goto fail;
    }
    if (strcmp(start_at, "beginning") == 0) {
        t->start_at_end = false;
    } else if (strcmp(start_at, "end") == 0) {
        t->start_at_end = true;
    } else {
        snprintf(err, errlen, "start_at must be beginning or end, got \"%.64s\"", start_at);
        goto fail;
    }
    if (t->poll_ms < 10 || t->poll_ms > 60000) {
        snprintf(err, errlen, "poll_interval must be between 10ms and 60s");
        goto fail;
    }
    if (max_line < 64 || max_line > (256u << 20)) {
        snprintf(err, errlen, "max_line_bytes must be between 64 and 256MiB");
        goto fail;
    }
    if (max_files < 1 || max_files > 100000) {
        snprintf(err, errlen, "max_files must be between 1 and 100000");
        goto fail;
    }
    t->max_line = (size_t)max_line;
    t->max_files = (size_t)max_files;
    if (t->state_file && strlen(t->state_file) > 4000) {
        snprintf(err, errlen, "state_file path is too long");
        goto fail;
    }
    if (t->state_file && !read_state(t, err, errlen))
        goto fail;
    /* a raw event holds the line twice, escaped (up to 6 bytes per byte) */
    file_buf_init(&t->raw, t->max_line * 12 + 65536);
    t->m_lines = host->metric(host, VGL_METRIC_COUNTER, "file_lines_total", NULL,
                              "Lines read (blank lines not counted)");
    t->m_raw = host->metric(host, VGL_METRIC_COUNTER, "file_raw_lines_total", NULL,
                            "Lines produced as raw events (not a JSON object)");
    t->m_truncated = host->metric(host, VGL_METRIC_COUNTER, "file_truncated_lines_total", NULL,
                                  "Lines cut at max_line_bytes");
    t->m_produce_errors = host->metric(host, VGL_METRIC_COUNTER, "file_produce_errors_total",
                                       NULL, "Lines that could not be produced");
    t->m_rotations = host->metric(host, VGL_METRIC_COUNTER, "file_renames_total", NULL,
                                  "Tailed files found under a new name");
    t->m_truncations = host->metric(host, VGL_METRIC_COUNTER, "file_truncations_total", NULL,
                                    "Tailed files that shrank and were read again from 0");
    t->m_files = host->metric(host, VGL_METRIC_GAUGE, "file_open_files", NULL,
                              "Files being tailed");
    return t;
fail:
    file_destroy(t);
    return NULL;
}

static vgl_rc file_start(void *inst, char *err, size_t errlen)
{
    file_tailer *t = inst;
    if (pthread_create(&t->thread, NULL, tailer_main, t) != 0) {
        snprintf(err, errlen, "cannot start the tailer thread");
        return VGL_ERR_NOMEM;
    }
    t->running = true;
    return VGL_OK;
}

static void file_stop(void *inst)
{
    file_tailer *t = inst;
    if (t->running)
        pthread_join(t->thread, NULL);
    t->running = false;
}

static const vgl_plugin_option file_options[] = {
    {.name = "paths", .type = VGL_OPT_LIST, .required = true,
     .description = "files to tail; glob patterns allowed (/var/log/app/*.jsonl)"},
    {.name = "topic", .type = VGL_OPT_STRING, .required = true,
     .description = "Kafka topic the lines are produced to"},
    {.name = "start_at", .type = VGL_OPT_STRING, .default_value = "beginning",
     .description = "beginning or end: where to start in files present at startup"},
    {.name = "poll_interval", .type = VGL_OPT_DURATION, .default_value = "250ms",
     .description = "how often files are looked for and read"},
    {.name = "max_line_bytes", .type = VGL_OPT_SIZE, .default_value = "1MiB",
     .description = "longer lines are cut and tagged file_line_truncated"},
    {.name = "max_files", .type = VGL_OPT_INT, .default_value = "1024",
     .description = "files tailed at once"},
    {.name = "state_file", .type = VGL_OPT_STRING,
     .description = "where read offsets are kept so a restart resumes; unset = none"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "file",
    .version = "1.0.0",
    .description = "tails JSON-lines files (globs, rotation, truncation, resume)",
    .kind = VGL_PLUGIN_CONNECTOR,
    .options = file_options,
    .init = file_init,
    .start = file_start,
    .stop = file_stop,
    .destroy = file_destroy,
};
