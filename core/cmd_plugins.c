/* `vigil plugins`: list every plugin on the search path. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "plugin.h"

static const char plugins_usage[] =
    "Usage: vigil plugins [-c FILE] [--options] [--path DIR]...\n"
    "\n"
    "List every plugin found on the search path (plugin_path from the config, then\n"
    "the installed plugin directory, then the build tree when run uninstalled),\n"
    "with its kind, version and ABI. A plugin that cannot be loaded is listed with\n"
    "its reason. Exit 0 when every plugin found can be loaded, 1 otherwise.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration file whose plugin_path to search; when no\n"
    "                      config file exists, only the default directories\n"
    "  -p, --path DIR      search DIR first (repeatable)\n"
    "  -o, --options       also list each plugin's configuration keys\n"
    "  -h, --help          this help\n";

int vgl_cmd_plugins(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"path", required_argument, NULL, 'p'},
        {"options", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_arg = NULL;
    char *extra[32];
    size_t nextra = 0;
    bool show_opts = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:oh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_arg = optarg; break;
        case 'p':
            if (nextra == sizeof(extra) / sizeof(extra[0])) {
                fputs("vigil plugins: too many --path options (max 32)\n", stderr);
                return VGL_EXIT_USAGE;
            }
            extra[nextra++] = optarg;
            break;
        case 'o': show_opts = true; break;
        case 'h': fputs(plugins_usage, stdout); return VGL_EXIT_OK;
        default: fputs(plugins_usage, stderr); return VGL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil plugins: unexpected argument '%s'\n", argv[optind]);
        return VGL_EXIT_USAGE;
    }
    vgl_log_set_level(VGL_LOG_WARN);
    vgl_config *cfg = NULL;
    const char *path = vgl_cli_config_path(cfg_arg);
    FILE *probe = fopen(path, "r");
    if (probe) {
        fclose(probe);
        cfg = vgl_cli_load_config(path);
        if (!cfg)
            return VGL_EXIT_PROBLEMS;
    } else if (cfg_arg) {
        fprintf(stderr, "vigil plugins: cannot open config '%s'\n", cfg_arg);
        return VGL_EXIT_PROBLEMS;
    }
    char *search[64 + 32];
    size_t ns = 0;
    for (size_t i = 0; i < nextra; i++)
        search[ns++] = extra[i];
    if (cfg)
        for (size_t i = 0; i < cfg->nplugin_path && ns < 64; i++)
            search[ns++] = cfg->plugin_path[i];
    vgl_plugin_dirs dirs = {0};
    int rc = VGL_EXIT_OK;
    if (vgl_plugin_dirs_init(&dirs, search, ns) != VGL_OK) {
        fputs("vigil plugins: out of memory\n", stderr);
        vgl_config_free(cfg);
        return VGL_EXIT_RUNTIME;
    }
    vgl_plugin_list list = {0};
    if (vgl_plugins_list((const char *const *)dirs.dirs, dirs.n, &list) != VGL_OK) {
        fputs("vigil plugins: out of memory\n", stderr);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    printf("search path:");
    for (size_t i = 0; i < dirs.n; i++)
        printf(" %s", dirs.dirs[i]);
    printf("\n");
    if (list.n == 0)
        printf("no plugins found\n");
    else
        printf("%-9s %-16s %-10s %-6s %s\n", "KIND", "NAME", "VERSION", "ABI", "PATH / DESCRIPTION");
    for (size_t i = 0; i < list.n; i++) {
        const vgl_plugin_entry *e = &list.items[i];
        char abi[32];
        if (e->version)
            snprintf(abi, sizeof(abi), "%u.%u", e->abi_major, e->abi_minor);
        else
            snprintf(abi, sizeof(abi), "-");
        printf("%-9s %-16s %-10s %-6s %s\n",
               e->kind ? vgl_plugin_kind_name(e->kind) : "?", e->name,
               e->version ? e->version : "-", abi, e->path);
        if (e->error) {
            printf("          error: %s\n", e->error);
            rc = VGL_EXIT_PROBLEMS;
        } else if (e->shadowed_by) {
            printf("          shadowed by %s\n", e->shadowed_by);
        } else if (e->description) {
            printf("          %s\n", e->description);
        }
        if (show_opts)
            for (size_t k = 0; k < e->noptions; k++) {
                const vgl_plugin_entry_option *o = &e->options[k];
                printf("          - %s (%s%s%s%s): %s\n", o->name, vgl_option_type_name(o->type),
                       o->required ? ", required" : "", o->default_value ? ", default " : "",
                       o->default_value ? o->default_value : "",
                       o->description ? o->description : "");
            }
    }
out:
    vgl_plugin_list_free(&list);
    vgl_plugin_dirs_free(&dirs);
    vgl_config_free(cfg);
    vgl_path_registry_free();
    return rc;
}
