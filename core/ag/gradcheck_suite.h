/* ag/gradcheck_suite.h — a gradient-check program from a table of cases.
 *
 * The machinery of ag-gradcheck, for a program's own ops and modules. Each
 * case names what it checks, describes its shapes for the report, says how
 * its inputs are made and gives the function to check (an ag_gradcheck_fn,
 * ag/gradcheck.h); ag_gradcheck_main turns a table of them into a command:
 *
 *   static ag_tensor *f_cube(ag_arena *A, ag_tensor *const *x, int n, void *u) {
 *       (void)n, (void)u;
 *       return cube(A, x[0]);
 *   }
 *   static const ag_gc_case cases[] = {
 *       AG_GC_CASE("cube", "[2,3]", f_cube, AG_GC_N(2, 3)),
 *       AG_GC_CASE("cube", "[] (0-d)", f_cube, AG_GC_N0),
 *   };
 *   int main(int argc, char **argv) {
 *       return ag_gradcheck_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
 *   }
 *
 *   $ ./mycheck [--list] [--only NAME]... [--seed S] [--second-order] [--verbose] [--help]
 *   op                       shapes                                 max abs     max rel  result
 *   cube                     [2,3]                                3.112e-10   2.540e-10  pass
 *   ...
 *   2 passed, 0 failed
 *
 * Each case runs in an arena of its own, with its inputs drawn from a
 * generator seeded from --seed and the case's position in the table (so a
 * case sees the same inputs whatever --only selects). A case whose function
 * reports an error fails with that message instead of stopping the program.
 * With --second-order every case not marked first_order_only is checked by
 * ag_gradgradcheck instead (its second derivatives), and --list lists
 * those. A failing case prints its message and the worst element of each input
 * (--verbose prints those for every case). The exit status is 0 when every
 * case selected passed, 1 when one failed, 2 for a bad command line (one
 * line on stderr: "prog: --only: no case is named "x" (see --list)").
 */
#ifndef AG_GRADCHECK_SUITE_H
#define AG_GRADCHECK_SUITE_H

#include "gradcheck.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How one input of a case is made (the declarative alternative to a make
 * function). Inputs are f64 leaves; those that require a gradient are
 * checked. */
typedef enum {
    AG_GC_END,     /* marks the end of the list (a zeroed entry) */
    AG_GC_RANDN,   /* normal(0, 1), requires grad */
    AG_GC_UNIFORM, /* uniform in [lo, hi), requires grad */
    AG_GC_AWAY,    /* normal(0, 1) kept at least hi away from the kink lo, requires grad */
    AG_GC_IDS,     /* i32 ids in [0, hi), no gradient */
    AG_GC_CONST,   /* normal(0, 1), no gradient */
} ag_gc_kind;

typedef struct ag_gc_input {
    ag_gc_kind kind;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    double lo, hi;
} ag_gc_input;

/* At most this many inputs in a spec (a make function may make up to
 * AG_GRADCHECK_MAX_INPUTS). */
#define AG_GC_MAX_SPEC 6

typedef struct ag_gc_case {
    const char *op;     /* what is checked; --only NAME matches it exactly */
    const char *shapes; /* for the table: "[2,3] + [3]" */
    ag_gradcheck_fn fn;
    /* The inputs: a spec (make NULL), or a function that fills inputs[] (at
     * most AG_GRADCHECK_MAX_INPUTS) in A from r and returns how many it made
     * (0 or less: it failed). */
    ag_gc_input in[AG_GC_MAX_SPEC];
    int (*make)(ag_arena *A, ag_rng *r, ag_tensor **inputs);
    void *userdata;         /* passed to fn */
    ag_gradcheck_opts opts; /* zero: PyTorch's defaults */
    /* Left out of --second-order, which runs ag_gradgradcheck on every other
     * case: set where the function is not twice differentiable at the
     * case's inputs (say why in a comment), or has 16 inputs. */
    bool first_order_only;
    /* The short form of fn, for a function of the inputs alone (no n, no
     * userdata), used when fn is NULL:
     *   static ag_tensor *f(ag_arena *A, ag_tensor *const *x) { return my_op(A, x[0], x[1]); }
     *   {.op = "my_op", .shapes = "[3,5] + [5]", .f = f, .in = {AG_GC_N(3, 5), AG_GC_N(5)}} */
    ag_tensor *(*f)(ag_arena *A, ag_tensor *const *inputs);
} ag_gc_case;

/* A case from a spec:
 *   AG_GC_CASE("add", "[2,3] + [3]", f_add, AG_GC_N(2, 3), AG_GC_N(3))
 * Cases with a make function, userdata or options use designated
 * initializers:  {.op = "max", .shapes = "[4]", .fn = f_max, .make = make_apart}  */
#define AG_GC_CASE(OP, SHAPES, FN, ...) \
    {.op = (OP), .shapes = (SHAPES), .fn = (FN), .in = {__VA_ARGS__}}
/* The same with the short form f:
 *   AG_GC_CASE_F("my_op", "[3,5] + [5]", f, AG_GC_N(3, 5), AG_GC_N(5))  */
