/* libFuzzer entry point for the JSON decoder (core/codec_json.c); see
 * README.md. Besides crashes it checks two properties of every input the
 * decoder accepts: the encoder's output decodes again, and encoding that
 * gives the same text (the encoder's output is a fixed point). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const vgl_decode_limits lim = {.max_bytes = 1u << 20, .max_depth = 64};
    char err[256];
    vgl_event ev, again;
    vgl_event_init(&ev, 64u << 20);
    vgl_event_init(&again, 64u << 20);
    vgl_buf a, b;
    vgl_buf_init(&a, 0);
    vgl_buf_init(&b, 0);
    vgl_rc rc = vgl_json_decode(&ev, (const char *)data, size, &lim, err, sizeof(err));
    if (rc != VGL_OK) {
        /* every error says what went wrong */
        if (err[0] == '\0')
            abort();
        goto out;
    }
    if (vgl_json_encode_event(&a, &ev) != VGL_OK)
        abort();
    if (vgl_json_decode(&again, a.data, a.len, &(vgl_decode_limits){.max_depth = 64}, err,
                        sizeof(err)) != VGL_OK) {
        fprintf(stderr, "our output does not decode: %s\n", err);
        abort();
    }
    if (vgl_json_encode_event(&b, &again) != VGL_OK || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0) {
        fprintf(stderr, "encoding is not a fixed point:\n%s\n%s\n", a.data, b.data);
        abort();
    }
out:
    vgl_buf_free(&a);
    vgl_buf_free(&b);
    vgl_event_destroy(&ev);
    vgl_event_destroy(&again);
    return 0;
}
