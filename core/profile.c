/* core/profile.c — ag/profile.h: op kinds' counts and times, the trace of
 * the matrix products, and its replay.
 *
 * Forward intervals. Every tensor header the library makes (ag__result,
 * ag__view, the creation functions) is pushed, with the clock, on a small
 * ring of open intervals; an op's exit looks its output up from the top,
 * charges the interval to the op's kind and drops it and every entry above
 * it (allocations that no op exited with: scratch, creation calls). An
 * allocation no op ever exits with just ages out of the ring. Nested ops:
 * the profile keeps the total time charged so far; an interval's own time
 * is its length less what was charged while it was open, which is exactly
 * the time of the intervals inside it.
 */
#include "ag/profile.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Open intervals kept: deeper than any nesting of ops, wide enough for the
 * allocations an op makes between its output and its exit. */
#define RING 64

typedef struct {
    const ag_tensor *t;
    int64_t start;   /* ns */
    int64_t charged; /* the profile's charged total when it opened */
    int64_t gemm0;   /* the trace's length when it opened */
} open_interval;

struct ag_profile {
    unsigned flags;
    atomic_bool active;
    ag_profile_op ops[AG_PROFILE_MAX_KINDS];
    int nops;
    ag_gemm_call *gemms;
    int64_t ngemms, cap;
    open_interval open[RING]; /* a ring: open[top] is the newest */
    int top, nopen;
    int64_t charged;          /* ns of forward time charged so far */
    int in_backward;          /* depth of timed node backwards */
    const char *node_op;      /* the outermost of them: its products are its kind's */
    void *buf[2][3];          /* the replay's operands (f32, f64; A, B, C), kept */
    size_t buf_n[2][3];       /* their elements */
};

static _Thread_local ag_profile *active;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the profile ---------------------------------------------------------------- */

ag_profile *ag_profile_new_(unsigned flags) {
    if (!flags || (flags & ~(unsigned)(AG_PROFILE_OPS | AG_PROFILE_GEMMS))) {
        ag__fail("profile_new", "flags 0x%x: expected a nonzero mix of AG_PROFILE_OPS (1) and "
                 "AG_PROFILE_GEMMS (2)", flags);
        return NULL;
    }
    ag_profile *p = calloc(1, sizeof *p);
    if (!p) {
        ag__fail("profile_new", "out of memory for a profile (%zu bytes)", sizeof *p);
        return NULL;
    }
    p->flags = flags;
    atomic_init(&p->active, false);
    return p;
}

void ag_profile_free(ag_profile *p) {
    if (!p) return;
    if (active == p) active = NULL;
    free(p->gemms);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 3; k++) free(p->buf[d][k]);
    free(p);
}

bool ag_profile_begin_(ag_profile *p) {
    if (!p) {
        ag__fail("profile_begin", "profile is NULL");
        return false;
    }
    if (active) {
        ag__fail("profile_begin", "%s profile is already active on this thread: end it first",
                 active == p ? "this" : "another");
        return false;
    }
    if (atomic_exchange(&p->active, true)) {
        ag__fail("profile_begin", "the profile is active on another thread: a profile "
                 "records one thread");
        return false;
    }
    p->nopen = 0;
    p->in_backward = 0;
    active = p;
    return true;
}

bool ag_profile_end_(ag_profile *p) {
    if (!p || active != p) {
        ag__fail("profile_end", "%s is not this thread's active profile (%s)",
                 p ? "the profile" : "NULL", active ? "another one is" : "none is");
        return false;
    }
    active = NULL;
    atomic_store(&p->active, false);
    return true;
}

void ag_profile_clear(ag_profile *p) {
    if (!p) return;
    p->nops = 0;
    p->ngemms = 0;
    p->nopen = 0;
    p->charged = 0;
}

const ag_profile_op *ag_profile_ops(const ag_profile *p, int *n) {
    if (n) *n = p ? p->nops : 0;
    return p ? p->ops : NULL;
}

const ag_gemm_call *ag_profile_gemms(const ag_profile *p, int64_t *n) {
    if (n) *n = p ? p->ngemms : 0;
    return p ? p->gemms : NULL;
}

/* The entry of op's kind, made on its first call; the last slot gathers
 * the kinds past AG_PROFILE_MAX_KINDS - 1. */
static ag_profile_op *kind(ag_profile *p, const char *name) {
    static const char other[] = "(other kinds)";
    for (int i = 0; i < p->nops; i++)
        if (p->ops[i].name == name || !strcmp(p->ops[i].name, name)) return &p->ops[i];
    if (p->nops >= AG_PROFILE_MAX_KINDS - 1) {
        if (p->nops == AG_PROFILE_MAX_KINDS) return &p->ops[AG_PROFILE_MAX_KINDS - 1];
        name = other;
    }
    p->ops[p->nops] = (ag_profile_op){.name = name};
    return &p->ops[p->nops++];
}

