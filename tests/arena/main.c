/* tests/arena/main.c — chained-block arenas: alignment, growth, reuse after
 * reset, accounting, the flat memory of a 10,000-step training loop, and (in
 * an AddressSanitizer build) memory poisoned between reset and reuse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops_test.h"
#include "../check_main.h"

#define ALIGNED(p) ((uintptr_t)(p) % AG_ARENA_ALIGN == 0)

START_TEST(alignment_of_every_pointer) {
    ck_assert_int_eq(AG_ARENA_ALIGN, 64);
    ag_arena *a = ag_arena_new(1000); /* not a multiple of 64 */
    const size_t sizes[] = {1, 3, 7, 17, 63, 64, 65, 100, 127, 129, 999, 1000, 1001, 4097, 0};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = ag_arena_alloc(a, sizes[i]);
            void *q = ag_arena_calloc(a, sizes[i]);
            ck_assert_ptr_nonnull(p);
            ck_assert_ptr_nonnull(q);
            ck_assert_msg(ALIGNED(p), "alloc(%zu) = %p", sizes[i], p);
            ck_assert_msg(ALIGNED(q), "calloc(%zu) = %p", sizes[i], q);
        }
        ag_arena_reset(a);
    }
    /* tensor headers and data too */
    ag_tensor *t = ag_zeros(a, AG_F32, AG_SHAPE(3));
    ag_tensor *u = ag_zeros(a, AG_BF16, AG_SHAPE(5));
    ck_assert(ALIGNED(t) && ALIGNED(t->data) && ALIGNED(u) && ALIGNED(u->data));
    ag_arena_free(a);
}
END_TEST

