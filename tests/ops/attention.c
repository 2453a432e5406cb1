/* tests/ops/attention.c — the fused causal attention against the composed
 * recipe (reshape, transpose, matmul, masked_fill, softmax, matmul, written
 * here with ops) in f64, forward and the three input gradients; f32 against
 * f64; a case by hand; huge logits; bad input; the internal packed entry
 * (q, k, v as column blocks of one tensor). */
#include "internal.h" /* ag__causal_attention_packed */
#include "ops_test.h"

/* The composed causal attention of q, k, v [B,T,C] or [T,C] with H heads. */
static ag_tensor *composed(ag_arena *A, ag_tensor *q, ag_tensor *k, ag_tensor *v, int64_t H) {
    const int64_t B = q->ndim == 3 ? q->shape[0] : 1, T = q->shape[q->ndim - 2];
    const int64_t C = q->shape[q->ndim - 1], hd = C / H;
    const int64_t heads[4] = {B, T, H, hd};
    ag_tensor *qh = ag_transpose(A, ag_reshape(A, q, 4, heads), 1, 2);
    ag_tensor *kt = ag_permute(A, ag_reshape(A, k, 4, heads), (const int[]){0, 2, 3, 1});
    ag_tensor *vh = ag_transpose(A, ag_reshape(A, v, 4, heads), 1, 2);
    ag_tensor *mask = ag_empty(A, AG_I32, AG_SHAPE(T, T));
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) ((int32_t *)mask->data)[i * T + j] = j > i;
    ag_tensor *att = ag_mul_scalar(A, ag_matmul(A, qh, kt), 1.0 / sqrt((double)hd));
    att = ag_softmax(A, ag_masked_fill(A, att, mask, -INFINITY), -1);
    ag_tensor *y = ag_transpose(A, ag_matmul(A, att, vh), 1, 2);
    return ag_reshape(A, y, q->ndim, q->shape);
}

typedef ag_tensor *attn_fn(ag_arena *A, ag_tensor *q, ag_tensor *k, ag_tensor *v, int64_t H);
static ag_tensor *fused(ag_arena *A, ag_tensor *q, ag_tensor *k, ag_tensor *v, int64_t H) {
    return ag_causal_attention(A, q, k, v, H);
}

/* One run: y = f(q, k, v), then backward with upstream g; the gradients of
 * the inputs that require one are copied out (grads[i], NULL otherwise). */
typedef struct run {
    ag_tensor *y, *grads[3];
} run;

static run run_attn(ag_arena *A, attn_fn *f, ag_tensor *const in[3], int64_t H, ag_tensor *g) {
    for (int i = 0; i < 3; i++) ag_zero_grad(in[i]);
    run r = {.y = f(A, in[0], in[1], in[2], H)};
    ck_assert_ptr_nonnull(r.y);
    ck_assert(ag_backward(r.y, g));
    for (int i = 0; i < 3; i++)
        r.grads[i] = in[i]->requires_grad && in[i]->grad ? ag_clone(A, ag_detach(A, in[i]->grad)) : NULL;
    return r;
}

/* Asserts |a - b| <= tol (1 + |b|) elementwise. */
static void ck_near(const ag_tensor *a, const ag_tensor *b, double tol, const char *what) {
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(a->numel, b->numel);
    for (int64_t i = 0; i < a->numel; i++) {
        const double x = ag_get_flat(a, i), w = ag_get_flat(b, i);
        ck_assert_msg(fabs(x - w) <= tol * (1 + fabs(w)), "%s[%lld] = %.17g, expected %.17g",
                      what, (long long)i, x, w);
    }
}

/* Inputs [B,T,C] (B 0: [T,C]) from seed, normal times spread. */
static void make_inputs(ag_arena *A, ag_dtype dt, const int64_t s[4], uint64_t seed,
                        double spread, ag_tensor *in[3]) {
    ag_rng r = ag_rng_seeded(seed);
    const int nd = s[0] ? 3 : 2;
    const int64_t shape[3] = {s[0], s[1], s[2]}, *sh = s[0] ? shape : shape + 1;
    for (int i = 0; i < 3; i++) {
        in[i] = ag_randn(A, &r, dt, nd, sh, 0.0, spread);
        ag_set_requires_grad(in[i], true);
    }
}

