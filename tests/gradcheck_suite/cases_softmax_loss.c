/* tests/gradcheck_suite/cases_softmax_loss.c — softmax and log_softmax over
 * every kind of dim, cross_entropy (2-d, 1-d, 3-d and 4-d logits, ignored
 * targets, large logits) and mse_loss with a target broadcast to the input. */
#include "suite.h"

#define UNUSED (void)n, (void)u

/* softmax / log_softmax along the dim in userdata */
static ag_tensor *f_softmax(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_softmax(A, x[0], *(const int *)u);
}
static ag_tensor *f_log_softmax(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_log_softmax(A, x[0], *(const int *)u);
}
static int d0 = 0, d1 = 1, dm1 = -1, dm2 = -2;

/* cross_entropy with ignore_index in userdata (NULL: PyTorch's -100) */
static ag_tensor *f_ce(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_cross_entropy(A, x[0], x[1], u ? *(const int *)u : -100);
}
static int ignore_one = 1;

static ag_tensor *f_mse(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_mse_loss(A, x[0], x[1]);
}

/* log_softmax feeding a weighted sum, as a loss would use it */
static ag_tensor *f_softmax_chain(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_mul(A, ag_softmax(A, x[0], -1), ag_log_softmax(A, x[0], -1));
}

static void scale(ag_tensor *t, double s) {
    for (int64_t i = 0; i < t->numel; i++) ((double *)t->data)[i] *= s;
}

/* logits of spread 30 (the f32-awkward range), any dim */
static int make_large(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 5));
    if (!in[0]) return -1;
    scale(in[0], 30.0);
    return 1;
}
static int make_large_3d(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(2, 4, 3));
    if (!in[0]) return -1;
    scale(in[0], 10.0);
    return 1;
}

/* [5] logits with a 0-d target */
static int make_ce_1d(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(5));
    in[1] = gc_ids(A, r, 5, 0, NULL);
    return in[0] && in[1] ? 2 : -1;
}
/* [6,4] logits with two targets set to -100 */
static int make_ce_ignored(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(6, 4));
    in[1] = gc_ids(A, r, 4, AG_SHAPE(6));
    if (!in[0] || !in[1]) return -1;
    ((int32_t *)in[1]->data)[1] = -100;
    ((int32_t *)in[1]->data)[4] = -100;
    return 2;
}
/* [2,3,4] logits with target [2,4], one position ignored */
static int make_ce_3d_ignored(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(2, 3, 4));
    in[1] = gc_ids(A, r, 3, AG_SHAPE(2, 4));
    if (!in[0] || !in[1]) return -1;
    ((int32_t *)in[1]->data)[5] = -100;
    return 2;
}
/* [4,3] logits with targets 0, 1, 2, 1: class 1 is ignored (ignore_index 1) */
static int make_ce_ignore_class(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(4, 3));
    in[1] = ag_from_array(A, AG_I32, AG_SHAPE(4), (const int32_t[]){0, 1, 2, 1});
    return in[0] && in[1] ? 2 : -1;
}
/* [4,6] logits of spread 30 */
static int make_ce_large(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(4, 6));
    in[1] = gc_ids(A, r, 6, AG_SHAPE(4));
    if (!in[0] || !in[1]) return -1;
    scale(in[0], 30.0);
    return 2;
}
/* [3,3] logits, two of three targets ignored: the mean divides by 1 */
static int make_ce_one_counted(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 3));
    in[1] = ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){-100, 2, -100});
    return in[0] && in[1] ? 2 : -1;
}

