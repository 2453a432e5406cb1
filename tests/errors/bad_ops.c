/* tests/errors/bad_ops.c — bad calls to matmul, shape, reduction, indexing,
 * softmax and loss ops. One bad call per test; see errors_test.h for what
 * every report must look like. */
#include <string.h>

#include "errors_test.h"

START_TEST(matmul_inner_dims_differ) {
    ag_tensor *a = F32(2, 3), *b = F32(4, 5);
    ag_tensor *r = ag_matmul(A, a, b); const int line = __LINE__;
    EXPECT_REPORT("matmul", line, "[2,3]", "[4,5]", "3", "4");
    expect_null_propagates(r);
}
END_TEST

START_TEST(matmul_of_0d) {
    ag_tensor *s = ag_scalar(A, AG_F32, 2.0), *v = F32(3);
    ag_tensor *r = ag_matmul(A, s, v); const int line = __LINE__;
    EXPECT_REPORT("matmul", line, "[]", "[3]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(matmul_batch_dims_do_not_broadcast) {
    ag_tensor *a = F32(2, 2, 3), *b = F32(3, 3, 4);
    ag_tensor *r = ag_matmul(A, a, b); const int line = __LINE__;
    EXPECT_REPORT("matmul", line, "[2,2,3]", "[3,3,4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(reshape_to_other_numel) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_reshape(A, x, AG_SHAPE(4)); const int line = __LINE__;
    EXPECT_REPORT("reshape", line, "[2,3]", "[4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(reshape_with_two_minus_ones) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_reshape(A, x, AG_SHAPE(-1, -1)); const int line = __LINE__;
    EXPECT_REPORT("reshape", line, "[2,3]", "-1");
    expect_null_propagates(r);
}
END_TEST

START_TEST(transpose_dim_out_of_range) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_transpose(A, x, 0, 2); const int line = __LINE__;
    EXPECT_REPORT("transpose", line, "[2,3]", "2");
    expect_null_propagates(r);
}
END_TEST

START_TEST(permute_with_repeated_dim) {
    ag_tensor *x = F32(2, 3, 4);
    ag_tensor *r = ag_permute(A, x, (const int[]){0, 0, 1}); const int line = __LINE__;
    EXPECT_REPORT("permute", line, "[2,3,4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(unsqueeze_dim_out_of_range) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_unsqueeze(A, x, 4); const int line = __LINE__;
    EXPECT_REPORT("unsqueeze", line, "[2,3]", "4");
    expect_null_propagates(r);
}
END_TEST

START_TEST(narrow_out_of_range) {
    ag_tensor *x = F32(4, 5);
    ag_tensor *r = ag_narrow(A, x, 1, 3, 4); const int line = __LINE__;
    EXPECT_REPORT("narrow", line, "[4,5]", "3", "4");
    expect_null_propagates(r);
}
END_TEST

START_TEST(slice_with_step_zero) {
    ag_tensor *x = F32(6);
    ag_tensor *r = ag_slice(A, x, 0, 0, 6, 0); const int line = __LINE__;
    EXPECT_REPORT("slice", line, "[6]", "step");
    expect_null_propagates(r);
}
END_TEST

START_TEST(concat_with_mismatched_sizes) {
    ag_tensor *a = F32(2, 3), *b = F32(2, 4);
    ag_tensor *r = ag_concat(A, 2, (ag_tensor *[]){a, b}, 0); const int line = __LINE__;
    EXPECT_REPORT("concat", line, "[2,3]", "[2,4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(expand_to_incompatible_size) {
    ag_tensor *x = F32(3);
    ag_tensor *r = ag_expand(A, x, AG_SHAPE(2, 4)); const int line = __LINE__;
    EXPECT_REPORT("expand", line, "[3]", "[2,4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(sum_with_repeated_dim) {
    ag_tensor *x = F32(2, 3);
    /* 1 and -1 are the same dim of a 2-d tensor */
    ag_tensor *r = ag_sum(A, x, AG_DIMS(1, -1), false); const int line = __LINE__;
    EXPECT_REPORT("sum", line, "[2,3]", "1");
    expect_null_propagates(r);
}
END_TEST

START_TEST(mean_with_dim_5_of_2d) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_mean(A, x, AG_DIMS(5), true); const int line = __LINE__;
    EXPECT_REPORT("mean", line, "[2,3]", "5");
    expect_null_propagates(r);
}
END_TEST

START_TEST(argmax_dim_out_of_range) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_argmax(A, x, -3, false); const int line = __LINE__;
    EXPECT_REPORT("argmax", line, "[2,3]", "-3");
    expect_null_propagates(r);
}
END_TEST

START_TEST(exp_of_i32) {
    ag_tensor *ids = i32_of(AG_SHAPE(2, 2), (const int32_t[]){0, 1, 2, 3});
    ag_tensor *r = ag_exp(A, ids); const int line = __LINE__;
    EXPECT_REPORT("exp", line, "[2,2]", "i32");
    expect_null_propagates(r);
}
END_TEST

START_TEST(index_select_id_out_of_range) {
    ag_tensor *x = F32(3, 4), *idx = i32_of(AG_SHAPE(2), (const int32_t[]){0, 3});
    ag_tensor *r = ag_index_select(A, x, 0, idx); const int line = __LINE__;
    EXPECT_REPORT("index_select", line, "[3,4]", "3");
    expect_null_propagates(r);
}
END_TEST

START_TEST(index_select_with_float_index) {
    ag_tensor *x = F32(3, 4), *idx = F32(2);
    ag_tensor *r = ag_index_select(A, x, 0, idx); const int line = __LINE__;
    EXPECT_REPORT("index_select", line, "[2]", "f32", "i32");
    expect_null_propagates(r);
}
END_TEST

START_TEST(embedding_id_out_of_range) {
    ag_tensor *w = F32(5, 2), *ids = i32_of(AG_SHAPE(2), (const int32_t[]){1, 5});
    ag_tensor *r = ag_embedding(A, w, ids); const int line = __LINE__;
    EXPECT_REPORT("embedding", line, "[5,2]", "5");
    expect_null_propagates(r);
}
END_TEST

START_TEST(gather_with_wrong_ndim_index) {
    ag_tensor *x = F32(2, 3), *idx = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1});
    ag_tensor *r = ag_gather(A, x, 1, idx); const int line = __LINE__;
    EXPECT_REPORT("gather", line, "[2,3]", "[2]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(masked_fill_mask_does_not_broadcast) {
    ag_tensor *x = F32(2, 3), *mask = i32_of(AG_SHAPE(4), (const int32_t[]){0, 1, 0, 1});
    ag_tensor *r = ag_masked_fill(A, x, mask, -1e9); const int line = __LINE__;
    EXPECT_REPORT("masked_fill", line, "[2,3]", "[4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(where_does_not_broadcast) {
    ag_tensor *c = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1}), *a = F32(3), *b = F32(3);
    ag_tensor *r = ag_where(A, c, a, b); const int line = __LINE__;
    EXPECT_REPORT("where", line, "[2]", "[3]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(softmax_dim_out_of_range) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_softmax(A, x, 2); const int line = __LINE__;
    EXPECT_REPORT("softmax", line, "[2,3]", "2");
    expect_null_propagates(r);
}
END_TEST

START_TEST(log_softmax_dim_out_of_range) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_log_softmax(A, x, -3); const int line = __LINE__;
    EXPECT_REPORT("log_softmax", line, "[2,3]", "-3");
    expect_null_propagates(r);
}
END_TEST

START_TEST(cross_entropy_target_out_of_range) {
    ag_tensor *logits = F32(2, 3), *t = i32_of(AG_SHAPE(2), (const int32_t[]){0, 7});
    ag_tensor *r = ag_cross_entropy(A, logits, t, -100); const int line = __LINE__;
    EXPECT_REPORT("cross_entropy", line, "[2,3]", "7");
    expect_null_propagates(r);
}
END_TEST

START_TEST(cross_entropy_batch_sizes_differ) {
    ag_tensor *logits = F32(2, 3), *t = i32_of(AG_SHAPE(3), (const int32_t[]){0, 1, 2});
    ag_tensor *r = ag_cross_entropy(A, logits, t, -100); const int line = __LINE__;
    EXPECT_REPORT("cross_entropy", line, "[2,3]", "[3]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(cross_entropy_with_float_target) {
    ag_tensor *logits = F32(2, 3), *t = F32(2);
    ag_tensor *r = ag_cross_entropy(A, logits, t, -100); const int line = __LINE__;
    EXPECT_REPORT("cross_entropy", line, "[2]", "f32", "i32");
    expect_null_propagates(r);
}
END_TEST

START_TEST(mse_loss_does_not_broadcast) {
    ag_tensor *in = F32(2, 3), *target = F32(4);
    ag_tensor *r = ag_mse_loss(A, in, target); const int line = __LINE__;
    EXPECT_REPORT("mse_loss", line, "[2,3]", "[4]");
    expect_null_propagates(r);
}
END_TEST

/* ---- the losses of ag/loss.h and the ops with parameters --------------------- */

/* the trap PyTorch only warns about: [4,1] against [4] would be [4,4] */
START_TEST(mse_loss_shape_trap) {
    ag_tensor *in = F32(4, 1), *target = F32(4);
    ag_tensor *r = ag_mse_loss_ex(A, in, target, AG_REDUCE_MEAN); const int line = __LINE__;
    EXPECT_REPORT("mse_loss", line, "would broadcast to [4,4]",
                  "reshape the target to [4,1] or the input to [4]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(l1_loss_unknown_reduction) {
    ag_tensor *in = F32(2, 3), *target = F32(2, 3);
    ag_tensor *r = ag_l1_loss(A, in, target, (ag_reduction)3); const int line = __LINE__;
    EXPECT_REPORT("l1_loss", line, "reduction 3 is unknown", "AG_REDUCE_MEAN");
    expect_null_propagates(r);
}
END_TEST

START_TEST(smooth_l1_loss_negative_beta) {
    ag_tensor *in = F32(2, 3), *target = F32(2, 3);
    ag_tensor *r = ag_smooth_l1_loss(A, in, target, AG_REDUCE_SUM, -0.5); const int line = __LINE__;
    EXPECT_REPORT("smooth_l1_loss", line, "beta is -0.5", ">= 0");
    expect_null_propagates(r);
}
END_TEST

START_TEST(bce_pos_weight_does_not_broadcast) {
    ag_tensor *in = F32(2, 3), *target = F32(2, 3);
    const ag_bce_with_logits_opts o = {.pos_weight = F32(2)};
    ag_tensor *r = ag_binary_cross_entropy_with_logits(A, in, target, &o); const int line = __LINE__;
    EXPECT_REPORT("binary_cross_entropy_with_logits", line, "pos_weight [2]", "[2,3]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(nll_loss_target_out_of_range) {
    ag_tensor *in = F32(2, 3), *t = i32_of(AG_SHAPE(2), (const int32_t[]){1, -3});
    ag_tensor *r = ag_nll_loss(A, in, t, NULL); const int line = __LINE__;
    EXPECT_REPORT("nll_loss", line, "target value -3", "expected 0..2 or ignore_index -100");
    expect_null_propagates(r);
}
END_TEST

START_TEST(cross_entropy_weight_of_wrong_size) {
    ag_tensor *in = F32(2, 3), *t = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1});
    const ag_cross_entropy_opts o = {.weight = F32(2), .ignore_index = -100};
    ag_tensor *r = ag_cross_entropy_ex(A, in, t, &o); const int line = __LINE__;
    EXPECT_REPORT("cross_entropy", line, "weight [2]", "expected a weight [3]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(cross_entropy_label_smoothing_outside) {
    ag_tensor *in = F32(2, 3), *t = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1});
    const ag_cross_entropy_opts o = {.ignore_index = -100, .label_smoothing = 1.25};
    ag_tensor *r = ag_cross_entropy_ex(A, in, t, &o); const int line = __LINE__;
    EXPECT_REPORT("cross_entropy", line, "label_smoothing is 1.25", "[0, 1]");
    expect_null_propagates(r);
}
END_TEST

START_TEST(clamp_with_nan_bound) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_clamp(A, x, 0.0, NAN); const int line = __LINE__;
    EXPECT_REPORT("clamp", line, "max is nan", "non-NaN");
    expect_null_propagates(r);
}
END_TEST

