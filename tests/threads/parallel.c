/* tests/threads/parallel.c — ag__parallel_for, the one way kernels reach
 * OpenMP threads: every index of [0, n) is visited exactly once, a parallel
 * run splits the range as schedule(static) does, and a serial run enters no
 * OpenMP construct (the body sees no parallel region, not even an inactive
 * one: omp_get_level() counts those too).
 *
 * This file is not built with OpenMP: it reaches the runtime ag links
 * through weak references, which stay NULL in a build without OpenMP (the
 * tsan preset); then only the serial cases run. */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"
#include "threads_test.h"

extern int omp_get_max_threads(void) __attribute__((weak));
extern void omp_set_num_threads(int n) __attribute__((weak));
extern int omp_in_parallel(void) __attribute__((weak));
extern int omp_get_level(void) __attribute__((weak));
extern int omp_get_thread_num(void) __attribute__((weak));
extern int omp_get_num_threads(void) __attribute__((weak));

static bool have_omp(void) {
    return omp_get_max_threads && omp_set_num_threads && omp_in_parallel && omp_get_level &&
           omp_get_thread_num && omp_get_num_threads;
}

enum { MAX_CALLS = 16 };

/* What the body saw: a count per index, and per call its range, thread and
 * the OpenMP state around it. The bodies get a pointer to a seen * as ctx. */
typedef struct seen {
    atomic_int *visits;
    atomic_int ncalls;
    struct {
        int64_t lo, hi;
        int thread, team, level, in_parallel;
    } call[MAX_CALLS];
} seen;

static void record(const void *ctx, int64_t lo, int64_t hi) {
    seen *s = *(seen *const *)ctx;
    for (int64_t i = lo; i < hi; i++) atomic_fetch_add(&s->visits[i], 1);
    const int c = atomic_fetch_add(&s->ncalls, 1);
    if (c >= MAX_CALLS) return;
    s->call[c].lo = lo, s->call[c].hi = hi;
    s->call[c].thread = have_omp() ? omp_get_thread_num() : 0;
    s->call[c].team = have_omp() ? omp_get_num_threads() : 1;
    s->call[c].level = have_omp() ? omp_get_level() : 0;
    s->call[c].in_parallel = have_omp() ? omp_in_parallel() : 0;
}

static const int64_t SIZES[] = {0, 1, 2, 7, 1000, 100003};

/* Runs ag__parallel_for(n, par, record) and checks each index was visited
 * once; s holds the calls for the caller's own checks. */
static void run_once(seen *s, int64_t n, bool par) {
    s->visits = calloc((size_t)n + 1, sizeof *s->visits);
    ck_assert_ptr_nonnull(s->visits);
    atomic_store(&s->ncalls, 0);
    ag__parallel_for(n, par, record, &s);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(atomic_load(&s->visits[i]) == 1, "n %lld par %d: index %lld visited %d times",
                      (long long)n, (int)par, (long long)i, atomic_load(&s->visits[i]));
    free(s->visits);
    ck_assert_int_le(atomic_load(&s->ncalls), MAX_CALLS);
}

/* A serial run: one call over the whole range (none for n = 0), outside any
 * parallel region. */
static void check_serial(const seen *s, int64_t n) {
    ck_assert_int_eq(atomic_load(&s->ncalls), n > 0 ? 1 : 0);
    if (n == 0) return;
    ck_assert_int_eq(s->call[0].lo, 0);
    ck_assert_int_eq(s->call[0].hi, n);
    ck_assert_int_eq(s->call[0].level, 0);
    ck_assert_int_eq(s->call[0].in_parallel, 0);
}

START_TEST(serial_runs_visit_each_index_once_outside_openmp) {
    /* par false at any thread count, and par true on one thread */
    const int threads[] = {1, 2};
    for (int t = 0; t < (have_omp() ? 2 : 1); t++) {
        if (have_omp()) omp_set_num_threads(threads[t]);
        for (size_t k = 0; k < sizeof SIZES / sizeof SIZES[0]; k++) {
            seen s;
            run_once(&s, SIZES[k], false);
            check_serial(&s, SIZES[k]);
            if (threads[t] == 1) {
                run_once(&s, SIZES[k], true);
                check_serial(&s, SIZES[k]);
            }
        }
    }
}
END_TEST

/* Thread i of T takes q + 1 indices when i < n % T and q = n / T otherwise,
 * in order: [i q + min(i, r), ... ) with r = n % T. */
