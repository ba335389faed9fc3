/* `vigil run` and `vigil broker`: the daemon and the standalone cluster. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kafka.h"
#include "log.h"
#include "observe.h"
#include "pipeline.h"
#include "stages.h"

static vgl_pipeline *volatile running_pipeline;
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (running_pipeline)
        vgl_pipeline_stop(running_pipeline);
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Write the bootstrap list where scripts can read it (atomic rename). */
static bool write_bootstrap_file(const char *path, const char *bootstraps)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp)
        return false;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%s\n", bootstraps) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok;
}

static vgl_embedded *start_embedded(const vgl_config *cfg, int brokers, char *err, size_t errlen)
{
    vgl_embedded *e = vgl_embedded_start(brokers, err, errlen);
    if (!e)
        return NULL;
    const char *topics[64];
    size_t n = vgl_config_topics(cfg, topics, 64);
    for (size_t i = 0; i < n; i++) {
        if (vgl_embedded_create_topic(e, topics[i], vgl_config_topic_partitions(cfg, topics[i]),
                                      err, errlen) != VGL_OK) {
            vgl_embedded_stop(e);
            return NULL;
        }
    }
    return e;
}

static const char run_usage[] =
    "Usage: vigil run [-c FILE] [--bootstrap-file PATH] [-v|-q]\n"
    "\n"
    "Run the daemon: join the consumer group kafka.group, consume every inputs[].topic,\n"
    "and write alerts, incidents, actions and dead letters to the output topics.\n"
    "With kafka.brokers: embedded, start the embedded Kafka cluster in-process first\n"
    "(for demos and labs; it keeps at most 5 MiB or 100,000 batches per partition).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE        configuration file (see 'vigil --help')\n"
    "      --bootstrap-file P   write the Kafka bootstrap list to P once running\n"
    "                           (useful with the embedded cluster)\n"
    "  -v, --verbose            more logging (repeat for debug)\n"
    "  -q, --quiet              less logging\n"
    "  -h, --help               this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop (drain, flush, commit, exit 0 within\n"
    "limits.shutdown_timeout); SIGHUP reloads the rules.\n";

