/*
 * The event bus (see pipeline.h and docs/architecture.md).
 *
 * Delivery: every input record holds a slot in its partition's in-flight
 * ring from the moment a worker takes it until the record is processed AND
 * every output derived from it has been acknowledged by the broker. The
 * offset committed for a partition is the one after the longest prefix of
 * completed slots, so a crash at any point replays exactly the records
 * whose effects were not all durable (at-least-once, nothing lost).
 *
 * Backpressure: a partition whose ring is 3/4 full is paused at the
 * consumer and resumed when it drains below 1/4; a full ring blocks its
 * worker. Together with librdkafka's bounded fetch and producer queues this
 * bounds memory whatever the input rate.
 */
#include "pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "kafka.h"
#include "log.h"

#define MAX_PARTITIONS 4096
#define BATCH_MAX 512
#define COMMIT_INTERVAL_MS 1000
#define DLQ_TRUNCATE_BYTES 65536

typedef struct ptrack ptrack;

typedef struct slot {
    ptrack *pt;
    _Atomic int32_t pending;
    int64_t offset;
} slot;

struct ptrack {
    char *topic;
    int32_t partition;
    int worker;
    slot *slots;
    uint32_t cap; /* power of two */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t head, tail;    /* in flight: [head, tail), under lock */
    int64_t done_next;      /* offset after the completed prefix, -1 none */
    int64_t committed;      /* last committed done_next (main thread) */
    int64_t last_reserved;  /* worker thread only */
    _Atomic int revoking;
    _Atomic int waiting;
    bool paused;            /* under lock */
    _Atomic int64_t lag;    /* high watermark - next offset to process, -1 unknown */
    ptrack *next_retired;
};

typedef struct input_topic {
    const vgl_input_cfg *cfg;
    vgl_avro_codec *avro;
    const vgl_path **time_fields;
    size_t ntime_fields;
    _Atomic(ptrack *) parts[MAX_PARTITIONS];
    _Atomic uint64_t n_consumed, n_decoded, n_dlq_decode, n_dlq_process;
} input_topic;

typedef struct retry_rec {
    struct retry_rec *next;
    rd_kafka_topic_t *rkt;
    int32_t partition;
    void *key;
    size_t keylen;
    void *value;
    size_t len;
    rd_kafka_headers_t *hdrs;
    slot *s;
} retry_rec;

struct vgl_worker {
    vgl_pipeline *p;
    int id;
    pthread_t thread;
    bool started;
    rd_kafka_queue_t *q;
    vgl_event ev;
    vgl_buf enc;
    bool skip_event;        /* the stages replaced the record's event */
    int64_t batch_ms;       /* wall clock when the current batch was taken */
    int32_t cur_partition;  /* input partition of the record in process */
    void *stage_ctx;
    slot *cur;          /* slot of the record being processed */
    vgl_avro_ctx **avro; /* per input */
    rd_kafka_topic_t *last_rkt;
    input_topic *last_input;
    int64_t log_window_ms; /* dead-letter log rate limit */
    int log_count;
    uint64_t suppressed_logs;
};

struct vgl_pipeline {
    const vgl_config *cfg;
    vgl_stage_hooks hooks;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *out[VGL_OUT_COUNT];
    int events_partitions;
    input_topic *inputs;
    size_t ninputs;
    vgl_worker *workers;
    int nworkers;
    uint32_t ring_cap;
    vgl_decode_limits limits;

    _Atomic int stop;          /* run loop: stop requested */
    _Atomic int workers_stop;
    vgl_input_cfg grouping_input; /* the internal alert topic, when global */
    _Atomic int64_t lag_total;  /* -1 unknown */
    _Atomic int quiet_stats;  /* workers: leave their loop */
    _Atomic int dr_stop;
    _Atomic int fatal;
    pthread_t dr_thread;
    bool dr_started;

    pthread_mutex_t retry_lock;
    retry_rec *retry_head, *retry_tail;

    pthread_mutex_t track_lock; /* all_trackers, retired */
    ptrack *retired;            /* revoked trackers, freed at shutdown */

    _Atomic uint64_t consumed, processed, dead_lettered, produced, produce_retries,
        skipped_revoked, paused_count, commits;
    _Atomic int assigned;
    _Atomic int producer_up;
};

/* ------------------------------------------------------------ trackers */

static ptrack *ptrack_new(const char *topic, int32_t partition, int worker, uint32_t cap)
{
    ptrack *pt = calloc(1, sizeof(*pt));
    if (!pt)
        return NULL;
    pt->topic = strdup(topic);
    pt->slots = calloc(cap, sizeof(slot));
    if (!pt->topic || !pt->slots) {
        free(pt->topic);
        free(pt->slots);
        free(pt);
        return NULL;
    }
    pt->partition = partition;
    pt->worker = worker;
    pt->cap = cap;
    pt->done_next = -1;
    pt->committed = -1;
    pt->last_reserved = -1;
    for (uint32_t i = 0; i < cap; i++)
        pt->slots[i].pt = pt;
    pthread_mutex_init(&pt->lock, NULL);
    pthread_cond_init(&pt->cond, NULL);
    return pt;
}

static void ptrack_free(ptrack *pt)
{
    pthread_mutex_destroy(&pt->lock);
    pthread_cond_destroy(&pt->cond);
    free(pt->slots);
    free(pt->topic);
    free(pt);
}

/* Under pt->lock: move head over completed slots. */
static void ptrack_advance(ptrack *pt)
{
    while (pt->head < pt->tail) {
        slot *s = &pt->slots[pt->head & (pt->cap - 1)];
        if (atomic_load_explicit(&s->pending, memory_order_acquire) != 0)
            break;
        pt->done_next = s->offset + 1;
        pt->head++;
    }
}

static void slot_release(slot *s)
{
    if (atomic_fetch_sub_explicit(&s->pending, 1, memory_order_acq_rel) == 1) {
        ptrack *pt = s->pt;
        if (atomic_load(&pt->waiting)) {
            pthread_mutex_lock(&pt->lock);
            pthread_cond_broadcast(&pt->cond);
            pthread_mutex_unlock(&pt->lock);
        }
    }
}

