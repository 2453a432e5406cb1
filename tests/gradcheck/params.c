/* tests/gradcheck/params.c — ag_gradcheck_params and ag_gradcheck_module:
 * they pass a correct model, fail a wrong gradient naming the parameter,
 * leave values and gradients as they were, sample the same coordinates for
 * the same seed, use the stencil asked for, and refuse bad arguments. */
#include <stdlib.h>

#include "gradcheck_test.h"
#include "internal.h" /* ag__record, ag__grad_buf: to build a deliberately broken op */

/* ---- an identity whose backward is 1% too large ------------------------------ */

static void scaled_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (!gx) return;
    const double *g = out->grad->data;
    double *d = gx->data;
    for (int64_t i = 0; i < x->numel; i++) d[i] += 1.01 * g[i];
}

static const ag_op SCALED = {"test_scaled_identity", scaled_backward, NULL};

static ag_tensor *scaled_identity(ag_arena *A, ag_tensor *x) {
    ag_tensor *y = ag_empty(A, AG_F64, x->ndim, x->shape);
    memcpy(y->data, x->data, (size_t)x->numel * sizeof(double));
    ag__record(y, &SCALED, 1, &x);
    return y;
}

/* ---- the model: Linear(4 -> 3) then LayerNorm(3), MSE against a target -------- */

#define MAX_LOG 256

typedef struct {
    ag_module_list *net;
    ag_nn_linear *lin;
    ag_nn_layernorm *ln;
    ag_tensor *x, *target;
    bool broken; /* the scaled identity between the two layers */
    /* every evaluation with recording off: which coordinate differs from
     * the values in `orig`, and by how much */
    int nlog;
    int log_param[MAX_LOG];
    int64_t log_index[MAX_LOG];
    double log_delta[MAX_LOG];
    double *orig[4];
} model;

static ag_tensor *param(model *m, int i) {
    ag_tensor *const p[4] = {m->lin->weight, m->lin->bias, m->ln->weight, m->ln->bias};
    return p[i];
}

static ag_tensor *model_loss(ag_arena *A, void *u) {
    model *m = u;
    ag_tensor *h = ag_nn_linear_forward(A, m->lin, m->x);
    if (m->broken) h = scaled_identity(A, h);
    return ag_mse_loss(A, ag_nn_layernorm_forward(A, m->ln, h), m->target);
}

/* model_loss, logging which coordinate the check moved (recording off). */
static ag_tensor *logging_loss(ag_arena *A, void *u) {
    model *m = u;
    if (!ag_grad_enabled() && m->nlog < MAX_LOG) {
        int moved = 0;
        for (int i = 0; i < 4; i++)
            for (int64_t j = 0; j < param(m, i)->numel; j++) {
                const double d = ((double *)param(m, i)->data)[j] - m->orig[i][j];
                if (d == 0) continue;
                moved++;
                m->log_param[m->nlog] = i;
                m->log_index[m->nlog] = j;
                m->log_delta[m->nlog] = d;
            }
        ck_assert_int_eq(moved, 1); /* one coordinate at a time */
        m->nlog++;
    }
    return model_loss(A, u);
}

static model *model_new(ag_arena *P, uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    model *m = ag_arena_alloc(P, sizeof *m);
    memset(m, 0, sizeof *m);
    m->net = ag_module_list_new(P);
    m->lin = ag_nn_linear_new(P, &r, 4, 3, true);
    m->ln = ag_nn_layernorm_new(P, AG_SHAPE(3), 1e-5, true, true);
    ck_assert(ag_module_list_append(m->net, &m->lin->base));
    ck_assert(ag_module_list_append(m->net, &m->ln->base));
    ck_assert(ag_module_cast(&m->net->base, AG_F64));
    /* off LayerNorm's ones and zeros, which would hide a wrong dweight */
    ck_assert(ag_init_normal(m->ln->weight, &r, 1.0, 0.3));
    ck_assert(ag_init_normal(m->ln->bias, &r, 0.0, 0.3));
    m->x = ag_randn(P, &r, AG_F64, AG_SHAPE(5, 4), 0.0, 1.0);
    m->target = ag_randn(P, &r, AG_F64, AG_SHAPE(5, 3), 0.0, 1.0);
    for (int i = 0; i < 4; i++) {
        m->orig[i] = ag_arena_alloc(P, (size_t)param(m, i)->numel * sizeof(double));
        ag_to_f64(param(m, i), m->orig[i]);
    }
    return m;
}

