/* Messaging-workload harness for embedded storage engines.
 *
 * Reads a workload folder written by Tools/bench/gen_workload.py (format:
 * docs/workload.md) and drives one engine (linked in via engine_ops)
 * through the phases defined in docs/workload.md, printing one JSON
 * object per phase on stdout and a human table on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

#define OP_DIRECT 1
#define OP_GROUP 2
#define FLAG_BLOCKED 1
#define LOAD_HDR_LEN 64
#define READ_REC_LEN 32
#define CHECK_REC_LEN 33
#define BLOCK_BATCH 1000
#define PAGE_CAP (1u << 20)

/* ------------------------------------------------------------------ util */
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "peerbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024ull;
}

/* Private anonymous memory now (RssAnon of /proc/self/status): the heap, not
 * the binary's and shared libraries' code pages that peak RSS also counts.
 * Sampled at every phase end; the highest sample is peak_anon_rss_bytes. */
static uint64_t anon_rss_peak_sample;
static uint64_t anon_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "RssAnon:", 8) == 0) { kb = strtoull(line + 8, NULL, 10); break; }
    }
    fclose(f);
    uint64_t bytes = kb * 1024ull;
    if (bytes > anon_rss_peak_sample) anon_rss_peak_sample = bytes;
    return bytes;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

static uint8_t *read_file(const char *dir, const char *name, const char *magic, uint64_t *count,
                          size_t *len_out) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 16) die("%s: too short", path);
    uint8_t *buf = xmalloc((size_t)len);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) die("%s: short read", path);
    fclose(f);
    if (memcmp(buf, magic, 8) != 0) die("%s: bad magic (want %.8s)", path, magic);
    memcpy(count, buf + 8, 8);
    *len_out = (size_t)len;
    return buf;
}

/* --------------------------------------------------------------- groups */
typedef struct {
    uint8_t id[16];
    uint32_t n;
    const uint8_t *members; /* n * 16 bytes */
} group_t;

static group_t *g_groups;
static uint32_t g_group_slots; /* power of two, open addressing */
static uint32_t g_max_group;