static void pause_partition(vgl_pipeline *p, ptrack *pt, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, pt->topic, pt->partition);
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(p->consumer, l)
                                    : rd_kafka_resume_partitions(p->consumer, l);
    if (err)
        vgl_warn("cannot change partition pause state", "topic=%s partition=%d pause=%d error=%s",
                 pt->topic, (int)pt->partition, (int)pause, rd_kafka_err2str(err));
    else if (pause)
        atomic_fetch_add(&p->paused_count, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Worker: take a slot for the record at offset. NULL when the record must
 * be skipped (partition being revoked, stale offset, shutting down). */
static slot *ptrack_reserve(vgl_pipeline *p, ptrack *pt, int64_t offset)
{
    if (offset <= pt->last_reserved)
        return NULL; /* a stale message from an earlier assignment */
    bool do_pause = false;
    pthread_mutex_lock(&pt->lock);
    ptrack_advance(pt);
    while (pt->tail - pt->head >= pt->cap) {
        if (atomic_load(&pt->revoking) || atomic_load(&p->workers_stop)) {
            pthread_mutex_unlock(&pt->lock);
            return NULL;
        }
        atomic_store(&pt->waiting, 1);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&pt->cond, &pt->lock, &ts);
        atomic_store(&pt->waiting, 0);
        ptrack_advance(pt);
    }
    slot *s = &pt->slots[pt->tail & (pt->cap - 1)];
    s->offset = offset;
    atomic_store_explicit(&s->pending, 1, memory_order_release);
    pt->tail++;
    pt->last_reserved = offset;
    if (!pt->paused && pt->tail - pt->head >= (uint64_t)pt->cap * 3 / 4) {
        pt->paused = true;
        do_pause = true;
    }
    pthread_mutex_unlock(&pt->lock);
    if (do_pause)
        pause_partition(p, pt, true);
    return s;
}

static bool ptrack_drained(ptrack *pt)
{
    pthread_mutex_lock(&pt->lock);
    ptrack_advance(pt);
    bool empty = pt->head == pt->tail;
    pthread_mutex_unlock(&pt->lock);
    return empty;
}

/* --------------------------------------------------------------- inputs */

static input_topic *find_input(vgl_pipeline *p, const char *topic)
{
    for (size_t i = 0; i < p->ninputs; i++)
        if (strcmp(p->inputs[i].cfg->topic, topic) == 0)
            return &p->inputs[i];
    return NULL;
}

static int worker_for(vgl_pipeline *p, const char *topic, int32_t partition)
{
    /* consecutive partitions of a topic go round-robin over the workers */
    size_t ti = 0;
    for (size_t i = 0; i < p->ninputs; i++)
        if (strcmp(p->inputs[i].cfg->topic, topic) == 0)
            ti = i;
    return (int)(((uint32_t)partition + (uint32_t)ti) % (uint32_t)p->nworkers);
}

/* ------------------------------------------------------------- producer */

static void retry_push(vgl_pipeline *p, const rd_kafka_message_t *m, slot *s)
{
    retry_rec *r = calloc(1, sizeof(*r));
    if (!r)
        abort(); /* cannot keep the at-least-once promise without memory */
    r->rkt = m->rkt;
    r->partition = m->partition;
    r->s = s;
    if (m->key_len) {
        r->key = malloc(m->key_len);
        if (!r->key)
            abort();
        memcpy(r->key, m->key, m->key_len);
        r->keylen = m->key_len;
    }
    size_t len = m->len;
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        r->hdrs = rd_kafka_headers_copy(h);
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && len > DLQ_TRUNCATE_BYTES &&
        p->cfg->outputs.dead_letter && strcmp(topic, p->cfg->outputs.dead_letter) == 0) {
        /* The broker will not take the whole record: keep its head and
         * say so; the origin headers point at the full record. */
        char orig[32];
        snprintf(orig, sizeof(orig), "%zu", len);
        if (!r->hdrs)
            r->hdrs = rd_kafka_headers_new(2);
        rd_kafka_header_add(r->hdrs, "vigil.truncated_from", -1, orig, -1);
        len = DLQ_TRUNCATE_BYTES;
    }
    r->value = malloc(len ? len : 1);
    if (!r->value)
        abort();
    if (len)
        memcpy(r->value, m->payload, len);
    r->len = len;
    pthread_mutex_lock(&p->retry_lock);
    if (p->retry_tail)
        p->retry_tail->next = r;
    else
        p->retry_head = r;
    p->retry_tail = r;
    pthread_mutex_unlock(&p->retry_lock);
}

