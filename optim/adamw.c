/* optim/adamw.c — Adam and AdamW (torch.optim.Adam / AdamW): one kernel; a
 * flag says whether the weight decay is decoupled (AdamW: p *= 1 - lr*wd)
 * or L2 (Adam: g += wd*p).
 *
 * Per element, in PyTorch's order of operations (torch/optim/adam.py,
 * _single_tensor_adam; t is the parameter's step count after +1):
 *
 *   g     = maximize ? -grad : grad
 *   p     = p * (1 - lr*wd)                      AdamW, wd != 0
 *   g     = g + wd*p                             Adam, wd != 0
 *   m     = beta1*m + (1 - beta1)*g              exp_avg.mul_(b1).add_(g, alpha=1-b1)
 *   v     = beta2*v + ((1 - beta2)*g)*g          exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
 *   vmax  = max(vmax, v)                         amsgrad (v below is then vmax)
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *   p     = p + ((-lr / (1 - beta1^t)) * m) / denom     param.addcdiv_(m, denom, value=-step_size)
 *
 * The scalars (1 - lr*wd, 1 - beta^t, the step size) are computed in double
 * and used in the parameter's dtype, as PyTorch does with Python floats.
 *
 * The kernel walks the tensor in blocks of AG__OPTIM_BLOCK elements
 * (OpenMP across blocks): pass 1 updates m and v, pass 2 takes the square roots of the
 * block (SSE2 when available: libm's sqrt must set errno for negative
 * input, which stops the compiler from vectorizing a loop that calls it),
 * pass 3 updates p. A block stays in L1 between the passes, so memory
 * traffic is one read of p, g, m, v and one write of p, m, v.
 */
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

ag_adam_opts ag_adam_defaults(void) {
    return (ag_adam_opts){
        .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0,
        .amsgrad = false, .maximize = false,
    };
}

ag_adam_opts ag_adamw_defaults(void) {
    ag_adam_opts o = ag_adam_defaults();
    o.weight_decay = 1e-2;
    return o;
}

/* ---- constructors -------------------------------------------------------------- */

static ag_optim *adam_new(const char *op, ag_optim_kind kind, const char *name, ag_arena *P,
                          const ag_optim_group *groups, int ngroups, const ag_adam_opts *opts,
                          ag_adam_opts defaults) {
    ag_adam_opts a = opts ? *opts : defaults;
    if (!ag__optim_check(op, "learning rate", a.lr, 0, INFINITY, false) ||
        !ag__optim_check(op, "epsilon", a.eps, 0, INFINITY, false) ||
        !ag__optim_check(op, "beta1", a.beta1, 0, 1, true) ||
        !ag__optim_check(op, "beta2", a.beta2, 0, 1, true) ||
        !ag__optim_check(op, "weight_decay", a.weight_decay, 0, INFINITY, false))
        return NULL;
    ag_optim *o = ag__optim_new(op, kind, name, P, groups, ngroups, a.lr, a.weight_decay);
    if (o) o->adam = a;
    return o;
}

ag_optim *ag_adamw_new_(ag_arena *P, const ag_optim_group *groups, int ngroups,
                        const ag_adam_opts *opts) {
    return adam_new("adamw_new", AG_OPTIM_ADAMW, "AdamW", P, groups, ngroups, opts,
                    ag_adamw_defaults());
}

ag_optim *ag_adam_new_(ag_arena *P, const ag_optim_group *groups, int ngroups,
                       const ag_adam_opts *opts) {
    return adam_new("adam_new", AG_OPTIM_ADAM, "Adam", P, groups, ngroups, opts,
                    ag_adam_defaults());
}

/* ---- the kernel ------------------------------------------------------------------ */

/* The step's scalars, in double; each kernel converts them to its type. */
typedef struct {
    double sign;     /* -1 with maximize, else 1 (exact) */
    double decay;    /* AdamW: 1 - lr*wd; else 1 (multiplying by 1 is exact) */
    double l2;       /* Adam: wd */
    bool l2on;       /* Adam with wd != 0 */
    bool amsgrad;
    double b1, omb1, b2, omb2; /* beta1, 1 - beta1, beta2, 1 - beta2 */
    double bc2_sqrt; /* sqrt(1 - beta2^t) */
    double eps;
    double neg_step; /* -(lr / (1 - beta1^t)) */
} adam_consts;

/* x[0..n) = sqrt(x[0..n)), correctly rounded either way. */
static void sqrt_block_f32(float *x, int n) {
    int i = 0;
#if defined(__SSE2__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrt(x[i]);
}

static void sqrt_block_f64(double *x, int n) {
    int i = 0;
#if defined(__SSE2__)
    for (; i + 2 <= n; i += 2) _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrt(x[i]);
}

/* One block of nb <= AG__OPTIM_BLOCK elements, in type T:
 *   p[nb], g[nb] (read), m[nb], v[nb], vmax[nb] (amsgrad only; else NULL). */
