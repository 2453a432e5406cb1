/* tests/ops/main.c — forward values (and hand-computed gradients) of every op. */
#include <stdlib.h>

#include "ops_test.h"

int main(void) {
    Suite *s = suite_create("ops");
    TCase *(*const cases[])(void) = {
        ops_binary_tcase, ops_unary_tcase, ops_reduce_tcase,        ops_matmul_tcase,
        ops_shape_tcase,  ops_index_tcase, ops_softmax_loss_tcase, ops_cast_tcase,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) suite_add_tcase(s, cases[i]());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
