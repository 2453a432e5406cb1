/* demos/common/demo.h — what the demo programs share: output folders and
 * timing. (Options: demo_opts.h; plots: the library's ag/plot.h.) Not part
 * of the library. */
#ifndef AG_DEMO_H
#define AG_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* mkdir -p; false (with errno set) on failure, ENOENT for "". */
bool ag_demo_make_dirs(const char *path);

/* Whether path is a writable directory or ag_demo_make_dirs(path) can create
 * it (it is created, then the folders made are removed again); false with
 * errno set otherwise. */
bool ag_demo_dir_usable(const char *path);

/* dir/name opened for writing; on failure prints "prog: cannot write ..."
 * and returns NULL. */
FILE *ag_demo_open(const char *prog, const char *dir, const char *name);

/* Seconds on a monotonic clock. */
double ag_demo_now(void);

/* The median of t[0..n) (n >= 1); sorts t. */
double ag_demo_median(double *t, int n);

/* Sets ag's threads (its OpenMP team) to n; ag runs OpenBLAS on the threads
 * of that team, one gemm per thread. */
void ag_demo_set_threads(int n);

#endif
