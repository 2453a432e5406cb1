/* nn/norm_loops_t.h — the portable row loops of the fused norms, for one
 * element type. Not a header to include anywhere else: nn/norm_loops.c
 * includes it once per type with T (float, double) and FN(name) (name_f32,
 * name_f64) defined, after its type-independent helpers (LANES, TILE,
 * lanes_sum, wform, term).
 *
 * Every tile helper takes pointers to the tile's first column and its
 * length n: element k of the tile is column j0 + k of the row, and since j0
 * is a multiple of LANES it lands in lane k % LANES, as a whole-row sum
 * would put it. Each helper is one loop with conditions that do not change
 * inside it (w present or not, the flags): the compiler makes a branch-free
 * vectorized copy per case ("unswitching"). The lane sums in T are the
 * exception: unswitched, their lanes left the registers for the stack, so
 * rms_gx_sum and ln_sums branch first and call the loop with the case as a
 * constant. Operations are written in the
 * order the AVX2 loops of nn/norm_simd.c perform them, one rounding each
 * (no fused multiply-add: the build uses ISO C, where GCC does not contract),
 * so both give bitwise the same results. */

/* p + j; NULL when p is NULL (an absent parameter). */
static inline const T *FN(at)(const T *p, int64_t j) {
    return p ? p + j : NULL;
}

/* ---- row sums ------------------------------------------------------------------ */

/* acc[k % LANES] += (double)x[k]^2 for k in [0, n). */
static inline void FN(acc_squares)(double *restrict acc, const T *restrict x, int64_t n) {
    int64_t b = 0;
    for (; b + LANES <= n; b += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += (double)x[b + k] * x[b + k];
    for (int64_t k = b; k < n; k++) acc[k - b] += (double)x[k] * x[k];
}

/* as[k % LANES] += (double)x[k] and, unless aq is NULL, aq[k % LANES] +=
 * (double)x[k]^2, in one pass. */
static inline void FN(acc_sum_squares)(double *restrict as, double *restrict aq,
                                       const T *restrict x, int64_t n) {
    int64_t b = 0;
    for (; b + LANES <= n; b += LANES)
        for (int k = 0; k < LANES; k++) {
            as[k] += (double)x[b + k];
            if (aq) aq[k] += (double)x[b + k] * x[b + k];
        }
    for (int64_t k = b; k < n; k++) {
        as[k - b] += (double)x[k];
        if (aq) aq[k - b] += (double)x[k] * x[k];
    }
}

/* sum of (x[k] - mean)^2 over the row x[0, n), in double (the second pass
 * of a two-pass variance). */
static inline double FN(sum_centred_squares)(const T *restrict x, int64_t n, double mean) {
    double a[LANES] = {0};
    int64_t b = 0;
    for (; b + LANES <= n; b += LANES)
        for (int k = 0; k < LANES; k++)
            a[k] += ((double)x[b + k] - mean) * ((double)x[b + k] - mean);
    for (int64_t k = b; k < n; k++) a[k - b] += ((double)x[k] - mean) * ((double)x[k] - mean);
    return lanes_sum(a);
}

/* g[k] = dy[k] * w_eff[k]: dy (wf W_NONE), dy * w, or dy * (1 + w). */
static inline T FN(g_at)(const T *dy, const T *w, wform wf, int64_t k) {
    return wf == W_NONE ? dy[k] : wf == W_PLAIN ? dy[k] * w[k] : dy[k] * ((T)1 + w[k]);
}

/* t[k % LANES] += g[k] * x[k] for k in [0, n), each term and each sum in T.
 * Called with wf a constant, so the lanes stay in registers. */
static inline void FN(gx_lanes)(T *restrict t, const T *restrict x, const T *restrict dy,
                                const T *restrict w, wform wf, int64_t n) {
    int64_t b = 0;
    for (; b + LANES <= n; b += LANES)
        for (int k = 0; k < LANES; k++) t[k] += FN(g_at)(dy, w, wf, b + k) * x[b + k];
    for (int64_t k = b; k < n; k++) t[k - b] += FN(g_at)(dy, w, wf, k) * x[k];
}

/* RMSNorm backward's tile sum: acc += sum of g[k] * x[k], each term and
 * each lane's sum in T, the 16 lane sums then added to acc in double. The
 * error is that of a 16-term sum in T whatever the length of the row, for
 * half the work of converting every term. */
static inline void FN(rms_gx_sum)(double *restrict acc, const T *restrict x,
                                  const T *restrict dy, const T *restrict w, wform wf,
                                  int64_t n) {
    T t[LANES] = {0};
    switch (wf) {
    case W_NONE: FN(gx_lanes)(t, x, dy, w, W_NONE, n); break;
    case W_PLAIN: FN(gx_lanes)(t, x, dy, w, W_PLAIN, n); break;
    case W_OFFSET: FN(gx_lanes)(t, x, dy, w, W_OFFSET, n); break;
    }
    for (int k = 0; k < LANES; k++) acc[k] += (double)t[k];
}

/* tg[k % LANES] += g[k] and tgx[k % LANES] += g[k] * xh[k], g = dy * w
 * (dy when w is NULL), in T. */
static inline void FN(ln_lanes)(T *restrict tg, T *restrict tgx, const T *restrict dy,
                                const T *restrict w, const T *restrict xh, int64_t n) {
    int64_t b = 0;
    for (; b + LANES <= n; b += LANES)
        for (int k = 0; k < LANES; k++) {
            const T g = w ? dy[b + k] * w[b + k] : dy[b + k];
            tg[k] += g, tgx[k] += g * xh[b + k];
        }
    for (int64_t k = b; k < n; k++) {
        const T g = w ? dy[k] * w[k] : dy[k];
        tg[k - b] += g, tgx[k - b] += g * xh[k];
    }
}

/* LayerNorm backward's tile sums, as rms_gx_sum: ag += sum of g, agx +=
 * sum of g * xh. */
static inline void FN(ln_sums)(double *restrict ag, double *restrict agx, const T *restrict dy,
                               const T *restrict w, const T *restrict xh, int64_t n) {
    T tg[LANES] = {0}, tgx[LANES] = {0};
    if (w) FN(ln_lanes)(tg, tgx, dy, w, xh, n);
    else FN(ln_lanes)(tg, tgx, dy, NULL, xh, n);
    for (int k = 0; k < LANES; k++) ag[k] += (double)tg[k], agx[k] += (double)tgx[k];
}

/* ---- outputs ------------------------------------------------------------------- */

/* Where the n outputs of a tile bound for dst are computed: dst itself, or,
 * when they are streamed (outputs of AG_STREAM_MIN bytes or more, written
 * fresh), buf (a tile in L1), which tile_out then copies to dst with
 * non-temporal stores. */
static inline T *FN(tile_at)(T *dst, T *buf, bool stream) {
    return stream ? buf : dst;
}

static inline void FN(tile_out)(T *restrict dst, const T *restrict buf, bool stream, int64_t n) {
    if (stream) ag__copy_nt(dst, buf, (size_t)n * sizeof(T));
}

/* RMSNorm's y: x * r * w_eff, or x / s * w_eff when div (scale is r, or s). */
static inline void FN(rms_y)(T *restrict o, const T *restrict x, const T *restrict w, wform wf,
                             bool div, T scale, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        const T xs = div ? x[k] / scale : x[k] * scale;
        o[k] = wf == W_NONE ? xs : wf == W_PLAIN ? xs * w[k] : xs * ((T)1 + w[k]);
    }
}

