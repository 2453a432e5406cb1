/* tests/dist/main.c — data-parallel training (ag/dist.h) against one process.
 *
 * Run as one process (a world of one) and under `mpirun -np 2` (CTest runs
 * both). Every rank trains two copies of the same small GPT from the same
 * seed on the same global batches:
 *   - the data-parallel copy on its own share of each batch, its loss
 *     scaled to its share of the global mean, gradients summed by ag_dist;
 *   - the reference copy on the whole batch, alone, with no communication.
 * The losses at every step and the final parameters must agree (f64: 1e-10
 * relative; f32: 1e-4), and the data-parallel copies must be equal bit for
 * bit on every rank. Tests run in order on every rank (CK_FORK=no), since
 * each rank must make the same collective calls.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ag/ag.h>
#include <ag/dist.h>

#include "../check_main.h"
#include "common/tinygpt_model.h"

enum { VOCAB = 11, BLOCK = 8, BATCH = 6, STEPS = 12 };

/* A batch of BATCH sequences of random lengths (2..BLOCK), padded, the
 * targets past a sequence's end ignored: ranks see different token counts. */
typedef struct {
    int32_t ids[BATCH][BLOCK], tgt[BATCH][BLOCK];
} batch;

static void make_batch(ag_rng *r, batch *b) {
    for (int i = 0; i < BATCH; i++) {
        const int len = 2 + (int)ag_rng_below(r, BLOCK - 1);
        for (int t = 0; t < BLOCK; t++) {
            b->ids[i][t] = t < len ? (int32_t)ag_rng_below(r, VOCAB) : 0;
            b->tgt[i][t] = AG_DEMO_GPT_IGNORE;
        }
        for (int t = 0; t + 1 < len; t++) b->tgt[i][t] = b->ids[i][t + 1];
    }
}

/* Rows [first, first + n) of the batch as ids [n, BLOCK] and targets [n*BLOCK]. */
static void rows(ag_arena *A, const batch *b, int64_t first, int64_t n, ag_tensor **ids,
                 ag_tensor **tgt, double *count) {
    *ids = ag_empty(A, AG_I32, AG_SHAPE(n, BLOCK));
    *tgt = ag_empty(A, AG_I32, AG_SHAPE(n * BLOCK));
    memcpy((*ids)->data, b->ids[first], (size_t)(n * BLOCK) * sizeof(int32_t));
    memcpy((*tgt)->data, b->tgt[first], (size_t)(n * BLOCK) * sizeof(int32_t));
    *count = 0;
    for (int64_t i = 0; i < n * BLOCK; i++) *count += ((int32_t *)(*tgt)->data)[i] >= 0;
}

typedef struct {
    ag_demo_gpt *g;
    ag_optim *opt;
} trainee;

static trainee make_trainee(ag_arena *P, ag_dtype dt, int n_embd) {
    const ag_demo_gpt_config c = {.vocab = VOCAB, .block_size = BLOCK, .n_layer = 2,
                                  .n_embd = n_embd, .n_head = 2,
                                  .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA), .act = AG_ACT_GELU};
    trainee t = {ag_demo_gpt_new(P, &c, 5), NULL};
    ck_assert_ptr_nonnull(t.g);
    if (dt != AG_F32) ck_assert(ag_module_cast(&t.g->base, dt));
    ag_adam_opts o = ag_adamw_defaults();
    o.lr = 1e-2;
    o.weight_decay = 0.1;
    t.opt =
        ag_adamw_new(P, ag_optim_groups_from_model(&t.g->base, P, AG_OPTIM_INHERIT, 0.1), &o);
    ck_assert_ptr_nonnull(t.opt);
    return t;
}

static void step(trainee *t) {
    ag_optim_clip_grad_norm(t->opt, 1.0, false);
    ag_optim_step(t->opt);
    ag_optim_zero_grad(t->opt);
}

/* sum over parameters of value * (index + 1): equal on every rank when the
 * replicas are equal (checked through a sum over ranks). */