/* The loss at the model's values, recording off. */
static double loss_now(model *m) {
    ag_arena *A = ag_arena_new(0);
    bool was = ag_set_grad_enabled(false);
    double v = ag_item(model_loss(A, m));
    ag_set_grad_enabled(was);
    ag_arena_free(A);
    return v;
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(passes_a_correct_model_and_names_every_parameter) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, 1);
    ag_gradcheck_params_result r;
    ck_assert(ag_gradcheck_module(&m->net->base, model_loss, m, NULL, &r));
    ck_assert(r.pass);
    ck_assert_str_eq(r.message, "");
    ck_assert_int_eq(r.nparams, 4);
    const char *names[4] = {"0.weight", "0.bias", "1.weight", "1.bias"};
    const int64_t numel[4] = {12, 3, 3, 3};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(r.param[i].name, names[i]);
        ck_assert(r.param[i].pass);
        ck_assert_int_eq(r.param[i].checked, numel[i]); /* small: every coordinate */
    }
    ck_assert_int_eq(r.n_checked, 21);
    ck_close(r.loss, loss_now(m), 0);
    ck_assert_double_le(r.max_err_over_tol, 1.0);

    /* the weight's worst coordinate, redone by hand: the analytic value is
     * what backward gives, the numeric one a central difference at 1e-6 */
    const ag_gradcheck_param_report *w = &r.param[0];
    ck_assert_int_eq(w->index, w->coord[0] * 4 + w->coord[1]);
    double *wv = m->lin->weight->data, x0 = wv[w->index];
    wv[w->index] = x0 + 1e-6;
    double lp = loss_now(m);
    wv[w->index] = x0 - 1e-6;
    double lm = loss_now(m);
    wv[w->index] = x0;
    ck_close(w->numeric, (lp - lm) / 2e-6, 1e-12);
    ag_arena *A = ag_arena_new(0);
    ck_assert(ag_backward(model_loss(A, m), NULL));
    ck_close(w->analytic, ag_get_flat(m->lin->weight->grad, w->index), 1e-15);
    ag_arena_free(A);
    ag_gradcheck_params_free(&r);
    ck_assert_ptr_null(r.param);
    ag_arena_free(P);
}
END_TEST

START_TEST(fails_a_wrong_gradient_naming_the_parameter) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, 2);
    m->broken = true; /* Linear's weight and bias get 1.01 times their gradient */
    ag_gradcheck_params_result r;
    ck_assert(!ag_gradcheck_module(&m->net->base, model_loss, m, NULL, &r));
    ck_assert(!r.pass);
    ck_assert(!r.param[0].pass && !r.param[1].pass);
    ck_assert(r.param[2].pass && r.param[3].pass); /* the norm's own are right */
    ck_assert_double_gt(r.max_err_over_tol, 1.0);
    /* analytic / numeric is the op's 1.01 at the worst coordinate */
    ck_close(r.param[0].analytic / r.param[0].numeric, 1.01, 1e-5);
    ck_assert_msg(strncmp(r.message, "0.weight [3,4] element [", 24) == 0, "%s", r.message);
    ck_assert_ptr_nonnull(strstr(r.message, "(2 of 4 parameters fail)"));

    /* the table: one line per parameter, the failing ones marked */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ag_gradcheck_params_print(f, &r);
    fclose(f);
    const char *l0 = strstr(text, "0.weight"), *l2 = strstr(text, "1.weight");
    ck_assert_ptr_nonnull(l0);
    ck_assert_ptr_nonnull(l2);
    ck_assert_ptr_nonnull(strstr(l0, "FAIL"));
    ck_assert_msg(strstr(l0, "FAIL") < strstr(l0, "\n"), "%s", text);
    ck_assert_ptr_null(strstr(l2, "FAIL")); /* 1.weight and 1.bias pass */
    free(text);
    ag_gradcheck_params_free(&r);
    ag_arena_free(P);
}
END_TEST