static void retry_flush(vgl_pipeline *p)
{
    pthread_mutex_lock(&p->retry_lock);
    while (p->retry_head) {
        retry_rec *r = p->retry_head;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->producer, RD_KAFKA_V_RKT(r->rkt), RD_KAFKA_V_PARTITION(r->partition),
            RD_KAFKA_V_KEY(r->key, r->keylen), RD_KAFKA_V_VALUE(r->value, r->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(r->s),
            RD_KAFKA_V_HEADERS(r->hdrs), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break; /* try again on the next round */
        if (err) {
            /* Not retriable in this process: keep the slot pending so the
             * partition's offset never passes this record; a restart
             * replays it. */
            vgl_error("output record cannot be produced; offset progress stopped for its "
                      "input partition",
                      "topic=%s error=%s", rd_kafka_topic_name(r->rkt), rd_kafka_err2str(err));
            rd_kafka_headers_destroy(r->hdrs);
        }
        p->retry_head = r->next;
        if (!p->retry_head)
            p->retry_tail = NULL;
        free(r->key);
        free(r->value);
        free(r);
        atomic_fetch_add(&p->produce_retries, 1);
    }
    pthread_mutex_unlock(&p->retry_lock);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    vgl_pipeline *p = opaque;
    slot *s = m->_private;
    if (m->err) {
        vgl_warn("output delivery failed, retrying", "topic=%s partition=%d error=%s",
                 rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
        retry_push(p, m, s);
        return;
    }
    atomic_store(&p->producer_up, 1);
    atomic_fetch_add_explicit(&p->produced, 1, memory_order_relaxed);
    if (s)
        slot_release(s);
}

static void *dr_main(void *arg)
{
    vgl_pipeline *p = arg;
    while (!atomic_load(&p->dr_stop)) {
        rd_kafka_poll(p->producer, 50);
        retry_flush(p);
    }
    return NULL;
}

static vgl_rc produce(vgl_worker *w, vgl_output_kind kind, int32_t partition, const void *key,
                      size_t keylen, const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    vgl_pipeline *p = w->p;
    rd_kafka_topic_t *rkt = p->out[kind];
    if (!rkt) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return VGL_ERR_NOTFOUND;
    }
    slot *s = w->cur;
    if (s)
        atomic_fetch_add_explicit(&s->pending, 1, memory_order_relaxed);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(s),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err)
            return VGL_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* bounded producer queue: wait for the delivery thread */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && kind == VGL_OUT_DEAD_LETTER &&
            len > DLQ_TRUNCATE_BYTES) {
            char orig[32];
            snprintf(orig, sizeof(orig), "%zu", len);
            if (!hdrs)
                hdrs = rd_kafka_headers_new(1);
            rd_kafka_header_add(hdrs, "vigil.truncated_from", -1, orig, -1);
            len = DLQ_TRUNCATE_BYTES;
            continue;
        }
        vgl_error("cannot produce output record; offset progress stopped for the input partition",
                  "topic=%s error=%s", rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        /* leave the slot pending: the input offset will not be committed */
        return VGL_ERR_KAFKA;
    }
}

vgl_rc vgl_worker_produce(vgl_worker *w, vgl_output_kind kind, const void *key, size_t keylen,
                          const void *value, size_t len)
{
    return produce(w, kind, RD_KAFKA_PARTITION_UA, key, keylen, value, len, NULL);
}

int vgl_worker_id(const vgl_worker *w) { return w->id; }

vgl_rc vgl_pipeline_produce_topic(void *opaque, const char *topic, const void *key,
                                  size_t keylen, const void *value, size_t len)
{
    vgl_pipeline *p = opaque;
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
        if (!err)
            return VGL_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 30000) {
            struct timespec ts = {0, 1000000}; /* backpressure on the connector */
            nanosleep(&ts, NULL);
            continue;
        }
        vgl_warn("connector record not produced", "topic=%s error=%s", topic,
                 rd_kafka_err2str(err));
        return VGL_ERR_KAFKA;
    }
}

static int32_t events_partition(const vgl_worker *w)
{
    const vgl_pipeline *p = w->p;
    return p->events_partitions > 0 ? w->cur_partition % p->events_partitions
                                    : RD_KAFKA_PARTITION_UA;
}

vgl_rc vgl_worker_produce_event(vgl_worker *w, const vgl_event *ev)
{
    vgl_pipeline *p = w->p;
    if (!p->out[VGL_OUT_EVENTS])
        return VGL_OK;
    vgl_buf_reset(&w->enc);
    vgl_json_encode_event(&w->enc, ev);
    return produce(w, VGL_OUT_EVENTS, events_partition(w), ev->meta.key, ev->meta.key_len,
                   w->enc.data, w->enc.len, NULL);
}

void vgl_worker_skip_event(vgl_worker *w) { w->skip_event = true; }

/* -------------------------------------------------------------- workers */

static void dead_letter(vgl_worker *w, const rd_kafka_message_t *m, const char *stage,
                        const char *reason)
{
    vgl_pipeline *p = w->p;
    const char *topic = rd_kafka_topic_name(m->rkt);
    atomic_fetch_add(&p->dead_lettered, 1);
    int64_t now = vgl_now_ms();
    if (now - w->log_window_ms >= 1000) {
        if (w->suppressed_logs)
            vgl_warn("dead-letter log lines suppressed", "count=%llu",
                     (unsigned long long)w->suppressed_logs);
        w->log_window_ms = now;
        w->log_count = 0;
        w->suppressed_logs = 0;
    }
    if (w->log_count++ < 10)
        vgl_warn("record sent to the dead-letter topic", "origin=%s/%d@%lld stage=%s reason=%s",
                 topic, (int)m->partition, (long long)m->offset, stage, reason);
    else
        w->suppressed_logs++;
    if (!p->out[VGL_OUT_DEAD_LETTER]) {
        vgl_error("no dead-letter topic configured: record not kept", "origin=%s/%d@%lld",
                  topic, (int)m->partition, (long long)m->offset);
        return;
    }
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "vigil.origin.topic", -1, topic, -1);
    rd_kafka_header_add(h, "vigil.origin.partition", -1, part, -1);
    rd_kafka_header_add(h, "vigil.origin.offset", -1, off, -1);
    rd_kafka_header_add(h, "vigil.stage", -1, stage, -1);
    rd_kafka_header_add(h, "vigil.error", -1, reason, -1);
    produce(w, VGL_OUT_DEAD_LETTER, RD_KAFKA_PARTITION_UA, m->key, m->key_len, m->payload,
            m->len, h);
}

