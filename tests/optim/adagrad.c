/* tests/optim/adagrad.c — Adagrad against values computed here from
 * torch.optim.Adagrad's rule (t: the parameter's step count after +1):
 *   g = grad (negated with maximize) + wd*p
 *   clr = lr / (1 + (t-1)*lr_decay)
 *   s = s + g*g            (s starts at initial_accumulator_value)
 *   p -= clr * g / (sqrt(s) + eps) */
#include "optim_test.h"

typedef struct {
    double lr, lr_decay, wd, init, eps;
    bool maximize;
} ref_adagrad;

/* Step t of the reference on n doubles. */
static void ref_adagrad_step(const ref_adagrad *h, int t, int n, double *p, double *s,
                             const double *grad) {
    double clr = h->lr / (1 + (t - 1) * h->lr_decay);
    for (int i = 0; i < n; i++) {
        double g = h->maximize ? -grad[i] : grad[i];
        g = g + h->wd * p[i];
        s[i] = s[i] + g * g;
        p[i] = p[i] - clr * g / (sqrt(s[i]) + h->eps);
    }
}

static const double P0[2] = {0.5, -1.5};
static const double GSEQ[3][2] = {{0.1, -0.2}, {-0.3, 0.05}, {0.2, 0.4}};

static ag_optim *mk_adagrad(ag_arena *P, ag_tensor *p, const ag_adagrad_opts *o) {
    return ag_adagrad_new(P, ag_optim_groups_one(&(ag_optim_group){&p, 1, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT}), o);
}

/* Three steps over a two-element f64 parameter (gradients GSEQ): p and
 * the sum against the reference after each step, to 1e-15 relative. */
static void three_steps(const ref_adagrad *h) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_adagrad_opts opts = {h->lr, h->lr_decay, h->wd, h->init, h->eps, h->maximize};
    ag_optim *o = mk_adagrad(P, p, &opts);
    ck_assert_ptr_nonnull(o);
    double rp[2] = {P0[0], P0[1]}, rs[2] = {h->init, h->init};
    for (int t = 1; t <= 3; t++) {
        set_grad(p, GSEQ[t - 1]);
        ck_assert(ag_optim_step(o));
        ref_adagrad_step(h, t, 2, rp, rs, GSEQ[t - 1]);
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert_int_eq(st->step, t);
        for (int i = 0; i < 2; i++) {
            ck_rel(ag_get_flat(p, i), rp[i], 1e-15);
            ck_rel(state_at(st, "sum", i), rs[i], 1e-15);
        }
    }
    ag_arena_free(P);
}

START_TEST(test_defaults) {
    ag_adagrad_opts a = ag_adagrad_defaults();
    ck_assert(a.lr == 1e-2 && a.lr_decay == 0 && a.weight_decay == 0);
    ck_assert(a.initial_accumulator_value == 0 && a.eps == 1e-10 && !a.maximize);
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_optim *o = mk_adagrad(P, p, NULL); /* NULL: the defaults */
    ck_assert_str_eq(o->name, "Adagrad");
    ck_assert(o->type == &ag_adagrad_type);
    ck_assert(o->groups[0].lr == 1e-2 && o->groups[0].weight_decay == 0);
    ck_assert(((const ag_adagrad_opts *)o->opts)->eps == 1e-10);
    ag_arena_free(P);
    three_steps(&(ref_adagrad){1e-2, 0, 0, 0, 1e-10, false});
}
END_TEST

/* By hand on a scalar: p0 = 1, g = 0.5 every step, lr 0.1, eps 0.
 *   plain:             s = 0.25, 0.5;  p = 1 - 0.1*0.5/0.5 = 0.9, then 0.9 - 0.05/sqrt(0.5)
 *   lr_decay 1:        step 2 uses lr 0.1/2: p2 = 0.9 - 0.025/sqrt(0.5)
 *   initial value 0.75: s = 1, 1.25;   p = 1 - 0.05/1 = 0.95, then 0.95 - 0.05/sqrt(1.25) */
START_TEST(test_by_hand) {
    static const struct {
        double lr_decay, init;
        double s[2], p[2];
    } CASES[] = {
        {0, 0, {0.25, 0.5}, {0.9, 0.9 - 0.05 / 0.70710678118654752}},
        {1, 0, {0.25, 0.5}, {0.9, 0.9 - 0.025 / 0.70710678118654752}},
        {0, 0.75, {1.0, 1.25}, {0.95, 0.95 - 0.05 / 1.1180339887498949}},
    };
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        ag_arena *P = ag_arena_new(0);
        ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1.0});
        ag_adagrad_opts a = ag_adagrad_defaults();
        a.lr = 0.1;
        a.eps = 0;
        a.lr_decay = CASES[c].lr_decay;
        a.initial_accumulator_value = CASES[c].init;
        ag_optim *o = mk_adagrad(P, p, &a);
        for (int t = 0; t < 2; t++) {
            set_grad(p, (double[]){0.5});
            ag_optim_step(o);
            ck_rel(state_at(ag_optim_state_of(o, p), "sum", 0), CASES[c].s[t], 1e-15);
            ck_rel(ag_get_flat(p, 0), CASES[c].p[t], 1e-15);
        }
        ag_arena_free(P);
    }
}
END_TEST

