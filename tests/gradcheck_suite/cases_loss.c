/* tests/gradcheck_suite/cases_loss.c — the losses with PyTorch's options
 * (ag/loss.h): mse_loss_ex, l1, smooth_l1, huber and
 * binary_cross_entropy_with_logits with each reduction, weight and
 * pos_weight; nll_loss and cross_entropy_ex with weight, each reduction,
 * ignore_index, label_smoothing and probability targets. Weights are inputs
 * too (positive, uniform in [0.5, 2)), so their gradients are checked as
 * well. Differences are kept away from the kinks (0 for l1, +-beta for
 * smooth_l1, +-delta for huber). */
#include "suite.h"

/* What a case passes to its loss: the options, and where its weights are
 * among the inputs (0: none). */
typedef struct {
    ag_reduction red;
    int ignore;
    double s; /* label_smoothing; beta; delta */
    int weight_at, pos_weight_at;
} spec;

static const spec MEAN = {AG_REDUCE_MEAN, -100, 0, 0, 0},
                  SUM = {AG_REDUCE_SUM, -100, 0, 0, 0},
                  NONE = {AG_REDUCE_NONE, -100, 0, 0, 0};

static ag_tensor *f_mse(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_mse_loss_ex(A, x[0], x[1], ((const spec *)u)->red);
}
static ag_tensor *f_l1(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_l1_loss(A, x[0], x[1], ((const spec *)u)->red);
}
static ag_tensor *f_smooth_l1(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const spec *p = u;
    return ag_smooth_l1_loss(A, x[0], x[1], p->red, p->s);
}
static ag_tensor *f_huber(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const spec *p = u;
    return ag_huber_loss(A, x[0], x[1], p->red, p->s);
}
static ag_tensor *f_bce(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const spec *p = u;
    const ag_bce_with_logits_opts o = {
        .weight = p->weight_at ? x[p->weight_at] : NULL,
        .pos_weight = p->pos_weight_at ? x[p->pos_weight_at] : NULL,
        .reduction = p->red,
    };
    return ag_binary_cross_entropy_with_logits(A, x[0], x[1], &o);
}
static ag_tensor *f_nll(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const spec *p = u;
    const ag_nll_loss_opts o = {.weight = p->weight_at ? x[p->weight_at] : NULL,
                                .reduction = p->red, .ignore_index = p->ignore};
    return ag_nll_loss(A, x[0], x[1], &o);
}
static ag_tensor *f_ce(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const spec *p = u;
    const ag_cross_entropy_opts o = {.weight = p->weight_at ? x[p->weight_at] : NULL,
                                     .reduction = p->red, .ignore_index = p->ignore,
                                     .label_smoothing = p->s};
    return ag_cross_entropy_ex(A, x[0], x[1], &o);
}

/* input = target + d with d normal, kept 0.1 away from each kink; both
 * require a gradient. */
static int pair_away(ag_arena *A, ag_rng *r, ag_tensor **in, int nk, const double *kinks) {
    in[1] = gc_randn(A, r, AG_SHAPE(3, 4));
    in[0] = gc_randn_away(A, r, 0.1, nk, kinks, AG_SHAPE(3, 4));
    if (!in[0] || !in[1]) return -1;
    for (int64_t i = 0; i < 12; i++) ((double *)in[0]->data)[i] += ((double *)in[1]->data)[i];
    return 2;
}
static int make_off0(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return pair_away(A, r, in, 1, (const double[]){0.0});
}
/* input [3,4] and a target row [4] it broadcasts to, differences kept 0.1 off 0 */
static int make_off0_row(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[1] = gc_randn(A, r, AG_SHAPE(4));
    in[0] = gc_randn_away(A, r, 0.1, 1, (const double[]){0.0}, AG_SHAPE(3, 4));
    if (!in[0] || !in[1]) return -1;
    for (int64_t i = 0; i < 12; i++) ((double *)in[0]->data)[i] += ((double *)in[1]->data)[i % 4];
    return 2;
}
static int make_off_beta(ag_arena *A, ag_rng *r, ag_tensor **in) { /* beta 1 */
    return pair_away(A, r, in, 2, (const double[]){-1.0, 1.0});
}
static int make_off_delta(ag_arena *A, ag_rng *r, ag_tensor **in) { /* delta 1.5 */
    return pair_away(A, r, in, 2, (const double[]){-1.5, 1.5});
}

