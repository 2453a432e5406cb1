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

/* in, out: [outer, n, inner] of one float dtype. */
static void forward(kind k, const ag_tensor *in, ag_tensor *out, int64_t outer, int64_t n,
                    int64_t inner) {
    const int64_t rows = outer * inner;
    AG_DISPATCH(in->dtype, T, {
        const T *px = in->data;
        T *py = out->data;
        AG_OMP_FOR(rows * n >= AG_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t base = (r / inner) * n * inner + r % inner;
            const T *x = px + base;
            T *y = py + base;
            T m = x[0];
            for (int64_t j = 1; j < n; j++)
                if (x[j * inner] > m) m = x[j * inner];
            double s = 0;
            if (k == SOFTMAX) {
                for (int64_t j = 0; j < n; j++) {
                    y[j * inner] = exp(x[j * inner] - m);
                    s += y[j * inner];
                }
                const T inv = (T)(1 / s);
                for (int64_t j = 0; j < n; j++) y[j * inner] *= inv;
            } else {
                for (int64_t j = 0; j < n; j++) s += exp(x[j * inner] - m);
                const double ls = log(s);
                for (int64_t j = 0; j < n; j++)
                    y[j * inner] = (T)(((double)x[j * inner] - (double)m) - ls);
            }
        }
    });
}

static void backward(ag_tensor *out) {
    const kind k = (kind)out->iparam[P_KIND];
    const int64_t outer = out->iparam[P_OUTER], n = out->iparam[P_N];
    const int64_t inner = out->iparam[P_INNER];
    ag_tensor *in = out->src[0];
    ag_tensor *gin = ag__grad_buf(in);
    if (!gin) return;
    const int64_t rows = outer * inner;
    AG_DISPATCH(out->dtype, T, {
        const T *py = out->data, *pg = out->grad->data;
        T *pd = gin->data;
        AG_OMP_FOR(rows * n >= AG_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t base = (r / inner) * n * inner + r % inner;
            const T *y = py + base, *g = pg + base;
            T *dx = pd + base;
            double s = 0;
            if (k == SOFTMAX) {
                for (int64_t j = 0; j < n; j++) s += (double)g[j * inner] * y[j * inner];
                for (int64_t j = 0; j < n; j++)
                    dx[j * inner] += y[j * inner] * (g[j * inner] - (T)s);
            } else {
                for (int64_t j = 0; j < n; j++) s += g[j * inner];
                for (int64_t j = 0; j < n; j++)
                    dx[j * inner] += g[j * inner] - exp(y[j * inner]) * (T)s;
            }
        }
    });
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
