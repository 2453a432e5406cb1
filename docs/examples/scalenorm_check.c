#include "scalenorm.h"

/* the op, inputs {x, g}; x feeding both the op and the product after it */
static ag_tensor *op(ag_arena *A, ag_tensor *const *x) { return scale_norm(A, x[0], x[1], 1e-5); }
static ag_tensor *op_twice(ag_arena *A, ag_tensor *const *x) { return ag_mul(A, x[0], op(A, x)); }

/* the module through ag_module_forward, inputs {x, its g}: made in the
 * case's arena by make_sn, as f64 */
static ag_module *sn;
static ag_tensor *f_sn(ag_arena *A, ag_tensor *const *x) { return ag_module_forward(sn, A, x[0]); }
static int make_sn(ag_arena *A, ag_rng *r, ag_tensor **in) {
    sn = scalenorm_make(A, &scalenorm_type, 6, AG_EPS_DEFAULT);
    ag_set_flat(ag_module_param(sn, "g"), 0, 1.7); /* not sqrt(6): a wrong dg must show */
    return ag_module_gc_inputs(sn, ag_gc_randn(A, r, AG_SHAPE(2, 3, 6)), in);
}

static const ag_gc_case cases[] = {
    AG_GC_CASE_F("scale_norm", "[3,5] g []", op, AG_GC_N(3, 5), AG_GC_N0),
    AG_GC_CASE_F("scale_norm", "[2,2,4] g [1]", op, AG_GC_N(2, 2, 4), AG_GC_N(1)),
    AG_GC_CASE_F("scale_norm", "[4,1] g [] (D = 1)", op, AG_GC_N(4, 1), AG_GC_N0),
    AG_GC_CASE_F("scale_norm", "[3,4] x used twice", op_twice, AG_GC_N(3, 4), AG_GC_N0),
    {.op = "ScaleNorm", .shapes = "[2,3,6] over (6,) + g", .f = f_sn, .make = make_sn},
};

int main(int argc, char **argv) {
    return ag_gradcheck_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
