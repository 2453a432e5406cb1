/* nn/dist/dist.c — data-parallel training: the model check, the broadcast,
 * the gradient buckets (ag/dist.h says what; transport.h how ranks talk).
 *
 * Data flow of one step on each rank:
 *
 *   forward on this rank's items -> loss
 *   ag_dist_backward:
 *     backward with a leaf hook ── a parameter's gradient is final
 *                                  -> its bucket's count goes up; when the
 *                                  next bucket in index order is full:
 *                                  pack (grad -> bucket buffer) and start
 *                                  its sum over the ranks (non-blocking)
 *     start the buckets still waiting (gradients backward never reached
 *     count as zeros), wait for every sum, unpack (buffer -> grad, times
 *     1/world when averaging); a parameter that no rank gave a gradient
 *     (its summed flag is 0) keeps none, so the optimizer skips it
 *   clip, optimizer step: the same on every rank, from the same gradients
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ag/dist.h"
#include "internal.h"
#include "transport.h"

static int world_rank = 0, world_size = 1;

typedef struct {
    bool f64;           /* f64 buffer (f64 parameters), else f32 */
    int first, count;   /* its parameters: order[first .. first+count) */
    int64_t ngrad;      /* gradient elements; then one flag per parameter */
    int64_t numel;      /* ngrad + count */
    void *buf;
    int ready;          /* parameters finished in this backward */
    ag__tp_req *req;    /* its sum in flight */
} bucket;

struct ag_dist {
    ag_dist_opts o;
    int n;                  /* trainable parameters, module order */
    ag_tensor **params;
    const char **names;
    int *order;             /* bucket order: the reverse of module order */
    int *bucket_of;         /* by parameter */
    int64_t *offset;        /* by parameter: where it sits in its bucket */
    bool *done;             /* by parameter: finished in this backward */
    int nbuckets, next;     /* buckets; the next one to start */
    bucket *buckets;
    ag_tensor **keys;       /* open addressing: tensor -> parameter */
    int *vals;
    int64_t mask;
    double comm;            /* seconds in communication */
};

/* ---- the world ------------------------------------------------------------ */

bool ag_dist_available(void) { return ag__tp_available(); }

bool ag_dist_init(int *argc, char ***argv) {
    return ag__tp_init(argc, argv, &world_rank, &world_size);
}

void ag_dist_finalize(void) { ag__tp_finalize(); }
int ag_dist_rank(void) { return world_rank; }
int ag_dist_world_size(void) { return world_size; }

void ag_dist_shard(int64_t n, int64_t *first, int64_t *count) {
    const int64_t w = world_size, r = world_rank, base = n / w, extra = n % w;
    *count = base + (r < extra);
    *first = r * base + (r < extra ? r : extra);
}

