/* core/gradcheck_suite.c — a gradient-check program from tables of cases
 * (ag/gradcheck_suite.h): its command line, the run and the report.
 *
 * The command line follows the programs' conventions: "--name VALUE",
 * "--name=VALUE" or "--flag"; -h/--help prints the options; anything else
 * is one line on stderr, "prog: --opt: what is wrong", and status 2.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck_suite_internal.h"
#include "internal.h"

#define MAX_ONLY 64
#define MAX_OPS 512

typedef struct {
    const char *prog;
    bool list, verbose, second; /* second: --second-order */
    unsigned long long seed;
    const char *only[MAX_ONLY];
    int nonly;
} options;

static int usage_error(const options *o, const char *opt, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int usage_error(const options *o, const char *opt, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (opt) fprintf(stderr, "%s: --%s: %s\n", o->prog, opt, msg);
    else fprintf(stderr, "%s: %s\n", o->prog, msg);
    return 2;
}

static void print_help(const options *o, const char *about) {
    printf("usage: %s [options]\n", o->prog);
    printf("%s", about ? about
                       : "Gradient checks of this program's ops and modules against central "
                         "finite differences in f64.\n");
    static const char *const lines[][2] = {
        {"--list", "name every case and exit"},
        {"--only NAME", "run the cases of one op or module (repeatable)"},
        {"--seed S", "seed for the inputs (default 1)"},
        {"--second-order", "check second derivatives (gradgradcheck) instead"},
        {"--verbose", "print the worst element of every input"},
        {"--help", "this text"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        printf("  %-22s%s\n", lines[i][0], lines[i][1]);
}

/* The whole of s as a number from 0 to 2^64-1. */
static bool parse_seed(const char *s, unsigned long long *v) {
    if (!(s[0] >= '0' && s[0] <= '9')) return false;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return !errno && *end == '\0';
}

/* name[0, len) is the option called want. */
static bool is(const char *name, size_t len, const char *want) {
    return len == strlen(want) && strncmp(name, want, len) == 0;
}

/* One option with its value (NULL when none was given). -1 to go on, else
 * the exit status. */
static int take(options *o, const char *name, size_t len, const char *val, bool has_eq,
                const char *arg) {
    static const char *const flags[] = {"list", "verbose", "second-order"};
    bool *const set[] = {&o->list, &o->verbose, &o->second};
    for (int f = 0; f < 3; f++)
        if (is(name, len, flags[f])) {
            if (has_eq) return usage_error(o, flags[f], "takes no value");
            *set[f] = true;
            return -1;
        }
    const bool seed = is(name, len, "seed");
    if (!seed && !is(name, len, "only"))
        return usage_error(o, NULL, "unknown option \"%s\" (see --help)", arg);
    const char *opt = seed ? "seed" : "only";
    if (!val) return usage_error(o, opt, "needs a value");
    if (seed) {
        if (!parse_seed(val, &o->seed))
            return usage_error(o, opt, "\"%s\" is not a whole number from 0 to 2^64-1", val);
        return -1;
    }
    if (!*val) return usage_error(o, opt, "the value is empty");
    if (o->nonly == MAX_ONLY) return usage_error(o, opt, "given more than %d times", MAX_ONLY);
    o->only[o->nonly++] = val;
    return -1;
}

/* -1 to go on, 0 after --help, 2 after an error. */
static int parse(options *o, const char *about, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(o, about);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return usage_error(o, NULL, "unexpected argument \"%s\" (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        const size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const bool flag =
            is(name, len, "list") || is(name, len, "verbose") || is(name, len, "second-order");
        const char *val = eq ? eq + 1 : NULL;
        if (!val && !flag && i + 1 < argc) val = argv[++i];
        const int rc = take(o, name, len, val, eq != NULL, a);
        if (rc >= 0) return rc;
    }
    return -1;
}

static bool selected(const options *o, const char *op) {
    if (o->nonly == 0) return true;
    for (int i = 0; i < o->nonly; i++)
        if (strcmp(op, o->only[i]) == 0) return true;
    return false;
}

/* Every --only names a case: -1, or 2 after the message. */
static int check_only(const options *o, const ag_gradcheck_suite *s) {
    for (int i = 0; i < o->nonly; i++) {
        bool found = false;
        for (int t = 0; t < s->ntables && !found; t++)
            for (int k = 0; k < s->tables[t].n && !found; k++)
                found = strcmp(s->tables[t].cases[k].op, o->only[i]) == 0;
        if (!found)
            return usage_error(o, "only", "no case is named \"%s\" (see --list)", o->only[i]);
    }
    return -1;
}

static bool valid(const ag_gradcheck_suite *s, int argc, char **argv) {
    if (!s || !argv || argc < 1 || (s->ntables > 0 && !s->tables) || s->ntables < 0) {
        ag__fail("gradcheck_main", "%s: expected a suite, argc >= 1 and argv, and a table "
                 "list", !s ? "suite is NULL" : !argv || argc < 1 ? "no argv" : "bad table list");
        return false;
    }
    for (int i = 0; i < argc; i++)
        if (!argv[i]) {
            ag__fail("gradcheck_main", "argv[%d] is NULL with argc %d: expected argc strings",
                     i, argc);
            return false;
        }
    for (int t = 0; t < s->ntables; t++) {
        const ag_gc_table *tb = &s->tables[t];
        if (tb->n < 0 || (tb->n > 0 && !tb->cases)) {
            ag__fail("gradcheck_main", "table %d: %d cases%s: expected n >= 0 cases", t, tb->n,
                     tb->cases ? "" : " in a NULL array");
            return false;
        }
        for (int k = 0; k < tb->n; k++)
            if (!tb->cases[k].op || !tb->cases[k].shapes ||
                (!tb->cases[k].fn && !tb->cases[k].f)) {
                ag__fail("gradcheck_main", "table %d, case %d: expected an op name, shapes and "
                         "a function", t, k);
                return false;
            }
    }
    return true;
}

/* A case whose function reports fails with that message instead of
 * aborting the whole run. */
static void keep_going(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
}

/* A case's short-form function f as an ag_gradcheck_fn (userdata: the case). */
static ag_tensor *call_short(ag_arena *A, ag_tensor *const *inputs, int n, void *the_case) {
    (void)n;
    return ((const ag_gc_case *)the_case)->f(A, inputs);
}

/* Runs case k (the index-th of the suite); prints its row. */
static bool run_case(const ag_gc_case *k, int index, const options *o) {
    const ag_gradcheck_fn fn = k->fn ? k->fn : call_short;
    void *const ud = k->fn ? k->userdata : (void *)k;
    ag_arena *A = ag_arena_new_(0);
    ag_rng r;
    ag_rng_seed(&r, o->seed * 1000003ull + (unsigned long long)index);
    ag_tensor *in[AG_GRADCHECK_MAX_INPUTS] = {0};
    ag_clear_error();
    const int n = A ? ag__gc_make_inputs(k, A, &r, in) : 0;
    ag_gradcheck_result res = {0};
    const bool ok = n > 0 && ag_error_count() == 0 &&
                    (o->second ? ag_gradgradcheck_(fn, n, in, ud, &k->opts, &res)
                               : ag_gradcheck_(fn, n, in, ud, &k->opts, &res)) &&
                    ag_error_count() == 0;
    printf("%-24s %-34s %11.3e %11.3e  %s\n", k->op, k->shapes, res.max_abs_err,
           res.max_rel_err, ok ? "pass" : "FAIL");
    if (!ok) {
        const char *why = ag_error_count() ? ag_last_error() : res.message;
        printf("    %s\n", why[0] ? why : "inputs could not be made");
    }
    if (o->verbose || !ok) ag_gradcheck_print(stdout, &res, in);
    ag_arena_free(A);
    return ok;
}

int ag_gradcheck_suite_main_(const ag_gradcheck_suite *s, int argc, char **argv) {
    if (!valid(s, argc, argv)) return 2;
    options o = {.seed = 1};
    if (s->prog) o.prog = s->prog;
    else {
        const char *slash = strrchr(argv[0], '/');
        o.prog = slash ? slash + 1 : argv[0];
    }
    int rc = parse(&o, s->about, argc, argv);
    if (rc < 0) rc = check_only(&o, s);
    if (rc >= 0) return rc;

    const char *ops_seen[MAX_OPS];
    int nops = 0, passed = 0, failed = 0, index = 0;
    if (!o.list)
        printf("%-24s %-34s %11s %11s  %s\n", "op", "shapes", "max abs", "max rel", "result");
    const ag_error_handler before = ag_set_thread_error_handler(keep_going, NULL);
    for (int t = 0; t < s->ntables; t++) {
        for (int i = 0; i < s->tables[t].n; i++, index++) {
            const ag_gc_case *k = &s->tables[t].cases[i];
            if (!selected(&o, k->op) || (o.second && k->first_order_only)) continue;
            bool seen = false;
            for (int j = 0; j < nops; j++) seen = seen || strcmp(ops_seen[j], k->op) == 0;
            if (!seen && nops < MAX_OPS) ops_seen[nops++] = k->op;
            if (o.list) printf("%-24s %s\n", k->op, k->shapes);
            else if (run_case(k, index, &o)) passed++;
            else failed++;
        }
    }
    ag_set_thread_error_handler(before, NULL);
    ag_clear_error();
    if (o.list) {
        printf("%d ops and modules\n", nops);
        return 0;
    }
    printf("ops and modules checked%s: %d\n", o.second ? " at second order" : "", nops);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int ag_gradcheck_main_(int argc, char **argv, const ag_gc_case *cases, int ncases) {
    const ag_gc_table table = {cases, ncases};
    const ag_gradcheck_suite s = {.tables = &table, .ntables = 1};
    return ag_gradcheck_suite_main_(&s, argc, argv);
}
