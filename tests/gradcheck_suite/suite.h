/* tests/gradcheck_suite/suite.h — the table of gradient-check cases of
 * ag-gradcheck, written with the library's suite API (ag/gradcheck_suite.h)
 * under the short names the case files use.
 *
 * Each area has a file cases_<area>.c exporting one array and its length
 * (main.c lists them). Inputs are f64 leaves; the ones that require a
 * gradient are checked. */
#ifndef AG_GRADCHECK_SUITE_TEST_H
#define AG_GRADCHECK_SUITE_TEST_H

#include <ag/ag.h>

typedef ag_gc_case gc_case;

/* A case from a spec:  GC_CASE("add", "[2,3] + [3]", f_add, GC_N(2, 3), GC_N(3))
 * Cases with a make function or options use designated initializers:
 *   {.op = "max", .shapes = "...", .fn = f_max, .make = make_apart}  */
#define GC_CASE AG_GC_CASE
#define GC_N0 AG_GC_N0
#define GC_N AG_GC_N
#define GC_C AG_GC_C
#define GC_U AG_GC_U
#define GC_AWAY_FROM AG_GC_AWAY_FROM
#define GC_IDS_BELOW AG_GC_IDS_BELOW
#define GC_COUNT_ AG_GC_COUNT_

/* The input makers for make functions. */
#define gc_randn ag_gc_randn
#define gc_uniform ag_gc_uniform
#define gc_randn_away ag_gc_randn_away
#define gc_ids ag_gc_ids
#define gc_const ag_gc_const

/* A case list: cases_<area>.c defines  const gc_case gc_<area>[]  and
 *   const int gc_<area>_count = sizeof gc_<area> / sizeof gc_<area>[0];  */
#define GC_DECLARE(area)               \
    extern const gc_case gc_##area[]; \
    extern const int gc_##area##_count

#endif