/* A row's constants in backward's dx, in T: r, and m = mean(g * xh)
 * (RMSNorm), or mg = mean(g) and mgx = mean(g * xh) (LayerNorm). */
typedef struct {
    T r, m, mg, mgx;
} FN(dx_k);

/* RMSNorm's dx: r * (g - xh * m), xh = x * r; added to o when add. */
static inline void FN(rms_dx)(T *restrict o, bool add, const T *restrict x, const T *restrict dy,
                              const T *restrict w, wform wf, FN(dx_k) c, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        const T d = c.r * (FN(g_at)(dy, w, wf, k) - x[k] * c.r * c.m);
        o[k] = add ? o[k] + d : d;
    }
}

/* A row's mean split as mh + ml in T (mh = (T)mean, ml the rest), and its
 * 1/std r in T. */
typedef struct {
    T mh, ml, r;
} FN(ln_stats);

static inline FN(ln_stats) FN(ln_split)(double mean, double r) {
    const T mh = (T)mean;
    return (FN(ln_stats)){mh, (T)(mean - (double)mh), (T)r};
}

/* xh = ((x - mh) - ml) * r: x - mh is exact when x is near the mean, so xh
 * keeps the digits that x - (T)mean would lose when |mean| >> std. */
static inline T FN(ln_xh_at)(T x, FN(ln_stats) s) {
    return ((x - s.mh) - s.ml) * s.r;
}

static inline void FN(ln_xh)(T *restrict xh, const T *restrict x, FN(ln_stats) s, int64_t n) {
    for (int64_t k = 0; k < n; k++) xh[k] = FN(ln_xh_at)(x[k], s);
}

