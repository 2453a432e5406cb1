/* tests/errors/bad_custom.c — misuse of the custom-op API (ag/custom_op.h):
 * a NULL or incomplete descriptor, a source count out of range, a result
 * recorded twice or as its own source, a custom op's backward that
 * reports, which stops ag_backward, a vjp that breaks its contract (false
 * without a report, an i32 gradient), and a name too long for the line.
 * One bad call per test; see errors_test.h. */
#include <string.h>

#include "errors_test.h"

static void ident_backward(ag_tensor *out) {
    ag_tensor *gx = ag_grad_accum_buf_(out->src[0]);
    if (!gx) return;
    for (int64_t i = 0; i < out->numel; i++)
        ((float *)gx->data)[i] += ((const float *)out->grad->data)[i];
}
static const ag_op IDENT = {"ident", ident_backward, NULL};

/* A backward that always finds something wrong. */
static int refusing_runs;
static void refusing_backward(ag_tensor *out) {
    refusing_runs++;
    ag_op_fail_("refusing backward", "gradient %s refused", ag_shape_str(out, (char[32]){0}, 32));
}
static const ag_op REFUSING = {"refusing", refusing_backward, NULL};

/* A new result of ag_op_result holding a copy of x, not recorded yet. */
static ag_tensor *result_of(ag_tensor *x) {
    ag_tensor *y = ag_op_result(A, "ident", x->dtype, x->ndim, x->shape);
    ck_assert_ptr_nonnull(y);
    memcpy(y->data, x->data, (size_t)x->numel * ag_dtype_size(x->dtype));
    return y;
}

static ag_tensor *grad_leaf(void) {
    ag_tensor *x = F32(2, 3);
    ag_set_requires_grad(x, true);
    return x;
}

START_TEST(record_with_null_op) {
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ag_tensor *r = ag_op_record(y, NULL, 1, &x); const int line = __LINE__;
    EXPECT_REPORT("op_record", line, "is NULL", "backward");
    expect_null_propagates(r);
}
END_TEST

START_TEST(record_with_op_without_backward) {
    static const ag_op no_backward = {.name = "half_made"};
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ag_tensor *r = ag_op_record(y, &no_backward, 1, &x); const int line = __LINE__;
    EXPECT_REPORT("op_record", line, "has no backward", "vjp");
    expect_null_propagates(r);
}
END_TEST

START_TEST(record_with_negative_count) {
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ag_tensor *r = ag_op_record(y, &IDENT, -1, &x); const int line = __LINE__;
    EXPECT_REPORT("ident", line, "-1 sources", "0..16");
    expect_null_propagates(r);
}
END_TEST

START_TEST(record_with_too_many_sources) {
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ag_tensor *srcs[AG_OP_MAX_SRCS + 1];
    for (int i = 0; i <= AG_OP_MAX_SRCS; i++) srcs[i] = x;
    ag_tensor *r = ag_op_record(y, &IDENT, AG_OP_MAX_SRCS + 1, srcs); const int line = __LINE__;
    EXPECT_REPORT("ident", line, "17 sources", "0..16");
    expect_null_propagates(r);
}
END_TEST

START_TEST(record_with_null_source_array) {
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ag_tensor *r = ag_op_record(y, &IDENT, 1, NULL); const int line = __LINE__;
    EXPECT_REPORT("ident", line, "NULL array");
    expect_null_propagates(r);
}
END_TEST

START_TEST(record_twice) {
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ck_assert_ptr_eq(ag_op_record(y, &IDENT, 1, &x), y);
    ag_tensor *r = ag_op_record(y, &IDENT, 1, &x); const int line = __LINE__;
    EXPECT_REPORT("ident", line, "[2,3]", "already recorded");
    expect_null_propagates(r);
}
END_TEST

/* out as one of its own sources would make the graph a cycle. */
START_TEST(record_out_as_its_own_source) {
    ag_tensor *x = grad_leaf(), *y = result_of(x);
    ag_tensor *r = ag_op_record(y, &IDENT, 2, (ag_tensor *[]){x, y}); const int line = __LINE__;
    EXPECT_REPORT("ident", line, "[2,3] is its own source 1", "never one of its inputs");
    expect_null_propagates(r);
    ck_assert_ptr_null(y->op);
}
END_TEST

