/*
 * Benchmark of the threatintel indicator set: writes a CSV of 1,000,000
 * generated indicators (IPv4/IPv6 addresses, CIDRs, domains, URLs, SHA-256
 * hashes), loads it as the plugin does (feed_load_csv + intel_build), then
 * measures lookup ns/op for hits and misses of each kind.
 *
 *   make plugins/enrich-threatintel/bench/bench_threatintel
 *   plugins/enrich-threatintel/bench/bench_threatintel [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "feeds.h"
#include "intel.h"

static uint64_t rng = 0x853c49e6748fea9bull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the i-th generated value of a kind; hits use i < n, misses i >= n */
static int gen(char *buf, size_t cap, int kind, uint64_t i)
{
    switch (kind) {
    case 0: /* IPv4, 11.0.0.0 and up */
        return snprintf(buf, cap, "%u.%u.%u.%u", 11 + (unsigned)(i >> 24 & 0x3f),
                        (unsigned)(i >> 16 & 255), (unsigned)(i >> 8 & 255), (unsigned)(i & 255));
    case 1:
        return snprintf(buf, cap, "2001:db8:%x:%x::%x", (unsigned)(i >> 32 & 0xffff),
                        (unsigned)(i >> 16 & 0xffff), (unsigned)(i & 0xffff));
    case 2:
        return snprintf(buf, cap, "host%llu.bad%llu.example.com", (unsigned long long)i,
                        (unsigned long long)(i % 977));
    case 3:
        return snprintf(buf, cap, "http://dl%llu.example.net/payload/%llu.bin",
                        (unsigned long long)(i % 5003), (unsigned long long)i);
    default: {
        uint64_t a = i * 0x9E3779B97F4A7C15ull, b = ~i * 0xC2B2AE3D27D4EB4Full;
        return snprintf(buf, cap, "%016llx%016llx%016llx%016llx", (unsigned long long)a,
                        (unsigned long long)b, (unsigned long long)(a ^ b),
                        (unsigned long long)(a + b));
    }
    }
}

static const char *const KIND_NAMES[] = {"ipv4", "ipv6", "domain", "url", "sha256"};
static const char *const KIND_TYPES[] = {"ipv4-addr", "ipv6-addr", "domain", "url", "sha256"};

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    /* share of each kind, per mille; CIDRs separately */
    const size_t share[5] = {400, 100, 200, 100, 150};
    size_t ncidr = total * 50 / 1000;
    size_t per[5];
    for (int k = 0; k < 5; k++)
        per[k] = total * share[k] / 1000;

    char path[] = "/tmp/bench_ti_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    char v[256];
    fprintf(f, "type,value,provider,confidence,description\n");
    for (int k = 0; k < 5; k++)
        for (size_t i = 0; i < per[k]; i++) {
            gen(v, sizeof(v), k, i);
            fprintf(f, "%s,%s,bench,50,generated\n", KIND_TYPES[k], v);
        }
    for (size_t i = 0; i < ncidr; i++) /* /24s in 100.0.0.0/8 upwards, every other one */
        fprintf(f, "cidr,%u.%u.%u.0/24,bench,50,generated\n", 100 + (unsigned)(i >> 15 & 0x1f),
                (unsigned)(i >> 7 & 255), (unsigned)(i & 127) * 2);
    fclose(f);

    double t0 = now_s();
    intel_builder *b = intel_builder_new();
    feed_opts o = {.max_file = (size_t)1 << 32, .header = true, .now_ms = 0};
    const char *cols[] = {"type", "value", "provider", "confidence", "description"};
    char err[512];
    if (!feed_columns_parse(cols, 5, &o.columns, err, sizeof(err)))
        return 1;
    feed_stats st = {0};
    if (!feed_load_csv(b, path, &o, &st, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t dups;
    intel_set *s = intel_build(b, &dups);
    double t1 = now_s();
    unlink(path);
    printf("loaded %zu indicators (%zu rejected, %zu duplicates) in %.2f s\n",
           intel_set_count(s), st.rejected, dups, t1 - t0);

    enum { OPS = 2000000, POOL = 4096 };
    static char vals[POOL][160];
    static size_t lens[POOL];
    intel_match m;
    for (int k = 0; k <= 5; k++) {
        for (int hit = 1; hit >= 0; hit--) {
            for (size_t i = 0; i < POOL; i++) {
                uint64_t r = next();
                if (k == 5) /* addresses inside (hit) or between (miss) the CIDRs */
                    lens[i] = (size_t)snprintf(vals[i], sizeof(vals[i]), "%u.%u.%u.%u",
                                               100 + (unsigned)(r % ncidr >> 15 & 0x1f),
                                               (unsigned)(r % ncidr >> 7 & 255),
                                               (unsigned)(r % ncidr & 127) * 2 + (hit ? 0 : 1),
                                               (unsigned)(r >> 40 & 255));
                else
                    lens[i] = (size_t)gen(vals[i], sizeof(vals[i]), k,
                                          hit ? r % per[k] : per[k] + r % 100000000);
            }
            size_t found = 0;
            double a = now_s();
            for (size_t i = 0; i < OPS; i++)
                found += intel_lookup(s, vals[i % POOL], lens[i % POOL], false, 0, &m);
            double e = now_s();
            printf("%-7s %-4s %7.1f ns/op  (%zu/%d matched)\n", k == 5 ? "cidr" : KIND_NAMES[k],
                   hit ? "hit" : "miss", (e - a) * 1e9 / OPS, found, OPS);
        }
    }
    intel_set_free(s);
    return 0;
}