START_TEST(test_lr_decay_initial_value) {
    three_steps(&(ref_adagrad){0.1, 0.5, 0, 0, 1e-10, false});
    three_steps(&(ref_adagrad){0.1, 0, 0, 0.1, 1e-10, false});
    three_steps(&(ref_adagrad){0.05, 0.25, 0, 2.0, 1e-3, false});
}
END_TEST

START_TEST(test_weight_decay_maximize) {
    three_steps(&(ref_adagrad){0.1, 0, 0.1, 0, 1e-10, false});
    three_steps(&(ref_adagrad){0.1, 0.1, 0.1, 0.5, 1e-10, true});
    /* maximizing climbs: one step on f = p (grad 1) increases p */
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){0.0});
    ag_adagrad_opts a = ag_adagrad_defaults();
    a.maximize = true;
    ag_optim *o = mk_adagrad(P, p, &a);
    set_grad(p, (double[]){1.0});
    ag_optim_step(o);
    ck_assert(ag_get_flat(p, 0) > 0.009);
    ag_arena_free(P);
}
END_TEST

/* f32 in f32: the rule evaluated in float with the constants rounded to
 * float; lr decay, a starting value and weight decay. */
START_TEST(test_f32) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F32, 2, P0);
    ag_adagrad_opts a = {0.1, 0.5, 0.1, 0.2, 1e-10, false};
    ag_optim *o = mk_adagrad(P, p, &a);
    float rp[2] = {(float)P0[0], (float)P0[1]}, rs[2] = {0.2f, 0.2f};
    for (int t = 1; t <= 3; t++) {
        set_grad(p, GSEQ[t - 1]);
        ag_optim_step(o);
        float clr = (float)(0.1 / (1 + (t - 1) * 0.5));
        for (int i = 0; i < 2; i++) {
            float g = (float)GSEQ[t - 1][i] + 0.1f * rp[i];
            rs[i] = rs[i] + g * g;
            rp[i] = rp[i] - clr * g / (sqrtf(rs[i]) + 1e-10f);
            ck_rel(ag_get_flat(p, i), rp[i], 2e-7);
            ck_rel(state_at(ag_optim_state_of(o, p), "sum", i), rs[i], 2e-7);
        }
    }
    ck_assert(ag_optim_state_buffer(ag_optim_state_of(o, p), "sum")->dtype == AG_F32);
    ag_arena_free(P);
}
END_TEST

/* bf16: the f32 master takes the float rule (defaults, lr 1e-3); the
 * parameter is the master rounded. Steps of 1e-3/sqrt(t) add up to less
 * than half of bf16's spacing at 1.5 (2^-8) for six steps, so the
 * parameter stays at 1.5 until the seventh. */
static void ref_bf16(float *w, float s[2], float g, int t) {
    (void)t;
    s[0] = s[0] + g * g;
    *w = *w - 1e-3f * g / (sqrtf(s[0]) + 1e-10f);
}

START_TEST(test_bf16_master) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_BF16, 2, (double[]){1.5, -2.0});
    ag_adagrad_opts a = ag_adagrad_defaults();
    a.lr = 1e-3;
    check_bf16_steps(mk_adagrad(P, p, &a), p, ref_bf16, "sum");
    ag_arena_free(P);
}
END_TEST

/* The sum is made on a parameter's first step with a gradient (PyTorch
 * makes it in the constructor): a parameter never updated has none. */
START_TEST(test_lazy_sum) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0), *q = param_of(P, AG_F64, 2, P0);
    ag_adagrad_opts a = ag_adagrad_defaults();
    a.initial_accumulator_value = 0.5;
    ag_optim *o = ag_adagrad_new(P, ag_optim_groups_one(&(ag_optim_group){(ag_tensor *[]){p, q}, 2, NAN, NAN}), &a);
    set_grad(p, GSEQ[0]);
    ag_optim_step(o);
    ck_rel(state_at(ag_optim_state_of(o, p), "sum", 0), 0.5 + 0.1 * 0.1, 1e-15);
    ck_assert_ptr_null(ag_optim_state_buffer(ag_optim_state_of(o, q), "sum"));
    ck_assert_int_eq(ag_optim_state_of(o, q)->step, 0);
    ag_arena_free(P);
}
END_TEST

static ag_optim *mk_any(ag_arena *P, ag_tensor *p, const void *opts) {
    return mk_adagrad(P, p, opts);
}

START_TEST(test_bad_options) {
    static const bad_option BAD[] = {
        {offsetof(ag_adagrad_opts, lr), -1, "learning rate -1"},
        {offsetof(ag_adagrad_opts, lr_decay), -0.5, "lr_decay -0.5"},
        {offsetof(ag_adagrad_opts, weight_decay), NAN, "weight_decay nan"},
        {offsetof(ag_adagrad_opts, initial_accumulator_value), -0.1,
         "initial_accumulator_value -0.1"},
        {offsetof(ag_adagrad_opts, eps), -1e-10, "epsilon -1e-10"},
    };
    ag_adagrad_opts d = ag_adagrad_defaults();
    check_bad_options("adagrad_new", mk_any, &d, sizeof d, BAD, 5);
}
END_TEST

TCase *optim_adagrad_tcase(void) {
    TCase *tc = tcase_create("adagrad");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_by_hand);
    tcase_add_test(tc, test_lr_decay_initial_value);
    tcase_add_test(tc, test_weight_decay_maximize);
    tcase_add_test(tc, test_f32);
    tcase_add_test(tc, test_bf16_master);
    tcase_add_test(tc, test_lazy_sum);
    tcase_add_test(tc, test_bad_options);
    return tc;
}
