/* Stage composition shared by `vigil run` and `vigil test` (see stages.h). */
#include "stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct vgl_stages {
    const vgl_config *cfg;
    volatile sig_atomic_t *reload_flag;
};

typedef struct stage_worker {
    vgl_stages *s;
    int id;
    vgl_sink sink;
} stage_worker;

vgl_stages *vgl_stages_new(const vgl_config *cfg, char *err, size_t errlen)
{
    vgl_stages *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    return s;
}

void vgl_stages_free(vgl_stages *s) { free(s); }

void vgl_stages_set_reload_flag(vgl_stages *s, volatile sig_atomic_t *flag)
{
    s->reload_flag = flag;
}

void *vgl_stages_worker_new(vgl_stages *s, int worker_id, const vgl_sink *sink, char *err,
                            size_t errlen)
{
    stage_worker *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->s = s;
    w->id = worker_id;
    if (sink)
        w->sink = *sink;
    return w;
}

bool vgl_stages_process(void *wctx, vgl_event *ev, char *reason, size_t reasonlen)
{
    (void)wctx;
    (void)ev;
    (void)reason;
    (void)reasonlen;
    return true;
}

void vgl_stages_idle(void *wctx, int64_t now_ms)
{
    (void)wctx;
    (void)now_ms;
}

void vgl_stages_worker_free(void *wctx) { free(wctx); }

static void pipeline_emit(void *opaque, vgl_output_kind kind, const void *key, size_t keylen,
                          const void *value, size_t len)
{
    vgl_worker_produce(opaque, kind, key, keylen, value, len);
}

static void *hook_worker_init(void *opaque, int worker_id, vgl_worker *w, char *err,
                              size_t errlen)
{
    vgl_sink sink = {pipeline_emit, w};
    return vgl_stages_worker_new(opaque, worker_id, &sink, err, errlen);
}

void vgl_stages_hooks(vgl_stages *s, vgl_stage_hooks *out)
{
    memset(out, 0, sizeof(*out));
    out->opaque = s;
    out->worker_init = hook_worker_init;
    out->process = vgl_stages_process;
    out->idle = vgl_stages_idle;
    out->worker_fini = vgl_stages_worker_free;
}
