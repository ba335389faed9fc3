/*
 * Kafka glue: the embedded cluster (librdkafka's mock cluster speaking the
 * Kafka protocol on loopback), client configuration from the `kafka`
 * config section, and librdkafka log routing into vigil's logfmt log.
 *
 * The embedded cluster is for demos, tests and labs: librdkafka 2.0's mock
 * cluster keeps at most 5 MiB or 100,000 message batches per partition and
 * silently drops the oldest beyond that. Never use it for retention.
 */
#ifndef VGL_KAFKA_H
#define VGL_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"

typedef struct vgl_embedded vgl_embedded;

vgl_embedded *vgl_embedded_start(int nbrokers, char *err, size_t errlen);
/* "127.0.0.1:PORT,..." — valid until vgl_embedded_stop. */
const char *vgl_embedded_bootstraps(const vgl_embedded *e);
/* Create a topic (an existing one is left as it is). */
vgl_rc vgl_embedded_create_topic(vgl_embedded *e, const char *topic, int partitions,
                                 char *err, size_t errlen);
rd_kafka_mock_cluster_t *vgl_embedded_mock(vgl_embedded *e);
void vgl_embedded_stop(vgl_embedded *e);

/* Client config: bootstrap.servers = brokers, the `kafka.properties`
 * pass-through, librdkafka logs routed to vigil's log. NULL with err when
 * librdkafka rejects a property (err names it). */
rd_kafka_conf_t *vgl_kafka_conf_new(const vgl_kafka_cfg *k, const char *brokers, char *err,
                                    size_t errlen);
/* Set one property; false with err naming the property. */
bool vgl_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                        char *err, size_t errlen);

/* Every topic the config reads or writes (inputs and outputs), for the
 * embedded cluster to create. Returns the count; names borrowed from cfg. */
size_t vgl_config_topics(const vgl_config *cfg, const char **out, size_t max);

/* Partitions the embedded cluster gives a configured topic. */
int vgl_config_topic_partitions(const vgl_config *cfg, const char *topic);

#endif
