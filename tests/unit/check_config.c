/*
 * Tests of the configuration loader: the shipped default config, every
 * error message with its exact position, ${} substitution, relative paths,
 * value formats, hostile YAML (aliases, nesting, size) and ownership.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#ifndef VGL_SRCDIR
#define VGL_SRCDIR "."
#endif
#ifndef VGL_TEST_DATA
#define VGL_TEST_DATA VGL_SRCDIR "/tests/data"
#endif
#define CFG_DATA VGL_TEST_DATA "/config"

/* The leak checkers that can answer from inside a test: LSan in ASan
 * builds, memcheck when running under valgrind. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

/* ------------------------------------------------------------- helpers */

/* The diagnostics, one per line, for exact comparison. */
static char *diag_text(const vgl_diag *d)
{
    size_t len = 1;
    for (size_t i = 0; i < d->n; i++)
        len += strlen(d->msgs[i]) + 1;
    char *s = malloc(len);
    ck_assert_ptr_nonnull(s);
    s[0] = '\0';
    for (size_t i = 0; i < d->n; i++) {
        strcat(s, d->msgs[i]);
        strcat(s, "\n");
    }
    return s;
}

/* Load yaml (named t.yaml) and expect exactly these messages. */
static void expect_errors(const char *yaml, const char *expected)
{
    vgl_diag d = {0};
    vgl_config *c = vgl_config_load_string(yaml, strlen(yaml), "t.yaml", &d);
    char *got = diag_text(&d);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(got, expected);
    free(got);
    vgl_diag_free(&d);
}

/* Load yaml under name and expect no message. */
static vgl_config *load_named(const char *yaml, const char *name)
{
    vgl_diag d = {0};
    vgl_config *c = vgl_config_load_string(yaml, strlen(yaml), name, &d);
    char *got = diag_text(&d);
    ck_assert_msg(d.n == 0, "unexpected diagnostics:\n%s", got);
    ck_assert_ptr_nonnull(c);
    free(got);
    vgl_diag_free(&d);
    return c;
}

static vgl_config *load_ok(const char *yaml) { return load_named(yaml, "t.yaml"); }

static vgl_config *load_file_ok(const char *path)
{
    vgl_diag d = {0};
    vgl_config *c = vgl_config_load(path, &d);
    char *got = diag_text(&d);
    ck_assert_msg(d.n == 0, "unexpected diagnostics:\n%s", got);
    ck_assert_ptr_nonnull(c);
    free(got);
    vgl_diag_free(&d);
    return c;
}

static void assert_strv(char **v, size_t n, const char *const *want, size_t nwant)
{
    ck_assert_uint_eq(n, nwant);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(v[i], want[i]);
}

static const char *const default_time_fields[] = {"@timestamp", "TimeGenerated", "time",
                                                  "TimeCreated", "timestamp"};
#define NDEFAULT_TIME_FIELDS 5

/* --------------------------------------------------------- the defaults */

START_TEST(test_defaults)
{
    vgl_config *c = vgl_config_defaults();
    ck_assert_ptr_null(c->path);
    ck_assert_ptr_null(c->root);
    ck_assert_str_eq(c->kafka.brokers, "embedded");
    ck_assert_int_eq(c->kafka.embedded_brokers, 1);
    ck_assert_int_eq(c->kafka.embedded_partitions, 4);
    ck_assert_str_eq(c->kafka.group, "vigil");
    ck_assert_uint_eq(c->kafka.nproperties, 0);
    ck_assert_uint_eq(c->ninputs, 0);
    ck_assert_str_eq(c->outputs.alerts, "vigil.alerts");
    ck_assert_str_eq(c->outputs.incidents, "vigil.incidents");
    ck_assert_str_eq(c->outputs.actions, "vigil.actions");
    ck_assert_str_eq(c->outputs.action_results, "vigil.action-results");
    ck_assert_str_eq(c->outputs.dead_letter, "vigil.dead-letter");
    ck_assert_ptr_null(c->outputs.events);
    ck_assert_int_eq(c->outputs.format, VGL_FMT_JSON);
    ck_assert_int_eq(c->outputs.alert_schema_id, 1);
    ck_assert_int_eq(c->outputs.incident_schema_id, 2);
    ck_assert_int_eq(c->outputs.action_schema_id, 3);
    ck_assert_int_eq(c->outputs.event_schema_id, 4);
    ck_assert_uint_eq(c->nplugin_path, 0);
    ck_assert_uint_eq(c->nplugins, 0);
    ck_assert_uint_eq(c->nrule_paths, 0);
    ck_assert_int_eq(c->incidents.group_by, VGL_GROUP_ANY);
    ck_assert_int_eq(c->incidents.group_window_ms, 5 * 3600 * 1000LL);
    ck_assert_uint_eq(c->incidents.max_open, 100000);
    ck_assert_uint_eq(c->incidents.max_alerts_per_rule_per_min, 600);
    ck_assert_uint_eq(c->nautomation, 0);
    ck_assert(!c->response.dry_run);
    ck_assert_uint_eq(c->response.nprotected_ips, 0);
    ck_assert_uint_eq(c->response.nrate_limits, 0);
    ck_assert_ptr_null(c->response.responder);
    ck_assert_str_eq(c->response.group, "vigil-respond");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(c->limits.workers, cpus < 1 ? 1 : cpus);
    ck_assert_uint_eq(c->limits.max_message_bytes, 1048576);
    ck_assert_uint_eq(c->limits.max_depth, 64);
    ck_assert_uint_eq(c->limits.event_memory, 4194304);
    ck_assert_uint_eq(c->limits.queue_events, 10000);
    ck_assert_int_eq(c->limits.shutdown_timeout_ms, 30000);
    ck_assert_int_eq(c->limits.allowed_lateness_ms, 300000);
    ck_assert_uint_eq(c->limits.max_keys_per_rule, 100000);
    ck_assert_uint_eq(c->limits.rule_max_failures, 100);
    ck_assert_uint_eq(c->limits.max_evidence, 10);
    ck_assert_uint_eq(c->limits.lua_memory, 64u << 20);
    ck_assert_uint_eq(c->limits.lua_instructions, 1000000);
    ck_assert_ptr_null(c->metrics.listen);
    ck_assert_str_eq(c->log.level, "info");
    ck_assert_int_eq(c->log.stats_interval_ms, 60000);
    vgl_config_free(c);
}
END_TEST

