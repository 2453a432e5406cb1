/* nn/norm_scratch.c — where the scratch rows of a norm backward go.
 *
 * L1 holds 4 KiB per way (8 ways on the machines this was measured on), so
 * lines that lie at the same offset within their 4 KiB pages compete for
 * the same few slots. A backward loop streams several rows at once, usually
 * at one page offset (x and dy, row i and row i+1, all allocated
 * page-aligned with the same header), and its scratch rows (block sums, xh)
 * are read and written as often as the others. Placed at that offset too,
 * they evicted lines still in use: LayerNorm's backward ran 15-25% slower,
 * at 0.61-0.66 of the bandwidth of a triad against 0.72-0.84 with the
 * scratch rows placed away (bench-norms, f32 rows of 4096). So each scratch
 * row starts at an offset, a multiple of 64, as far as possible from the
 * offsets of the streamed rows and of the scratch rows placed before it;
 * unless everything the backward touches fits in half of L1, where no line
 * is evicted and the rows are simply packed.
 */
#include <stdlib.h>

#include "internal.h"

#include "norm_job.h"

enum { PAGE = 4096, LINE = 64, L1_HALF = 16 << 10 };

/* The multiple of LINE in [0, PAGE) farthest (around the page) from all of
 * taken[0..n). */
static size_t far_offset(const size_t *taken, int n) {
    size_t best = 0, best_d = 0;
    for (size_t o = 0; o < PAGE; o += LINE) {
        size_t d = PAGE;
        for (int k = 0; k < n; k++) {
            const size_t a = (o - taken[k]) % PAGE, b = (taken[k] - o) % PAGE;
            d = a < d ? a : d;
            d = b < d ? b : d;
        }
        if (d > best_d) best = o, best_d = d;
    }
    return best;
}

/* The page offsets of the addresses a backward loop over rows of row bytes
 * streams: row i and row i+1 of x and dy, the next row 1 KiB ahead (where
 * the AVX2 loops prefetch), and w. Fills taken[] and returns how many. */
enum { NSTREAMED = 7 };
static int streamed(size_t taken[NSTREAMED], const ag__norm_job *job, size_t row) {
    const uintptr_t x = (uintptr_t)job->x, dy = (uintptr_t)job->dy;
    const uintptr_t at[NSTREAMED] = {x, dy, x + row, dy + row, x + row + 1024, dy + row + 1024,
                                     (uintptr_t)job->w};
    int n = 0;
    for (int k = 0; k < NSTREAMED; k++)
        if (k < NSTREAMED - 1 || job->w) taken[n++] = at[k] % PAGE;
    return n;
}

/* Scratch rows one after the other, each starting on a cache line. */
static size_t packed(ag__scratch *s, int nrows, size_t row_bytes) {
    const size_t span = (row_bytes + LINE - 1) / LINE * LINE;
    for (int k = 0; k < nrows; k++) s->off[k] = (size_t)k * span;
    return (size_t)nrows * span;
}

/* Each row in its own span of whole pages, plus a page to move within, at
 * the offset farthest from the streamed rows' and the rows placed before. */
static size_t placed(ag__scratch *s, int nrows, size_t row_bytes, const ag__norm_job *job) {
    size_t taken[NSTREAMED + AG__SCRATCH_MAX];
    int n = streamed(taken, job, row_bytes);
    const size_t span = (row_bytes + PAGE - 1) / PAGE * PAGE + PAGE;
    for (int k = 0; k < nrows; k++) {
        s->off[k] = (size_t)k * span + far_offset(taken, n);
        taken[n++] = s->off[k] % PAGE;
    }
    return (size_t)nrows * span;
}

bool ag__norm_scratch_alloc(ag__norm_job *job, const char *op, int nrows) {
    ag__scratch *s = &job->scratch;
    *s = (ag__scratch){0};
    const size_t row_bytes = (size_t)job->D * ag_dtype_size(job->dt);
    /* A backward whose rows (x, dy, dx) and scratch rows all fit in half of
     * a 32 KiB L1 evicts nothing wherever they lie: the rows are packed, and
     * the search for offsets (a few microseconds, the whole cost of a small
     * norm's backward) is skipped. */
    const size_t touched = 3 * (size_t)job->rows * row_bytes +
                           (size_t)job->nchunks * (size_t)nrows * (row_bytes + LINE);
    const bool small = touched <= L1_HALF;
    s->chunk_bytes = small ? packed(s, nrows, row_bytes) : placed(s, nrows, row_bytes, job);
    void *p = NULL;
    if (posix_memalign(&p, small ? LINE : PAGE, (size_t)job->nchunks * s->chunk_bytes) != 0) {
        ag__fail(op, "out of memory for %d x %d scratch rows of %lld elements", job->nchunks,
                 nrows, (long long)job->D);
        return false;
    }
    s->base = p;
    return true;
}
