/* tests/optim/types.c — an optimizer type written outside the library, as a
 * program would (only the public API): sign descent with a momentum,
 *   m = beta*m + (1-beta)*g;  p = p*(1 - lr*wd) - lr*sign(m);  trace += |g|
 * with the trace buffer only when asked for. It goes through ag_optim_new
 * and ag_optim_step like the built-in types: state made by its list of
 * names, options copied and checked, groups' lr and weight decay passed
 * in, bf16 master copies. */
#include "optim_test.h"

typedef struct {
    double lr, beta;
    bool trace;
} sign_opts;

static bool sign_uses(const void *opts, const char *name) {
    return strcmp(name, "trace") != 0 || ((const sign_opts *)opts)->trace;
}

static bool sign_check(const void *opts, char *why, size_t size) {
    const sign_opts *s = opts;
    if (s->beta >= 0 && s->beta < 1) return true;
    snprintf(why, size, "invalid beta %g: expected a value in [0, 1)", s->beta);
    return false;
}

static double sign_of(double x) { return (x > 0) - (x < 0); }

/* The update by the header's contract: the master copy (if any) is what
 * moves, and the parameter is written back rounded. */
static void sign_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const sign_opts *s = o->opts;
    ag_tensor *w = st->master ? st->master : st->param;
    ag_tensor *m = ag_optim_state_buffer(st, "exp_avg");
    ag_tensor *trace = ag_optim_state_buffer(st, "trace");
    for (int64_t i = 0; i < w->numel; i++) {
        double g = ag_get_flat(st->param->grad, i);
        double mi = s->beta * ag_get_flat(m, i) + (1 - s->beta) * g;
        ag_set_flat(m, i, mi);
        ag_set_flat(w, i, ag_get_flat(w, i) * (1 - lr * weight_decay) - lr * sign_of(mi));
        if (trace) ag_set_flat(trace, i, ag_get_flat(trace, i) + fabs(g));
        if (st->master) ag_set_flat(st->param, i, ag_get_flat(st->master, i));
    }
}

static const ag_optim_type SIGN = {
    .name = "SignMomentum",
    .buffers = {"exp_avg", "trace"},
    .uses_buffer = sign_uses,
    .opts_size = sizeof(sign_opts),
    .check = sign_check,
    .update = sign_update,
};

static const double P0[2] = {0.5, -1.5};
static const double GSEQ[3][2] = {{0.1, -0.2}, {-0.3, 0.05}, {0.2, 0.4}};

/* Three steps in f64 with lr 0.25 and beta 0.5 (m and p are exact in
 * binary): by hand, with m0 = 0,
 *   m1 = ( 0.05, -0.1),   p1 = (0.25, -1.25)
 *   m2 = (-0.125, -0.025), p2 = (0.5, -1.0)
 *   m3 = (0.0375, 0.1875), p3 = (0.25, -1.25);  trace = (0.6, 0.65). */
START_TEST(test_custom_type) {
    static const double WANT_P[3][2] = {{0.25, -1.25}, {0.5, -1.0}, {0.25, -1.25}};
    static const double WANT_M[3][2] = {{0.05, -0.1}, {-0.125, -0.025}, {0.0375, 0.1875}};
    for (int with_trace = 0; with_trace < 2; with_trace++) {
        ag_arena *P = ag_arena_new(0);
        ag_tensor *p = param_of(P, AG_F64, 2, P0);
        sign_opts so = {0.25, 0.5, with_trace};
        ag_optim_group g = ag_optim_group_of(&p, 1);
        ag_optim *o = ag_optim_new(P, &SIGN, &so, ag_optim_groups_one(&g), so.lr, 0.0);
        ck_assert_ptr_nonnull(o);
        so.beta = 0.99; /* the optimizer has its own copy */
        ck_assert(o->type == &SIGN);
        ck_assert_str_eq(o->name, "SignMomentum");
        ck_assert(((const sign_opts *)o->opts)->beta == 0.5);
        ck_assert(o->groups[0].lr == 0.25);
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert_int_eq(st->nbuffers, with_trace ? 2 : 1);
        ck_assert_str_eq(st->buffers[0].name, "exp_avg");
        ck_assert_ptr_null(ag_optim_state_buffer(st, "exp_avg")); /* made on the first step */
        for (int t = 0; t < 3; t++) {
            set_grad(p, GSEQ[t]);
            ck_assert(ag_optim_step(o));
            for (int i = 0; i < 2; i++) {
                ck_rel(ag_get_flat(p, i), WANT_P[t][i], 1e-15);
                ck_rel(state_at(st, "exp_avg", i), WANT_M[t][i], 1e-15);
            }
        }
        if (with_trace) {
            ck_rel(state_at(st, "trace", 0), 0.6, 1e-15);
            ck_rel(state_at(st, "trace", 1), 0.65, 1e-15);
        } else {
            ck_assert_ptr_null(ag_optim_state_buffer(st, "trace"));
        }
        ck_assert_ptr_null(ag_optim_state_buffer(st, "exp_avg_sq"));
        ag_arena_free(P);
    }
}
END_TEST

