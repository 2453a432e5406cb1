/* nn/norms.c — the LayerNorm module and the RMSNorm family (see ag/norms.h).
 *
 * Every module runs on the fused ops of ag/norm_ops.h. The kinds differ in
 * their defaults, their parameter and where they cast; each follows its
 * reference (PyTorch or the Hugging Face class) exactly:
 *
 *   RMSNorm      torch.nn.RMSNorm / F.rms_norm: the fused op with the weight;
 *                bf16 x is normalized in f32 and the result is bf16; an unset
 *                eps (NAN) is the machine epsilon of x's compute type,
 *                resolved at each forward.
 *   Llama        LlamaRMSNorm.forward:
 *   RMSNormSqrt      h = x.to(f32); h = h * rsqrt(mean(h^2) + eps)
 *   DeepSeek         return weight * h.to(input_dtype)
 *   Scale        so a bf16 x is normalized in f32, rounded to bf16, and then
 *                multiplied by the (f32) weight: the result dtype follows
 *                promotion (f32). With x and weight of one dtype (f32, f64)
 *                the fused op with the weight does all of it in one pass.
 *                Sqrt and Scale divide by sqrt(ms + eps) instead.
 *   T5           T5LayerNorm.forward: variance in f32, h = x * rsqrt(var + eps)
 *                (f32 for bf16 x: no rounding to bf16); h is cast to the
 *                weight's dtype when that is bf16; then weight * h.
 *   Gemma        GemmaRMSNorm.forward: norm(x.float()) * (1 + weight.float()),
 *                then cast to x's dtype: the fused op with AG_RMS_UNIT_OFFSET.
 *   Weightless   microgpt: x * (ms + 1e-5)^-0.5, no parameters.
 *
 * One deliberate difference: the Hugging Face classes compute in f32 even
 * for f64 input (x.to(torch.float32)); ag computes f64 input in f64, since
 * f64 is ag's dtype for exact checks (a gradcheck through an f32 round trip
 * would measure rounding, not the gradient).
 */
#include <stdlib.h>
#include <string.h>

#include "ag/nn.h"
#include "internal.h"
#include "nn_internal.h"

/* ---- Python-style reprs --------------------------------------------------- */

