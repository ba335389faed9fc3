/*
 * Tests of the geoip enricher against the tiny MaxMind DB files made by
 * tests/mkmmdb.py (test-City.mmdb, test-ASN.mmdb): lookups for IPv4, IPv6
 * and nested networks, the real NSG flow-log sample, overwrite, hostile
 * field values, concurrent use of the shared instance, and every init error.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_harness.h"

#define CITY DATA_DIR "/test-City.mmdb"
#define ASN DATA_DIR "/test-ASN.mmdb"
#define SO PLUGIN_DIR "/vigil-enrich-geoip.so"

static vgl_plugin_instance *load_both(const char *extra)
{
    return PH_LOAD_OK("plugins:\n"
                      "  - name: geoip\n"
                      "    config:\n"
                      "      city_db: %s\n"
                      "      asn_db: %s\n"
                      "%s",
                      CITY, ASN, extra ? extra : "");
}

START_TEST(ipv4_city_and_asn)
{
    vgl_plugin_instance *pi = load_both(NULL);
    vgl_event *ev = ph_event();
    ph_set_str(ev, "source.ip", "203.0.113.77");
    ph_set_str(ev, "destination.ip", "198.51.100.200");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "source.geo.country_iso_code"), "AU");
    ck_assert_str_eq(ph_str(ev, "source.geo.country_name"), "Australia");
    ck_assert_str_eq(ph_str(ev, "source.geo.city_name"), "Sydney");
    ck_assert_double_eq_tol(ph_double(ev, "source.geo.location.lat"), -33.8688, 1e-9);
    ck_assert_double_eq_tol(ph_double(ev, "source.geo.location.lon"), 151.2093, 1e-9);
    ck_assert_int_eq(ph_int(ev, "source.as.number"), 64500);
    ck_assert_str_eq(ph_str(ev, "source.as.organization.name"), "Example Transit AU");
    /* the /25 inside the /24 wins: city; no ASN record for it */
    ck_assert_str_eq(ph_str(ev, "destination.geo.country_iso_code"), "US");
    ck_assert_str_eq(ph_str(ev, "destination.geo.city_name"), "New York");
    ck_assert_double_eq_tol(ph_double(ev, "destination.geo.location.lon"), -74.006, 1e-9);
    ck_assert(!ph_has(ev, "destination.as"));
    ck_assert_double_eq(ph_metric(pi, "geoip_lookups_total", "result=hit"), 2);
}
END_TEST

START_TEST(ipv4_outer_network_country_only)
{
    vgl_plugin_instance *pi = load_both(NULL);
    vgl_event *ev = ph_event();
    ph_set_str(ev, "source.ip", "198.51.100.5");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "source.geo.country_iso_code"), "US");
    ck_assert_str_eq(ph_str(ev, "source.geo.country_name"), "United States");
    ck_assert(!ph_has(ev, "source.geo.city_name"));
    ck_assert(!ph_has(ev, "source.geo.location"));
}
END_TEST

START_TEST(ipv6_lookups)
{
    vgl_plugin_instance *pi = load_both(NULL);
    vgl_event *ev = ph_event();
    ph_set_str(ev, "source.ip", "2001:db8:1::7");
    ph_set_str(ev, "destination.ip", "2001:DB8:ffff::1");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "source.geo.country_iso_code"), "DE");
    ck_assert_str_eq(ph_str(ev, "source.geo.city_name"), "Berlin");
    ck_assert_double_eq_tol(ph_double(ev, "source.geo.location.lat"), 52.52, 1e-9);
    ck_assert_int_eq(ph_int(ev, "source.as.number"), 64501);
    ck_assert_str_eq(ph_str(ev, "source.as.organization.name"), "Example IPv6 Net");
    /* only in the ASN database's /32 */
    ck_assert(!ph_has(ev, "destination.geo"));
    ck_assert_int_eq(ph_int(ev, "destination.as.number"), 64501);
}
END_TEST

/* Events with source.ip/destination.ip from every flow tuple of the real
 * NSG flow-log v2 sample ("ts,src,dst,sport,dport,..."). */
