/*
 * Indicator sets: IPv4/IPv6 addresses and CIDRs, domain names, URLs and
 * file hashes (MD5, SHA-1, SHA-256), built once and then read-only, so any
 * number of threads may look up in a set at the same time.
 *
 * Exact values (addresses, domains, URLs, hashes) live in one open-addressing
 * hash table keyed by a normalized form (O(1)); CIDRs are flattened into
 * sorted disjoint address ranges, each mapped to its most specific network,
 * and found by binary search (O(log n), longest prefix wins).
 */
#ifndef VGL_PLUGIN_INTEL_H
#define VGL_PLUGIN_INTEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INTEL_MAX_VALUE 4096 /* longest indicator or looked-up value */
#define INTEL_NO_EXPIRY INT64_MAX

typedef enum intel_type {
    INTEL_ANY = 0,   /* infer from the value */
    INTEL_IP = 1,    /* IPv4 or IPv6 address or CIDR */
    INTEL_DOMAIN = 2,
    INTEL_URL = 3,
    INTEL_FILE = 4   /* an MD5, SHA-1 or SHA-256 hash (by length) */
} intel_type;

/* A match: every pointer borrowed from the set (valid while it is held). */
typedef struct intel_match {
    const char *type;        /* "ipv4-addr", "ipv6-addr", "domain-name", "url", "file" */
    const char *value;       /* the indicator as loaded, normalized */
    const char *provider;    /* NULL when none */
    const char *confidence;  /* NULL when none */
    const char *description; /* NULL when none */
} intel_match;

typedef struct intel_builder intel_builder;
typedef struct intel_set intel_set;

intel_builder *intel_builder_new(void);
void intel_builder_free(intel_builder *b);

/* Map a feed's type name (ip, ipv4-addr, cidr, domain, domain-name,
 * hostname, url, md5, sha1, sha256, file, hash, ...; case-insensitive; empty
 * = infer) to a type. false for an unknown name. *hash_len is the expected
 * hex length for md5/sha1/sha256, 0 otherwise. */
bool intel_type_parse(const char *name, size_t len, intel_type *out, size_t *hash_len);

/* Add one indicator. Strings are copied; provider, confidence, description
 * may be NULL or empty. valid_until_ms: INTEL_NO_EXPIRY or ms since epoch.
 * false with a reason ("invalid ipv4-addr value \"1.2.3\"") when the value
 * is not valid for the type, VGL-style: the caller adds the place. */
bool intel_add(intel_builder *b, intel_type type, size_t hash_len, const char *value,
               size_t vlen, const char *provider, const char *confidence,
               const char *description, int64_t valid_until_ms, char *err, size_t errlen);

/* Indicators added so far (before de-duplication). */
size_t intel_builder_count(const intel_builder *b);

/* Freeze the builder into a set (the builder is consumed, even on failure).
 * Duplicates (same normalized value) keep the first. NULL only when out of
 * memory. */
intel_set *intel_build(intel_builder *b, size_t *duplicates);
void intel_set_free(intel_set *s);
/* Distinct indicators in the set (exact values + CIDRs). */
size_t intel_set_count(const intel_set *s);

/* Look up one event value: an address (exact, then the longest CIDR), a
 * hash (32/40/64 hex digits), a URL (contains "://"), else a domain (with
 * subdomains: "a.b.evil.com" also tries "b.evil.com" and "evil.com").
 * Indicators whose valid_until is before now_ms do not match. */
bool intel_lookup(const intel_set *s, const char *value, size_t len, bool subdomains,
                  int64_t now_ms, intel_match *out);

#endif