/* logits [4,3] of spread 4, probabilities in (0,1), weight [4,3], pos_weight [3] */
static int make_bce(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(4, 3));
    in[1] = gc_uniform(A, r, 0.0, 1.0, AG_SHAPE(4, 3));
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(4, 3));
    in[3] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(3));
    if (!in[0] || !in[1] || !in[2] || !in[3]) return -1;
    for (int i = 0; i < 12; i++) ((double *)in[0]->data)[i] *= 4.0;
    return 4;
}

/* input [6,4], target [6] with positions 1 and 4 ignored (-100), weight [4] */
static int make_ignored(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(6, 4));
    in[1] = ag_from_array(A, AG_I32, AG_SHAPE(6), (const int32_t[]){2, -100, 0, 3, -100, 1});
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(4));
    return in[0] && in[1] && in[2] ? 3 : -1;
}
/* input [6,4], targets 2, 1, 0, 3, 2, 1 (class 2 is ignore_index), weight [4] */
static int make_ignore_class(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(6, 4));
    in[1] = ag_from_array(A, AG_I32, AG_SHAPE(6), (const int32_t[]){2, 1, 0, 3, 2, 1});
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(4));
    return in[0] && in[1] && in[2] ? 3 : -1;
}
/* input [2,3,4], target [2,4] with position 5 ignored, weight [3] */
static int make_3d_ignored(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(2, 3, 4));
    in[1] = gc_ids(A, r, 3, AG_SHAPE(2, 4));
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(3));
    if (!in[0] || !in[1] || !in[2]) return -1;
    ((int32_t *)in[1]->data)[5] = -100;
    return 3;
}
/* input [5], a 0-d target, weight [5] */
static int make_1d(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(5));
    in[1] = ag_from_array(A, AG_I32, 0, NULL, (const int32_t[]){3});
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(5));
    return in[0] && in[1] && in[2] ? 3 : -1;
}
/* logits [3,4], probabilities [3,4] (rows sum to 1), weight [4] */
static int make_probs(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 4));
    in[1] = gc_uniform(A, r, 0.1, 1.0, AG_SHAPE(3, 4));
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(4));
    if (!in[0] || !in[1] || !in[2]) return -1;
    double *y = in[1]->data;
    for (int i = 0; i < 3; i++) {
        const double s = y[4 * i] + y[4 * i + 1] + y[4 * i + 2] + y[4 * i + 3];
        for (int c = 0; c < 4; c++) y[4 * i + c] /= s;
    }
    return 3;
}
/* logits [2,3,2], probabilities of the same shape */
static int make_probs_3d(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(2, 3, 2));
    in[1] = gc_uniform(A, r, 0.0, 1.0, AG_SHAPE(2, 3, 2));
    in[2] = gc_uniform(A, r, 0.5, 2.0, AG_SHAPE(3));
    return in[0] && in[1] && in[2] ? 3 : -1;
}

static const spec W_MEAN = {AG_REDUCE_MEAN, -100, 0, 2, 0},
                  W_SUM = {AG_REDUCE_SUM, -100, 0, 2, 0},
                  W_NONE = {AG_REDUCE_NONE, -100, 0, 2, 0};
static const spec LS_MEAN = {AG_REDUCE_MEAN, -100, 0.1, 0, 0},
                  LS_W_MEAN = {AG_REDUCE_MEAN, -100, 0.2, 2, 0},
                  LS_W_SUM = {AG_REDUCE_SUM, -100, 0.2, 2, 0},
                  LS_W_NONE = {AG_REDUCE_NONE, -100, 0.3, 2, 0},
                  LS_ONE = {AG_REDUCE_MEAN, -100, 1.0, 2, 0};
