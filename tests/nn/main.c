/* tests/nn/main.c — modules, norm layers, the registry, the GPT blocks. */
#include "nn_test.h"
#include "../check_main.h"

int main(void) {
    return run_check_suite("nn", (check_tcase_fn *const[]){
        nn_norm_ops_tcase, nn_norm_ref_tcase, nn_norm_double_tcase, nn_module_tcase,
        nn_linear_tcase, nn_norms_tcase, nn_registry_tcase, nn_blocks_tcase,
        nn_sequential_tcase, NULL,
    });
}