/* Appends printf-formatted text at *pos in buf[size], never overflowing. */
static void put(char *buf, size_t size, size_t *pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void put(char *buf, size_t size, size_t *pos, const char *fmt, ...) {
    if (*pos >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
    va_end(ap);
    if (n > 0) *pos += (size_t)n < size - *pos ? (size_t)n : size - *pos - 1;
}

/* repr(float) as Python writes it: the shortest digits that read back to v;
 * positional for exponents -4..15 (with ".0" when integral), otherwise
 * d.ddde-XX with at least two exponent digits: 1e-06, 1e-05, 0.0001, 2.5,
 * 1.0, 1.1920928955078125e-07, None for NAN (an unset eps). */
static void py_float(char *out, size_t size, double v) {
    if (isnan(v)) {
        snprintf(out, size, "None");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "inf" : "-inf");
        return;
    }
    char e[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = [-]d[.ddd]e[+-]XX: split into sign, digits and exponent */
    const char *s = e;
    bool neg = *s == '-';
    if (neg) s++;
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp = atoi(s + 1);
    size_t pos = 0;
    if (neg) put(out, size, &pos, "-");
    if (exp < -4 || exp >= 16) {
        put(out, size, &pos, "%c", digits[0]);
        if (nd > 1) put(out, size, &pos, ".%s", digits + 1);
        put(out, size, &pos, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        put(out, size, &pos, "0.");
        for (int i = 1; i < -exp; i++) put(out, size, &pos, "0");
        put(out, size, &pos, "%s", digits);
    } else {
        for (int i = 0; i <= exp; i++) put(out, size, &pos, "%c", i < nd ? digits[i] : '0');
        if (nd > exp + 1) put(out, size, &pos, ".%s", digits + exp + 1);
        else put(out, size, &pos, ".0");
    }
}

/* A Python tuple of sizes: "(4096,)", "(2, 2, 5)". */
static void py_tuple(char *buf, size_t size, size_t *pos, int n, const int64_t *s) {
    put(buf, size, pos, "(");
    for (int i = 0; i < n; i++) put(buf, size, pos, i ? ", %lld" : "%lld", (long long)s[i]);
    put(buf, size, pos, n == 1 ? ",)" : ")");
}

/* ---- argument checks shared by the constructors --------------------------- */

static bool shape_ok(const char *op, const char *type, ag_arena *P, int nshape,
                     const int64_t *ns) {
    if (!P) {
        ag__fail(op, "%s: the parameter arena is NULL", type);
        return false;
    }
    if (!ns || nshape < 1 || nshape > AG_MAX_DIMS) {
        ag__fail(op, "%s: normalized_shape has %d dims%s: expected 1 to %d", type, nshape,
                 ns ? "" : " and is NULL", AG_MAX_DIMS);
        return false;
    }
    for (int k = 0; k < nshape; k++)
        if (ns[k] <= 0) {
            ag__fail(op, "%s: normalized_shape %s has size %lld at dim %d: expected sizes > 0",
                     type, ag__shp_of(nshape, ns), (long long)ns[k], k);
            return false;
        }
    return true;
}

static bool eps_ok(const char *op, const char *type, int nshape, const int64_t *ns, double eps) {
    /* AG_EPS_DEFAULT; any other value (a plain NaN too) follows the ops' rule */
    return ag_eps_is_default(eps) || ag__norm_eps_ok(op, type, nshape, ns, eps);
}

/* The one place a norm's eps is resolved, by the constructors (x NULL) and
 * by every forward: eps when set (a plain NaN written into the module goes
 * on to the op, which refuses it); else (AG_EPS_DEFAULT) the type's default
 * dflt; else, for torch.nn.RMSNorm whose default is "unset" (dflt NAN),
 * AG_EPS_DEFAULT while there is no input (the module keeps it, and prints
 * eps=None) and at forward the machine eps of x's compute dtype, as
 * F.rms_norm takes finfo(opmath type).eps: f32's for bf16 and f32 input,
 * f64's for f64. */
static double resolve_eps(double eps, double dflt, const ag_tensor *x) {
    if (!ag_eps_is_default(eps)) return eps;
    if (!isnan(dflt)) return dflt;
    return x ? ag_dtype_eps(ag_compute_dtype(x->dtype)) : AG_EPS_DEFAULT;
}

/* x must be a float tensor whose trailing dims are normalized_shape. */
static bool input_ok(const char *op, const char *type, int nshape, const int64_t *ns,
                     const ag_tensor *x) {
    if (!ag__check_float(op, x)) return false;
    bool match = x->ndim >= nshape;
    for (int k = 0; match && k < nshape; k++) match = x->shape[x->ndim - nshape + k] == ns[k];
    if (!match) {
        ag__fail(op, "%s over normalized_shape %s: input %s must end in those dims", type,
                 ag__shp_of(nshape, ns), ag__shp(x));
        return false;
    }
    return true;
}

/* ---- LayerNorm ------------------------------------------------------------ */

static ag_tensor *layernorm_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_layernorm_forward_(A, (ag_nn_layernorm *)m, x);
}

/* "(8,), eps=1e-05, elementwise_affine=true, bias=true" */
static void layernorm_describe(const ag_module *m, char *buf, size_t size) {
    const ag_nn_layernorm *l = (const ag_nn_layernorm *)m;
    char e[40];
    size_t pos = 0;
    if (size) buf[0] = 0;
    py_float(e, sizeof e, l->eps);
    py_tuple(buf, size, &pos, l->nshape, l->normalized_shape);
    put(buf, size, &pos, ", eps=%s, elementwise_affine=%s, bias=%s", e,
        l->elementwise_affine ? "true" : "false", l->bias ? "true" : "false");
}

const ag_module_type ag_nn_layernorm_type = {"LayerNorm", layernorm_forward, layernorm_describe};

/* nn.LayerNorm's default eps. */
static const double LAYERNORM_EPS = 1e-5;

/* A new f32 parameter of normalized_shape filled with value, registered under name. */
static ag_tensor *new_param(ag_module *m, const char *name, int nshape, const int64_t *ns,
                            double value) {
    ag_tensor *t = ag_empty_(m->arena, AG_F32, nshape, ns);
    if (!t) return NULL;
    if (!(value == 0 ? ag_init_zeros_(t) : ag_init_ones_(t))) return NULL;
    return ag_module_add_param_(m, name, t) ? t : NULL;
}

ag_nn_layernorm *ag_nn_layernorm_new_(ag_arena *P, int nshape, const int64_t *normalized_shape,
                                      double eps, bool elementwise_affine, bool bias) {
    const char *op = "nn_layernorm_new";
    if (!shape_ok(op, "LayerNorm", P, nshape, normalized_shape) ||
        !eps_ok(op, "LayerNorm", nshape, normalized_shape, eps))
        return NULL;
    ag_nn_layernorm *l = ag_arena_calloc_(P, sizeof *l);
    if (!l) return NULL;
    ag_module_init(&l->base, &ag_nn_layernorm_type, P);
    l->nshape = nshape;
    memcpy(l->normalized_shape, normalized_shape, (size_t)nshape * sizeof *normalized_shape);
    l->eps = resolve_eps(eps, LAYERNORM_EPS, NULL);
    l->elementwise_affine = elementwise_affine;
    if (elementwise_affine) {
        l->weight = new_param(&l->base, "weight", nshape, normalized_shape, 1.0);
        if (!l->weight) return NULL;
        if (bias) {
            l->bias = new_param(&l->base, "bias", nshape, normalized_shape, 0.0);
            if (!l->bias) return NULL;
        }
    }
    return l;
}

ag_tensor *ag_nn_layernorm_forward_(ag_arena *A, ag_nn_layernorm *m, ag_tensor *x) {
    const char *op = "nn_layernorm_forward";
    if (!m || !x) return NULL;
    if (!input_ok(op, "LayerNorm", m->nshape, m->normalized_shape, x)) return NULL;
    return ag_layer_norm_(A, x, m->nshape, m->normalized_shape, m->weight, m->bias,
                          resolve_eps(m->eps, LAYERNORM_EPS, x));
}

/* ---- the RMSNorm family --------------------------------------------------- */

static ag_tensor *rmsnorm_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_rmsnorm_forward_(A, (ag_nn_rmsnorm *)m, x);
}

/* torch.nn.RMSNorm: "(4096,), eps=1e-06, elementwise_affine=true" (eps=None
 * when unset); DeepSeek: "(4096,), variance_epsilon=1e-05"; the others as
 * Hugging Face's extra_repr: "(4096,), eps=1e-06". Those with an optional
 * parameter add ", elementwise_affine=false" when it is absent. */
static void rmsnorm_describe(const ag_module *m, char *buf, size_t size) {
    const ag_nn_rmsnorm *r = (const ag_nn_rmsnorm *)m;
    char e[40];
    size_t pos = 0;
    if (size) buf[0] = 0;
    py_float(e, sizeof e, r->eps);
    py_tuple(buf, size, &pos, r->nshape, r->normalized_shape);
    if (r->kind == AG_RMSNORM) {
        put(buf, size, &pos, ", eps=%s, elementwise_affine=%s", e,
            r->elementwise_affine ? "true" : "false");
        return;
    }
    put(buf, size, &pos, ", %s=%s", r->kind == AG_RMSNORM_DEEPSEEK ? "variance_epsilon" : "eps",
        e);
    if (r->kind != AG_RMSNORM_WEIGHTLESS && !r->elementwise_affine)
        put(buf, size, &pos, ", elementwise_affine=false");
}

/* Each kind: its type name and default eps (NAN: torch.nn.RMSNorm's "unset").
 * One list makes the types, the defaults and the block constructors. */
#define RMS_KINDS(X)                                   \
    X(AG_RMSNORM, "RMSNorm", NAN)                      \
    X(AG_RMSNORM_LLAMA, "LlamaRMSNorm", 1e-6)          \
    X(AG_RMSNORM_SQRT, "RMSNormSqrt", 1e-6)            \
    X(AG_RMSNORM_DEEPSEEK, "DeepseekV2RMSNorm", 1e-6)  \
    X(AG_RMSNORM_T5, "T5LayerNorm", 1e-6)              \
    X(AG_RMSNORM_GEMMA, "GemmaRMSNorm", 1e-6)          \
    X(AG_RMSNORM_WEIGHTLESS, "WeightlessRMSNorm", 1e-5) \
    X(AG_RMSNORM_SCALE, "ScaleRMSNorm", 1e-8)

/* One distinct type per kind, in ag_rmsnorm_kind order. */
#define AS_TYPE(K, NAME, EPS) [K] = {NAME, rmsnorm_forward, rmsnorm_describe},
const ag_module_type ag_rmsnorm_types[AG_RMSNORM_KINDS] = {RMS_KINDS(AS_TYPE)};
#undef AS_TYPE
/* This file's short name for the public array. */
static const ag_module_type *const RMS_TYPES = ag_rmsnorm_types;

#define AS_EPS(K, NAME, EPS) [K] = EPS,
static const double RMS_EPS[AG_RMSNORM_KINDS] = {RMS_KINDS(AS_EPS)};
#undef AS_EPS

static bool kind_ok(const char *op, ag_rmsnorm_kind kind) {
    if ((unsigned)kind < AG_RMSNORM_KINDS) return true;
    ag__fail(op, "unknown RMSNorm kind %d: expected 0 to %d (AG_RMSNORM ... AG_RMSNORM_SCALE)",
             (int)kind, AG_RMSNORM_KINDS - 1);
    return false;
}

const ag_module_type *ag_rmsnorm_type_(ag_rmsnorm_kind kind) {
    return kind_ok("rmsnorm_type", kind) ? &RMS_TYPES[kind] : NULL;
}

double ag_rmsnorm_default_eps_(ag_rmsnorm_kind kind) {
    return kind_ok("rmsnorm_default_eps", kind) ? RMS_EPS[kind] : NAN;
}

ag_nn_rmsnorm *ag_nn_rmsnorm_new_(ag_arena *P, ag_rmsnorm_kind kind, int nshape,
                                  const int64_t *normalized_shape, double eps,
                                  bool elementwise_affine) {
    const char *op = "nn_rmsnorm_new";
    if (!kind_ok(op, kind)) return NULL;
    const char *type = RMS_TYPES[kind].name;
    if (!shape_ok(op, type, P, nshape, normalized_shape) ||
        !eps_ok(op, type, nshape, normalized_shape, eps))
        return NULL;
    ag_nn_rmsnorm *r = ag_arena_calloc_(P, sizeof *r);
    if (!r) return NULL;
    ag_module_init(&r->base, &RMS_TYPES[kind], P);
    r->kind = kind;
    r->nshape = nshape;
    memcpy(r->normalized_shape, normalized_shape, (size_t)nshape * sizeof *normalized_shape);
    r->eps = resolve_eps(eps, RMS_EPS[kind], NULL);
    r->elementwise_affine = elementwise_affine && kind != AG_RMSNORM_WEIGHTLESS;
    if (r->elementwise_affine) {
        const char *name = kind == AG_RMSNORM_SCALE ? "scale" : "weight";
        const double init = kind == AG_RMSNORM_GEMMA ? 0.0 : 1.0;
        r->weight = new_param(&r->base, name, nshape, normalized_shape, init);
        if (!r->weight) return NULL;
    }
    return r;
}

/* Llama, sqrt form, DeepSeek, scale form: h = norm(x in the compute type),
 * h.to(x's dtype), then weight * h (dtype by promotion). */
static ag_tensor *norm_then_weight(ag_arena *A, ag_nn_rmsnorm *m, ag_tensor *x, double eps,
                                   unsigned flags) {
    ag_tensor *w = m->weight;
    if (w && w->dtype == x->dtype && x->dtype != AG_BF16) /* one pass does it all */
        return ag_rms_norm_(A, x, m->nshape, m->normalized_shape, w, eps, flags);
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *h = ag_rms_norm_(A, ag__as(A, x, ct), m->nshape, m->normalized_shape, NULL, eps,
                                flags);
    h = ag__as(A, h, x->dtype);
    return w && h ? ag_mul_(A, w, h) : h;
}

/* T5LayerNorm: h = x * rsqrt(var + eps) in the compute type (f32 for bf16 x,
 * which is not rounded back); h.to(weight dtype) when that is bf16; w * h. */
static ag_tensor *t5_forward(ag_arena *A, ag_nn_rmsnorm *m, ag_tensor *x, double eps) {
    ag_tensor *w = m->weight;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    if (w && w->dtype == ct && x->dtype == ct) /* one pass does it all */
        return ag_rms_norm_(A, x, m->nshape, m->normalized_shape, w, eps, AG_RMS_RSQRT);
    ag_tensor *h = ag_rms_norm_(A, ag__as(A, x, ct), m->nshape, m->normalized_shape, NULL, eps,
                                AG_RMS_RSQRT);
    if (!w || !h) return h;
    if (w->dtype == AG_BF16) h = ag_cast_(A, h, AG_BF16);
    return ag_mul_(A, w, h);
}

ag_tensor *ag_nn_rmsnorm_forward_(ag_arena *A, ag_nn_rmsnorm *m, ag_tensor *x) {
    const char *op = "nn_rmsnorm_forward";
    if (!m || !x) return NULL;
    if (!kind_ok(op, m->kind)) return NULL;
    const char *type = RMS_TYPES[m->kind].name;
    if (!input_ok(op, type, m->nshape, m->normalized_shape, x)) return NULL;
    const int ns = m->nshape;
    const int64_t *shape = m->normalized_shape;
    const double eps = resolve_eps(m->eps, RMS_EPS[m->kind], x);
    switch (m->kind) {
    case AG_RMSNORM: return ag_rms_norm_(A, x, ns, shape, m->weight, eps, AG_RMS_RSQRT);
    case AG_RMSNORM_LLAMA:
    case AG_RMSNORM_DEEPSEEK: return norm_then_weight(A, m, x, eps, AG_RMS_RSQRT);
    case AG_RMSNORM_SQRT:
    case AG_RMSNORM_SCALE: return norm_then_weight(A, m, x, eps, AG_RMS_SQRT_DIV);
    case AG_RMSNORM_T5: return t5_forward(A, m, x, eps);
    case AG_RMSNORM_GEMMA:
        /* norm(x.float()) * (1 + weight.float()), then .type_as(x): the fused
         * op computes bf16 x in f32, casts the weight, returns x's dtype */
        return ag_rms_norm_(A, x, ns, shape, m->weight, eps, AG_RMS_UNIT_OFFSET);
    case AG_RMSNORM_WEIGHTLESS:
    default: return ag_rms_norm_(A, x, ns, shape, NULL, eps, AG_RMS_RSQRT);
    }
}

/* ---- block constructors (ag_norm_make_fn) and the registry's start --------- */

static ag_module *layernorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps) {
    (void)type;
    ag_nn_layernorm *l = ag_nn_layernorm_new_(P, 1, &n, eps, true, true);
    return l ? &l->base : NULL;
}

/* One constructor for every kind: the kind is the type's place in the array. */
static ag_module *rmsnorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps) {
    ag_nn_rmsnorm *r =
        ag_nn_rmsnorm_new_(P, (ag_rmsnorm_kind)(type - ag_rmsnorm_types), 1, &n, eps, true);
    return r ? &r->base : NULL;
}

#define AS_BUILTIN(K, NAME, EPS) {&ag_rmsnorm_types[K], rmsnorm_make},
const ag__builtin_norm ag__builtin_norms[AG__BUILTIN_NORMS] = {
    {&ag_nn_layernorm_type, layernorm_make},
    RMS_KINDS(AS_BUILTIN)
};
#undef AS_BUILTIN