/* Asserts the parameters' bytes equal the snapshot and their gradients are
 * where they were: 0.weight's buffer holding 7s, the others NULL. */
static void assert_untouched(model *m, ag_tensor *wgrad) {
    for (int i = 0; i < 4; i++)
        ck_assert_msg(memcmp(param(m, i)->data, m->orig[i],
                             (size_t)param(m, i)->numel * sizeof(double)) == 0,
                      "parameter %d's values changed", i);
    ck_assert_ptr_eq(m->lin->weight->grad, wgrad);
    for (int64_t j = 0; j < wgrad->numel; j++) ck_close(ag_get_flat(wgrad, j), 7.0, 0);
    for (int i = 1; i < 4; i++) ck_assert_ptr_null(param(m, i)->grad);
}

START_TEST(restores_values_and_gradients_bitwise) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, 3);
    ag_tensor *wgrad = ag_full(P, AG_F64, AG_SHAPE(3, 4), 7.0); /* an accumulated gradient */
    m->lin->weight->grad = wgrad;
    ag_tensor *params[4] = {param(m, 0), param(m, 1), param(m, 2), param(m, 3)};
    ag_gradcheck_params_opts o = {.samples = 2, .seed = 9};
    const size_t used = ag_arena_used(P);
    ck_assert(ag_gradcheck_params(model_loss, m, 4, params, NULL, &o, NULL));
    assert_untouched(m, wgrad);
    ck_assert_uint_eq(ag_arena_used(P), used); /* nothing left in the parameters' arena */
    m->broken = true; /* a failing check restores too */
    ck_assert(!ag_gradcheck_params(model_loss, m, 4, params, NULL, &o, NULL));
    assert_untouched(m, wgrad);
    o = (ag_gradcheck_params_opts){.fourth_order = true, .eps = 1e-3};
    ck_assert(!ag_gradcheck_params(model_loss, m, 4, params, NULL, &o, NULL));
    assert_untouched(m, wgrad);
    ag_arena_free(P);
}
END_TEST

/* The log of one check of m with opts o (the log is emptied first). */
static void run_logged(model *m, const ag_gradcheck_params_opts *o) {
    m->nlog = 0;
    ag_gradcheck_params_result r;
    ck_assert(ag_gradcheck_module(&m->net->base, logging_loss, m, o, &r));
    ag_gradcheck_params_free(&r);
}

START_TEST(samples_distinct_coordinates_the_same_for_a_seed) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, 4);
    const double h = 1e-6;
    ag_gradcheck_params_opts o = {.samples = 2, .seed = 11};
    run_logged(m, &o);
    /* 4 parameters x 2 coordinates x (+h, -h), parameters in order */
    ck_assert_int_eq(m->nlog, 16);
    for (int e = 0; e < 16; e += 2) {
        ck_assert_int_eq(m->log_param[e], e / 4);
        ck_assert_int_eq(m->log_param[e + 1], e / 4);
        ck_assert_int_eq(m->log_index[e], m->log_index[e + 1]);
        ck_close(m->log_delta[e], h, 1e-15);
        ck_close(m->log_delta[e + 1], -h, 1e-15);
        ck_assert_int_lt(m->log_index[e], param(m, e / 4)->numel);
    }
    for (int p = 0; p < 4; p++) /* two distinct coordinates of each */
        ck_assert_int_ne(m->log_index[4 * p], m->log_index[4 * p + 2]);
    int64_t first[16];
    for (int e = 0; e < 16; e++) first[e] = m->log_index[e];
    run_logged(m, &o);
    ck_assert_int_eq(m->nlog, 16);
    for (int e = 0; e < 16; e++) ck_assert_int_eq(m->log_index[e], first[e]);
    o.seed = 12;
    run_logged(m, &o);
    bool differs = false;
    for (int e = 0; e < 16; e++) differs |= m->log_index[e] != first[e];
    ck_assert(differs);

    /* at least a parameter's size: all of it, each coordinate once, in order;
     * fourth order: +h, -h, +2h, -2h */
    o = (ag_gradcheck_params_opts){.samples = 3, .fourth_order = true, .eps = 1e-3};
    run_logged(m, &o);
    ck_assert_int_eq(m->nlog, 4 * (3 + 3 + 3 + 3)); /* 3 of 0.weight, all of the rest */
    const double at[4] = {1e-3, -1e-3, 2e-3, -2e-3};
    for (int e = 12; e < 48; e++) {
        ck_assert_int_eq(m->log_param[e], 1 + (e - 12) / 12);
        ck_assert_int_eq(m->log_index[e], (e - 12) / 4 % 3);
        ck_close(m->log_delta[e], at[e % 4], 1e-12);
    }
    ag_arena_free(P);
}
END_TEST

