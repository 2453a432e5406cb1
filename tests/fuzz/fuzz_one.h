/* tests/fuzz/fuzz_one.h — one input through the checkpoint loader, shared by
 * the libFuzzer target (fuzz_safetensors.c) and the replay test (replay.c). */
#ifndef AG_TESTS_FUZZ_ONE_H
#define AG_TESTS_FUZZ_ONE_H

#include <ag/ag.h>
#include <stddef.h>
#include <stdint.h>

/* The fixed module the inputs are loaded into: a list of three Linear(2, 2)
 * with bias, in f32, f64 and bf16 ("0.weight", "0.bias", "1.weight", ...). */
ag_module *fuzz_module(ag_arena *P);

/* Loads bytes[n] strict and non-strict into a fresh fuzz_module and checks
 * the loader's promises: a failure has a code and a message naming the
 * input, and leaves the module unchanged; a strict success loads every
 * parameter. Aborts (a crash the fuzzer reports) when one is broken.
 * Returns 1 when the strict load succeeded, 0 otherwise. */
int fuzz_one(const uint8_t *bytes, size_t n);

#endif