/* LayerNorm's y: xh * w + b (without the absent ones). */
static inline void FN(ln_y)(T *restrict o, const T *restrict x, const T *restrict w,
                            const T *restrict b, FN(ln_stats) s, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        const T xh = FN(ln_xh_at)(x[k], s), v = w ? xh * w[k] : xh;
        o[k] = b ? v + b[k] : v;
    }
}

/* LayerNorm's dx: r * (g - mean(g) - xh * mean(g * xh)), g = dy * w;
 * added to o when add. */
static inline void FN(ln_dx)(T *restrict o, bool add, const T *restrict xh, const T *restrict dy,
                             const T *restrict w, FN(dx_k) c, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        const T g = w ? dy[k] * w[k] : dy[k];
        const T d = c.r * (g - c.mg - xh[k] * c.mgx);
        o[k] = add ? o[k] + d : d;
    }
}

/* ---- parameter gradients -------------------------------------------------------- */

static inline T FN(term_at)(term kind, const T *dy, const T *v, T r, int64_t k) {
    return kind == TERM_DY_XR ? dy[k] * (v[k] * r) : kind == TERM_DY_V ? dy[k] * v[k] : dy[k];
}

/* A row's terms of a parameter gradient into the chunk's partial sums acc
 * (double) through the block sums blk (T), by the row's place in its block
 * (ag__norm_block_mode): a block's terms are summed in T (a short cascade,
 * a few roundings), and each block's sum is added to acc in double. That
 * halves the traffic to acc and keeps the error of a long sum that of
 * double. */
static inline void FN(block_acc)(double *restrict acc, T *restrict blk, ag__block_mode m,
                                 term kind, const T *restrict dy, const T *restrict v, T r,
                                 int64_t n) {
    switch (m) {
    case AG__BLOCK_ONLY:
        for (int64_t k = 0; k < n; k++) acc[k] += (double)FN(term_at)(kind, dy, v, r, k);
        break;
    case AG__BLOCK_FIRST:
        for (int64_t k = 0; k < n; k++) blk[k] = FN(term_at)(kind, dy, v, r, k);
        break;
    case AG__BLOCK_MIDDLE:
        for (int64_t k = 0; k < n; k++) blk[k] += FN(term_at)(kind, dy, v, r, k);
        break;
    case AG__BLOCK_LAST:
        for (int64_t k = 0; k < n; k++) acc[k] += (double)(blk[k] + FN(term_at)(kind, dy, v, r, k));
        break;
    case AG__BLOCK_NONE:
        break;
    }
}

/* ---- the passes ------------------------------------------------------------------ */

/* Row i+1's sum of squares is accumulated while row i is written (see "how
 * the rows are run" in nn/norm_ops.c). */
static void FN(rms_forward_chunks)(const void *ctx, int64_t lo, int64_t hi) {
    const ag__norm_job *job = ctx;
    const bool div = job->flags & AG_RMS_SQRT_DIV;
    const wform wf = wform_of(job->w != NULL, job->flags & AG_RMS_UNIT_OFFSET);
    const bool st = job->stream;
    const int64_t D = job->D;
    const T *px = job->x, *pw = job->w;
    T *py = job->y;
    for (int c = (int)lo; c < hi; c++) {
        const ag__norm_rows rr = ag__norm_chunk(job, c);
        _Alignas(64) T buf[TILE];
        double acc[LANES] = {0};
        FN(acc_squares)(acc, px + rr.i0 * D, D);
        double ss = lanes_sum(acc);
        for (int64_t i = rr.i0; i < rr.i1; i++) {
            const T *xi = px + i * D, *xn = xi + D;
            const bool next = i + 1 < rr.i1;
            T *yi = py + i * D;
            const double s = sqrt(ss / (double)D + job->eps), r = 1 / s;
            if (job->stats) job->stats[i] = r;
            const T scale = div ? (T)s : (T)r;
            lanes_zero(acc);
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t n = ag__norm_tile_end(j0, D) - j0;
                if (next) FN(acc_squares)(acc, xn + j0, n);
                FN(rms_y)(FN(tile_at)(yi + j0, buf, st), xi + j0, FN(at)(pw, j0), wf, div, scale,
                          n);
                FN(tile_out)(yi + j0, buf, st, n);
            }
            ss = lanes_sum(acc);
        }
        if (job->stream) ag__stream_fence();
    }
}

static void FN(rms_forward)(const ag__norm_job *job) {
    ag__parallel_for(job->nchunks, job->nchunks > 1, FN(rms_forward_chunks), job);
}

