/* tests/optim/adam.c — Adam and AdamW against values computed here from the
 * formulas of torch.optim.AdamW (and Adam):
 *   p *= 1 - lr*wd                         (AdamW; Adam adds wd*p to g instead)
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g     (amsgrad: vmax = max(vmax, v))
 *   denom = sqrt(v)/sqrt(1 - b2^t) + eps;  p -= lr/(1 - b1^t) * m/denom */
#include <stdlib.h>

#include "optim_test.h"

/* Hyperparameters of the reference. */
typedef struct {
    double lr, b1, b2, eps, wd;
    bool decoupled, amsgrad, maximize;
} ref_adam;

/* Step t of the reference on n doubles, written from the formulas above. */
static void ref_adam_step(const ref_adam *h, int t, int n, double *p, double *m, double *v,
                          double *vmax, const double *grad) {
    for (int i = 0; i < n; i++) {
        double g = h->maximize ? -grad[i] : grad[i];
        if (h->decoupled) p[i] = p[i] * (1 - h->lr * h->wd);
        else g = g + h->wd * p[i];
        m[i] = h->b1 * m[i] + (1 - h->b1) * g;
        v[i] = h->b2 * v[i] + (1 - h->b2) * g * g;
        double vv = v[i];
        if (h->amsgrad) {
            vmax[i] = fmax(vmax[i], v[i]);
            vv = vmax[i];
        }
        double denom = sqrt(vv) / sqrt(1 - pow(h->b2, t)) + h->eps;
        p[i] = p[i] - h->lr / (1 - pow(h->b1, t)) * m[i] / denom;
    }
}

static const double P0[2] = {0.5, -1.5};
/* A fixed gradient sequence for three steps. */
static const double GSEQ[3][2] = {{0.1, -0.2}, {-0.3, 0.05}, {0.2, 0.4}};

/* Runs three steps of an optimizer made by mk over a two-element f64
 * parameter (gradients GSEQ) and compares p, m, v (and vmax) with the
 * reference after every step, to 1e-15 relative. */
static void three_steps(ag_optim *(*mk)(ag_arena *, ag_tensor *, const ag_adam_opts *),
                        const ag_adam_opts *opts, const ref_adam *h) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_optim *o = mk(P, p, opts);
    ck_assert_ptr_nonnull(o);
    double rp[2] = {P0[0], P0[1]}, rm[2] = {0, 0}, rv[2] = {0, 0}, rx[2] = {0, 0};
    for (int t = 1; t <= 3; t++) {
        set_grad(p, GSEQ[t - 1]);
        ck_assert(ag_optim_step(o));
        ref_adam_step(h, t, 2, rp, rm, rv, rx, GSEQ[t - 1]);
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert_int_eq(st->step, t);
        ck_assert_int_eq(o->steps, t);
        for (int i = 0; i < 2; i++) {
            ck_rel(ag_get_flat(p, i), rp[i], 1e-15);
            ck_rel(state_at(st, "exp_avg", i), rm[i], 1e-15);
            ck_rel(state_at(st, "exp_avg_sq", i), rv[i], 1e-15);
            if (h->amsgrad) ck_rel(state_at(st, "max_exp_avg_sq", i), rx[i], 1e-15);
        }
        ck_assert((ag_optim_state_buffer(st, "max_exp_avg_sq") != NULL) == h->amsgrad);
    }
    ag_arena_free(P);
}

static ag_optim *mk_adamw(ag_arena *P, ag_tensor *p, const ag_adam_opts *o) {
    return ag_adamw_new(P, ag_optim_groups_one(&(ag_optim_group){&p, 1, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT}), o);
}
static ag_optim *mk_adam(ag_arena *P, ag_tensor *p, const ag_adam_opts *o) {
    return ag_adam_new(P, ag_optim_groups_one(&(ag_optim_group){&p, 1, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT}), o);
}