#define ADAM_BLOCK(NAME, T, SQRT_BLOCK)                                                     \
    static void NAME(int nb, T *restrict p, const T *restrict g, T *restrict m,              \
                     T *restrict v, T *restrict vmax, const adam_consts *k) {                \
        const T sign = (T)k->sign, decay = (T)k->decay, l2 = (T)k->l2;                       \
        const T b1 = (T)k->b1, omb1 = (T)k->omb1, b2 = (T)k->b2, omb2 = (T)k->omb2;          \
        const T bc2_sqrt = (T)k->bc2_sqrt, eps = (T)k->eps, neg_step = (T)k->neg_step;       \
        T den[AG__OPTIM_BLOCK];                                                              \
        if (k->l2on) {                                                                       \
            for (int j = 0; j < nb; j++) {                                                   \
                const T gj = sign * g[j] + l2 * p[j];                                        \
                m[j] = b1 * m[j] + omb1 * gj;                                                \
                den[j] = v[j] = b2 * v[j] + omb2 * gj * gj;                                  \
            }                                                                                \
        } else {                                                                             \
            for (int j = 0; j < nb; j++) {                                                   \
                const T gj = sign * g[j];                                                    \
                m[j] = b1 * m[j] + omb1 * gj;                                                \
                den[j] = v[j] = b2 * v[j] + omb2 * gj * gj;                                  \
            }                                                                                \
        }                                                                                    \
        if (k->amsgrad) {                                                                    \
            for (int j = 0; j < nb; j++) { /* torch.maximum: NaN wins */                      \
                const T mx = vmax[j], vj = den[j];                                           \
                den[j] = vmax[j] = (mx > vj || mx != mx) ? mx : vj;                          \
            }                                                                                \
        }                                                                                    \
        SQRT_BLOCK(den, nb);                                                                 \
        for (int j = 0; j < nb; j++) {                                                       \
            const T d = den[j] / bc2_sqrt + eps;                                             \
            p[j] = p[j] * decay + neg_step * m[j] / d;                                       \
        }                                                                                    \
    }

ADAM_BLOCK(adam_block_f32, float, sqrt_block_f32)
ADAM_BLOCK(adam_block_f64, double, sqrt_block_f64)

/* Runs the blocks over n elements. w is what is updated (the parameter's
 * data, or the f32 master of a bf16 parameter, then p16 receives the
 * rounded result); grad is the gradient's data (bf16 when p16 is set). */
static void adam_kernel(ag_dtype dt, int64_t n, void *w, const void *grad, void *m, void *v,
                        void *vmax, uint16_t *p16, const adam_consts *k) {
    if (dt == AG_F64) {
        double *W = w, *M = m, *V = v, *X = vmax;
        const double *G = grad;
        AG__OPTIM_BLOCKS(n, i, nb,
                         adam_block_f64(nb, W + i, G + i, M + i, V + i, X ? X + i : NULL, k));
    } else if (!p16) {
        float *W = w, *M = m, *V = v, *X = vmax;
        const float *G = grad;
        AG__OPTIM_BLOCKS(n, i, nb,
                         adam_block_f32(nb, W + i, G + i, M + i, V + i, X ? X + i : NULL, k));
    } else { /* bf16: gradient read as f32, master updated, parameter rounded */
        float *W = w, *M = m, *V = v, *X = vmax;
        const uint16_t *G = grad;
        AG__OPTIM_BLOCKS(n, i, nb, {
            float g32[AG__OPTIM_BLOCK];
            ag__optim_bf16_grad(g32, G + i, nb);
            adam_block_f32(nb, W + i, g32, M + i, V + i, X ? X + i : NULL, k);
            ag__optim_bf16_round(p16 + i, W + i, nb);
        });
    }
}

bool ag__adam_update(ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const ag_tensor *p = st->param;
    const ag_adam_opts *a = &o->adam;
    if (!st->exp_avg) st->exp_avg = ag__optim_buffer(o, p);
    if (!st->exp_avg_sq) st->exp_avg_sq = ag__optim_buffer(o, p);
    if (a->amsgrad && !st->max_exp_avg_sq) st->max_exp_avg_sq = ag__optim_buffer(o, p);
    if (!st->exp_avg || !st->exp_avg_sq || (a->amsgrad && !st->max_exp_avg_sq)) return false;

    const bool decoupled = o->kind == AG_OPTIM_ADAMW;
    const double t = (double)st->step;
    const double bias_correction1 = 1 - pow(a->beta1, t);
    const double bias_correction2 = 1 - pow(a->beta2, t);
    const adam_consts k = {
        .sign = a->maximize ? -1.0 : 1.0,
        .decay = decoupled && weight_decay != 0 ? 1 - lr * weight_decay : 1.0,
        .l2 = weight_decay,
        .l2on = !decoupled && weight_decay != 0,
        .amsgrad = a->amsgrad,
        .b1 = a->beta1,
        .omb1 = 1 - a->beta1,
        .b2 = a->beta2,
        .omb2 = 1 - a->beta2,
        .bc2_sqrt = sqrt(bias_correction2),
        .eps = a->eps,
        .neg_step = -(lr / bias_correction1),
    };
    ag_tensor *w = st->master ? st->master : st->param;
    adam_kernel(w->dtype, p->numel, w->data, p->grad->data, st->exp_avg->data,
                st->exp_avg_sq->data, a->amsgrad ? st->max_exp_avg_sq->data : NULL,
                st->master ? (uint16_t *)p->data : NULL, &k);
    return true;
}