/* m = mean(g * xh) = r * sum(g * x) / D; row i+1's sum(g * x) is
 * accumulated while row i's dx is written. */
static void FN(rms_backward_chunks)(const void *ctx, int64_t lo, int64_t hi) {
    const ag__norm_job *job = ctx;
    const wform wf = wform_of(job->w != NULL, job->flags & AG_RMS_UNIT_OFFSET);
    const bool st = job->stream, add = job->add && !st; /* a streamed dx is fresh */
    const int64_t D = job->D;
    const T *px = job->x, *pdy = job->dy, *pw = job->w;
    T *pdx = job->dx;
    for (int c = (int)lo; c < hi; c++) {
        double *dw = ag__norm_part(job->wpart, c, D);
        T *wb = ag__scratch_row(&job->scratch, c, AG__SCRATCH_DW);
        const ag__norm_rows rr = ag__norm_chunk(job, c);
        _Alignas(64) T buf[TILE];
        double acc[LANES] = {0};
        if (pdx)
            for (int64_t j0 = 0; j0 < D; j0 += TILE)
                FN(rms_gx_sum)(acc, px + rr.i0 * D + j0, pdy + rr.i0 * D + j0, FN(at)(pw, j0),
                               wf, ag__norm_tile_end(j0, D) - j0);
        double sgx = lanes_sum(acc);
        for (int64_t i = rr.i0; i < rr.i1; i++) {
            const T *xi = px + i * D, *dyi = pdy + i * D;
            const bool next = pdx && i + 1 < rr.i1;
            T *dxi = pdx ? pdx + i * D : NULL;
            const double r = job->stats[i];
            const FN(dx_k) dk = {.r = (T)r, .m = (T)(r * sgx / (double)D)}; /* m = mean(g * xh) */
            const ag__block_mode bm = ag__norm_block_mode(dw != NULL, i, rr);
            lanes_zero(acc);
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t n = ag__norm_tile_end(j0, D) - j0;
                if (next) FN(rms_gx_sum)(acc, xi + D + j0, dyi + D + j0, FN(at)(pw, j0), wf, n);
                if (dxi) {
                    FN(rms_dx)(FN(tile_at)(dxi + j0, buf, st), add, xi + j0, dyi + j0,
                               FN(at)(pw, j0), wf, dk, n);
                    FN(tile_out)(dxi + j0, buf, st, n);
                }
                /* dw += dy * xh, each term in T */
                if (dw) FN(block_acc)(dw + j0, wb + j0, bm, TERM_DY_XR, dyi + j0, xi + j0, dk.r, n);
            }
            sgx = lanes_sum(acc);
        }
        if (job->stream) ag__stream_fence();
    }
}

static void FN(rms_backward)(const ag__norm_job *job) {
    ag__parallel_for(job->nchunks, job->nchunks > 1, FN(rms_backward_chunks), job);
}

/* The variance of an f32 row comes from its sum and sum of squares, both in
 * double, accumulated for row i+1 while row i is written: x^2 is exact in
 * double and var = E[x^2] - mean^2 loses about (mean/std)^2 * 2^-53
 * relative, far below f32's 2^-24 for any row whose spread f32 can resolve.
 * An f64 row has no such margin and is centred first (two passes, the
 * second from cache): only its sum is accumulated ahead (sq NULL). */
static void FN(ln_forward_chunks)(const void *ctx, int64_t lo, int64_t hi) {
    const ag__norm_job *job = ctx;
    const bool one_pass = sizeof(T) < sizeof(double);
    const bool st = job->stream;
    const int64_t D = job->D;
    const T *px = job->x, *pw = job->w, *pb = job->b;
    T *py = job->y;
    for (int c = (int)lo; c < hi; c++) {
        const ag__norm_rows rr = ag__norm_chunk(job, c);
        _Alignas(64) T buf[TILE];
        double as[LANES] = {0}, aq[LANES] = {0}, *sq = one_pass ? aq : NULL;
        FN(acc_sum_squares)(as, sq, px + rr.i0 * D, D);
        for (int64_t i = rr.i0; i < rr.i1; i++) {
            const T *xi = px + i * D, *xn = xi + D;
            const bool next = i + 1 < rr.i1;
            T *yi = py + i * D;
            const double mean = lanes_sum(as) / (double)D;
            const double var = one_pass ? fmax(lanes_sum(aq) / (double)D - mean * mean, 0.0)
                                        : FN(sum_centred_squares)(xi, D, mean) / (double)D;
            const double r = 1 / sqrt(var + job->eps);
            if (job->stats) job->stats[2 * i] = mean, job->stats[2 * i + 1] = r;
            const FN(ln_stats) s = FN(ln_split)(mean, r);
            lanes_zero(as), lanes_zero(aq);
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t n = ag__norm_tile_end(j0, D) - j0;
                if (next) FN(acc_sum_squares)(as, sq, xn + j0, n);
                FN(ln_y)(FN(tile_at)(yi + j0, buf, st), xi + j0, FN(at)(pw, j0), FN(at)(pb, j0), s,
                         n);
                FN(tile_out)(yi + j0, buf, st, n);
            }
        }
        if (job->stream) ag__stream_fence();
    }
}

