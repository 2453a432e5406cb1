/* tests/nn/main.c — modules, norm layers, the registry, the GPT blocks. */
#include <stdlib.h>

#include "nn_test.h"

int main(void) {
    Suite *s = suite_create("nn");
    TCase *(*const cases[])(void) = {
        nn_norm_ops_tcase, nn_norm_ref_tcase, nn_module_tcase,   nn_linear_tcase,
        nn_norms_tcase,    nn_registry_tcase, nn_blocks_tcase,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) suite_add_tcase(s, cases[i]());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