static size_t nsg_events(vgl_event **out, size_t max)
{
    vgl_event *recs[4];
    size_t nrec = ph_events_from_file("nsg_flow_v2_sample.jsonl", recs, 4);
    ck_assert_uint_eq(nrec, 2);
    size_t n = 0;
    for (size_t r = 0; r < nrec; r++) {
        const vgl_value *flows = vgl_event_get(recs[r], vgl_path_intern("properties.flows"));
        ck_assert_ptr_nonnull(flows);
        for (uint32_t f = 0; f < flows->n; f++) {
            const vgl_value *rule = &flows->u.items[f];
            const vgl_value *inner = NULL;
            for (uint32_t m = 0; m < rule->n; m++)
                if (!strcmp(rule->u.members[m].key, "flows"))
                    inner = &rule->u.members[m].v;
            ck_assert_ptr_nonnull(inner);
            for (uint32_t g = 0; g < inner->n; g++) {
                const vgl_value *grp = &inner->u.items[g];
                for (uint32_t m = 0; m < grp->n; m++) {
                    if (strcmp(grp->u.members[m].key, "flowTuples"))
                        continue;
                    const vgl_value *tuples = &grp->u.members[m].v;
                    for (uint32_t t = 0; t < tuples->n && n < max; t++) {
                        char src[64], dst[64];
                        ck_assert_int_eq(sscanf(tuples->u.items[t].u.s, "%*[^,],%63[^,],%63[^,],",
                                                src, dst), 2);
                        vgl_event *ev = ph_event();
                        ph_set_str(ev, "source.ip", src);
                        ph_set_str(ev, "destination.ip", dst);
                        out[n++] = ev;
                    }
                }
            }
        }
    }
    return n;
}

START_TEST(real_nsg_sample)
{
    vgl_plugin_instance *pi = load_both(NULL);
    vgl_event *evs[32];
    size_t n = nsg_events(evs, 32);
    ck_assert_uint_eq(n, 11);
    ck_assert_int_eq(ph_run(pi, 0, evs, n), VGL_OK);
    /* the denied inbound scan from 94.102.49.190 to 10.5.16.4:443 */
    ck_assert_str_eq(ph_str(evs[0], "source.ip"), "94.102.49.190");
    ck_assert_str_eq(ph_str(evs[0], "source.geo.country_iso_code"), "NL");
    ck_assert_str_eq(ph_str(evs[0], "source.geo.country_name"), "Netherlands");
    ck_assert(!ph_has(evs[0], "source.geo.city_name"));
    ck_assert_int_eq(ph_int(evs[0], "source.as.number"), 202425);
    ck_assert_str_eq(ph_str(evs[0], "source.as.organization.name"), "IP Volume inc");
    ck_assert(!ph_has(evs[0], "destination.geo")); /* 10.5.16.4: private */
    size_t enriched = 0;
    for (size_t i = 0; i < n; i++)
        enriched += ph_has(evs[i], "source.geo") || ph_has(evs[i], "destination.geo");
    ck_assert_uint_eq(enriched, 1);
    ck_assert_double_eq(ph_metric(pi, "geoip_lookups_total", "result=hit"), 1);
    ck_assert_double_eq(ph_metric(pi, "geoip_lookups_total", "result=miss"), 21);
    ck_assert_double_eq(ph_metric(pi, "geoip_lookups_total", "result=invalid"), 0);
}
END_TEST

START_TEST(keeps_existing_fields_unless_overwrite)
{
    vgl_plugin_instance *pi = load_both(NULL);
    vgl_event *ev = ph_event();
    ph_set_str(ev, "source.ip", "203.0.113.1");
    ph_set_str(ev, "source.geo.country_iso_code", "XX"); /* e.g. from Entra's location */
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "source.geo.country_iso_code"), "XX");
    ck_assert_str_eq(ph_str(ev, "source.geo.city_name"), "Sydney"); /* missing ones filled */
    vgl_plugins_free(ph_plugins);
    ph_plugins = NULL;
    vgl_config_free(ph_cfg);

    pi = load_both("      overwrite: true\n");
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_str_eq(ph_str(ev, "source.geo.country_iso_code"), "AU");
}
END_TEST