/* The shipped file loads cleanly and writes out exactly the defaults. */
START_TEST(test_default_config_loads)
{
    vgl_config *c = load_file_ok(VGL_SRCDIR "/configs/vigil.yaml");
    vgl_config *def = vgl_config_defaults();
    static const char *const topics[] = {"vigil.in.winevent", "vigil.in.entra-signin",
                                         "vigil.in.azure-activity", "vigil.in.defender",
                                         "vigil.in.nsg-flow"};
    static const char *const sources[] = {"winevent", "entra-signin", "azure-activity",
                                          "defender", "nsg-flow"};

    ck_assert_str_eq(c->path, VGL_SRCDIR "/configs/vigil.yaml");
    ck_assert_ptr_nonnull(c->root);
    ck_assert_str_eq(c->kafka.brokers, "embedded");
    ck_assert_str_eq(c->kafka.group, "vigil");
    ck_assert_int_eq(c->kafka.embedded_brokers, def->kafka.embedded_brokers);
    ck_assert_int_eq(c->kafka.embedded_partitions, def->kafka.embedded_partitions);
    ck_assert_uint_eq(c->kafka.nproperties, 0);

    ck_assert_uint_eq(c->ninputs, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(c->inputs[i].topic, topics[i]);
        ck_assert_str_eq(c->inputs[i].source, sources[i]);
        ck_assert_int_eq(c->inputs[i].format, VGL_FMT_JSON);
        ck_assert_ptr_null(c->inputs[i].schema);
        ck_assert_ptr_null(c->inputs[i].schema_dir);
        assert_strv(c->inputs[i].time_fields, c->inputs[i].ntime_fields, default_time_fields,
                    NDEFAULT_TIME_FIELDS);
    }

    ck_assert_str_eq(c->outputs.alerts, def->outputs.alerts);
    ck_assert_str_eq(c->outputs.incidents, def->outputs.incidents);
    ck_assert_str_eq(c->outputs.actions, def->outputs.actions);
    ck_assert_str_eq(c->outputs.action_results, def->outputs.action_results);
    ck_assert_str_eq(c->outputs.dead_letter, def->outputs.dead_letter);
    ck_assert_ptr_null(c->outputs.events);
    ck_assert_int_eq(c->outputs.format, def->outputs.format);
    /* "schemas" beside the file: configs/schemas here, <sysconfdir>/vigil/schemas
     * once installed (the default). */
    ck_assert_str_eq(c->outputs.schema_dir, VGL_SRCDIR "/configs/schemas");
    ck_assert_int_eq(c->outputs.alert_schema_id, def->outputs.alert_schema_id);
    ck_assert_int_eq(c->outputs.incident_schema_id, def->outputs.incident_schema_id);
    ck_assert_int_eq(c->outputs.action_schema_id, def->outputs.action_schema_id);
    ck_assert_int_eq(c->outputs.event_schema_id, def->outputs.event_schema_id);

    ck_assert_uint_eq(c->nplugin_path, 0);
    ck_assert_uint_eq(c->nplugins, 0);
    ck_assert_uint_eq(c->nrule_paths, 1);
    ck_assert_str_eq(c->rule_paths[0], VGL_SRCDIR "/configs/../lua/rules");

    ck_assert_int_eq(c->incidents.group_by, def->incidents.group_by);
    ck_assert_int_eq(c->incidents.group_window_ms, def->incidents.group_window_ms);
    ck_assert_uint_eq(c->incidents.max_open, def->incidents.max_open);
    ck_assert_uint_eq(c->incidents.max_alerts_per_rule_per_min,
                      def->incidents.max_alerts_per_rule_per_min);
    ck_assert_int_eq(c->incidents.per_worker, def->incidents.per_worker);
    ck_assert_str_eq(c->incidents.topic, def->incidents.topic);
    /* the shipped config carries one automation rule, in dry run */
    ck_assert_uint_eq(c->nautomation, 1);
    ck_assert(c->automation[0].dry_run);
    ck_assert_str_eq(c->automation[0].actions[0].action, "block_ip");
    ck_assert_int_eq(c->response.dry_run, def->response.dry_run);
    ck_assert_uint_eq(c->response.nprotected_ips, 0);
    ck_assert_uint_eq(c->response.nprotected_accounts, 0);
    ck_assert_uint_eq(c->response.nprotected_hosts, 0);
    ck_assert_uint_eq(c->response.nrate_limits, 0);
    ck_assert_ptr_null(c->response.responder);
    ck_assert_str_eq(c->response.group, def->response.group);
    ck_assert(memcmp(&c->limits, &def->limits, sizeof(c->limits)) == 0);
    ck_assert_ptr_null(c->metrics.listen);
    ck_assert_str_eq(c->log.level, def->log.level);
    ck_assert_int_eq(c->log.stats_interval_ms, def->log.stats_interval_ms);
    vgl_config_free(def);
    vgl_config_free(c);
}
END_TEST

/* No file content, comments only, or a null document: every default. */
START_TEST(test_empty_documents)
{
    static const char *const docs[] = {"", "# nothing here\n", "~\n", "---\n...\n",
                                       "kafka:\ninputs:\nlimits: ~\n"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        vgl_config *c = load_ok(docs[i]);
        ck_assert_str_eq(c->kafka.brokers, "embedded");
        ck_assert_uint_eq(c->ninputs, 0);
        ck_assert_uint_eq(c->limits.queue_events, 10000);
        vgl_config_free(c);
    }
}
END_TEST

/* ---------------------------------------------------- error reporting */

START_TEST(test_three_mistakes)
{
    vgl_diag d = {0};
    const char *path = CFG_DATA "/three_mistakes.yaml";
    vgl_config *c = vgl_config_load(path, &d);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_str_eq(d.msgs[0], CFG_DATA "/three_mistakes.yaml:4:3: unknown key 'grup' in kafka "
                                "(did you mean 'group'?)");
    ck_assert_str_eq(d.msgs[1], CFG_DATA "/three_mistakes.yaml:7:13: inputs[0].format must be "
                                "one of json, avro, avro-confluent (got 'xml')");
    ck_assert_str_eq(d.msgs[2], CFG_DATA "/three_mistakes.yaml:9:21: limits.shutdown_timeout: "
                                "invalid duration '10x' (use e.g. 500ms, 30s, 10m, 5h, 7d)");
    vgl_diag_free(&d);
}
END_TEST

START_TEST(test_unknown_keys)
{
    expect_errors("kafka:\n  grup: x\n",
                  "t.yaml:2:3: unknown key 'grup' in kafka (did you mean 'group'?)\n");
    expect_errors("kafak: {}\n", "t.yaml:1:1: unknown key 'kafak' (did you mean 'kafka'?)\n");
    /* a prefix, either way */
    expect_errors("inputs:\n  - topic: a\n    time: [ts]\n",
                  "t.yaml:3:5: unknown key 'time' in inputs[0] (did you mean 'time_fields'?)\n");
    expect_errors("incidents:\n  max_open_incidents: 5\n",
                  "t.yaml:2:3: unknown key 'max_open_incidents' in incidents "
                  "(did you mean 'max_open'?)\n");
    /* case and transpositions */
    expect_errors("Limits: {Workers: 2}\nkafka: {embeded: {}}\n",
                  "t.yaml:1:1: unknown key 'Limits' (did you mean 'limits'?)\n"
                  "t.yaml:2:9: unknown key 'embeded' in kafka (did you mean 'embedded'?)\n");
    /* nothing close: no suggestion */
    expect_errors("log:\n  colour: red\nzzz: 1\n",
                  "t.yaml:2:3: unknown key 'colour' in log\n"
                  "t.yaml:3:1: unknown key 'zzz'\n");
    /* nested sections name their place */
    expect_errors("automation:\n  - name: a\n    when: {sev: high}\n    do:\n"
                  "      - {action: x, paramz: {}}\n",
                  "t.yaml:3:12: unknown key 'sev' in automation[0].when "
                  "(did you mean 'severity'?)\n"
                  "t.yaml:5:21: unknown key 'paramz' in automation[0].do[0] "
                  "(did you mean 'params'?)\n");
    /* hostile key text is escaped and cut */
    expect_errors("\"a'\\tb\": 1\n", "t.yaml:1:1: unknown key 'a\\'\\x09b'\n");
}
END_TEST

START_TEST(test_type_errors)
{
    expect_errors("kafka: [a]\n", "t.yaml:1:8: kafka: expected a map (got a list)\n");
    expect_errors("inputs: {topic: a}\n", "t.yaml:1:9: inputs: expected a list (got a map)\n");
    expect_errors("plugin_path: /opt/x\n",
                  "t.yaml:1:14: plugin_path: expected a list (got '/opt/x')\n");
    expect_errors("kafka:\n  group: {a: 1}\n  embedded: {partitions: four}\n",
                  "t.yaml:2:10: kafka.group: expected a string (got a map)\n"
                  "t.yaml:3:26: kafka.embedded.partitions: expected an integer (got 'four')\n");
    expect_errors("limits: {workers: 2.5, max_depth: [1]}\n",
                  "t.yaml:1:19: limits.workers: expected an integer (got '2.5')\n"
                  "t.yaml:1:35: limits.max_depth: expected an integer (got a list)\n");
    expect_errors("response: {dry_run: yes}\nautomation: [{name: a, do: [{action: b}], "
                  "dry_run: 1}]\n",
                  "t.yaml:1:21: response.dry_run: expected true or false (got 'yes')\n"
                  "t.yaml:2:52: automation[0].dry_run: expected true or false (got '1')\n");
    expect_errors("inputs: [a, ~]\n",
                  "t.yaml:1:10: inputs[0]: expected a map (got 'a')\n"
                  "t.yaml:1:13: inputs[1]: expected a map (got an empty value)\n");
    expect_errors("rules: {paths: [a, \"\", [b]]}\n",
                  "t.yaml:1:20: rules.paths[1] must not be empty\n"
                  "t.yaml:1:24: rules.paths[2]: expected a string (got a list)\n");
    expect_errors("kafka: {properties: {a: [1], b: ~}}\n",
                  "t.yaml:1:25: kafka.properties.a: expected a value (got a list)\n"
                  "t.yaml:1:33: kafka.properties.b: expected a value (got an empty value)\n");
    expect_errors("hello\n", "t.yaml:1:1: expected a map of sections (kafka, inputs, ...) at "
                             "the top level (got 'hello')\n");
    expect_errors("- a\n", "t.yaml:1:1: expected a map of sections (kafka, inputs, ...) at "
                           "the top level (got a list)\n");
    /* quoted scalars are accepted where the type allows the text */
    vgl_config *c = load_ok("limits: {workers: \"3\"}\nresponse: {dry_run: \"true\"}\n"
                            "kafka: {group: 123}\n");
    ck_assert_int_eq(c->limits.workers, 3);
    ck_assert(c->response.dry_run);
    ck_assert_str_eq(c->kafka.group, "123");
    vgl_config_free(c);
}
END_TEST