START_TEST(where_scalar_does_not_broadcast) {
    ag_tensor *c = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1}), *a = F32(3);
    ag_tensor *r = ag_where_scalar(A, c, a, 0.0); const int line = __LINE__;
    EXPECT_REPORT("where", line, "[2]", "[3]");
    expect_null_propagates(r);
}
END_TEST

/* Every op given a NULL tensor returns NULL and reports nothing. */
START_TEST(null_through_every_op) {
    ag_tensor *v = F32(2, 3), *n = NULL;
    ag_tensor *ids = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1});
    ag_tensor *out[] = {
        ag_add(A, n, v), ag_add(A, v, n), ag_sub(A, n, v), ag_mul(A, v, n), ag_div(A, n, v),
        ag_maximum(A, n, v), ag_minimum(A, v, n),
        ag_add_scalar(A, n, 1), ag_sub_scalar(A, n, 1), ag_rsub_scalar(A, 1, n),
        ag_mul_scalar(A, n, 1), ag_div_scalar(A, n, 1), ag_rdiv_scalar(A, 1, n),
        ag_neg(A, n), ag_exp(A, n), ag_log(A, n), ag_sqrt(A, n), ag_rsqrt(A, n),
        ag_pow(A, n, 2), ag_abs(A, n), ag_square(A, n), ag_tanh(A, n), ag_sigmoid(A, n),
        ag_relu(A, n), ag_gelu(A, n), ag_gelu_tanh(A, n), ag_silu(A, n),
        ag_sum(A, n, 0, NULL, false), ag_mean(A, n, AG_DIMS(0), true),
        ag_max(A, n, 0, NULL, false), ag_var(A, n, 0, NULL, 1, false), ag_argmax(A, n, 0, false),
        ag_matmul(A, n, v), ag_matmul(A, v, n),
        ag_reshape(A, n, AG_SHAPE(6)), ag_unsqueeze(A, n, 0), ag_squeeze(A, n, 0),
        ag_transpose(A, n, 0, 1), ag_permute(A, n, (const int[]){1, 0}),
        ag_narrow(A, n, 0, 0, 1), ag_slice(A, n, 0, 0, 1, 1),
        ag_concat(A, 2, (ag_tensor *[]){v, n}, 0), ag_expand(A, n, AG_SHAPE(2, 3)),
        ag_clone(A, n),
        ag_index_select(A, n, 0, ids), ag_index_select(A, v, 0, n),
        ag_embedding(A, n, ids), ag_embedding(A, v, n),
        ag_gather(A, n, 0, ids), ag_gather(A, v, 0, n),
        ag_masked_fill(A, n, ids, 0), ag_masked_fill(A, v, n, 0),
        ag_where(A, n, v, v), ag_where(A, ids, n, v), ag_where(A, ids, v, n),
        ag_softmax(A, n, -1), ag_log_softmax(A, n, -1),
        ag_cross_entropy(A, n, ids, -100), ag_cross_entropy(A, v, n, -100),
        ag_mse_loss(A, n, v), ag_mse_loss(A, v, n),
        ag_sin(A, n), ag_cos(A, n), ag_log1p(A, n), ag_expm1(A, n), ag_erf(A, n),
        ag_log_sigmoid(A, n), ag_softplus(A, n, 1, 20), ag_leaky_relu(A, n, 0.01),
        ag_elu(A, n, 1), ag_clamp(A, n, 0, 1), ag_clamp_min(A, n, 0), ag_clamp_max(A, n, 1),
        ag_where_scalar(A, n, v, 0), ag_where_scalar(A, ids, n, 0),
        ag_where_scalar_a(A, ids, 0, n), ag_mse_loss_ex(A, n, v, AG_REDUCE_SUM),
        ag_l1_loss(A, v, n, AG_REDUCE_SUM), ag_smooth_l1_loss(A, n, v, AG_REDUCE_SUM, 1),
        ag_huber_loss(A, v, n, AG_REDUCE_SUM, 1),
        ag_binary_cross_entropy_with_logits(A, n, v, NULL),
        ag_nll_loss(A, n, ids, NULL), ag_nll_loss(A, v, n, NULL),
        ag_cross_entropy_ex(A, n, ids, NULL), ag_cross_entropy_ex(A, v, n, NULL),
        ag_cast(A, n, AG_F64), ag_copy(A, n), ag_detach(A, n),
    };
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        ck_assert_msg(out[i] == NULL, "call %zu given NULL returned a tensor", i);
    ck_assert_msg(reports == 0, "NULL inputs were reported: \"%s\"", ag_last_error());
    ck_assert_int_eq(ag_error_count(), 0);
}
END_TEST