static void handle_message(vgl_worker *w, rd_kafka_message_t *m)
{
    vgl_pipeline *p = w->p;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            vgl_warn("consumer error", "topic=%s partition=%d error=%s",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
                     rd_kafka_message_errstr(m));
        return;
    }
    input_topic *in = w->last_input;
    if (m->rkt != w->last_rkt) {
        in = find_input(p, rd_kafka_topic_name(m->rkt));
        w->last_rkt = m->rkt;
        w->last_input = in;
    }
    ptrack *pt = in && m->partition >= 0 && m->partition < MAX_PARTITIONS
                     ? atomic_load(&in->parts[m->partition])
                     : NULL;
    if (!pt || atomic_load(&pt->revoking)) {
        atomic_fetch_add(&p->skipped_revoked, 1);
        return;
    }
    slot *s = ptrack_reserve(p, pt, m->offset);
    if (!s) {
        atomic_fetch_add(&p->skipped_revoked, 1);
        return;
    }
    atomic_fetch_add_explicit(&p->consumed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&in->n_consumed, 1, memory_order_relaxed);
    w->cur = s;
    char err[512];
    vgl_event *ev = &w->ev;
    vgl_event_reset(ev);
    if (p->limits.max_bytes && m->len > p->limits.max_bytes) {
        snprintf(err, sizeof(err), "message of %zu bytes exceeds limits.max_message_bytes (%zu)",
                 m->len, p->limits.max_bytes);
        dead_letter(w, m, "decode", err);
        goto done;
    }
    vgl_rc rc;
    size_t idx = (size_t)(in - p->inputs);
    if (in->cfg->format == VGL_FMT_JSON)
        rc = vgl_json_decode(ev, m->payload, m->len, &p->limits, err, sizeof(err));
    else
        rc = vgl_avro_decode(w->avro[idx], ev, m->payload, m->len, &p->limits, err, sizeof(err));
    if (rc != VGL_OK) {
        atomic_fetch_add_explicit(&in->n_dlq_decode, 1, memory_order_relaxed);
        dead_letter(w, m, "decode", err);
        goto done;
    }
    ev->meta.topic = in->cfg->topic;
    ev->meta.partition = m->partition;
    ev->meta.offset = m->offset;
    ev->meta.key = m->key;
    ev->meta.key_len = m->key_len;
    ev->meta.received_ms = w->batch_ms; /* one clock read per batch */
    vgl_event_take_time(ev, in->time_fields, in->ntime_fields);
    w->skip_event = false;
    w->cur_partition = m->partition;
    atomic_fetch_add_explicit(&in->n_decoded, 1, memory_order_relaxed);
    if (p->hooks.process && !p->hooks.process(w->stage_ctx, ev, err, sizeof(err))) {
        atomic_fetch_add_explicit(&in->n_dlq_process, 1, memory_order_relaxed);
        dead_letter(w, m, "process", err);
        goto done;
    }
    atomic_fetch_add_explicit(&p->processed, 1, memory_order_relaxed);
    if (p->out[VGL_OUT_EVENTS] && !w->skip_event)
        vgl_worker_produce_event(w, ev);
done:
    w->cur = NULL;
    slot_release(s);
}

