/* optim/adam.c — Adam and AdamW (torch.optim.Adam / AdamW): two types over
 * one kernel; the type says whether the weight decay is decoupled (AdamW:
 * p *= 1 - lr*wd) or L2 (Adam: g += wd*p).
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
 * A block makes three passes: pass 1 updates m and v, pass 2 takes the
 * square roots (a plain loop: with -fno-math-errno the compiler vectorizes
 * it, and the vector square root is correctly rounded like sqrt), pass 3
 * updates p.
 */
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

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

/* ---- the types ------------------------------------------------------------------- */

/* The state buffers, in the order of the types' lists and of the kernel's arrays. */
enum { EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ, NBUF };

static bool adam_uses(const void *opts, const char *name) {
    const ag_adam_opts *a = opts;
    return a->amsgrad || strcmp(name, "max_exp_avg_sq") != 0;
}

static bool adam_check(const void *opts, char *why, size_t size) {
    const ag_adam_opts *a = opts;
    return ag__optim_in_range(why, size, "learning rate", a->lr, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "epsilon", a->eps, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "beta1", a->beta1, 0, 1, true) &&
           ag__optim_in_range(why, size, "beta2", a->beta2, 0, 1, true) &&
           ag__optim_in_range(why, size, "weight_decay", a->weight_decay, 0, INFINITY, false);
}

static void adam_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay);

/* Adam and AdamW differ in name only; adam_update tells them apart. */
#define ADAM_TYPE(NAME)                                                                     \
    {                                                                                       \
        .name = NAME,                                                                       \
        .buffers = {[EXP_AVG] = "exp_avg", [EXP_AVG_SQ] = "exp_avg_sq",                     \
                    [MAX_EXP_AVG_SQ] = "max_exp_avg_sq"},                                   \
        .uses_buffer = adam_uses, .opts_size = sizeof(ag_adam_opts), .check = adam_check,   \
        .update = adam_update,                                                              \
    }
const ag_optim_type ag_adam_type = ADAM_TYPE("Adam");
const ag_optim_type ag_adamw_type = ADAM_TYPE("AdamW");

ag_optim *ag_adamw_new_(ag_arena *P, ag_optim_groups groups, const ag_adam_opts *opts) {
    ag_adam_opts a = opts ? *opts : ag_adamw_defaults();
    return ag__optim_new("adamw_new", P, &ag_adamw_type, &a, groups, a.lr,
                         a.weight_decay);
}

ag_optim *ag_adam_new_(ag_arena *P, ag_optim_groups groups, const ag_adam_opts *opts) {
    ag_adam_opts a = opts ? *opts : ag_adam_defaults();
    return ag__optim_new("adam_new", P, &ag_adam_type, &a, groups, a.lr,
                         a.weight_decay);
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

/* One block of nb <= AG__OPTIM_BLOCK elements, in type T:
 *   p[nb], g[nb] (read), m[nb], v[nb], vmax[nb] (amsgrad only; else NULL);
 * then the block function of the kernel, NAME, over the arrays
 * buf[EXP_AVG], buf[EXP_AVG_SQ], buf[MAX_EXP_AVG_SQ]. */
#define ADAM_BLOCK(NAME, T, SQRT)                                                           \
    static inline void NAME##_arrays(int nb, T *restrict p, const T *restrict g,             \
                                     T *restrict m, T *restrict v, T *restrict vmax,         \
                                     const adam_consts *k) {                                 \
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
        for (int j = 0; j < nb; j++) den[j] = SQRT(den[j]);                                  \
        for (int j = 0; j < nb; j++) {                                                       \
            const T d = den[j] / bc2_sqrt + eps;                                             \
            p[j] = p[j] * decay + neg_step * m[j] / d;                                       \
        }                                                                                    \
    }                                                                                        \
    static void NAME(int nb, void *w, const void *g, void *const *buf, const void *k) {      \
        NAME##_arrays(nb, w, g, buf[EXP_AVG], buf[EXP_AVG_SQ], buf[MAX_EXP_AVG_SQ], k);      \
    }

ADAM_BLOCK(adam_block_f32, float, sqrtf)
ADAM_BLOCK(adam_block_f64, double, sqrt)

static void adam_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const ag_adam_opts *a = o->opts;
    const bool decoupled = o->type == &ag_adamw_type;
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
    ag_tensor *bufs[NBUF];
    ag__optim_buffers(o->type, st, bufs, NBUF);
    ag__optim_run((ag__optim_kernel){adam_block_f32, adam_block_f64}, st, bufs, NBUF, &k);
}
