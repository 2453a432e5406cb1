/* nn/dist/transport_mpi.c — the transport over MPI (MPI 3: non-blocking
 * collectives on MPI_COMM_WORLD).
 *
 * MPI starts only when a launcher started this process (mpirun sets
 * OMPI_COMM_WORLD_SIZE, Hydra PMI_SIZE, PMIx PMIX_RANK); otherwise the
 * process is a world of one and no MPI call is made, so a program run by
 * hand needs no MPI daemon.
 *
 * Errors of MPI come back as codes (MPI_ERRORS_RETURN), and each becomes one
 * line and MPI_Abort; a wait that lasts longer than its timeout does the
 * same. MPI moves a non-blocking collective along only inside MPI calls, so
 * the wait polls MPI_Testall, sleeping between polls once the first
 * thousand found nothing (20 us, doubling up to 1 ms: a rank waiting for
 * another's evaluation leaves it the core). */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "transport.h"

struct ag__tp_req {
    int n;                 /* requests: big buffers go in pieces of int size */
    MPI_Request r[];
};

static bool started; /* MPI_Init_thread ran (a launcher started us) */
static int my_rank;

bool ag__tp_available(void) { return true; }

static bool launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static void die(const char *what, int code) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", code);
    fprintf(stderr, "ag: dist: rank %d: %s failed: %s; ending the job\n", my_rank, what, text);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1); /* not reached */
}

bool ag__tp_init(int *argc, char ***argv, int *rank, int *size) {
    *rank = 0;
    *size = 1;
    if (!launched_by_mpi()) return true;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "ag: dist: MPI_Init_thread failed\n");
        return false;
    }
    started = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    my_rank = *rank;
    return true;
}

void ag__tp_finalize(void) {
    if (started) MPI_Finalize();
    started = false;
}

/* A request of n pieces; NULL when there is nothing to do. */
static ag__tp_req *new_req(int64_t pieces) {
    ag__tp_req *q = malloc(sizeof *q + (size_t)pieces * sizeof(MPI_Request));
    if (!q) {
        fprintf(stderr, "ag: dist: rank %d: out of memory for a request\n", my_rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    q->n = (int)pieces;
    return q;
}

enum { PIECE = 1 << 30 }; /* elements or bytes per MPI call: fits an int */

ag__tp_req *ag__tp_sum_start(void *buf, int64_t n, bool f64) {
    if (!started || n <= 0) return NULL;
    const size_t es = f64 ? 8 : 4;
    ag__tp_req *q = new_req((n + PIECE - 1) / PIECE);
    for (int i = 0; i < q->n; i++) {
        const int64_t lo = (int64_t)i * PIECE, len = n - lo < PIECE ? n - lo : PIECE;
        const int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + lo * es, (int)len,
                                      f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                      &q->r[i]);
        if (rc != MPI_SUCCESS) die("MPI_Iallreduce", rc);
    }
    return q;
}

ag__tp_req *ag__tp_bcast_start(void *buf, size_t bytes, int root) {
    if (!started || bytes == 0) return NULL;
    ag__tp_req *q = new_req(((int64_t)bytes + PIECE - 1) / PIECE);
    for (int i = 0; i < q->n; i++) {
        const size_t lo = (size_t)i * PIECE, len = bytes - lo < PIECE ? bytes - lo : PIECE;
        const int rc = MPI_Ibcast((char *)buf + lo, (int)len, MPI_BYTE, root, MPI_COMM_WORLD,
                                  &q->r[i]);
        if (rc != MPI_SUCCESS) die("MPI_Ibcast", rc);
    }
    return q;
}

void ag__tp_progress(ag__tp_req *const *reqs, int n) {
    for (int i = 0; i < n; i++) {
        if (!reqs[i]) continue;
        int done = 0;
        const int rc = MPI_Testall(reqs[i]->n, reqs[i]->r, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) die("MPI_Testall", rc);
    }
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ag__tp_wait(ag__tp_req *q, double timeout, const char *what) {
    if (!q) return;
    const double t0 = seconds();
    long pause_ns = 20000; /* between polls, once polling alone found nothing */
    for (long polls = 0;; polls++) {
        int done = 0;
        const int rc = MPI_Testall(q->n, q->r, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) die(what, rc);
        if (done) break;
        if (polls > 1000) {
            if (seconds() - t0 > timeout) {
                fprintf(stderr, "ag: dist: rank %d: no answer from the other ranks after %.0f s "
                        "in %s; ending the job\n", my_rank, timeout, what);
                fflush(stderr);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            nanosleep(&(struct timespec){0, pause_ns}, NULL);
            if (pause_ns < 1000000) pause_ns *= 2; /* a long wait costs the others no CPU */
        }
    }
    free(q);
}
