/* tests/tensor/main.c — dtypes, bf16, creation, element access, RNG, printing. */
#include <stdlib.h>

#include "tensor_test.h"

int tensor_errors;

void tensor_count_errors(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
    tensor_errors++;
}

int main(void) {
    Suite *s = suite_create("tensor");
    TCase *(*const cases[])(void) = {
        tensor_dtype_tcase, tensor_create_tcase, tensor_access_tcase,
        tensor_rng_tcase,   tensor_print_tcase,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) suite_add_tcase(s, cases[i]());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