/* ---- the hooks (internal.h) --------------------------------------------------------- */

bool ag__profile_on(void) { return active != NULL; }

void ag__profile_made(const ag_tensor *t) {
    ag_profile *p = active;
    if (!p || !(p->flags & AG_PROFILE_OPS) || p->in_backward || !t) return;
    p->top = (p->top + 1) % RING;
    p->open[p->top] = (open_interval){t, now_ns(), p->charged, p->ngemms};
    if (p->nopen < RING) p->nopen++;
}

void ag__profile_exit(const ag_tensor *out, const ag_op *op) {
    ag_profile *p = active;
    if (!p || !(p->flags & AG_PROFILE_OPS) || p->in_backward || !out) return;
    ag_profile_op *k = kind(p, op->name);
    k->fwd_calls++;
    for (int d = 0; d < p->nopen; d++) {
        const int i = (p->top - d + RING) % RING;
        if (p->open[i].t != out) continue;
        const int64_t len = now_ns() - p->open[i].start;
        int64_t own = len - (p->charged - p->open[i].charged);
        if (own < 0) own = 0;
        k->fwd_seconds += 1e-9 * (double)own;
        p->charged += own;
        /* the products made since its output, and not by an op inside it */
        for (int64_t g = p->open[i].gemm0; g < p->ngemms; g++)
            if (!p->gemms[g].op) p->gemms[g].op = op->name;
        p->top = (i - 1 + RING) % RING;
        p->nopen -= d + 1;
        return;
    }
    /* not found: its output was made more than RING allocations ago; the
     * call is counted, without time */
}

int64_t ag__profile_node_begin(const ag_op *op) {
    ag_profile *p = active;
    if (!p) return 0;
    if (p->in_backward++ == 0) p->node_op = op->name;
    return now_ns();
}

void ag__profile_node_end(const ag_op *op, int64_t start) {
    ag_profile *p = active;
    if (!p || p->in_backward == 0) return;
    const int64_t len = now_ns() - start;
    /* a backward pass run inside a node's backward is that node's time */
    if (--p->in_backward > 0 || !(p->flags & AG_PROFILE_OPS)) return;
    ag_profile_op *k = kind(p, op->name);
    k->bwd_calls++;
    k->bwd_seconds += 1e-9 * (double)len;
}

void ag__profile_gemm(const ag_gemm_call *c) {
    ag_profile *p = active;
    if (!p || !(p->flags & AG_PROFILE_GEMMS)) return;
    if (p->ngemms == p->cap) {
        const int64_t cap = p->cap ? 2 * p->cap : 256;
        ag_gemm_call *g = realloc(p->gemms, (size_t)cap * sizeof *g);
        if (!g) return; /* the trace stops growing; the computation goes on */
        p->gemms = g;
        p->cap = cap;
    }
    p->gemms[p->ngemms] = *c;
    p->gemms[p->ngemms++].op = p->in_backward && (p->flags & AG_PROFILE_OPS) ? p->node_op : NULL;
}

/* ---- the replay ----------------------------------------------------------------------- */

/* Elements a row-major rows x cols operand with row stride ld spans. */
static size_t span(int64_t rows, int64_t cols, int64_t ld) {
    return rows > 0 && cols > 0 ? (size_t)((rows - 1) * ld + cols) : 0;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Small nonzero values, far from overflow and from subnormal products. */
static void fill(void *buf, size_t n, ag_dtype dt) {
    for (size_t i = 0; i < n; i++) {
        const double v = 1e-2 * (double)((int)(i % 13) - 6) + 5e-3;
        if (dt == AG_F32)
            ((float *)buf)[i] = (float)v;
        else
            ((double *)buf)[i] = v;
    }
}

/* p->buf[d][k]: operand k (A, B, C) of dtype d (0 f32, 1 f64), as large as
 * the trace needs, filled. Kept in p from one replay to the next (a replay
 * after each group of steps would otherwise hand the allocator megabytes
 * back and forth, which moved where the next model's arenas landed and
 * slowed its steps); false when one cannot be allocated. */
static bool replay_buffers(ag_profile *p) {
    size_t need[2][3] = {{0}};
    for (int64_t i = 0; i < p->ngemms; i++) {
        const ag_gemm_call *c = &p->gemms[i];
        const int d = c->dtype == AG_F64;
        const size_t n[3] = {c->ta ? span(c->K, c->M, c->lda) : span(c->M, c->K, c->lda),
                             c->tb ? span(c->N, c->K, c->ldb) : span(c->K, c->N, c->ldb),
                             span(c->M, c->N, c->ldc)};
        for (int k = 0; k < 3; k++)
            if (n[k] > need[d][k]) need[d][k] = n[k];
    }
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 3; k++) {
            const ag_dtype dt = d ? AG_F64 : AG_F32;
            const size_t n = need[d][k] ? need[d][k] : 1;
            if (p->buf[d][k] && p->buf_n[d][k] >= n) continue;
            free(p->buf[d][k]);
            p->buf[d][k] = malloc(n * ag_dtype_size(dt));
            p->buf_n[d][k] = p->buf[d][k] ? n : 0;
            if (!p->buf[d][k]) return false;
            fill(p->buf[d][k], n, dt);
        }
    return true;
}

