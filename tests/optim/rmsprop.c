/* tests/optim/rmsprop.c — RMSprop against values computed here from
 * torch.optim.RMSprop's rule:
 *   g = grad (negated with maximize) + wd*p
 *   v = alpha*v + (1-alpha)*g*g
 *   centered: a = lerp(a, g, 1-alpha);  avg = sqrt(v - a*a) + eps   (else sqrt(v) + eps)
 *   momentum > 0: b = momentum*b + g/avg;  p -= lr*b
 *   else:         p -= lr*g/avg
 * with ATen's lerp(a, g, w) = |w| < 0.5 ? a + w*(g - a) : g - (g - a)*(1 - w). */
#include "optim_test.h"

typedef struct {
    double lr, alpha, eps, wd, momentum;
    bool centered, maximize;
} ref_rms;

/* One step of the reference on n doubles (a, b: the gradient average and
 * the momentum buffer, used when centered / momentum > 0). */
static void ref_rms_step(const ref_rms *h, int n, double *p, double *v, double *a, double *b,
                         const double *grad) {
    for (int i = 0; i < n; i++) {
        double g = h->maximize ? -grad[i] : grad[i];
        g = g + h->wd * p[i];
        v[i] = h->alpha * v[i] + (1 - h->alpha) * g * g;
        double avg = v[i];
        if (h->centered) {
            double w = 1 - h->alpha;
            a[i] = fabs(w) < 0.5 ? a[i] + w * (g - a[i]) : g - (g - a[i]) * (1 - w);
            avg = v[i] - a[i] * a[i];
        }
        avg = sqrt(avg) + h->eps;
        if (h->momentum > 0) {
            b[i] = h->momentum * b[i] + g / avg;
            p[i] = p[i] - h->lr * b[i];
        } else {
            p[i] = p[i] - h->lr * g / avg;
        }
    }
}

static const double P0[2] = {0.5, -1.5};
static const double GSEQ[3][2] = {{0.1, -0.2}, {-0.3, 0.05}, {0.2, 0.4}};

static ag_optim *mk_rmsprop(ag_arena *P, ag_tensor *p, const ag_rmsprop_opts *o) {
    return ag_rmsprop_new(P, ag_optim_groups_one(&(ag_optim_group){&p, 1, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT}), o);
}

/* Options from the reference's hyperparameters. */
static ag_rmsprop_opts opts_of(const ref_rms *h) {
    ag_rmsprop_opts o = ag_rmsprop_defaults();
    o.lr = h->lr;
    o.alpha = h->alpha;
    o.eps = h->eps;
    o.weight_decay = h->wd;
    o.momentum = h->momentum;
    o.centered = h->centered;
    o.maximize = h->maximize;
    return o;
}

/* Three steps over a two-element f64 parameter (gradients GSEQ): p and
 * every buffer against the reference after each step, to 1e-15 relative;
 * the buffers the options do not use are never made. */
static void three_steps(const ref_rms *h) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_rmsprop_opts opts = opts_of(h);
    ag_optim *o = mk_rmsprop(P, p, &opts);
    ck_assert_ptr_nonnull(o);
    double rp[2] = {P0[0], P0[1]}, rv[2] = {0}, ra[2] = {0}, rb[2] = {0};
    for (int t = 1; t <= 3; t++) {
        set_grad(p, GSEQ[t - 1]);
        ck_assert(ag_optim_step(o));
        ref_rms_step(h, 2, rp, rv, ra, rb, GSEQ[t - 1]);
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert_int_eq(st->step, t);
        for (int i = 0; i < 2; i++) {
            ck_rel(ag_get_flat(p, i), rp[i], 1e-15);
            ck_rel(state_at(st, "square_avg", i), rv[i], 1e-15);
            if (h->centered) ck_rel(state_at(st, "grad_avg", i), ra[i], 1e-15);
            if (h->momentum > 0) ck_rel(state_at(st, "momentum_buffer", i), rb[i], 1e-15);
        }
        ck_assert((ag_optim_state_buffer(st, "grad_avg") != NULL) == h->centered);
        ck_assert((ag_optim_state_buffer(st, "momentum_buffer") != NULL) == (h->momentum > 0));
    }
    ag_arena_free(P);
}