START_TEST(test_defaults) {
    ag_adam_opts w = ag_adamw_defaults(), a = ag_adam_defaults();
    ck_assert(w.lr == 1e-3 && w.beta1 == 0.9 && w.beta2 == 0.999 && w.eps == 1e-8);
    ck_assert(w.weight_decay == 1e-2 && !w.amsgrad && !w.maximize);
    ck_assert(a.lr == 1e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
    ck_assert(a.weight_decay == 0 && !a.amsgrad && !a.maximize);
    /* NULL options are the defaults: the resolved group has them */
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_optim *o = mk_adamw(P, p, NULL);
    ck_assert_str_eq(o->name, "AdamW");
    ck_assert(o->type == &ag_adamw_type);
    ck_assert(o->groups[0].lr == 1e-3 && o->groups[0].weight_decay == 1e-2);
    const ag_adam_opts *got = o->opts;
    ck_assert(got->beta2 == 0.999 && got->eps == 1e-8);
    ag_arena_free(P);
}
END_TEST

/* AdamW with PyTorch's defaults (lr raised to make the decay visible). */
START_TEST(test_adamw_three_steps) {
    ag_adam_opts o = ag_adamw_defaults();
    o.lr = 0.01;
    o.weight_decay = 0.1;
    three_steps(mk_adamw, &o, &(ref_adam){0.01, 0.9, 0.999, 1e-8, 0.1, true, false, false});
    /* eps large enough to matter, other betas */
    o.eps = 0.05;
    o.beta1 = 0.8;
    o.beta2 = 0.9;
    three_steps(mk_adamw, &o, &(ref_adam){0.01, 0.8, 0.9, 0.05, 0.1, true, false, false});
}
END_TEST

/* Step 1 in closed form: m/(1-b1) = g and v/(1-b2) = g^2, so
 * p1 = p0*(1 - lr*wd) - lr * g / (|g| + eps) (up to rounding). */
START_TEST(test_adamw_first_step_closed_form) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_adam_opts a = ag_adamw_defaults();
    a.lr = 0.01;
    a.weight_decay = 0.1;
    a.eps = 0.05;
    ag_optim *o = mk_adamw(P, p, &a);
    set_grad(p, GSEQ[0]);
    ag_optim_step(o);
    for (int i = 0; i < 2; i++) {
        double g = GSEQ[0][i];
        ck_rel(ag_get_flat(p, i), P0[i] * (1 - 0.001) - 0.01 * g / (fabs(g) + 0.05), 1e-13);
    }
    ag_arena_free(P);
}
END_TEST

START_TEST(test_adam_three_steps) {
    ag_adam_opts o = ag_adam_defaults();
    o.lr = 0.01;
    o.weight_decay = 0.1; /* L2: g + wd*p */
    three_steps(mk_adam, &o, &(ref_adam){0.01, 0.9, 0.999, 1e-8, 0.1, false, false, false});
    o.weight_decay = 0;
    three_steps(mk_adam, &o, &(ref_adam){0.01, 0.9, 0.999, 1e-8, 0, false, false, false});
}
END_TEST

/* Gradients that shrink, so v falls below its running maximum and amsgrad
 * divides by the maximum. */
