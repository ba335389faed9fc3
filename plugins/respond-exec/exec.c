/*
 * Responder "exec" (vigil-respond-exec.so): runs a configured program for
 * each action. The argv comes from the `command` template, whose {name}
 * placeholders are replaced by the action's values inside their element:
 * a value always stays exactly one argv element, and no shell ever sees
 * it. The action's JSON document (action_json.h) is the child's stdin.
 *
 * The child runs in its own process group with a minimal environment,
 * stdin from a memfd (no pipe, so no SIGPIPE and no deadlock when it does
 * not read), stdout/stderr captured up to max_output_bytes each. On
 * timeout the whole group is killed. Exit 0 is success; the recent set
 * remembers the last `recent_ids` outcomes so a redelivered action_id is
 * answered without running the program again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vigil/plugin.h>

#include "action_json.h"

#define MAX_VALUE_BYTES 4096     /* one substituted action value */
#define MAX_ELEMENT_BYTES 16384  /* one argv element after substitution */
#define MAX_ARGS 256             /* elements of the command template */
#define MAX_JSON_BYTES (4u << 20)
#define RECENT_ID_MAX 128        /* longer action ids are run but not remembered */
#define RECENT_ERR_MAX 256
#define EXCERPT_BYTES 300

/* --------------------------------------------------------- recent set */

/* The outcomes of the last `cap` actions, by action_id: a ring (insertion
 * order, the oldest is evicted) indexed by a chained hash table. */
typedef struct recent_entry {
    char id[RECENT_ID_MAX + 1];
    char err[RECENT_ERR_MAX];
    vgl_respond_status status;
    int32_t next; /* next entry of the same bucket, -1 = end */
    bool used;
} recent_entry;

typedef struct recent_set {
    recent_entry *entries;
    size_t cap, pos;
    int32_t *buckets;
    size_t nbuckets; /* power of two */
} recent_set;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool recent_init(recent_set *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    if (cap == 0)
        return true;
    r->cap = cap;
    r->nbuckets = 16;
    while (r->nbuckets < cap * 2)
        r->nbuckets *= 2;
    r->entries = calloc(cap, sizeof(*r->entries));
    r->buckets = malloc(r->nbuckets * sizeof(*r->buckets));
    if (!r->entries || !r->buckets)
        return false;
    for (size_t i = 0; i < r->nbuckets; i++)
        r->buckets[i] = -1;
    return true;
}

static void recent_free(recent_set *r)
{
    free(r->entries);
    free(r->buckets);
    memset(r, 0, sizeof(*r));
}

static const recent_entry *recent_find(const recent_set *r, const char *id)
{
    if (r->cap == 0 || strlen(id) > RECENT_ID_MAX)
        return NULL;
    for (int32_t i = r->buckets[hash_str(id) & (r->nbuckets - 1)]; i >= 0; i = r->entries[i].next)
        if (strcmp(r->entries[i].id, id) == 0)
            return &r->entries[i];
    return NULL;
}

static void recent_add(recent_set *r, const char *id, vgl_respond_status status, const char *err)
{
    if (r->cap == 0 || strlen(id) > RECENT_ID_MAX || recent_find(r, id))
        return;
    int32_t slot = (int32_t)r->pos;
    recent_entry *e = &r->entries[slot];
    if (e->used) { /* evict the oldest: unlink it from its chain */
        int32_t *link = &r->buckets[hash_str(e->id) & (r->nbuckets - 1)];
        while (*link != slot)
            link = &r->entries[*link].next;
        *link = e->next;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->err, sizeof(e->err), "%s", err ? err : "");
    e->status = status;
    e->used = true;
    int32_t *head = &r->buckets[hash_str(id) & (r->nbuckets - 1)];
    e->next = *head;
    *head = slot;
    r->pos = (r->pos + 1) % r->cap;
}

/* ------------------------------------------------------------ instance */

typedef struct exec_responder {
    const vgl_host *host;
    const char *const *command; /* template, borrowed (inst) */
    size_t argc;
    int64_t timeout_ms;
    const char *const *allowed;
    size_t nallowed;
    size_t max_output;
    bool dry_run;
    recent_set recent;
    vgl_plugin_metric *m_runs, *m_failed, *m_timeouts, *m_duplicates;
} exec_responder;

static const char *const placeholder_names[] = {
    "action", "target.type", "target.value", "action_id", "incident_id",
    "rule_id", "op", "dry_run", NULL,
};

/* Length of the placeholder name at s ("{name}" starting at s[0] == '{'),
 * 0 when s does not start a placeholder-shaped token. */
