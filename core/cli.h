/* vigil's sub-commands (core/main.c dispatches; one file per command). */
#ifndef VGL_CLI_H
#define VGL_CLI_H

#include "config.h"

/* Exit codes, documented in `vigil --help`. */
enum {
    VGL_EXIT_OK = 0,
    VGL_EXIT_PROBLEMS = 1, /* invalid config/rules/plugins, test mismatch */
    VGL_EXIT_USAGE = 2,
    VGL_EXIT_RUNTIME = 3   /* could not start, or a fatal Kafka error */
};

int vgl_cmd_run(int argc, char **argv);
int vgl_cmd_check(int argc, char **argv);
int vgl_cmd_test(int argc, char **argv);
int vgl_cmd_broker(int argc, char **argv);
int vgl_cmd_plugins(int argc, char **argv);
int vgl_cmd_respond(int argc, char **argv);

/* The config file to use: the -c argument, else $VIGIL_CONFIG, else
 * SYSCONFDIR/vigil.yaml, else ./configs/vigil.yaml. */
const char *vgl_cli_config_path(const char *arg);
/* Load a config, printing every diagnostic to stderr; NULL on problems. */
vgl_config *vgl_cli_load_config(const char *path);
/* Apply -v/-q counts and the config's log.level. */
void vgl_cli_set_log_level(const vgl_config *cfg, int verbose);

#endif