START_TEST(test_enum_errors)
{
    expect_errors("inputs: [{topic: a, format: xml}]\n",
                  "t.yaml:1:29: inputs[0].format must be one of json, avro, avro-confluent "
                  "(got 'xml')\n");
    expect_errors("outputs: {format: avro-confluent}\n",
                  "t.yaml:1:19: outputs.format must be one of json, avro (got 'avro-confluent')\n");
    expect_errors("incidents: {group_by: host}\n",
                  "t.yaml:1:23: incidents.group_by must be one of any, all, rule (got 'host')\n");
    expect_errors("log: {level: verbose}\n",
                  "t.yaml:1:14: log.level must be one of error, warn, info, debug "
                  "(got 'verbose')\n");
    expect_errors("log: {level: [info]}\n",
                  "t.yaml:1:14: log.level must be one of error, warn, info, debug "
                  "(got a list)\n");
    expect_errors("automation:\n  - name: a\n    when:\n      severity: [high, severe]\n"
                  "      entity_type: ipaddr\n    do:\n      - {action: block, target: user}\n",
                  "t.yaml:4:24: automation[0].when.severity[1] must be one of informational, "
                  "low, medium, high, critical (got 'severe')\n"
                  "t.yaml:5:20: automation[0].when.entity_type must be one of ip, account, host, "
                  "url, filehash, process, resource, domain, mailbox (got 'ipaddr')\n"
                  "t.yaml:7:33: automation[0].do[0].target must be one of ip, account, host, "
                  "url, filehash, process, resource, domain, mailbox (got 'user')\n");
    /* every allowed value loads */
    vgl_config *c = load_ok("inputs:\n  - {topic: a, format: json}\n"
                            "  - {topic: b, format: avro, schema: b.avsc}\n"
                            "  - {topic: c, format: avro-confluent, schema_dir: s}\n"
                            "outputs: {format: avro}\nincidents: {group_by: all}\n"
                            "log: {level: error}\n"
                            "automation:\n  - name: x\n    when:\n"
                            "      severity: [informational, low, medium, high, critical]\n"
                            "      entity_type: [ip, account, host, url, filehash, process, "
                            "resource, domain, mailbox]\n"
                            "    do: [{action: a, target: mailbox}]\n");
    ck_assert_int_eq(c->inputs[0].format, VGL_FMT_JSON);
    ck_assert_int_eq(c->inputs[1].format, VGL_FMT_AVRO);
    ck_assert_int_eq(c->inputs[2].format, VGL_FMT_AVRO_CONFLUENT);
    ck_assert_int_eq(c->outputs.format, VGL_FMT_AVRO);
    ck_assert_int_eq(c->incidents.group_by, VGL_GROUP_ALL);
    ck_assert_str_eq(c->log.level, "error");
    ck_assert_uint_eq(c->automation[0].when.nseverity, 5);
    ck_assert_uint_eq(c->automation[0].when.nentity_type, 9);
    ck_assert_str_eq(c->automation[0].actions[0].target, "mailbox");
    vgl_config_free(c);
    c = load_ok("incidents: {group_by: rule}\n");
    ck_assert_int_eq(c->incidents.group_by, VGL_GROUP_RULE);
    vgl_config_free(c);
}
END_TEST

START_TEST(test_parse_duration)
{
    int64_t ms = -1;
    ck_assert(vgl_parse_duration("500ms", &ms) && ms == 500);
    ck_assert(vgl_parse_duration("30s", &ms) && ms == 30000);
    ck_assert(vgl_parse_duration("10m", &ms) && ms == 600000);
    ck_assert(vgl_parse_duration("5h", &ms) && ms == 18000000);
    ck_assert(vgl_parse_duration("7d", &ms) && ms == 604800000);
    ck_assert(vgl_parse_duration("45", &ms) && ms == 45000);
    ck_assert(vgl_parse_duration("0", &ms) && ms == 0);
    ck_assert(vgl_parse_duration("9223372036854775807ms", &ms) && ms == INT64_MAX);
    ms = 7;
    ck_assert(!vgl_parse_duration("9223372036854775808ms", &ms));
    ck_assert(!vgl_parse_duration("9223372036854775807s", &ms));
    ck_assert(!vgl_parse_duration("106751991167301d", &ms));
    ck_assert(!vgl_parse_duration("", &ms));
    ck_assert(!vgl_parse_duration(NULL, &ms));
    ck_assert(!vgl_parse_duration("10x", &ms));
    ck_assert(!vgl_parse_duration("-5s", &ms));
    ck_assert(!vgl_parse_duration("+5s", &ms));
    ck_assert(!vgl_parse_duration(" 5s", &ms));
    ck_assert(!vgl_parse_duration("5 s", &ms));
    ck_assert(!vgl_parse_duration("1.5h", &ms));
    ck_assert(!vgl_parse_duration("1h30m", &ms));
    ck_assert(!vgl_parse_duration("s", &ms));
    ck_assert(!vgl_parse_duration("5S", &ms));
    ck_assert_int_eq(ms, 7); /* untouched on failure */
}
END_TEST

START_TEST(test_parse_size)
{
    size_t b = 0;
    ck_assert(vgl_parse_size("1048576", &b) && b == 1048576);
    ck_assert(vgl_parse_size("512KiB", &b) && b == 524288);
    ck_assert(vgl_parse_size("1MiB", &b) && b == 1048576);
    ck_assert(vgl_parse_size("2GiB", &b) && b == 2147483648u);
    ck_assert(vgl_parse_size("1TiB", &b) && b == 1099511627776u);
    ck_assert(vgl_parse_size("64KB", &b) && b == 64000);
    ck_assert(vgl_parse_size("1MB", &b) && b == 1000000);
    ck_assert(vgl_parse_size("3GB", &b) && b == 3000000000u);
    ck_assert(vgl_parse_size("2TB", &b) && b == 2000000000000u);
    ck_assert(vgl_parse_size("100B", &b) && b == 100);
    ck_assert(vgl_parse_size("0", &b) && b == 0);
    ck_assert(vgl_parse_size("18446744073709551615", &b) && b == SIZE_MAX);
    b = 9;
    ck_assert(!vgl_parse_size("18446744073709551616", &b));
    ck_assert(!vgl_parse_size("16777216TiB", &b));
    ck_assert(!vgl_parse_size("1XB", &b));
    ck_assert(!vgl_parse_size("1kb", &b));
    ck_assert(!vgl_parse_size("1K", &b));
    ck_assert(!vgl_parse_size("-1", &b));
    ck_assert(!vgl_parse_size("1.5MiB", &b));
    ck_assert(!vgl_parse_size("MiB", &b));
    ck_assert(!vgl_parse_size("", &b));
    ck_assert(!vgl_parse_size(NULL, &b));
    ck_assert_uint_eq(b, 9);
}
END_TEST