/* ---- the stencils on a cubic, where both errors are known ------------------- */

static ag_tensor *cube_sum(ag_arena *A, void *u) {
    ag_tensor *x = u;
    return ag_sum(A, ag_mul(A, x, ag_mul(A, x, x)), 0, NULL, false);
}

START_TEST(two_point_error_is_h_squared_fourth_order_is_exact_on_a_cubic) {
    /* d/dx x^3 = 3x^2; ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2, while the
     * fourth-order stencil gives 3x^2 exactly (its error is h^4 f^(5)/30) */
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){0.5, -1.5, 2.0});
    ag_set_requires_grad(x, true);
    ag_tensor *const p[1] = {x};
    const char *const name[1] = {"x"};
    const double h = 1e-2;
    ag_gradcheck_params_opts o = {.eps = h, .atol = 1e-6, .rtol = 1e-6};
    ag_gradcheck_params_result r;
    ck_assert(!ag_gradcheck_params(cube_sum, x, 1, p, name, &o, &r));
    const ag_gradcheck_param_report *w = &r.param[0];
    ck_assert_int_eq(w->checked, 3);
    const double xv = ag_get_flat(x, w->index);
    ck_close(w->analytic, 3 * xv * xv, 1e-15);
    ck_close(w->numeric, 3 * xv * xv + h * h, 1e-10);
    ck_close(w->abs_err, h * h, 1e-10);
    ck_assert_ptr_nonnull(strstr(r.message, "x [3] element ["));
    ag_gradcheck_params_free(&r);
    o.fourth_order = true;
    ck_assert(ag_gradcheck_params(cube_sum, x, 1, p, name, &o, &r));
    ck_close(r.param[0].numeric, r.param[0].analytic, 1e-10);
    ag_gradcheck_params_free(&r);
    ag_arena_free(A);
}
END_TEST

/* sum(x / sqrt(x^2 + 1e-6)): RMSNorm over one element without its weight, a
 * sign smoothed over a width of about 1e-3 around 0. */
static ag_tensor *soft_sign_sum(ag_arena *A, void *u) {
    ag_tensor *x = u;
    ag_tensor *rms = ag_sqrt(A, ag_add_scalar(A, ag_mul(A, x, x), 1e-6));
    return ag_sum(A, ag_div(A, x, rms), 0, NULL, false);
}