TCase *errors_ops_tcase(void) {
    TCase *tc = tcase_create("bad_ops");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, matmul_inner_dims_differ);
    tcase_add_test(tc, matmul_of_0d);
    tcase_add_test(tc, matmul_batch_dims_do_not_broadcast);
    tcase_add_test(tc, reshape_to_other_numel);
    tcase_add_test(tc, reshape_with_two_minus_ones);
    tcase_add_test(tc, transpose_dim_out_of_range);
    tcase_add_test(tc, permute_with_repeated_dim);
    tcase_add_test(tc, unsqueeze_dim_out_of_range);
    tcase_add_test(tc, narrow_out_of_range);
    tcase_add_test(tc, slice_with_step_zero);
    tcase_add_test(tc, concat_with_mismatched_sizes);
    tcase_add_test(tc, expand_to_incompatible_size);
    tcase_add_test(tc, sum_with_repeated_dim);
    tcase_add_test(tc, mean_with_dim_5_of_2d);
    tcase_add_test(tc, argmax_dim_out_of_range);
    tcase_add_test(tc, exp_of_i32);
    tcase_add_test(tc, index_select_id_out_of_range);
    tcase_add_test(tc, index_select_with_float_index);
    tcase_add_test(tc, embedding_id_out_of_range);
    tcase_add_test(tc, gather_with_wrong_ndim_index);
    tcase_add_test(tc, masked_fill_mask_does_not_broadcast);
    tcase_add_test(tc, where_does_not_broadcast);
    tcase_add_test(tc, softmax_dim_out_of_range);
    tcase_add_test(tc, log_softmax_dim_out_of_range);
    tcase_add_test(tc, cross_entropy_target_out_of_range);
    tcase_add_test(tc, cross_entropy_batch_sizes_differ);
    tcase_add_test(tc, cross_entropy_with_float_target);
    tcase_add_test(tc, mse_loss_shape_trap);
    tcase_add_test(tc, l1_loss_unknown_reduction);
    tcase_add_test(tc, smooth_l1_loss_negative_beta);
    tcase_add_test(tc, bce_pos_weight_does_not_broadcast);
    tcase_add_test(tc, nll_loss_target_out_of_range);
    tcase_add_test(tc, cross_entropy_weight_of_wrong_size);
    tcase_add_test(tc, cross_entropy_label_smoothing_outside);
    tcase_add_test(tc, clamp_with_nan_bound);
    tcase_add_test(tc, where_scalar_does_not_broadcast);
    tcase_add_test(tc, mse_loss_does_not_broadcast);
    tcase_add_test(tc, null_through_every_op);
    return tc;
}