START_TEST(zero_byte_allocations_are_unique) {
    ag_arena *a = ag_arena_new(256);
    void *p = ag_arena_alloc(a, 0), *q = ag_arena_alloc(a, 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(p, q);
    ag_arena_free(a);
}
END_TEST

START_TEST(larger_than_block_chains) {
    ag_arena *a = ag_arena_new(4096);
    void *small = ag_arena_alloc(a, 100);
    ck_assert_uint_eq(ag_arena_blocks(a), 1);
    const size_t big = 1000000;
    unsigned char *p = ag_arena_alloc(a, big);
    ck_assert_ptr_nonnull(p);
    ck_assert(ALIGNED(p));
    ck_assert_uint_ge(ag_arena_blocks(a), 2);
    ck_assert_uint_ge(ag_arena_reserved(a), big + 4096);
    memset(p, 0x5A, big); /* all of it is ours (ASan would complain otherwise) */
    /* the small allocation before it is intact and separate */
    ck_assert((unsigned char *)small + 100 <= p || p + big <= (unsigned char *)small);
    /* more small allocations after the big one still work */
    for (int i = 0; i < 100; i++) {
        unsigned char *q = ag_arena_alloc(a, 300);
        ck_assert_ptr_nonnull(q);
        memset(q, i, 300);
        ck_assert(q + 300 <= p || p + big <= q);
    }
    for (size_t i = 0; i < big; i += 4099) ck_assert_uint_eq(p[i], 0x5A);
    /* a tensor larger than the block */
    ag_tensor *t = ag_ones(a, AG_F64, AG_SHAPE(1000, 10));
    ck_assert_ptr_nonnull(t);
    ck_assert(ag_get_flat(t, 9999) == 1.0);
    ag_arena_free(a);
}
END_TEST

/* One fixed allocation pattern, with sizes below, at and above the block. */
static void pattern(ag_arena *a) {
    const size_t sizes[] = {10, 5000, 64, 1, 20000, 3000, 3000, 3000, 100, 70000, 8, 4096};
    for (int rep = 0; rep < 4; rep++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = ag_arena_alloc(a, sizes[i]);
            ck_assert_ptr_nonnull(p);
            memset(p, 0xEE, sizes[i]);
        }
}

START_TEST(reset_reuses_blocks) {
    ag_arena *a = ag_arena_new(8192);
    pattern(a);
    size_t reserved = ag_arena_reserved(a), blocks = ag_arena_blocks(a);
    size_t used = ag_arena_used(a), peak = ag_arena_peak(a);
    ck_assert_uint_ge(blocks, 2);
    ck_assert_uint_eq(peak, used);
    void *first = NULL;
    for (int cycle = 0; cycle < 200; cycle++) {
        ag_arena_reset(a);
        ck_assert_uint_eq(ag_arena_used(a), 0);
        void *p = ag_arena_alloc(a, 10);
        if (!first) first = p;
        ck_assert_ptr_eq(p, first); /* the first block is reused from its start */
        ag_arena_reset(a);
        pattern(a);
        ck_assert_uint_eq(ag_arena_reserved(a), reserved);
        ck_assert_uint_eq(ag_arena_blocks(a), blocks);
        ck_assert_uint_eq(ag_arena_used(a), used);
        ck_assert_uint_eq(ag_arena_peak(a), peak);
    }
    /* a smaller pattern after reset does not grow anything either */
    ag_arena_reset(a);
    for (int i = 0; i < 50; i++) ag_arena_alloc(a, 100);
    ck_assert_uint_eq(ag_arena_reserved(a), reserved);
    ck_assert_uint_eq(ag_arena_peak(a), peak);
    ag_arena_free(a);
}
END_TEST

START_TEST(used_and_peak_accounting) {
    ag_arena *a = ag_arena_new(4096);
    ck_assert_uint_eq(ag_arena_used(a), 0);
    ck_assert_uint_eq(ag_arena_peak(a), 0);
    ck_assert_uint_eq(ag_arena_reserved(a), 0);
    ck_assert_uint_eq(ag_arena_blocks(a), 0);
    ag_arena_alloc(a, 10); /* rounded up to 64 */
    ck_assert_uint_eq(ag_arena_used(a), 64);
    ck_assert_uint_eq(ag_arena_reserved(a), 4096);
    ck_assert_uint_eq(ag_arena_blocks(a), 1);
    ag_arena_alloc(a, 64);
    ck_assert_uint_eq(ag_arena_used(a), 128);
    ag_arena_alloc(a, 65); /* 128 */
    ck_assert_uint_eq(ag_arena_used(a), 256);
    ag_arena_calloc(a, 1000); /* 1024 */
    ck_assert_uint_eq(ag_arena_used(a), 1280);
    ck_assert_uint_eq(ag_arena_peak(a), 1280);
    ag_arena_reset(a);
    ck_assert_uint_eq(ag_arena_used(a), 0);
    ck_assert_uint_eq(ag_arena_peak(a), 1280);
    ck_assert_uint_eq(ag_arena_reserved(a), 4096);
    ag_arena_alloc(a, 128);
    ck_assert_uint_eq(ag_arena_used(a), 128);
    ck_assert_uint_eq(ag_arena_peak(a), 1280);
    /* used never undercounts what was handed out, across blocks */
    size_t handed = 128;
    for (int i = 0; i < 40; i++) {
        ag_arena_alloc(a, 1000);
        handed += 1024;
    }
    ck_assert_uint_ge(ag_arena_used(a), handed);
    ck_assert_uint_le(ag_arena_used(a), ag_arena_reserved(a));
    ck_assert_uint_eq(ag_arena_peak(a), ag_arena_used(a));
    ck_assert_uint_ge(ag_arena_blocks(a), 10);
    ag_arena_free(a);
    /* block size 0 means 1 MiB */
    ag_arena *d = ag_arena_new(0);
    ag_arena_alloc(d, 1);
    ck_assert_uint_eq(ag_arena_reserved(d), (size_t)1 << 20);
    ag_arena_free(d);
}
END_TEST

/* A block of 1 MiB or more (the arena maps those from the system; their
 * own path for making and freeing): an allocation of 3 MiB is aligned and
 * writable end to end, comes back at the same address after a reset, is
 * zeroed again by calloc, and the arena's accounting counts it as one
 * block; ag_arena_free unmaps it. */
START_TEST(big_blocks_mapped_and_reused) {
    const size_t n = (size_t)3 << 20;
    ag_arena *a = ag_arena_new(0);
    unsigned char *p = ag_arena_alloc(a, n);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % AG_ARENA_ALIGN, 0);
    memset(p, 0xab, n);
    ck_assert_uint_ge(ag_arena_reserved(a), n);
    ag_arena_reset(a);
    unsigned char *q = ag_arena_calloc(a, n);
    ck_assert_ptr_eq(q, p);
    ck_assert_int_eq(q[0], 0);
    ck_assert_int_eq(q[n / 2], 0);
    ck_assert_int_eq(q[n - 1], 0);
    ck_assert_uint_eq(ag_arena_blocks(a), 1);
    ag_arena_free(a);
}
END_TEST