static size_t placeholder_at(const char *s)
{
    size_t i = 1;
    while ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '_')
        i++;
    return (i > 1 && s[i] == '}') ? i - 1 : 0;
}

static int placeholder_index(const char *name, size_t len)
{
    for (int i = 0; placeholder_names[i]; i++)
        if (strlen(placeholder_names[i]) == len && memcmp(placeholder_names[i], name, len) == 0)
            return i;
    return -1;
}

static void exec_destroy(void *inst)
{
    exec_responder *x = inst;
    if (!x)
        return;
    recent_free(&x->recent);
    free(x);
}

static void *exec_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                       size_t errlen)
{
    exec_responder *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    x->host = host;
    x->argc = host->config_list(cfg, "command", &x->command);
    x->nallowed = host->config_list(cfg, "allowed_actions", &x->allowed);
    host->config_duration(cfg, "timeout", &x->timeout_ms);
    uint64_t max_out = 0;
    host->config_size(cfg, "max_output_bytes", &max_out);
    int64_t recent = 0;
    host->config_int(cfg, "recent_ids", &recent);
    host->config_bool(cfg, "dry_run", &x->dry_run);

    if (x->argc == 0) {
        snprintf(err, errlen, "command must list the program and its arguments");
        goto fail;
    }
    if (x->argc > MAX_ARGS) {
        snprintf(err, errlen, "command has %zu elements, at most %d are allowed", x->argc,
                 MAX_ARGS);
        goto fail;
    }
    if (!strchr(x->command[0], '/')) {
        snprintf(err, errlen,
                 "command[0] \"%.200s\" must be a path (the program is never looked up in PATH)",
                 x->command[0]);
        goto fail;
    }
    if (access(x->command[0], X_OK) != 0) {
        snprintf(err, errlen, "cannot execute %.200s: %s", x->command[0], strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < x->argc; i++) {
        const char *e = x->command[i];
        if (strlen(e) > MAX_ELEMENT_BYTES) {
            snprintf(err, errlen, "command[%zu] is longer than %d bytes", i, MAX_ELEMENT_BYTES);
            goto fail;
        }
        for (const char *p = strchr(e, '{'); p; p = strchr(p + 1, '{')) {
            size_t n = placeholder_at(p);
            if (n && placeholder_index(p + 1, n) < 0) {
                snprintf(err, errlen,
                         "command[%zu]: unknown placeholder {%.*s} (known: {action} "
                         "{target.type} {target.value} {action_id} {incident_id} {rule_id} "
                         "{op} {dry_run})",
                         i, (int)n, p + 1);
                goto fail;
            }
        }
    }
    if (x->timeout_ms <= 0) {
        snprintf(err, errlen, "timeout must be positive");
        goto fail;
    }
    if (max_out == 0 || max_out > (64u << 20)) {
        snprintf(err, errlen, "max_output_bytes must be between 1 and 64MiB");
        goto fail;
    }
    x->max_output = (size_t)max_out;
    if (recent < 0 || recent > 10000000) {
        snprintf(err, errlen, "recent_ids must be between 0 and 10000000");
        goto fail;
    }
    if (!recent_init(&x->recent, (size_t)recent)) {
        snprintf(err, errlen, "out of memory for %lld recent action ids", (long long)recent);
        goto fail;
    }
    x->m_runs = host->metric(host, VGL_METRIC_COUNTER, "exec_runs_total", NULL,
                             "Programs started for actions");
    x->m_failed = host->metric(host, VGL_METRIC_COUNTER, "exec_failed_total", NULL,
                               "Actions whose program failed, timed out or could not start");
    x->m_timeouts = host->metric(host, VGL_METRIC_COUNTER, "exec_timeouts_total", NULL,
                                 "Programs killed at the timeout");
    x->m_duplicates = host->metric(host, VGL_METRIC_COUNTER, "exec_duplicates_total", NULL,
                                   "Repeated action ids answered from the recent set");
    return x;
fail:
    exec_destroy(x);
    return NULL;
}

/* ------------------------------------------------------------ argv */

/* The value of placeholder i for action a (never NULL). */
static const char *placeholder_value(const exec_responder *x, const vgl_action_view *a, int i)
{
    const char *v = NULL;
    switch (i) {
    case 0: v = a->action; break;
    case 1: v = a->target_type; break;
    case 2: v = a->target; break;
    case 3: v = a->action_id; break;
    case 4: v = a->incident_id; break;
    case 5: v = a->rule_id; break;
    case 6: v = a->op == VGL_ACTION_REVERT ? "revert" : "apply"; break;
    case 7: v = x->dry_run ? "true" : "false"; break;
    }
    return v ? v : "";
}

static void free_argv(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* The argv for action a, NULL-terminated, or NULL with err filled. */
static char **build_argv(const exec_responder *x, const vgl_action_view *a, char *err,
                         size_t errlen)
{
    for (int i = 0; placeholder_names[i]; i++) {
        size_t n = strlen(placeholder_value(x, a, i));
        if (n > MAX_VALUE_BYTES) {
            snprintf(err, errlen, "%s is %zu bytes, over the %d-byte limit", placeholder_names[i],
                     n, MAX_VALUE_BYTES);
            return NULL;
        }
    }
    char **argv = calloc(x->argc + 1, sizeof(*argv));
    if (!argv)
        goto nomem;
    for (size_t i = 0; i < x->argc; i++) {
        json_buf b;
        json_buf_init(&b, MAX_ELEMENT_BYTES + MAX_VALUE_BYTES * 4);
        const char *e = x->command[i], *run = e;
        for (const char *p = strchr(e, '{'); p; p = strchr(p, '{')) {
            size_t n = placeholder_at(p);
            int idx = n ? placeholder_index(p + 1, n) : -1;
            if (idx < 0) {
                p++;
                continue;
            }
            json_buf_put(&b, run, (size_t)(p - run));
            json_buf_puts(&b, placeholder_value(x, a, idx));
            p += n + 2;
            run = p;
        }
        json_buf_puts(&b, run);
        if (b.failed || !b.data) {
            json_buf_free(&b);
            if (b.failed) {
                snprintf(err, errlen, "command[%zu] is too long after substitution", i);
                free_argv(argv);
                return NULL;
            }
            argv[i] = strdup("");
        } else {
            argv[i] = b.data; /* ownership moves to argv */
        }
        if (!argv[i])
            goto nomem;
    }
    return argv;
nomem:
    free_argv(argv);
    snprintf(err, errlen, "out of memory building the command line");
    return NULL;
}

/* ------------------------------------------------------------- child */

typedef struct capture {
    char *data;
    size_t len, cap, total;
    bool eof;
} capture;

/* Read what fd has; keep at most cap bytes, count and discard the rest. */
static void capture_read(capture *c, int fd)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            size_t keep = c->cap - c->len < (size_t)n ? c->cap - c->len : (size_t)n;
            memcpy(c->data + c->len, buf, keep);
            c->len += keep;
            c->total += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            c->eof = true;
        return;
    }
}