#define AG_GC_CASE_F(OP, SHAPES, F, ...) \
    {.op = (OP), .shapes = (SHAPES), .in = {__VA_ARGS__}, .f = (F)}

/* Spec entries: AG_GC_N(2, 3) is a [2,3] normal input and AG_GC_N0 a 0-d
 * one; AG_GC_C a constant (no gradient); AG_GC_U(lo, hi, dims) uniform;
 * AG_GC_AWAY_FROM(kink, gap, dims) normal, at least gap from kink;
 * AG_GC_IDS_BELOW(n, dims) i32 ids in [0, n). */
#define AG_GC_N0 {AG_GC_RANDN, 0, {0}, 0, 0}
#define AG_GC_COUNT_(...) (int)(sizeof((int64_t[]){0, __VA_ARGS__}) / sizeof(int64_t) - 1)
#define AG_GC_N(...) {AG_GC_RANDN, AG_GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, 0, 0}
#define AG_GC_C(...) {AG_GC_CONST, AG_GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, 0, 0}
#define AG_GC_U(lo, hi, ...) {AG_GC_UNIFORM, AG_GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, lo, hi}
#define AG_GC_AWAY_FROM(kink, gap, ...) \
    {AG_GC_AWAY, AG_GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, kink, gap}
#define AG_GC_IDS_BELOW(n, ...) {AG_GC_IDS, AG_GC_COUNT_(__VA_ARGS__), {__VA_ARGS__}, 0, n}

/* ---- input makers, for make functions -------------------------------------
 * Each returns a new tensor in A drawn from r, or NULL after reporting a bad
 * shape, a NULL A or r (or bad bounds). */

/* f64 normal(0, 1), requires grad */
ag_tensor *ag_gc_randn_(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape);
/* f64 uniform in [lo, hi), requires grad */
ag_tensor *ag_gc_uniform_(ag_arena *A, ag_rng *r, double lo, double hi, int ndim,
                          const int64_t *shape);
/* f64 normal(0, 1) with every entry kept at least gap away from each of
 * kinks[0..nk-1] (ops with a kink: relu, abs, max ...), so that finite
 * differences do not straddle one; requires grad. */
ag_tensor *ag_gc_randn_away_(ag_arena *A, ag_rng *r, double gap, int nk, const double *kinks,
                             int ndim, const int64_t *shape);
/* i32 ids in [0, n), 1 <= n <= 2^31 (what an i32 holds); no gradient */
ag_tensor *ag_gc_ids_(ag_arena *A, ag_rng *r, int64_t n, int ndim, const int64_t *shape);
/* f64 normal(0, 1), no gradient (a constant the checked function uses) */
ag_tensor *ag_gc_const_(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape);
#define ag_gc_randn(...) AG_AT(ag_gc_randn_, __VA_ARGS__)
#define ag_gc_uniform(...) AG_AT(ag_gc_uniform_, __VA_ARGS__)
#define ag_gc_randn_away(...) AG_AT(ag_gc_randn_away_, __VA_ARGS__)
#define ag_gc_ids(...) AG_AT(ag_gc_ids_, __VA_ARGS__)
#define ag_gc_const(...) AG_AT(ag_gc_const_, __VA_ARGS__)

/* ---- the program ------------------------------------------------------------ */

/* One table of cases; a suite may hold several (one per family of ops). */
typedef struct ag_gc_table {
    const ag_gc_case *cases;
    int n;
} ag_gc_table;

typedef struct ag_gradcheck_suite {
    const char *prog;  /* the name in messages and --help; NULL: argv[0]'s base name */
    const char *about; /* --help's lines after the usage line; NULL: a default */
    const ag_gc_table *tables;
    int ntables;
} ag_gradcheck_suite;

/* Parses the command line (--list, --only NAME (repeatable), --seed S,
 * --verbose, --help), runs the selected cases of every table in order and
 * prints the table and the closing "N passed, M failed" line on stdout.
 * Returns the exit status (above): main returns it. While the cases run,
 * the calling thread's error handler is one that returns (put back to the
 * thread's previous handler, with NULL userdata, at the end). Reported (and
 * 2 returned): a NULL suite or argv, argc < 1, a NULL argv[i] with i < argc,
 * a table with n < 0 or NULL cases, a case without op, shapes or a function
 * (fn or f). A case whose inputs cannot be made fails with the report that
 * says why (a spec entry of no ag_gc_kind, AG_GC_IDS with hi outside
 * [1, 2^31], a bad shape or bound). */
int ag_gradcheck_suite_main_(const ag_gradcheck_suite *s, int argc, char **argv);
#define ag_gradcheck_suite_main(...) AG_AT_INT(ag_gradcheck_suite_main_, __VA_ARGS__)

/* The same for one table, named after argv[0]. */
int ag_gradcheck_main_(int argc, char **argv, const ag_gc_case *cases, int ncases);
#define ag_gradcheck_main(...) AG_AT_INT(ag_gradcheck_main_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
