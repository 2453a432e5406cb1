/* tests/gradcheck_suite/cases_attention.c — the fused causal attention in q,
 * k and v: batched and 2-d, one head and several, T = 1, hd = 1, T across a
 * key tile (64 rows), and q = k = v one input (its gradient sums the three
 * shares); the internal packed entry (q, k, v as column blocks of one
 * [B, T, 3C] input). */
#include "internal.h" /* ag__causal_attention_packed */
#include "suite.h"

/* ag_causal_attention(q, k, v) with the head count in userdata */
static ag_tensor *f_attn(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_causal_attention(A, x[0], x[1], x[2], *(const int64_t *)u);
}
/* the same with x[0] as q, k and v */
static ag_tensor *f_self(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_causal_attention(A, x[0], x[0], x[0], *(const int64_t *)u);
}
/* q, k, v packed in x[0] [.., 3C] */
static ag_tensor *f_packed(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag__causal_attention_packed(A, x[0], *(const int64_t *)u);
}
static const int64_t h1 = 1, h2 = 2, h3 = 3;

const gc_case gc_attention[] = {
    {.op = "causal_attention", .shapes = "[2,3,4] H2", .fn = f_attn,
     .in = {GC_N(2, 3, 4), GC_N(2, 3, 4), GC_N(2, 3, 4)}, .userdata = (void *)&h2},
    {.op = "causal_attention", .shapes = "[5,6] H3 (2-d)", .fn = f_attn,
     .in = {GC_N(5, 6), GC_N(5, 6), GC_N(5, 6)}, .userdata = (void *)&h3},
    {.op = "causal_attention", .shapes = "[1,4,3] H1", .fn = f_attn,
     .in = {GC_N(1, 4, 3), GC_N(1, 4, 3), GC_N(1, 4, 3)}, .userdata = (void *)&h1},
    {.op = "causal_attention", .shapes = "[2,1,4] H2 (T 1)", .fn = f_attn,
     .in = {GC_N(2, 1, 4), GC_N(2, 1, 4), GC_N(2, 1, 4)}, .userdata = (void *)&h2},
    {.op = "causal_attention", .shapes = "[1,66,2] H2 (two tiles)", .fn = f_attn,
     .in = {GC_N(1, 66, 2), GC_N(1, 66, 2), GC_N(1, 66, 2)}, .userdata = (void *)&h2},
    {.op = "causal_attention", .shapes = "[2,3,4] H2, q = k = v", .fn = f_self,
     .in = {GC_N(2, 3, 4)}, .userdata = (void *)&h2},
    {.op = "causal_attention_packed", .shapes = "[2,3,12] H2", .fn = f_packed,
     .in = {GC_N(2, 3, 12)}, .userdata = (void *)&h2},
    {.op = "causal_attention_packed", .shapes = "[4,9] H3 (2-d)", .fn = f_packed,
     .in = {GC_N(4, 9)}, .userdata = (void *)&h3},
};
const int gc_attention_count = (int)(sizeof gc_attention / sizeof gc_attention[0]);