static double checksum(ag_demo_gpt *g, ag_arena *A) {
    ag_named_param *ps;
    const int n = ag_module_parameters(&g->base, A, &ps);
    double s = 0;
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        ag_tensor *x = ag_cast(A, ps[i].tensor, AG_F64);
        for (int64_t j = 0; j < x->numel; j++) s += ((double *)x->data)[j] * (double)(++k);
    }
    return s;
}

/* Largest |a - b| / max(|b|, 1e-3) over every parameter element. */
static double max_rel_param_diff(ag_demo_gpt *a, ag_demo_gpt *b, ag_arena *A) {
    ag_named_param *pa, *pb;
    const int n = ag_module_parameters(&a->base, A, &pa);
    ck_assert_int_eq(ag_module_parameters(&b->base, A, &pb), n);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        ag_tensor *x = ag_cast(A, pa[i].tensor, AG_F64), *y = ag_cast(A, pb[i].tensor, AG_F64);
        for (int64_t j = 0; j < x->numel; j++) {
            const double u = ((double *)x->data)[j], v = ((double *)y->data)[j];
            const double r = fabs(u - v) / fmax(fabs(v), 1e-3);
            if (r > worst) worst = r;
        }
    }
    return worst;
}

/* Trains both copies for STEPS steps; returns the worst relative loss
 * difference and fills the worst parameter difference. */
static double train_both(ag_dtype dt, const ag_dist_opts *dopts, double *param_diff) {
    ag_arena *P = ag_arena_new(0), *S = ag_arena_new(0);
    trainee dp = make_trainee(P, dt, 16), ref = make_trainee(P, dt, 16);
    ag_dist *d = ag_dist_new(P, &dp.g->base, dopts);
    ck_assert_ptr_nonnull(d);
    ag_rng r;
    ag_rng_seed(&r, 99);
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        ag_arena_reset(S);
        batch b;
        make_batch(&r, &b);
        /* the reference: the whole batch */
        ag_tensor *ids, *tgt;
        double total;
        rows(S, &b, 0, BATCH, &ids, &tgt, &total);
        ag_tensor *loss_ref = ag_demo_gpt_loss(S, ref.g, ids, tgt);
        ck_assert(ag_backward(loss_ref, NULL));
        const double lr = ag_item(loss_ref);
        step(&ref);
        /* data parallel: this rank's rows, the loss times mine / total */
        int64_t first, n;
        ag_dist_shard(BATCH, &first, &n);
        double mine, counts[2];
        rows(S, &b, first, n, &ids, &tgt, &mine);
        ag_tensor *loss = ag_demo_gpt_loss(S, dp.g, ids, tgt);
        loss = ag_mul_scalar(S, loss, mine / total);
        counts[0] = mine;
        counts[1] = ag_item(loss);
        ck_assert(ag_dist_sum_f64(d, counts, 2));
        ck_assert_double_eq(counts[0], total); /* the shards cover the batch once */
        ck_assert(ag_dist_backward(d, loss));
        step(&dp);
        const double rel = fabs(counts[1] - lr) / fabs(lr);
        if (rel > worst) worst = rel;
    }
    *param_diff = max_rel_param_diff(dp.g, ref.g, S);
    double sums[2] = {checksum(dp.g, S), 0};
    sums[1] = sums[0] * ag_dist_world_size();
    double all = sums[0];
    ck_assert(ag_dist_sum_f64(d, &all, 1));
    ck_assert_msg(all == sums[1], "the replicas differ: checksums sum to %.17g, not %d x %.17g",
                  all, ag_dist_world_size(), sums[0]);
    ag_arena_free(S);
    ag_arena_free(P);
    return worst;
}

/* A parameter that no forward uses has no gradient in one process, and the
 * optimizer skips it (AdamW does not even decay it). Under ag_dist it must
 * stay so: no zero gradient made up for it, and its value unchanged. */
