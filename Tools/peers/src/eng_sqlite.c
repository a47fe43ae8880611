/* SQLite engine.  Layout and options: Tools/peers/README.md.
 * One connection per client thread (WAL mode: readers never block); writes
 * are serialized by an in-process mutex (SQLite allows one writer anyway, and
 * this avoids the busy-handler sleep/retry loop).  One transaction per send. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define CACHE_KIB_TOTAL (256 * 1024) /* split across connections */

struct engine {
    char path[4096];
    sqlite3 *main;
    pthread_mutex_t wmu;
    int cache_kib;
    char version[32];
    char config[512];
};

struct tctx {
    struct engine *e;
    sqlite3 *db;
    sqlite3_stmt *ins, *chk, *rd, *blk, *begin, *commit, *rollback;
};

static int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3 *connect(struct engine *e) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(e->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "sqlite open: %s\n", db ? sqlite3_errmsg(db) : "?");
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", e->cache_kib);
    if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=NORMAL") || exec(db, sql)) {
        sqlite3_close(db);
        return NULL;
    }
    /* experiments only (not used for the baseline): extra pragmas per connection */
    const char *extra = getenv("PEERBENCH_SQLITE_PRAGMAS");
    if (extra && extra[0] && exec(db, extra)) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static engine_t *s_open(const char *dir, const engine_cfg_t *cfg, char *err, size_t errlen) {
    if (cfg->variant && cfg->variant[0]) {
        snprintf(err, errlen, "sqlite has no variants");
        return NULL;
    }
    struct engine *e = calloc(1, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s/inbox.sqlite", dir);
    pthread_mutex_init(&e->wmu, NULL);
    int conns = cfg->threads > 0 ? cfg->threads : 1;
    e->cache_kib = CACHE_KIB_TOTAL / conns;
    e->main = connect(e);
    if (!e->main) {
        snprintf(err, errlen, "cannot open %s", e->path);
        free(e);
        return NULL;
    }
    if (exec(e->main,
             "CREATE TABLE inbox(recipient BLOB NOT NULL, date INTEGER NOT NULL, msgid BLOB NOT NULL,"
             " sender BLOB NOT NULL, groupid BLOB, content TEXT NOT NULL,"
             " PRIMARY KEY(recipient, date, msgid)) WITHOUT ROWID") ||
        exec(e->main,
             "CREATE TABLE blocks(blocker BLOB NOT NULL, blocked BLOB NOT NULL,"
             " PRIMARY KEY(blocker, blocked)) WITHOUT ROWID")) {
        snprintf(err, errlen, "schema creation failed");
        return NULL;
    }
    snprintf(e->version, sizeof e->version, "SQLite %s", sqlite3_libversion());
    snprintf(e->config, sizeof e->config,
             "WAL, page_size=4096, cache_size=%d KiB per connection (%d connections, 256MiB total), "
             "WITHOUT ROWID inbox PK(recipient,date,msgid) + blocks PK(blocker,blocked), prepared statements, "
             "one BEGIN IMMEDIATE..COMMIT per send, writers serialized by an in-process mutex, "
             "wal_autocheckpoint=1000 (default)%s%s",
             e->cache_kib, conns, getenv("PEERBENCH_SQLITE_PRAGMAS") ? "; extra: " : "",
             getenv("PEERBENCH_SQLITE_PRAGMAS") ? getenv("PEERBENCH_SQLITE_PRAGMAS") : "");
    return e;
}

static const char *s_version(engine_t *e) { return e->version; }
static const char *s_config(engine_t *e) { return e->config; }

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite prepare %s: %s\n", sql, sqlite3_errmsg(db));
        return NULL;
    }
    return st;
}

static tctx_t *s_thread_open(engine_t *e) {
    struct tctx *t = calloc(1, sizeof *t);
    t->e = e;
    t->db = connect(e);
    if (!t->db) return NULL;
    t->ins = prep(t->db, "INSERT INTO inbox(recipient,date,msgid,sender,groupid,content) VALUES(?,?,?,?,?,?)");
    t->chk = prep(t->db, "SELECT 1 FROM blocks WHERE blocker=? AND blocked=?");
    t->rd = prep(t->db,
                 "SELECT sender, groupid, content FROM inbox WHERE recipient=? AND date>? "
                 "ORDER BY date, msgid LIMIT ?");
    t->blk = prep(t->db, "INSERT INTO blocks(blocker,blocked) VALUES(?,?)");
    t->begin = prep(t->db, "BEGIN IMMEDIATE");
    t->commit = prep(t->db, "COMMIT");
    t->rollback = prep(t->db, "ROLLBACK");
    if (!t->ins || !t->chk || !t->rd || !t->blk || !t->begin || !t->commit || !t->rollback) return NULL;
    return t;
}

static void s_thread_close(tctx_t *t) {
    sqlite3_finalize(t->ins);
    sqlite3_finalize(t->chk);
    sqlite3_finalize(t->rd);
    sqlite3_finalize(t->blk);
    sqlite3_finalize(t->begin);
    sqlite3_finalize(t->commit);
    sqlite3_finalize(t->rollback);
    sqlite3_close(t->db);
    free(t);
}