static void *worker_main(void *arg)
{
    vgl_worker *w = arg;
    vgl_pipeline *p = w->p;
    rd_kafka_message_t *msgs[BATCH_MAX];
    while (!atomic_load(&p->workers_stop)) {
        /* whatever is queued, without waiting for a full batch; when the
         * queue is empty, block for the first record only (latency) */
        ssize_t n = rd_kafka_consume_batch_queue(w->q, 0, msgs, BATCH_MAX);
        if (n == 0) {
            rd_kafka_message_t *first = rd_kafka_consume_queue(w->q, 100);
            if (first) {
                msgs[0] = first;
                ssize_t more = rd_kafka_consume_batch_queue(w->q, 0, msgs + 1, BATCH_MAX - 1);
                n = 1 + (more > 0 ? more : 0);
            }
        }
        if (n > 0)
            w->batch_ms = vgl_now_ms();
        for (ssize_t i = 0; i < n; i++) {
            if (!atomic_load(&p->workers_stop))
                handle_message(w, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        if (p->hooks.idle)
            p->hooks.idle(w->stage_ctx, vgl_now_ms());
    }
    return NULL;
}

/* ------------------------------------------------------------ rebalance */

static void commit_trackers(vgl_pipeline *p, bool sync, ptrack *const *only, size_t nonly)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < p->ninputs; i++) {
        for (int k = 0; k < MAX_PARTITIONS; k++) {
            ptrack *pt = atomic_load(&p->inputs[i].parts[k]);
            if (!pt)
                continue;
            if (only) {
                bool want = false;
                for (size_t j = 0; j < nonly; j++)
                    want |= only[j] == pt;
                if (!want)
                    continue;
            }
            bool do_resume = false;
            pthread_mutex_lock(&pt->lock);
            ptrack_advance(pt);
            int64_t next = pt->done_next;
            if (pt->paused && pt->tail - pt->head <= pt->cap / 4 && !atomic_load(&pt->revoking)) {
                pt->paused = false;
                do_resume = true;
            }
            pthread_mutex_unlock(&pt->lock);
            if (do_resume)
                pause_partition(p, pt, false);
            if (next > pt->committed) {
                rd_kafka_topic_partition_list_add(l, pt->topic, pt->partition)->offset = next;
                pt->committed = next;
            }
        }
    }
    if (l->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(p->consumer, l, sync ? 0 : 1);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            vgl_warn("offset commit failed", "error=%s", rd_kafka_err2str(err));
        else
            atomic_fetch_add(&p->commits, 1);
        if (err) {
            /* try these again next time */
            for (int i = 0; i < l->cnt; i++) {
                input_topic *in = find_input(p, l->elems[i].topic);
                ptrack *pt = in ? atomic_load(&in->parts[l->elems[i].partition]) : NULL;
                if (pt)
                    pt->committed = -1;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Resume paused partitions whose in-flight ring drained below 1/4. */
static void resume_drained(vgl_pipeline *p)
{
    for (size_t i = 0; i < p->ninputs; i++) {
        for (int k = 0; k < MAX_PARTITIONS; k++) {
            ptrack *pt = atomic_load(&p->inputs[i].parts[k]);
            if (!pt)
                continue;
            bool do_resume = false;
            pthread_mutex_lock(&pt->lock);
            if (pt->paused) {
                ptrack_advance(pt);
                if (pt->tail - pt->head <= pt->cap / 4 && !atomic_load(&pt->revoking)) {
                    pt->paused = false;
                    do_resume = true;
                }
            }
            pthread_mutex_unlock(&pt->lock);
            if (do_resume)
                pause_partition(p, pt, false);
        }
    }
}

static void on_assign(vgl_pipeline *p, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        input_topic *in = find_input(p, tp->topic);
        if (!in || tp->partition < 0 || tp->partition >= MAX_PARTITIONS) {
            vgl_error("assigned a partition vigil cannot track", "topic=%s partition=%d",
                      tp->topic, (int)tp->partition);
            continue;
        }
        int wid = worker_for(p, tp->topic, tp->partition);
        ptrack *pt = ptrack_new(tp->topic, tp->partition, wid, p->ring_cap);
        if (!pt) {
            vgl_error("out of memory tracking a partition", "topic=%s partition=%d", tp->topic,
                      (int)tp->partition);
            abort();
        }
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(p->consumer, tp->topic, tp->partition);
        if (pq) {
            rd_kafka_queue_forward(pq, p->workers[wid].q);
            rd_kafka_queue_destroy(pq);
        }
        atomic_store(&in->parts[tp->partition], pt);
        atomic_fetch_add(&p->assigned, 1);
        vgl_info("partition assigned", "topic=%s partition=%d worker=%d", tp->topic,
                 (int)tp->partition, wid);
    }
}

static void on_revoke(vgl_pipeline *p, rd_kafka_topic_partition_list_t *parts)
{
    ptrack *list[MAX_PARTITIONS];
    size_t n = 0;
    for (int i = 0; i < parts->cnt && n < MAX_PARTITIONS; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        input_topic *in = find_input(p, tp->topic);
        if (!in || tp->partition < 0 || tp->partition >= MAX_PARTITIONS)
            continue;
        ptrack *pt = atomic_load(&in->parts[tp->partition]);
        if (!pt)
            continue;
        atomic_store(&pt->revoking, 1);
        list[n++] = pt;
    }
    /* Drain: records taken by workers finish, their outputs are acked. */
    int64_t deadline = vgl_now_ms() + p->cfg->limits.shutdown_timeout_ms;
    for (size_t i = 0; i < n; i++) {
        while (!ptrack_drained(list[i]) && vgl_now_ms() < deadline) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        if (!ptrack_drained(list[i]))
            vgl_warn("revoked partition not drained in time; its tail will be replayed by the "
                     "next owner",
                     "topic=%s partition=%d", list[i]->topic, (int)list[i]->partition);
    }
    if (n)
        commit_trackers(p, true, list, n);
    for (size_t i = 0; i < n; i++) {
        ptrack *pt = list[i];
        input_topic *in = find_input(p, pt->topic);
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(p->consumer, pt->topic, pt->partition);
        if (pq) {
            rd_kafka_queue_forward(pq, NULL);
            rd_kafka_queue_destroy(pq);
        }
        atomic_store(&in->parts[pt->partition], NULL);
        atomic_fetch_sub(&p->assigned, 1);
        pthread_mutex_lock(&p->track_lock);
        pt->next_retired = p->retired;
        p->retired = pt;
        pthread_mutex_unlock(&p->track_lock);
        vgl_info("partition revoked", "topic=%s partition=%d committed=%lld", pt->topic,
                 (int)pt->partition, (long long)pt->committed);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    vgl_pipeline *p = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(p, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                vgl_error("incremental assign failed", "error=%s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(p, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) {
                vgl_error("incremental unassign failed", "error=%s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, NULL);
        }
    } else {
        vgl_error("rebalance error", "error=%s", rd_kafka_err2str(err));
        on_revoke(p, parts);
        rd_kafka_assign(rk, NULL);
    }
}

/* ----------------------------------------------------------------- setup */

static uint32_t pow2_at_least(uint32_t v)
{
    uint32_t c = 16;
    while (c < v && c < (1u << 24))
        c <<= 1;
    return c;
}

static bool forced(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen)
{
    char cur[64];
    size_t sz = sizeof(cur);
    if (rd_kafka_conf_get(conf, name, cur, &sz) == RD_KAFKA_CONF_OK && strcmp(cur, value) != 0)
        vgl_warn("kafka property overridden: vigil's delivery guarantee needs it", "property=%s "
                 "configured=%s used=%s", name, cur, value);
    return vgl_kafka_conf_set(conf, name, value, err, errlen);
}

static int topic_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || !md)
        return -1;
    int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
    rd_kafka_metadata_destroy(md);
    return n;
}

static const char *const grouping_time_fields[] = {"time"};

vgl_pipeline *vgl_pipeline_new(const vgl_config *cfg, const char *brokers,
                               const vgl_stage_hooks *hooks, char *err, size_t errlen)
{
    if (cfg->ninputs == 0) {
        snprintf(err, errlen, "no inputs configured: nothing to consume");
        return NULL;
    }
    vgl_pipeline *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = cfg;
    if (hooks)
        p->hooks = *hooks;
    pthread_mutex_init(&p->retry_lock, NULL);
    pthread_mutex_init(&p->track_lock, NULL);
    p->limits.max_bytes = cfg->limits.max_message_bytes;
    p->limits.max_depth = cfg->limits.max_depth;
    p->ring_cap = pow2_at_least(cfg->limits.queue_events ? cfg->limits.queue_events : 10000);
    p->nworkers = cfg->limits.workers > 0 ? cfg->limits.workers : 1;

    /* global incident grouping consumes its internal alert topic too */
    bool grouping = !cfg->incidents.per_worker && cfg->incidents.topic && *cfg->incidents.topic;
    if (grouping) {
        p->grouping_input.topic = cfg->incidents.topic;
        p->grouping_input.format = VGL_FMT_JSON;
        p->grouping_input.time_fields = (char **)grouping_time_fields;
        p->grouping_input.ntime_fields = 1;
    }
    p->ninputs = cfg->ninputs + (grouping ? 1 : 0);
    p->inputs = calloc(p->ninputs, sizeof(input_topic));
    if (!p->inputs)
        goto oom;
    for (size_t i = 0; i < p->ninputs; i++) {
        input_topic *in = &p->inputs[i];
        in->cfg = i < cfg->ninputs ? &cfg->inputs[i] : &p->grouping_input;
        char cerr[512];
        if (in->cfg->format == VGL_FMT_AVRO)
            in->avro = vgl_avro_codec_from_file(in->cfg->schema, cerr, sizeof(cerr));
        else if (in->cfg->format == VGL_FMT_AVRO_CONFLUENT)
            in->avro = vgl_avro_codec_from_dir(in->cfg->schema_dir, cerr, sizeof(cerr));
        if (in->cfg->format != VGL_FMT_JSON && !in->avro) {
            snprintf(err, errlen, "input %s: %s", in->cfg->topic, cerr);
            goto fail;
        }
        in->ntime_fields = in->cfg->ntime_fields;
        in->time_fields = calloc(in->ntime_fields ? in->ntime_fields : 1, sizeof(vgl_path *));
        if (!in->time_fields)
            goto oom;
        for (size_t k = 0; k < in->ntime_fields; k++)
            in->time_fields[k] = vgl_path_intern(in->cfg->time_fields[k]);
    }

    /* producer */
    rd_kafka_conf_t *pc = vgl_kafka_conf_new(&cfg->kafka, brokers, err, errlen);
    if (!pc)
        goto fail;
    if (!vgl_kafka_conf_set(pc, "linger.ms", "5", err, errlen) ||
        !vgl_kafka_conf_set(pc, "message.max.bytes", "16777216", err, errlen) ||
        !forced(pc, "enable.idempotence", "true", err, errlen) ||
        !forced(pc, "acks", "all", err, errlen)) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }
    /* user properties win over our tuning defaults, not over the forced ones */
    for (size_t i = 0; i < cfg->kafka.nproperties; i++) {
        const char *k = cfg->kafka.properties[i].key;
        if (strcmp(k, "linger.ms") == 0 || strcmp(k, "message.max.bytes") == 0)
            rd_kafka_conf_set(pc, k, cfg->kafka.properties[i].value, NULL, 0);
    }
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_conf_set_opaque(pc, p);
    p->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, errlen);
    if (!p->producer) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }
    const char *outs[VGL_OUT_COUNT] = {
        [VGL_OUT_ALERTS] = cfg->outputs.alerts,
        [VGL_OUT_INCIDENTS] = cfg->outputs.incidents,
        [VGL_OUT_ACTIONS] = cfg->outputs.actions,
        [VGL_OUT_ACTION_RESULTS] = cfg->outputs.action_results,
        [VGL_OUT_EVENTS] = cfg->outputs.events,
        [VGL_OUT_DEAD_LETTER] = cfg->outputs.dead_letter,
        [VGL_OUT_GROUPING] = grouping ? cfg->incidents.topic : NULL,
    };
    for (int k = 0; k < VGL_OUT_COUNT; k++)
        if (outs[k] && *outs[k])
            p->out[k] = rd_kafka_topic_new(p->producer, outs[k], NULL);
    if (p->out[VGL_OUT_EVENTS]) {
        p->events_partitions = topic_partitions(p->producer, p->out[VGL_OUT_EVENTS]);
        if (p->events_partitions <= 0)
            vgl_warn("events output topic metadata unavailable; per-partition order of the "
                     "events output is not kept",
                     "topic=%s", outs[VGL_OUT_EVENTS]);
    }

    /* consumer */
    rd_kafka_conf_t *cc = vgl_kafka_conf_new(&cfg->kafka, brokers, err, errlen);
    if (!cc)
        goto fail;
    char qkb[32];
    snprintf(qkb, sizeof(qkb), "%d", 16384);
    if (!vgl_kafka_conf_set(cc, "group.id", cfg->kafka.group, err, errlen) ||
        !vgl_kafka_conf_set(cc, "auto.offset.reset", "earliest", err, errlen) ||
        !vgl_kafka_conf_set(cc, "queued.max.messages.kbytes", qkb, err, errlen) ||
        /* one fetch response is buffered whole: bound it too (librdkafka's
         * default of 50 MB per broker would dominate the memory bound) */
        !vgl_kafka_conf_set(cc, "fetch.max.bytes", "8388608", err, errlen)) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    for (size_t i = 0; i < cfg->kafka.nproperties; i++) {
        const char *k = cfg->kafka.properties[i].key;
        if (strcmp(k, "auto.offset.reset") == 0 || strcmp(k, "queued.max.messages.kbytes") == 0 ||
            strcmp(k, "fetch.max.bytes") == 0)
            rd_kafka_conf_set(cc, k, cfg->kafka.properties[i].value, NULL, 0);
    }
    if (!forced(cc, "enable.auto.commit", "false", err, errlen) ||
        !forced(cc, "enable.auto.offset.store", "false", err, errlen)) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    rd_kafka_conf_set_opaque(cc, p);
    p->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, errlen);
    if (!p->consumer) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_poll_set_consumer(p->consumer);

    p->workers = calloc((size_t)p->nworkers, sizeof(vgl_worker));
    if (!p->workers)
        goto oom;
    for (int i = 0; i < p->nworkers; i++) {
        vgl_worker *w = &p->workers[i];
        w->p = p;
        w->id = i;
        w->q = rd_kafka_queue_new(p->consumer);
        vgl_event_init(&w->ev, cfg->limits.event_memory);
        vgl_buf_init(&w->enc, 0);
        w->avro = calloc(p->ninputs, sizeof(vgl_avro_ctx *));
        if (!w->avro)
            goto oom;
        for (size_t k = 0; k < p->ninputs; k++) {
            if (p->inputs[k].avro && !(w->avro[k] = vgl_avro_ctx_new(p->inputs[k].avro)))
                goto oom;
        }
        if (p->hooks.worker_init) {
            w->stage_ctx = p->hooks.worker_init(p->hooks.opaque, i, w, err, errlen);
            if (!w->stage_ctx)
                goto fail;
        }
    }
    return p;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    vgl_pipeline_free(p);
    return NULL;
}

