/* demos/common/demo_opts.h — the one strict option parser of the programs.
 * Not part of the library.
 *
 * A program describes its long options in a table; ag_demo_opts_parse()
 * reads argv against it: "--name VALUE", "--name=VALUE" or "--flag";
 * "-h"/"--help" print the table. Numbers must be the whole argument (no
 * trailing junk, no overflow) and inside the option's range; strings must
 * be non-empty (and one of the choices when there are choices). Unknown
 * options and positional arguments are refused. Every error is one line on
 * stderr, "prog: --steps: "5x" is not a whole number", and exit status 2. */
#ifndef AG_DEMO_OPTS_H
#define AG_DEMO_OPTS_H

#include <stdbool.h>
#include <stdint.h>

enum { AG_DEMO_MAX_SHAPES = 16, AG_DEMO_MAX_STRINGS = 64 };

typedef enum {
    AG_DEMO_INT,     /* int *; whole number in [lo, hi] */
    AG_DEMO_INT64,   /* int64_t *; whole number in [lo, hi] */
    AG_DEMO_SEED,    /* unsigned long long *; any whole number 0 .. 2^64-1 */
    AG_DEMO_DOUBLE,  /* double *; finite, in [lo, hi] ((lo, hi] with open_lo) */
    AG_DEMO_STRING,  /* const char **; non-empty, one of choices when set */
    AG_DEMO_STRINGS, /* ag_demo_strings *; repeatable string */
    AG_DEMO_FLAG,    /* bool *; set to true, takes no value */
    AG_DEMO_SHAPES,  /* ag_demo_shapes *; "RxD,RxD,..." with 1 <= R*D <= hi */
} ag_demo_opt_type;

/* The values of a repeatable string option, in the order given. */
typedef struct {
    const char *v[AG_DEMO_MAX_STRINGS];
    int n;
} ag_demo_strings;

/* A list of rows x dim shapes. */
typedef struct {
    int64_t rows[AG_DEMO_MAX_SHAPES], dim[AG_DEMO_MAX_SHAPES];
    int n;
} ag_demo_shapes;

typedef struct {
    const char *name;            /* long name without the "--" */
    ag_demo_opt_type type;
    void *value;                 /* where the value goes (see the type); holds the default */
    double lo, hi;               /* the range of numbers (for SHAPES: hi bounds R*D) */
    bool open_lo;                /* DOUBLE: lo itself is refused */
    const char *const *choices;  /* STRING: NULL-terminated allowed values, or NULL */
    const char *arg;             /* the value's name in --help ("N"), NULL for flags */
    const char *help;            /* the rest of the --help line; '\n' starts an indented line */
    bool *given;                 /* set to true when the option appears, or NULL */
} ag_demo_opt;

typedef struct {
    const char *prog;            /* the program's name, first word of every message */
    const char *about;           /* lines printed after "usage: prog [options]", or NULL */
    const ag_demo_opt *opts;
    int nopts;
} ag_demo_cmd;

/* Parses argv[1..argc) into the table's pointers. Returns -1 to go on, 0
 * after --help was printed on stdout, 2 after a one-line error on stderr
 * (the values already parsed are then meaningless). */
int ag_demo_opts_parse(const ag_demo_cmd *cmd, int argc, char **argv);

/* Prints "prog: --opt: <message>" on stderr (without "--opt: " when opt is
 * NULL) and returns 2: for the checks a program makes across options. */
int ag_demo_opts_fail(const ag_demo_cmd *cmd, const char *opt, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The whole string s as a finite double; false (v untouched) for junk. */
bool ag_demo_parse_double(const char *s, double *v);

#endif