static void FN(ln_forward)(const ag__norm_job *job) {
    ag__parallel_for(job->nchunks, job->nchunks > 1, FN(ln_forward_chunks), job);
}

/* Row i+1's xh (into a scratch row of the chunk) and sums are formed while
 * row i's dx is written; its sums only when dx is wanted. */
static void FN(ln_backward_chunks)(const void *ctx, int64_t lo, int64_t hi) {
    const ag__norm_job *job = ctx;
    const bool st = job->stream, add = job->add && !st; /* a streamed dx is fresh */
    const int64_t D = job->D;
    const T *px = job->x, *pdy = job->dy, *pw = job->w;
    const double *stats = job->stats;
    T *pdx = job->dx;
    const bool sums = pdx != NULL;
    for (int c = (int)lo; c < hi; c++) {
        double *dw = ag__norm_part(job->wpart, c, D), *db = ag__norm_part(job->bpart, c, D);
        T *wb = ag__scratch_row(&job->scratch, c, AG__SCRATCH_DW);
        T *bb = ag__scratch_row(&job->scratch, c, AG__SCRATCH_DB);
        T *cur = ag__scratch_row(&job->scratch, c, AG__SCRATCH_XH);
        T *nxt = ag__scratch_row(&job->scratch, c, AG__SCRATCH_XH_NEXT);
        const ag__norm_rows rr = ag__norm_chunk(job, c);
        _Alignas(64) T buf[TILE];
        double ag[LANES] = {0}, agx[LANES] = {0};
        const FN(ln_stats) s0 = FN(ln_split)(stats[2 * rr.i0], stats[2 * rr.i0 + 1]);
        for (int64_t j0 = 0; j0 < D; j0 += TILE) {
            const int64_t n = ag__norm_tile_end(j0, D) - j0;
            FN(ln_xh)(cur + j0, px + rr.i0 * D + j0, s0, n);
            if (sums) FN(ln_sums)(ag, agx, pdy + rr.i0 * D + j0, FN(at)(pw, j0), cur + j0, n);
        }
        for (int64_t i = rr.i0; i < rr.i1; i++) {
            const T *dyi = pdy + i * D, *xn = px + (i + 1) * D;
            const bool next = i + 1 < rr.i1;
            T *dxi = pdx ? pdx + i * D : NULL;
            const FN(dx_k) dk = {.r = (T)stats[2 * i + 1],
                                 .mg = (T)(lanes_sum(ag) / (double)D),
                                 .mgx = (T)(lanes_sum(agx) / (double)D)};
            const FN(ln_stats) sn = next ? FN(ln_split)(stats[2 * i + 2], stats[2 * i + 3]) : s0;
            const ag__block_mode bm = ag__norm_block_mode(dw || db, i, rr);
            lanes_zero(ag), lanes_zero(agx);
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t n = ag__norm_tile_end(j0, D) - j0;
                if (next) {
                    FN(ln_xh)(nxt + j0, xn + j0, sn, n);
                    if (sums) FN(ln_sums)(ag, agx, dyi + D + j0, FN(at)(pw, j0), nxt + j0, n);
                }
                if (dxi) {
                    FN(ln_dx)(FN(tile_at)(dxi + j0, buf, st), add, cur + j0, dyi + j0,
                              FN(at)(pw, j0), dk, n);
                    FN(tile_out)(dxi + j0, buf, st, n);
                }
                /* dw += dy * xh, db += dy: each term in T */
                if (dw) FN(block_acc)(dw + j0, wb + j0, bm, TERM_DY_V, dyi + j0, cur + j0, 0, n);
                if (db) FN(block_acc)(db + j0, bb + j0, bm, TERM_DY, dyi + j0, NULL, 0, n);
            }
            T *t = cur;
            cur = nxt, nxt = t;
        }
        if (job->stream) ag__stream_fence();
    }
}

static void FN(ln_backward)(const ag__norm_job *job) {
    ag__parallel_for(job->nchunks, job->nchunks > 1, FN(ln_backward_chunks), job);
}
