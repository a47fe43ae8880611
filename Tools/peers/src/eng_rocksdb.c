/* RocksDB engine (C API).  Layout and options: Tools/peers/README.md.
 * Variants: "" = LZ4 on upper levels + ZSTD on the bottommost level,
 *           "zstd" = ZSTD on all levels. */
#define _GNU_SOURCE
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

#ifndef ROCKSDB_VERSION_STR
#define ROCKSDB_VERSION_STR "unknown"
#endif

#define CACHE_BYTES (256ull << 20)
#define WRITE_BUFFER_BYTES (64ull << 20)

struct engine {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_cache_t *cache;
    char config[768];
};

struct tctx {
    struct engine *e;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro_get;
    rocksdb_readoptions_t *ro_iter;
    rocksdb_writebatch_t *wb;
    uint8_t *vbuf;
    size_t vcap;
};

static engine_t *r_open(const char *dir, const engine_cfg_t *cfg, char *err, size_t errlen) {
    struct engine *e = calloc(1, sizeof *e);
    int zstd_all = cfg->variant && !strcmp(cfg->variant, "zstd");
    if (cfg->variant && cfg->variant[0] && !zstd_all) {
        snprintf(err, errlen, "unknown rocksdb variant '%s' (want '' or 'zstd')", cfg->variant);
        free(e);
        return NULL;
    }
    e->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(e->opts, 1);
    rocksdb_options_set_error_if_exists(e->opts, 1);
    rocksdb_options_set_write_buffer_size(e->opts, WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_write_buffer_number(e->opts, 2);        /* default */
    rocksdb_options_set_max_background_jobs(e->opts, 2);            /* default; 2 cores */
    rocksdb_options_set_level_compaction_dynamic_level_bytes(e->opts, 1);
    rocksdb_options_set_bytes_per_sync(e->opts, 1 << 20);
    rocksdb_options_set_compression(e->opts, zstd_all ? rocksdb_zstd_compression : rocksdb_lz4_compression);
    rocksdb_options_set_bottommost_compression(e->opts, rocksdb_zstd_compression);

    e->bbto = rocksdb_block_based_options_create();
    e->cache = rocksdb_cache_create_lru(CACHE_BYTES);
    rocksdb_block_based_options_set_block_cache(e->bbto, e->cache);
    rocksdb_block_based_options_set_filter_policy(e->bbto, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_format_version(e->bbto, 5);
    rocksdb_options_set_block_based_table_factory(e->opts, e->bbto);

    char *error = NULL;
    /* experiments only (not used for the baseline): extra options in RocksDB's
     * "name=value;name=value" syntax applied on top, e.g. "allow_fallocate=false" */
    const char *extra = getenv("PEERBENCH_ROCKSDB_OPTIONS");
    if (extra && extra[0]) {
        rocksdb_options_t *o2 = rocksdb_options_create();
        rocksdb_get_options_from_string(e->opts, extra, o2, &error);
        if (error) {
            snprintf(err, errlen, "PEERBENCH_ROCKSDB_OPTIONS: %s", error);
            free(error);
            rocksdb_options_destroy(o2);
            free(e);
            return NULL;
        }
        rocksdb_options_destroy(e->opts);
        e->opts = o2;
    }
    e->db = rocksdb_open(e->opts, dir, &error);
    if (error) {
        snprintf(err, errlen, "%s", error);
        free(error);
        free(e);
        return NULL;
    }
    snprintf(e->config, sizeof e->config,
             "leveled compaction (dynamic_level_bytes=true), compression=%s, bottommost=zstd, "
             "bloom=10 bits/key (full filter), block_cache=256MiB LRU, block_size=4KiB, write_buffer=64MiB x2, "
             "max_background_jobs=2, bytes_per_sync=1MiB, WAL on, keyspace: inbox+block keys in default CF%s%s",
             zstd_all ? "zstd" : "lz4", extra && extra[0] ? "; extra: " : "", extra && extra[0] ? extra : "");
    return e;
}

static const char *r_version(engine_t *e) { (void)e; return "RocksDB " ROCKSDB_VERSION_STR; }
static const char *r_config(engine_t *e) { return e->config; }

static tctx_t *r_thread_open(engine_t *e) {
    struct tctx *t = calloc(1, sizeof *t);
    t->e = e;
    t->wo = rocksdb_writeoptions_create();
    t->ro_get = rocksdb_readoptions_create();
    t->ro_iter = rocksdb_readoptions_create();
    t->wb = rocksdb_writebatch_create();
    t->vcap = 8192;
    t->vbuf = malloc(t->vcap);
    return t;
}

static void r_thread_close(tctx_t *t) {
    rocksdb_writeoptions_destroy(t->wo);
    rocksdb_readoptions_destroy(t->ro_get);
    rocksdb_readoptions_destroy(t->ro_iter);
    rocksdb_writebatch_destroy(t->wb);
    free(t->vbuf);
    free(t);
}

static void r_set_durable(tctx_t *t, int durable) { rocksdb_writeoptions_set_sync(t->wo, durable ? 1 : 0); }

static int r_write(tctx_t *t) {
    char *error = NULL;
    rocksdb_write(t->e->db, t->wo, t->wb, &error);
    if (error) {
        fprintf(stderr, "rocksdb write: %s\n", error);
        free(error);
        return -1;
    }
    return 0;
}

static int r_put_blocks(tctx_t *t, const uint8_t *pairs, size_t n) {
    uint8_t k[BLOCK_KEY_LEN];
    rocksdb_writebatch_clear(t->wb);
    for (size_t i = 0; i < n; i++) {
        block_key(k, pairs + i * 32, pairs + i * 32 + 16);
        rocksdb_writebatch_put(t->wb, (const char *)k, sizeof k, "", 0);
    }
    return r_write(t);
}

static int r_is_blocked(tctx_t *t, const uint8_t *blocker, const uint8_t *blocked) {
    uint8_t k[BLOCK_KEY_LEN];
    block_key(k, blocker, blocked);
    char *error = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(t->e->db, t->ro_get, (const char *)k, sizeof k, &error);
    if (error) {
        fprintf(stderr, "rocksdb get: %s\n", error);
        free(error);
        return -1;
    }
    if (!v) return 0;
    rocksdb_pinnableslice_destroy(v);
    return 1;
}

static int r_put_entries(tctx_t *t, const inbox_entry_t *ents, int n) {
    uint8_t k[INBOX_KEY_LEN];
    rocksdb_writebatch_clear(t->wb);
    for (int i = 0; i < n; i++) {
        const inbox_entry_t *e = &ents[i];
        size_t need = VALUE_HDR_LEN + e->content_len;
        if (need > t->vcap) {
            t->vcap = need * 2;
            t->vbuf = realloc(t->vbuf, t->vcap);
        }
        inbox_key(k, e);
        size_t vl = inbox_value(t->vbuf, e);
        rocksdb_writebatch_put(t->wb, (const char *)k, sizeof k, (const char *)t->vbuf, vl);
    }
    return r_write(t);
}

static long r_read_inbox(tctx_t *t, const uint8_t *recipient, int64_t after, int limit, uint8_t *buf,
                         size_t cap, size_t *bytes_out) {
    uint8_t seek[24], ub[16];
    inbox_seek_key(seek, recipient, after);
    if (inbox_upper_bound(ub, recipient))
        rocksdb_readoptions_set_iterate_upper_bound(t->ro_iter, (const char *)ub, 16);
    else
        rocksdb_readoptions_set_iterate_upper_bound(t->ro_iter, NULL, 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator(t->e->db, t->ro_iter);
    rocksdb_iter_seek(it, (const char *)seek, sizeof seek);
    long rows = 0;
    size_t off = 0;
    while (rows < limit && rocksdb_iter_valid(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < 16 || memcmp(k, recipient, 16) != 0) break;
        if (kl == INBOX_KEY_LEN) {
            const char *v = rocksdb_iter_value(it, &vl);
            off = page_append(buf, cap, off, v, vl, NULL, 0);
            rows++;
        }
        rocksdb_iter_next(it);
    }
    char *error = NULL;
    rocksdb_iter_get_error(it, &error);
    rocksdb_iter_destroy(it);
    if (error) {
        fprintf(stderr, "rocksdb iter: %s\n", error);
        free(error);
        return -1;
    }
    *bytes_out = off;
    return rows;
}

static uint64_t prop(struct engine *e, const char *name) {
    uint64_t v = 0;
    if (rocksdb_property_int(e->db, name, &v) != 0) return 0;
    return v;
}

static int r_settle(engine_t *e, char *info, size_t infolen) {
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *error = NULL;
    rocksdb_flush(e->db, fo, &error);
    rocksdb_flushoptions_destroy(fo);
    if (error) {
        snprintf(info, infolen, "flush: %s", error);
        free(error);
        return -1;
    }
    /* wait until no flush/compaction is running or pending */
    for (;;) {
        if (prop(e, "rocksdb.num-running-compactions") == 0 && prop(e, "rocksdb.num-running-flushes") == 0 &&
            prop(e, "rocksdb.compaction-pending") == 0 && prop(e, "rocksdb.mem-table-flush-pending") == 0)
            break;
        usleep(50000);
    }
    size_t off = (size_t)snprintf(info, infolen, "flush(wait)+poll compaction-pending; files/level=");
    for (int l = 0; l < 7 && off < infolen; l++) {
        char name[64];
        snprintf(name, sizeof name, "rocksdb.num-files-at-level%d", l);
        char *v = rocksdb_property_value(e->db, name);
        off += (size_t)snprintf(info + off, infolen - off, "%s%s", l ? "," : "", v ? v : "?");
        free(v);
    }
    if (off < infolen)
        snprintf(info + off, infolen - off, "; sst_bytes=%llu",
                 (unsigned long long)prop(e, "rocksdb.total-sst-files-size"));
    return 0;
}

static void r_close(engine_t *e) {
    rocksdb_close(e->db);
    rocksdb_options_destroy(e->opts);
    rocksdb_block_based_options_destroy(e->bbto);
    rocksdb_cache_destroy(e->cache);
    free(e);
}

const engine_ops_t engine_ops = {
    .name = "rocksdb",
    .open = r_open,
    .version = r_version,
    .config = r_config,
    .thread_open = r_thread_open,
    .thread_close = r_thread_close,
    .set_durable = r_set_durable,
    .put_blocks = r_put_blocks,
    .is_blocked = r_is_blocked,
    .put_entries = r_put_entries,
    .read_inbox = r_read_inbox,
    .settle = r_settle,
    .close = r_close,
};
