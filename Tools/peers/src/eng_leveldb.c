/* LevelDB engine (C API).  Layout and options: Tools/peers/README.md. */
#define _GNU_SOURCE
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

#define CACHE_BYTES (256ull << 20)

struct engine {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    char version[32];
    char config[512];
};

struct tctx {
    struct engine *e;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
    leveldb_writebatch_t *wb;
    uint8_t *vbuf;
    size_t vcap;
};

static engine_t *l_open(const char *dir, const engine_cfg_t *cfg, char *err, size_t errlen) {
    if (cfg->variant && cfg->variant[0]) {
        snprintf(err, errlen, "leveldb has no variants");
        return NULL;
    }
    struct engine *e = calloc(1, sizeof *e);
    e->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(e->opts, 1);
    leveldb_options_set_error_if_exists(e->opts, 1);
    e->filter = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(e->opts, e->filter);
    e->cache = leveldb_cache_create_lru(CACHE_BYTES);
    leveldb_options_set_cache(e->opts, e->cache);
    leveldb_options_set_compression(e->opts, leveldb_snappy_compression);
    char *error = NULL;
    e->db = leveldb_open(e->opts, dir, &error);
    if (error) {
        snprintf(err, errlen, "%s", error);
        leveldb_free(error);
        free(e);
        return NULL;
    }
    snprintf(e->version, sizeof e->version, "LevelDB %d.%d", leveldb_major_version(), leveldb_minor_version());
    snprintf(e->config, sizeof e->config,
             "defaults (write_buffer=4MiB, max_file_size=2MiB, block_size=4KiB) + bloom=10 bits/key, "
             "compression=snappy, block_cache=256MiB LRU; inbox+block keys in one keyspace");
    return e;
}

static const char *l_version(engine_t *e) { return e->version; }
static const char *l_config(engine_t *e) { return e->config; }

static tctx_t *l_thread_open(engine_t *e) {
    struct tctx *t = calloc(1, sizeof *t);
    t->e = e;
    t->wo = leveldb_writeoptions_create();
    t->ro = leveldb_readoptions_create();
    t->wb = leveldb_writebatch_create();
    t->vcap = 8192;
    t->vbuf = malloc(t->vcap);
    return t;
}

static void l_thread_close(tctx_t *t) {
    leveldb_writeoptions_destroy(t->wo);
    leveldb_readoptions_destroy(t->ro);
    leveldb_writebatch_destroy(t->wb);
    free(t->vbuf);
    free(t);
}

static void l_set_durable(tctx_t *t, int durable) { leveldb_writeoptions_set_sync(t->wo, (uint8_t)(durable ? 1 : 0)); }

static int l_write(tctx_t *t) {
    char *error = NULL;
    leveldb_write(t->e->db, t->wo, t->wb, &error);
    if (error) {
        fprintf(stderr, "leveldb write: %s\n", error);
        leveldb_free(error);
        return -1;
    }
    return 0;
}

static int l_put_blocks(tctx_t *t, const uint8_t *pairs, size_t n) {
    uint8_t k[BLOCK_KEY_LEN];
    leveldb_writebatch_clear(t->wb);
    for (size_t i = 0; i < n; i++) {
        block_key(k, pairs + i * 32, pairs + i * 32 + 16);
        leveldb_writebatch_put(t->wb, (const char *)k, sizeof k, "", 0);
    }
    return l_write(t);
}

static int l_is_blocked(tctx_t *t, const uint8_t *blocker, const uint8_t *blocked) {
    uint8_t k[BLOCK_KEY_LEN];
    block_key(k, blocker, blocked);
    char *error = NULL;
    size_t vl = 0;
    char *v = leveldb_get(t->e->db, t->ro, (const char *)k, sizeof k, &vl, &error);
    if (error) {
        fprintf(stderr, "leveldb get: %s\n", error);
        leveldb_free(error);
        return -1;
    }
    if (!v) return 0;
    leveldb_free(v);
    return 1;
}

static int l_put_entries(tctx_t *t, const inbox_entry_t *ents, int n) {
    uint8_t k[INBOX_KEY_LEN];
    leveldb_writebatch_clear(t->wb);
    for (int i = 0; i < n; i++) {
        const inbox_entry_t *e = &ents[i];
        size_t need = VALUE_HDR_LEN + e->content_len;
        if (need > t->vcap) {
            t->vcap = need * 2;
            t->vbuf = realloc(t->vbuf, t->vcap);
        }
        inbox_key(k, e);
        size_t vl = inbox_value(t->vbuf, e);
        leveldb_writebatch_put(t->wb, (const char *)k, sizeof k, (const char *)t->vbuf, vl);
    }
    return l_write(t);
}