void vgl_pipeline_stop(vgl_pipeline *p) { atomic_store(&p->stop, 1); }

bool vgl_pipeline_ready(vgl_pipeline *p)
{
    return atomic_load(&p->assigned) > 0 && !atomic_load(&p->fatal);
}

void vgl_pipeline_get_stats(vgl_pipeline *p, vgl_pipeline_stats *o)
{
    o->consumed = atomic_load(&p->consumed);
    o->processed = atomic_load(&p->processed);
    o->dead_lettered = atomic_load(&p->dead_lettered);
    o->produced = atomic_load(&p->produced);
    o->produce_retries = atomic_load(&p->produce_retries);
    o->skipped_revoked = atomic_load(&p->skipped_revoked);
    o->paused = atomic_load(&p->paused_count);
    o->commits = atomic_load(&p->commits);
    o->assigned = atomic_load(&p->assigned);
    o->lag = atomic_load(&p->lag_total);
}

void vgl_pipeline_each_topic(vgl_pipeline *p, vgl_topic_stat_fn fn, void *opaque)
{
    for (size_t i = 0; i < p->ninputs; i++) {
        input_topic *in = &p->inputs[i];
        vgl_topic_stat st = {
            .topic = in->cfg->topic,
            .consumed = atomic_load_explicit(&in->n_consumed, memory_order_relaxed),
            .decoded = atomic_load_explicit(&in->n_decoded, memory_order_relaxed),
            .dlq_decode = atomic_load_explicit(&in->n_dlq_decode, memory_order_relaxed),
            .dlq_process = atomic_load_explicit(&in->n_dlq_process, memory_order_relaxed),
        };
        fn(opaque, &st);
    }
}