static uint64_t id_hash(const uint8_t *id) {
    uint64_t h;
    memcpy(&h, id, 8);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void load_groups(const char *dir) {
    uint64_t n;
    size_t len;
    uint8_t *buf = read_file(dir, "groups.bin", "MSGGRPS1", &n, &len);
    g_group_slots = 16;
    while (g_group_slots < n * 2) g_group_slots <<= 1;
    g_groups = calloc(g_group_slots, sizeof(group_t));
    size_t off = 16;
    for (uint64_t i = 0; i < n; i++) {
        if (off + 20 > len) die("groups.bin truncated");
        group_t g;
        memcpy(g.id, buf + off, 16);
        memcpy(&g.n, buf + off + 16, 4);
        off += 20;
        if (off + (size_t)g.n * 16 > len) die("groups.bin truncated");
        g.members = buf + off;
        off += (size_t)g.n * 16;
        if (g.n > g_max_group) g_max_group = g.n;
        uint32_t s = (uint32_t)id_hash(g.id) & (g_group_slots - 1);
        while (g_groups[s].members) s = (s + 1) & (g_group_slots - 1);
        g_groups[s] = g;
    }
}

static const group_t *find_group(const uint8_t *id) {
    uint32_t s = (uint32_t)id_hash(id) & (g_group_slots - 1);
    while (g_groups[s].members) {
        if (memcmp(g_groups[s].id, id, 16) == 0) return &g_groups[s];
        s = (s + 1) & (g_group_slots - 1);
    }
    return NULL;
}

/* ----------------------------------------------------------- load reader */
typedef struct {
    uint8_t op, flags;
    uint32_t clen;
    uint8_t sender[16], target[16], msgid[16];
    int64_t date;
    uint8_t *content;
    uint32_t ccap;
} send_t;

typedef struct {
    FILE *f;
    pthread_mutex_t mu;
    uint64_t total; /* records in file */
    uint64_t next;  /* index of the next record to hand out */
    uint64_t stop;  /* hand out records while next < stop */
} load_reader_t;

static load_reader_t g_reader;

static void reader_open(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/load.bin", dir);
    g_reader.f = fopen(path, "rb");
    if (!g_reader.f) die("cannot open %s: %s", path, strerror(errno));
    setvbuf(g_reader.f, NULL, _IOFBF, 1 << 22);
    uint8_t hdr[16];
    if (fread(hdr, 1, 16, g_reader.f) != 16 || memcmp(hdr, "MSGLOAD1", 8) != 0)
        die("%s: bad header", path);
    memcpy(&g_reader.total, hdr + 8, 8);
    pthread_mutex_init(&g_reader.mu, NULL);
}

/* returns 1 and fills s, or 0 at the stop point */
static int reader_next(send_t *s, uint64_t *idx) {
    uint8_t h[LOAD_HDR_LEN];
    pthread_mutex_lock(&g_reader.mu);
    if (g_reader.next >= g_reader.stop) {
        pthread_mutex_unlock(&g_reader.mu);
        return 0;
    }
    if (fread(h, 1, LOAD_HDR_LEN, g_reader.f) != LOAD_HDR_LEN) die("load.bin truncated");
    s->op = h[0];
    s->flags = h[1];
    memcpy(&s->clen, h + 4, 4);
    memcpy(s->sender, h + 8, 16);
    memcpy(s->target, h + 24, 16);
    memcpy(s->msgid, h + 40, 16);
    memcpy(&s->date, h + 56, 8);
    if (s->clen > s->ccap) {
        s->ccap = s->clen < 4096 ? 4096 : s->clen;
        s->content = realloc(s->content, s->ccap);
        if (!s->content) die("oom");
    }
    if (s->clen && fread(s->content, 1, s->clen, g_reader.f) != s->clen) die("load.bin truncated");
    *idx = g_reader.next++;
    pthread_mutex_unlock(&g_reader.mu);
    return 1;
}

/* ----------------------------------------------------------- run state */
static engine_t *g_eng;
static const char *g_engine_name;
static const char *g_durability = "buffered";
static int g_threads;
static char g_workload_id[32] = "unknown";
static int g_table_header_done;

typedef struct {
    uint64_t ops, entries, blocked, mismatches, rows, value_bytes, found, errors;
} counters_t;

typedef struct {
    pthread_t th;
    int durable;
    int record_latency;
    uint64_t base; /* first op index of the phase (latency array offset) */
    counters_t c;
} worker_t;

static uint32_t *g_lat;          /* per-op latency in ns (saturated at ~4.29 s) */
static atomic_uint_fast64_t g_next_op;
static const uint8_t *g_reads;   /* records after the 16-byte header */
static uint64_t g_nreads;
static const uint8_t *g_checks;
static uint64_t g_nchecks;
static int g_verify_reads;       /* expected counts valid (all sends applied) */

static void record_lat(uint64_t i, uint64_t ns) {
    g_lat[i] = ns > 0xffffffffull ? 0xffffffffu : (uint32_t)ns;
}

static void *ingest_worker(void *arg) {
    worker_t *w = arg;
    tctx_t *t = engine_ops.thread_open(g_eng);
    if (!t) die("thread_open failed");
    engine_ops.set_durable(t, w->durable);
    inbox_entry_t *ents = xmalloc(sizeof(inbox_entry_t) * (g_max_group + 1));
    send_t s = {0};
    uint64_t idx;
    while (reader_next(&s, &idx)) {
        uint64_t t0 = now_ns();
        if (s.op == OP_DIRECT) {
            /* recipient (target) is the blocker, sender the blocked one */
            int b = engine_ops.is_blocked(t, s.target, s.sender);
            if (b < 0) die("%s: block check failed at send %" PRIu64, g_engine_name, idx);
            if (b != (s.flags & FLAG_BLOCKED ? 1 : 0)) w->c.mismatches++;
            if (b) {
                w->c.blocked++;
            } else {
                inbox_entry_t *e = &ents[0];
                e->recipient = s.target;
                e->date = s.date;
                e->msgid = s.msgid;
                e->sender = s.sender;
                e->group = NULL;
                e->content = s.content;
                e->content_len = s.clen;
                if (engine_ops.put_entries(t, ents, 1) != 0)
                    die("%s: write failed at send %" PRIu64, g_engine_name, idx);
                w->c.entries++;
            }
        } else if (s.op == OP_GROUP) {
            const group_t *g = find_group(s.target);
            if (!g) die("send %" PRIu64 ": unknown group", idx);
            int n = 0;
            for (uint32_t i = 0; i < g->n; i++) {
                const uint8_t *m = g->members + (size_t)i * 16;
                if (memcmp(m, s.sender, 16) == 0) continue; /* no copy to the sender */
                inbox_entry_t *e = &ents[n++];
                e->recipient = m;
                e->date = s.date;
                e->msgid = s.msgid;
                e->sender = s.sender;
                e->group = s.target;
                e->content = s.content;
                e->content_len = s.clen;
            }
            if (n && engine_ops.put_entries(t, ents, n) != 0)
                die("%s: write failed at send %" PRIu64, g_engine_name, idx);
            w->c.entries += (uint64_t)n;
        } else {
            die("send %" PRIu64 ": bad op %u", idx, s.op);
        }
        if (w->record_latency) record_lat(idx - w->base, now_ns() - t0);
        w->c.ops++;
    }
    free(s.content);
    free(ents);
    engine_ops.thread_close(t);
    return NULL;
}

static void *reads_worker(void *arg) {
    worker_t *w = arg;
    tctx_t *t = engine_ops.thread_open(g_eng);
    if (!t) die("thread_open failed");
    uint8_t *page = xmalloc(PAGE_CAP);
    for (;;) {
        uint64_t i = atomic_fetch_add(&g_next_op, 1);
        if (i >= g_nreads) break;
        const uint8_t *r = g_reads + i * READ_REC_LEN;
        int64_t after;
        uint16_t limit;
        uint32_t expected;
        memcpy(&after, r + 16, 8);
        memcpy(&limit, r + 24, 2);
        memcpy(&expected, r + 28, 4);
        size_t bytes = 0;
        uint64_t t0 = now_ns();
        long rows = engine_ops.read_inbox(t, r, after, limit, page, PAGE_CAP, &bytes);
        record_lat(i, now_ns() - t0);
        if (rows < 0) die("%s: read failed", g_engine_name);
        if (g_verify_reads && (uint64_t)rows != expected) w->c.mismatches++;
        w->c.rows += (uint64_t)rows;
        w->c.value_bytes += bytes;
        w->c.ops++;
    }
    free(page);
    engine_ops.thread_close(t);
    return NULL;
}

static void *checks_worker(void *arg) {
    worker_t *w = arg;
    tctx_t *t = engine_ops.thread_open(g_eng);
    if (!t) die("thread_open failed");
    for (;;) {
        uint64_t i = atomic_fetch_add(&g_next_op, 1);
        if (i >= g_nchecks) break;
        const uint8_t *r = g_checks + i * CHECK_REC_LEN;
        uint64_t t0 = now_ns();
        int b = engine_ops.is_blocked(t, r, r + 16);
        record_lat(i, now_ns() - t0);
        if (b < 0) die("%s: block check failed", g_engine_name);
        if (b != (r[32] ? 1 : 0)) w->c.mismatches++;
        w->c.found += (uint64_t)b;
        w->c.ops++;
    }
    engine_ops.thread_close(t);
    return NULL;
}

static void run_workers(void *(*fn)(void *), int n, int durable, int record_latency, uint64_t base,
                        counters_t *sum) {
    worker_t *ws = calloc((size_t)n, sizeof(worker_t));
    for (int i = 0; i < n; i++) {
        ws[i].durable = durable;
        ws[i].record_latency = record_latency;
        ws[i].base = base;
        if (pthread_create(&ws[i].th, NULL, fn, &ws[i]) != 0) die("pthread_create failed");
    }
    memset(sum, 0, sizeof *sum);
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].th, NULL);
        sum->ops += ws[i].c.ops;
        sum->entries += ws[i].c.entries;
        sum->blocked += ws[i].c.blocked;
        sum->mismatches += ws[i].c.mismatches;
        sum->rows += ws[i].c.rows;
        sum->value_bytes += ws[i].c.value_bytes;
        sum->found += ws[i].c.found;
    }
    free(ws);
}

