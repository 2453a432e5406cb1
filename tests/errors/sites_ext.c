/* tests/errors/sites_ext.c — the call-site rows for the extension APIs:
 * custom ops (ag/custom_op.h) and the gradient-check suite
 * (ag/gradcheck_suite.h). See sites_core.c. */
#include "errors_test.h"

static void nothing_backward(ag_tensor *out) { (void)out; }
static const ag_op NOTHING = {"nothing", nothing_backward, NULL};

static int bad_ag_op_result(site_inputs *in) {
    (void)in;
    (void)ag_op_result(NULL, "mine", AG_F32, AG_SHAPE(2)); return __LINE__;
}
static int bad_ag_op_ctx(site_inputs *in) {
    (void)ag_op_ctx(in->x); return __LINE__;
}
static int bad_ag_op_record(site_inputs *in) {
    (void)ag_op_record(in->x, &NOTHING, 1, &in->y); return __LINE__;
}
/* A tensor that requires a gradient but has no arena to hold one. */
static int bad_ag_grad_accum_buf(site_inputs *in) {
    (void)in;
    ag_tensor t = {.dtype = AG_F32, .ndim = 1, .shape = {2}, .numel = 2, .requires_grad = true};
    (void)ag_grad_accum_buf(&t); return __LINE__;
}
static int bad_ag_op_fail(site_inputs *in) {
    (void)in;
    ag_op_fail("mine", "input %d is wrong", 1); return __LINE__;
}

static int bad_ag_gc_randn(site_inputs *in) {
    (void)ag_gc_randn(A, &in->rng, AG_SHAPE(2, -1)); return __LINE__;
}
static int bad_ag_gc_uniform(site_inputs *in) {
    (void)ag_gc_uniform(A, &in->rng, 1.0, 0.0, AG_SHAPE(2)); return __LINE__;
}
static int bad_ag_gc_randn_away(site_inputs *in) {
    (void)ag_gc_randn_away(A, &in->rng, -1.0, 1, (const double[]){0}, AG_SHAPE(2)); return __LINE__;
}
static int bad_ag_gc_ids(site_inputs *in) {
    (void)ag_gc_ids(A, &in->rng, 0, AG_SHAPE(2)); return __LINE__;
}
static int bad_ag_gc_const(site_inputs *in) {
    (void)ag_gc_const(NULL, &in->rng, AG_SHAPE(2)); return __LINE__;
}
static int bad_ag_gradcheck_main(site_inputs *in) {
    (void)in;
    (void)ag_gradcheck_main(1, (char *[]){"check", NULL}, NULL, 1); return __LINE__;
}
static int bad_ag_gradcheck_suite_main(site_inputs *in) {
    (void)in;
    (void)ag_gradcheck_suite_main(NULL, 1, (char *[]){"check", NULL}); return __LINE__;
}

static int bad_ag_op_apply(site_inputs *in) {
    (void)ag_op_apply(NULL, &NOTHING, in->x, 1, &in->y); return __LINE__;
}
static int bad_ag_op_save(site_inputs *in) {
    (void)ag_op_save(in->x, 1, &in->y); return __LINE__;
}

const site_case site_cases_ext[] = {
    SITE_CASE(ag_op_result),       SITE_CASE(ag_op_ctx), SITE_CASE(ag_op_record),
    SITE_CASE(ag_grad_accum_buf),  SITE_CASE(ag_op_fail),
    SITE_CASE(ag_gc_randn),        SITE_CASE(ag_gc_uniform), SITE_CASE(ag_gc_randn_away),
    SITE_CASE(ag_gc_ids),          SITE_CASE(ag_gc_const),   SITE_CASE(ag_gradcheck_main),
    SITE_CASE(ag_gradcheck_suite_main),
    SITE_CASE(ag_op_apply),        SITE_CASE(ag_op_save),
};
const int n_site_cases_ext = (int)(sizeof site_cases_ext / sizeof site_cases_ext[0]);