START_TEST(test_amsgrad) {
    static const double G[3][2] = {{1.0, -2.0}, {0.001, 0.002}, {-0.001, 0.0001}};
    for (int kind = 0; kind < 2; kind++) {
        ag_arena *P = ag_arena_new(0);
        ag_tensor *p = param_of(P, AG_F64, 2, P0), *q = param_of(P, AG_F64, 2, P0);
        ag_adam_opts a = kind ? ag_adam_defaults() : ag_adamw_defaults();
        a.lr = 0.01;
        a.weight_decay = 0.001;
        ag_adam_opts plain = a;
        a.amsgrad = true;
        ag_optim *o = (kind ? mk_adam : mk_adamw)(P, p, &a);
        ag_optim *o2 = (kind ? mk_adam : mk_adamw)(P, q, &plain);
        ref_adam h = {0.01, 0.9, 0.999, 1e-8, 0.001, !kind, true, false};
        double rp[2] = {P0[0], P0[1]}, rm[2] = {0}, rv[2] = {0}, rx[2] = {0};
        for (int t = 1; t <= 3; t++) {
            set_grad(p, G[t - 1]);
            set_grad(q, G[t - 1]);
            ag_optim_step(o);
            ag_optim_step(o2);
            ref_adam_step(&h, t, 2, rp, rm, rv, rx, G[t - 1]);
            const ag_optim_state *st = ag_optim_state_of(o, p);
            for (int i = 0; i < 2; i++) {
                ck_rel(ag_get_flat(p, i), rp[i], 1e-15);
                ck_rel(state_at(st, "exp_avg_sq", i), rv[i], 1e-15);
                ck_rel(state_at(st, "max_exp_avg_sq", i), rx[i], 1e-15);
            }
        }
        /* the maximum is the first step's v, and it changed the result */
        const ag_optim_state *st = ag_optim_state_of(o, p);
        for (int i = 0; i < 2; i++) {
            double v1 = (1 - 0.999) * pow(G[0][i] + (kind ? 0.001 * P0[i] : 0), 2);
            ck_rel(state_at(st, "max_exp_avg_sq", i), v1, 1e-15);
            ck_assert(state_at(st, "exp_avg_sq", i) < v1);
            ck_assert(fabs(ag_get_flat(p, i) - ag_get_flat(q, i)) > 1e-7);
        }
        ag_arena_free(P);
    }
}
END_TEST

START_TEST(test_maximize) {
    ag_adam_opts a = ag_adamw_defaults();
    a.lr = 0.01;
    a.weight_decay = 0.1;
    a.maximize = true;
    three_steps(mk_adamw, &a, &(ref_adam){0.01, 0.9, 0.999, 1e-8, 0.1, true, false, true});
    a.amsgrad = true;
    three_steps(mk_adamw, &a, &(ref_adam){0.01, 0.9, 0.999, 1e-8, 0.1, true, true, true});
    ag_adam_opts b = ag_adam_defaults();
    b.lr = 0.01;
    b.weight_decay = 0.1; /* Adam: g = -grad + wd*p */
    b.maximize = true;
    three_steps(mk_adam, &b, &(ref_adam){0.01, 0.9, 0.999, 1e-8, 0.1, false, false, true});
    /* maximizing climbs: one step on f = p (grad 1) increases p */
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){0.0});
    a.weight_decay = 0;
    ag_optim *o = mk_adamw(P, p, &a);
    set_grad(p, (double[]){1.0});
    ag_optim_step(o);
    ck_assert(ag_get_flat(p, 0) > 0.009);
    ag_arena_free(P);
}
END_TEST

/* AdamW(wd) is Adam(wd = 0) run on a parameter first multiplied by
 * (1 - lr*wd): the two agree bit for bit. Adam(wd) (L2) is different. */
START_TEST(test_adamw_vs_adam_decoupling) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *pw = param_of(P, AG_F64, 2, P0), *pa = param_of(P, AG_F64, 2, P0);
    ag_tensor *pl2 = param_of(P, AG_F64, 2, P0);
    ag_adam_opts w = ag_adamw_defaults();
    w.lr = 0.01;
    w.weight_decay = 0.1;
    ag_adam_opts a0 = ag_adam_defaults(), al2 = ag_adam_defaults();
    a0.lr = al2.lr = 0.01;
    al2.weight_decay = 0.1;
    ag_optim *ow = mk_adamw(P, pw, &w), *oa = mk_adam(P, pa, &a0), *ol2 = mk_adam(P, pl2, &al2);
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < 2; i++) ((double *)pa->data)[i] *= 1 - 0.01 * 0.1;
        set_grad(pw, GSEQ[t - 1]);
        set_grad(pa, GSEQ[t - 1]);
        set_grad(pl2, GSEQ[t - 1]);
        ag_optim_step(ow);
        ag_optim_step(oa);
        ag_optim_step(ol2);
        for (int i = 0; i < 2; i++) {
            ck_assert_msg(ag_get_flat(pw, i) == ag_get_flat(pa, i), "step %d [%d]: %.17g vs %.17g",
                          t, i, ag_get_flat(pw, i), ag_get_flat(pa, i));
            ck_assert(fabs(ag_get_flat(pw, i) - ag_get_flat(pl2, i)) > 1e-7);
        }
    }
    ag_arena_free(P);
}
END_TEST

