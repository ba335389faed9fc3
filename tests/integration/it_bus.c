/*
 * Event bus integration tests: real `vigil run` processes against an
 * embedded Kafka cluster, outputs read back by an independent consumer.
 * Topic sizes stay far below the mock cluster's per-partition retention
 * (5 MiB / 100,000 batches) so no input is silently dropped.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NPART 8

static const char *base_cfg =
    "inputs:\n"
    "  - topic: in\n"
    "    format: json\n"
    "outputs:\n"
    "  events: out\n"
    "  dead_letter: dlq\n"
    "limits:\n"
    "  workers: 2\n"
    "  shutdown_timeout: 20s\n";

static void produce_events(rd_kafka_t *p, int per_partition, int from)
{
    char buf[256];
    for (int k = from; k < from + per_partition; k++) {
        for (int part = 0; part < NPART; part++) {
            int n = snprintf(buf, sizeof(buf),
                             "{\"p\":%d,\"k\":%d,\"user\":{\"name\":\"u%d\"},"
                             "\"pad\":\"abcdefghijklmnopqrstuvwxyz0123456789\"}",
                             part, k, k % 97);
            h_produce(p, "in", part, NULL, 0, buf, (size_t)n);
        }
    }
}

/* Per partition: the k values seen in output order. */
typedef struct seen {
    int *ks;
    size_t n, cap;
} seen;

static void collect(const h_records *r, seen out[NPART])
{
    for (size_t i = 0; i < r->n; i++) {
        json_error_t je;
        json_t *j = json_loadb(r->r[i].value, r->r[i].len, 0, &je);
        ck_assert_msg(j != NULL, "output is not JSON: %s", je.text);
        int p = (int)json_integer_value(json_object_get(j, "p"));
        int k = (int)json_integer_value(json_object_get(j, "k"));
        ck_assert_int_eq(p, r->r[i].partition); /* order-keeping partition choice */
        json_decref(j);
        seen *s = &out[p];
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 4096;
            s->ks = realloc(s->ks, s->cap * sizeof(int));
        }
        s->ks[s->n++] = k;
    }
}

static void seen_free(seen s[NPART])
{
    for (int i = 0; i < NPART; i++)
        free(s[i].ks);
}

/* Every k in [0,total) appears, and first appearances are in order. */
static void assert_complete_in_order(const seen *s, int total, int *dups)
{
    char *hit = calloc((size_t)total, 1);
    int next_new = 0;
    *dups = 0;
    for (size_t i = 0; i < s->n; i++) {
        int k = s->ks[i];
        ck_assert_int_ge(k, 0);
        ck_assert_int_lt(k, total);
        if (hit[k]) {
            (*dups)++;
            continue;
        }
        ck_assert_msg(k == next_new, "partition order broken: got k=%d, expected %d", k,
                      next_new);
        hit[k] = 1;
        next_new++;
    }
    ck_assert_msg(next_new == total, "lost events: %d of %d arrived", next_new, total);
    free(hit);
}

static void setup_topics(h_cluster *c)
{
    h_topic(c, "in", NPART);
    h_topic(c, "out", NPART);
    h_topic(c, "dlq", 2);
}

