/*
 * Test harness shared by the Azure source plugins' Check suites: loads one
 * source plugin through the host exactly as vigil does (config, search
 * path, option validation, init), decodes JSON records into events with
 * vigil's own decoder, runs a batch through vgl_plugin_process and reads
 * the results back.
 */
#ifndef PLUGIN_HARNESS_H
#define PLUGIN_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "plugin.h"

/* Options for ph_load: key/value pairs, ending with {NULL, NULL}. */
typedef struct ph_opt {
    const char *key, *value;
} ph_opt;

void ph_setup(const char *plugin_dir);
void ph_teardown(void);

/* Load source plugin `name` (as inputs[0].source, with opts as its config
 * when not NULL) and expect success. */
vgl_plugin_instance *ph_load(const char *name, const ph_opt *opts);
/* Load and expect failure: the diag lines joined with '\n' (malloc'ed). */
char *ph_load_errors(const char *name, const ph_opt *opts);

/* A fresh event holding the decoded JSON object (asserts it decodes), with
 * Kafka origin raw.azure/0@offset. */
vgl_event *ph_event(const char *json, int64_t offset);
/* Line `n` (1-based) of DATA_DIR/file, malloc'ed, without the newline. */
char *ph_line(const char *file, int n);
/* Number of lines of DATA_DIR/file. */
int ph_nlines(const char *file);

/* The batch of the last ph_run. */
extern vgl_batch ph_batch;
/* Run the loaded plugin over these events (a fresh batch); returns rc. */
vgl_rc ph_run(vgl_plugin_instance *pi, vgl_event *const *events, size_t n);
/* Live events of the batch, in order (emitted ones included). */
size_t ph_live(vgl_event **out, size_t cap);
/* The failure reason of the batch's item holding ev (NULL if not failed). */
const char *ph_reason(const vgl_event *ev);
/* State of ev in the batch (VGL_BATCH_*), -1 when not in it. */
int ph_state(const vgl_event *ev);

/* Reading fields (NULL / false when missing or of another type). */
const char *ph_str(const vgl_event *ev, const char *path);
bool ph_int(const vgl_event *ev, const char *path, int64_t *out);
bool ph_double(const vgl_event *ev, const char *path, double *out);
bool ph_bool(const vgl_event *ev, const char *path, bool *out);
bool ph_has(const vgl_event *ev, const char *path);

/* Limit for events emitted by plugins (0 = unlimited) and for their
 * memory (bytes, 0 = unlimited). */
void ph_set_limits(size_t max_events, size_t event_mem);

#endif
