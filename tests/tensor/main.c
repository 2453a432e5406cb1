/* tests/tensor/main.c — dtypes, bf16, creation, element access, RNG, printing. */
#include "tensor_test.h"
#include "../check_main.h"

int tensor_errors;

void tensor_count_errors(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
    tensor_errors++;
}

int main(void) {
    return run_check_suite("tensor", (check_tcase_fn *const[]){
        tensor_dtype_tcase, tensor_create_tcase, tensor_access_tcase, tensor_rng_tcase,
        tensor_print_tcase, NULL,
    });
}
