/* tests/gradcheck_suite/cases_norm_ops.c — the fused rms_norm (every flag,
 * with and without weight), the composed rms_norm, and layer_norm (weight
 * and bias present or not): multi-dim normalized shapes, D = 1, eps = 0 on
 * rows away from zero, rows of zeros (RMSNorm) and constant rows (LayerNorm)
 * with eps > 0, inputs scaled ~1e3 and ~1e-3, a large common offset, and
 * cases where only x or only the parameters take a gradient. The normalized
 * shape, eps, flags and which parameters are present travel in userdata;
 * inputs are x, then weight, then bias (those present). Every case runs at
 * second order too (--second-order): the fused ops' double backward
 * (nn/norm_double.c) is smooth wherever the first backward is. */
#include "suite.h"

#include <ag/norm_ops.h>

typedef struct {
    int nshape;
    int64_t ns[AG_MAX_DIMS];
    double eps;
    unsigned flags;
    bool w, b;
} norm_spec;

static ag_tensor *f_rms(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const norm_spec *s = u;
    (void)n;
    return ag_rms_norm(A, x[0], s->nshape, s->ns, s->w ? x[1] : NULL, s->eps, s->flags);
}
static ag_tensor *f_rms_composed(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const norm_spec *s = u;
    (void)n;
    return ag_rms_norm_composed(A, x[0], s->nshape, s->ns, s->w ? x[1] : NULL, s->eps);
}
static ag_tensor *f_ln(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const norm_spec *s = u;
    (void)n;
    return ag_layer_norm(A, x[0], s->nshape, s->ns, s->w ? x[1] : NULL,
                         s->b ? x[s->w ? 2 : 1] : NULL, s->eps);
}

/* x [3,4] (row 1 replaced by `row`, or everything scaled by `scale` and
 * shifted by `shift`), then weight [4] and bias [4] as asked. */
static int make_x34(ag_arena *A, ag_rng *r, ag_tensor **in, bool set_row, double row,
                    double scale, double shift, int nparams) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 4));
    double *v = in[0]->data;
    for (int i = 0; i < 12; i++) v[i] = v[i] * scale + shift;
    if (set_row)
        for (int j = 0; j < 4; j++) v[4 + j] = row;
    for (int p = 0; p < nparams; p++) in[1 + p] = gc_randn(A, r, AG_SHAPE(4));
    return 1 + nparams;
}
static int make_zero_row_w(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, true, 0.0, 1, 0, 1);
}
static int make_const_row_wb(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, true, 0.7, 1, 0, 2);
}
static int make_big_w(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, false, 0, 1e3, 0, 1);
}
static int make_tiny_w(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, false, 0, 1e-3, 0, 1);
}
static int make_big_wb(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, false, 0, 1e3, 0, 2);
}
static int make_offset_wb(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, false, 0, 1, 1e3, 2);
}
static int make_tiny_wb(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_x34(A, r, in, false, 0, 1e-3, 0, 2);
}

/* NS(2, 5): normalized_shape [2,5] for a norm_spec. */
#define NS(...) GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}
#define SPEC(NSH, EPS, FLAGS, W, B) (&(norm_spec){NSH, EPS, FLAGS, W, B})

#define RMS(SHAPES, SP, ...) \
    {.op = "rms_norm", .shapes = (SHAPES), .fn = f_rms, .userdata = SP, .in = {__VA_ARGS__}}
#define RMS_MAKE(SHAPES, SP, MAKE) \
    {.op = "rms_norm", .shapes = (SHAPES), .fn = f_rms, .userdata = SP, .make = (MAKE)}
#define RMSC(SHAPES, SP, ...)                                                          \
    {.op = "rms_norm_composed", .shapes = (SHAPES), .fn = f_rms_composed, .userdata = SP, \
     .in = {__VA_ARGS__}}
#define RMSC_MAKE(SHAPES, SP, MAKE)                                                     \
    {.op = "rms_norm_composed", .shapes = (SHAPES), .fn = f_rms_composed, .userdata = SP, \
     .make = (MAKE)}
