/* Alerts: deterministic ids and the JSON output record (docs/outputs.md). */
#include "alert.h"

#include <string.h>

#include "codec.h"
#include "id.h"

static const char *const sev_names[] = {"informational", "low", "medium", "high", "critical"};

const char *vgl_severity_name(vgl_severity s)
{
    return (unsigned)s <= VGL_SEV_CRITICAL ? sev_names[s] : "unknown";
}

bool vgl_severity_parse(const char *s, vgl_severity *out)
{
    for (int i = 0; i <= VGL_SEV_CRITICAL; i++) {
        if (strcmp(s, sev_names[i]) == 0) {
            *out = (vgl_severity)i;
            return true;
        }
    }
    return false;
}

void vgl_alert_make_id(vgl_alert *a)
{
    vgl_idhash h;
    vgl_idhash_init(&h, "alert");
    vgl_idhash_add_str(&h, a->rule_id);
    for (size_t i = 0; i < a->nentities; i++) {
        vgl_idhash_add_str(&h, a->entities[i].type);
        vgl_idhash_add_str(&h, a->entities[i].value);
    }
    for (size_t i = 0; i < a->nevidence; i++) {
        vgl_idhash_add_str(&h, a->evidence[i].topic);
        vgl_idhash_add_i64(&h, a->evidence[i].partition);
        vgl_idhash_add_i64(&h, a->evidence[i].offset);
    }
    if (a->nevidence == 0)
        vgl_idhash_add_i64(&h, a->time_ms);
    vgl_idhash_hex(&h, a->alert_id);
}

static void json_key(vgl_buf *out, const char *k)
{
    vgl_buf_json_str(out, k, strlen(k));
    vgl_buf_putc(out, ':');
}

static void json_opt_str(vgl_buf *out, const char *s)
{
    if (s)
        vgl_buf_json_str(out, s, strlen(s));
    else
        vgl_buf_puts(out, "null");
}

static void json_time(vgl_buf *out, int64_t ms)
{
    char ts[40];
    if (ms == VGL_TS_NONE || !vgl_time_format(ms, ts, sizeof(ts)))
        vgl_buf_puts(out, "null");
    else
        vgl_buf_json_str(out, ts, strlen(ts));
}

bool vgl_alert_to_json(const vgl_alert *a, vgl_buf *out)
{
    vgl_buf_puts(out, "{");
    json_key(out, "alert_id");
    vgl_buf_json_str(out, a->alert_id, strlen(a->alert_id));
    vgl_buf_putc(out, ',');
    json_key(out, "rule_id");
    json_opt_str(out, a->rule_id);
    vgl_buf_putc(out, ',');
    json_key(out, "title");
    json_opt_str(out, a->title);
    vgl_buf_putc(out, ',');
    json_key(out, "description");
    json_opt_str(out, a->description);
    vgl_buf_putc(out, ',');
    json_key(out, "severity");
    json_opt_str(out, vgl_severity_name(a->severity));
    vgl_buf_putc(out, ',');
    json_key(out, "tactic");
    json_opt_str(out, a->tactic);
    vgl_buf_putc(out, ',');
    json_key(out, "technique");
    json_opt_str(out, a->technique);
    vgl_buf_putc(out, ',');
    json_key(out, "time");
    json_time(out, a->time_ms);
    vgl_buf_putc(out, ',');
    json_key(out, "entities");
    vgl_buf_putc(out, '[');
    for (size_t i = 0; i < a->nentities; i++) {
        if (i)
            vgl_buf_putc(out, ',');
        vgl_buf_puts(out, "{\"type\":");
        json_opt_str(out, a->entities[i].type);
        vgl_buf_puts(out, ",\"value\":");
        json_opt_str(out, a->entities[i].value);
        vgl_buf_putc(out, '}');
    }
    vgl_buf_puts(out, "],");
    json_key(out, "evidence");
    vgl_buf_putc(out, '[');
    for (size_t i = 0; i < a->nevidence; i++) {
        const vgl_evidence *e = &a->evidence[i];
        if (i)
            vgl_buf_putc(out, ',');
        vgl_buf_puts(out, "{\"topic\":");
        json_opt_str(out, e->topic);
        vgl_buf_printf(out, ",\"partition\":%d,\"offset\":%lld,\"time\":", (int)e->partition,
                       (long long)e->offset);
        json_time(out, e->ts_ms);
        vgl_buf_puts(out, ",\"fields\":");
        if (e->fields && e->fields->type == VGL_T_OBJECT)
            vgl_json_encode_value(out, e->fields);
        else
            vgl_buf_puts(out, "{}");
        vgl_buf_putc(out, '}');
    }
    vgl_buf_puts(out, "],");
    json_key(out, "tags");
    vgl_buf_putc(out, '[');
    for (size_t i = 0; i < a->ntags; i++) {
        if (i)
            vgl_buf_putc(out, ',');
        json_opt_str(out, a->tags[i]);
    }
    vgl_buf_puts(out, "]}");
    return !out->failed;
}
