/* tests/ops/main.c — forward values (and hand-computed gradients) of every op. */
#include "ops_test.h"
#include "../check_main.h"

int main(void) {
    return run_check_suite("ops", (check_tcase_fn *const[]){
        ops_binary_tcase, ops_unary_tcase, ops_reduce_tcase, ops_matmul_tcase, ops_shape_tcase,
        ops_index_tcase, ops_softmax_loss_tcase, ops_loss_tcase, ops_cast_tcase, ops_nonfinite_tcase,
        ops_reduce_second_tcase, ops_second_order_tcase, ops_matmul_loss_second_tcase,
        ops_vmath_tcase, ops_attention_tcase, NULL,
    });
}