START_TEST(fourth_order_settles_the_step_where_the_loss_turns_within_it) {
    /* d/dx x / sqrt(x^2 + e) = e / (x^2 + e)^(3/2). With h = 1e-3 the
     * stencil at x = 2e-3 spans [0, 4e-3], across the turn, and gives about
     * 80 instead of 89.4: the step is wrong there, not the gradient. */
    ag_arena *A = ag_arena_new(0);
    const double xs[3] = {2e-3, -5e-4, 0.3};
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(3), xs);
    ag_set_requires_grad(x, true);
    ag_tensor *const p[1] = {x};
    const ag_gradcheck_params_opts o = {.eps = 1e-3, .atol = 1e-8, .rtol = 1e-4,
                                        .fourth_order = true};
    ag_gradcheck_params_result r;
    ck_assert_msg(ag_gradcheck_params(soft_sign_sum, x, 1, p, NULL, &o, &r), "%s", r.message);
    const ag_gradcheck_param_report *w = &r.param[0];
    ck_assert_int_eq(w->checked, 3);
    const double xv = xs[w->index], want = 1e-6 / pow(xv * xv + 1e-6, 1.5);
    ck_close(w->analytic, want, 1e-9 * want);
    ck_close(w->numeric, want, 1e-4 * want);
    ag_gradcheck_params_free(&r);

    /* a wrong gradient still fails with the settled estimates */
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, 2);
    m->broken = true;
    const ag_gradcheck_params_opts o4 = {.eps = 1e-3, .atol = 1e-8, .rtol = 1e-4,
                                         .fourth_order = true};
    ck_assert(!ag_gradcheck_module(&m->net->base, model_loss, m, &o4, &r));
    ck_assert(!r.param[0].pass && r.param[2].pass);
    ck_close(r.param[0].analytic / r.param[0].numeric, 1.01, 1e-5);
    ag_gradcheck_params_free(&r);
    ag_arena_free(P);
    ag_arena_free(A);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------ */

static ag_tensor *two_elements(ag_arena *A, void *u) {
    return ag_mul(A, (ag_tensor *)u, (ag_tensor *)u);
}

/* sum(x), or NULL (without a report) when recording is off. */
static ag_tensor *fails_perturbed(ag_arena *A, void *u) {
    return ag_grad_enabled() ? ag_sum(A, (ag_tensor *)u, 0, NULL, false) : NULL;
}

/* Runs a refused call: false, one report naming op, containing s and the
 * caller's file, and a result (*res) emptied, with the report as message. */
#define REFUSED(op, s, res, call)                                                  \
    do {                                                                           \
        expect_errors();                                                           \
        ck_assert(!(call));                                                        \
        ck_assert_int_eq(ag_error_count(), 1);                                     \
        ck_assert_ptr_null((res)->param);                                          \
        ck_assert_msg(strstr((res)->message, s), "message \"%s\" lacks \"%s\"",    \
                      (res)->message, s);                                          \
        ck_assert_ptr_nonnull(strstr(ag_last_error(), "params.c:"));               \
        check_error(op, s, NULL);                                                  \
    } while (0)