START_TEST(custom_fields_and_asn_only)
{
    vgl_plugin_instance *pi = PH_LOAD_OK("plugins:\n"
                                         "  - name: geoip\n"
                                         "    config:\n"
                                         "      asn_db: %s\n"
                                         "      fields: [client.ip, related.peer.ip]\n",
                                         ASN);
    vgl_event *ev = ph_event();
    ph_set_str(ev, "client.ip", "94.102.50.1");
    ph_set_str(ev, "related.peer.ip", "2001:db8::1");
    ph_set_str(ev, "source.ip", "203.0.113.1"); /* not configured */
    ck_assert_int_eq(ph_run1(pi, ev), VGL_OK);
    ck_assert_int_eq(ph_int(ev, "client.as.number"), 202425);
    ck_assert(!ph_has(ev, "client.geo"));
    ck_assert_int_eq(ph_int(ev, "related.peer.as.number"), 64501);
    ck_assert(!ph_has(ev, "source.as"));
}
END_TEST

START_TEST(hostile_values)
{
    vgl_plugin_instance *pi = load_both(NULL);
    static const char *bad[] = {"", "-", "999.1.1.1", "203.0.113.1 ", " 203.0.113.1",
                                "203.0.113.1/24", "fe80::1%eth0", "localhost",
                                "203.0.113.1.5", "::ffff:203.0.113.1:80"};
    size_t nbad = sizeof(bad) / sizeof(bad[0]);
    vgl_event *evs[16];
    for (size_t i = 0; i < nbad; i++) {
        evs[i] = ph_event();
        ph_set_str(evs[i], "source.ip", bad[i]);
    }
    /* a long value, and one with an inner NUL */
    char *longv = malloc(100000);
    memset(longv, '1', 99999);
    longv[99999] = '\0';
    evs[nbad] = ph_event();
    ph_set_str(evs[nbad], "source.ip", longv);
    free(longv);
    evs[nbad + 1] = ph_event();
    ck_assert_int_eq(vgl_event_set_str(evs[nbad + 1], vgl_path_intern("source.ip"),
                                       "203.0.113.1\0x", 13),
                     VGL_OK);
    /* not a string: ignored, not counted */
    evs[nbad + 2] = ph_event_json("{\"source\": {\"ip\": 3405803777}, \"destination\": "
                                  "{\"ip\": {\"nested\": true}}}");
    ck_assert_int_eq(ph_run(pi, 0, evs, nbad + 3), VGL_OK);
    for (size_t i = 0; i < nbad + 3; i++) {
        ck_assert_msg(!ph_has(evs[i], "source.geo"), "value %zu enriched", i);
        ck_assert(!ph_has(evs[i], "source.as"));
    }
    ck_assert_double_eq(ph_metric(pi, "geoip_lookups_total", "result=invalid"), nbad + 2);
    /* an IPv4-mapped IPv6 address is a valid IPv6 address, looked up as such */
    vgl_event *mapped = ph_event();
    ph_set_str(mapped, "source.ip", "::ffff:203.0.113.1");
    ck_assert_int_eq(ph_run1(pi, mapped), VGL_OK);
}
END_TEST

/* The shared instance under concurrent process calls. */
typedef struct worker_arg {
    vgl_plugin_instance *pi;
    vgl_event *evs[64];
    unsigned w;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    for (int round = 0; round < 50; round++) {
        vgl_batch b;
        vgl_batch_init(&b, NULL, NULL, NULL, NULL);
        for (size_t i = 0; i < 64; i++)
            vgl_batch_add(&b, a->evs[i]);
        if (vgl_plugin_process(a->pi, a->w, &b) != VGL_OK)
            return (void *)1;
        vgl_batch_free(&b);
    }
    return NULL;
}

START_TEST(shared_instance_concurrent)
{
    vgl_plugin_instance *pi = load_both(NULL);
    ck_assert_int_eq(vgl_plugins_prepare_workers(ph_plugins, 4, NULL), VGL_OK);
    ck_assert_uint_eq(pi->ninst, 1); /* one instance for all workers */
    static worker_arg args[4];
    pthread_t th[4];
    static const char *ips[] = {"203.0.113.9", "2001:db8:1::1", "94.102.49.190", "10.0.0.1"};
    for (unsigned w = 0; w < 4; w++) {
        args[w].pi = pi;
        args[w].w = w;
        for (size_t i = 0; i < 64; i++) {
            args[w].evs[i] = ph_event();
            ph_set_str(args[w].evs[i], "source.ip", ips[(i + w) % 4]);
        }
    }
    for (unsigned w = 0; w < 4; w++)
        ck_assert_int_eq(pthread_create(&th[w], NULL, worker_main, &args[w]), 0);
    for (unsigned w = 0; w < 4; w++) {
        void *ret;
        pthread_join(th[w], &ret);
        ck_assert_ptr_null(ret);
    }
    for (unsigned w = 0; w < 4; w++)
        for (size_t i = 0; i < 64; i++) {
            const char *want[] = {"AU", "DE", "NL", NULL};
            const char *got = ph_str(args[w].evs[i], "source.geo.country_iso_code");
            const char *exp = want[(i + w) % 4];
            if (exp)
                ck_assert_str_eq(got, exp);
            else
                ck_assert_ptr_null(got);
        }
    ck_assert_double_eq(ph_metric(pi, "geoip_lookups_total", "result=hit"), 4 * 50 * 48);
}
END_TEST

