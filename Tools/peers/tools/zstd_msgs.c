/* How much can zstd save on message contents, per message and per block,
 * with and without a trained dictionary?  Reads contents straight from a
 * workload's load.bin (docs/workload.md).
 *
 * Training set: sends with index % 10 == 0 (first --train N of them).
 * Evaluation set: sends with index % 10 == 5 (first --eval N), never trained on.
 *
 * Frames are written the way an embedded engine would store them: magicless
 * format, no content size, no checksum, no dictionary id.  "stored" sizes also
 * fall back to the raw bytes when compression does not help (an engine keeps a
 * flag bit for that; the bit is not counted).
 *
 * usage: zstd_msgs LOAD_BIN [--train N] [--eval N] [--dict-size BYTES] [--block BYTES]
 * Prints one JSON object per measurement on stdout. */
#define _GNU_SOURCE
#define ZSTD_STATIC_LINKING_ONLY
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zdict.h>
#include <zstd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    char *buf;
    size_t len, cap;
    size_t *sizes;
    size_t n, ncap;
} set_t;

static void set_add(set_t *s, const char *p, size_t l) {
    if (s->len + l > s->cap) {
        s->cap = (s->len + l) * 2 + 1024;
        s->buf = realloc(s->buf, s->cap);
    }
    if (s->n == s->ncap) {
        s->ncap = s->ncap ? s->ncap * 2 : 1024;
        s->sizes = realloc(s->sizes, s->ncap * sizeof(size_t));
    }
    memcpy(s->buf + s->len, p, l);
    s->len += l;
    s->sizes[s->n++] = l;
}

static void check(size_t r, const char *what) {
    if (ZSTD_isError(r)) {
        fprintf(stderr, "zstd_msgs: %s: %s\n", what, ZSTD_getErrorName(r));
        exit(1);
    }
}

static void set_params(ZSTD_CCtx *c, int level) {
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    check(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level), "level");
    check(ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless), "format");
    check(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0), "csize");
    check(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0), "checksum");
    check(ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0), "dictid");
}

