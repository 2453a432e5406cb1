/* tests/gradcheck_suite/cases_index.c — index_select, embedding, gather,
 * masked_fill, where, where with a number on either side.
 *
 * Ids are i32 inputs (GC_IDS_BELOW) that take no gradient. Each id tensor
 * holds more ids than the range they are drawn from, so some id repeats and
 * the scatter-add of backward must accumulate. Masks are made by hand. */
#include "suite.h"

#define CASE(OP, SHAPES, FN, DIM, ...) \
    {.op = (OP), .shapes = (SHAPES), .fn = (FN), .userdata = (void *)&(int){DIM}, .in = {__VA_ARGS__}}

static int D(void *u) { return *(const int *)u; }

static ag_tensor *f_index_select(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_index_select(A, x[0], D(u), x[1]);
}
/* index_select(x) * c: each selected copy has its own weight */
static ag_tensor *f_index_select_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_mul(A, ag_index_select(A, x[0], D(u), x[1]), x[2]);
}
static ag_tensor *f_embedding(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_embedding(A, x[0], x[1]);
}
/* embedding(w, ids) * c */
static ag_tensor *f_embedding_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_mul(A, ag_embedding(A, x[0], x[1]), x[2]);
}
static ag_tensor *f_gather(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_gather(A, x[0], D(u), x[1]);
}
static ag_tensor *f_gather_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_mul(A, ag_gather(A, x[0], D(u), x[1]), x[2]);
}
static ag_tensor *f_masked_fill(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_masked_fill(A, x[0], x[1], -2.5);
}
static ag_tensor *f_where(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_where(A, x[0], x[1], x[2]);
}
/* where with a number on one side: where(cond, x, 0.0) and where(cond, -1.5, x) */
static ag_tensor *f_where_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_where_scalar(A, x[0], x[1], 0.0);
}
static ag_tensor *f_where_scalar_a(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_where_scalar_a(A, x[0], -1.5, x[1]);
}
/* where(cond, a, a * b): a reaches the output through both branches */
static ag_tensor *f_where_reuse(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_where(A, x[0], x[1], ag_mul(A, x[1], x[2]));
}

/* An i32 tensor with the given values. */
static ag_tensor *mask_i32(ag_arena *A, int ndim, const int64_t *shape, const int32_t *v) {
    return ag_from_array(A, AG_I32, ndim, shape, v);
}

/* embedding with hand-picked ids: [2,3] ids over 4 rows, row 3 three times,
 * row 2 never. */
static int make_embedding(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(4, 3));
    in[1] = mask_i32(A, AG_SHAPE(2, 3), (int32_t[]){1, 3, 1, 0, 3, 3});
    return 2;
}
/* 0-d ids pick one row */
static int make_embedding_scalar(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 2));
    in[1] = ag_scalar(A, AG_I32, 2);
    return 2;
}
static int make_fill_row(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 4));
    in[1] = mask_i32(A, AG_SHAPE(4), (int32_t[]){1, 0, 0, 7});
    return 2;
}
/* a causal mask [3,3] on [2,3,3] (non-zero above the diagonal) */
static int make_fill_causal(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(2, 3, 3));
    in[1] = mask_i32(A, AG_SHAPE(3, 3), (int32_t[]){0, 1, 1, 0, 0, 1, 0, 0, 0});
    return 2;
}
/* an f64 mask [2,1,1] (any dtype works; non-zero fills) */
static int make_fill_f64_mask(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(2, 2, 3));
    in[1] = ag_from_f64(A, AG_F64, AG_SHAPE(2, 1, 1), (double[]){0.0, -0.5});
    return 2;
}
/* cond [3,1], a [3,4], b [4] */
static int make_where(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = mask_i32(A, AG_SHAPE(3, 1), (int32_t[]){1, 0, 1});
    in[1] = gc_randn(A, r, AG_SHAPE(3, 4));
    in[2] = gc_randn(A, r, AG_SHAPE(4));
    return 3;
}
/* cond [2,3] mixed, a 0-d, b [2,1]: both gradients reduce */
static int make_where_reduce(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = mask_i32(A, AG_SHAPE(2, 3), (int32_t[]){1, 0, 0, 1, 1, 0});
    in[1] = gc_randn(A, r, 0, NULL);
    in[2] = gc_randn(A, r, AG_SHAPE(2, 1));
    return 3;
}
/* cond f64 [4] broadcast against a [2,4] and b [2,4] */
static int make_where_f64_cond(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = ag_from_f64(A, AG_F64, AG_SHAPE(4), (double[]){0.0, 1.0, -3.0, 0.0});
    in[1] = gc_randn(A, r, AG_SHAPE(2, 4));
    in[2] = gc_randn(A, r, AG_SHAPE(2, 4));
    return 3;
}
/* cond [2,2] with a and b [2,2]; b is also a factor of the false branch */
static int make_where_reuse(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = mask_i32(A, AG_SHAPE(2, 2), (int32_t[]){0, 1, 1, 0});
    in[1] = gc_randn(A, r, AG_SHAPE(2, 2));
    in[2] = gc_randn(A, r, AG_SHAPE(2, 2));
    return 3;
}