static const spec IGNORE_2 = {AG_REDUCE_MEAN, 2, 0.1, 2, 0};
static const spec BETA1 = {AG_REDUCE_MEAN, 0, 1.0, 0, 0},
                  BETA1_NONE = {AG_REDUCE_NONE, 0, 1.0, 0, 0},
                  BETA0 = {AG_REDUCE_SUM, 0, 0.0, 0, 0},
                  DELTA = {AG_REDUCE_MEAN, 0, 1.5, 0, 0},
                  DELTA_SUM = {AG_REDUCE_SUM, 0, 1.5, 0, 0},
                  DELTA_NONE = {AG_REDUCE_NONE, 0, 1.5, 0, 0};
static const spec BCE_W = {AG_REDUCE_MEAN, 0, 0, 2, 0},
                  BCE_PW = {AG_REDUCE_SUM, 0, 0, 0, 3},
                  BCE_BOTH = {AG_REDUCE_NONE, 0, 0, 2, 3};

#define U(s) .userdata = (void *)&(s)

const gc_case gc_loss[] = {
    {.op = "mse_loss", .shapes = "[3,4] - [3,4] mean", .fn = f_mse,
     .in = {GC_N(3, 4), GC_N(3, 4)}, U(MEAN)},
    {.op = "mse_loss", .shapes = "[3,4] - [4] sum", .fn = f_mse, .in = {GC_N(3, 4), GC_N(4)},
     U(SUM)},
    {.op = "mse_loss", .shapes = "[2,3] - [] none", .fn = f_mse, .in = {GC_N(2, 3), GC_N0},
     U(NONE)},
    {.op = "mse_loss", .shapes = "[2,3,4] - [3,1] sum", .fn = f_mse,
     .in = {GC_N(2, 3, 4), GC_N(3, 1)}, U(SUM)},
    {.op = "l1_loss", .shapes = "[3,4] mean, |d| > 0.1", .fn = f_l1, .make = make_off0, U(MEAN)},
    {.op = "l1_loss", .shapes = "[3,4] sum", .fn = f_l1, .make = make_off0, U(SUM)},
    {.op = "l1_loss", .shapes = "[3,4] none", .fn = f_l1, .make = make_off0, U(NONE)},
    {.op = "smooth_l1_loss", .shapes = "[3,4] beta 1 mean", .fn = f_smooth_l1,
     .make = make_off_beta, U(BETA1)},
    {.op = "smooth_l1_loss", .shapes = "[3,4] beta 1 none", .fn = f_smooth_l1,
     .make = make_off_beta, U(BETA1_NONE)},
    {.op = "smooth_l1_loss", .shapes = "[3,4] beta 0 (l1) sum", .fn = f_smooth_l1,
     .make = make_off0, U(BETA0)},
    {.op = "huber_loss", .shapes = "[3,4] delta 1.5 mean", .fn = f_huber,
     .make = make_off_delta, U(DELTA)},
    {.op = "huber_loss", .shapes = "[3,4] delta 1.5 sum", .fn = f_huber,
     .make = make_off_delta, U(DELTA_SUM)},
    {.op = "huber_loss", .shapes = "[3,4] delta 1.5 none", .fn = f_huber,
     .make = make_off_delta, U(DELTA_NONE)},
    {.op = "l1_loss", .shapes = "[3,4] - [4] sum, |d| > 0.1", .fn = f_l1,
     .make = make_off0_row, U(SUM)},
    {.op = "binary_cross_entropy_with_logits", .shapes = "[4,3] mean", .fn = f_bce,
     .make = make_bce, U(MEAN)},
    {.op = "binary_cross_entropy_with_logits", .shapes = "[4,3] weight [4,3] mean", .fn = f_bce,
     .make = make_bce, U(BCE_W)},
    {.op = "binary_cross_entropy_with_logits", .shapes = "[4,3] pos_weight [3] sum",
     .fn = f_bce, .make = make_bce, U(BCE_PW)},
    {.op = "binary_cross_entropy_with_logits", .shapes = "[4,3] both weights none",
     .fn = f_bce, .make = make_bce, U(BCE_BOTH)},

    {.op = "nll_loss", .shapes = "[4,5] + [4] mean", .fn = f_nll,
     .in = {GC_N(4, 5), GC_IDS_BELOW(5, 4)}, U(MEAN)},
    {.op = "nll_loss", .shapes = "[6,4] 2 ignored, weight mean", .fn = f_nll,
     .make = make_ignored, U(W_MEAN)},
    {.op = "nll_loss", .shapes = "[6,4] 2 ignored, weight sum", .fn = f_nll,
     .make = make_ignored, U(W_SUM)},
    {.op = "nll_loss", .shapes = "[2,3,4] 1 ignored, weight none", .fn = f_nll,
     .make = make_3d_ignored, U(W_NONE)},
    {.op = "nll_loss", .shapes = "[5] + [] weight mean", .fn = f_nll, .make = make_1d,
     U(W_MEAN)},

    {.op = "cross_entropy", .shapes = "[6,4] 2 ignored, weight mean", .fn = f_ce,
     .make = make_ignored, U(W_MEAN)},
    {.op = "cross_entropy", .shapes = "[6,4] 2 ignored, weight sum", .fn = f_ce,
     .make = make_ignored, U(W_SUM)},
    {.op = "cross_entropy", .shapes = "[2,3,4] 1 ignored, weight none", .fn = f_ce,
     .make = make_3d_ignored, U(W_NONE)},
    {.op = "cross_entropy", .shapes = "[4,5] + [4] sum", .fn = f_ce,
     .in = {GC_N(4, 5), GC_IDS_BELOW(5, 4)}, U(SUM)},
    {.op = "cross_entropy", .shapes = "[4,5] + [4] none", .fn = f_ce,
     .in = {GC_N(4, 5), GC_IDS_BELOW(5, 4)}, U(NONE)},
    {.op = "cross_entropy", .shapes = "[4,5] smoothing 0.1 mean", .fn = f_ce,
     .in = {GC_N(4, 5), GC_IDS_BELOW(5, 4)}, U(LS_MEAN)},
    {.op = "cross_entropy", .shapes = "[6,4] ignored, weight, smoothing 0.2 mean",
     .fn = f_ce, .make = make_ignored, U(LS_W_MEAN)},
    {.op = "cross_entropy", .shapes = "[6,4] ignored, weight, smoothing 0.2 sum",
     .fn = f_ce, .make = make_ignored, U(LS_W_SUM)},
    {.op = "cross_entropy", .shapes = "[2,3,4] ignored, weight, smoothing 0.3 none",
     .fn = f_ce, .make = make_3d_ignored, U(LS_W_NONE)},
    {.op = "cross_entropy", .shapes = "[6,4] ignore_index 2, weight, smoothing 0.1",
     .fn = f_ce, .make = make_ignore_class, U(IGNORE_2)},
    {.op = "cross_entropy", .shapes = "[5] + [] weight, smoothing 1", .fn = f_ce,
     .make = make_1d, U(LS_ONE)},
    {.op = "cross_entropy", .shapes = "[3,4] probabilities mean", .fn = f_ce,
     .make = make_probs, U(MEAN)},
    {.op = "cross_entropy", .shapes = "[3,4] probabilities, weight, smoothing 0.2",
     .fn = f_ce, .make = make_probs, U(LS_W_MEAN)},
    {.op = "cross_entropy", .shapes = "[2,3,2] probabilities, weight sum", .fn = f_ce,
     .make = make_probs_3d, U(W_SUM)},
    {.op = "cross_entropy", .shapes = "[2,3,2] probabilities, weight none", .fn = f_ce,
     .make = make_probs_3d, U(W_NONE)},
};
const int gc_loss_count = sizeof gc_loss / sizeof gc_loss[0];