START_TEST(test_duration_size_errors)
{
    expect_errors("limits:\n  shutdown_timeout: 10x\n  allowed_lateness: -1s\n"
                  "  max_message_bytes: 1XB\n  lua_memory: lots\n",
                  "t.yaml:2:21: limits.shutdown_timeout: invalid duration '10x' "
                  "(use e.g. 500ms, 30s, 10m, 5h, 7d)\n"
                  "t.yaml:3:21: limits.allowed_lateness: invalid duration '-1s' "
                  "(use e.g. 500ms, 30s, 10m, 5h, 7d)\n"
                  "t.yaml:4:22: limits.max_message_bytes: invalid size '1XB' "
                  "(use e.g. 1048576, 512KiB, 1MiB, 2GiB, 64KB, 1MB)\n"
                  "t.yaml:5:15: limits.lua_memory: invalid size 'lots' "
                  "(use e.g. 1048576, 512KiB, 1MiB, 2GiB, 64KB, 1MB)\n");
    expect_errors("incidents: {group_window: 0s}\nlog: {stats_interval: 1w}\n"
                  "response: {rate_limit: [{count: 1, window: 0}]}\n"
                  "automation: [{name: a, do: [{action: b, duration: forever}]}]\n",
                  "t.yaml:1:27: incidents.group_window must be greater than 0\n"
                  "t.yaml:2:23: log.stats_interval: invalid duration '1w' "
                  "(use e.g. 500ms, 30s, 10m, 5h, 7d)\n"
                  "t.yaml:3:44: response.rate_limit[0].window must be greater than 0\n"
                  "t.yaml:4:51: automation[0].do[0].duration: invalid duration 'forever' "
                  "(use e.g. 500ms, 30s, 10m, 5h, 7d)\n");
    expect_errors("limits: {shutdown_timeout: {a: 1}}\n",
                  "t.yaml:1:28: limits.shutdown_timeout: expected a duration (got a map)\n");
}
END_TEST

START_TEST(test_range_errors)
{
    expect_errors("kafka: {embedded: {brokers: 0, partitions: 1025}}\n",
                  "t.yaml:1:29: kafka.embedded.brokers must be between 1 and 16 (got 0)\n"
                  "t.yaml:1:44: kafka.embedded.partitions must be between 1 and 1024 "
                  "(got 1025)\n");
    expect_errors("limits:\n  workers: 0\n  max_depth: 99999999999999999999\n"
                  "  max_message_bytes: 1000\n  event_memory: 1KiB\n  lua_instructions: 10\n"
                  "  max_evidence: 1001\n  queue_events: -1\n",
                  "t.yaml:2:12: limits.workers must be between 1 and 1024 (got 0)\n"
                  "t.yaml:3:14: limits.max_depth must be between 1 and 1024 "
                  "(got 99999999999999999999)\n"
                  "t.yaml:4:22: limits.max_message_bytes must be between 1KiB and 1GiB "
                  "(got '1000')\n"
                  "t.yaml:5:17: limits.event_memory must be at least 64KiB (got '1KiB')\n"
                  "t.yaml:6:21: limits.lua_instructions must be at least 1000 (got 10)\n"
                  "t.yaml:7:17: limits.max_evidence must be between 0 and 1000 (got 1001)\n"
                  "t.yaml:8:17: limits.queue_events must be between 1 and 10000000 (got -1)\n");
    expect_errors("incidents: {max_open: 0, max_alerts_per_rule_per_min: 4294967296}\n"
                  "outputs: {schema_ids: {alert: 0, event: 2147483648}}\n",
                  "t.yaml:1:23: incidents.max_open must be between 1 and 4294967295 (got 0)\n"
                  "t.yaml:1:55: incidents.max_alerts_per_rule_per_min must be between 1 and "
                  "4294967295 (got 4294967296)\n"
                  "t.yaml:2:31: outputs.schema_ids.alert must be between 1 and 2147483647 "
                  "(got 0)\n"
                  "t.yaml:2:41: outputs.schema_ids.event must be between 1 and 2147483647 "
                  "(got 2147483648)\n");
}
END_TEST

START_TEST(test_required_keys)
{
    expect_errors("inputs:\n  - format: json\n", "t.yaml:2:5: inputs[0]: missing required "
                                                 "key 'topic'\n");
    expect_errors("plugins:\n  - id: x\n", "t.yaml:2:5: plugins[0]: missing required "
                                           "key 'name'\n");
    expect_errors("automation:\n  - when: {}\n  - name: b\n    do: []\n"
                  "  - name: c\n    do: [{target: ip}]\n",
                  "t.yaml:2:5: automation[0]: missing required key 'name'\n"
                  "t.yaml:2:5: automation[0]: missing required key 'do'\n"
                  "t.yaml:4:9: automation[1].do must list at least one action\n"
                  "t.yaml:6:10: automation[2].do[0]: missing required key 'action'\n");
    expect_errors("response:\n  rate_limit:\n    - action: block_ip\n",
                  "t.yaml:3:7: response.rate_limit[0]: missing required key 'count'\n"
                  "t.yaml:3:7: response.rate_limit[0]: missing required key 'window'\n");
    expect_errors("inputs: [{topic: ~}]\n",
                  "t.yaml:1:10: inputs[0]: missing required key 'topic'\n");
}
END_TEST

START_TEST(test_input_schema_rules)
{
    expect_errors("inputs:\n  - topic: a\n    format: avro\n"
                  "  - topic: b\n    format: avro-confluent\n"
                  "  - topic: c\n    schema: c.avsc\n"
                  "  - topic: d\n    format: avro\n    schema: d.avsc\n    schema_dir: d\n",
                  "t.yaml:3:13: inputs[0]: format avro needs 'schema' (the .avsc file)\n"
                  "t.yaml:5:13: inputs[1]: format avro-confluent needs 'schema_dir' "
                  "(the directory of <id>.avsc)\n"
                  "t.yaml:7:13: inputs[2].schema is only used with format avro\n"
                  "t.yaml:11:17: inputs[3].schema_dir is only used with format "
                  "avro-confluent\n");
    expect_errors("inputs: [{topic: \"bad topic\"}, {topic: ..}]\n"
                  "outputs: {alerts: \"a/b\"}\n",
                  "t.yaml:1:18: inputs[0].topic: invalid topic name 'bad topic' "
                  "(letters, digits, '.', '_' and '-', at most 249)\n"
                  "t.yaml:1:40: inputs[1].topic: invalid topic name '..' "
                  "(letters, digits, '.', '_' and '-', at most 249)\n"
                  "t.yaml:2:19: outputs.alerts: invalid topic name 'a/b' "
                  "(letters, digits, '.', '_' and '-', at most 249)\n");
}
END_TEST

START_TEST(test_duplicates)
{
    expect_errors("plugins:\n  - name: geoip\n  - name: geoip\n  - name: x\n    id: geoip\n",
                  "t.yaml:3:11: duplicate plugin id 'geoip' (first at 2:11); give each "
                  "instance its own 'id'\n"
                  "t.yaml:5:9: duplicate plugin id 'geoip' (first at 2:11); give each "
                  "instance its own 'id'\n");
    vgl_config *c = load_ok("plugins:\n  - name: geoip\n  - name: geoip\n    id: geoip2\n");
    ck_assert_uint_eq(c->nplugins, 2);
    ck_assert_str_eq(c->plugins[0].id, "geoip");
    ck_assert_str_eq(c->plugins[1].id, "geoip2");
    ck_assert_str_eq(c->plugins[1].name, "geoip");
    ck_assert_int_eq(c->plugins[1].line, 3);
    vgl_config_free(c);
    expect_errors("kafka:\n  group: a\n  group: b\nkafka: {}\n",
                  "t.yaml:3:3: duplicate key 'group' (first at 2:3)\n"
                  "t.yaml:4:1: duplicate key 'kafka' (first at 1:1)\n");
    expect_errors("inputs: [{topic: a}, {topic: b}, {topic: a}]\n"
                  "automation:\n  - {name: r, do: [{action: x}]}\n"
                  "  - {name: r, do: [{action: y}]}\n",
                  "t.yaml:1:42: duplicate input topic 'a' (first at 1:18)\n"
                  "t.yaml:4:12: duplicate automation name 'r' (first at 3:12)\n");
    expect_errors("plugins: [{name: ../evil, id: \"a b\"}]\n",
                  "t.yaml:1:18: plugins[0].name: invalid plugin name '../evil' "
                  "(letters, digits, '-' and '_')\n"
                  "t.yaml:1:31: plugins[0].id: invalid id 'a b' "
                  "(letters, digits, '.', '-' and '_')\n");
}
END_TEST

