/* nn/dist/transport.h — how ag_dist talks to the other ranks; not installed.
 *
 * Two implementations: transport_mpi.c (Open MPI, or any MPI 3) and
 * transport_solo.c (a world of one, when the library is built without MPI).
 * dist.c knows only this interface.
 *
 * Every collective is started non-blocking and finished by ag__tp_wait,
 * which gives up after a timeout: then, and on any error of MPI, the rank
 * prints one "ag: dist: rank R: ..." line to stderr and ends the job, since
 * the other ranks cannot go on without it. */
#ifndef AG_DIST_TRANSPORT_H
#define AG_DIST_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A collective in flight. */
typedef struct ag__tp_req ag__tp_req;

/* Starts the transport; *rank and *size tell where this process stands.
 * Returns false after printing why. */
bool ag__tp_init(int *argc, char ***argv, int *rank, int *size);
void ag__tp_finalize(void);
bool ag__tp_available(void);

/* In-place sum of n floats (f64 when f64, else f32) over every rank. */
ag__tp_req *ag__tp_sum_start(void *buf, int64_t n, bool f64);
/* bytes of buf copied from rank root to every rank. */
ag__tp_req *ag__tp_bcast_start(void *buf, size_t bytes, int root);
/* Lets MPI move requests along (called between pieces of backward). */
void ag__tp_progress(ag__tp_req *const *reqs, int n);
/* Waits for r (NULL: nothing to wait for) and frees it; what names the
 * collective in the timeout message. */
void ag__tp_wait(ag__tp_req *r, double timeout, const char *what);

#endif