START_TEST(calloc_zeroes_reused_memory) {
    ag_arena *a = ag_arena_new(4096);
    unsigned char *p = ag_arena_alloc(a, 3000);
    memset(p, 0xFF, 3000);
    ag_arena_reset(a);
    unsigned char *q = ag_arena_calloc(a, 3000);
    ck_assert_ptr_eq(p, q); /* the same, dirty memory */
    for (int i = 0; i < 3000; i++) ck_assert_uint_eq(q[i], 0);
    /* and zeros() is zero on dirty memory as well */
    ag_arena_reset(a);
    memset(ag_arena_alloc(a, 4000), 0xAB, 4000);
    ag_arena_reset(a);
    ag_tensor *t = ag_zeros(a, AG_F32, AG_SHAPE(100));
    for (int64_t i = 0; i < 100; i++) ck_assert(ag_get_flat(t, i) == 0.0);
    ck_assert_ptr_null(t->grad);
    ck_assert_ptr_null(t->op);
    ag_arena_free(a);
}
END_TEST

START_TEST(null_arguments_are_fine) {
    ag_arena_free(NULL);
    ag_arena_reset(NULL);
    ck_assert_uint_eq(ag_arena_used(NULL), 0);
    ck_assert_uint_eq(ag_arena_peak(NULL), 0);
    ck_assert_uint_eq(ag_arena_reserved(NULL), 0);
    ck_assert_uint_eq(ag_arena_blocks(NULL), 0);
    ck_assert_ptr_null(ag_arena_alloc(NULL, 16));
    /* an arena that never allocated frees cleanly */
    ag_arena_free(ag_arena_new(0));
    ag_arena *a = ag_arena_new(128);
    ag_arena_reset(a);
    ag_arena_reset(a);
    ag_arena_free(a);
}
END_TEST