/* Shapes {B, T, C, H}; B 0 is a 2-d [T, C]. T 1, hd 1, H 1, T across tiles
 * (64 rows) and not a multiple of them; heads narrower than the products'
 * 16-column block, of exactly one and two blocks (16, 32, 64), and of one
 * block and a part (20). */
static const int64_t SHAPES[][4] = {
    {1, 1, 4, 2},   {2, 5, 3, 3},   {3, 23, 8, 1},  {1, 64, 8, 2},  {2, 130, 12, 3},
    {0, 5, 6, 2},   {0, 1, 1, 1},   {2, 70, 64, 2}, {1, 130, 128, 2}, {3, 65, 16, 4},
    {2, 70, 40, 2},
};

START_TEST(test_attention_matches_composed) {
    ag_arena *A = ag_arena_new(0);
    const int64_t *s = SHAPES[_i];
    ag_tensor *in[3];
    make_inputs(A, AG_F64, s, 100 + (uint64_t)_i, 1.0, in);
    ag_rng r = ag_rng_seeded(7);
    ag_tensor *g = ag_randn(A, &r, AG_F64, in[0]->ndim, in[0]->shape, 0.0, 1.0);
    const run a = run_attn(A, fused, in, s[3], g), b = run_attn(A, composed, in, s[3], g);
    ck_assert_int_eq(a.y->ndim, in[0]->ndim);
    ck_assert_int_eq(a.y->dtype, AG_F64);
    ck_near(a.y, b.y, 1e-12, "y");
    ck_near(a.grads[0], b.grads[0], 1e-12, "dq");
    ck_near(a.grads[1], b.grads[1], 1e-12, "dk");
    ck_near(a.grads[2], b.grads[2], 1e-12, "dv");
    ag_arena_free(A);
}
END_TEST

/* Only some inputs need a gradient; q = k = v one tensor (its gradient sums
 * the three shares). */
START_TEST(test_attention_partial_and_shared) {
    ag_arena *A = ag_arena_new(0);
    const int64_t s[4] = {2, 70, 8, 2};
    ag_tensor *in[3];
    make_inputs(A, AG_F64, s, 5, 1.0, in);
    ag_rng r = ag_rng_seeded(8);
    ag_tensor *g = ag_randn(A, &r, AG_F64, 3, in[0]->shape, 0.0, 1.0);
    for (int only = 0; only < 3; only++) {
        for (int i = 0; i < 3; i++) ag_set_requires_grad(in[i], i == only);
        const run a = run_attn(A, fused, in, s[3], g), b = run_attn(A, composed, in, s[3], g);
        for (int i = 0; i < 3; i++) {
            ck_assert(!a.grads[i] == (i != only));
            if (i == only) ck_near(a.grads[i], b.grads[i], 1e-12, "the one gradient");
        }
    }
    ag_set_requires_grad(in[0], true);
    ag_tensor *x3[3] = {in[0], in[0], in[0]};
    const run a = run_attn(A, fused, x3, s[3], g), b = run_attn(A, composed, x3, s[3], g);
    ck_near(a.y, b.y, 1e-12, "y(x, x, x)");
    ck_near(a.grads[0], b.grads[0], 1e-12, "dx");
    ag_arena_free(A);
}
END_TEST

/* A second backward adds to the gradients the first one left (the engine's
 * contract), on the fresh-buffer path and the existing-buffer path alike. */
