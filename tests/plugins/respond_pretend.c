/*
 * Test responder (vigil-respond-pretend.so): block_ip succeeds, "flaky" asks
 * for a retry, anything else fails with a reason. Counts its calls so the
 * tests can see that the host serialized them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

typedef struct demo_respond {
    const vgl_host *host;
    unsigned calls; /* no lock: the host serializes a per-worker responder */
} demo_respond;

static void *respond_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                          size_t errlen)
{
    (void)cfg;
    demo_respond *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->host = host;
    return r;
}

static vgl_respond_status respond_respond(void *inst, const vgl_action_view *a, char *err,
                                          size_t errlen)
{
    demo_respond *r = inst;
    r->calls++;
    if (strcmp(a->action, "block_ip") == 0) {
        vgl_pair f[] = {{"target", a->target}, {"action_id", a->action_id}};
        r->host->log(r->host, VGL_PLUGIN_LOG_INFO,
                     a->op == VGL_ACTION_REVERT ? "unblocked" : "blocked", f, 2);
        return VGL_RESPOND_SUCCEEDED;
    }
    if (strcmp(a->action, "flaky") == 0) {
        snprintf(err, errlen, "upstream timed out after 5s");
        return VGL_RESPOND_RETRY;
    }
    if (strcmp(a->action, "silent") == 0)
        return VGL_RESPOND_FAILED; /* no reason: the host supplies one */
    if (strcmp(a->action, "bogus") == 0)
        return (vgl_respond_status)7;
    snprintf(err, errlen, "unsupported action %s", a->action);
    return VGL_RESPOND_FAILED;
}

static void respond_destroy(void *inst)
{
    free(inst);
}

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "pretend",
    .version = "0.3.0",
    .description = "test responder: blocks IPs (pretend)",
    .kind = VGL_PLUGIN_RESPOND,
    .init = respond_init,
    .respond = respond_respond,
    .destroy = respond_destroy,
};
