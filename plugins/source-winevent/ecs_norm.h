/*
 * ECS normalization helpers shared by the Microsoft source plugins
 * (source-winevent and source-defender compile this file into their own
 * shared object; nothing is exported). Pure functions over byte strings:
 * no allocation, every output goes to a caller buffer with its size, and
 * input is treated as hostile (any length, any bytes).
 */
#ifndef VGL_ECS_NORM_H
#define VGL_ECS_NORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest account, host and address texts kept in the derived fields;
 * longer values are not real names (UPNs stop at 1024 bytes, DNS names at
 * 253) and are left out of user.* / host.* / vigil.* rather than cut. */
#define ECS_NAME_MAX 1024
#define ECS_IP_MAX 64

/* The largest length <= max that ends on a UTF-8 character boundary of s. */
size_t ecs_utf8_cut(const char *s, size_t len, size_t max);

/* A value worth copying: not empty, not blank, not the "-" placeholder. */
bool ecs_useful(const char *s, size_t len);

/* ASCII case-insensitive equality of s[0..len) with the NUL-terminated lit. */
bool ecs_ieq(const char *s, size_t len, const char *lit);
/* ASCII case-insensitive: does s[0..len) contain lit? */
bool ecs_icontains(const char *s, size_t len, const char *lit);

/* "DOMAIN\user" -> domain and user parts (pointers into s). False when s
 * has no backslash or either side is empty. */
bool ecs_split_account(const char *s, size_t len, const char **dom, size_t *domlen,
                       const char **user, size_t *userlen);

/* vigil.user: lower-case, "DOMAIN\" prefix and "@suffix" removed
 * ("CONTOSO\Bob" and "bob@contoso.com" give "bob"). Writes a NUL-terminated
 * key to out and returns its length; 0 when none (placeholder, too long). */
size_t ecs_user_key(const char *s, size_t len, char *out, size_t outlen);

/* vigil.host: lower-case first DNS label ("WORKSTATION5.theshire.local"
 * gives "workstation5"); an IP address is kept whole. 0 when none. */
size_t ecs_host_key(const char *s, size_t len, char *out, size_t outlen);

/* An IP address in canonical text: "::ffff:a.b.c.d" becomes "a.b.c.d",
 * "[v6]" loses its brackets, surrounding blanks go. 0 when s is not an
 * IPv4/IPv6 address. */
size_t ecs_ip_norm(const char *s, size_t len, char *out, size_t outlen);
/* Addresses that never name a real peer: loopback and unspecified. */
bool ecs_ip_placeholder(const char *ip);

/* Unsigned decimal, or hex with a 0x/0X prefix (Windows ids such as
 * "0x2a8"); a trailing ".0" (CSV exports of numbers) is accepted. */
bool ecs_parse_uint(const char *s, size_t len, uint64_t *out);

/* File name part of a Windows or POSIX path (after the last '\' or '/'). */
const char *ecs_basename(const char *s, size_t len, size_t *outlen);

/* Alert severity text to the event.severity integer: informational 1,
 * low 2, medium 3, high 4, critical 5 (any case); 0 when unknown. */
int ecs_severity(const char *s, size_t len);

/* RFC 3339 UTC with milliseconds ("2020-09-22T02:39:14.736Z"); returns the
 * length, 0 when the time cannot be represented. */
size_t ecs_format_time(int64_t ms, char *buf, size_t buflen);

/* The first MITRE ATT&CK technique id (T1234 or T1234.567) found in s,
 * delimited by non-alphanumerics; false when none. */
bool ecs_find_technique(const char *s, size_t len, const char **id, size_t *idlen);

#endif
