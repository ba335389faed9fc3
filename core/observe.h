/*
 * Operator visibility for `vigil run`: the Prometheus registry with
 * collectors over the pipeline, rules, plugins and incidents, the HTTP
 * endpoint when metrics.listen is set (/metrics, /healthz, /readyz), and
 * the periodic stats line (log.stats_interval).
 */
#ifndef VGL_OBSERVE_H
#define VGL_OBSERVE_H

#include <stdint.h>

#include "config.h"
#include "pipeline.h"
#include "stages.h"

typedef struct vgl_observe vgl_observe;

/* After the pipeline and stages exist, before the pipeline runs. NULL with
 * err when the metrics endpoint cannot listen. */
vgl_observe *vgl_observe_start(const vgl_config *cfg, vgl_pipeline *p, vgl_stages *s, char *err,
                               size_t errlen);
/* Bound port of the endpoint (0 when off). */
uint16_t vgl_observe_port(const vgl_observe *o);
/* Before the pipeline and stages are freed. NULL ok. */
void vgl_observe_stop(vgl_observe *o);

#endif