/* compress each unit (message or block) separately; units given by sizes[] */
static void run(const char *name, int level, const set_t *s, const size_t *sizes, size_t n, ZSTD_CDict *cd,
                ZSTD_DDict *dd) {
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_DCtx *d = ZSTD_createDCtx();
    check(ZSTD_DCtx_setParameter(d, ZSTD_d_format, ZSTD_f_zstd1_magicless), "dformat");
    size_t maxu = 0;
    for (size_t i = 0; i < n; i++) if (sizes[i] > maxu) maxu = sizes[i];
    size_t total_bound = 0;
    for (size_t i = 0; i < n; i++) total_bound += ZSTD_compressBound(sizes[i]);
    char *out = malloc(total_bound ? total_bound : 1); /* keep all frames for the decompression pass */
    size_t *csz = malloc(n * sizeof(size_t));
    char *back = malloc(maxu + 1);
    size_t raw = 0, framed = 0, stored = 0;
    size_t off = 0, ooff = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        set_params(c, level);
        if (cd) check(ZSTD_CCtx_refCDict(c, cd), "refCDict");
        size_t r = ZSTD_compress2(c, out + ooff, ZSTD_compressBound(sizes[i]), s->buf + off, sizes[i]);
        check(r, "compress");
        csz[i] = r;
        raw += sizes[i];
        framed += r;
        stored += r < sizes[i] ? r : sizes[i];
        off += sizes[i];
        ooff += r;
    }
    double tc = now_s() - t0;
    off = ooff = 0;
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        if (dd) check(ZSTD_DCtx_refDDict(d, dd), "refDDict");
        size_t r = ZSTD_decompressDCtx(d, back, maxu + 1, out + ooff, csz[i]);
        check(r, "decompress");
        if (r != sizes[i] || memcmp(back, s->buf + off, r) != 0) {
            fprintf(stderr, "zstd_msgs: round trip mismatch\n");
            exit(1);
        }
        off += sizes[i];
        ooff += csz[i];
    }
    double td = now_s() - t0;
    printf("{\"test\":\"%s\",\"level\":%d,\"units\":%zu,\"raw_bytes\":%zu,\"framed_bytes\":%zu,\"stored_bytes\":%zu,"
           "\"ratio_framed\":%.3f,\"ratio_stored\":%.3f,\"avg_unit_bytes\":%.1f,\"avg_stored_unit_bytes\":%.1f,"
           "\"compress_mb_s\":%.1f,\"decompress_mb_s\":%.1f,\"compress_us_per_unit\":%.2f,"
           "\"decompress_us_per_unit\":%.2f}\n",
           name, level, n, raw, framed, stored, (double)raw / framed, (double)raw / stored, (double)raw / n,
           (double)stored / n, raw / tc / 1e6, raw / td / 1e6, tc / n * 1e6, td / n * 1e6);
    fflush(stdout);
    free(out);
    free(csz);
    free(back);
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: zstd_msgs LOAD_BIN [--train N] [--eval N] [--dict-size BYTES] [--block BYTES]\n");
        return 2;
    }
    size_t ntrain = 100000, neval = 100000, dict_size = 112640, block = 4096;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--train")) ntrain = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--eval")) neval = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dict-size")) dict_size = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--block")) block = strtoull(argv[i + 1], NULL, 10);
        else { fprintf(stderr, "zstd_msgs: unknown option %s\n", argv[i]); return 2; }
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    unsigned char hdr[64];
    uint64_t n;
    if (fread(hdr, 1, 16, f) != 16 || memcmp(hdr, "MSGLOAD1", 8)) { fprintf(stderr, "bad load.bin\n"); return 1; }
    memcpy(&n, hdr + 8, 8);
    set_t tr = {0}, ev = {0};
    char *c = malloc(1 << 20);
    for (uint64_t i = 0; i < n && (tr.n < ntrain || ev.n < neval); i++) {
        uint32_t cl;
        if (fread(hdr, 1, 64, f) != 64) break;
        memcpy(&cl, hdr + 4, 4);
        if (cl > (1u << 20) || fread(c, 1, cl, f) != cl) { fprintf(stderr, "bad record\n"); return 1; }
        if (i % 10 == 0 && tr.n < ntrain) set_add(&tr, c, cl);
        if (i % 10 == 5 && ev.n < neval) set_add(&ev, c, cl);
    }
    fclose(f);

    double t0 = now_s();
    void *dict = malloc(dict_size);
    size_t dl = ZDICT_trainFromBuffer(dict, dict_size, tr.buf, tr.sizes, (unsigned)tr.n);
    if (ZDICT_isError(dl)) { fprintf(stderr, "train: %s\n", ZDICT_getErrorName(dl)); return 1; }
    printf("{\"test\":\"dict_train\",\"samples\":%zu,\"sample_bytes\":%zu,\"dict_bytes\":%zu,\"seconds\":%.2f}\n",
           tr.n, tr.len, dl, now_s() - t0);

    /* block units: eval messages packed back to back into `block`-byte chunks
     * (what an SST/B-tree data block holding only contents would see) */
    size_t nblk = (ev.len + block - 1) / block;
    size_t *bsz = malloc(nblk * sizeof(size_t));
    for (size_t i = 0; i < nblk; i++) bsz[i] = (i + 1) * block <= ev.len ? block : ev.len - i * block;

    int levels[2] = {1, 3};
    for (int li = 0; li < 2; li++) {
        int lv = levels[li];
        ZSTD_CDict *cd = ZSTD_createCDict(dict, dl, lv);
        ZSTD_DDict *dd = ZSTD_createDDict(dict, dl);
        size_t whole = ev.len;
        char name[64];
        run("per_message_nodict", lv, &ev, ev.sizes, ev.n, NULL, NULL);
        run("per_message_dict", lv, &ev, ev.sizes, ev.n, cd, dd);
        snprintf(name, sizeof name, "block%zu_nodict", block);
        run(name, lv, &ev, bsz, nblk, NULL, NULL);
        snprintf(name, sizeof name, "block%zu_dict", block);
        run(name, lv, &ev, bsz, nblk, cd, dd);
        run("whole_eval_set", lv, &ev, &whole, 1, NULL, NULL);
        ZSTD_freeCDict(cd);
        ZSTD_freeDDict(dd);
    }
    return 0;
}