START_TEST(refuses_bad_arguments) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, 5);
    ag_tensor *ok[2] = {m->lin->weight, m->lin->bias};
    ag_tensor *x32 = ag_ones(P, AG_F32, AG_SHAPE(2));
    ag_set_requires_grad(x32, true);
    ag_tensor *x = ag_ones(P, AG_F64, AG_SHAPE(2));
    ag_set_requires_grad(x, true);
    ag_tensor *made = ag_mul(P, x, x), *plain = ag_ones(P, AG_F64, AG_SHAPE(2));
    const char *names[2] = {"a", "b"};
    ag_gradcheck_params_result r;
    const char *GP = "gradcheck_params";

    REFUSED(GP, "the loss function is NULL", &r,
            ag_gradcheck_params(NULL, m, 2, ok, NULL, NULL, &r));
    REFUSED(GP, "the parameter list is NULL", &r,
            ag_gradcheck_params(model_loss, m, 2, NULL, NULL, NULL, &r));
    REFUSED(GP, "0 parameters: expected at least one", &r,
            ag_gradcheck_params(model_loss, m, 0, ok, NULL, NULL, &r));
    REFUSED(GP, "parameter 1 b is NULL", &r,
            ag_gradcheck_params(model_loss, m, 2, (ag_tensor *[]){x, NULL}, names, NULL, &r));
    REFUSED(GP, "parameter 0 a [2] is f32: finite differences need f64", &r,
            ag_gradcheck_params(model_loss, m, 1, &x32, names, NULL, &r));
    REFUSED(GP, "parameter 0 [2] requires no gradient", &r,
            ag_gradcheck_params(model_loss, m, 1, &plain, NULL, NULL, &r));
    REFUSED(GP, "parameter 0 [2] is made by an op", &r,
            ag_gradcheck_params(model_loss, m, 1, &made, NULL, NULL, &r));
    REFUSED(GP, "parameters 0 and 2 are the same tensor", &r,
            ag_gradcheck_params(model_loss, m, 3, (ag_tensor *[]){x, ok[0], x}, NULL, NULL,
                                &r));
    ag_gradcheck_params_opts o = {.samples = -1};
    REFUSED(GP, "samples is -1", &r, ag_gradcheck_params(model_loss, m, 2, ok, NULL, &o, &r));
    o = (ag_gradcheck_params_opts){.atol = -1e-5};
    REFUSED(GP, "expected finite numbers >= 0", &r,
            ag_gradcheck_params(model_loss, m, 2, ok, NULL, &o, &r));
    o = (ag_gradcheck_params_opts){.eps = NAN};
    REFUSED(GP, "eps nan", &r, ag_gradcheck_params(model_loss, m, 2, ok, NULL, &o, &r));

    /* a loss with two elements: reported when the check first calls it */
    expect_errors();
    ck_assert(!ag_gradcheck_params(two_elements, x, 1, &x, NULL, NULL, &r));
    ck_assert_int_eq(ag_error_count(), 1);
    ck_assert_ptr_nonnull(strstr(r.message, "the loss failed"));
    check_error(GP, "the loss is [2] (2 elements): expected one element", NULL);
    ag_gradcheck_params_free(&r);
    ck_assert_ptr_null(x->grad); /* still none */

    /* a loss that fails once perturbed: said, naming the parameter, value put back */
    ag_gradcheck_params_opts one = {.samples = 1};
    ck_assert(!ag_gradcheck_params(fails_perturbed, x, 1, &x, names, &one, &r));
    ck_assert_str_eq(r.message, "the loss failed at a perturbed value of a");
    ck_assert(ag_get_flat(x, 0) == 1.0 && ag_get_flat(x, 1) == 1.0);
    ag_gradcheck_params_free(&r);

    /* the module wrapper: its own checks, then the core's with dotted names */
    REFUSED("gradcheck_module", "the module is NULL", &r,
            ag_gradcheck_module(NULL, model_loss, m, NULL, &r));
    REFUSED("gradcheck_module", "the loss function is NULL", &r,
            ag_gradcheck_module(&m->net->base, NULL, m, NULL, &r));
    ag_module_requires_grad(&m->net->base, false);
    REFUSED("gradcheck_module", "ModuleList has 4 parameters and none requires a gradient", &r,
            ag_gradcheck_module(&m->net->base, model_loss, m, NULL, &r));
    ag_module_requires_grad(&m->net->base, true);
    ck_assert(ag_module_cast(&m->ln->base, AG_F32));
    REFUSED(GP, "parameter 2 1.weight [3] is f32", &r,
            ag_gradcheck_module(&m->net->base, model_loss, m, NULL, &r));
    ag_arena_free(P);
}
END_TEST

TCase *gradcheck_params_tcase(void) {
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, passes_a_correct_model_and_names_every_parameter);
    tcase_add_test(tc, fails_a_wrong_gradient_naming_the_parameter);
    tcase_add_test(tc, restores_values_and_gradients_bitwise);
    tcase_add_test(tc, samples_distinct_coordinates_the_same_for_a_seed);
    tcase_add_test(tc, two_point_error_is_h_squared_fourth_order_is_exact_on_a_cubic);
    tcase_add_test(tc, fourth_order_settles_the_step_where_the_loss_turns_within_it);
    tcase_add_test(tc, refuses_bad_arguments);
    return tc;
}