/* Messages come out in file order whatever order the sections are checked
 * in, and a flood is cut at 100. */
START_TEST(test_order_and_cap)
{
    expect_errors("log: {level: x}\nkafka: {grup: a}\n",
                  "t.yaml:1:14: log.level must be one of error, warn, info, debug (got 'x')\n"
                  "t.yaml:2:9: unknown key 'grup' in kafka (did you mean 'group'?)\n");
    char yaml[4096] = "";
    for (int i = 0; i < 150; i++)
        sprintf(yaml + strlen(yaml), "k%d: 1\n", i);
    vgl_diag d = {0};
    ck_assert_ptr_null(vgl_config_load_string(yaml, strlen(yaml), "t.yaml", &d));
    ck_assert_uint_eq(d.n, 101);
    ck_assert_str_eq(d.msgs[0], "t.yaml:1:1: unknown key 'k0'");
    ck_assert_str_eq(d.msgs[99], "t.yaml:100:1: unknown key 'k99'");
    ck_assert_str_eq(d.msgs[100], "t.yaml: 50 more errors not shown");
    vgl_diag_free(&d);
}
END_TEST

/* --------------------------------------------------------------- YAML */

START_TEST(test_syntax_errors)
{
    vgl_diag d = {0};
    ck_assert_ptr_null(vgl_config_load(CFG_DATA "/bad_syntax.yaml", &d));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.msgs[0], CFG_DATA "/bad_syntax.yaml:3:2: YAML syntax error: did not find "
                                "expected key (while parsing a block mapping that starts at "
                                "1:1)");
    vgl_diag_free(&d);
    expect_errors("kafka:\n  brokers: \"unterminated\n",
                  "t.yaml:3:1: YAML syntax error: found unexpected end of stream (while "
                  "scanning a quoted scalar that starts at 2:12)\n");
    expect_errors("kafka:\n\tbrokers: a\n",
                  "t.yaml:2:1: YAML syntax error: found character that cannot start any "
                  "token (while scanning for the next token)\n");
    expect_errors("kafka: brokers: a\n",
                  "t.yaml:1:15: YAML syntax error: mapping values are not allowed in this "
                  "context\n");
    expect_errors("inputs: [{topic: a}\n",
                  "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' (while "
                  "parsing a flow sequence that starts at 1:9)\n");
    expect_errors("kafka:\n  group: 'x\xff'\n",
                  "t.yaml:2:12: invalid text: invalid leading UTF-8 octet (byte 0xFF)\n");
    expect_errors("kafka: {group: \"a\\0b\"}\n",
                  "t.yaml:1:16: NUL characters are not allowed in values\n");
    expect_errors("? [a, b]\n: 1\n", "t.yaml:1:3: map keys must be plain text, not a list\n");
    expect_errors("kafka: {}\n---\nlog: {}\n",
                  "t.yaml:2:1: only one YAML document is allowed (remove this '---' and what "
                  "follows)\n");
}
END_TEST

START_TEST(test_aliases_rejected)
{
    expect_errors("kafka: &k {group: a}\nlog: *k\n",
                  "t.yaml:2:6: YAML aliases are not supported (*k); write the value out\n");
    expect_errors("base: &b {level: info}\nlog:\n  <<: *b\n",
                  "t.yaml:1:1: unknown key 'base'\n"
                  "t.yaml:3:3: unknown key '<<' in log\n"
                  "t.yaml:3:7: YAML aliases are not supported (*b); write the value out\n");
    /* an anchor alone is harmless */
    vgl_config *c = load_ok("log: &l {level: warn}\n");
    ck_assert_str_eq(c->log.level, "warn");
    vgl_config_free(c);
}
END_TEST

START_TEST(test_billion_laughs)
{
    vgl_diag d = {0};
    ck_assert_ptr_null(vgl_config_load(CFG_DATA "/bad_billion_laughs.yaml", &d));
    ck_assert_uint_eq(d.n, 10 + 9 * 9); /* ten unknown keys, every alias */
    ck_assert_str_eq(d.msgs[0], CFG_DATA "/bad_billion_laughs.yaml:3:1: unknown key 'lol0' "
                                "(did you mean 'log'?)");
    ck_assert_str_eq(d.msgs[1], CFG_DATA "/bad_billion_laughs.yaml:4:1: unknown key 'lol1' "
                                "(did you mean 'log'?)");
    ck_assert_str_eq(d.msgs[2], CFG_DATA "/bad_billion_laughs.yaml:4:14: YAML aliases are not "
                                "supported (*lol0); write the value out");
    ck_assert_str_eq(d.msgs[90], CFG_DATA "/bad_billion_laughs.yaml:12:62: YAML aliases are not "
                                 "supported (*lol8); write the value out");
    vgl_diag_free(&d);
}
END_TEST

/* plugins[0].config.a at depth 4, then n nested lists. */
static char *nested(int lists)
{
    static const char head[] = "plugins:\n  - name: x\n    config:\n      a: ";
    char *s = malloc(sizeof(head) + 2 * (size_t)lists + 2);
    ck_assert_ptr_nonnull(s);
    strcpy(s, head);
    size_t o = strlen(s);
    for (int i = 0; i < lists; i++)
        s[o++] = '[';
    for (int i = 0; i < lists; i++)
        s[o++] = ']';
    s[o++] = '\n';
    s[o] = '\0';
    return s;
}

START_TEST(test_deep_nesting)
{
    char *ok = nested(60); /* 64 levels: accepted */
    vgl_config *c = load_ok(ok);
    const vgl_cnode *n = vgl_cnode_get(c->plugins[0].config, "a");
    int depth = 0;
    for (; n && n->kind == VGL_CN_SEQ; n = n->n ? n->items[0] : NULL)
        depth++;
    ck_assert_int_eq(depth, 60);
    vgl_config_free(c);
    free(ok);

    char *deep = nested(61);
    expect_errors(deep, "t.yaml:4:70: nesting deeper than 64 levels\n");
    free(deep);

    char *huge = nested(100000); /* no recursion, no stack growth */
    expect_errors(huge, "t.yaml:4:70: nesting deeper than 64 levels\n");
    free(huge);
}
END_TEST

/* A million values fit; one more stops the parse where it happens. */
START_TEST(test_value_cap)
{
    size_t n = 1000000 - 3; /* the root map, key 'a' and the list are values too */
    char *yaml = malloc(8 + 2 * (n + 1));
    ck_assert_ptr_nonnull(yaml);
    strcpy(yaml, "a: [");
    size_t o = 4;
    for (size_t i = 0; i < n; i++) {
        yaml[o++] = '0';
        yaml[o++] = ',';
    }
    strcpy(yaml + o, "]\n");
    expect_errors(yaml, "t.yaml:1:1: unknown key 'a'\n");
    strcpy(yaml + o, "0]\n"); /* one more */
    expect_errors(yaml, "t.yaml:1:1999999: more than 1000000 values in one file\n");
    free(yaml);
}
END_TEST

START_TEST(test_size_cap)
{
    size_t len = ((size_t)16 << 20) + 1;
    char *big = malloc(len);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', len);
    vgl_diag d = {0};
    ck_assert_ptr_null(vgl_config_load_string(big, len, "big.yaml", &d));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.msgs[0], "big.yaml: the configuration is larger than 16 MiB");
    vgl_diag_free(&d);
    free(big);

    char path[] = "/tmp/vigil-check-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
    close(fd);
    ck_assert_ptr_null(vgl_config_load(path, &d));
    ck_assert_uint_eq(d.n, 1);
    char want[128];
    snprintf(want, sizeof(want), "%s: the configuration is larger than 16 MiB", path);
    ck_assert_str_eq(d.msgs[0], want);
    vgl_diag_free(&d);
    unlink(path);
}
END_TEST