/* ---------------------------------------------------------- statistics */
typedef struct {
    double p50, p99, p999, mean, max;
} lat_t;

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentiles, in microseconds */
static lat_t lat_stats(uint32_t *v, uint64_t n) {
    lat_t L = {0};
    if (!n) return L;
    qsort(v, n, sizeof(uint32_t), cmp_u32);
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) sum += v[i];
#define RANK(p) v[(uint64_t)((p) * (double)n + 0.999999) > 0 ? (uint64_t)((p) * (double)n + 0.999999) - 1 : 0]
    L.p50 = RANK(0.50) / 1000.0;
    L.p99 = RANK(0.99) / 1000.0;
    L.p999 = RANK(0.999) / 1000.0;
#undef RANK
    L.mean = sum / (double)n / 1000.0;
    L.max = v[n - 1] / 1000.0;
    return L;
}

static uint64_t g_du_blocks, g_du_size;
static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)p; (void)flag; (void)ftw;
    g_du_blocks += (uint64_t)st->st_blocks * 512ull;
    if (S_ISREG(st->st_mode)) g_du_size += (uint64_t)st->st_size;
    return 0;
}
static void du(const char *dir, uint64_t *disk, uint64_t *logical) {
    g_du_blocks = g_du_size = 0;
    if (nftw(dir, du_cb, 32, FTW_PHYS) != 0) die("nftw(%s) failed", dir);
    *disk = g_du_blocks;
    *logical = g_du_size;
}