START_TEST(test_defaults) {
    ag_rmsprop_opts r = ag_rmsprop_defaults();
    ck_assert(r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 && r.weight_decay == 0);
    ck_assert(r.momentum == 0 && !r.centered && !r.maximize);
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_optim *o = mk_rmsprop(P, p, NULL); /* NULL: the defaults */
    ck_assert_str_eq(o->name, "RMSprop");
    ck_assert(o->type == &ag_rmsprop_type);
    ck_assert(o->groups[0].lr == 1e-2 && o->groups[0].weight_decay == 0);
    const ag_rmsprop_opts *got = o->opts;
    ck_assert(got->alpha == 0.99 && got->eps == 1e-8);
    ag_arena_free(P);
    three_steps(&(ref_rms){1e-2, 0.99, 1e-8, 0, 0, false, false});
}
END_TEST

/* Step 1 in closed form from v0 = 0 (and a0 = 0): v1 = (1-alpha) g^2, so
 *   plain:    p1 = p0 - lr * g / (sqrt(1-alpha) |g| + eps)
 *   centered: a1 = (1-alpha) g, v1 - a1^2 = alpha (1-alpha) g^2,
 *             p1 = p0 - lr * g / (sqrt(alpha (1-alpha)) |g| + eps). */
START_TEST(test_first_step_closed_form) {
    for (int centered = 0; centered < 2; centered++) {
        ag_arena *P = ag_arena_new(0);
        ag_tensor *p = param_of(P, AG_F64, 2, P0);
        ag_rmsprop_opts r = ag_rmsprop_defaults();
        r.alpha = 0.9;
        r.eps = 0.01;
        r.centered = centered;
        ag_optim *o = mk_rmsprop(P, p, &r);
        set_grad(p, GSEQ[0]);
        ag_optim_step(o);
        double s = centered ? sqrt(0.9 * 0.1) : sqrt(0.1);
        for (int i = 0; i < 2; i++) {
            double g = GSEQ[0][i];
            ck_rel(ag_get_flat(p, i), P0[i] - 1e-2 * g / (s * fabs(g) + 0.01), 1e-13);
        }
        ag_arena_free(P);
    }
}
END_TEST

START_TEST(test_weight_decay_maximize) {
    three_steps(&(ref_rms){0.01, 0.9, 1e-8, 0.1, 0, false, false});
    three_steps(&(ref_rms){0.01, 0.9, 1e-8, 0.1, 0, false, true});
    three_steps(&(ref_rms){0.01, 0.99, 0.05, 0, 0, false, true});
}
END_TEST

START_TEST(test_momentum) {
    three_steps(&(ref_rms){0.01, 0.9, 1e-8, 0, 0.9, false, false});
    three_steps(&(ref_rms){0.02, 0.8, 1e-3, 0.05, 0.5, false, true});
}
END_TEST

/* Centered, alone and with momentum and weight decay; alpha 0.3 takes
 * lerp's other branch (weight 0.7 >= 0.5). */
START_TEST(test_centered) {
    three_steps(&(ref_rms){0.01, 0.9, 1e-8, 0, 0, true, false});
    three_steps(&(ref_rms){0.01, 0.9, 1e-8, 0.1, 0.9, true, false});
    three_steps(&(ref_rms){0.01, 0.3, 1e-8, 0, 0.5, true, true});
}
END_TEST

/* Momentum by hand on a scalar: p0 = 1, g = 0.5 every step, lr 0.1, alpha
 * 0.75, eps 0, momentum 0.5:
 *   v1 = 0.25*0.25 = 0.0625      avg1 = 0.25   b1 = 2                 p1 = 0.8
 *   v2 = 0.75*0.0625 + 0.0625    avg2 = 0.25*sqrt(1.75)
 *      = 0.109375                b2 = 1 + 2/sqrt(1.75)                p2 = 0.8 - 0.1*b2 */
START_TEST(test_momentum_by_hand) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_rmsprop_opts r = ag_rmsprop_defaults();
    r.lr = 0.1;
    r.alpha = 0.75;
    r.eps = 0;
    r.momentum = 0.5;
    ag_optim *o = mk_rmsprop(P, p, &r);
    set_grad(p, (double[]){0.5});
    ag_optim_step(o);
    const ag_optim_state *st = ag_optim_state_of(o, p);
    ck_rel(state_at(st, "square_avg", 0), 0.0625, 1e-15);
    ck_rel(state_at(st, "momentum_buffer", 0), 2.0, 1e-15);
    ck_rel(ag_get_flat(p, 0), 0.8, 1e-15);
    ag_optim_step(o);
    ck_rel(state_at(st, "square_avg", 0), 0.109375, 1e-15);
    ck_rel(state_at(st, "momentum_buffer", 0), 1 + 2 / sqrt(1.75), 1e-15);
    ck_rel(ag_get_flat(p, 0), 0.8 - 0.1 * (1 + 2 / sqrt(1.75)), 1e-15);
    ag_arena_free(P);
}
END_TEST