/* A one-line excerpt of c for an error message: control bytes become
 * spaces, runs of blanks collapse, at most EXCERPT_BYTES. */
static void capture_excerpt(const capture *c, char *out, size_t outlen)
{
    size_t o = 0;
    bool blank = true;
    for (size_t i = 0; i < c->len && o + 1 < outlen && o < EXCERPT_BYTES; i++) {
        unsigned char ch = (unsigned char)c->data[i];
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child after fork: only async-signal-safe calls. */
static void child_exec(char **argv, char **envp, int in_fd, int out_fd, int err_fd, int report_fd,
                       int max_fd)
{
    setpgid(0, 0);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        goto fail;
    /* everything else (vigil's sockets, files) closes at exec; report_fd
     * is already close-on-exec and stays usable until then */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) /* kernels before 5.11 */
        for (int fd = 3; fd < max_fd; fd++)
            if (fd != report_fd)
                close(fd);
    if (chdir("/") != 0)
        goto fail;
    execve(argv[0], argv, envp);
fail:;
    int e = errno;
    ssize_t w = write(report_fd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

typedef struct run_result {
    bool started, timed_out;
    int wait_status;
    int start_errno;
} run_result;

static void run_child(exec_responder *x, char **argv, const char *json, size_t json_len,
                      capture *out, capture *errc, run_result *res)
{
    static char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "LC_ALL=C", NULL};
    int in_fd = -1, outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
    memset(res, 0, sizeof(*res));

    in_fd = memfd_create("vigil-action", MFD_CLOEXEC);
    if (in_fd < 0 || pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 ||
        pipe2(rep, O_CLOEXEC) != 0)
        goto sys_fail;
    for (size_t off = 0; off < json_len;) {
        ssize_t n = write(in_fd, json + off, json_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto sys_fail;
        off += (size_t)n;
    }
    if (lseek(in_fd, 0, SEEK_SET) != 0)
        goto sys_fail;

    struct rlimit nofile;
    int max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536)
        max_fd = (int)nofile.rlim_cur;
    pid_t pid = fork();
    if (pid < 0)
        goto sys_fail;
    if (pid == 0)
        child_exec(argv, envp, in_fd, outp[1], errp[1], rep[1], max_fd);
    setpgid(pid, pid); /* both sides set it: no race with the kill below */
    close(outp[1]);
    close(errp[1]);
    close(rep[1]);
    close(in_fd);
    outp[1] = errp[1] = rep[1] = in_fd = -1;

    /* exec succeeded when the report pipe closes without data */
    int child_errno = 0;
    ssize_t n;
    do
        n = read(rep[0], &child_errno, sizeof(child_errno));
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    rep[0] = -1;
    if (n == (ssize_t)sizeof(child_errno)) {
        res->start_errno = child_errno;
        while (waitpid(pid, &res->wait_status, 0) < 0 && errno == EINTR)
            ;
        close(outp[0]);
        close(errp[0]);
        return;
    }
    res->started = true;
    x->host->counter_add(x->m_runs, 1);

    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    int64_t deadline = now_ms() + x->timeout_ms, drain_until = 0;
    bool exited = false;
    for (;;) {
        if (!exited) {
            pid_t w = waitpid(pid, &res->wait_status, WNOHANG);
            if (w == pid) {
                exited = true;
                /* a grandchild may hold the pipes: read what is there, briefly */
                drain_until = now_ms() + 100;
            }
        }
        if (out->eof && errc->eof && exited)
            break;
        int64_t now = now_ms();
        if (exited && now >= drain_until)
            break;
        if (!exited && now >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &res->wait_status, 0) < 0 && errno == EINTR)
                ;
            res->timed_out = true;
            break;
        }
        struct pollfd pf[2];
        nfds_t nf = 0;
        if (!out->eof)
            pf[nf++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
        if (!errc->eof)
            pf[nf++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
        int64_t wait = (exited ? drain_until : deadline) - now;
        if (wait > 20)
            wait = 20; /* also the waitpid polling period */
        if (nf == 0) {
            /* both pipes closed: the child is exiting, look again soon */
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (poll(pf, nf, (int)wait) > 0) {
            if (!out->eof)
                capture_read(out, outp[0]);
            if (!errc->eof)
                capture_read(errc, errp[0]);
        }
    }
    close(outp[0]);
    close(errp[0]);
    return;

sys_fail:
    res->start_errno = errno ? errno : EIO;
    if (in_fd >= 0)
        close(in_fd);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        if (rep[i] >= 0)
            close(rep[i]);
    }
}

/* ---------------------------------------------------------- respond */

static bool action_allowed(const exec_responder *x, const char *action)
{
    if (x->nallowed == 0)
        return true;
    for (size_t i = 0; i < x->nallowed; i++)
        if (strcmp(x->allowed[i], action) == 0)
            return true;
    return false;
}

static vgl_respond_status exec_run(exec_responder *x, const vgl_action_view *a, char *err,
                                   size_t errlen)
{
    char **argv = build_argv(x, a, err, errlen);
    if (!argv)
        return VGL_RESPOND_FAILED;
    size_t json_len = 0;
    char *json = action_json(a, x->dry_run, MAX_JSON_BYTES, &json_len);
    if (!json) {
        free_argv(argv);
        snprintf(err, errlen, "the action's JSON document is over %u bytes", MAX_JSON_BYTES);
        return VGL_RESPOND_FAILED;
    }
    capture out = {.cap = x->max_output}, errc = {.cap = x->max_output};
    out.data = malloc(out.cap);
    errc.data = malloc(errc.cap);
    vgl_respond_status st;
    run_result res;
    if (!out.data || !errc.data) {
        snprintf(err, errlen, "out of memory for the program's output");
        st = VGL_RESPOND_RETRY;
        goto done;
    }
    run_child(x, argv, json, json_len, &out, &errc, &res);
    char excerpt[EXCERPT_BYTES + 1];
    capture_excerpt(&errc, excerpt, sizeof(excerpt));
    if (!res.started) {
        /* exec errors are permanent; fork/pipe failures are transient */
        bool permanent = res.start_errno == ENOENT || res.start_errno == EACCES ||
                         res.start_errno == ENOEXEC || res.start_errno == ENOTDIR;
        snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(res.start_errno));
        st = permanent ? VGL_RESPOND_FAILED : VGL_RESPOND_RETRY;
    } else if (res.timed_out) {
        x->host->counter_add(x->m_timeouts, 1);
        snprintf(err, errlen, "%s timed out after %lld ms (process group killed)%s%s", argv[0],
                 (long long)x->timeout_ms, excerpt[0] ? ": " : "", excerpt);
        st = VGL_RESPOND_FAILED;
    } else if (WIFEXITED(res.wait_status) && WEXITSTATUS(res.wait_status) == 0) {
        st = VGL_RESPOND_SUCCEEDED;
    } else if (WIFEXITED(res.wait_status)) {
        snprintf(err, errlen, "%s exited with status %d%s%s", argv[0],
                 WEXITSTATUS(res.wait_status), excerpt[0] ? ": " : " (no stderr)", excerpt);
        st = VGL_RESPOND_FAILED;
    } else {
        snprintf(err, errlen, "%s was killed by signal %d%s%s", argv[0],
                 WIFSIGNALED(res.wait_status) ? WTERMSIG(res.wait_status) : 0,
                 excerpt[0] ? ": " : "", excerpt);
        st = VGL_RESPOND_FAILED;
    }
    if (st == VGL_RESPOND_SUCCEEDED && x->host->log_enabled(x->host, VGL_PLUGIN_LOG_DEBUG)) {
        char so[EXCERPT_BYTES + 1];
        capture_excerpt(&out, so, sizeof(so));
        vgl_pair f[] = {{"action_id", a->action_id}, {"stdout", so}};
        x->host->log(x->host, VGL_PLUGIN_LOG_DEBUG, "action program succeeded", f, 2);
    }
done:
    if (st != VGL_RESPOND_SUCCEEDED)
        x->host->counter_add(x->m_failed, 1);
    free(out.data);
    free(errc.data);
    free(json);
    free_argv(argv);
    return st;
}

static vgl_respond_status exec_respond(void *inst, const vgl_action_view *a, char *err,
                                       size_t errlen)
{
    exec_responder *x = inst;
    if (!a->action || !a->action_id) {
        snprintf(err, errlen, "the action has no %s", a->action ? "action_id" : "name");
        return VGL_RESPOND_FAILED;
    }
    if (!action_allowed(x, a->action)) {
        snprintf(err, errlen, "action \"%.100s\" is not in allowed_actions", a->action);
        return VGL_RESPOND_FAILED;
    }
    const recent_entry *seen = recent_find(&x->recent, a->action_id);
    if (seen) {
        /* the ABI has no "duplicate" status: answer with the first outcome */
        x->host->counter_add(x->m_duplicates, 1);
        vgl_pair f[] = {{"action_id", a->action_id},
                        {"outcome", seen->status == VGL_RESPOND_SUCCEEDED ? "succeeded" : "failed"}};
        x->host->log(x->host, VGL_PLUGIN_LOG_INFO, "duplicate action not run again", f, 2);
        if (seen->status != VGL_RESPOND_SUCCEEDED)
            snprintf(err, errlen, "duplicate of an action that failed: %s", seen->err);
        return seen->status;
    }
    if (errlen)
        err[0] = '\0';
    vgl_respond_status st = exec_run(x, a, err, errlen);
    if (st != VGL_RESPOND_RETRY) /* a transient failure may run again */
        recent_add(&x->recent, a->action_id, st, err);
    return st;
}

static const vgl_plugin_option exec_options[] = {
    {.name = "command", .type = VGL_OPT_LIST, .required = true,
     .description = "program path and arguments; {action} {target.type} {target.value} "
                    "{action_id} {incident_id} {rule_id} {op} {dry_run} are replaced"},
    {.name = "timeout", .type = VGL_OPT_DURATION, .default_value = "30s",
     .description = "the program's process group is killed after this long"},
    {.name = "allowed_actions", .type = VGL_OPT_LIST,
     .description = "actions this responder runs (empty: all)"},
    {.name = "max_output_bytes", .type = VGL_OPT_SIZE, .default_value = "64KiB",
     .description = "stdout and stderr kept per run (the rest is read and discarded)"},
    {.name = "recent_ids", .type = VGL_OPT_INT, .default_value = "10000",
     .description = "action ids remembered so a redelivered action is not run twice"},
    {.name = "dry_run", .type = VGL_OPT_BOOL, .default_value = "false",
     .description = "value of {dry_run} and of dry_run in the stdin document"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "exec",
    .version = "1.0.0",
    .description = "runs a program for each action (argv template, no shell)",
    .kind = VGL_PLUGIN_RESPOND,
    .options = exec_options,
    .init = exec_init,
    .respond = exec_respond,
    .destroy = exec_destroy,
};