static long l_read_inbox(tctx_t *t, const uint8_t *recipient, int64_t after, int limit, uint8_t *buf,
                         size_t cap, size_t *bytes_out) {
    uint8_t seek[24];
    inbox_seek_key(seek, recipient, after);
    leveldb_iterator_t *it = leveldb_create_iterator(t->e->db, t->ro);
    leveldb_iter_seek(it, (const char *)seek, sizeof seek);
    long rows = 0;
    size_t off = 0;
    while (rows < limit && leveldb_iter_valid(it)) {
        size_t kl, vl;
        const char *k = leveldb_iter_key(it, &kl);
        if (kl < 16 || memcmp(k, recipient, 16) != 0) break;
        if (kl == INBOX_KEY_LEN) {
            const char *v = leveldb_iter_value(it, &vl);
            off = page_append(buf, cap, off, v, vl, NULL, 0);
            rows++;
        }
        leveldb_iter_next(it);
    }
    char *error = NULL;
    leveldb_iter_get_error(it, &error);
    leveldb_iter_destroy(it);
    if (error) {
        fprintf(stderr, "leveldb iter: %s\n", error);
        leveldb_free(error);
        return -1;
    }
    *bytes_out = off;
    return rows;
}

/* LevelDB has no "compaction pending" property.  We parse leveldb.sstables
 * (per-level file sizes) and compute LevelDB's own size-compaction scores
 * (L0: files/4; Ln: bytes / (10MiB * 10^(n-1))); settled = every score < 1
 * and leveldb.stats unchanged for 1 s (catches seek-triggered compactions). */
static int needs_compaction(struct engine *e, char *summary, size_t slen) {
    char *s = leveldb_property_value(e->db, "leveldb.sstables");
    if (!s) return 0;
    double bytes[7] = {0};
    int files[7] = {0};
    int level = -1;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        int l;
        unsigned long long num, sz;
        if (sscanf(line, "--- level %d ---", &l) == 1) level = l;
        else if (level >= 0 && level < 7 && sscanf(line, " %llu:%llu[", &num, &sz) == 2) {
            bytes[level] += (double)sz;
            files[level]++;
        }
    }
    leveldb_free(s);
    int need = files[0] >= 4;
    double limit = 10.0 * 1048576.0;
    for (int l = 1; l < 6; l++, limit *= 10.0)
        if (bytes[l] >= limit) need = 1;
    size_t off = (size_t)snprintf(summary, slen, "files/level=");
    for (int l = 0; l < 7 && off < slen; l++)
        off += (size_t)snprintf(summary + off, slen - off, "%s%d", l ? "," : "", files[l]);
    return need;
}

static int l_settle(engine_t *e, char *info, size_t infolen) {
    /* CompactRange over a range no table can overlap ("\0".."\0") = flush the
     * memtable only (DBImpl::CompactRange -> TEST_CompactMemTable). */
    leveldb_compact_range(e->db, "\0", 1, "\0", 1);
    char summary[256] = "";
    char *prev = NULL;
    int stable = 0;
    while (stable < 10) {
        usleep(100000);
        int need = needs_compaction(e, summary, sizeof summary);
        char *st = leveldb_property_value(e->db, "leveldb.stats");
        if (!need && prev && st && strcmp(prev, st) == 0) stable++;
        else stable = 0;
        if (prev) leveldb_free(prev);
        prev = st;
    }
    if (prev) leveldb_free(prev);
    snprintf(info, infolen, "memtable flush via CompactRange(\\0,\\0) + wait for size scores<1 and stats "
             "stable 1s; %s", summary);
    return 0;
}

static void l_close(engine_t *e) {
    leveldb_close(e->db);
    leveldb_options_destroy(e->opts);
    leveldb_cache_destroy(e->cache);
    leveldb_filterpolicy_destroy(e->filter);
    free(e);
}

const engine_ops_t engine_ops = {
    .name = "leveldb",
    .open = l_open,
    .version = l_version,
    .config = l_config,
    .thread_open = l_thread_open,
    .thread_close = l_thread_close,
    .set_durable = l_set_durable,
    .put_blocks = l_put_blocks,
    .is_blocked = l_is_blocked,
    .put_entries = l_put_entries,
    .read_inbox = l_read_inbox,
    .settle = l_settle,
    .close = l_close,
};
