/* libFuzzer entry point for the Avro decoder (core/codec_avro.c); see
 * README.md. The first byte picks the codec: the generic event schema
 * (configs/schemas/event.avsc), the every-type test schema
 * (tests/data/schemas/2.avsc), or the Confluent codec over
 * tests/data/schemas. An accepted event is encoded back and decoded
 * again; with the event schema the result must be the same event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#ifndef VGL_FUZZ_SRCDIR
#define VGL_FUZZ_SRCDIR "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vgl_avro_codec *codecs[3];
static vgl_avro_ctx *ctxs[3];

static void open_codecs(void)
{
    const char *src = getenv("VGL_SRCDIR") ? getenv("VGL_SRCDIR") : VGL_FUZZ_SRCDIR;
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/configs/schemas/event.avsc", src);
    codecs[0] = vgl_avro_codec_from_file(path, err, sizeof(err));
    if (codecs[0]) {
        snprintf(path, sizeof(path), "%s/tests/data/schemas/2.avsc", src);
        codecs[1] = vgl_avro_codec_from_file(path, err, sizeof(err));
    }
    if (codecs[1]) {
        snprintf(path, sizeof(path), "%s/tests/data/schemas", src);
        codecs[2] = vgl_avro_codec_from_dir(path, err, sizeof(err));
    }
    if (!codecs[2]) {
        fprintf(stderr, "fuzz_avro: %s (run from the source tree or set VGL_SRCDIR)\n", err);
        exit(1);
    }
    for (int i = 0; i < 3; i++)
        ctxs[i] = vgl_avro_ctx_new(codecs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const vgl_decode_limits lim = {.max_bytes = 1u << 20, .max_depth = 64};
    if (!codecs[0])
        open_codecs();
    if (size < 1)
        return 0;
    int which = data[0] % 3;
    vgl_avro_ctx *x = ctxs[which];
    char err[512];
    vgl_event ev, again;
    vgl_event_init(&ev, 64u << 20);
    vgl_event_init(&again, 64u << 20);
    vgl_buf bin;
    vgl_buf_init(&bin, 0);
    vgl_rc rc = vgl_avro_decode(x, &ev, data + 1, size - 1, &lim, err, sizeof(err));
    if (rc != VGL_OK) {
        if (err[0] == '\0')
            abort();
        goto out;
    }
    /* the Confluent codec: encode with the id the record carried */
    int32_t id = which == 2 ? (int32_t)((uint32_t)data[2] << 24 | (uint32_t)data[3] << 16 |
                                        (uint32_t)data[4] << 8 | data[5])
                            : 0;
    rc = vgl_avro_encode(x, id, &ev.root, &bin, err, sizeof(err));
    if (rc != VGL_OK) {
        /* only the every-type schema may refuse its own output: a bytes
         * value that came back as base64 no longer fits a fixed */
        if (which == 0 || (which == 2 && id == 1)) {
            fprintf(stderr, "event schema refuses a decoded event: %s\n", err);
            abort();
        }
        goto out;
    }
    if (vgl_avro_decode(x, &again, bin.data, bin.len, &lim, err, sizeof(err)) != VGL_OK) {
        fprintf(stderr, "our output does not decode: %s\n", err);
        abort();
    }
    if ((which == 0 || (which == 2 && id == 1)) && !vgl_value_equal(&ev.root, &again.root)) {
        /* NaN never equals itself: compare the JSON text instead */
        vgl_buf j1, j2;
        vgl_buf_init(&j1, 0);
        vgl_buf_init(&j2, 0);
        vgl_json_encode_event(&j1, &ev);
        vgl_json_encode_event(&j2, &again);
        int same = j1.len == j2.len && memcmp(j1.data, j2.data, j1.len) == 0;
        if (!same)
            fprintf(stderr, "round trip differs:\n%s\n%s\n", j1.data, j2.data);
        vgl_buf_free(&j1);
        vgl_buf_free(&j2);
        if (!same)
            abort();
    }
out:
    vgl_buf_free(&bin);
    vgl_event_destroy(&ev);
    vgl_event_destroy(&again);
    return 0;
}
