/* Embedded Kafka cluster and client configuration (see kafka.h). */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct vgl_embedded {
    rd_kafka_t *rk; /* bookkeeping handle the mock cluster requires */
    rd_kafka_mock_cluster_t *mock;
};

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    vgl_log_level lvl = level <= 3 ? VGL_LOG_ERROR
                        : level == 4 ? VGL_LOG_WARN
                        : level <= 6 ? VGL_LOG_INFO
                                     : VGL_LOG_DEBUG;
    if (!vgl_log_enabled(lvl))
        return;
    vgl_log(lvl, "librdkafka", "client=%s facility=%s detail=%s", rd_kafka_name(rk), fac, buf);
}

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* The mock cluster's bookkeeping handle has no brokers by design. */
    if (strcmp(fac, "CONFWARN") == 0)
        return;
    kafka_log_cb(rk, level, fac, buf);
}

vgl_embedded *vgl_embedded_start(int nbrokers, char *err, size_t errlen)
{
    vgl_embedded *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
    e->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!e->rk) {
        rd_kafka_conf_destroy(conf);
        free(e);
        return NULL;
    }
    e->mock = rd_kafka_mock_cluster_new(e->rk, nbrokers < 1 ? 1 : nbrokers);
    if (!e->mock) {
        snprintf(err, errlen, "could not start the embedded Kafka cluster (mock brokers)");
        rd_kafka_destroy(e->rk);
        free(e);
        return NULL;
    }
    return e;
}

const char *vgl_embedded_bootstraps(const vgl_embedded *e)
{
    return rd_kafka_mock_cluster_bootstraps(e->mock);
}

rd_kafka_mock_cluster_t *vgl_embedded_mock(vgl_embedded *e) { return e->mock; }

vgl_rc vgl_embedded_create_topic(vgl_embedded *e, const char *topic, int partitions, char *err,
                                 size_t errlen)
{
    rd_kafka_resp_err_t r = rd_kafka_mock_topic_create(e->mock, topic, partitions, 1);
    if (r && r != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "cannot create topic %s: %s", topic, rd_kafka_err2str(r));
        return VGL_ERR_KAFKA;
    }
    return VGL_OK;
}

void vgl_embedded_stop(vgl_embedded *e)
{
    if (!e)
        return;
    rd_kafka_mock_cluster_destroy(e->mock);
    rd_kafka_destroy(e->rk);
    free(e);
}

bool vgl_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                        size_t errlen)
{
    char kerr[256];
    if (rd_kafka_conf_set(conf, name, value, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka property %s=%s rejected: %s", name, value, kerr);
        return false;
    }
    return true;
}

rd_kafka_conf_t *vgl_kafka_conf_new(const vgl_kafka_cfg *k, const char *brokers, char *err,
                                    size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (!vgl_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen))
        goto fail;
    for (size_t i = 0; k && i < k->nproperties; i++) {
        if (!vgl_kafka_conf_set(conf, k->properties[i].key, k->properties[i].value, err, errlen))
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static size_t add_topic(const char **out, size_t n, size_t max, const char *t)
{
    if (!t || !*t || n >= max)
        return n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i], t) == 0)
            return n;
    out[n] = t;
    return n + 1;
}

size_t vgl_config_topics(const vgl_config *cfg, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->ninputs; i++)
        n = add_topic(out, n, max, cfg->inputs[i].topic);
    const vgl_outputs_cfg *o = &cfg->outputs;
    n = add_topic(out, n, max, o->alerts);
    n = add_topic(out, n, max, o->incidents);
    n = add_topic(out, n, max, o->actions);
    n = add_topic(out, n, max, o->action_results);
    n = add_topic(out, n, max, o->dead_letter);
    n = add_topic(out, n, max, o->events);
    if (!cfg->incidents.per_worker)
        n = add_topic(out, n, max, cfg->incidents.topic);
    return n;
}

int vgl_config_topic_partitions(const vgl_config *cfg, const char *topic)
{
    /* the internal grouping topic has one partition: every alert meets every
     * other in one incident stage (docs/architecture.md) */
    if (!cfg->incidents.per_worker && cfg->incidents.topic &&
        strcmp(topic, cfg->incidents.topic) == 0)
        return 1;
    return cfg->kafka.embedded_partitions;
}