#define LN(SHAPES, SP, ...) \
    {.op = "layer_norm", .shapes = (SHAPES), .fn = f_ln, .userdata = SP, .in = {__VA_ARGS__}}
#define LN_MAKE(SHAPES, SP, MAKE) \
    {.op = "layer_norm", .shapes = (SHAPES), .fn = f_ln, .userdata = SP, .make = (MAKE)}

enum { SD = AG_RMS_SQRT_DIV, UO = AG_RMS_UNIT_OFFSET };

const gc_case gc_norm_ops[] = {
    /* rms_norm: every flag combination, with and without weight */
    RMS("[4,5] norm [5] w", SPEC(NS(5), 1e-6, 0, true, false), GC_N(4, 5), GC_N(5)),
    RMS("[4,5] norm [5]", SPEC(NS(5), 1e-6, 0, false, false), GC_N(4, 5)),
    RMS("[4,5] norm [5] w sqrt-div", SPEC(NS(5), 1e-6, SD, true, false), GC_N(4, 5), GC_N(5)),
    RMS("[4,5] norm [5] sqrt-div", SPEC(NS(5), 1e-6, SD, false, false), GC_N(4, 5)),
    RMS("[4,5] norm [5] w unit-offset", SPEC(NS(5), 1e-6, UO, true, false), GC_N(4, 5),
        GC_N(5)),
    RMS("[4,5] norm [5] unit-offset, no w", SPEC(NS(5), 1e-6, UO, false, false), GC_N(4, 5)),
    RMS("[4,5] norm [5] w sqrt-div+offset", SPEC(NS(5), 1e-6, SD | UO, true, false),
        GC_N(4, 5), GC_N(5)),
    /* multi-dim normalized shapes, size-1 dims */
    RMS("[3,2,2,5] norm [2,5] w", SPEC(NS(2, 5), 1e-6, 0, true, false), GC_N(3, 2, 2, 5),
        GC_N(2, 5)),
    RMS("[3,2,2,5] norm [2,5]", SPEC(NS(2, 5), 1e-6, 0, false, false), GC_N(3, 2, 2, 5)),
    RMS("[2,1,3,4] norm [1,3,4] w offset", SPEC(NS(1, 3, 4), 1e-6, UO, true, false),
        GC_N(2, 1, 3, 4), GC_N(1, 3, 4)),
    RMS("[12] norm [12] w", SPEC(NS(12), 1e-6, 0, true, false), GC_N(12), GC_N(12)),
    /* D = 1: y = x w / sqrt(x^2 + eps) */
    RMS("[6,1] norm [1] w eps 0.1", SPEC(NS(1), 0.1, 0, true, false), GC_N(6, 1), GC_N(1)),
    /* eps = 0 on rows away from zero */
    RMS("[3,4] norm [4] w eps 0", SPEC(NS(4), 0.0, 0, true, false), GC_N(3, 4), GC_N(4)),
    RMS("[3,4] norm [4] sqrt-div eps 0", SPEC(NS(4), 0.0, SD, false, false), GC_N(3, 4)),
    /* a row of zeros, eps > 0 */
    RMS_MAKE("[3,4] zero row, w, eps 1e-5", SPEC(NS(4), 1e-5, 0, true, false), make_zero_row_w),
    /* magnitudes */
    RMS_MAKE("[3,4] x~1e3 w", SPEC(NS(4), 1e-6, 0, true, false), make_big_w),
    RMS_MAKE("[3,4] x~1e-3 w sqrt-div eps 1e-8", SPEC(NS(4), 1e-8, SD, true, false),
             make_tiny_w),
    RMS_MAKE("[3,4] x~1e-3 w offset eps 1e-6", SPEC(NS(4), 1e-6, UO, true, false),
             make_tiny_w),
    /* only one side takes a gradient */
    RMS("[2,3,4] norm [4] const w", SPEC(NS(4), 1e-6, 0, true, false), GC_N(2, 3, 4), GC_C(4)),
    RMS("[2,3,4] const x, w", SPEC(NS(4), 1e-6, UO, true, false), GC_C(2, 3, 4), GC_N(4)),

    /* rms_norm_composed: the engine's gradient of pow, mean, add, rsqrt, mul */
    RMSC("[4,5] norm [5] w", SPEC(NS(5), 1e-6, 0, true, false), GC_N(4, 5), GC_N(5)),
    RMSC("[3,2,2,5] norm [2,5]", SPEC(NS(2, 5), 1e-6, 0, false, false), GC_N(3, 2, 2, 5)),
    RMSC("[2,1,3,4] norm [1,3,4] w", SPEC(NS(1, 3, 4), 1e-6, 0, true, false),
         GC_N(2, 1, 3, 4), GC_N(1, 3, 4)),
    RMSC_MAKE("[3,4] zero row, w, eps 1e-5", SPEC(NS(4), 1e-5, 0, true, false),
              make_zero_row_w),

    /* layer_norm: weight and bias present or not */
    LN("[4,5] norm [5] w b", SPEC(NS(5), 1e-5, 0, true, true), GC_N(4, 5), GC_N(5), GC_N(5)),
    LN("[4,5] norm [5]", SPEC(NS(5), 1e-5, 0, false, false), GC_N(4, 5)),
    LN("[4,5] norm [5] w", SPEC(NS(5), 1e-5, 0, true, false), GC_N(4, 5), GC_N(5)),
    LN("[4,5] norm [5] b", SPEC(NS(5), 1e-5, 0, false, true), GC_N(4, 5), GC_N(5)),
    LN("[3,2,2,5] norm [2,5] w b", SPEC(NS(2, 5), 1e-5, 0, true, true), GC_N(3, 2, 2, 5),
       GC_N(2, 5), GC_N(2, 5)),
    LN("[2,3,4] norm [2,3,4] w b", SPEC(NS(2, 3, 4), 1e-5, 0, true, true), GC_N(2, 3, 4),
       GC_N(2, 3, 4), GC_N(2, 3, 4)),
    LN("[2,1,3,4] norm [1,3,4] w", SPEC(NS(1, 3, 4), 1e-5, 0, true, false), GC_N(2, 1, 3, 4),
       GC_N(1, 3, 4)),
    /* D = 1: xh = 0 always, y = b, dx = dw = 0 */
    LN("[5,1] norm [1] w b", SPEC(NS(1), 1e-5, 0, true, true), GC_N(5, 1), GC_N(1), GC_N(1)),
    /* eps = 0 on rows of distinct values */
    LN("[3,4] norm [4] w b eps 0", SPEC(NS(4), 0.0, 0, true, true), GC_N(3, 4), GC_N(4),
       GC_N(4)),
    /* a constant row (zero variance), eps > 0 */
    LN_MAKE("[3,4] constant row, w b", SPEC(NS(4), 1e-5, 0, true, true), make_const_row_wb),
    /* magnitudes and a large common offset (in f64, the two-pass variance; the
     * f32 one-pass variance at such an offset: tests/nn/norm_ref.c) */
    LN_MAKE("[3,4] x~1e3 w b", SPEC(NS(4), 1e-5, 0, true, true), make_big_wb),
    LN_MAKE("[3,4] x~1e-3 w b eps 1e-8", SPEC(NS(4), 1e-8, 0, true, true), make_tiny_wb),
    LN_MAKE("[3,4] x = 1e3 + N(0,1) w b", SPEC(NS(4), 1e-5, 0, true, true), make_offset_wb),
    /* only one side takes a gradient */
    LN("[2,3,6] norm [6] const w b", SPEC(NS(6), 1e-5, 0, true, true), GC_N(2, 3, 6), GC_C(6),
       GC_C(6)),
    LN("[2,3,6] const x, w b", SPEC(NS(6), 1e-5, 0, true, true), GC_C(2, 3, 6), GC_N(6),
       GC_N(6)),
};
const int gc_norm_ops_count = sizeof gc_norm_ops / sizeof gc_norm_ops[0];