START_TEST(exactly_once_passthrough_100k)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    setup_topics(&c);
    const char *cfg = h_config(&c, "t1", base_cfg);
    pid_t pid = h_vigil_start(cfg, "t1");
    rd_kafka_t *p = h_producer(&c);
    const int per = 12500; /* 100,000 events */
    produce_events(p, per, 0);
    h_flush(p);
    h_records out = {0}, dlq = {0};
    h_consume(&c, "out", (size_t)per * NPART, 30000, &out);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    h_consume(&c, "dlq", 1, 1000, &dlq);
    ck_assert_uint_eq(out.n, (size_t)per * NPART);
    ck_assert_uint_eq(dlq.n, 0);
    seen s[NPART] = {{0}};
    collect(&out, s);
    for (int i = 0; i < NPART; i++) {
        int dups;
        assert_complete_in_order(&s[i], per, &dups);
        ck_assert_int_eq(dups, 0);
    }
    /* the clean stop committed everything */
    for (int i = 0; i < NPART; i++)
        ck_assert_int_eq(h_committed(&c, "vigil-it", "in", i), per);
    seen_free(s);
    h_records_free(&out);
    h_records_free(&dlq);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(broker_down_mid_stream)
{
    h_cluster c;
    h_cluster_start(&c, 3);
    setup_topics(&c);
    const char *cfg = h_config(&c, "t2", base_cfg);
    pid_t pid = h_vigil_start(cfg, "t2");
    rd_kafka_t *p = h_producer(&c);
    const int per = 5000;
    produce_events(p, per / 2, 0);
    h_flush(p);
    ck_assert(h_log_wait("t2", "partition assigned", 20000));
    usleep(500000);
    rd_kafka_mock_broker_set_down(c.mock, 2);
    produce_events(p, per / 2, per / 2);
    sleep(3);
    rd_kafka_mock_broker_set_up(c.mock, 2);
    h_flush(p);
    ck_assert(h_wait_committed(&c, "vigil-it", "in", NPART, per, 60000));
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    h_records out = {0};
    h_consume(&c, "out", SIZE_MAX, 3000, &out);
    seen s[NPART] = {{0}};
    collect(&out, s);
    for (int i = 0; i < NPART; i++) {
        int dups;
        assert_complete_in_order(&s[i], per, &dups);
    }
    seen_free(s);
    h_records_free(&out);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(sigkill_and_restart_replays_uncommitted_tail)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    setup_topics(&c);
    const char *cfg = h_config(&c, "t3", base_cfg);
    rd_kafka_t *p = h_producer(&c);
    const int per = 10000;
    produce_events(p, per, 0);
    h_flush(p);
    pid_t pid = h_vigil_start(cfg, "t3");
    /* let it get part way, past at least one periodic commit */
    h_records partial = {0};
    h_consume(&c, "out", (size_t)per * NPART / 3, 30000, &partial);
    ck_assert_uint_ge(partial.n, (size_t)per * NPART / 3);
    h_records_free(&partial);
    ck_assert_int_eq(h_vigil_stop(pid, SIGKILL, 5000), -SIGKILL);
    int64_t committed[NPART];
    for (int i = 0; i < NPART; i++)
        committed[i] = h_committed(&c, "vigil-it", "in", i);
    /* everything written before the kill */
    h_records before = {0};
    h_consume(&c, "out", (size_t)per * NPART * 2, 2000, &before);
    seen sb[NPART] = {{0}};
    collect(&before, sb);
    pid = h_vigil_start(cfg, "t3b");
    h_records all = {0};
    /* the tail after each partition's committed offset comes again */
    size_t expect = before.n;
    for (int i = 0; i < NPART; i++)
        expect += (size_t)(per - (committed[i] < 0 ? 0 : committed[i]));
    h_consume(&c, "out", expect, 30000, &all);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    seen sa[NPART] = {{0}};
    collect(&all, sa);
    for (int i = 0; i < NPART; i++) {
        int64_t cmt = committed[i] < 0 ? 0 : committed[i];
        int last_before = sb[i].n ? sb[i].ks[sb[i].n - 1] : -1;
        /* nothing lost: the restart began at or before the first missing one */
        ck_assert_int_le(cmt, last_before + 1);
        /* output = [0..last_before] ++ [cmt..per) exactly */
        ck_assert_uint_eq(sa[i].n, (size_t)(last_before + 1) + (size_t)(per - cmt));
        for (int k = 0; k <= last_before; k++)
            ck_assert_int_eq(sa[i].ks[k], k);
        for (int64_t k = cmt; k < per; k++)
            ck_assert_int_eq(sa[i].ks[(size_t)(last_before + 1) + (size_t)(k - cmt)], (int)k);
    }
    seen_free(sa);
    seen_free(sb);
    h_records_free(&before);
    h_records_free(&all);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(two_processes_one_stops)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    setup_topics(&c);
    const char *cfg = h_config(&c, "t4", base_cfg);
    pid_t a = h_vigil_start(cfg, "t4a");
    pid_t b = h_vigil_start(cfg, "t4b");
    ck_assert(h_log_wait("t4a", "partition assigned", 20000));
    ck_assert(h_log_wait("t4b", "partition assigned", 20000));
    rd_kafka_t *p = h_producer(&c);
    const int per = 10000;
    produce_events(p, per / 2, 0);
    h_flush(p);
    ck_assert_int_eq(h_vigil_stop(a, SIGTERM, 30000), 0);
    produce_events(p, per / 2, per / 2);
    h_flush(p);
    /* b took over a's partitions: everything gets processed and committed */
    ck_assert(h_wait_committed(&c, "vigil-it", "in", NPART, per, 60000));
    ck_assert_int_eq(h_vigil_stop(b, SIGTERM, 30000), 0);
    h_records out = {0};
    h_consume(&c, "out", SIZE_MAX, 3000, &out);
    seen s[NPART] = {{0}};
    collect(&out, s);
    for (int i = 0; i < NPART; i++) {
        int dups;
        assert_complete_in_order(&s[i], per, &dups);
    }
    seen_free(s);
    h_records_free(&out);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(garbage_goes_to_dead_letters)
{
    h_cluster c;
    h_cluster_start(&c, 1);
    setup_topics(&c);
    const char *cfg = h_config(&c, "t5", base_cfg);
    pid_t pid = h_vigil_start(cfg, "t5");
    rd_kafka_t *p = h_producer(&c);
    produce_events(p, 100, 0);
    /* four bad records into partition 0 */
    const char *bad_json = "{\"user\": {\"name\": \"x\"";
    h_produce(p, "in", 0, "k1", 2, bad_json, strlen(bad_json));
    size_t big_n = 2 * 1000 * 1000;
    char *big = malloc(big_n);
    memset(big, 'a', big_n);
    memcpy(big, "{\"pad\":\"", 8);
    memcpy(big + big_n - 2, "\"}", 2);
    h_produce(p, "in", 0, "k2", 2, big, big_n);
    free(big);
    const unsigned char bin[] = {0x00, 0xff, 0xfe, 0x13, 0x37, 0x00, 0x80};
    h_produce(p, "in", 0, "k3", 2, bin, sizeof(bin));
    size_t deep_n = 5 + 2 * 10000 + 1;
    char *deep = malloc(deep_n);
    memcpy(deep, "{\"a\":", 5);
    memset(deep + 5, '[', 10000);
    memset(deep + 5 + 10000, ']', 10000);
    deep[deep_n - 1] = '}';
    h_produce(p, "in", 0, "k4", 2, deep, deep_n);
    free(deep);
    produce_events(p, 100, 100);
    h_flush(p);
    h_records out = {0}, dlq = {0};
    h_consume(&c, "out", 200 * NPART, 30000, &out);
    h_consume(&c, "dlq", 4, 30000, &dlq);
    ck_assert_int_eq(h_vigil_stop(pid, SIGTERM, 30000), 0);
    ck_assert_uint_eq(out.n, 200 * NPART);
    ck_assert_uint_eq(dlq.n, 4);
    int found = 0;
    for (size_t i = 0; i < dlq.n; i++) {
        h_record *r = &dlq.r[i];
        ck_assert_ptr_nonnull(r->error);
        ck_assert_ptr_nonnull(r->origin);
        ck_assert_msg(strncmp(r->origin, "in/0@", 5) == 0, "origin %s", r->origin);
        if (strcmp(r->key, "k1") == 0) {
            ck_assert_msg(strstr(r->error, "invalid JSON at byte") != NULL, "%s", r->error);
            ck_assert_str_eq(r->value, bad_json); /* unchanged */
            found |= 1;
        } else if (strcmp(r->key, "k2") == 0) {
            ck_assert_str_eq(r->error,
                             "message of 2000000 bytes exceeds limits.max_message_bytes (1048576)");
            ck_assert_uint_eq(r->len, big_n);
            found |= 2;
        } else if (strcmp(r->key, "k3") == 0) {
            ck_assert_msg(strstr(r->error, "invalid JSON at byte 0") != NULL, "%s", r->error);
            ck_assert_uint_eq(r->len, sizeof(bin));
            ck_assert(memcmp(r->value, bin, sizeof(bin)) == 0);
            found |= 4;
        } else if (strcmp(r->key, "k4") == 0) {
            ck_assert_msg(strstr(r->error, "nesting deeper than 64") != NULL, "%s", r->error);
            found |= 8;
        }
    }
    ck_assert_int_eq(found, 15);
    h_records_free(&out);
    h_records_free(&dlq);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

START_TEST(backpressure_bounds_memory)
{
    if (getenv("VGL_SANITIZERS")) {
        /* ASan's shadow memory makes RSS meaningless */
        fprintf(stderr, "backpressure_bounds_memory: skipped under sanitizers\n");
        return;
    }
    h_cluster c;
    h_cluster_start(&c, 2);
    const int parts = 32;
    h_topic(&c, "in", parts);
    h_topic(&c, "out", parts);
    h_topic(&c, "dlq", 1);
    /* inputs led by broker 1, outputs by broker 2, which is slow */
    for (int i = 0; i < parts; i++) {
        rd_kafka_mock_partition_set_leader(c.mock, "in", i, 1);
        rd_kafka_mock_partition_set_leader(c.mock, "out", i, 2);
    }
    rd_kafka_mock_partition_set_leader(c.mock, "dlq", 0, 2);
    rd_kafka_mock_broker_set_rtt(c.mock, 2, 200);
    /* 32 partitions x 3 MiB of 1 KiB events: a 96 MiB backlog */
    rd_kafka_t *p = h_producer(&c);
    char ev[1024];
    memset(ev, 'x', sizeof(ev));
    const char *head = "{\"p\":0,\"pad\":\"";
    memcpy(ev, head, strlen(head));
    memcpy(ev + sizeof(ev) - 2, "\"}", 2);
    for (int k = 0; k < 3000; k++)
        for (int i = 0; i < parts; i++)
            h_produce(p, "in", i, NULL, 0, ev, sizeof(ev));
    h_flush(p);
    const char *cfg = h_config(&c, "t6",
                               "inputs:\n"
                               "  - topic: in\n"
                               "outputs:\n"
                               "  events: out\n"
                               "  dead_letter: dlq\n"
                               "limits:\n"
                               "  workers: 2\n"
                               "  queue_events: 256\n"
                               "  shutdown_timeout: 5s\n");
    pid_t pid = h_vigil_start(cfg, "t6");
    ck_assert(h_log_wait("t6", "partition assigned", 20000));
    sleep(8);
    long rss = h_vigil_peak_rss_kb(pid);
    int st = h_vigil_stop(pid, SIGTERM, 30000);
    fprintf(stderr, "backpressure: peak RSS %ld KiB with a 96 MiB backlog\n", rss);
    ck_assert_int_eq(st, 0);
    ck_assert(h_log_wait("t6", "paused=", 1000));
    /* docs/architecture.md: base 25 MiB + fetch.max.bytes 8 MiB
     * + workers 2 x 3 x queued.max.messages.kbytes 16 MiB (fetch buffers pinned by queued
     * messages) + 32 partitions x 256 x 1 KiB */
    const long bound_kib = (25 + 8 + 2 * 3 * 16 + 8) * 1024;
    ck_assert_msg(rss > 0 && rss < bound_kib, "peak RSS %ld KiB over the %ld KiB bound", rss,
                  bound_kib);
    rd_kafka_destroy(p);
    h_cluster_stop(&c);
    h_cleanup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bus");
    TCase *tc = tcase_create("kafka");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, exactly_once_passthrough_100k);
    tcase_add_test(tc, broker_down_mid_stream);
    tcase_add_test(tc, sigkill_and_restart_replays_uncommitted_tail);
    tcase_add_test(tc, two_processes_one_stops);
    tcase_add_test(tc, garbage_goes_to_dead_letters);
    tcase_add_test(tc, backpressure_bounds_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