START_TEST(test_file_errors)
{
    vgl_diag d = {0};
    ck_assert_ptr_null(vgl_config_load(CFG_DATA "/no-such.yaml", &d));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.msgs[0], CFG_DATA "/no-such.yaml: cannot open: No such file or directory");
    vgl_diag_free(&d);
    ck_assert_ptr_null(vgl_config_load(CFG_DATA, &d));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.msgs[0], CFG_DATA ": is a directory, not a configuration file");
    vgl_diag_free(&d);
    /* diag is optional */
    ck_assert_ptr_null(vgl_config_load(CFG_DATA "/three_mistakes.yaml", NULL));
}
END_TEST

/* ---------------------------------------------------------------- env */

START_TEST(test_env_substitution)
{
    setenv("VGL_T_HOST", "kafka1", 1);
    setenv("VGL_T_PORT", "9093", 1);
    setenv("VGL_T_EMPTY", "", 1);
    unsetenv("VGL_T_UNSET");
    vgl_config *c = load_ok("kafka:\n"
                            "  brokers: \"${VGL_T_HOST}:${VGL_T_PORT},${VGL_T_UNSET:-k2}:9092\"\n"
                            "  group: g-${VGL_T_EMPTY:-dflt}-${VGL_T_EMPTY}x\n"
                            "  properties:\n"
                            "    sasl.password: 'pa$$word$${VGL_T_HOST}'\n"
                            "    a: $VGL_T_HOST costs $5 $\n"
                            "    b: ${VGL_T_UNSET:-}z\n"
                            "    ${VGL_T_HOST}: keys are not substituted\n");
    ck_assert_str_eq(c->kafka.brokers, "kafka1:9093,k2:9092");
    ck_assert_str_eq(c->kafka.group, "g-dflt-x");
    ck_assert_uint_eq(c->kafka.nproperties, 4);
    ck_assert_str_eq(c->kafka.properties[0].key, "sasl.password");
    ck_assert_str_eq(c->kafka.properties[0].value, "pa$word${VGL_T_HOST}");
    ck_assert_str_eq(c->kafka.properties[1].value, "$VGL_T_HOST costs $5 $");
    ck_assert_str_eq(c->kafka.properties[2].value, "z");
    ck_assert_str_eq(c->kafka.properties[3].key, "${VGL_T_HOST}");
    vgl_config_free(c);

    /* plugin configs are substituted too, and remember quoting */
    c = load_ok("plugins:\n  - name: p\n    config:\n      host: \"${VGL_T_HOST}\"\n"
                "      port: ${VGL_T_PORT}\n      off: ~\n      empty:\n");
    const vgl_cnode *cfg = c->plugins[0].config;
    ck_assert_str_eq(vgl_cnode_get(cfg, "host")->scalar, "kafka1");
    ck_assert(vgl_cnode_get(cfg, "host")->quoted);
    ck_assert_str_eq(vgl_cnode_get(cfg, "port")->scalar, "9093");
    ck_assert(!vgl_cnode_get(cfg, "port")->quoted);
    ck_assert(vgl_cnode_get(cfg, "off")->is_null);
    ck_assert(vgl_cnode_get(cfg, "empty")->is_null);
    ck_assert(!vgl_cnode_get(cfg, "host")->is_null);
    vgl_config_free(c);
}
END_TEST

START_TEST(test_env_errors)
{
    setenv("VGL_T_HOST", "kafka1", 1);
    setenv("VGL_T_EMPTY", "", 1);
    unsetenv("VGL_T_UNSET");
    unsetenv("VGL_T_UNSET2");
    /* each unset variable at its own position, in plain, quoted and block
     * scalars; the failed value is not reported a second time */
    expect_errors("kafka:\n"
                  "  brokers: \"${VGL_T_HOST}:${VGL_T_UNSET}\"\n"
                  "  group: ${VGL_T_UNSET2}-${VGL_T_UNSET}\n"
                  "plugins:\n"
                  "  - name: p\n"
                  "    config:\n"
                  "      script: |\n"
                  "        echo ${VGL_T_HOST}\n"
                  "        echo $${VGL_T_UNSET} ${VGL_T_UNSET}\n"
                  "limits: {shutdown_timeout: \"${VGL_T_UNSET}s\"}\n",
                  "t.yaml:2:27: environment variable VGL_T_UNSET is not set (use "
                  "${VGL_T_UNSET:-default} for a default)\n"
                  "t.yaml:3:10: environment variable VGL_T_UNSET2 is not set (use "
                  "${VGL_T_UNSET2:-default} for a default)\n"
                  "t.yaml:3:26: environment variable VGL_T_UNSET is not set (use "
                  "${VGL_T_UNSET:-default} for a default)\n"
                  "t.yaml:9:30: environment variable VGL_T_UNSET is not set (use "
                  "${VGL_T_UNSET:-default} for a default)\n"
                  "t.yaml:10:29: environment variable VGL_T_UNSET is not set (use "
                  "${VGL_T_UNSET:-default} for a default)\n");
    expect_errors("kafka:\n  group: ${1X} ${A-B} ${} ${OK:?no}\n  brokers: a${VGL_T_HOST\n",
                  "t.yaml:2:10: invalid environment variable name '1X' (use ${NAME} or "
                  "${NAME:-default})\n"
                  "t.yaml:2:16: invalid environment variable name 'A-B' (use ${NAME} or "
                  "${NAME:-default})\n"
                  "t.yaml:2:23: invalid environment variable name '' (use ${NAME} or "
                  "${NAME:-default})\n"
                  "t.yaml:2:27: invalid environment variable name 'OK:?no' (use ${NAME} or "
                  "${NAME:-default})\n"
                  "t.yaml:3:13: unterminated ${ (missing '}')\n");
    /* set but empty without a default gives "", which a string refuses */
    expect_errors("kafka:\n  group: ${VGL_T_EMPTY}\n",
                  "t.yaml:2:10: kafka.group must not be empty\n");
}
END_TEST

START_TEST(test_env_too_long)
{
    char *big = malloc(600 << 10);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', (600 << 10) - 1);
    big[(600 << 10) - 1] = '\0';
    setenv("VGL_T_BIG", big, 1);
    free(big);
    expect_errors("kafka: {group: \"${VGL_T_BIG}${VGL_T_BIG}\"}\n",
                  "t.yaml:1:16: value is longer than 1 MiB after ${} substitution\n");
}
END_TEST

/* -------------------------------------------------------------- paths */

START_TEST(test_relative_paths_file)
{
    vgl_config *c = load_file_ok(CFG_DATA "/relative.yaml");
    ck_assert_str_eq(c->inputs[0].schema, CFG_DATA "/schemas/in.avsc");
    ck_assert_str_eq(c->inputs[1].schema_dir, "/opt/vigil/schemas");
    ck_assert_str_eq(c->outputs.schema_dir, CFG_DATA "/../out-schemas");
    ck_assert_uint_eq(c->nplugin_path, 2);
    ck_assert_str_eq(c->plugin_path[0], CFG_DATA "/plugins");
    ck_assert_str_eq(c->plugin_path[1], "/usr/lib/vigil/extra");
    ck_assert_str_eq(c->plugins[0].path, CFG_DATA "/lib/vigil-enrich-threatintel.so");
    ck_assert_uint_eq(c->nrule_paths, 2);
    ck_assert_str_eq(c->rule_paths[0], CFG_DATA "/lua/rules");
    ck_assert_str_eq(c->rule_paths[1], "/srv/rules");
    vgl_config_free(c);
}
END_TEST