/* ------------------------------------------------------------- output */
typedef struct {
    char buf[4096];
    size_t len;
} jbuf_t;

static void jadd(jbuf_t *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->len, sizeof j->buf - j->len, fmt, ap);
    va_end(ap);
    if (n > 0) j->len += (size_t)n;
    if (j->len >= sizeof j->buf) j->len = sizeof j->buf - 1;
}

static void jstr(jbuf_t *j, const char *key, const char *val) {
    jadd(j, ",\"%s\":\"", key);
    for (const char *p = val; *p; p++) {
        if (*p == '"' || *p == '\\') jadd(j, "\\%c", *p);
        else if ((unsigned char)*p < 0x20) jadd(j, "\\u%04x", *p);
        else jadd(j, "%c", *p);
    }
    jadd(j, "\"");
}

/* throughput=0: open/settle/size lines, where ops_per_s is meaningless and omitted */
static void jbegin_t(jbuf_t *j, const char *phase, uint64_t ops, double secs, int throughput) {
    j->len = 0;
    jadd(j, "{\"schema\":\"msgbench/1\"");
    jstr(j, "engine", g_engine_name);
    jstr(j, "phase", phase);
    jstr(j, "durability", g_durability);
    jadd(j, ",\"threads\":%d", g_threads);
    jstr(j, "workload", g_workload_id);
    jadd(j, ",\"ops\":%" PRIu64 ",\"seconds\":%.3f", ops, secs);
    if (throughput) jadd(j, ",\"ops_per_s\":%.1f", secs > 0 ? (double)ops / secs : 0.0);
}
#define jbegin(j, phase, ops, secs) jbegin_t(j, phase, ops, secs, 1)

static void jlat(jbuf_t *j, const lat_t *L) {
    jadd(j, ",\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"mean_us\":%.2f,\"max_us\":%.1f", L->p50,
         L->p99, L->p999, L->mean, L->max);
}