/* f32 parameters are updated in f32: compare with the formulas evaluated in
 * float (constants rounded to float, as the kernel uses them). */
START_TEST(test_adamw_f32) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F32, 2, P0);
    ag_adam_opts a = ag_adamw_defaults();
    a.lr = 0.01;
    a.weight_decay = 0.1;
    ag_optim *o = mk_adamw(P, p, &a);
    float rp[2] = {(float)P0[0], (float)P0[1]}, rm[2] = {0}, rv[2] = {0};
    for (int t = 1; t <= 3; t++) {
        double g64[2] = {GSEQ[t - 1][0], GSEQ[t - 1][1]};
        set_grad(p, g64);
        ag_optim_step(o);
        for (int i = 0; i < 2; i++) {
            float g = (float)g64[i];
            rp[i] = rp[i] * (float)(1 - 0.01 * 0.1);
            rm[i] = 0.9f * rm[i] + (float)(1 - 0.9) * g;
            rv[i] = 0.999f * rv[i] + (float)(1 - 0.999) * g * g;
            float denom = sqrtf(rv[i]) / (float)sqrt(1 - pow(0.999, t)) + 1e-8f;
            rp[i] = rp[i] - (float)(0.01 / (1 - pow(0.9, t))) * rm[i] / denom;
            ck_rel(ag_get_flat(p, i), rp[i], 2e-7);
        }
    }
    const ag_optim_state *st = ag_optim_state_of(o, p);
    ck_assert(ag_optim_state_buffer(st, "exp_avg")->dtype == AG_F32);
    ck_assert(ag_optim_state_buffer(st, "exp_avg_sq")->dtype == AG_F32);
    ck_assert_ptr_null(st->master);
    ag_arena_free(P);
}
END_TEST

/* Big tensors take the blocked, threaded path: every element, including the
 * last partial block, matches the reference. */
START_TEST(test_adamw_large_f64) {
    const int n = 100003;
    ag_arena *P = ag_arena_new(0);
    double *p0 = malloc(n * sizeof *p0), *g = malloc(n * sizeof *g);
    double *rp = malloc(n * sizeof *rp), *rm = calloc(n, sizeof *rm), *rv = calloc(n, sizeof *rv);
    double *rx = calloc(n, sizeof *rx);
    for (int i = 0; i < n; i++) rp[i] = p0[i] = sin(0.001 * i);
    ag_tensor *p = param_of(P, AG_F64, n, p0);
    ag_adam_opts a = ag_adamw_defaults();
    a.amsgrad = true;
    ag_optim *o = mk_adamw(P, p, &a);
    ref_adam h = {1e-3, 0.9, 0.999, 1e-8, 1e-2, true, true, false};
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < n; i++) g[i] = cos(0.37 * i + t) / t;
        set_grad(p, g);
        ag_optim_step(o);
        ref_adam_step(&h, t, n, rp, rm, rv, rx, g);
    }
    const double *got = p->data;
    for (int i = 0; i < n; i++) ck_rel(got[i], rp[i], 1e-15);
    free(p0), free(g), free(rp), free(rm), free(rv), free(rx);
    ag_arena_free(P);
}
END_TEST

/* bf16 parameters: an f32 master copy takes the updates; the parameter is
 * the master rounded to bf16. Steps of 1e-3 at 1.5 are below bf16's
 * half-spacing there (2^-8), so without the master the parameter would
 * never move. */