START_TEST(test_relative_paths_names)
{
    const char *yaml = "rules: {paths: [lua/rules, /abs]}\n";
    vgl_config *c = load_named(yaml, "/etc/vigil/vigil.yaml");
    ck_assert_str_eq(c->rule_paths[0], "/etc/vigil/lua/rules");
    ck_assert_str_eq(c->rule_paths[1], "/abs");
    vgl_config_free(c);
    c = load_named(yaml, "vigil.yaml"); /* already relative to the working directory */
    ck_assert_str_eq(c->rule_paths[0], "lua/rules");
    vgl_config_free(c);
    c = load_named(yaml, "/vigil.yaml");
    ck_assert_str_eq(c->rule_paths[0], "/lua/rules");
    vgl_config_free(c);
    c = load_named(yaml, "conf.d/vigil.yaml");
    ck_assert_str_eq(c->rule_paths[0], "conf.d/lua/rules");
    vgl_config_free(c);
}
END_TEST

/* ------------------------------------------------------------- values */

START_TEST(test_protected_ips)
{
    vgl_config *c = load_ok("response:\n  protected:\n"
                            "    ips: [10.0.0.1, 10.0.0.0/8, 0.0.0.0/0, \"::1\", \"fd00::/8\", "
                            "\"2001:db8::1/128\", \"::ffff:10.0.0.1\"]\n");
    ck_assert_uint_eq(c->response.nprotected_ips, 7);
    ck_assert_str_eq(c->response.protected_ips[4], "fd00::/8");
    vgl_config_free(c);
    expect_errors("response:\n  protected:\n"
                  "    ips: [10.0.0.300, 10.0.0.0/33, 1.2.3, \"fd00::/129\", host1, "
                  "10.0.0.0/, \"10.0.0.1 \", 10.0.0.0/+8, \"::1/-1\"]\n",
                  "t.yaml:3:11: response.protected.ips[0]: '10.0.0.300' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:23: response.protected.ips[1]: '10.0.0.0/33' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:36: response.protected.ips[2]: '1.2.3' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:43: response.protected.ips[3]: 'fd00::/129' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:57: response.protected.ips[4]: 'host1' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:64: response.protected.ips[5]: '10.0.0.0/' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:75: response.protected.ips[6]: '10.0.0.1 ' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:88: response.protected.ips[7]: '10.0.0.0/+8' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n"
                  "t.yaml:3:101: response.protected.ips[8]: '::1/-1' is not an IP address "
                  "or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)\n");
}
END_TEST

START_TEST(test_metrics_listen)
{
    static const char *const good[] = {"127.0.0.1:9464", "0.0.0.0:1", "[::1]:9464", "host:0",
                                       "[::]:65535", "localhost:9464", "metrics.example.com:80"};
    static const char *const bad[] = {"localhost", ":9464", "[::1]", "::1:9464",
                                      "host:65536", "host:x", "[nope]:1", "a b:1", "-a:1",
                                      "host:9464 "};
    char yaml[128];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(yaml, sizeof(yaml), "metrics: {listen: \"%s\"}\n", good[i]);
        vgl_config *c = load_ok(yaml);
        ck_assert_str_eq(c->metrics.listen, good[i]);
        vgl_config_free(c);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[256];
        snprintf(yaml, sizeof(yaml), "metrics: {listen: \"%s\"}\n", bad[i]);
        snprintf(want, sizeof(want),
                 "t.yaml:1:19: metrics.listen: invalid address '%s' (use host:port, e.g. "
                 "127.0.0.1:9464 or [::1]:9464)\n",
                 bad[i]);
        expect_errors(yaml, want);
    }
}
END_TEST

START_TEST(test_full_config)
{
    setenv("VGL_TEST_PW", "s3cret", 1);
    vgl_config *c = load_file_ok(CFG_DATA "/full.yaml");
    static const char *const ts[] = {"ts", "when"};
    static const char *const sev[] = {"high", "critical"};
    static const char *const tech[] = {"T1110", "T1110.003"};

    ck_assert_str_eq(c->kafka.brokers, "kafka1:9092,kafka2:9092");
    ck_assert_str_eq(c->kafka.group, "det");
    ck_assert_uint_eq(c->kafka.nproperties, 4);
    ck_assert_str_eq(c->kafka.properties[0].key, "security.protocol");
    ck_assert_str_eq(c->kafka.properties[0].value, "SASL_SSL");
    ck_assert_str_eq(c->kafka.properties[1].value, "s3cret");
    ck_assert_str_eq(c->kafka.properties[2].value, "false");
    ck_assert_str_eq(c->kafka.properties[3].value, "1048576");
    ck_assert_int_eq(c->kafka.embedded_brokers, 3);
    ck_assert_int_eq(c->kafka.embedded_partitions, 12);

    ck_assert_uint_eq(c->ninputs, 3);
    ck_assert_str_eq(c->inputs[0].topic, "in.json");
    ck_assert_str_eq(c->inputs[0].source, "winevent");
    ck_assert_int_eq(c->inputs[0].line, 12);
    assert_strv(c->inputs[0].time_fields, c->inputs[0].ntime_fields, ts, 2);
    ck_assert_int_eq(c->inputs[1].format, VGL_FMT_AVRO);
    ck_assert_ptr_null(c->inputs[1].source);
    ck_assert_str_eq(c->inputs[1].schema, CFG_DATA "/schemas/in.avsc");
    assert_strv(c->inputs[1].time_fields, c->inputs[1].ntime_fields, default_time_fields,
                NDEFAULT_TIME_FIELDS);
    ck_assert_int_eq(c->inputs[2].format, VGL_FMT_AVRO_CONFLUENT);
    ck_assert_str_eq(c->inputs[2].schema_dir, "/opt/schemas");
    ck_assert_uint_eq(c->inputs[2].ntime_fields, 0);

    ck_assert_str_eq(c->outputs.alerts, "a");
    ck_assert_str_eq(c->outputs.incidents, "i");
    ck_assert_str_eq(c->outputs.actions, "ac");
    ck_assert_str_eq(c->outputs.action_results, "ar");
    ck_assert_str_eq(c->outputs.dead_letter, "dl");
    ck_assert_str_eq(c->outputs.events, "ev");
    ck_assert_int_eq(c->outputs.format, VGL_FMT_AVRO);
    ck_assert_str_eq(c->outputs.schema_dir, "/srv/out-schemas");
    ck_assert_int_eq(c->outputs.alert_schema_id, 11);
    ck_assert_int_eq(c->outputs.incident_schema_id, 12);
    ck_assert_int_eq(c->outputs.action_schema_id, 13);
    ck_assert_int_eq(c->outputs.event_schema_id, 14);

    ck_assert_uint_eq(c->nplugin_path, 1);
    ck_assert_str_eq(c->plugin_path[0], "/usr/lib/vigil/extra");
    ck_assert_uint_eq(c->nplugins, 2);
    ck_assert_str_eq(c->plugins[0].name, "geoip");
    ck_assert_str_eq(c->plugins[0].id, "geoip");
    ck_assert_ptr_null(c->plugins[0].path);
    ck_assert_int_eq(c->plugins[0].line, 34);
    const vgl_cnode *pc = c->plugins[0].config;
    ck_assert_int_eq(pc->kind, VGL_CN_MAP);
    ck_assert_uint_eq(pc->n, 4);
    ck_assert_int_eq(pc->line, 36);
    ck_assert_int_eq(pc->col, 7);
    ck_assert_str_eq(pc->keys[1], "cache");
    ck_assert_int_eq(pc->key_pos[1].line, 37);
    ck_assert_int_eq(pc->key_pos[1].col, 7);
    const vgl_cnode *cache = vgl_cnode_get(pc, "cache");
    ck_assert_str_eq(cache->scalar, "128");
    ck_assert(cache->quoted);
    ck_assert_int_eq(cache->col, 14);
    const vgl_cnode *fields = vgl_cnode_get(pc, "fields");
    ck_assert_int_eq(fields->kind, VGL_CN_SEQ);
    ck_assert_uint_eq(fields->n, 2);
    ck_assert_str_eq(fields->items[1]->scalar, "city");
    ck_assert(vgl_cnode_get(pc, "missing")->is_null);
    ck_assert_ptr_null(vgl_cnode_get(pc, "nope"));
    ck_assert_ptr_null(vgl_cnode_get(fields, "city"));
    ck_assert_ptr_null(vgl_cnode_get(NULL, "x"));
    ck_assert_str_eq(c->plugins[1].id, "ti.feeds");
    ck_assert_str_eq(c->plugins[1].path, "/opt/vigil-enrich-threatintel.so");
    ck_assert_ptr_null(c->plugins[1].config);
    ck_assert_uint_eq(c->nrule_paths, 1);
    ck_assert_str_eq(c->rule_paths[0], "/srv/rules");

    ck_assert_int_eq(c->incidents.group_by, VGL_GROUP_RULE);
    ck_assert_int_eq(c->incidents.group_window_ms, 90 * 60000);
    ck_assert_uint_eq(c->incidents.max_open, 5000);
    ck_assert_uint_eq(c->incidents.max_alerts_per_rule_per_min, 60);

    ck_assert_uint_eq(c->nautomation, 1);
    const vgl_automation_rule *r = &c->automation[0];
    ck_assert_str_eq(r->name, "block");
    ck_assert_int_eq(r->line, 51);
    ck_assert(r->dry_run);
    assert_strv(r->when.severity, r->when.nseverity, sev, 2);
    ck_assert_uint_eq(r->when.ntactic, 1);
    ck_assert_str_eq(r->when.tactic[0], "CredentialAccess");
    assert_strv(r->when.technique, r->when.ntechnique, tech, 2);
    ck_assert_str_eq(r->when.rule_id[0], "brute_force");
    ck_assert_str_eq(r->when.tags[0], "auth");
    ck_assert_str_eq(r->when.entity_type[0], "ip");
    ck_assert_uint_eq(r->nactions, 2);
    ck_assert_str_eq(r->actions[0].action, "block_ip");
    ck_assert_str_eq(r->actions[0].target, "ip");
    ck_assert_int_eq(r->actions[0].duration_ms, 3600000);
    ck_assert_str_eq(vgl_cnode_get(r->actions[0].params, "reason")->scalar, "brute force");
    ck_assert_str_eq(r->actions[1].action, "notify");
    ck_assert_ptr_null(r->actions[1].target);
    ck_assert_ptr_null(r->actions[1].params);
    ck_assert_int_eq(r->actions[1].duration_ms, 0);

    ck_assert(c->response.dry_run);
    ck_assert_uint_eq(c->response.nprotected_ips, 4);
    ck_assert_str_eq(c->response.protected_ips[1], "fd00::/8");
    ck_assert_str_eq(c->response.protected_accounts[0], "breakglass@example.com");
    ck_assert_uint_eq(c->response.nprotected_hosts, 2);
    ck_assert_uint_eq(c->response.nrate_limits, 2);
    ck_assert_str_eq(c->response.rate_limits[0].action, "block_ip");
    ck_assert_uint_eq(c->response.rate_limits[0].count, 10);
    ck_assert_int_eq(c->response.rate_limits[0].window_ms, 60000);
    ck_assert_str_eq(c->response.rate_limits[1].action, "*");
    ck_assert_int_eq(c->response.rate_limits[1].window_ms, 3600000);
    ck_assert_str_eq(c->response.responder, "firewall");
    ck_assert_str_eq(c->response.group, "resp");

    ck_assert_int_eq(c->limits.workers, 3);
    ck_assert_uint_eq(c->limits.max_message_bytes, 2u << 20);
    ck_assert_uint_eq(c->limits.max_depth, 32);
    ck_assert_uint_eq(c->limits.event_memory, 8000000);
    ck_assert_uint_eq(c->limits.queue_events, 500);
    ck_assert_int_eq(c->limits.shutdown_timeout_ms, 500);
    ck_assert_int_eq(c->limits.allowed_lateness_ms, 0);
    ck_assert_uint_eq(c->limits.max_keys_per_rule, 1000);
    ck_assert_uint_eq(c->limits.rule_max_failures, 5);
    ck_assert_uint_eq(c->limits.max_evidence, 0);
    ck_assert_uint_eq(c->limits.lua_memory, 16u << 20);
    ck_assert_uint_eq(c->limits.lua_instructions, 5000);
    ck_assert_str_eq(c->metrics.listen, "[::1]:9464");
    ck_assert_str_eq(c->log.level, "debug");
    ck_assert_int_eq(c->log.stats_interval_ms, 0);
    vgl_config_free(c);
}
END_TEST