/* The update gets its group's lr and weight decay: group 0 inherits
 * (lr 0.25, wd 0), group 1 has its own (lr 0.5, wd 0.5). One step with
 * gradient 1: p = 1 - 0.25 = 0.75 and p = 1*(1 - 0.25) - 0.5 = 0.25. */
START_TEST(test_group_lr_and_decay) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_tensor *b = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_optim_group groups[2] = {ag_optim_group_of(&a, 1), {&b, 1, 0.5, 0.5}};
    sign_opts so = {0.25, 0.0, false};
    ag_optim *o = ag_optim_new(P, &SIGN, &so, AG_OPTIM_GROUPS(groups), so.lr, 0.0);
    set_grad(a, (double[]){1.0});
    set_grad(b, (double[]){1.0});
    ag_optim_step(o);
    ck_assert(ag_get_flat(a, 0) == 0.75);
    ck_assert(ag_get_flat(b, 0) == 0.25);
    ag_arena_free(P);
}
END_TEST

/* bf16: the type updates the f32 master the core made; the parameter is
 * the master rounded. Steps of 2^-10 at 1.5, where bf16's spacing is 2^-7:
 * after 4 steps the master is halfway and rounds to the even neighbour,
 * 1.5; after 5 it rounds to 1.5 - 2^-7. */
START_TEST(test_bf16_master) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_BF16, 1, (double[]){1.5});
    sign_opts so = {0.0009765625, 0.0, false};
    ag_optim_group g = ag_optim_group_of(&p, 1);
    ag_optim *o = ag_optim_new(P, &SIGN, &so, ag_optim_groups_one(&g), so.lr, 0.0);
    for (int t = 1; t <= 5; t++) {
        set_grad(p, (double[]){1.0});
        ag_optim_step(o);
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert(ag_get_flat(st->master, 0) == 1.5 - 0.0009765625 * t);
        ck_assert(ag_optim_state_buffer(st, "exp_avg")->dtype == AG_F32);
        ck_assert(ag_get_flat(p, 0) == (t <= 4 ? 1.5 : 1.5 - 0.0078125));
    }
    ag_arena_free(P);
}
END_TEST

START_TEST(test_bad_types) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_optim_group g = ag_optim_group_of(&p, 1);
    sign_opts bad = {0.1, 1.5, false};
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, &SIGN, &bad, ag_optim_groups_one(&g), bad.lr, 0.0));
    check_error("optim_new", "invalid beta 1.5", "[0, 1)");
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, &SIGN, NULL, ag_optim_groups_one(&g), 0.1, 0.0));
    check_error("optim_new", "SignMomentum: options are NULL", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, NULL, NULL, ag_optim_groups_one(&g), 0.1, 0.0));
    check_error("optim_new", "type is NULL", NULL);
    static const ag_optim_type NO_UPDATE = {.name = "Idle"};
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, &NO_UPDATE, NULL, ag_optim_groups_one(&g), 0.1, 0.0));
    check_error("optim_new", "Idle has no update function", NULL);
    static const ag_optim_type NO_NAME = {.update = sign_update};
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, &NO_NAME, NULL, ag_optim_groups_one(&g), 0.1, 0.0));
    check_error("optim_new", "(unnamed) has no name", NULL);
    sign_opts ok = {0.1, 0.5, false};
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, &SIGN, &ok, ag_optim_groups_one(&g), -0.1, 0.0)); /* the inherited lr */
    check_error("optim_new", "learning rate (group 0) -0.1", NULL);
    ag_arena_free(P);
}
END_TEST

TCase *optim_types_tcase(void) {
    TCase *tc = tcase_create("types");
    tcase_add_test(tc, test_custom_type);
    tcase_add_test(tc, test_group_lr_and_decay);
    tcase_add_test(tc, test_bf16_master);
    tcase_add_test(tc, test_bad_types);
    return tc;
}