/* f32 parameters are updated in f32: the rule evaluated in float with the
 * constants rounded to float, centered with momentum and weight decay. */
START_TEST(test_f32) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F32, 2, P0);
    const ref_rms h = {0.01, 0.9, 1e-8, 0.1, 0.9, true, false};
    ag_rmsprop_opts opts = opts_of(&h);
    ag_optim *o = mk_rmsprop(P, p, &opts);
    float rp[2] = {(float)P0[0], (float)P0[1]}, rv[2] = {0}, ra[2] = {0}, rb[2] = {0};
    for (int t = 1; t <= 3; t++) {
        set_grad(p, GSEQ[t - 1]);
        ag_optim_step(o);
        for (int i = 0; i < 2; i++) {
            float g = (float)GSEQ[t - 1][i] + 0.1f * rp[i];
            rv[i] = 0.9f * rv[i] + (float)(1 - 0.9) * g * g;
            ra[i] = ra[i] + (float)(1 - 0.9) * (g - ra[i]);
            float avg = sqrtf(rv[i] - ra[i] * ra[i]) + 1e-8f;
            rb[i] = 0.9f * rb[i] + g / avg;
            rp[i] = rp[i] - 0.01f * rb[i];
            ck_rel(ag_get_flat(p, i), rp[i], 2e-7);
        }
    }
    const ag_optim_state *st = ag_optim_state_of(o, p);
    ck_assert(ag_optim_state_buffer(st, "square_avg")->dtype == AG_F32);
    ck_assert(ag_optim_state_buffer(st, "grad_avg")->dtype == AG_F32);
    ck_assert_ptr_null(st->master);
    ag_arena_free(P);
}
END_TEST

/* bf16: the f32 master takes the float rule (defaults, lr 1e-4); the
 * parameter is the master rounded. The steps (1e-3, then smaller) add up to
 * less than half of bf16's spacing at 1.5 (2^-8) for six steps, so the
 * parameter stays at 1.5 until the seventh. */
static void ref_bf16(float *w, float s[2], float g, int t) {
    (void)t;
    s[0] = 0.99f * s[0] + (float)(1 - 0.99) * g * g;
    *w = *w - 1e-4f * g / (sqrtf(s[0]) + 1e-8f);
}

START_TEST(test_bf16_master) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_BF16, 2, (double[]){1.5, -2.0});
    ag_rmsprop_opts r = ag_rmsprop_defaults();
    r.lr = 1e-4;
    check_bf16_steps(mk_rmsprop(P, p, &r), p, ref_bf16, "square_avg");
    ag_arena_free(P);
}
END_TEST

static ag_optim *mk_any(ag_arena *P, ag_tensor *p, const void *opts) {
    return mk_rmsprop(P, p, opts);
}

START_TEST(test_bad_options) {
    static const bad_option BAD[] = {
        {offsetof(ag_rmsprop_opts, lr), -1, "learning rate -1"},
        {offsetof(ag_rmsprop_opts, eps), -0.5, "epsilon -0.5"},
        {offsetof(ag_rmsprop_opts, momentum), -0.9, "momentum -0.9"},
        {offsetof(ag_rmsprop_opts, weight_decay), NAN, "weight_decay nan"},
        {offsetof(ag_rmsprop_opts, alpha), -0.1, "alpha -0.1"},
    };
    ag_rmsprop_opts d = ag_rmsprop_defaults();
    check_bad_options("rmsprop_new", mk_any, &d, sizeof d, BAD, 5);
}
END_TEST

TCase *optim_rmsprop_tcase(void) {
    TCase *tc = tcase_create("rmsprop");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_first_step_closed_form);
    tcase_add_test(tc, test_weight_decay_maximize);
    tcase_add_test(tc, test_momentum);
    tcase_add_test(tc, test_centered);
    tcase_add_test(tc, test_momentum_by_hand);
    tcase_add_test(tc, test_f32);
    tcase_add_test(tc, test_bf16_master);
    tcase_add_test(tc, test_bad_options);
    return tc;
}