START_TEST(test_attention_accumulates) {
    /* NaN where the gradient buffers will be made: a fresh buffer must be
     * stored into, not added to */
    ag_arena *A = nan_filled_arena((size_t)1 << 20);
    const int64_t s[4] = {2, 70, 12, 3};
    ag_tensor *in[3];
    make_inputs(A, AG_F64, s, 11, 1.0, in);
    ag_rng r = ag_rng_seeded(12);
    ag_tensor *g = ag_randn(A, &r, AG_F64, 3, in[0]->shape, 0.0, 1.0);
    const run once = run_attn(A, fused, in, s[3], g);
    ck_assert(ag_backward(ag_causal_attention(A, in[0], in[1], in[2], s[3]), g));
    for (int i = 0; i < 3; i++)
        ck_near(in[i]->grad, ag_mul_scalar(A, once.grads[i], 2.0), 1e-14, "twice");
    /* q = k = v one fresh leaf: its three shares add up in one buffer */
    ag_tensor *x = ag_randn(A, &r, AG_F64, 3, in[0]->shape, 0.0, 1.0);
    ag_set_requires_grad(x, true);
    ag_tensor *x3[3] = {x, x, x};
    const run a = run_attn(A, fused, x3, s[3], g), b = run_attn(A, composed, x3, s[3], g);
    ck_near(a.grads[0], b.grads[0], 1e-12, "dx, fresh");
    ag_arena_free(A);
}
END_TEST

/* The packed entry on qkv [B,T,3C] against the composed attention of its
 * three column blocks (narrow, whose backward puts the shares back). */
START_TEST(test_attention_packed) {
    ag_arena *A = nan_filled_arena((size_t)1 << 20); /* a fresh gradient must be stored into */
    const int64_t shapes[][4] = {{2, 70, 12, 3}, {0, 5, 6, 2}, {1, 16, 16, 4}};
    for (int c = 0; c < 3; c++) {
        const int64_t *s = shapes[c], C = s[2];
        ag_rng r = ag_rng_seeded(30 + (uint64_t)c);
        const int nd = s[0] ? 3 : 2;
        const int64_t sh3[3] = {s[0], s[1], 3 * C}, *sh = s[0] ? sh3 : sh3 + 1;
        ag_tensor *qkv = ag_randn(A, &r, AG_F64, nd, sh, 0.0, 1.0);
        ag_set_requires_grad(qkv, true);
        ag_tensor *y = ag__causal_attention_packed(A, qkv, s[3]);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(y->shape[nd - 1], C);
        ag_tensor *g = ag_randn(A, &r, AG_F64, nd, y->shape, 0.0, 1.0);
        ck_assert(ag_backward(y, g));
        ag_tensor *got = ag_clone(A, ag_detach(A, qkv->grad));
        ag_zero_grad(qkv);
        ag_tensor *parts[3];
        for (int i = 0; i < 3; i++) parts[i] = ag_narrow(A, qkv, -1, i * C, C);
        ag_tensor *want = composed(A, parts[0], parts[1], parts[2], s[3]);
        ck_assert(ag_backward(want, g));
        ck_near(y, want, 1e-12, "packed y");
        ck_near(got, qkv->grad, 1e-12, "packed dqkv");
    }
    ag_tensor *bad = ag_zeros(A, AG_F64, AG_SHAPE(2, 3, 8));
    expect_errors();
    ck_assert_ptr_null(ag__causal_attention_packed(A, bad, 2)); /* 8 is not 3C */
    check_error("causal_attention_packed", "[2,3,8]", "3C");
    ag_arena_free(A);
}
END_TEST

/* f32 (float sums) against the f64 op on the same values: within 2e-5 relative
 * to 1 + |value| (values and gradients are O(1); f32's epsilon is 1.2e-7 and a
 * row sums up to 130 terms). bf16 in, bf16 out. */
START_TEST(test_attention_f32) {
    ag_arena *A = ag_arena_new(0);
    const int64_t shapes[][4] = {{1, 16, 16, 4}, {2, 70, 64, 2}, {2, 23, 64, 4}, {1, 130, 8, 2}};
    for (int c = 0; c < 4; c++) {
        ag_tensor *in[3], *in32[3];
        make_inputs(A, AG_F64, shapes[c], 40 + (uint64_t)c, 1.0, in);
        for (int i = 0; i < 3; i++) {
            in32[i] = ag_cast(A, ag_detach(A, in[i]), AG_F32);
            ag_set_requires_grad(in32[i], true);
        }
        ag_rng r = ag_rng_seeded(9);
        ag_tensor *g = ag_randn(A, &r, AG_F64, in[0]->ndim, in[0]->shape, 0.0, 1.0);
        const run a = run_attn(A, fused, in32, shapes[c][3], ag_cast(A, g, AG_F32));
        const run b = run_attn(A, fused, in, shapes[c][3], g);
        ck_assert_int_eq(a.y->dtype, AG_F32);
        ck_near(a.y, b.y, 2e-5, "f32 y");
        for (int i = 0; i < 3; i++) ck_near(a.grads[i], b.grads[i], 2e-5, "f32 grad");
    }
    ag_tensor *h = ag_cast(A, ag_full(A, AG_F32, AG_SHAPE(3, 4), 0.5), AG_BF16);
    ag_tensor *y = ag_causal_attention(A, h, h, h, 2);
    ck_assert_int_eq(y->dtype, AG_BF16);
    for (int64_t i = 0; i < y->numel; i++) ck_close(ag_get_flat(y, i), 0.5, 0); /* v all 0.5 */
    ag_arena_free(A);
}
END_TEST