START_TEST(unused_parameter_gets_no_gradient) {
    ag_arena *P = ag_arena_new(0), *S = ag_arena_new(0);
    const ag_demo_gpt_config c = {.vocab = VOCAB, .block_size = BLOCK, .n_layer = 1,
                                  .n_embd = 16, .n_head = 2,
                                  .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA), .act = AG_ACT_GELU};
    ag_demo_gpt *g = ag_demo_gpt_new(P, &c, 5);
    ag_tensor *unused = ag_ones(P, AG_F32, AG_SHAPE(3, 3));
    ck_assert(ag_module_add_param(&g->base, "unused", unused));
    ag_adam_opts o = ag_adamw_defaults();
    o.weight_decay = 0.5;
    ag_optim *opt =
        ag_adamw_new(P, ag_optim_groups_from_model(&g->base, P, AG_OPTIM_INHERIT, 0.5), &o);
    ag_dist *d = ag_dist_new(P, &g->base, NULL);
    ck_assert_ptr_nonnull(d);
    ag_rng r;
    ag_rng_seed(&r, 3);
    for (int s = 0; s < 3; s++) {
        ag_arena_reset(S);
        batch b;
        make_batch(&r, &b);
        int64_t first, n;
        ag_dist_shard(BATCH, &first, &n);
        ag_tensor *ids, *tgt;
        double mine;
        rows(S, &b, first, n, &ids, &tgt, &mine);
        ck_assert(ag_dist_backward(d, ag_demo_gpt_loss(S, g, ids, tgt)));
        ck_assert_ptr_null(ag_grad_of(unused));
        ck_assert(ag_optim_step(opt));
        ag_optim_zero_grad(opt);
    }
    for (int64_t i = 0; i < unused->numel; i++) ck_assert(((float *)unused->data)[i] == 1.0f);
    ag_arena_free(S);
    ag_arena_free(P);
}
END_TEST

START_TEST(f64_equals_one_process) {
    double pd;
    const double worst = train_both(AG_F64, NULL, &pd);
    ck_assert_msg(worst <= 1e-10, "loss differs by %.3g relative", worst);
    ck_assert_msg(pd <= 1e-9, "parameters differ by %.3g relative", pd);
    if (ag_dist_rank() == 0)
        printf("f64, %d rank(s): losses within %.2e, parameters within %.2e of one process\n",
               ag_dist_world_size(), worst, pd);
}
END_TEST

START_TEST(f32_equals_one_process) {
    double pd;
    const double worst = train_both(AG_F32, NULL, &pd);
    ck_assert_msg(worst <= 1e-4, "loss differs by %.3g relative", worst);
    if (ag_dist_rank() == 0)
        printf("f32, %d rank(s): losses within %.2e, parameters within %.2e of one process\n",
               ag_dist_world_size(), worst, pd);
}
END_TEST

/* One rank or two, small buckets or one, overlap or not: each element's
 * sum is the same two (or one) numbers added, so the results are the same
 * bits, and the bf16 path trains the replicas equally too. */
START_TEST(buckets_and_overlap_do_not_change_the_result) {
    ag_dist_opts a = ag_dist_defaults(), b = a;
    b.bucket_bytes = 4096;
    b.overlap = false;
    double pa, pb;
    const double wa = train_both(AG_F64, &a, &pa), wb = train_both(AG_F64, &b, &pb);
    ck_assert(wa == wb && pa == pb);
    double pc;
    train_both(AG_BF16, &b, &pc); /* asserts the replicas are equal */
}
END_TEST

/* The plan: reverse module order, split at the bucket size, never mixing
 * f64 with f32. */