static void jend(jbuf_t *j) {
    uint64_t anon = anon_rss_bytes();
    jadd(j, ",\"anon_rss_bytes\":%" PRIu64 ",\"peak_anon_rss_bytes\":%" PRIu64, anon, anon_rss_peak_sample);
    jadd(j, ",\"peak_rss_bytes\":%" PRIu64 "}", peak_rss_bytes());
    fprintf(stdout, "%s\n", j->buf);
    fflush(stdout);
}

static void table_row(const char *phase, uint64_t ops, double secs, const lat_t *L, const char *extra) {
    int thr = strcmp(phase, "settle") && strcmp(phase, "size") && strcmp(phase, "open");
    if (!g_table_header_done) {
        fprintf(stderr, "%-14s %-12s %-8s %3s %10s %9s %11s %9s %9s %10s  %s\n", "engine", "phase", "durab",
                "thr", "ops", "seconds", "ops/s", "p50_us", "p99_us", "p999_us", "notes");
        g_table_header_done = 1;
    }
    char p50[16] = "-", p99[16] = "-", p999[16] = "-";
    if (L) {
        snprintf(p50, sizeof p50, "%.1f", L->p50);
        snprintf(p99, sizeof p99, "%.1f", L->p99);
        snprintf(p999, sizeof p999, "%.1f", L->p999);
    }
    char rate[24] = "-";
    if (thr && secs > 0) snprintf(rate, sizeof rate, "%.1f", (double)ops / secs);
    fprintf(stderr, "%-14s %-12s %-8s %3d %10" PRIu64 " %9.2f %11s %9s %9s %10s  %s\n", g_engine_name, phase,
            g_durability, g_threads, ops, secs, rate, p50, p99, p999, extra ? extra : "");
    fflush(stderr);
}

/* pull the load.bin sha256 prefix out of workload.json as the workload id */
static void read_workload_id(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/workload.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    static char txt[1 << 16];
    size_t n = fread(txt, 1, sizeof txt - 1, f);
    fclose(f);
    txt[n] = 0;
    const char *p = strstr(txt, "\"load.bin\"");
    if (p) p = strstr(p, "\"sha256\": \"");
    if (p) {
        p += strlen("\"sha256\": \"");
        snprintf(g_workload_id, sizeof g_workload_id, "%.12s", p);
    }
}