/* ------------------------------------------------------------- memory */

/* Memory lost so far according to the leak checker running this test
 * (LSan: 1 when it found any, valgrind: bytes lost); 0 without one, in
 * which case the test only exercises every free path. */
static unsigned long lost_so_far(void)
{
    unsigned long lost = 0;
#ifdef HAVE_LSAN
    lost += __lsan_do_recoverable_leak_check() != 0;
#endif
#ifdef HAVE_MEMCHECK
    if (RUNNING_ON_VALGRIND) {
        unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
        VALGRIND_DO_QUICK_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
        (void)reachable;
        (void)suppressed;
        lost += leaked + dubious;
    }
#endif
    return lost;
}

static void load_and_free_everything(void)
{
    vgl_diag d = {0};
    vgl_config_free(vgl_config_load(CFG_DATA "/full.yaml", &d));
    vgl_config_free(vgl_config_load(VGL_SRCDIR "/configs/vigil.yaml", &d));
    /* failed loads free their partial trees */
    vgl_config_free(vgl_config_load(CFG_DATA "/three_mistakes.yaml", &d));
    vgl_config_free(vgl_config_load(CFG_DATA "/bad_syntax.yaml", &d));
    vgl_config_free(vgl_config_load(CFG_DATA "/bad_billion_laughs.yaml", &d));
    static const char partial[] = "kafka:\n  group: a\n  group: b\nplugins:\n  - name: x\n"
                                  "    config: {a: [[{b: \"unterminated\n";
    vgl_config_free(vgl_config_load_string(partial, strlen(partial), "p.yaml", &d));
    ck_assert_uint_gt(d.n, 0);
    vgl_diag_free(&d);
    vgl_config_free(vgl_config_defaults());
    vgl_config_free(NULL);
    vgl_diag_free(&d);
}

START_TEST(test_free_is_leak_free)
{
    setenv("VGL_TEST_PW", "s3cret", 1);
    unsigned long before = lost_so_far();
    for (int i = 0; i < 2; i++)
        load_and_free_everything();
    ck_assert_uint_eq(lost_so_far(), before);
}
END_TEST

START_TEST(test_diag)
{
    vgl_diag d = {0};
    for (int i = 0; i < 20; i++)
        vgl_diag_add(&d, "m%d:%s", i, "x");
    ck_assert_uint_eq(d.n, 20);
    ck_assert_uint_ge(d.cap, 20);
    ck_assert_str_eq(d.msgs[19], "m19:x");
    vgl_diag_free(&d);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_null(d.msgs);
    vgl_diag_add(NULL, "ignored %d", 1);
    vgl_diag_free(NULL);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("defaults");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_default_config_loads);
    tcase_add_test(tc, test_empty_documents);
    tcase_add_test(tc, test_full_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_three_mistakes);
    tcase_add_test(tc, test_unknown_keys);
    tcase_add_test(tc, test_type_errors);
    tcase_add_test(tc, test_enum_errors);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_duration_size_errors);
    tcase_add_test(tc, test_range_errors);
    tcase_add_test(tc, test_required_keys);
    tcase_add_test(tc, test_input_schema_rules);
    tcase_add_test(tc, test_duplicates);
    tcase_add_test(tc, test_order_and_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("yaml");
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_aliases_rejected);
    tcase_add_test(tc, test_billion_laughs);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_value_cap);
    tcase_add_test(tc, test_size_cap);
    tcase_add_test(tc, test_file_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_test(tc, test_env_substitution);
    tcase_add_test(tc, test_env_errors);
    tcase_add_test(tc, test_env_too_long);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_relative_paths_file);
    tcase_add_test(tc, test_relative_paths_names);
    tcase_add_test(tc, test_protected_ips);
    tcase_add_test(tc, test_metrics_listen);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, test_free_is_leak_free);
    tcase_add_test(tc, test_diag);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