/* T = 2, one head, hd = 1 (scale 1): row 0 sees key 0 only, so y0 = v0; row
 * 1 has weights p = softmax(q1 k0, q1 k1) and y1 = p0 v0 + p1 v1. With
 * upstream g = (g0, g1):
 *   dv0 = g0 + g1 p0,  dv1 = g1 p1
 *   dq0 = 0,           dq1 = g1 p0 p1 (k0 - k1)(v0 - v1)
 *   dk0 = g1 q1 p0 (v0 - y1),  dk1 = g1 q1 p1 (v1 - y1). */
START_TEST(test_attention_by_hand) {
    ag_arena *A = ag_arena_new(0);
    const double q[2] = {0.5, 1.0}, k[2] = {2.0, -1.0}, v[2] = {3.0, 5.0}, gv[2] = {0.25, 2.0};
    const double e0 = exp(q[1] * k[0]), e1 = exp(q[1] * k[1]);
    const double p0 = e0 / (e0 + e1), p1 = e1 / (e0 + e1), y1 = p0 * v[0] + p1 * v[1];
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 2e-6 : 1e-15;
        ag_tensor *tq = ag_from_f64(A, dt, AG_SHAPE(1, 2, 1), q);
        ag_tensor *tk = ag_from_f64(A, dt, AG_SHAPE(1, 2, 1), k);
        ag_tensor *tv = ag_from_f64(A, dt, AG_SHAPE(2, 1), v); /* reshaped below */
        tv = ag_reshape(A, tv, AG_SHAPE(1, 2, 1));
        ag_tensor *in[3] = {tq, tk, tv};
        for (int i = 0; i < 3; i++) ag_set_requires_grad(in[i], true);
        const run r = run_attn(A, fused, in, 1, ag_from_f64(A, dt, AG_SHAPE(1, 2, 1), gv));
        ck_values(r.y, 2, ((const double[]){v[0], y1}), tol * 4);
        ck_values(r.grads[2], 2, ((const double[]){gv[0] + gv[1] * p0, gv[1] * p1}), tol * 4);
        ck_values(r.grads[0], 2,
                  ((const double[]){0, gv[1] * p0 * p1 * (k[0] - k[1]) * (v[0] - v[1])}),
                  tol * 8);
        ck_values(r.grads[1], 2,
                  ((const double[]){gv[1] * q[1] * p0 * (v[0] - y1), gv[1] * q[1] * p1 * (v[1] - y1)}),
                  tol * 8);
    }
    ag_arena_free(A);
}
END_TEST

/* Scores q.k/sqrt(hd) near 1e3, whose exp overflows even f64: rows whose
 * largest score comes in the last key tile (the running maximum moves up)
 * and in the first (later tiles underflow). Everything stays finite and
 * equal to the composed softmax (which subtracts the row maximum). */