START_TEST(test_adamw_bf16_master) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_BF16, 2, (double[]){1.5, -2.0});
    ag_adam_opts a = ag_adamw_defaults();
    a.weight_decay = 0;
    ag_optim *o = mk_adamw(P, p, &a);
    float master[2] = {1.5f, -2.0f};
    for (int t = 1; t <= 6; t++) {
        set_grad(p, (double[]){0.5, -0.25}); /* exact in bf16 */
        ag_optim_step(o);
        for (int i = 0; i < 2; i++) master[i] -= 1e-3f; /* |update| = lr * (1 - tiny) */
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert_ptr_nonnull(st->master);
        ck_assert(st->master->dtype == AG_F32);
        ck_assert(ag_optim_state_buffer(st, "exp_avg")->dtype == AG_F32);
        for (int i = 0; i < 2; i++) {
            float mi = ((float *)st->master->data)[i];
            ck_close(mi, i == 0 ? master[0] : -2.0 + 1e-3 * t, 1e-5);
            ck_assert_int_eq(((uint16_t *)p->data)[i], ag_f32_to_bf16(mi));
        }
        if (t <= 3) ck_assert(ag_get_flat(p, 0) == 1.5); /* 1.5 - 0.003 rounds to 1.5 */
    }
    ck_assert(ag_get_flat(p, 0) == 1.5 - 0.0078125); /* 1.5 - 0.006 rounds to 1.5 - 2^-7 */
    ag_arena_free(P);
}
END_TEST

/* NaN and inf gradients (ag/optim.h): element by element, with the AdamW
 * defaults (lr 1e-3, wd 1e-2, betas 0.9 / 0.999, eps 1e-8). Entry 0 (NaN)
 * and entry 1 (inf: m = 0.1 inf, v = 0.001 inf, m / denom = inf / inf) turn
 * NaN and stay NaN; entry 2 (g = 2) is as without them: p = 1 - 1e-5, m =
 * 0.2, v = 0.004, denom = sqrt(0.004 / 0.001) + 1e-8, p -= 1e-3 / 0.1 *
 * 0.2 / denom. */
START_TEST(test_adamw_nonfinite_grads) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 3, (double[]){1, 1, 1});
    ag_optim *o = ag_adamw_new(P, ag_optim_groups_one(&(ag_optim_group){(ag_tensor *[]){p}, 1, NAN, NAN}), NULL);
    set_grad(p, (double[]){NAN, INFINITY, 2});
    ck_assert(ag_optim_step(o));
    ck_assert(isnan(ag_get_flat(p, 0)) && isnan(ag_get_flat(p, 1)));
    ck_close(ag_get_flat(p, 2), (1 - 1e-5) - 1e-3 / 0.1 * 0.2 / (2 + 1e-8), 1e-15);
    const ag_optim_state *st = ag_optim_state_of(o, p);
    ck_assert(isnan(state_at(st, "exp_avg", 0)) && state_at(st, "exp_avg", 1) == INFINITY);
    ck_assert(state_at(st, "exp_avg_sq", 1) == INFINITY);
    set_grad(p, (double[]){1, 1, 1});
    ck_assert(ag_optim_step(o));
    ck_assert(isnan(ag_get_flat(p, 0)) && isnan(ag_get_flat(p, 1)));
    ck_assert(isfinite(ag_get_flat(p, 2)));
    ag_arena_free(P);
}
END_TEST

/* A parameter without a gradient is skipped (no state, step count 0), as
 * PyTorch skips grad None; the state of the others is made on first use. */
