/* tests/fuzz/fuzz_safetensors.c — the libFuzzer target over the checkpoint
 * loader: every input is loaded strict and non-strict into a fixed module
 * (fuzz_one.c), under ASan and UBSan. Built with -DAG_FUZZ=ON and clang;
 * tests/fuzz/run.sh SECONDS builds and runs it. */
#include "fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)fuzz_one(data, size);
    return 0;
}
