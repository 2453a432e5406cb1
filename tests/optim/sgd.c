/* tests/optim/sgd.c — SGD against hand values (torch.optim.SGD):
 *   g = grad (+ wd*p);  b = g on the first step, then momentum*b + (1-dampening)*g;
 *   g = nesterov ? g + momentum*b : b;  p -= lr*g */
#include "optim_test.h"

static ag_optim *mk_sgd(ag_arena *P, ag_tensor *p, const ag_sgd_opts *o) {
    return ag_sgd_new(P, ag_optim_groups_one(&(ag_optim_group){&p, 1, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT}), o);
}

/* Three steps on p0 = 1 with a constant gradient 0.5 and lr 0.1; want[t]
 * holds p after step t+1. */
static void run_scalar(const ag_sgd_opts *o, const double want[3], const double want_buf[3]) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_optim *opt = mk_sgd(P, p, o);
    ck_assert_ptr_nonnull(opt);
    for (int t = 0; t < 3; t++) {
        set_grad(p, (double[]){0.5});
        ck_assert(ag_optim_step(opt));
        ck_rel(ag_get_flat(p, 0), want[t], 1e-15);
        const ag_optim_state *st = ag_optim_state_of(opt, p);
        if (want_buf) ck_rel(state_at(st, "momentum_buffer", 0), want_buf[t], 1e-15);
        else ck_assert_ptr_null(ag_optim_state_buffer(st, "momentum_buffer"));
    }
    ag_arena_free(P);
}

START_TEST(test_defaults) {
    ag_sgd_opts s = ag_sgd_defaults();
    ck_assert(s.lr == 1e-3 && s.momentum == 0 && s.dampening == 0 && s.weight_decay == 0);
    ck_assert(!s.nesterov && !s.maximize);
}
END_TEST

/* p -= 0.1 * 0.5 each step: 0.95, 0.9, 0.85. */
START_TEST(test_plain) {
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.1;
    run_scalar(&o, (double[]){0.95, 0.9, 0.85}, NULL);
}
END_TEST

/* momentum 0.9: b = 0.5, 0.95, 1.355; p = 0.95, 0.855, 0.7195. */
START_TEST(test_momentum) {
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.1;
    o.momentum = 0.9;
    run_scalar(&o, (double[]){0.95, 0.855, 0.7195}, (double[]){0.5, 0.95, 1.355});
}
END_TEST

/* nesterov, momentum 0.9: b as above; g = 0.5 + 0.9*b = 0.95, 1.355, 1.7195;
 * p = 0.905, 0.7695, 0.59755. */
START_TEST(test_nesterov) {
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.1;
    o.momentum = 0.9;
    o.nesterov = true;
    run_scalar(&o, (double[]){0.905, 0.7695, 0.59755}, (double[]){0.5, 0.95, 1.355});
}
END_TEST

/* dampening 0.5: the first buffer is g itself (no dampening), then
 * b = 0.9*b + 0.5*0.5: 0.5, 0.7, 0.88; p = 0.95, 0.88, 0.792. */
START_TEST(test_dampening) {
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.1;
    o.momentum = 0.9;
    o.dampening = 0.5;
    run_scalar(&o, (double[]){0.95, 0.88, 0.792}, (double[]){0.5, 0.7, 0.88});
}
END_TEST

/* weight decay 0.1 with momentum 0.9, by hand:
 *   t1: g = 0.5 + 0.1*1   = 0.6      b = 0.6                    p = 1 - 0.06          = 0.94
 *   t2: g = 0.5 + 0.094   = 0.594    b = 0.54 + 0.594 = 1.134   p = 0.94 - 0.1134     = 0.8266
 *   t3: g = 0.5 + 0.08266 = 0.58266  b = 1.0206 + 0.58266       p = 0.8266 - 0.160326 = 0.666274
 *                                      = 1.60326 */
START_TEST(test_weight_decay) {
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 0.1;
    run_scalar(&o, (double[]){0.94, 0.8266, 0.666274}, (double[]){0.6, 1.134, 1.60326});
}
END_TEST

/* maximize: g = -0.5, so p climbs: 1.05, 1.1, 1.15. */
START_TEST(test_maximize) {
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.1;
    o.maximize = true;
    run_scalar(&o, (double[]){1.05, 1.1, 1.15}, NULL);
}
END_TEST

/* Two-element f64 and f32 parameters with a changing gradient, nesterov
 * and weight decay, against the rule evaluated here. */
