/*
 * Integration test harness: an embedded Kafka cluster in the test process,
 * real `vigil` processes connected to it over loopback, and an independent
 * librdkafka producer/consumer to feed inputs and read outputs.
 */
#ifndef VGL_HARNESS_H
#define VGL_HARNESS_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct h_cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mock;
    char bootstraps[256];
} h_cluster;

typedef struct h_record {
    int32_t partition;
    int64_t offset;
    char *key;
    size_t keylen;
    char *value;
    size_t len;
    char *error;  /* vigil.error header, if any */
    char *origin; /* "topic/partition@offset" from vigil.origin.* headers */
} h_record;

typedef struct h_records {
    h_record *r;
    size_t n, cap;
} h_records;

void h_cluster_start(h_cluster *c, int brokers);
void h_topic(h_cluster *c, const char *topic, int partitions);
void h_cluster_stop(h_cluster *c);

/* A temp directory for the test (removed by h_cleanup). */
const char *h_tmpdir(void);
void h_cleanup(void);
/* Write a vigil config: brokers = cluster bootstraps; extra is appended
 * YAML. Returns the path. */
const char *h_config(const h_cluster *c, const char *name, const char *extra);

/* Start `vigil run -c cfg`; its stderr goes to TMPDIR/<name>.log. */
pid_t h_vigil_start(const char *cfg, const char *name);
/* Send sig and wait up to timeout_ms; returns the exit status (or -sig). */
int h_vigil_stop(pid_t pid, int sig, int timeout_ms);
/* Peak RSS (VmHWM) of a live process in KiB. */
long h_vigil_peak_rss_kb(pid_t pid);
/* Wait until the log file contains text. */
bool h_log_wait(const char *name, const char *text, int timeout_ms);

rd_kafka_t *h_producer(const h_cluster *c);
void h_produce(rd_kafka_t *p, const char *topic, int32_t partition, const void *key,
               size_t keylen, const void *value, size_t len);
void h_flush(rd_kafka_t *p);

/* Read topic from the beginning until at least want records arrived or
 * timeout_ms passed with no new record. */
void h_consume(const h_cluster *c, const char *topic, size_t want, int idle_timeout_ms,
               h_records *out);
void h_records_free(h_records *r);
/* Committed offset of group for topic/partition (-1 if none). */
int64_t h_committed(const h_cluster *c, const char *group, const char *topic, int32_t partition);

/* Wait until the group's committed offset of every partition of topic
 * reaches target (all processed and every output acknowledged). */
bool h_wait_committed(const h_cluster *c, const char *group, const char *topic, int partitions,
                      int64_t target, int timeout_ms);

const char *h_vigil_bin(void);

#endif
