/* tests/gradcheck_suite/cases_cast.c — differentiable casts.
 *
 * The gradient of a cast is exactly 1 (the incoming gradient cast back).
 * For f64 -> f64 the function is the identity and the default step works.
 * A round trip through f32 is the identity rounded to 24 significant bits:
 * each evaluation is off by up to 2^-24 |x|, and a central difference with
 * PyTorch's step 1e-6 divides that error by 2e-6: up to about 6% of the
 * slope for |x| ~ 1 (1.7% seen with seed 1), far outside rtol 1e-3. The function is linear between its
 * rounding steps, so a larger step is exact apart from rounding: with step
 * 1e-2 the error is about 6e-6 of the slope and the check is meaningful.
 * A bf16 round trip (8 significant bits) would need a step larger than x
 * itself; its gradient is checked by hand in tests/ops/cast.c instead. */
#include "suite.h"

static ag_tensor *f_f64(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_cast(A, x[0], AG_F64);
}
static ag_tensor *f_via_f32(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_cast(A, ag_cast(A, x[0], AG_F32), AG_F64);
}
/* cast(x) * x: the cast's gradient meets a direct use of x */
static ag_tensor *f_via_f32_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_mul(A, ag_cast(A, ag_cast(A, x[0], AG_F32), AG_F64), x[1]);
}

#define STEP_1E2 {.eps = 1e-2}

const gc_case gc_cast[] = {
    GC_CASE("cast", "f64 -> f64 [2,3]", f_f64, GC_N(2, 3)),
    GC_CASE("cast", "f64 -> f64 []", f_f64, GC_N0),
    {.op = "cast", .shapes = "via f32 [2,3], step 1e-2", .fn = f_via_f32,
     .in = {GC_N(2, 3)}, .opts = STEP_1E2},
    {.op = "cast", .shapes = "via f32 [4] * [3,4], step 1e-2", .fn = f_via_f32_mul,
     .in = {GC_N(4), GC_N(3, 4)}, .opts = STEP_1E2},
};
const int gc_cast_count = sizeof gc_cast / sizeof gc_cast[0];