const gc_case gc_softmax_loss[] = {
    {.op = "softmax", .shapes = "[2,3] dim 1", .fn = f_softmax, .in = {GC_N(2, 3)},
     .userdata = &d1},
    {.op = "softmax", .shapes = "[2,3] dim 0", .fn = f_softmax, .in = {GC_N(2, 3)},
     .userdata = &d0},
    {.op = "softmax", .shapes = "[2,3,4] dim -2", .fn = f_softmax, .in = {GC_N(2, 3, 4)},
     .userdata = &dm2},
    {.op = "softmax", .shapes = "[3,1] dim -1 (size 1)", .fn = f_softmax, .in = {GC_N(3, 1)},
     .userdata = &dm1},
    {.op = "softmax", .shapes = "[6]", .fn = f_softmax, .in = {GC_N(6)}, .userdata = &d0},
    {.op = "softmax", .shapes = "[3,5] spread 30 dim 1", .fn = f_softmax,
     .make = make_large, .userdata = &d1},
    {.op = "softmax", .shapes = "[2,4,3] spread 10 dim 1", .fn = f_softmax,
     .make = make_large_3d, .userdata = &d1},
    {.op = "log_softmax", .shapes = "[2,3] dim -1", .fn = f_log_softmax, .in = {GC_N(2, 3)},
     .userdata = &dm1},
    {.op = "log_softmax", .shapes = "[4,2] dim 0", .fn = f_log_softmax, .in = {GC_N(4, 2)},
     .userdata = &d0},
    {.op = "log_softmax", .shapes = "[2,3,4] dim 1", .fn = f_log_softmax,
     .in = {GC_N(2, 3, 4)}, .userdata = &d1},
    {.op = "log_softmax", .shapes = "[] dim 0", .fn = f_log_softmax, .in = {GC_N0},
     .userdata = &d0},
    {.op = "log_softmax", .shapes = "[3,5] spread 30 dim 0", .fn = f_log_softmax,
     .make = make_large, .userdata = &d0},
    GC_CASE("softmax chain", "softmax * log_softmax [3,4]", f_softmax_chain, GC_N(3, 4)),

    GC_CASE("cross_entropy", "[4,5] + [4]", f_ce, GC_N(4, 5), GC_IDS_BELOW(5, 4)),
    GC_CASE("cross_entropy", "[1,2] + [1]", f_ce, GC_N(1, 2), GC_IDS_BELOW(2, 1)),
    {.op = "cross_entropy", .shapes = "[5] + []", .fn = f_ce, .make = make_ce_1d},
    GC_CASE("cross_entropy", "[2,3,4] + [2,4]", f_ce, GC_N(2, 3, 4), GC_IDS_BELOW(3, 2, 4)),
    GC_CASE("cross_entropy", "[2,3,2,2] + [2,2,2]", f_ce, GC_N(2, 3, 2, 2),
            GC_IDS_BELOW(3, 2, 2, 2)),
    {.op = "cross_entropy", .shapes = "[6,4] + [6], 2 ignored", .fn = f_ce,
     .make = make_ce_ignored},
    {.op = "cross_entropy", .shapes = "[2,3,4] + [2,4], 1 ignored", .fn = f_ce,
     .make = make_ce_3d_ignored},
    {.op = "cross_entropy", .shapes = "[4,3] + [4], ignore_index 1", .fn = f_ce,
     .make = make_ce_ignore_class, .userdata = &ignore_one},
    {.op = "cross_entropy", .shapes = "[3,3] + [3], 1 counted", .fn = f_ce,
     .make = make_ce_one_counted},
    {.op = "cross_entropy", .shapes = "[4,6] spread 30 + [4]", .fn = f_ce,
     .make = make_ce_large},

    GC_CASE("mse_loss", "[2,3] - [2,3]", f_mse, GC_N(2, 3), GC_N(2, 3)),
    GC_CASE("mse_loss", "[2,3] - [3]", f_mse, GC_N(2, 3), GC_N(3)),
    GC_CASE("mse_loss", "[4,3] - [1]", f_mse, GC_N(4, 3), GC_N(1)),
    GC_CASE("mse_loss", "[2,3] - const [2,3]", f_mse, GC_N(2, 3), GC_C(2, 3)),
    GC_CASE("mse_loss", "const [2,3] - [3]", f_mse, GC_C(2, 3), GC_N(3)),
    GC_CASE("mse_loss", "[5] - []", f_mse, GC_N(5), GC_N0),
};
const int gc_softmax_loss_count = sizeof gc_softmax_loss / sizeof gc_softmax_loss[0];
