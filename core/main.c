/* vigil: command-line entry point and help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"

#ifndef VGL_SYSCONFDIR
#define VGL_SYSCONFDIR "/etc/vigil"
#endif

static const char usage[] =
    "Usage: vigil COMMAND [OPTIONS]\n"
    "\n"
    "vigil: security detection and response over Kafka.\n"
    "\n"
    "Commands:\n"
    "  run        run the daemon: consume the input topics, detect, write alerts,\n"
    "             incidents and actions to the output topics\n"
    "  respond    carry out response actions: consume the actions topic, run the\n"
    "             responder plugin, write the outcomes to the action results topic\n"
    "  check      validate the configuration, plugins and rules; print every problem\n"
    "  test       replay event files through the pipeline offline (no Kafka)\n"
    "  broker     run a standalone embedded Kafka cluster for labs and tests\n"
    "  plugins    list the plugins found on the plugin path\n"
    "  version    print the version\n"
    "\n"
    "Run 'vigil COMMAND --help' for a command's options.\n"
    "\n"
    "The configuration file is -c FILE, else $VIGIL_CONFIG, else\n"
    "  " VGL_SYSCONFDIR "/vigil.yaml, else ./configs/vigil.yaml.\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  problems found: invalid configuration, rules or plugins; a test mismatch\n"
    "  2  usage error\n"
    "  3  runtime failure: could not start, or a fatal Kafka error\n"
    "\n"
    "Logs go to stderr in logfmt (ts= level= msg= ...). Documentation: docs/.\n";

const char *vgl_cli_config_path(const char *arg)
{
    if (arg)
        return arg;
    const char *env = getenv("VIGIL_CONFIG");
    if (env && *env)
        return env;
    if (access(VGL_SYSCONFDIR "/vigil.yaml", R_OK) == 0)
        return VGL_SYSCONFDIR "/vigil.yaml";
    return "configs/vigil.yaml";
}

vgl_config *vgl_cli_load_config(const char *path)
{
    vgl_diag diag = {0};
    vgl_config *cfg = vgl_config_load(path, &diag);
    for (size_t i = 0; i < diag.n; i++)
        fprintf(stderr, "%s\n", diag.msgs[i]);
    if (!cfg && diag.n == 0)
        fprintf(stderr, "%s: cannot load the configuration\n", path);
    vgl_diag_free(&diag);
    return cfg;
}

void vgl_cli_set_log_level(const vgl_config *cfg, int verbose)
{
    vgl_log_level lvl = VGL_LOG_INFO;
    if (cfg && cfg->log.level)
        vgl_log_level_parse(cfg->log.level, &lvl);
    int l = (int)lvl + verbose;
    if (l < VGL_LOG_ERROR)
        l = VGL_LOG_ERROR;
    if (l > VGL_LOG_DEBUG)
        l = VGL_LOG_DEBUG;
    vgl_log_set_level((vgl_log_level)l);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return VGL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return VGL_EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("vigil %s\n", PACKAGE_VERSION);
        return VGL_EXIT_OK;
    }
    /* each command parses argv[1..] with argv[0] = command name */
    if (strcmp(cmd, "run") == 0)
        return vgl_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "respond") == 0)
        return vgl_cmd_respond(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return vgl_cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "test") == 0)
        return vgl_cmd_test(argc - 1, argv + 1);
    if (strcmp(cmd, "broker") == 0)
        return vgl_cmd_broker(argc - 1, argv + 1);
    if (strcmp(cmd, "plugins") == 0)
        return vgl_cmd_plugins(argc - 1, argv + 1);
    fprintf(stderr, "vigil: unknown command '%s'\n\n%s", cmd, usage);
    return VGL_EXIT_USAGE;
}
