/* `vigil check`: validate the configuration, plugins and rules. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "stages.h"

static const char check_usage[] =
    "Usage: vigil check [-c FILE]\n"
    "\n"
    "Validate the configuration file, load every plugin it names and compile every\n"
    "rule, and print every problem found (file:line:col: message, one per line).\n"
    "Exit 0 when all is well, 1 when any problem was found.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (see 'vigil --help')\n"
    "  -h, --help          this help\n";

int vgl_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_arg = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_arg = optarg; break;
        case 'h': fputs(check_usage, stdout); return VGL_EXIT_OK;
        default: fputs(check_usage, stderr); return VGL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil check: unexpected argument '%s'\n", argv[optind]);
        return VGL_EXIT_USAGE;
    }
    const char *path = vgl_cli_config_path(cfg_arg);
    vgl_log_set_level(VGL_LOG_WARN);
    vgl_config *cfg = vgl_cli_load_config(path);
    if (!cfg)
        return VGL_EXIT_PROBLEMS;
    char err[8192];
    vgl_stages *st = vgl_stages_new(cfg, err, sizeof(err));
    int rc = VGL_EXIT_OK;
    if (!st) {
        fprintf(stderr, "%s\n", err);
        rc = VGL_EXIT_PROBLEMS;
    } else {
        printf("%s: ok\n", path);
    }
    vgl_stages_free(st);
    vgl_config_free(cfg);
    vgl_path_registry_free();
    return rc;
}
