/* Integration test harness (see harness.h). */
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3 && strcmp(fac, "CONFWARN") != 0)
        fprintf(stderr, "harness librdkafka: %s: %s\n", fac, buf);
}

const char *h_vigil_bin(void)
{
    static char path[512];
    const char *b = getenv("VGL_BUILDDIR");
    snprintf(path, sizeof(path), "%s/vigil", b ? b : ".");
    return path;
}

void h_cluster_start(h_cluster *c, int brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(c->rk != NULL, "%s", err);
    c->mock = rd_kafka_mock_cluster_new(c->rk, brokers);
    ck_assert_ptr_nonnull(c->mock);
    snprintf(c->bootstraps, sizeof(c->bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(c->mock));
}

void h_topic(h_cluster *c, const char *topic, int partitions)
{
    ck_assert_int_eq(rd_kafka_mock_topic_create(c->mock, topic, partitions, 1), 0);
}

void h_cluster_stop(h_cluster *c)
{
    rd_kafka_mock_cluster_destroy(c->mock);
    rd_kafka_destroy(c->rk);
}

const char *h_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-it-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    return tmpdir;
}

void h_cleanup(void)
{
    if (tmpdir[0] && !getenv("VGL_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    tmpdir[0] = '\0';
}

const char *h_config(const h_cluster *c, const char *name, const char *extra)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s.yaml", h_tmpdir(), name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "kafka:\n"
            "  brokers: \"%s\"\n"
            "  group: vigil-it\n"
            "  properties:\n"
            "    session.timeout.ms: \"6000\"\n"
            "    heartbeat.interval.ms: \"500\"\n"
            "    topic.metadata.refresh.interval.ms: \"1000\"\n"
            "log:\n"
            "  level: info\n"
            "%s",
            c->bootstraps, extra ? extra : "");
    fclose(f);
    return path;
}

pid_t h_vigil_start(const char *cfg, const char *name)
{
    char logpath[512];
    snprintf(logpath, sizeof(logpath), "%s/%s.log", h_tmpdir(), name);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execl(h_vigil_bin(), "vigil", "run", "-c", cfg, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", h_vigil_bin(), strerror(errno));
        _exit(127);
    }
    return pid;
}

int h_vigil_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    int status = 0;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1000; /* did not stop in time */
}

long h_vigil_peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

bool h_log_wait(const char *name, const char *text, int timeout_ms)
{
    char logpath[512];
    snprintf(logpath, sizeof(logpath), "%s/%s.log", h_tmpdir(), name);
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        FILE *f = fopen(logpath, "r");
        if (f) {
            char line[8192];
            while (fgets(line, sizeof(line), f)) {
                if (strstr(line, text)) {
                    fclose(f);
                    return true;
                }
            }
            fclose(f);
        }
        usleep(50000);
    }
    return false;
}

rd_kafka_t *h_producer(const h_cluster *c)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
    rd_kafka_conf_set(conf, "message.max.bytes", "8000000", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

void h_produce(rd_kafka_t *p, const char *topic, int32_t partition, const void *key,
               size_t keylen, const void *value, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p, 10);
            continue;
        }
        ck_assert_msg(err == 0, "produce: %s", rd_kafka_err2str(err));
        return;
    }
}

void h_flush(rd_kafka_t *p)
{
    ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);
}

static char *hdr_dup(rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return strndup(v, n);
}

void h_consume(const h_cluster *c, const char *topic, size_t want, int idle_timeout_ms,
               h_records *out)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "harness-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    ck_assert_int_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    int idle = 0;
    while (out->n < want && idle < idle_timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle += 100;
            continue;
        }
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        idle = 0;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 1024;
            out->r = realloc(out->r, out->cap * sizeof(h_record));
            ck_assert_ptr_nonnull(out->r);
        }
        h_record *r = &out->r[out->n++];
        memset(r, 0, sizeof(*r));
        r->partition = m->partition;
        r->offset = m->offset;
        if (m->key) {
            r->key = malloc(m->key_len + 1);
            memcpy(r->key, m->key, m->key_len);
            r->key[m->key_len] = '\0';
            r->keylen = m->key_len;
        }
        r->value = malloc(m->len + 1);
        if (m->len)
            memcpy(r->value, m->payload, m->len);
        r->value[m->len] = '\0';
        r->len = m->len;
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(m, &h);
        r->error = hdr_dup(h, "vigil.error");
        char *t = hdr_dup(h, "vigil.origin.topic"), *pa = hdr_dup(h, "vigil.origin.partition"),
             *o = hdr_dup(h, "vigil.origin.offset");
        if (t && pa && o) {
            size_t need = strlen(t) + strlen(pa) + strlen(o) + 4;
            r->origin = malloc(need);
            snprintf(r->origin, need, "%s/%s@%s", t, pa, o);
        }
        free(t);
        free(pa);
        free(o);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

void h_records_free(h_records *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->r[i].key);
        free(r->r[i].value);
        free(r->r[i].error);
        free(r->r[i].origin);
    }
    free(r->r);
    memset(r, 0, sizeof(*r));
}

int64_t h_committed(const h_cluster *c, const char *group, const char *topic, int32_t partition)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    ck_assert_int_eq(rd_kafka_committed(rk, l, 10000), 0);
    int64_t off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

bool h_wait_committed(const h_cluster *c, const char *group, const char *topic, int partitions,
                      int64_t target, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 200) {
        bool all = true;
        for (int i = 0; i < partitions && all; i++)
            all = h_committed(c, group, topic, i) >= target;
        if (all)
            return true;
        usleep(200000);
    }
    return false;
}
