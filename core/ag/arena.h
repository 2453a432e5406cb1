/* ag/arena.h — region allocation for tensors and graph nodes.
 *
 * Every tensor, its data, its gradient and the graph node that made it live in
 * an arena. An arena is a chain of blocks: an allocation that does not fit the
 * current block moves to the next one (reused after a reset) or chains a new
 * block, so an arena never fails because a first guess was too small. Nothing
 * is freed one by one: ag_arena_reset() makes the whole arena reusable and
 * ag_arena_free() returns it to the system.
 *
 * A training script keeps two: a long-lived one for parameters, gradients and
 * optimizer state, and a step arena reset at the top of every iteration.
 */
#ifndef AG_ARENA_H
#define AG_ARENA_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_arena ag_arena;

/* Alignment of every allocation, in bytes (a cache line; enough for AVX-512). */
#define AG_ARENA_ALIGN 64

/* A new, empty arena whose blocks hold at least block_bytes (0: 1 MiB).
 * Returns NULL, after reporting through the error handler, when out of memory
 * or when block_bytes is too large to round up to AG_ARENA_ALIGN. The caller
 * owns the arena and frees it with ag_arena_free. */
ag_arena *ag_arena_new_(size_t block_bytes);
#define ag_arena_new(...) AG_AT_PTR(ag_arena_new_, ag_arena *, __VA_ARGS__)

/* Returns every block to the system. NULL is allowed. Every tensor allocated
 * in the arena is invalid afterwards. */
void ag_arena_free(ag_arena *a);

/* Forgets every allocation but keeps the blocks for reuse, so a loop that
 * resets its arena each iteration reaches a steady size. Every tensor made
 * in the arena before the reset is invalid afterwards. Using one is caught
 * while its memory has not been handed out again: each arena counts its
 * resets and each tensor keeps the count it was made under, so an op given
 * such a tensor reports "tensor [2,3] was made before its arena was reset"
 * and returns NULL (after running its kernel on the old memory) and ag_backward
 * reports it for out, grad_out or any node of the graph and runs nothing.
 * Once new tensors have overwritten it, the old pointer may alias one of
 * them and nothing here can tell. */
void ag_arena_reset(ag_arena *a);

/* bytes of uninitialised memory aligned to AG_ARENA_ALIGN, valid until the
 * next reset or free; the arena owns it. Returns NULL after reporting when
 * the system is out of memory or bytes is too large to round up (near
 * SIZE_MAX); a NULL arena returns NULL without a report (an earlier failure).
 * A request of 0 bytes returns a valid, unique pointer. */
void *ag_arena_alloc_(ag_arena *a, size_t bytes);
#define ag_arena_alloc(...) AG_AT_PTR(ag_arena_alloc_, void *, __VA_ARGS__)

/* Like ag_arena_alloc, but the memory is zeroed. */
void *ag_arena_calloc_(ag_arena *a, size_t bytes);
#define ag_arena_calloc(...) AG_AT_PTR(ag_arena_calloc_, void *, __VA_ARGS__)

/* Bytes handed out since the last reset (including alignment padding). */
size_t ag_arena_used(const ag_arena *a);

/* The largest ag_arena_used() seen since the arena was made. */
size_t ag_arena_peak(const ag_arena *a);

/* Bytes held from the system in blocks (what the arena costs in memory). */
size_t ag_arena_reserved(const ag_arena *a);

/* Number of blocks in the chain. */
size_t ag_arena_blocks(const ag_arena *a);

#ifdef __cplusplus
}
#endif
#endif