/* cond [3,1] with x [3,4]; cond [2,3] with x [3] (the result grows to [2,3]) */
static int make_where_scalar(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = mask_i32(A, AG_SHAPE(3, 1), (int32_t[]){1, 0, 1});
    in[1] = gc_randn(A, r, AG_SHAPE(3, 4));
    return 2;
}
static int make_where_scalar_grow(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = mask_i32(A, AG_SHAPE(2, 3), (int32_t[]){1, 0, 0, 1, 1, 0});
    in[1] = gc_randn(A, r, AG_SHAPE(3));
    return 2;
}

const gc_case gc_index[] = {
    CASE("index_select", "[5,3] dim 0, 8 ids < 5", f_index_select, 0, GC_N(5, 3),
         GC_IDS_BELOW(5, 8)),
    CASE("index_select", "[2,3,4] dim 1, 5 ids < 3", f_index_select, 1, GC_N(2, 3, 4),
         GC_IDS_BELOW(3, 5)),
    CASE("index_select", "[2,4] dim -1, 6 ids<4 * const", f_index_select_mul, -1, GC_N(2, 4),
         GC_IDS_BELOW(4, 6), GC_C(2, 6)),
    CASE("index_select", "[3,1] dim 1, 3 ids < 1", f_index_select, 1, GC_N(3, 1),
         GC_IDS_BELOW(1, 3)),
    CASE("embedding", "[5,4] ids [2,4] < 5", f_embedding, 0, GC_N(5, 4), GC_IDS_BELOW(5, 2, 4)),
    CASE("embedding", "[3,2] ids [7] < 3 * const", f_embedding_mul, 0, GC_N(3, 2),
         GC_IDS_BELOW(3, 7), GC_C(7, 2)),
    {.op = "embedding", .shapes = "[4,3] ids [2,3] by hand", .fn = f_embedding,
     .make = make_embedding},
    {.op = "embedding", .shapes = "[3,2] ids []", .fn = f_embedding,
     .make = make_embedding_scalar},
    CASE("gather", "[3,4] dim 1, index [3,6]<4", f_gather, 1, GC_N(3, 4),
         GC_IDS_BELOW(4, 3, 6)),
    CASE("gather", "[3,4] dim 0, index [5,2]<3", f_gather, 0, GC_N(3, 4),
         GC_IDS_BELOW(3, 5, 2)),
    CASE("gather", "[2,3,4] d-2, idx [2,5,3]<3 * const", f_gather_mul, -2, GC_N(2, 3, 4),
         GC_IDS_BELOW(3, 2, 5, 3), GC_C(2, 5, 3)),
    {.op = "masked_fill", .shapes = "[3,4] mask i32 [4]", .fn = f_masked_fill,
     .make = make_fill_row},
    {.op = "masked_fill", .shapes = "[2,3,3] causal mask [3,3]", .fn = f_masked_fill,
     .make = make_fill_causal},
    {.op = "masked_fill", .shapes = "[2,2,3] mask f64 [2,1,1]", .fn = f_masked_fill,
     .make = make_fill_f64_mask},
    {.op = "where", .shapes = "cond [3,1], [3,4], [4]", .fn = f_where, .make = make_where},
    {.op = "where", .shapes = "cond [2,3], [], [2,1]", .fn = f_where,
     .make = make_where_reduce},
    {.op = "where", .shapes = "cond f64 [4], [2,4], [2,4]", .fn = f_where,
     .make = make_where_f64_cond},
    {.op = "where", .shapes = "where(c, a, a*b) [2,2]", .fn = f_where_reuse,
     .make = make_where_reuse},
    {.op = "where_scalar", .shapes = "cond [3,1], [3,4], 0.0", .fn = f_where_scalar,
     .make = make_where_scalar},
    {.op = "where_scalar", .shapes = "cond [2,3], [3], 0.0", .fn = f_where_scalar,
     .make = make_where_scalar_grow},
    {.op = "where_scalar_a", .shapes = "cond [3,1], -1.5, [3,4]", .fn = f_where_scalar_a,
     .make = make_where_scalar},
    {.op = "where_scalar_a", .shapes = "cond [2,3], -1.5, [3]", .fn = f_where_scalar_a,
     .make = make_where_scalar_grow},
};
const int gc_index_count = sizeof gc_index / sizeof gc_index[0];