START_TEST(bucket_plan) {
    ag_arena *P = ag_arena_new(0);
    trainee t = make_trainee(P, AG_F32, 16);
    ag_dist_opts o = ag_dist_defaults();
    o.bucket_bytes = 16 * 16 * 4; /* one 16x16 matrix */
    ag_dist *d = ag_dist_new(P, &t.g->base, &o);
    ck_assert_ptr_nonnull(d);
    ag_named_param *ps;
    const int n = ag_module_parameters(&t.g->base, P, &ps);
    ck_assert_int_gt(ag_dist_num_buckets(d), 4);
    ck_assert_int_eq(ag_dist_bucket_of(d, n - 1), 0); /* the last parameter goes first */
    for (int i = 0; i + 1 < n; i++) ck_assert_int_ge(ag_dist_bucket_of(d, i), ag_dist_bucket_of(d, i + 1));
    ck_assert_int_eq(ag_dist_bucket_of(d, n), -1);
    ag_dist_opts one = ag_dist_defaults();
    ag_dist *d1 = ag_dist_new(P, &t.g->base, &one);
    ck_assert_int_eq(ag_dist_num_buckets(d1), 1); /* ~12k floats fit in 1 MiB */
    ag_arena_free(P);
}
END_TEST

START_TEST(shards_cover_the_items_once) {
    ag_arena *P = ag_arena_new(0);
    trainee t = make_trainee(P, AG_F32, 16);
    ag_dist *d = ag_dist_new(P, &t.g->base, NULL);
    for (int64_t n = 0; n < 9; n++) {
        int64_t first, count;
        ag_dist_shard(n, &first, &count);
        double v[3] = {(double)count, 0, 0};
        /* ranks' ranges follow each other: sum of (first + count)^2 - first^2
         * over ranks telescopes to n^2 exactly when they tile [0, n) in order */
        v[1] = (double)((first + count) * (first + count) - first * first);
        v[2] = count > n / ag_dist_world_size() + 1 ? 1 : 0;
        ck_assert(ag_dist_sum_f64(d, v, 3));
        ck_assert_double_eq(v[0], (double)n);
        ck_assert_double_eq(v[1], (double)(n * n));
        ck_assert_double_eq(v[2], 0);
    }
    ag_arena_free(P);
}
END_TEST

static int reports;
static char last[512];
static void keep(const char *m, void *u) {
    (void)u;
    reports++;
    snprintf(last, sizeof last, "%s", m);
}

/* Rank 1 builds a wider model: every rank's ag_dist_new fails, and rank 1's
 * message names the first parameter that differs. */
START_TEST(another_model_is_named) {
    if (ag_dist_world_size() < 2) return; /* nothing to differ from */
    ag_arena *P = ag_arena_new(0);
    trainee t = make_trainee(P, AG_F32, ag_dist_rank() == 1 ? 32 : 16);
    ag_error_handler old = ag_set_error_handler(keep, NULL);
    reports = 0;
    ag_dist *d = ag_dist_new(P, &t.g->base, NULL);
    ag_set_error_handler(old, NULL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(reports, 1);
    if (ag_dist_rank() == 1)
        ck_assert_msg(strstr(last, "wte.weight f32 [11,32] here and wte.weight f32 [11,16] on "
                                   "rank 0"),
                      "%s", last);
    else
        ck_assert_msg(strstr(last, "differs on 1 other rank"), "%s", last);
    ag_arena_free(P);
}
END_TEST

static TCase *dist_tcase(void) {
    TCase *tc = tcase_create("dist");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, f64_equals_one_process);
    tcase_add_test(tc, f32_equals_one_process);
    tcase_add_test(tc, buckets_and_overlap_do_not_change_the_result);
    tcase_add_test(tc, bucket_plan);
    tcase_add_test(tc, shards_cover_the_items_once);
    tcase_add_test(tc, another_model_is_named);
    tcase_add_test(tc, unused_parameter_gets_no_gradient);
    return tc;
}

int main(int argc, char **argv) {
    if (!ag_dist_init(&argc, &argv)) return EXIT_FAILURE;
    if (ag_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) return EXIT_FAILURE;
    const int rc = run_check_suite("dist", (check_tcase_fn *const[]){dist_tcase, NULL});
    ag_dist_finalize();
    return rc;
}