/* Main thread (owns the consumer): lag of every assigned partition from
 * the locally cached high watermark (no request to the broker). */
static void update_lag(vgl_pipeline *p)
{
    int64_t total = 0;
    bool known = false;
    for (size_t i = 0; i < p->ninputs; i++) {
        input_topic *in = &p->inputs[i];
        for (int k = 0; k < MAX_PARTITIONS; k++) {
            ptrack *pt = atomic_load(&in->parts[k]);
            if (!pt)
                continue;
            int64_t lo = 0, hi = -1;
            if (rd_kafka_get_watermark_offsets(p->consumer, in->cfg->topic, k, &lo, &hi) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
                hi < 0) {
                atomic_store(&pt->lag, -1);
                continue;
            }
            pthread_mutex_lock(&pt->lock);
            int64_t next = pt->done_next >= 0 ? pt->done_next : pt->committed;
            pthread_mutex_unlock(&pt->lock);
            int64_t lag = next >= 0 ? hi - next : hi - lo;
            if (lag < 0)
                lag = 0;
            atomic_store(&pt->lag, lag);
            total += lag;
            known = true;
        }
    }
    atomic_store(&p->lag_total, known ? total : -1);
}

void vgl_pipeline_each_partition(vgl_pipeline *p, vgl_partition_stat_fn fn, void *opaque)
{
    for (size_t i = 0; i < p->ninputs; i++) {
        input_topic *in = &p->inputs[i];
        for (int k = 0; k < MAX_PARTITIONS; k++) {
            ptrack *pt = atomic_load(&in->parts[k]);
            if (!pt)
                continue;
            pthread_mutex_lock(&pt->lock);
            vgl_partition_stat st = {.topic = in->cfg->topic,
                                     .partition = k,
                                     .lag = atomic_load(&pt->lag),
                                     .inflight = pt->tail - pt->head,
                                     .paused = pt->paused};
            pthread_mutex_unlock(&pt->lock);
            fn(opaque, &st);
        }
    }
}

int vgl_pipeline_nworkers(const vgl_pipeline *p) { return p->nworkers; }

size_t vgl_pipeline_worker_queue_len(vgl_pipeline *p, int i)
{
    return i >= 0 && i < p->nworkers && p->workers[i].q ? rd_kafka_queue_length(p->workers[i].q)
                                                        : 0;
}

void vgl_pipeline_quiet_stats(vgl_pipeline *p) { atomic_store(&p->quiet_stats, 1); }

static void log_stats(vgl_pipeline *p, int64_t elapsed_ms, uint64_t *last_consumed)
{
    vgl_pipeline_stats s;
    vgl_pipeline_get_stats(p, &s);
    double rate = elapsed_ms > 0 ? (double)(s.consumed - *last_consumed) * 1000.0 / elapsed_ms : 0;
    *last_consumed = s.consumed;
    vgl_info("stats", "events_per_s=%.0f consumed=%llu processed=%llu dead_lettered=%llu "
             "produced=%llu partitions=%d paused=%llu",
             rate, (unsigned long long)s.consumed, (unsigned long long)s.processed,
             (unsigned long long)s.dead_lettered, (unsigned long long)s.produced, s.assigned,
             (unsigned long long)s.paused);
}