static void s_set_durable(tctx_t *t, int durable) {
    exec(t->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

static int step_done(sqlite3 *db, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite step: %s (%d)\n", sqlite3_errmsg(db), rc);
        return -1;
    }
    return 0;
}

static int s_put_blocks(tctx_t *t, const uint8_t *pairs, size_t n) {
    int rc = 0;
    pthread_mutex_lock(&t->e->wmu);
    if (step_done(t->db, t->begin)) rc = -1;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_blob(t->blk, 1, pairs + i * 32, 16, SQLITE_STATIC);
        sqlite3_bind_blob(t->blk, 2, pairs + i * 32 + 16, 16, SQLITE_STATIC);
        rc = step_done(t->db, t->blk);
    }
    if (!rc) rc = step_done(t->db, t->commit);
    else step_done(t->db, t->rollback);
    pthread_mutex_unlock(&t->e->wmu);
    return rc;
}

static int s_is_blocked(tctx_t *t, const uint8_t *blocker, const uint8_t *blocked) {
    sqlite3_bind_blob(t->chk, 1, blocker, 16, SQLITE_STATIC);
    sqlite3_bind_blob(t->chk, 2, blocked, 16, SQLITE_STATIC);
    int rc = sqlite3_step(t->chk);
    sqlite3_reset(t->chk);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    fprintf(stderr, "sqlite check: %s\n", sqlite3_errmsg(t->db));
    return -1;
}

static int s_put_entries(tctx_t *t, const inbox_entry_t *ents, int n) {
    int rc = 0;
    pthread_mutex_lock(&t->e->wmu);
    if (step_done(t->db, t->begin)) rc = -1;
    for (int i = 0; !rc && i < n; i++) {
        const inbox_entry_t *e = &ents[i];
        sqlite3_bind_blob(t->ins, 1, e->recipient, 16, SQLITE_STATIC);
        sqlite3_bind_int64(t->ins, 2, e->date);
        sqlite3_bind_blob(t->ins, 3, e->msgid, 16, SQLITE_STATIC);
        sqlite3_bind_blob(t->ins, 4, e->sender, 16, SQLITE_STATIC);
        if (e->group) sqlite3_bind_blob(t->ins, 5, e->group, 16, SQLITE_STATIC);
        else sqlite3_bind_null(t->ins, 5);
        sqlite3_bind_text(t->ins, 6, (const char *)e->content, (int)e->content_len, SQLITE_STATIC);
        rc = step_done(t->db, t->ins);
    }
    if (!rc) rc = step_done(t->db, t->commit);
    else step_done(t->db, t->rollback);
    pthread_mutex_unlock(&t->e->wmu);
    return rc;
}

static long s_read_inbox(tctx_t *t, const uint8_t *recipient, int64_t after, int limit, uint8_t *buf,
                         size_t cap, size_t *bytes_out) {
    static const uint8_t zero[16];
    uint8_t hdr[32];
    sqlite3_bind_blob(t->rd, 1, recipient, 16, SQLITE_STATIC);
    sqlite3_bind_int64(t->rd, 2, after);
    sqlite3_bind_int(t->rd, 3, limit);
    long rows = 0;
    size_t off = 0;
    int rc;
    while ((rc = sqlite3_step(t->rd)) == SQLITE_ROW) {
        const void *snd = sqlite3_column_blob(t->rd, 0);
        const void *grp = sqlite3_column_blob(t->rd, 1);
        const void *txt = sqlite3_column_text(t->rd, 2);
        int tl = sqlite3_column_bytes(t->rd, 2);
        memcpy(hdr, snd, 16);
        memcpy(hdr + 16, grp ? grp : zero, 16);
        off = page_append(buf, cap, off, hdr, 32, txt, (size_t)tl);
        rows++;
    }
    sqlite3_reset(t->rd);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite read: %s\n", sqlite3_errmsg(t->db));
        return -1;
    }
    *bytes_out = off;
    return rows;
}

static int s_settle(engine_t *e, char *info, size_t infolen) {
    int logf = 0, ckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(e->main, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logf, &ckpt);
    snprintf(info, infolen, "wal_checkpoint(TRUNCATE) rc=%d wal_frames=%d checkpointed=%d", rc, logf, ckpt);
    return rc == SQLITE_OK ? 0 : -1;
}

static void s_close(engine_t *e) {
    sqlite3_close(e->main);
    free(e);
}

const engine_ops_t engine_ops = {
    .name = "sqlite",
    .open = s_open,
    .version = s_version,
    .config = s_config,
    .thread_open = s_thread_open,
    .thread_close = s_thread_close,
    .set_durable = s_set_durable,
    .put_blocks = s_put_blocks,
    .is_blocked = s_is_blocked,
    .put_entries = s_put_entries,
    .read_inbox = s_read_inbox,
    .settle = s_settle,
    .close = s_close,
};