int vgl_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"bootstrap-file", required_argument, NULL, 'B'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_arg = NULL, *bootstrap_file = NULL;
    int verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_arg = optarg; break;
        case 'B': bootstrap_file = optarg; break;
        case 'v': verbose++; break;
        case 'q': verbose--; break;
        case 'h': fputs(run_usage, stdout); return VGL_EXIT_OK;
        default: fputs(run_usage, stderr); return VGL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil run: unexpected argument '%s'\n", argv[optind]);
        return VGL_EXIT_USAGE;
    }
    const char *path = vgl_cli_config_path(cfg_arg);
    vgl_config *cfg = vgl_cli_load_config(path);
    if (!cfg)
        return VGL_EXIT_PROBLEMS;
    vgl_cli_set_log_level(cfg, verbose);
    install_signals();

    int rc = VGL_EXIT_OK;
    char err[1024];
    vgl_embedded *emb = NULL;
    vgl_stages *stages = NULL;
    vgl_pipeline *p = NULL;
    vgl_observe *obs = NULL;
    const char *brokers = cfg->kafka.brokers;
    if (strcmp(brokers, "embedded") == 0) {
        emb = start_embedded(cfg, cfg->kafka.embedded_brokers, err, sizeof(err));
        if (!emb) {
            vgl_error("cannot start the embedded Kafka cluster", "error=%s", err);
            rc = VGL_EXIT_RUNTIME;
            goto out;
        }
        brokers = vgl_embedded_bootstraps(emb);
        vgl_info("embedded Kafka cluster started (for demos and labs, not retention)",
                 "bootstrap=%s brokers=%d partitions=%d", brokers, cfg->kafka.embedded_brokers,
                 cfg->kafka.embedded_partitions);
    }
    stages = vgl_stages_new(cfg, err, sizeof(err));
    if (!stages) {
        fprintf(stderr, "%s\n", err);
        rc = VGL_EXIT_PROBLEMS;
        goto out;
    }
    vgl_stage_hooks hooks;
    vgl_stages_hooks(stages, &hooks);
    p = vgl_pipeline_new(cfg, brokers, &hooks, err, sizeof(err));
    if (!p) {
        vgl_error("cannot start the pipeline", "error=%s", err);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    if (vgl_stages_start(stages, (unsigned)(cfg->limits.workers > 0 ? cfg->limits.workers : 1),
                         vgl_pipeline_produce_topic, p, err, sizeof(err)) != VGL_OK) {
        fprintf(stderr, "%s\n", err);
        rc = VGL_EXIT_PROBLEMS;
        goto out;
    }
    vgl_info("stages ready", "plugins=%zu rules=%zu", vgl_stages_plugin_count(stages),
             vgl_stages_rule_count(stages));
    obs = vgl_observe_start(cfg, p, stages, err, sizeof(err));
    if (!obs) {
        vgl_error("cannot start the metrics endpoint", "error=%s", err);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    if (bootstrap_file && !write_bootstrap_file(bootstrap_file, brokers)) {
        vgl_error("cannot write the bootstrap file", "path=%s", bootstrap_file);
        rc = VGL_EXIT_RUNTIME;
        goto out;
    }
    running_pipeline = p;
    if (stop_requested)
        vgl_pipeline_stop(p);
    vgl_stages_set_reload_flag(stages, &reload_requested);
    if (vgl_pipeline_run(p) != VGL_OK)
        rc = VGL_EXIT_RUNTIME;
    running_pipeline = NULL;
out:
    vgl_stages_stop(stages);
    vgl_observe_stop(obs);
    vgl_pipeline_free(p);
    vgl_stages_free(stages);
    vgl_embedded_stop(emb);
    vgl_config_free(cfg);
    vgl_path_registry_free();
    return rc;
}

static const char broker_usage[] =
    "Usage: vigil broker [--brokers N] [--topic NAME:PARTITIONS]... [-c FILE]\n"
    "\n"
    "Run a standalone embedded Kafka cluster (librdkafka's mock cluster, the Kafka\n"
    "protocol on loopback) until SIGTERM/SIGINT. The first line of stdout is the\n"
    "bootstrap list, for kcat or any Kafka client:\n"
    "  BS=$(vigil broker --topic events:8 | head -1)   # in practice: read it from a fifo/file\n"
    "\n"
    "It keeps at most 5 MiB or 100,000 message batches per partition and silently\n"
    "drops the oldest beyond that: size test topics to fit. Not for production.\n"
    "\n"
    "Options:\n"
    "  -b, --brokers N               number of brokers (default 1)\n"
    "  -t, --topic NAME:PARTITIONS   create a topic (repeatable; PARTITIONS default 4)\n"
    "  -c, --config FILE             also create every topic of this configuration\n"
    "                                (with kafka.embedded.partitions)\n"
    "  -h, --help                    this help\n";

int vgl_cmd_broker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int nbrokers = 1, c;
    const char *topics[256];
    int parts[256];
    size_t ntopics = 0;
    const char *cfg_arg = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 16) {
                fprintf(stderr, "vigil broker: --brokers must be 1..16, got '%s'\n", optarg);
                return VGL_EXIT_USAGE;
            }
            nbrokers = (int)v;
            break;
        }
        case 't': {
            if (ntopics >= 256) {
                fprintf(stderr, "vigil broker: at most 256 --topic options\n");
                return VGL_EXIT_USAGE;
            }
            char *colon = strrchr(optarg, ':');
            int np = 4;
            if (colon) {
                char *end;
                long v = strtol(colon + 1, &end, 10);
                if (*end || v < 1 || v > 4096) {
                    fprintf(stderr, "vigil broker: bad partition count in '%s' (1..4096)\n",
                            optarg);
                    return VGL_EXIT_USAGE;
                }
                np = (int)v;
                *colon = '\0';
            }
            if (!*optarg) {
                fprintf(stderr, "vigil broker: empty topic name\n");
                return VGL_EXIT_USAGE;
            }
            topics[ntopics] = optarg;
            parts[ntopics++] = np;
            break;
        }
        case 'c': cfg_arg = optarg; break;
        case 'h': fputs(broker_usage, stdout); return VGL_EXIT_OK;
        default: fputs(broker_usage, stderr); return VGL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil broker: unexpected argument '%s'\n", argv[optind]);
        return VGL_EXIT_USAGE;
    }
    vgl_config *cfg = NULL;
    if (cfg_arg && !(cfg = vgl_cli_load_config(cfg_arg)))
        return VGL_EXIT_PROBLEMS;
    install_signals();
    char err[512];
    vgl_embedded *e = vgl_embedded_start(nbrokers, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "vigil broker: %s\n", err);
        vgl_config_free(cfg);
        return VGL_EXIT_RUNTIME;
    }
    int rc = VGL_EXIT_OK;
    for (size_t i = 0; i < ntopics && rc == VGL_EXIT_OK; i++)
        if (vgl_embedded_create_topic(e, topics[i], parts[i], err, sizeof(err)) != VGL_OK)
            rc = VGL_EXIT_RUNTIME;
    if (cfg && rc == VGL_EXIT_OK) {
        const char *ct[64];
        size_t n = vgl_config_topics(cfg, ct, 64);
        for (size_t i = 0; i < n && rc == VGL_EXIT_OK; i++)
            if (vgl_embedded_create_topic(e, ct[i], vgl_config_topic_partitions(cfg, ct[i]), err,
                                          sizeof(err)) != VGL_OK)
                rc = VGL_EXIT_RUNTIME;
    }
    if (rc != VGL_EXIT_OK) {
        fprintf(stderr, "vigil broker: %s\n", err);
    } else {
        printf("%s\n", vgl_embedded_bootstraps(e));
        fflush(stdout);
        vgl_info("embedded Kafka cluster running", "bootstrap=%s brokers=%d",
                 vgl_embedded_bootstraps(e), nbrokers);
        /* wait for SIGTERM/SIGINT without a check-then-sleep race */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &old);
        while (!stop_requested)
            sigsuspend(&old);
        sigprocmask(SIG_SETMASK, &old, NULL);
        vgl_info("embedded Kafka cluster stopping", "bootstrap=%s", vgl_embedded_bootstraps(e));
    }
    vgl_embedded_stop(e);
    vgl_config_free(cfg);
    return rc;
}