START_TEST(test_skip_and_lazy_state) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0), *q = param_of(P, AG_F64, 2, P0);
    ag_optim *o = ag_adamw_new(P, ag_optim_groups_one(&(ag_optim_group){(ag_tensor *[]){p, q}, 2, NAN, NAN}), NULL);
    ck_assert_ptr_null(ag_optim_state_buffer(ag_optim_state_of(o, p), "exp_avg"));
    set_grad(p, GSEQ[0]);
    ck_assert(ag_optim_step(o));
    const ag_optim_state *sp = ag_optim_state_of(o, p), *sq = ag_optim_state_of(o, q);
    ck_assert_ptr_nonnull(ag_optim_state_buffer(sp, "exp_avg"));
    ck_assert_int_eq(sp->step, 1);
    ck_assert_ptr_null(ag_optim_state_buffer(sq, "exp_avg"));
    ck_assert_ptr_null(ag_optim_state_buffer(sq, "exp_avg_sq"));
    ck_assert_int_eq(sq->step, 0);
    ck_assert(ag_get_flat(q, 0) == P0[0] && ag_get_flat(q, 1) == P0[1]);
    /* q joins later: its own step count starts at 1 (bias correction t = 1) */
    set_grad(q, GSEQ[0]);
    ag_optim_step(o);
    ck_assert_int_eq(sp->step, 2);
    ck_assert_int_eq(sq->step, 1);
    ck_assert_int_eq(o->steps, 2);
    double rp[2] = {P0[0], P0[1]}, rm[2] = {0}, rv[2] = {0};
    ref_adam_step(&(ref_adam){1e-3, 0.9, 0.999, 1e-8, 1e-2, true, false, false}, 1, 2, rp, rm, rv,
                  NULL, GSEQ[0]);
    for (int i = 0; i < 2; i++) ck_rel(ag_get_flat(q, i), rp[i], 1e-15);
    ck_assert_ptr_null(ag_optim_state_of(o, param_of(P, AG_F64, 2, P0)));
    ag_arena_free(P);
}
END_TEST

/* The optimizer with the engine: one step on f = sum((p - c)^2) built from
 * ops; the gradient 2(p - c) comes from backward, and the step records no
 * graph. */
START_TEST(test_with_backward) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, P0);
    ag_tensor *c = ag_from_f64(P, AG_F64, AG_SHAPE(2), (double[]){1.0, 2.0});
    ag_adam_opts a = ag_adam_defaults();
    a.lr = 0.1;
    ag_optim *o = mk_adam(P, p, &a);
    double rp[2] = {P0[0], P0[1]}, rm[2] = {0}, rv[2] = {0};
    for (int t = 1; t <= 3; t++) {
        ag_arena_reset(A);
        ag_tensor *f = ag_sum(A, ag_square(A, ag_sub(A, p, c)), 0, NULL, false);
        double g[2] = {2 * (rp[0] - 1.0), 2 * (rp[1] - 2.0)};
        ag_backward(f, NULL);
        ck_assert(ag_optim_step(o));
        ag_optim_zero_grad(o);
        ck_assert(ag_get_flat(p->grad, 0) == 0 && ag_get_flat(p->grad, 1) == 0);
        ref_adam_step(&(ref_adam){0.1, 0.9, 0.999, 1e-8, 0, false, false, false}, t, 2, rp, rm, rv,
                      NULL, g);
        for (int i = 0; i < 2; i++) ck_rel(ag_get_flat(p, i), rp[i], 1e-15);
        ck_assert(ag_is_leaf(p));
    }
    ag_arena_free(A);
    ag_arena_free(P);
}
END_TEST

TCase *optim_adam_tcase(void) {
    TCase *tc = tcase_create("adam");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_adamw_three_steps);
    tcase_add_test(tc, test_adamw_first_step_closed_form);
    tcase_add_test(tc, test_adam_three_steps);
    tcase_add_test(tc, test_amsgrad);
    tcase_add_test(tc, test_maximize);
    tcase_add_test(tc, test_adamw_vs_adam_decoupling);
    tcase_add_test(tc, test_adamw_f32);
    tcase_add_test(tc, test_adamw_large_f64);
    tcase_add_test(tc, test_adamw_bf16_master);
    tcase_add_test(tc, test_skip_and_lazy_state);
    tcase_add_test(tc, test_with_backward);
    tcase_add_test(tc, test_adamw_nonfinite_grads);
    return tc;
}