START_TEST(many_small_allocations) {
    ag_arena *a = ag_arena_new(0);
    enum { N = 100000 };
    int32_t **ptrs = malloc(N * sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    for (int i = 0; i < N; i++) {
        ptrs[i] = ag_arena_alloc(a, sizeof(int32_t) * (size_t)(1 + i % 5));
        ck_assert_ptr_nonnull(ptrs[i]);
        for (int k = 0; k <= i % 5; k++) ptrs[i][k] = i;
    }
    /* nothing overlapped: every value is still there */
    for (int i = 0; i < N; i++)
        for (int k = 0; k <= i % 5; k++) ck_assert_int_eq(ptrs[i][k], i);
    ck_assert_uint_eq(ag_arena_used(a) % AG_ARENA_ALIGN, 0);
    ck_assert_uint_ge(ag_arena_used(a), (size_t)N * AG_ARENA_ALIGN);
    ck_assert_uint_ge(ag_arena_blocks(a), 6); /* 6.4 MB in 1 MiB blocks */
    size_t reserved = ag_arena_reserved(a);
    ag_arena_reset(a);
    for (int i = 0; i < N; i++) ck_assert_ptr_nonnull(ag_arena_alloc(a, 8));
    ck_assert_uint_eq(ag_arena_reserved(a), reserved);
    free(ptrs);
    ag_arena_free(a);
}
END_TEST

/* ---- the flat-memory training loop -------------------------------------- */

typedef struct {
    size_t peak, reserved, blocks;
} usage;

static usage usage_of(const ag_arena *a) {
    return (usage){ag_arena_peak(a), ag_arena_reserved(a), ag_arena_blocks(a)};
}

START_TEST(ten_thousand_steps_flat_memory) {
    ag_arena *P = ag_arena_new(0);         /* parameters and gradients */
    ag_arena *S = ag_arena_new(16 * 1024); /* one step's graph; small blocks chain */
    ag_rng r;
    ag_rng_seed(&r, 2024);
    ag_tensor *w = ag_randn(P, &r, AG_F32, AG_SHAPE(16, 16), 0.0, 0.1);
    ag_tensor *bias = ag_zeros(P, AG_F64, AG_SHAPE(16));
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(bias, true);
    ag_tensor *grad = NULL;
    void *grad_data = NULL, *bias_grad_data = NULL;
    usage p100 = {0}, s100 = {0};
    size_t p_used_after_first = 0;
    for (int step = 1; step <= 10000; step++) {
        ag_arena_reset(S);
        /* x: a fresh input each step */
        double c = 0.01 * (step % 7);
        ag_tensor *x = ag_full(S, AG_F32, AG_SHAPE(16, 16), c);
        /* y = ((x + w) * w - x) / 2 + cast(bias) ; scalar ops and a cast too */
        ag_tensor *h = ag_add(S, x, w);
        ag_tensor *y = ag_mul(S, h, w);
        y = ag_sub(S, y, x);
        y = ag_div_scalar(S, y, 2.0);
        ag_tensor *y64 = ag_cast(S, y, AG_F64);
        y64 = ag_add(S, y64, bias); /* bias [16] broadcasts over rows */
        ck_assert_ptr_nonnull(y64);
        /* loss = sum(y64), a 0-d tensor: backward seeds 1 */
        ag_tensor *loss = ag_sum(S, y64, 0, NULL, false);
        ck_assert_ptr_nonnull(loss);
        ck_assert(ag_backward(loss, NULL));
        if (step == 1 || step == 10000) {
            /* d/dw sum(((x + w) w - x) / 2) = (x + 2w) / 2; d/dbias = 16 per entry */
            for (int64_t i = 0; i < 256; i += 17) {
                double wi = ag_get_flat(w, i);
                ck_close(ag_get_flat(w->grad, i), (c + 2 * wi) / 2, 1e-6);
            }
            for (int64_t j = 0; j < 16; j++) ck_assert(ag_get_flat(bias->grad, j) == 16.0);
        }
        if (step == 1) {
            grad = w->grad;
            grad_data = w->grad->data;
            bias_grad_data = bias->grad->data;
            p_used_after_first = ag_arena_used(P);
        }
        ck_assert_ptr_eq(w->grad, grad);
        ck_assert_ptr_eq(w->grad->data, grad_data);
        ck_assert_ptr_eq(bias->grad->data, bias_grad_data);
        ck_assert_ptr_eq(w->grad->arena, P);
        ag_zero_grad(w);
        ag_zero_grad(bias);
        ck_assert(ag_get_flat(w->grad, 5) == 0.0);
        if (step == 100) {
            p100 = usage_of(P);
            s100 = usage_of(S);
        }
    }
    usage p10k = usage_of(P), s10k = usage_of(S);
    ck_assert_uint_eq(p10k.peak, p100.peak);
    ck_assert_uint_eq(p10k.reserved, p100.reserved);
    ck_assert_uint_eq(p10k.blocks, p100.blocks);
    ck_assert_uint_eq(s10k.peak, s100.peak);
    ck_assert_uint_eq(s10k.reserved, s100.reserved);
    ck_assert_uint_eq(s10k.blocks, s100.blocks);
    ck_assert_uint_eq(ag_arena_used(P), p_used_after_first);
    /* the step arena really chained blocks (the graph is bigger than one) */
    ck_assert_uint_ge(s10k.blocks, 2);
    ag_arena_free(S);
    ag_arena_free(P);
}
END_TEST

/* ---- AddressSanitizer: memory of a reset arena is poisoned -------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_TEST_ASAN 1
#endif
#endif

#ifdef ARENA_TEST_ASAN
#include <sanitizer/asan_interface.h>

#include "../child_stderr.h"

/* Handed-out bytes are addressable; after a reset all of them are poisoned,
 * and an allocation unpoisons what it hands out again. */
START_TEST(reset_poisons_and_alloc_unpoisons) {
    ag_arena *a = ag_arena_new(4096);
    unsigned char *p = ag_arena_alloc(a, 100);
    unsigned char *big = ag_arena_alloc(a, 10000); /* a second block */
    ck_assert(!__asan_region_is_poisoned(p, 100));
    ck_assert(!__asan_region_is_poisoned(big, 10000));
    ck_assert(__asan_address_is_poisoned(p + 128)); /* never handed out */
    ag_arena_reset(a);
    ck_assert(__asan_address_is_poisoned(p));
    ck_assert(__asan_address_is_poisoned(p + 99));
    ck_assert(__asan_address_is_poisoned(big + 5000));
    unsigned char *q = ag_arena_alloc(a, 100);
    ck_assert_ptr_eq(q, p);
    ck_assert(!__asan_region_is_poisoned(q, 100));
    ck_assert(__asan_address_is_poisoned(big));
    ag_arena_free(a);
    /* a block of 1 MiB or more (mapped, not from the heap) the same way */
    ag_arena *m = ag_arena_new(0);
    unsigned char *h = ag_arena_alloc(m, (size_t)2 << 20);
    ck_assert(!__asan_region_is_poisoned(h, (size_t)2 << 20));
    ag_arena_reset(m);
    ck_assert(__asan_address_is_poisoned(h + 12345));
    ck_assert_ptr_eq(ag_arena_alloc(m, 64), h);
    ck_assert(!__asan_region_is_poisoned(h, 64));
    ck_assert(__asan_address_is_poisoned(h + 64));
    ag_arena_free(m);
}
END_TEST

/* Run in a child: reads a tensor after its arena was reset. */
static void read_after_reset(void) {
    ag_arena *a = ag_arena_new(0);
    ag_tensor *t = ag_ones(a, AG_F32, AG_SHAPE(4));
    ag_arena_reset(a);
    volatile float v = ((const float *)t->data)[2];
    (void)v;
}

/* ... which dies with ASan's report (stderr collected from the child). */
START_TEST(use_after_reset_is_caught) {
    char out[8192];
    int status = run_in_child(read_after_reset, out, sizeof out, NULL);
    ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "reading a tensor after its arena's reset was not caught");
    ck_assert_msg(strstr(out, "use-after-poison"), "ASan said: \"%s\"", out);
}
END_TEST
#endif

static TCase *arena_tcase(void) {
    TCase *tc = tcase_create("arena");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, alignment_of_every_pointer);
    tcase_add_test(tc, zero_byte_allocations_are_unique);
    tcase_add_test(tc, larger_than_block_chains);
    tcase_add_test(tc, reset_reuses_blocks);
    tcase_add_test(tc, used_and_peak_accounting);
    tcase_add_test(tc, calloc_zeroes_reused_memory);
    tcase_add_test(tc, big_blocks_mapped_and_reused);
    tcase_add_test(tc, null_arguments_are_fine);
    tcase_add_test(tc, many_small_allocations);
    tcase_add_test(tc, ten_thousand_steps_flat_memory);
#ifdef ARENA_TEST_ASAN
    tcase_add_test(tc, reset_poisons_and_alloc_unpoisons);
    tcase_add_test(tc, use_after_reset_is_caught);
#endif
    return tc;
}

int main(void) {
    return run_check_suite("arena", (check_tcase_fn *const[]){arena_tcase, NULL});
}
