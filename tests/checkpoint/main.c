/* tests/checkpoint/main.c — the checkpoint suite: the safetensors reader's
 * rules, module round trips, strict and non-strict loads, atomic saves and
 * copying values into tensors. */
#include "../check_main.h"
#include "ckpt_test.h"

int main(void) {
    return run_check_suite("checkpoint",
                           (check_tcase_fn *const[]){ckpt_validate_tcase, ckpt_roundtrip_tcase,
                                                     ckpt_strict_tcase, ckpt_atomic_tcase,
                                                     ckpt_copy_tcase, ckpt_train_state_tcase, NULL});
}