START_TEST(test_vector_nesterov_wd) {
    static const double G[3][2] = {{0.1, -0.2}, {-0.3, 0.05}, {0.2, 0.4}};
    for (int dt = 0; dt < 2; dt++) {
        ag_arena *P = ag_arena_new(0);
        ag_tensor *p = param_of(P, dt ? AG_F32 : AG_F64, 2, (double[]){0.5, -1.5});
        ag_sgd_opts o = ag_sgd_defaults();
        o.lr = 0.05;
        o.momentum = 0.8;
        o.nesterov = true;
        o.weight_decay = 0.01;
        ag_optim *opt = mk_sgd(P, p, &o);
        double rp[2] = {0.5, -1.5}, rb[2];
        for (int t = 0; t < 3; t++) {
            set_grad(p, G[t]);
            ag_optim_step(opt);
            for (int i = 0; i < 2; i++) {
                double g = G[t][i] + 0.01 * rp[i];
                rb[i] = t == 0 ? g : 0.8 * rb[i] + (1 - 0) * g;
                g = g + 0.8 * rb[i];
                rp[i] = rp[i] - 0.05 * g;
                ck_rel(ag_get_flat(p, i), rp[i], dt ? 3e-7 : 1e-15);
            }
        }
        ag_arena_free(P);
    }
}
END_TEST

/* bf16 parameter: the master copy takes steps below bf16's resolution. */
START_TEST(test_bf16_master) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_BF16, 1, (double[]){1.5});
    ag_sgd_opts o = ag_sgd_defaults(); /* lr 1e-3 */
    ag_optim *opt = mk_sgd(P, p, &o);
    for (int t = 1; t <= 6; t++) {
        set_grad(p, (double[]){1.0});
        ag_optim_step(opt);
        const ag_optim_state *st = ag_optim_state_of(opt, p);
        float m = ((float *)st->master->data)[0];
        ck_close(m, 1.5 - 1e-3 * t, 1e-6);
        ck_assert_int_eq(((uint16_t *)p->data)[0], ag_f32_to_bf16(m));
    }
    ck_assert(ag_get_flat(p, 0) == 1.5 - 0.0078125);
    ag_arena_free(P);
}
END_TEST

/* Threaded path: 100003 f32 elements with momentum, each checked. */
START_TEST(test_large_f32) {
    const int n = 100003;
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = ag_zeros(P, AG_F32, AG_SHAPE(n));
    ag_set_requires_grad(p, true);
    p->grad = ag_zeros(P, AG_F32, AG_SHAPE(n));
    float *g = p->grad->data;
    for (int i = 0; i < n; i++) g[i] = (float)(i % 17) - 8.0f;
    ag_sgd_opts o = ag_sgd_defaults();
    o.lr = 0.25; /* exact in binary, so the float sums are exact */
    o.momentum = 0.5;
    ag_optim *opt = mk_sgd(P, p, &o);
    ag_optim_step(opt);
    ag_optim_step(opt);
    /* b1 = g, p1 = -0.25g; b2 = 0.5g + g = 1.5g, p2 = -0.25g - 0.375g = -0.625g */
    const float *x = p->data;
    for (int i = 0; i < n; i++) ck_assert_msg(x[i] == -0.625f * g[i], "[%d] %g", i, x[i]);
    ag_arena_free(P);
}
END_TEST

START_TEST(test_bad_options) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_sgd_opts o = ag_sgd_defaults();
    o.nesterov = true; /* momentum 0 */
    expect_errors();
    ck_assert_ptr_null(mk_sgd(P, p, &o));
    check_error("sgd_new", "Nesterov", "momentum 0");
    o.momentum = 0.9;
    o.dampening = 0.1;
    expect_errors();
    ck_assert_ptr_null(mk_sgd(P, p, &o));
    check_error("sgd_new", "Nesterov", "dampening 0.1");
    o = ag_sgd_defaults();
    o.momentum = -0.5;
    expect_errors();
    ck_assert_ptr_null(mk_sgd(P, p, &o));
    check_error("sgd_new", "momentum -0.5", ">= 0");
    o = ag_sgd_defaults();
    o.lr = -1;
    expect_errors();
    ck_assert_ptr_null(mk_sgd(P, p, &o));
    check_error("sgd_new", "learning rate -1", NULL);
    o = ag_sgd_defaults();
    o.weight_decay = NAN;
    expect_errors();
    ck_assert_ptr_null(mk_sgd(P, p, &o));
    check_error("sgd_new", "weight_decay nan", NULL);
    ag_arena_free(P);
}
END_TEST

TCase *optim_sgd_tcase(void) {
    TCase *tc = tcase_create("sgd");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_plain);
    tcase_add_test(tc, test_momentum);
    tcase_add_test(tc, test_nesterov);
    tcase_add_test(tc, test_dampening);
    tcase_add_test(tc, test_weight_decay);
    tcase_add_test(tc, test_maximize);
    tcase_add_test(tc, test_vector_nesterov_wd);
    tcase_add_test(tc, test_bf16_master);
    tcase_add_test(tc, test_large_f32);
    tcase_add_test(tc, test_bad_options);
    return tc;
}