vgl_rc vgl_pipeline_run(vgl_pipeline *p)
{
    const vgl_config *cfg = p->cfg;
    vgl_rc result = VGL_OK;
    if (pthread_create(&p->dr_thread, NULL, dr_main, p) != 0) {
        vgl_error("cannot start the delivery thread", "errno=%d", errno);
        return VGL_ERR_STATE;
    }
    p->dr_started = true;
    for (int i = 0; i < p->nworkers; i++) {
        if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
            vgl_error("cannot start a worker thread", "worker=%d", i);
            atomic_store(&p->stop, 1);
            break;
        }
        p->workers[i].started = true;
    }
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)p->ninputs);
    for (size_t i = 0; i < p->ninputs; i++)
        rd_kafka_topic_partition_list_add(subs, p->inputs[i].cfg->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(p->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (serr) {
        vgl_error("cannot subscribe to the input topics", "error=%s", rd_kafka_err2str(serr));
        atomic_store(&p->stop, 1);
        result = VGL_ERR_KAFKA;
    }
    vgl_info("consuming", "group=%s inputs=%zu workers=%d", cfg->kafka.group, p->ninputs,
             p->nworkers);

    int64_t last_commit = vgl_now_ms(), last_stats = last_commit, last_lag = last_commit;
    uint64_t last_consumed = 0;
    while (!atomic_load(&p->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, 100);
        if (m) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                vgl_warn("consumer error", "error=%s", rd_kafka_message_errstr(m));
            else if (!m->err)
                vgl_error("internal: record delivered outside the worker queues; it will be "
                          "replayed after a restart",
                          "topic=%s partition=%d offset=%lld", rd_kafka_topic_name(m->rkt),
                          (int)m->partition, (long long)m->offset);
            rd_kafka_message_destroy(m);
        }
        char ferr[512];
        if (rd_kafka_fatal_error(p->producer, ferr, sizeof(ferr)) ||
            rd_kafka_fatal_error(p->consumer, ferr, sizeof(ferr))) {
            vgl_error("fatal Kafka client error; stopping without committing further",
                      "error=%s", ferr);
            atomic_store(&p->fatal, 1);
            result = VGL_ERR_KAFKA;
            break;
        }
        int64_t now = vgl_now_ms();
        if (now - last_commit >= COMMIT_INTERVAL_MS) {
            commit_trackers(p, false, NULL, 0);
            last_commit = now;
        } else {
            resume_drained(p);
        }
        if (now - last_lag >= 1000) {
            update_lag(p);
            last_lag = now;
        }
        if (cfg->log.stats_interval_ms > 0 && now - last_stats >= cfg->log.stats_interval_ms &&
            !atomic_load(&p->quiet_stats)) {
            log_stats(p, now - last_stats, &last_consumed);
            last_stats = now;
        }
    }

    /* Shutdown: stop taking records, let in-flight ones finish, flush,
     * commit, leave the group. */
    int64_t deadline = vgl_now_ms() + cfg->limits.shutdown_timeout_ms;
    vgl_info("stopping", "timeout_ms=%lld", (long long)cfg->limits.shutdown_timeout_ms);
    atomic_store(&p->workers_stop, 1);
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].started) {
            pthread_join(p->workers[i].thread, NULL);
            p->workers[i].started = false;
        }
    if (!atomic_load(&p->fatal)) {
        while (vgl_now_ms() < deadline) {
            int64_t left = deadline - vgl_now_ms();
            rd_kafka_flush(p->producer, (int)(left < 100 ? left : 100));
            pthread_mutex_lock(&p->retry_lock);
            bool retries = p->retry_head != NULL;
            pthread_mutex_unlock(&p->retry_lock);
            if (!retries && rd_kafka_outq_len(p->producer) == 0)
                break;
        }
        if (rd_kafka_outq_len(p->producer) > 0)
            vgl_warn("shutdown timeout: undelivered outputs remain; their inputs are not "
                     "committed and will be replayed",
                     "outq=%d", rd_kafka_outq_len(p->producer));
        commit_trackers(p, true, NULL, 0);
    }
    atomic_store(&p->dr_stop, 1);
    pthread_join(p->dr_thread, NULL);
    p->dr_started = false;
    rd_kafka_consumer_close(p->consumer);
    vgl_pipeline_stats s;
    vgl_pipeline_get_stats(p, &s);
    vgl_info("stopped", "consumed=%llu processed=%llu dead_lettered=%llu produced=%llu paused=%llu",
             (unsigned long long)s.consumed, (unsigned long long)s.processed,
             (unsigned long long)s.dead_lettered, (unsigned long long)s.produced,
             (unsigned long long)s.paused);
    return result;
}

void vgl_pipeline_free(vgl_pipeline *p)
{
    if (!p)
        return;
    if (p->workers) {
        for (int i = 0; i < p->nworkers; i++) {
            vgl_worker *w = &p->workers[i];
            if (w->started) {
                atomic_store(&p->workers_stop, 1);
                pthread_join(w->thread, NULL);
            }
            if (w->stage_ctx && p->hooks.worker_fini)
                p->hooks.worker_fini(w->stage_ctx);
            if (w->q)
                rd_kafka_queue_destroy(w->q);
            vgl_event_destroy(&w->ev);
            vgl_buf_free(&w->enc);
            if (w->avro)
                for (size_t k = 0; k < p->ninputs; k++)
                    vgl_avro_ctx_free(w->avro[k]);
            free(w->avro);
        }
        free(p->workers);
    }
    if (p->dr_started) {
        atomic_store(&p->dr_stop, 1);
        pthread_join(p->dr_thread, NULL);
    }
    if (p->consumer)
        rd_kafka_destroy(p->consumer);
    for (int k = 0; k < VGL_OUT_COUNT; k++)
        if (p->out[k])
            rd_kafka_topic_destroy(p->out[k]);
    if (p->producer)
        rd_kafka_destroy(p->producer);
    retry_rec *r = p->retry_head;
    while (r) {
        retry_rec *n = r->next;
        if (r->hdrs)
            rd_kafka_headers_destroy(r->hdrs);
        free(r->key);
        free(r->value);
        free(r);
        r = n;
    }
    for (size_t i = 0; i < p->ninputs; i++) {
        input_topic *in = &p->inputs[i];
        for (int k = 0; k < MAX_PARTITIONS; k++) {
            ptrack *pt = atomic_load(&in->parts[k]);
            if (pt)
                ptrack_free(pt);
        }
        vgl_avro_codec_free(in->avro);
        free(in->time_fields);
    }
    free(p->inputs);
    ptrack *pt = p->retired;
    while (pt) {
        ptrack *n = pt->next_retired;
        ptrack_free(pt);
        pt = n;
    }
    pthread_mutex_destroy(&p->retry_lock);
    pthread_mutex_destroy(&p->track_lock);
    free(p);
}