START_TEST(test_attention_huge_logits) {
    ag_arena *A = ag_arena_new(0);
    const int64_t T = 150, C = 4;
    for (int dir = 0; dir < 2; dir++) {
        double *qs = ag_arena_alloc(A, (size_t)(3 * T * C) * sizeof(double));
        double *ks = qs + T * C, *vs = ks + T * C;
        for (int64_t i = 0; i < T; i++)
            for (int64_t c = 0; c < C; c++) {
                const double pos = dir ? (double)(T - i) : (double)i; /* key ramp */
                qs[i * C + c] = 30.0;
                ks[i * C + c] = 0.2 * pos + 0.01 * (double)c;
                vs[i * C + c] = sin(0.1 * (double)(i * C + c));
            }
        ag_tensor *y64 = NULL;
        for (int d = 0; d < 2; d++) {
            const ag_dtype dt = d ? AG_F32 : AG_F64;
            ag_tensor *in[3] = {ag_from_f64(A, dt, AG_SHAPE(1, T, C), qs),
                                ag_from_f64(A, dt, AG_SHAPE(1, T, C), ks),
                                ag_from_f64(A, dt, AG_SHAPE(1, T, C), vs)};
            for (int i = 0; i < 3; i++) ag_set_requires_grad(in[i], true);
            ag_tensor *g = ag_full(A, dt, AG_SHAPE(1, T, C), 1.0);
            const run a = run_attn(A, fused, in, 1, g);
            for (int64_t e = 0; e < a.y->numel; e++) {
                ck_assert(isfinite(ag_get_flat(a.y, e)));
                for (int i = 0; i < 3; i++) ck_assert(isfinite(ag_get_flat(a.grads[i], e)));
            }
            if (d) { /* f32 scores ~1800 carry ~3e-4 of rounding: weights, y within 1e-3 */
                ck_near(a.y, y64, 1e-3, "huge y, f32");
                continue;
            }
            y64 = a.y;
            const run b = run_attn(A, composed, in, 1, g);
            ck_near(a.y, b.y, 1e-12, "huge y");
            /* dk carries q = 30 and scores ~1e3: 1e-10 relative */
            for (int i = 0; i < 3; i++) ck_near(a.grads[i], b.grads[i], 1e-10, "huge grad");
        }
    }
    ag_arena_free(A);
}
END_TEST

START_TEST(test_attention_errors) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3, 4));
    ag_tensor *other = ag_zeros(A, AG_F32, AG_SHAPE(2, 4, 4));
    ag_tensor *x64 = ag_zeros(A, AG_F64, AG_SHAPE(2, 3, 4));
    ag_tensor *ids = ag_zeros(A, AG_I32, AG_SHAPE(2, 3, 4));
    ag_tensor *x1 = ag_zeros(A, AG_F32, AG_SHAPE(4));
    ag_tensor *x4 = ag_zeros(A, AG_F32, AG_SHAPE(1, 2, 3, 4));
    const struct {
        ag_tensor *q, *k, *v;
        int64_t heads;
        const char *s1, *s2; /* what the message names */
    } bad[] = {
        {x, other, x, 2, "[2,4,4]", "one shape"},
        {x, x, x, 3, "n_head 3", "C = 4"},
        {x, x, x, 0, "n_head 0", "n_head > 0"},
        {x, x, x, -2, "n_head -2", NULL},
        {x, x64, x, 2, "f32", "f64"},
        {ids, ids, ids, 2, "i32", NULL},
        {x1, x1, x1, 2, "[4]", "[B, T, C] or [T, C]"},
        {x4, x4, x4, 2, "[1,2,3,4]", "[B, T, C] or [T, C]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_errors();
        ck_assert_ptr_null(ag_causal_attention(A, bad[i].q, bad[i].k, bad[i].v, bad[i].heads));
        check_error("causal_attention", bad[i].s1, bad[i].s2);
    }
    ck_assert_ptr_null(ag_causal_attention(A, NULL, x, x, 2)); /* NULL in, NULL out */
    ag_arena_free(A);
}
END_TEST

TCase *ops_attention_tcase(void) {
    TCase *tc = tcase_create("attention");
    tcase_add_loop_test(tc, test_attention_matches_composed, 0,
                        (int)(sizeof SHAPES / sizeof SHAPES[0]));
    tcase_add_test(tc, test_attention_partial_and_shared);
    tcase_add_test(tc, test_attention_accumulates);
    tcase_add_test(tc, test_attention_packed);
    tcase_add_test(tc, test_attention_f32);
    tcase_add_test(tc, test_attention_by_hand);
    tcase_add_test(tc, test_attention_huge_logits);
    tcase_add_test(tc, test_attention_errors);
    return tc;
}
