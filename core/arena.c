/* core/arena.c — chained-block arenas (see ag/arena.h).
 *
 * The chain is kept in order of creation. `cur` is the block being filled;
 * blocks after it are free (left over from before a reset) and are reused in
 * order. An allocation that does not fit the current block moves on to the
 * next one that can hold it, and only when none can does the arena ask the
 * system for a new block (at least block_bytes, or the request itself).
 * Blocks of MAP_FROM bytes and more are mapped (mmap), the others come from
 * malloc: after a program frees large buffers, glibc serves large requests
 * from its heap instead of mapping them, and step arenas placed there ran
 * up to 2x slower; a mapped block's place does not depend on that history.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS (POSIX 2024; every Unix has it) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* In an AddressSanitizer build, bytes not handed out since the last reset
 * are poisoned, so a tensor used after its arena was reset is reported. */
#if defined(__SANITIZE_ADDRESS__)
#define AG_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_ARENA_ASAN 1
#endif
#endif
#ifdef AG_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#endif

static void poison(void *p, size_t n) {
#ifdef AG_ARENA_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

static void unpoison(void *p, size_t n) {
#ifdef AG_ARENA_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    unsigned char *data;
} block;

struct ag_arena {
    block *head, *cur;
    size_t block_bytes;
    size_t used;      /* bytes handed out since the last reset, across blocks */
    size_t peak;
    size_t reserved;
    size_t nblocks;
    uint64_t epoch; /* resets so far: tensors made before the last one are stale */
};

#define DEFAULT_BLOCK ((size_t)1 << 20)

static size_t align_up(size_t n) {
    return (n + (AG_ARENA_ALIGN - 1)) & ~(size_t)(AG_ARENA_ALIGN - 1);
}

/* Blocks from this size on are mapped from the system directly. */
#define MAP_FROM ((size_t)1 << 20)

static block *block_new(size_t size) {
    block *b = malloc(sizeof *b);
    if (!b) return NULL;
    void *p = NULL;
    if (size >= MAP_FROM) {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) p = NULL;
    } else if (posix_memalign(&p, AG_ARENA_ALIGN, size ? size : AG_ARENA_ALIGN) != 0) {
        p = NULL;
    }
    if (!p) {
        free(b);
        return NULL;
    }
    b->next = NULL;
    b->size = size;
    b->used = 0;
    b->data = p;
    poison(b->data, b->size);
    return b;
}

ag_arena *ag_arena_new_(size_t block_bytes) {
    if (align_up(block_bytes) < block_bytes) {
        ag__fail("arena_new", "block size of %zu bytes overflows when rounded up to a "
                 "multiple of %d", block_bytes, AG_ARENA_ALIGN);
        return NULL;
    }
    ag_arena *a = calloc(1, sizeof *a);
    if (!a) {
        ag__fail("arena_new", "out of memory");
        return NULL;
    }
    a->block_bytes = block_bytes ? align_up(block_bytes) : DEFAULT_BLOCK;
    return a;
}

void ag_arena_free(ag_arena *a) {
    if (!a) return;
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        unpoison(b->data, b->size);
        if (b->size >= MAP_FROM)
            munmap(b->data, b->size);
        else
            free(b->data);
        free(b);
    }
    free(a);
}

void ag_arena_reset(ag_arena *a) {
    if (!a) return;
    for (block *b = a->head; b; b = b->next) {
        b->used = 0;
        poison(b->data, b->size);
    }
    a->cur = a->head;
    a->used = 0;
    a->epoch++;
}

uint64_t ag__arena_epoch(const ag_arena *a) { return a->epoch; }

/* Appends a block that can hold need bytes after the last one. */
static block *grow(ag_arena *a, size_t need) {
    size_t size = need > a->block_bytes ? need : a->block_bytes;
    block *b = block_new(size);
    if (!b) return NULL;
    if (!a->head) {
        a->head = b;
    } else {
        block *last = a->cur ? a->cur : a->head;
        while (last->next) last = last->next;
        last->next = b;
    }
    a->reserved += size;
    a->nblocks++;
    return b;
}

/* Why an allocation failed, for the reporting caller. */
typedef enum { ALLOC_OK, ALLOC_OVERFLOW, ALLOC_NO_MEMORY } alloc_failure;

/* The allocation itself; never reports (the file loaders call it directly),
 * *why says what went wrong. */
static void *arena_alloc(ag_arena *a, size_t bytes, alloc_failure *why) {
    *why = ALLOC_OK;
    if (!a) return NULL;
    size_t need = align_up(bytes ? bytes : 1);
    if (need < bytes) {
        *why = ALLOC_OVERFLOW;
        return NULL;
    }
    block *b = a->cur ? a->cur : a->head;
    while (b && b->size - b->used < need) b = b->next;
    if (!b) b = grow(a, need);
    if (!b) {
        *why = ALLOC_NO_MEMORY;
        return NULL;
    }
    /* The blocks skipped between cur and b stay unused until the next reset:
     * bytes lost to fragmentation count as used, so peak is what it costs. */
    if (a->cur && a->cur != b) {
        for (block *s = a->cur; s != b; s = s->next) {
            a->used += s->size - s->used;
            s->used = s->size;
        }
    }
    a->cur = b;
    void *p = b->data + b->used;
    unpoison(p, need);
    b->used += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void *ag_arena_alloc_(ag_arena *a, size_t bytes) {
    alloc_failure why;
    void *p = arena_alloc(a, bytes, &why);
    if (why == ALLOC_OVERFLOW) ag__fail("arena_alloc", "request of %zu bytes overflows", bytes);
    if (why == ALLOC_NO_MEMORY) {
        const size_t need = align_up(bytes ? bytes : 1);
        ag__fail("arena_alloc", "out of memory: a new block of %zu bytes (for a request of %zu "
                 "bytes) could not be allocated", need > a->block_bytes ? need : a->block_bytes,
                 bytes);
    }
    return p;
}

void *ag__arena_try_alloc(ag_arena *a, size_t bytes) {
    alloc_failure why;
    return arena_alloc(a, bytes, &why);
}

void *ag_arena_calloc_(ag_arena *a, size_t bytes) {
    void *p = ag_arena_alloc_(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

size_t ag_arena_used(const ag_arena *a) { return a ? a->used : 0; }
size_t ag_arena_peak(const ag_arena *a) { return a ? a->peak : 0; }
size_t ag_arena_reserved(const ag_arena *a) { return a ? a->reserved : 0; }
size_t ag_arena_blocks(const ag_arena *a) { return a ? a->nblocks : 0; }
