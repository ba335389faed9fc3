/*
 * Test harness for source plugins (shared by check_winevent and
 * check_defender): loads one plugin through the real host (core/plugin.c),
 * decodes JSON records with the real codec, runs them through the plugin in
 * one batch and exposes each item's event, state and dead-letter reason.
 */
#ifndef VGL_PLUGIN_HARNESS_H
#define VGL_PLUGIN_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "plugin.h"

typedef struct harness {
    vgl_config cfg;
    char *dirs[1];
    vgl_plugin_cfg pcfg[1];
    vgl_cnode map, *items[8], values[8];
    char *keys[8];
    vgl_diag diag;
    vgl_plugins *ps;
    vgl_plugin_instance *pi;
    vgl_event *events; /* one per record of the last run */
    size_t nevents;
    vgl_batch batch;
    bool have_batch;
} harness;

/* Load plugin NAME from dir with options (key, value, ..., NULL). On
 * failure returns false and *err holds the load errors (malloc'd). */
bool harness_open(harness *t, const char *dir, const char *name, const char *const *opts,
                  char **err);
/* Decode and process records; previous results are released first. */
void harness_run(harness *t, const char *const *records, size_t n);
/* Item i after the run: its event (NULL unless live), whether it failed or
 * was dropped, and the dead-letter reason. */
vgl_event *harness_event(harness *t, size_t i);
bool harness_failed(harness *t, size_t i);
bool harness_dropped(harness *t, size_t i);
const char *harness_reason(harness *t, size_t i);
size_t harness_count(harness *t);
void harness_close(harness *t);

/* Field access on an event: NULL/false when missing or of another type. */
const char *hstr(const vgl_event *ev, const char *path);
bool hint(const vgl_event *ev, const char *path, int64_t *out);
bool hhas(const vgl_event *ev, const char *path);

/* Lines of a JSON Lines file (malloc'd, free with lines_free). */
char **lines_read(const char *path, size_t *n);
void lines_free(char **lines, size_t n);
#endif
