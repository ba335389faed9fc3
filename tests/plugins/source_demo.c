/*
 * Test source plugin (vigil-source-demo.so): normalizes a made-up vendor
 * record and expands records that carry several flows.
 *
 *   {"src": "10.0.0.1", "when": "2024-01-02T03:04:05Z"}
 *     -> adds event.dataset, source.ip (beside src) and the event time
 *   {"src": "...", "flows": [{"dst": "a"}, {"dst": "b"}]}
 *     -> one new event per flow (flow.index, flow.dst, source.ip), the
 *        original record dropped
 *   {"bad": true} -> dead-lettered with a reason
 */
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

typedef struct demo_source {
    const vgl_host *host;
    const char *dataset;
    const vgl_path *src, *when, *bad, *flows, *dst;
    const vgl_path *ecs_dataset, *ecs_source_ip, *flow_index, *flow_dst;
} demo_source;

static void *demo_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                       size_t errlen)
{
    (void)err;
    (void)errlen;
    demo_source *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->host = host;
    host->config_str(cfg, "dataset", &d->dataset);
    d->src = host->path(host, "src");
    d->when = host->path(host, "when");
    d->bad = host->path(host, "bad");
    d->flows = host->path(host, "flows");
    d->dst = host->path(host, "dst");
    d->ecs_dataset = host->path(host, "event.dataset");
    d->ecs_source_ip = host->path(host, "source.ip");
    d->flow_index = host->path(host, "flow.index");
    d->flow_dst = host->path(host, "flow.dst");
    return d;
}

static void normalize(const demo_source *d, vgl_event *ev, const char *src, size_t srclen)
{
    const vgl_host *h = d->host;
    h->set_str(ev, d->ecs_dataset, d->dataset, strlen(d->dataset));
    if (src)
        h->set_str(ev, d->ecs_source_ip, src, srclen);
}

static vgl_rc demo_process(void *inst, vgl_batch *batch)
{
    demo_source *d = inst;
    const vgl_host *h = d->host;
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev)
            continue;
        if (h->has(ev, d->bad)) {
            h->batch_fail(batch, i, "field bad is set");
            continue;
        }
        const char *src = NULL, *when;
        size_t srclen = 0, whenlen;
        h->get_str(ev, d->src, &src, &srclen);
        int64_t ms;
        if (h->get_str(ev, d->when, &when, &whenlen) && h->time_parse(when, whenlen, &ms))
            h->time_set(ev, ms);
        const vgl_value *flows = h->get(ev, d->flows);
        if (h->value_type(flows) != VGL_T_ARRAY) {
            normalize(d, ev, src, srclen);
            continue;
        }
        size_t nflows = h->value_count(flows);
        for (size_t f = 0; f < nflows; f++) {
            const vgl_value *flow = h->value_at(flows, f);
            vgl_event *out = h->batch_emit_new(batch, i);
            if (!out) {
                h->batch_fail(batch, i, "cannot expand the record: event limit reached");
                break;
            }
            normalize(d, out, src, srclen);
            h->set_int(out, d->flow_index, (int64_t)f);
            const char *dst;
            size_t dstlen;
            if (h->value_str(h->value_get(flow, d->dst), &dst, &dstlen))
                h->set_str(out, d->flow_dst, dst, dstlen);
        }
        h->batch_drop(batch, i); /* replaced by its flows (a failure wins) */
    }
    return VGL_OK;
}

static void demo_destroy(void *inst)
{
    free(inst);
}

static const vgl_plugin_option demo_options[] = {
    {.name = "dataset", .type = VGL_OPT_STRING, .default_value = "demo.flows",
     .description = "value of event.dataset"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "demo",
    .version = "0.1.0",
    .description = "test source: normalizes demo records, one event per flow",
    .kind = VGL_PLUGIN_SOURCE,
    .options = demo_options,
    .init = demo_init,
    .process = demo_process,
    .destroy = demo_destroy,
};