/* One timed replay: its total, and in per[k] the seconds of kind k's runs. */
typedef struct {
    double total;
    double *per;
} replay_time;

static int by_total(const void *a, const void *b) {
    return cmp_double(&((const replay_time *)a)->total, &((const replay_time *)b)->total);
}

/* Replays p's trace once on buf; kix[i]: product i's kind in p->ops (-1:
 * none). With rt, times it: the clock is read where the kind changes. */
static void replay_once(const ag_profile *p, const int *kix, replay_time *rt) {
    const int64_t t0 = now_ns();
    int64_t run = t0;
    for (int64_t i = 0; i < p->ngemms; i++) {
        if (rt && i > 0 && kix[i] != kix[i - 1]) {
            const int64_t t = now_ns();
            if (kix[i - 1] >= 0) rt->per[kix[i - 1]] += 1e-9 * (double)(t - run);
            run = t;
        }
        const ag_gemm_call *c = &p->gemms[i];
        void *const *b = p->buf[c->dtype == AG_F64];
        ag__gemm(c->ta, c->tb, c->M, c->N, c->K, c->alpha, b[0], c->lda, b[1], c->ldb, c->beta,
                 b[2], c->ldc, c->dtype);
    }
    if (!rt) return;
    const int64_t t = now_ns();
    if (kix[p->ngemms - 1] >= 0) rt->per[kix[p->ngemms - 1]] += 1e-9 * (double)(t - run);
    rt->total = 1e-9 * (double)(t - t0);
}

double ag_profile_gemm_replay_(ag_profile *p, int reps) {
    if (!p || !(p->flags & AG_PROFILE_GEMMS) || reps < 1) {
        ag__fail("profile_gemm_replay", "%s", !p ? "profile is NULL"
                 : reps < 1 ? "reps < 1: expected at least one timed replay"
                            : "the profile was made without AG_PROFILE_GEMMS: it has no trace");
        return -1;
    }
    for (int k = 0; k < p->nops; k++) p->ops[k].gemm_seconds = 0;
    if (p->ngemms == 0) return 0;
    /* each product's kind, made now if the ops were not counted */
    int *kix = malloc((size_t)p->ngemms * sizeof *kix);
    for (int64_t i = 0; kix && i < p->ngemms; i++)
        kix[i] = p->gemms[i].op ? (int)(kind(p, p->gemms[i].op) - p->ops) : -1;
    replay_time *rt = malloc((size_t)reps * sizeof *rt);
    double *per = calloc((size_t)reps * (size_t)p->nops + 1, sizeof *per);
    const bool ok = kix && rt && per && replay_buffers(p);
    if (!ok) {
        free(kix);
        free(rt);
        free(per);
        ag__fail("profile_gemm_replay", "out of memory for the operands of %lld products",
                 (long long)p->ngemms);
        return -1;
    }
    ag_profile *was = active; /* the replay is not traced */
    active = NULL;
    replay_once(p, kix, NULL); /* warm */
    for (int r = 0; r < reps; r++) {
        rt[r].per = per + (size_t)r * (size_t)p->nops;
        replay_once(p, kix, &rt[r]);
    }
    active = was;
    qsort(rt, (size_t)reps, sizeof *rt, by_total);
    const replay_time *lo = &rt[(reps - 1) / 2], *hi = &rt[reps / 2]; /* the same when odd */
    for (int k = 0; k < p->nops; k++) p->ops[k].gemm_seconds = 0.5 * (lo->per[k] + hi->per[k]);
    const double med = 0.5 * (lo->total + hi->total);
    free(kix);
    free(rt);
    free(per);
    return med;
}
