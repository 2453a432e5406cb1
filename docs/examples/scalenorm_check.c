#include "scalenorm.h"

/* the op: inputs {x, g} */
static ag_tensor *f_op(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)n, (void)u;
    return scale_norm(A, in[0], in[1], 1e-5);
}
/* x feeds both the op and the product after it: x * scale_norm(x, g) */
static ag_tensor *f_op_twice(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)n, (void)u;
    return ag_mul(A, in[0], scale_norm(A, in[0], in[1], 1e-5));
}
/* the module through ag_module_forward: inputs {x, its g}; the module is
 * made by make_module, in the case's arena, as f64 */
static ag_module *module;
static ag_tensor *f_module(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)n, (void)u;
    return ag_module_forward(module, A, in[0]);
}
static int make_module(ag_arena *A, ag_rng *r, ag_tensor **in) {
    module = scalenorm_make(A, &scalenorm_type, 6, AG_EPS_DEFAULT);
    if (!module || !ag_module_cast(module, AG_F64)) return 0;
    in[0] = ag_gc_randn(A, r, AG_SHAPE(2, 3, 6));
    in[1] = ((scalenorm *)module)->g;
    ag_set_flat(in[1], 0, 1.7); /* not sqrt(6): a wrong dg must show */
    return 2;
}

static const ag_gc_case cases[] = {
    AG_GC_CASE("scale_norm", "[3,5] g []", f_op, AG_GC_N(3, 5), AG_GC_N0),
    AG_GC_CASE("scale_norm", "[2,2,4] g [1]", f_op, AG_GC_N(2, 2, 4), AG_GC_N(1)),
    AG_GC_CASE("scale_norm", "[4,1] g [] (D = 1)", f_op, AG_GC_N(4, 1), AG_GC_N0),
    AG_GC_CASE("scale_norm", "[3,4] x used twice", f_op_twice, AG_GC_N(3, 4), AG_GC_N0),
    {.op = "ScaleNorm", .shapes = "[2,3,6] over (6,) + g", .fn = f_module, .make = make_module},
};

int main(int argc, char **argv) {
    return ag_gradcheck_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
