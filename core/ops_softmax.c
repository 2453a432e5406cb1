/* core/ops_softmax.c — softmax and log_softmax along one dim.
 *
 * The tensor is seen as rows: outer x n x inner, where n is the size of the
 * softmax dim; row r has its n elements inner apart. Each row subtracts its
 * maximum before exponentiating (so large logits do not overflow) and sums
 * in double whatever the dtype.
 *
 *   softmax:      y = exp(x - m) / s,      s = sum exp(x - m)
 *   log_softmax:  y = (x - m) - log(s)
 *
 * log_softmax subtracts m first, as PyTorch does: x - (m + log(s)) would
 * round m + log(s) to m's ulp, and when one logit dominates (log(s) tiny)
 * that half ulp of m is a large part of every output.
 *
 * Backward, with g the incoming gradient (both use only the saved output y):
 *   softmax:      dx = y * (g - sum(g * y))
 *   log_softmax:  dx = g - exp(y) * sum(g)
 * The kernel computes these; the vjp writes the same with ops, y being the
 * recorded output, so the result differentiates again in x and in g.
 */
#include "internal.h"

typedef enum { SOFTMAX, LOG_SOFTMAX } kind;
/* What the output's iparam holds: the kind, the row layout, the dim. */
enum { P_KIND, P_OUTER, P_N, P_INNER, P_DIM };

static void backward(ag_tensor *out);
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);

static const ag_op OPS[] = {
    [SOFTMAX] = {"softmax", backward, vjp},
    [LOG_SOFTMAX] = {"log_softmax", backward, vjp},
};

/* The row layout of t along dim d: (outer, n, inner). */
static void layout(const ag_tensor *t, int d, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *inner = *n = 1;
    if (t->ndim == 0) return;
    for (int i = 0; i < d; i++) *outer *= t->shape[i];
    *n = t->shape[d];
    for (int i = d + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

/* The rows a kernel walks: x (forward's input, or backward's saved output
 * y), the incoming gradient g (backward only), the result, the layout. */
typedef struct rows_job {
    kind k;
    ag_dtype dt;
    const void *x, *g;
    void *out;
    int64_t n, inner;
} rows_job;

/* Forward over rows [lo, hi): out = softmax or log_softmax of x. */
static void forward_range(const void *ctx, int64_t lo, int64_t hi) {
    const rows_job *j = ctx;
    const int64_t n = j->n, inner = j->inner;
    AG_DISPATCH(j->dt, T, {
        const T *px = j->x;
        T *py = j->out;
        for (int64_t r = lo; r < hi; r++) {
            const int64_t base = (r / inner) * n * inner + r % inner;
            const T *x = px + base;
            T *y = py + base;
            T m = x[0];
            for (int64_t i = 1; i < n; i++)
                if (x[i * inner] > m) m = x[i * inner];
            double s = 0;
            if (j->k == SOFTMAX) {
                for (int64_t i = 0; i < n; i++) {
                    y[i * inner] = exp(x[i * inner] - m);
                    s += y[i * inner];
                }
                const T inv = (T)(1 / s);
                for (int64_t i = 0; i < n; i++) y[i * inner] *= inv;
            } else {
                for (int64_t i = 0; i < n; i++) s += exp(x[i * inner] - m);
                const double ls = log(s);
                for (int64_t i = 0; i < n; i++)
                    y[i * inner] = (T)(((double)x[i * inner] - (double)m) - ls);
            }
        }
    });
}

/* Backward over rows [lo, hi): out (dx) += the formulas above, from y and g. */
static void backward_range(const void *ctx, int64_t lo, int64_t hi) {
    const rows_job *j = ctx;
    const int64_t n = j->n, inner = j->inner;
    AG_DISPATCH(j->dt, T, {
        const T *py = j->x, *pg = j->g;
        T *pd = j->out;
        for (int64_t r = lo; r < hi; r++) {
            const int64_t base = (r / inner) * n * inner + r % inner;
            const T *y = py + base, *g = pg + base;
            T *dx = pd + base;
            double s = 0;
            if (j->k == SOFTMAX) {
                for (int64_t i = 0; i < n; i++) s += (double)g[i * inner] * y[i * inner];
                for (int64_t i = 0; i < n; i++)
                    dx[i * inner] += y[i * inner] * (g[i * inner] - (T)s);
            } else {
                for (int64_t i = 0; i < n; i++) s += g[i * inner];
                for (int64_t i = 0; i < n; i++)
                    dx[i * inner] += g[i * inner] - exp(y[i * inner]) * (T)s;
            }
        }
    });
}

/* in, out: [outer, n, inner] of one float dtype. */
static void forward(kind k, const ag_tensor *in, ag_tensor *out, int64_t outer, int64_t n,
                    int64_t inner) {
    rows_job j = {.k = k, .dt = in->dtype, .x = in->data, .out = out->data, .n = n,
                  .inner = inner};
    ag__parallel_for(outer * inner, outer * inner * n >= AG_PAR_MIN, forward_range, &j);
}

static void backward(ag_tensor *out) {
    const kind k = (kind)out->iparam[P_KIND];
    const int64_t outer = out->iparam[P_OUTER], n = out->iparam[P_N];
    const int64_t inner = out->iparam[P_INNER];
    ag_tensor *in = out->src[0];
    ag_tensor *gin = ag__grad_buf(in);
    if (!gin) return;
    rows_job j = {.k = k, .dt = out->dtype, .x = out->data, .g = out->grad->data,
                  .out = gin->data, .n = n, .inner = inner};
    ag__parallel_for(outer * inner, outer * inner * n >= AG_PAR_MIN, backward_range, &j);
}

static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    const int dim[1] = {(int)out->iparam[P_DIM]};
    if ((kind)out->iparam[P_KIND] == SOFTMAX)
        grads[0] = ag_mul_(A, out, ag_sub_(A, g, ag_sum_(A, ag_mul_(A, g, out), 1, dim, true)));
    else
        grads[0] = ag_sub_(A, g, ag_mul_(A, ag_exp_(A, out), ag_sum_(A, g, 1, dim, true)));
    return grads[0] != NULL;
}

static ag_tensor *softmax(kind k, ag_arena *A, ag_tensor *x, int dim) {
    const char *op = OPS[k].name;
    if (!x) return NULL;
    if (!ag__check_float(op, x)) return NULL;
    const int d = ag__dim(op, dim, x);
    if (d < 0) return NULL;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct);
    ag_tensor *y = xc ? ag__result(op, A, ct, xc->ndim, xc->shape) : NULL;
    if (!y) return NULL;
    int64_t outer, len, inner;
    layout(xc, d, &outer, &len, &inner);
    if (y->numel > 0) forward(k, xc, y, outer, len, inner);
    y->iparam[P_KIND] = k;
    y->iparam[P_OUTER] = outer;
    y->iparam[P_N] = len;
    y->iparam[P_INNER] = inner;
    y->iparam[P_DIM] = d;
    if (!ag__record(y, &OPS[k], 1, &xc)) return NULL;
    return ag__as(A, y, x->dtype);
}

/* exp(x) / sum exp(x) along dim (negative counts from the end). */
ag_tensor *ag_softmax_(ag_arena *A, ag_tensor *x, int dim) {
    return softmax(SOFTMAX, A, x, dim);
}
/* x - log(sum exp(x)) along dim, computed without forming softmax. */
ag_tensor *ag_log_softmax_(ag_arena *A, ag_tensor *x, int dim) {
    return softmax(LOG_SOFTMAX, A, x, dim);
}