static void expected_chunk(int64_t n, int T, int i, int64_t *lo, int64_t *hi) {
    const int64_t q = n / T, r = n % T;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + (i < r ? q + 1 : q);
}

START_TEST(parallel_runs_split_as_static_schedule) {
    if (!have_omp()) return; /* a build without OpenMP: only the serial case applies */
    omp_set_num_threads(2);
    for (size_t k = 0; k < sizeof SIZES / sizeof SIZES[0]; k++) {
        const int64_t n = SIZES[k];
        seen s;
        run_once(&s, n, true);
        if (n < 2) { /* nothing to share: serial */
            check_serial(&s, n);
            continue;
        }
        ck_assert_int_eq(atomic_load(&s.ncalls), 2); /* both threads have work */
        bool thread_seen[2] = {false, false};
        for (int c = 0; c < 2; c++) {
            const int i = s.call[c].thread;
            ck_assert(i == 0 || i == 1);
            ck_assert(!thread_seen[i]);
            thread_seen[i] = true;
            ck_assert_int_eq(s.call[c].team, 2);
            ck_assert_int_eq(s.call[c].level, 1);
            ck_assert_int_eq(s.call[c].in_parallel, 1);
            int64_t lo, hi;
            expected_chunk(n, 2, i, &lo, &hi);
            ck_assert_int_eq(s.call[c].lo, lo);
            ck_assert_int_eq(s.call[c].hi, hi);
        }
    }
}
END_TEST

/* ag__static_chunk against the formula for more threads than two, and n
 * smaller than the team: the chunks tile [0, n) in thread order. */
START_TEST(static_chunks_tile_the_range) {
    const int teams[] = {1, 2, 3, 8};
    for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++)
        for (size_t k = 0; k < sizeof SIZES / sizeof SIZES[0]; k++) {
            const int64_t n = SIZES[k];
            int64_t end = 0;
            for (int i = 0; i < teams[t]; i++) {
                int64_t lo, hi, elo, ehi;
                ag__static_chunk(n, teams[t], i, &lo, &hi);
                expected_chunk(n, teams[t], i, &elo, &ehi);
                ck_assert_int_eq(lo, elo);
                ck_assert_int_eq(hi, ehi);
                ck_assert_int_eq(lo, end);
                end = hi;
            }
            ck_assert_int_eq(end, n);
        }
}
END_TEST

/* A loop run from inside a parallel loop's body is serial: one call, at the
 * outer region's level, no nested region. */
typedef struct nested {
    seen inner[2];
    int64_t n;
} nested;

static void run_inner(const void *ctx, int64_t lo, int64_t hi) {
    nested *w = *(nested *const *)ctx;
    (void)lo, (void)hi;
    seen *s = &w->inner[omp_get_thread_num()];
    atomic_store(&s->ncalls, 0);
    ag__parallel_for(w->n, true, record, &s);
}

START_TEST(inside_a_parallel_region_runs_serially) {
    if (!have_omp()) return;
    omp_set_num_threads(2);
    nested w = {.n = 1000};
    for (int i = 0; i < 2; i++) {
        w.inner[i].visits = calloc((size_t)w.n, sizeof *w.inner[i].visits);
        ck_assert_ptr_nonnull(w.inner[i].visits);
    }
    nested *wp = &w;
    ag__parallel_for(2, true, run_inner, &wp);
    for (int i = 0; i < 2; i++) {
        const seen *s = &w.inner[i];
        ck_assert_int_eq(atomic_load(&s->ncalls), 1);
        ck_assert_int_eq(s->call[0].lo, 0);
        ck_assert_int_eq(s->call[0].hi, w.n);
        ck_assert_int_eq(s->call[0].level, 1); /* the outer region's, no nested one */
        ck_assert_int_eq(s->call[0].team, 2);
        for (int64_t k = 0; k < w.n; k++) ck_assert_int_eq(atomic_load(&s->visits[k]), 1);
        free(w.inner[i].visits);
    }
}
END_TEST

TCase *threads_parallel_tcase(void) {
    TCase *tc = tcase_create("parallel_for");
    tcase_add_test(tc, serial_runs_visit_each_index_once_outside_openmp);
    tcase_add_test(tc, parallel_runs_split_as_static_schedule);
    tcase_add_test(tc, static_chunks_tile_the_range);
    tcase_add_test(tc, inside_a_parallel_region_runs_serially);
    return tc;
}