/* ------------------------------------------------------------ errors */

static void expect_error(const char *config, const char *reason)
{
    ck_assert_ptr_null(ph_load("plugins:\n  - name: geoip\n    config:\n%s", config));
    char want[4096];
    snprintf(want, sizeof(want), "plugin geoip (%s): %s\n", SO, reason);
    ck_assert_str_eq(ph_diag_text, want);
}

START_TEST(error_missing_database)
{
    expect_error("      city_db: /nonexistent/GeoLite2-City.mmdb\n",
                 "cannot open city_db /nonexistent/GeoLite2-City.mmdb: No such file or directory");
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
    expect_error("      city_db: " CITY "\n      asn_db: /nonexistent/asn.mmdb\n",
                 "cannot open asn_db /nonexistent/asn.mmdb: No such file or directory");
}
END_TEST

START_TEST(error_corrupt_database)
{
    char path[] = "/tmp/geoip_corrupt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    /* the first half of a valid file: the metadata marker is gone */
    FILE *src = fopen(CITY, "rb");
    ck_assert_ptr_nonnull(src);
    char buf[1000];
    size_t n = fread(buf, 1, sizeof(buf), src);
    fclose(src);
    ck_assert_uint_eq(write(fd, buf, n), n);
    close(fd);
    char cfgline[256], reason[512];
    snprintf(cfgline, sizeof(cfgline), "      city_db: %s\n", path);
    snprintf(reason, sizeof(reason),
             "city_db %s is not a valid MaxMind DB file: The MaxMind DB file contains "
             "invalid metadata",
             path);
    expect_error(cfgline, reason);
    unlink(path);
}
END_TEST

START_TEST(error_wrong_database_kind)
{
    expect_error("      city_db: " ASN "\n",
                 "city_db " ASN " is a \"GeoLite2-ASN\" database, expected a City or Country "
                 "database");
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
    expect_error("      asn_db: " CITY "\n",
                 "asn_db " CITY " is a \"GeoLite2-City\" database, expected an ASN or ISP "
                 "database");
}
END_TEST

START_TEST(error_no_database_or_bad_field)
{
    expect_error("      overwrite: true\n", "set city_db, asn_db or both (paths of .mmdb files)");
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
    expect_error("      city_db: " CITY "\n      fields: [ip]\n",
                 "fields: \"ip\" must be a dotted path whose parent object receives geo and "
                 "as (like source.ip)");
    vgl_config_free(ph_cfg);
    ph_cfg = NULL;
    expect_error("      city_db: " CITY "\n      fields: [\"a..ip\"]\n",
                 "fields: \"a..ip\" is not a valid path");
}
END_TEST

static Suite *geoip_suite(void)
{
    Suite *s = suite_create("geoip");
    TCase *tc = tcase_create("lookups");
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, ipv4_city_and_asn);
    tcase_add_test(tc, ipv4_outer_network_country_only);
    tcase_add_test(tc, ipv6_lookups);
    tcase_add_test(tc, real_nsg_sample);
    tcase_add_test(tc, keeps_existing_fields_unless_overwrite);
    tcase_add_test(tc, custom_fields_and_asn_only);
    tcase_add_test(tc, hostile_values);
    tcase_add_test(tc, shared_instance_concurrent);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("errors");
    tcase_add_checked_fixture(te, ph_setup, ph_teardown);
    tcase_add_test(te, error_missing_database);
    tcase_add_test(te, error_corrupt_database);
    tcase_add_test(te, error_wrong_database_kind);
    tcase_add_test(te, error_no_database_or_bad_field);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(geoip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