ag_dist_opts ag_dist_defaults(void) {
    return (ag_dist_opts){.bucket_bytes = (size_t)1 << 20, .overlap = true, .average = false,
                          .timeout = 300};
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the model check -------------------------------------------------------- */

/* "name dtype [shape]\n" for every parameter, into a malloc'd string. */
static char *describe(const ag_named_param *ps, int n, size_t *len) {
    size_t cap = 256, used = 0;
    char *s = malloc(cap);
    for (int i = 0; s && i < n; i++) {
        const ag_tensor *t = ps[i].tensor;
        for (;;) {
            const int k = snprintf(s + used, cap - used, "%s %s %s\n", ps[i].name,
                                   ag_dtype_name(t->dtype), ag__shp(t));
            if (k >= 0 && (size_t)k < cap - used) {
                used += (size_t)k;
                break;
            }
            char *p = realloc(s, cap *= 2);
            if (!p) {
                free(s);
                return NULL;
            }
            s = p;
        }
    }
    *len = used;
    return s;
}

/* The first line where mine and rank 0's differ, as "what I have / what it
 * has", into msg. */
static void first_difference(const char *mine, const char *theirs, char *msg, size_t size) {
    int line = 0;
    while (*mine && *theirs) {
        const char *a = strchr(mine, '\n'), *b = strchr(theirs, '\n');
        if (a - mine != b - theirs || memcmp(mine, theirs, (size_t)(a - mine))) break;
        mine = a + 1;
        theirs = b + 1;
        line++;
    }
    const int la = *mine ? (int)(strchr(mine, '\n') - mine) : 0;
    const int lb = *theirs ? (int)(strchr(theirs, '\n') - theirs) : 0;
    if (!*mine)
        snprintf(msg, size, "it has %d parameters where rank 0 has more, the next being %.*s",
                 line, lb, theirs);
    else if (!*theirs)
        snprintf(msg, size, "it has parameter %.*s where rank 0 has only %d parameters", la,
                 mine, line);
    else
        snprintf(msg, size, "parameter %d is %.*s here and %.*s on rank 0", line, la, mine, lb,
                 theirs);
}

/* Every rank compares its parameter list with rank 0's; false (after a
 * report on every rank) when any differs. */
static bool same_model(ag_dist *d, const ag_named_param *ps, int n) {
    size_t len = 0;
    char *mine = describe(ps, n, &len);
    if (!mine) {
        ag__fail("dist_new", "out of memory describing %d parameters", n);
        return false;
    }
    double theirs_len = (double)len;
    ag__tp_wait(ag__tp_bcast_start(&theirs_len, sizeof theirs_len, 0), d->o.timeout,
                "the model check");
    char *theirs = malloc((size_t)theirs_len + 1);
    if (!theirs) {
        free(mine);
        ag__fail("dist_new", "out of memory for rank 0's parameter list");
        return false;
    }
    if (world_rank == 0) memcpy(theirs, mine, len);
    ag__tp_wait(ag__tp_bcast_start(theirs, (size_t)theirs_len, 0), d->o.timeout,
                "the model check");
    theirs[(size_t)theirs_len] = '\0';
    const bool differs = strcmp(mine, theirs) != 0;
    double ndiff = differs;
    ag__tp_wait(ag__tp_sum_start(&ndiff, 1, true), d->o.timeout, "the model check");
    if (differs) {
        char msg[512];
        first_difference(mine, theirs, msg, sizeof msg);
        ag__fail("dist_new", "rank %d has another model than rank 0: %s", world_rank, msg);
    } else if (ndiff > 0)
        ag__fail("dist_new", "rank %d: the model differs on %.0f other rank(s) (their "
                 "messages name the parameter)", world_rank, ndiff);
    free(mine);
    free(theirs);
    return ndiff == 0;
}

/* ---- the plan --------------------------------------------------------------- */

static int64_t slot_of(const ag_dist *d, const ag_tensor *t) {
    return (int64_t)(((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull >> 20) & d->mask;
}

static void map_put(ag_dist *d, ag_tensor *t, int v) {
    int64_t s = slot_of(d, t);
    while (d->keys[s]) s = (s + 1) & d->mask;
    d->keys[s] = t;
    d->vals[s] = v;
}

static int map_get(const ag_dist *d, const ag_tensor *t) {
    for (int64_t s = slot_of(d, t); d->keys[s]; s = (s + 1) & d->mask)
        if (d->keys[s] == t) return d->vals[s];
    return -1;
}

#define NEW(P, n, T) ((T *)ag_arena_alloc_((P), (size_t)(n) * sizeof(T)))

/* Buckets over the trainable parameters in reverse module order: a new one
 * when the next parameter would pass bucket_bytes or needs the other float
 * width. */
static bool plan(ag_dist *d, ag_arena *P) {
    d->nbuckets = 0;
    d->buckets = NEW(P, d->n > 0 ? d->n : 1, bucket);
    if (!d->buckets) return false;
    bucket *b = NULL;
    for (int k = 0; k < d->n; k++) {
        const int p = d->n - 1 - k;
        d->order[k] = p;
        const ag_tensor *t = d->params[p];
        const bool f64 = t->dtype == AG_F64;
        const size_t es = f64 ? 8 : 4;
        if (!b || b->f64 != f64 ||
            (b->ngrad > 0 && (size_t)(b->ngrad + t->numel) * es > d->o.bucket_bytes)) {
            b = &d->buckets[d->nbuckets++];
            *b = (bucket){.f64 = f64, .first = k};
        }
        d->bucket_of[p] = (int)(b - d->buckets);
        d->offset[p] = b->ngrad;
        b->ngrad += t->numel;
        b->count++;
    }
    for (int i = 0; i < d->nbuckets; i++) {
        b = &d->buckets[i];
        b->numel = b->ngrad + b->count;
        b->buf = ag_arena_alloc_(P, (size_t)b->numel * (b->f64 ? 8 : 4));
        if (!b->buf) return false;
    }
    return true;
}

ag_dist *ag_dist_new_(ag_arena *P, ag_module *m, const ag_dist_opts *opts) {
    if (!ag__check_arena("dist_new", P)) return NULL;
    if (!m) return NULL;
    ag_dist *d = NEW(P, 1, ag_dist);
    if (!d) return NULL;
    memset(d, 0, sizeof *d);
    d->o = opts ? *opts : ag_dist_defaults();
    if (d->o.bucket_bytes == 0) d->o.bucket_bytes = (size_t)1 << 20;
    if (!(d->o.timeout > 0)) d->o.timeout = 300;
    ag_named_param *ps;
    const int n = ag_module_parameters_(m, P, &ps);
    if (n < 0 || !same_model(d, ps, n)) return NULL;
    const double t0 = seconds();
    for (int i = 0; i < n; i++) /* rank 0's values everywhere */
        ag__tp_wait(ag__tp_bcast_start(ps[i].tensor->data, (size_t)ps[i].tensor->numel * ag_dtype_size(ps[i].tensor->dtype), 0),
                    d->o.timeout, "the broadcast of the parameters");
    d->comm += seconds() - t0;
    for (int i = 0; i < n; i++) d->n += ps[i].tensor->requires_grad;
    const int64_t cap = 2 * (d->n > 0 ? d->n : 1);
    d->mask = 1;
    while (d->mask < cap) d->mask <<= 1;
    d->params = NEW(P, d->n + 1, ag_tensor *);
    d->names = NEW(P, d->n + 1, const char *);
    d->order = NEW(P, d->n + 1, int);
    d->bucket_of = NEW(P, d->n + 1, int);
    d->offset = NEW(P, d->n + 1, int64_t);
    d->done = NEW(P, d->n + 1, bool);
    d->keys = NEW(P, d->mask, ag_tensor *);
    d->vals = NEW(P, d->mask, int);
    if (!d->params || !d->names || !d->order || !d->bucket_of || !d->offset || !d->done ||
        !d->keys || !d->vals)
        return NULL;
    memset(d->keys, 0, (size_t)d->mask * sizeof *d->keys);
    d->mask -= 1;
    for (int i = 0, k = 0; i < n; i++) {
        if (!ps[i].tensor->requires_grad) continue;
        d->params[k] = ps[i].tensor;
        d->names[k] = ps[i].name;
        map_put(d, ps[i].tensor, k);
        k++;
    }
    return plan(d, P) ? d : NULL;
}

/* ---- one reduction ----------------------------------------------------------- */

/* Parameter p's gradient into its place in bucket b (zeros when none), and
 * its flag (1 when it has a gradient here, else 0) into slot flag after the
 * gradients: summed, the flags say whether any rank had one. */
static void pack(const ag_dist *d, int p, const bucket *b, int flag) {
    const ag_tensor *t = d->params[p], *g = t->grad;
    const int64_t n = t->numel, at = d->offset[p];
    void *buf = b->buf;
    if (b->f64) ((double *)buf)[b->ngrad + flag] = g ? 1 : 0;
    else ((float *)buf)[b->ngrad + flag] = g ? 1 : 0;
    if (t->dtype == AG_F64) {
        double *dst = (double *)buf + at;
        if (g) memcpy(dst, g->data, (size_t)n * 8);
        else memset(dst, 0, (size_t)n * 8);
        return;
    }
    float *dst = (float *)buf + at;
    if (!g) memset(dst, 0, (size_t)n * 4);
    else if (t->dtype == AG_F32) memcpy(dst, g->data, (size_t)n * 4);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = ag_bf16_to_f32(((const uint16_t *)g->data)[i]);
}

/* The summed gradient (times scale) back into parameter p's .grad. A
 * parameter no rank gave a gradient keeps none, as in one process, so the
 * optimizer skips it there too. */
static void unpack(const ag_dist *d, int p, const bucket *b, int flag, double scale) {
    const void *buf = b->buf;
    const double any = b->f64 ? ((const double *)buf)[b->ngrad + flag]
                              : ((const float *)buf)[b->ngrad + flag];
    if (any == 0) return;
    ag_tensor *t = d->params[p], *g = ag__grad_buf(t);
    if (!g) return;
    const int64_t n = t->numel, at = d->offset[p];
    if (t->dtype == AG_F64) {
        const double *src = (const double *)buf + at;
        double *dst = g->data;
        for (int64_t i = 0; i < n; i++) dst[i] = src[i] * scale;
        return;
    }
    const float *src = (const float *)buf + at;
    if (t->dtype == AG_F32) {
        float *dst = g->data;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(src[i] * scale);
    } else {
        uint16_t *dst = g->data;
        for (int64_t i = 0; i < n; i++) dst[i] = ag_f32_to_bf16((float)(src[i] * scale));
    }
}

static void start(ag_dist *d, bucket *b) {
    const double t0 = seconds();
    for (int k = b->first; k < b->first + b->count; k++) pack(d, d->order[k], b, k - b->first);
    b->req = ag__tp_sum_start(b->buf, b->numel, b->f64);
    d->comm += seconds() - t0;
}

/* Starts the buckets that are full, in index order. */
static void start_full(ag_dist *d) {
    while (d->next < d->nbuckets && d->buckets[d->next].ready == d->buckets[d->next].count)
        start(d, &d->buckets[d->next++]);
}

static void on_leaf(ag_tensor *leaf, void *userdata) {
    ag_dist *d = userdata;
    const int p = map_get(d, leaf);
    if (p < 0 || d->done[p]) return;
    d->done[p] = true;
    d->buckets[d->bucket_of[p]].ready++;
    start_full(d);
    for (int i = 0; i < d->next; i++) ag__tp_progress(&d->buckets[i].req, 1);
}

static void begin_pass(ag_dist *d) {
    memset(d->done, 0, (size_t)d->n * sizeof *d->done);
    for (int i = 0; i < d->nbuckets; i++) d->buckets[i].ready = 0;
    d->next = 0;
}

/* Starts what is left, waits for every sum, unpacks. */
static void finish_pass(ag_dist *d) {
    while (d->next < d->nbuckets) start(d, &d->buckets[d->next++]);
    const double scale = d->o.average ? 1.0 / world_size : 1.0;
    for (int i = 0; i < d->nbuckets; i++) {
        bucket *b = &d->buckets[i];
        const double t0 = seconds();
        char what[64];
        snprintf(what, sizeof what, "the sum of gradient bucket %d", i);
        ag__tp_wait(b->req, d->o.timeout, what);
        b->req = NULL;
        for (int k = b->first; k < b->first + b->count; k++)
            unpack(d, d->order[k], b, k - b->first, scale);
        d->comm += seconds() - t0;
    }
}

bool ag_dist_backward_(ag_dist *d, ag_tensor *loss) {
    if (!d || !loss) return false;
    if (world_size == 1) return ag_backward_(loss, NULL);
    begin_pass(d);
    const bool ok = ag_backward_hooked_(loss, NULL, d->o.overlap ? on_leaf : NULL, d);
    finish_pass(d); /* even after a failed backward: the other ranks wait for it */
    return ok;
}

bool ag_dist_allreduce_grads_(ag_dist *d) {
    if (!d) return false;
    if (world_size == 1) return true;
    begin_pass(d);
    finish_pass(d);
    return true;
}

bool ag_dist_sum_f64_(ag_dist *d, double *v, int n) {
    if (!d) return false;
    if (!v || n < 0) {
        ag__fail("dist_sum_f64", "v is %s and n %d: expected an array of n >= 0 doubles",
                 v ? "given" : "NULL", n);
        return false;
    }
    const double t0 = seconds();
    ag__tp_wait(ag__tp_sum_start(v, n, true), d->o.timeout, "a sum of values");
    d->comm += seconds() - t0;
    return true;
}

double ag_dist_comm_seconds(const ag_dist *d) { return d ? d->comm : 0.0; }
int ag_dist_num_buckets(const ag_dist *d) { return d ? d->nbuckets : 0; }

int ag_dist_bucket_of(const ag_dist *d, int i) {
    return d && i >= 0 && i < d->n ? d->bucket_of[i] : -1;
}