/* ---------------------------------------------------------------- main */
static void usage(void) {
    fprintf(stderr,
            "usage: peerbench-<engine> --workload DIR --db DIR [--durability buffered|durable]\n"
            "                          [--threads N] [--limit SENDS] [--variant NAME] [--name LABEL]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *wl = NULL, *dbdir = NULL, *variant = "", *label = NULL;
    int durable = 0, threads = 0;
    uint64_t limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--workload") && v) wl = v, i++;
        else if (!strcmp(a, "--db") && v) dbdir = v, i++;
        else if (!strcmp(a, "--durability") && v) {
            if (!strcmp(v, "durable")) durable = 1;
            else if (!strcmp(v, "buffered")) durable = 0;
            else usage();
            i++;
        } else if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "--limit") && v) limit = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--variant") && v) variant = v, i++;
        else if (!strcmp(a, "--name") && v) label = v, i++;
        else usage();
    }
    if (!wl || !dbdir) usage();
    if (threads <= 0) threads = durable ? 8 : 1;
    g_threads = threads;
    g_durability = durable ? "durable" : "buffered";
    static char namebuf[128];
    if (label) g_engine_name = label;
    else if (variant[0]) {
        snprintf(namebuf, sizeof namebuf, "%s-%s", engine_ops.name, variant);
        g_engine_name = namebuf;
    } else g_engine_name = engine_ops.name;

    /* workload */
    read_workload_id(wl);
    load_groups(wl);
    uint64_t nblocks;
    size_t len;
    uint8_t *blocks = read_file(wl, "blocks.bin", "MSGBLCK1", &nblocks, &len);
    if (len < 16 + nblocks * 32) die("blocks.bin truncated");
    uint8_t *reads = read_file(wl, "reads.bin", "MSGREAD1", &g_nreads, &len);
    if (len < 16 + g_nreads * READ_REC_LEN) die("reads.bin truncated");
    g_reads = reads + 16;
    uint8_t *checks = read_file(wl, "checks.bin", "MSGCHCK1", &g_nchecks, &len);
    if (len < 16 + g_nchecks * CHECK_REC_LEN) die("checks.bin truncated");
    g_checks = checks + 16;
    reader_open(wl);
    uint64_t nsends = g_reader.total;
    uint64_t timed = (limit && limit < nsends) ? limit : nsends;
    uint64_t maxops = nsends;
    if (g_nreads > maxops) maxops = g_nreads;
    if (g_nchecks > maxops) maxops = g_nchecks;
    g_lat = xmalloc(maxops * sizeof(uint32_t));

    /* open */
    mkdir(dbdir, 0755);
    char err[1024] = "";
    engine_cfg_t cfg = {.variant = variant, .threads = threads};
    jbuf_t j;
    char note[512];
    uint64_t t0 = now_ns();
    g_eng = engine_ops.open(dbdir, &cfg, err, sizeof err);
    if (!g_eng) die("open %s failed: %s", dbdir, err);
    double secs = (now_ns() - t0) / 1e9;
    jbegin_t(&j, "open", 1, secs, 0);
    jstr(&j, "version", engine_ops.version(g_eng));
    jstr(&j, "config", engine_ops.config(g_eng));
    jend(&j);
    fprintf(stderr, "# %s %s: %s\n", g_engine_name, engine_ops.version(g_eng), engine_ops.config(g_eng));

    /* phase: load_blocks (bulk, buffered, 1 thread, batches of 1000) */
    {
        tctx_t *t = engine_ops.thread_open(g_eng);
        engine_ops.set_durable(t, 0);
        t0 = now_ns();
        for (uint64_t i = 0; i < nblocks; i += BLOCK_BATCH) {
            size_t n = nblocks - i < BLOCK_BATCH ? (size_t)(nblocks - i) : BLOCK_BATCH;
            if (engine_ops.put_blocks(t, blocks + 16 + i * 32, n) != 0) die("put_blocks failed");
        }
        secs = (now_ns() - t0) / 1e9;
        engine_ops.thread_close(t);
        jbegin(&j, "load_blocks", nblocks, secs);
        jend(&j);
        table_row("load_blocks", nblocks, secs, NULL, "");
    }

    /* phase: ingest (timed part) */
    counters_t c, crest = {0};
    g_reader.stop = timed;
    t0 = now_ns();
    run_workers(ingest_worker, threads, durable, 1, 0, &c);
    secs = (now_ns() - t0) / 1e9;
    lat_t L = lat_stats(g_lat, c.ops);
    jbegin(&j, "ingest", c.ops, secs);
    jlat(&j, &L);
    jadd(&j, ",\"entries\":%" PRIu64 ",\"entries_per_s\":%.1f,\"blocked\":%" PRIu64 ",\"mismatches\":%" PRIu64
             ",\"limit\":%" PRIu64 ",\"sends_total\":%" PRIu64,
         c.entries, secs > 0 ? c.entries / secs : 0.0, c.blocked, c.mismatches, timed, nsends);
    jend(&j);
    snprintf(note, sizeof note, "entries/s=%.0f blocked=%" PRIu64 "%s", secs > 0 ? c.entries / secs : 0.0,
             c.blocked, c.mismatches ? " MISMATCHES!" : "");
    table_row("ingest", c.ops, secs, &L, note);
    uint64_t total_entries = c.entries, mism_ingest = c.mismatches;

    /* phase: ingest_rest (only with --limit): rest of load.bin, 1 thread,
     * buffered, untimed for comparison purposes, so the read phases see the
     * full data set. */
    if (timed < nsends) {
        g_reader.stop = nsends;
        t0 = now_ns();
        run_workers(ingest_worker, 1, 0, 0, timed, &crest);
        secs = (now_ns() - t0) / 1e9;
        jbegin(&j, "ingest_rest", crest.ops, secs);
        jadd(&j, ",\"entries\":%" PRIu64 ",\"entries_per_s\":%.1f,\"blocked\":%" PRIu64 ",\"mismatches\":%" PRIu64,
             crest.entries, secs > 0 ? crest.entries / secs : 0.0, crest.blocked, crest.mismatches);
        jstr(&j, "note", "sends after --limit, loaded buffered with 1 thread; not a measurement");
        jend(&j);
        table_row("ingest_rest", crest.ops, secs, NULL, "untimed filler (buffered, 1 thread)");
        total_entries += crest.entries;
        mism_ingest += crest.mismatches;
    }
    g_verify_reads = (mism_ingest == 0);

    /* phase: settle */
    {
        char info[1024] = "";
        t0 = now_ns();
        if (engine_ops.settle(g_eng, info, sizeof info) != 0) die("settle failed: %s", info);
        secs = (now_ns() - t0) / 1e9;
        uint64_t disk, logical;
        du(dbdir, &disk, &logical);
        jbegin_t(&j, "settle", 1, secs, 0);
        jadd(&j, ",\"bytes_on_disk\":%" PRIu64 ",\"logical_bytes\":%" PRIu64, disk, logical);
        jstr(&j, "detail", info);
        jend(&j);
        snprintf(note, sizeof note, "disk=%.1f MB", disk / 1e6);
        table_row("settle", 1, secs, NULL, note);
    }

    /* phase: reads */
    atomic_store(&g_next_op, 0);
    t0 = now_ns();
    run_workers(reads_worker, threads, durable, 1, 0, &c);
    secs = (now_ns() - t0) / 1e9;
    L = lat_stats(g_lat, c.ops);
    jbegin(&j, "reads", c.ops, secs);
    jlat(&j, &L);
    jadd(&j, ",\"rows\":%" PRIu64 ",\"rows_per_s\":%.1f,\"value_bytes\":%" PRIu64 ",\"mismatches\":%" PRIu64
             ",\"verified\":%s",
         c.rows, secs > 0 ? c.rows / secs : 0.0, c.value_bytes, c.mismatches, g_verify_reads ? "true" : "false");
    jend(&j);
    snprintf(note, sizeof note, "rows=%" PRIu64 "%s", c.rows, c.mismatches ? " MISMATCHES!" : "");
    table_row("reads", c.ops, secs, &L, note);

    /* phase: checks */
    atomic_store(&g_next_op, 0);
    t0 = now_ns();
    run_workers(checks_worker, threads, durable, 1, 0, &c);
    secs = (now_ns() - t0) / 1e9;
    L = lat_stats(g_lat, c.ops);
    jbegin(&j, "checks", c.ops, secs);
    jlat(&j, &L);
    jadd(&j, ",\"found\":%" PRIu64 ",\"mismatches\":%" PRIu64, c.found, c.mismatches);
    jend(&j);
    snprintf(note, sizeof note, "found=%" PRIu64 "%s", c.found, c.mismatches ? " MISMATCHES!" : "");
    table_row("checks", c.ops, secs, &L, note);

    /* phase: size (after a clean close) */
    {
        t0 = now_ns();
        engine_ops.close(g_eng);
        secs = (now_ns() - t0) / 1e9;
        uint64_t disk, logical;
        du(dbdir, &disk, &logical);
        jbegin_t(&j, "size", total_entries, secs, 0);
        jadd(&j, ",\"entries\":%" PRIu64 ",\"bytes_on_disk\":%" PRIu64 ",\"logical_bytes\":%" PRIu64
                 ",\"bytes_per_entry\":%.2f",
             total_entries, disk, logical, total_entries ? (double)disk / total_entries : 0.0);
        jend(&j);
        snprintf(note, sizeof note, "disk=%.1f MB  %.1f B/entry  peak_rss=%.0f MB", disk / 1e6,
                 total_entries ? (double)disk / total_entries : 0.0, peak_rss_bytes() / 1e6);
        table_row("size", total_entries, secs, NULL, note);
    }
    fclose(g_reader.f);
    free(g_lat);
    free(blocks);
    free(reads);
    free(checks);
    return 0;
}
