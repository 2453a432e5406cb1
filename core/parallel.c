/* core/parallel.c — the one place kernels go onto OpenMP threads.
 *
 * libgomp enters a parallel region for `#pragma omp parallel for if (c)`
 * even when c is false or the team has one thread, and each region costs a
 * team allocation and a wake-up at its end (about a microsecond; a training
 * step of small ops runs dozens). ag__parallel_for decides first and enters
 * no OpenMP construct at all when the loop runs serially: then it is one
 * call of the body over the whole range, a plain loop the compiler
 * vectorizes as before.
 *
 * The parallel path splits [0, n) as schedule(static) without a chunk size
 * does: with q = n / T and t = n % T over T threads, thread i takes q + 1
 * indices when i < t and q otherwise, in order. A kernel whose result
 * depends on the split (none should) gives the same value as it did under
 * `omp parallel for schedule(static)`. */
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void ag__static_chunk(int64_t n, int nthreads, int i, int64_t *lo, int64_t *hi) {
    const int64_t q = n / nthreads, t = n % nthreads;
    *lo = q * i + (i < t ? i : t);
    *hi = *lo + q + (i < t);
}

void ag__parallel_for(int64_t n, bool par, ag__range_fn body, const void *ctx) {
    if (n <= 0) return;
#ifdef _OPENMP
    if (par && n > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel
        {
            int64_t lo, hi;
            ag__static_chunk(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            if (lo < hi) body(ctx, lo, hi);
        }
        return;
    }
#else
    (void)par;
#endif
    body(ctx, 0, n);
}
