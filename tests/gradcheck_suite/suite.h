/* tests/gradcheck_suite/suite.h — the table of gradient-check cases.
 *
 * A case names the op (or module) it checks, describes its shapes for the
 * report, makes its inputs, and gives the function to check. Each area has a
 * file cases_<area>.c exporting one array and its length (see main.c for the
 * list). Inputs are f64 leaves; the ones that require a gradient are checked.
 */
#ifndef AG_GRADCHECK_SUITE_H
#define AG_GRADCHECK_SUITE_H

#include <ag/ag.h>

/* How one input is made (a declarative alternative to a make function). */
typedef enum {
    GC_END,     /* marks the end of the list */
    GC_RANDN,   /* normal(0, 1), requires grad */
    GC_UNIFORM, /* uniform in [lo, hi), requires grad */
    GC_AWAY,    /* normal(0, 1) kept at least hi away from the kink lo, requires grad */
    GC_IDS,     /* i32 ids in [0, hi) */
    GC_CONST,   /* normal(0, 1), no gradient */
} gc_kind;

typedef struct gc_input {
    gc_kind kind;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    double lo, hi;
} gc_input;

#define GC_MAX_SPEC 6

typedef struct gc_case {
    const char *op;     /* what is checked; --only NAME matches it exactly */
    const char *shapes; /* for the table: "[2,3] + [3]" */
    ag_gradcheck_fn fn;
    /* The inputs: either a spec (make NULL) or a function that fills
     * inputs[] (at most AG_GRADCHECK_MAX_INPUTS) in A from r and returns how
     * many it made. */
    gc_input in[GC_MAX_SPEC];
    int (*make)(ag_arena *A, ag_rng *r, ag_tensor **inputs);
    void *userdata;
    ag_gradcheck_opts opts; /* zero: PyTorch's defaults */
} gc_case;

/* A case from a spec:  GC_CASE("add", "[2,3] + [3]", f_add, GC_N(2, 3), GC_N(3))
 * Cases with a make function or options use designated initializers:
 *   {.op = "max", .shapes = "...", .fn = f_max, .make = make_apart}  */
#define GC_CASE(OP, SHAPES, FN, ...) {.op = (OP), .shapes = (SHAPES), .fn = (FN), .in = {__VA_ARGS__}}

/* Spec entries: GC_N(2, 3) is a [2,3] normal input, GC_N0 a 0-d one. */
#define GC_N0 {GC_RANDN, 0, {0}, 0, 0}
#define GC_COUNT_(...) (int)(sizeof((int64_t[]){0, __VA_ARGS__}) / sizeof(int64_t) - 1)
#define GC_N(...) {GC_RANDN, GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, 0, 0}
#define GC_C(...) {GC_CONST, GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, 0, 0}
#define GC_U(lo, hi, ...) {GC_UNIFORM, GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, lo, hi}
#define GC_AWAY_FROM(kink, gap, ...) {GC_AWAY, GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, kink, gap}
#define GC_IDS_BELOW(n, ...) {GC_IDS, GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, 0, n}

/* A case list: cases_<area>.c defines  const gc_case gc_<area>[]  and
 *   const int gc_<area>_count = sizeof gc_<area> / sizeof gc_<area>[0];  */
#define GC_DECLARE(area)               \
    extern const gc_case gc_##area[]; \
    extern const int gc_##area##_count

/* Makes the inputs of case k (from its spec or its make function). */
int gc_make_inputs(const gc_case *k, ag_arena *A, ag_rng *r, ag_tensor **inputs);

/* Input makers for cases: f64 leaves requiring a gradient. */
/* normal(0, 1) entries */
ag_tensor *gc_randn(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape);
/* uniform in [lo, hi) */
ag_tensor *gc_uniform(ag_arena *A, ag_rng *r, double lo, double hi, int ndim,
                      const int64_t *shape);
/* normal entries kept at least gap away from every value in kinks[0..nk-1]
 * (for ops with a kink: relu, abs, max ...), so finite differences do not
 * straddle it. */
ag_tensor *gc_randn_away(ag_arena *A, ag_rng *r, double gap, int nk, const double *kinks,
                         int ndim, const int64_t *shape);
/* i32 ids in [0, n) — no gradient */
ag_tensor *gc_ids(ag_arena *A, ag_rng *r, int64_t n, int ndim, const int64_t *shape);
/* A constant f64 input that takes no gradient (checked functions may use it). */
ag_tensor *gc_const(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape);

#endif