START_TEST(result_without_a_name) {
    ag_tensor *r = ag_op_result(A, NULL, AG_F32, AG_SHAPE(2)); const int line = __LINE__;
    EXPECT_REPORT("op_result", line, "name is NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(result_with_negative_size) {
    ag_tensor *r = ag_op_result(A, "mine", AG_F32, AG_SHAPE(2, -3)); const int line = __LINE__;
    EXPECT_REPORT("mine", line, "[2,-3]", "negative");
    expect_null_propagates(r);
}
END_TEST

/* The backward's report names the ag_backward line; backward stops there
 * (the leaf gets nothing) and returns false. */
START_TEST(backward_of_custom_op_reports) {
    ag_tensor *x = grad_leaf();
    ag_tensor *y = ag_op_record(result_of(x), &REFUSING, 1, &x);
    ag_tensor *z = ag_add(A, ag_sum(A, y, 0, NULL, false), ag_sum(A, x, 0, NULL, false));
    ck_assert_int_eq(reports, 0);
    refusing_runs = 0;
    const bool ok = ag_backward(z, NULL); const int line = __LINE__;
    ck_assert(!ok);
    ck_assert_int_eq(refusing_runs, 1);
    EXPECT_REPORT("refusing backward", line, "gradient [2,3] refused");
}
END_TEST

/* A vjp that returns false without a report (breaking its contract) still
 * leaves one line naming the op, at the ag_backward call. */
static bool silent_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    (void)out, (void)g, (void)grads;
    return false;
}
/* sum(op(x)), op in the short form with x's values, made without a report */
static ag_tensor *sum_of_applied(const ag_op *op, ag_tensor *x) {
    ag_tensor *z = ag_sum(A, ag_op_apply(A, op, ag_detach(A, x), 1, &x), 0, NULL, false);
    ck_assert_int_eq(reports, 0);
    return z;
}
START_TEST(vjp_false_without_a_report) {
    static const ag_op SILENT = {"silent", NULL, silent_vjp};
    ag_tensor *x = grad_leaf(), *z = sum_of_applied(&SILENT, x);
    const bool ok = ag_backward(z, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("backward", line, "silent's vjp", "returned false");
}
END_TEST

/* An i32 gradient is not cast into a float source: reported, no gradient. */
static bool i32_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    (void)g;
    grads[0] = ag_ones_(out->arena, AG_I32, out->ndim, out->shape);
    return grads[0] != NULL;
}
START_TEST(vjp_gives_an_i32_gradient) {
    static const ag_op I32_GRAD = {"i32_grad", NULL, i32_vjp};
    ag_tensor *x = grad_leaf(), *z = sum_of_applied(&I32_GRAD, x);
    const bool ok = ag_backward(z, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("backward", line, "i32_grad's vjp", "i32 gradient [2,3]", "float");
    ck_assert_ptr_null(x->grad);
}
END_TEST

/* A custom op's name is the caller's to choose; however long it is, the
 * line still ends with the caller's file:line (the name is cut instead). */
START_TEST(long_op_name_keeps_the_site) {
    char op[700];
    memset(op, 'o', sizeof op - 1);
    op[sizeof op - 1] = '\0';
    ag_op_fail(op, "x [2,3]: expected [3]"); const int line = __LINE__;
    EXPECT_REPORT(op, line, "oooooooooo");
}
END_TEST

TCase *errors_custom_tcase(void) {
    TCase *tc = tcase_create("custom_op");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_add_test(tc, record_with_null_op);
    tcase_add_test(tc, record_with_op_without_backward);
    tcase_add_test(tc, record_with_negative_count);
    tcase_add_test(tc, record_with_too_many_sources);
    tcase_add_test(tc, record_with_null_source_array);
    tcase_add_test(tc, record_twice);
    tcase_add_test(tc, record_out_as_its_own_source);
    tcase_add_test(tc, result_without_a_name);
    tcase_add_test(tc, result_with_negative_size);
    tcase_add_test(tc, backward_of_custom_op_reports);
    tcase_add_test(tc, vjp_false_without_a_report);
    tcase_add_test(tc, vjp_gives_an_i32_gradient);
    tcase_add_test(tc, long_op_name_keeps_the_site);
    return tc;
}
