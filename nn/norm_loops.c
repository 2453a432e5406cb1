/* nn/norm_loops.c — the portable row loops of the fused RMSNorm and
 * LayerNorm (forward and backward), for f32 and f64: plain C loops that the
 * compiler vectorizes. nn/norm_ops.c explains the numerics and how the rows
 * are run; nn/norm_loops_t.h holds the loops, written once for an element
 * type T and instantiated below for float and double. */
#include <stdint.h>

#include "internal.h"

#include "ag/norm_ops.h"
#include "norm_job.h"

enum { LANES = AG__NORM_LANES, TILE = AG__NORM_TILE };

/* Row sums in double run in LANES lanes, element j in lane j % LANES; the
 * lanes are added in this fixed order, so the result does not depend on the
 * vector width or on how the row was tiled (the AVX2 loops add their four
 * registers of four lanes the same way). */
static double lanes_sum(const double *acc) {
    double s = 0;
    for (int k = 0; k < LANES / 4; k++) s += (acc[k] + acc[k + 4]) + (acc[k + 8] + acc[k + 12]);
    return s;
}

static void lanes_zero(double *acc) {
    for (int k = 0; k < LANES; k++) acc[k] = 0;
}

/* How the weight enters g = dy * w_eff (and y): absent, w, or 1 + w. */
typedef enum { W_NONE, W_PLAIN, W_OFFSET } wform;
static wform wform_of(bool has_w, bool offset) {
    return !has_w ? W_NONE : offset ? W_OFFSET : W_PLAIN;
}

/* A row's term of a parameter gradient: dy * (x * r) (RMSNorm's dw), dy * xh
 * (LayerNorm's dw), dy (db). */
typedef enum { TERM_DY_XR, TERM_DY_V, TERM_DY } term;

#define T float
#define FN(name) name##_f32
#include "norm_loops_t.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "norm_loops_t.h"
#undef T
#undef FN

/* Runs f32 or f64 by the job's dtype. */
static void by_dtype(const ag__norm_job *job, void (*f32)(const ag__norm_job *),
                     void (*f64)(const ag__norm_job *)) {
    (job->dt == AG_F32 ? f32 : f64)(job);
}

void ag__rms_forward(const ag__norm_job *job) {
    by_dtype(job, rms_forward_f32, rms_forward_f64);
}
void ag__rms_backward(const ag__norm_job *job) {
    by_dtype(job, rms_backward_f32, rms_backward_f64);
}
void ag__ln_forward(const ag__norm_job *job) {
    by_dtype(job, ln_forward_f32, ln_forward_f64);
}
void ag__ln_backward(const ag__norm_job *job) {
    by_dtype(job, ln_backward_f32, ln_backward_f64);
}
