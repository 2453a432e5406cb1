/* core/engine.c — recording the graph and running it backwards.
 *
 * A node is not a separate object: the output tensor carries its op, its
 * sources and what backward needs (as ggml does). backward sorts the nodes
 * reachable from the output with an explicit stack — a chain of 100,000 ops
 * is normal in an unrolled loop and must not exhaust the C stack — and calls
 * each node's backward in reverse topological order.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ag/custom_op.h"
#include "internal.h"

static _Thread_local bool grad_disabled;
static _Thread_local bool anomaly; /* ag_set_detect_anomaly; core/anomaly.c checks */
/* 64 bits: a new tensor's visit is 0, so the counter must never wrap back to it. */
static _Atomic uint64_t generation;

bool ag_set_grad_enabled(bool on) {
    bool was = !grad_disabled;
    grad_disabled = !on;
    return was;
}

bool ag_grad_enabled(void) { return !grad_disabled; }

bool ag_set_detect_anomaly(bool on) {
    bool was = anomaly;
    anomaly = on;
    return was;
}

bool ag_detect_anomaly(void) { return anomaly; }

bool ag_is_leaf(const ag_tensor *t) { return t && !t->op; }

void ag_set_requires_grad_(ag_tensor *t, bool on) {
    if (!t || !ag__check_live("set_requires_grad", t)) return;
    if (t->op) {
        ag__fail("set_requires_grad", "%s tensor %s was made by %s: only leaves take "
                 "requires_grad (use ag_detach for a new leaf)",
                 ag_dtype_name(t->dtype), ag__shp(t), t->op->name);
        return;
    }
    if (on && !ag_dtype_is_float(t->dtype)) {
        ag__fail("set_requires_grad", "tensor %s has dtype %s: only float tensors take "
                 "gradients", ag__shp(t), ag_dtype_name(t->dtype));
        return;
    }
    t->requires_grad = on;
}

bool ag__needs_grad(int n, ag_tensor *const *srcs) {
    if (grad_disabled) return false;
    for (int i = 0; i < n; i++)
        if (srcs[i] && srcs[i]->requires_grad) return true;
    return false;
}

/* Every op's way out: its inputs still alive, the anomaly check (one branch
 * when off), then the node. out, or NULL after a report. */
static ag_tensor *record(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs,
                         bool check) {
    for (int i = 0; i < n; i++)
        if (srcs[i] && !ag__check_live(op->name, srcs[i])) return NULL;
    if (!out) return NULL;
    if (anomaly && !ag__anomaly_forward(out, op, n, srcs, check)) return NULL;
    if (!ag__needs_grad(n, srcs)) return out;
    ag_tensor **copy = ag_arena_alloc_(out->arena, (size_t)n * sizeof *copy);
    if (!copy) return NULL;
    memcpy(copy, srcs, (size_t)n * sizeof *copy);
    out->op = op;
    out->src = copy;
    out->nsrc = n;
    out->requires_grad = true;
    return out;
}

ag_tensor *ag__record(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs) {
    out = record(out, op, n, srcs, true);
    ag__profile_exit(out, op);
    return out;
}

ag_tensor *ag__record_asked(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs) {
    out = record(out, op, n, srcs, false);
    ag__profile_exit(out, op);
    return out;
}

/* t's gradient buffer, allocated on first use: zeroed, or left uninitialised
 * for a backward that overwrites it (ag__grad_buf_raw). */
static ag_tensor *grad_buf(ag_tensor *t, bool zeroed) {
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        t->grad = zeroed ? ag_zeros_(t->arena, t->dtype, t->ndim, t->shape)
                         : ag__result("backward", t->arena, t->dtype, t->ndim, t->shape);
        if (t->grad) t->grad->name = "grad";
    }
    return t->grad;
}

ag_tensor *ag__grad_buf(ag_tensor *t) { return grad_buf(t, true); }

ag_tensor *ag__grad_buf_raw(ag_tensor *t) { return grad_buf(t, false); }

ag_tensor *ag__grad_buf_gemm(ag_tensor *t, bool once, int64_t inner, double *beta) {
    const bool raw = once && inner > 0 && t && !t->grad;
    *beta = raw ? 0.0 : 1.0;
    return grad_buf(t, !raw);
}

void ag_zero_grad(ag_tensor *t) {
    if (t && t->grad && t->grad->op)
        t->grad = NULL;
    else if (t && t->grad)
        memset(t->grad->data, 0, (size_t)t->grad->numel * ag_dtype_size(t->dtype));
}

ag_tensor *ag_detach_(ag_arena *A, ag_tensor *t) {
    if (!t) return NULL;
    if (!ag__check_arena("detach", A) || !ag__check_live("detach", t)) return NULL;
    return ag__view("detach", A, t, t->ndim, t->shape);
}

/* ---- topological order ---------------------------------------------------- */

typedef struct {
    ag_tensor *t;
    int next; /* the next source to visit */
} frame;

typedef struct {
    ag_tensor **nodes; /* post-order: every node after all of its sources */
    int64_t n, cap;
} order;

static bool push_node(order *o, ag_tensor *t) {
    if (o->n == o->cap) {
        int64_t cap = o->cap ? 2 * o->cap : 256;
        ag_tensor **p = realloc(o->nodes, (size_t)cap * sizeof *p);
        if (!p) return false;
        o->nodes = p;
        o->cap = cap;
    }
    o->nodes[o->n++] = t;
    return true;
}

/* Depth-first post-order over the tensors that require a gradient, with the
 * stack on the heap. Returns false when out of memory. */
static bool topo_sort_roots(int nroots, ag_tensor *const *roots, order *o) {
    uint64_t gen = atomic_fetch_add(&generation, 1u) + 1u;
    int64_t sp = 0, cap = 256 + nroots;
    frame *stack = malloc((size_t)cap * sizeof *stack);
    if (!stack) return false;
    for (int r = nroots - 1; r >= 0; r--) {
        if (!roots[r]->requires_grad || roots[r]->visit == gen) continue;
        stack[sp++] = (frame){roots[r], 0};
        roots[r]->visit = gen;
    }
    bool ok = true;
    while (sp > 0 && ok) {
        frame *f = &stack[sp - 1];
        if (f->t->op && f->next < f->t->nsrc) {
            ag_tensor *s = f->t->src[f->next++];
            if (!s || !s->requires_grad || s->visit == gen) continue;
            s->visit = gen;
            if (sp == cap) {
                frame *p = realloc(stack, (size_t)(2 * cap) * sizeof *stack);
                if (!p) {
                    ok = false;
                    break;
                }
                stack = p;
                cap *= 2;
            }
            stack[sp++] = (frame){s, 0};
        } else {
            ok = push_node(o, f->t);
            sp--;
        }
    }
    free(stack);
    return ok;
}

static bool topo_sort(ag_tensor *out, order *o) { return topo_sort_roots(1, &out, o); }

uint64_t ag__set_generation(uint64_t g) { return atomic_exchange(&generation, g); }

int64_t ag_graph_size(ag_tensor *out) {
    if (!out) return 0;
    if (!out->requires_grad) return 1;
    order o = {0};
    int64_t n = topo_sort(out, &o) ? o.n : -1;
    free(o.nodes);
    return n;
}

/* ---- backward ------------------------------------------------------------- */

typedef struct accumulate_job {
    ag_dtype dt;
    void *dst;
    const void *src; /* NULL: add 1 */
} accumulate_job;

static void accumulate_range(const void *ctx, int64_t lo, int64_t hi) {
    const accumulate_job *j = ctx;
    AG_DISPATCH(j->dt, T, {
        T *d = j->dst;
        const T *s = j->src;
        for (int64_t i = lo; i < hi; i++) d[i] += s ? s[i] : (T)1;
    });
}

/* dst += src (or += 1 when src is NULL); same dtype and numel. */
void ag__accumulate(ag_tensor *dst, const ag_tensor *src) {
    const int64_t n = dst->numel;
    if (dst->dtype == AG_BF16) {
        uint16_t *h = dst->data;
        for (int64_t i = 0; i < n; i++) {
            float v = src ? ag_bf16_to_f32(((const uint16_t *)src->data)[i]) : 1.0f;
            h[i] = ag_f32_to_bf16(ag_bf16_to_f32(h[i]) + v);
        }
        return;
    }
    accumulate_job j = {dst->dtype, dst->data, src ? src->data : NULL};
    ag__parallel_for(n, n >= AG_PAR_MIN, accumulate_range, &j);
}

/* ---- the seed and the sorted graph ---------------------------------------- */

/* out and its seed grad_out (NULL: 1) as backward takes them; reports under
 * who and returns false when they cannot seed a pass. */
static bool seed_ok(const char *who, const ag_tensor *out, const ag_tensor *grad_out) {
    if (!ag__check_live(who, out)) return false;
    if (grad_out && !ag__check_live(who, grad_out)) return false;
    if (!out->requires_grad) {
        ag__fail(who, "tensor %s does not require a gradient: no input of its graph "
                 "has requires_grad set, or it was computed with gradients disabled",
                 ag__shp(out));
        return false;
    }
    if (!grad_out && out->numel != 1) {
        ag__fail(who, "output %s has %lld elements: an implicit gradient of 1 needs a "
                 "one-element output; pass grad_out", ag__shp(out), (long long)out->numel);
        return false;
    }
    if (grad_out && (!ag_same_shape(out, grad_out) || grad_out->dtype != out->dtype)) {
        ag__fail(who, "grad_out is %s %s: expected the output's shape and dtype, %s %s",
                 ag_dtype_name(grad_out->dtype), ag__shp(grad_out), ag_dtype_name(out->dtype),
                 ag__shp(out));
        return false;
    }
    return true;
}

/* The nodes reachable from roots, sorted, every one live; false after a
 * report (o->nodes then freed). */
static bool sort_live(const char *who, int nroots, ag_tensor *const *roots, order *o) {
    bool ok = topo_sort_roots(nroots, roots, o);
    if (!ok) ag__fail(who, "out of memory sorting the graph of %s", ag__shp(roots[0]));
    for (int64_t i = 0; ok && i < o->n; i++) ok = ag__check_live(who, o->nodes[i]);
    if (!ok) {
        free(o->nodes);
        o->nodes = NULL;
    }
    /* Non-leaf gradients start from zero on every pass; leaves accumulate. */
    for (int64_t i = 0; ok && i < o->n; i++)
        if (o->nodes[i]->op) o->nodes[i]->grad = NULL;
    return ok;
}

/* ---- a vjp's gradients into a source -------------------------------------- */

/* How a pass runs each node's backward: its kernel (a plain backward);
 * its vjp recorded, for ag_grad (whose leaves lend their .grad for the
 * pass); or recorded into the leaves' own .grad (ag_backward_create_graph),
 * where a leaf's first gradient is copied, never another tensor (the
 * caller's grad_out): a later plain backward adds into it in place. */
typedef enum { KERNELS, RECORD, RECORD_INTO_LEAVES } pass_mode;

/* g, a vjp's gradient for source s, as s's gradient: summed over the dims
 * along which it broadcasts to s, and cast to s's dtype; ops in A, recorded
 * when recording is on. NULL after a report when g's shape does not reduce
 * to s's. */
static ag_tensor *fit(ag_arena *A, ag_tensor *g, const ag_tensor *s, const char *op) {
    if (!ag__check_live(op, g)) return NULL;
    if (!ag_dtype_is_float(g->dtype)) {
        ag__fail("backward", "%s's vjp gave an %s gradient %s for its source %s %s: expected "
                 "a float gradient", op, ag_dtype_name(g->dtype), ag__shp(g),
                 ag_dtype_name(s->dtype), ag__shp(s));
        return NULL;
    }
    if (!ag_same_shape(g, s)) {
        const int lead = g->ndim - s->ndim;
        int dims[AG_MAX_DIMS], n = 0;
        bool ok = lead >= 0;
        for (int i = 0; ok && i < g->ndim; i++) {
            const int j = i - lead;
            if (j < 0 || s->shape[j] != g->shape[i]) dims[n++] = i;
            if (j >= 0 && s->shape[j] != g->shape[i] && s->shape[j] != 1) ok = false;
        }
        if (!ok) {
            ag__fail("backward", "%s's vjp gave a gradient %s for its source %s: expected the "
                     "source's shape or one that broadcasts to it", op, ag__shp(g), ag__shp(s));
            return NULL;
        }
        g = ag_reshape_(A, n ? ag_sum_(A, g, n, dims, true) : g, s->ndim, s->shape);
    }
    return g && g->dtype != s->dtype ? ag_cast_(A, g, s->dtype) : g;
}

/* t's vjp, its gradients added into its sources': recorded, into s->grad as
 * a new tensor (graph), or with recording off into s's gradient buffer
 * (plain, for an op without a kernel). false after a report. */
static bool run_vjp(ag_tensor *t, pass_mode mode) {
    const bool graph = mode != KERNELS;
    if (!t->op->vjp) {
        ag__fail("backward", "%s has no differentiable backward: a backward with create_graph "
                 "needs a vjp in every op of the graph", t->op->name);
        return false;
    }
    const bool was = ag_set_grad_enabled(graph);
    ag_tensor *gs[AG_OP_MAX_SRCS] = {0};
    const int reports = ag_error_count();
    bool ok = t->op->vjp(t, t->grad, gs) && ag_error_count() == reports;
    if (!ok && ag_error_count() == reports)
        ag__fail("backward", "%s's vjp returned false without a report (a vjp reports what is "
                 "wrong with ag_op_fail_ before it returns false)", t->op->name);
    for (int j = 0; ok && j < t->nsrc && j < AG_OP_MAX_SRCS; j++) {
        ag_tensor *s = t->src[j];
        if (!s || !s->requires_grad || !gs[j]) continue;
        ag_tensor *g = fit(t->arena, gs[j], s, t->op->name);
        if (!g) {
            ok = false;
        } else if (!graph) {
            ag_tensor *buf = ag__grad_buf(s);
            if (buf) ag__accumulate(buf, g);
            ok = buf != NULL;
        } else {
            const bool copy = mode == RECORD_INTO_LEAVES && !s->op;
            s->grad = s->grad ? ag_add_(t->arena, s->grad, g) : copy ? ag_clone_(t->arena, g) : g;
            ok = s->grad != NULL;
        }
    }
    ag_set_grad_enabled(was);
    return ok;
}

/* ---- the passes ------------------------------------------------------------- */

/* The reverse walk over a sorted graph whose seeds are in place: each node's
 * kernel (plain; its vjp with recording off where it has none), or each
 * node's vjp recorded (graph). hook: plain only. A node whose backward
 * reports (a custom op's check, out of memory for a gradient) stops the
 * pass: the caller learns it from the result. */
static bool walk(const order *o, pass_mode mode, ag_leaf_hook hook, void *userdata) {
    bool ok = true;
    const bool profiled = ag__profile_on();
    for (int64_t i = o->n - 1; ok && i >= 0; i--) {
        ag_tensor *t = o->nodes[i];
        if (!t->op && hook) hook(t, userdata);
        if (!t->op || !t->grad) continue;
        const int reports = ag_error_count();
        const int64_t start = profiled ? ag__profile_node_begin(t->op) : 0;
        if (mode != KERNELS || !t->op->backward)
            ok = run_vjp(t, mode);
        else
            t->op->backward(t);
        if (profiled) ag__profile_node_end(t->op, start);
        ok = ok && ag_error_count() == reports;
        if (ok && anomaly) ok = ag__anomaly_backward(t);
    }
    return ok;
}

/* Adds a root's seed into its gradient (seed NULL: 1). */
static bool add_seed(ag_tensor *out, const ag_tensor *seed, pass_mode mode) {
    if (mode == KERNELS) {
        ag_tensor *buf = ag__grad_buf(out);
        if (buf) ag__accumulate(buf, seed);
        return buf != NULL || !out->requires_grad;
    }
    ag_tensor *g = seed ? (ag_tensor *)seed
                        : ag_ones_(out->arena, out->dtype, out->ndim, out->shape);
    if (g && out->grad) g = ag_add_(out->arena, out->grad, g);
    else if (g && !out->op && seed && mode == RECORD_INTO_LEAVES) g = ag_clone_(out->arena, g);
    out->grad = g;
    return g != NULL;
}

/* Backward with the leaf hook (NULL: none). A leaf sits in the post-order
 * before every node that uses it, so when the reverse walk reaches it, all
 * of its users have run: its gradient is final. */
static bool backward(ag_tensor *out, const ag_tensor *grad_out, pass_mode mode, ag_leaf_hook hook,
                     void *userdata) {
    if (!out || !seed_ok("backward", out, grad_out)) return false;
    order o = {0};
    if (!sort_live("backward", 1, &out, &o)) return false;
    /* The seed. A plain pass takes a non-leaf output's gradient as grad_out
     * itself, not a copy: nothing in out's graph writes out->grad (out
     * consumes no node of it), and the next backward drops it again. */
    bool ok = true;
    if (mode == KERNELS && grad_out && out->op)
        out->grad = (ag_tensor *)grad_out;
    else
        ok = add_seed(out, grad_out, mode);
    ok = ok && walk(&o, mode, hook, userdata);
    free(o.nodes);
    return ok;
}

bool ag_backward_(ag_tensor *out, const ag_tensor *grad_out) {
    return backward(out, grad_out, KERNELS, NULL, NULL);
}

bool ag_backward_create_graph_(ag_tensor *out, const ag_tensor *grad_out) {
    const bool was = ag_set_grad_enabled(true);
    const bool ok = backward(out, grad_out, RECORD_INTO_LEAVES, NULL, NULL);
    ag_set_grad_enabled(was);
    return ok;
}

bool ag_backward_hooked_(ag_tensor *out, const ag_tensor *grad_out, ag_leaf_hook hook,
                         void *userdata) {
    return backward(out, grad_out, KERNELS, hook, userdata);
}

bool ag_backward_from_(ag_tensor *out, const ag_tensor *grad_out) {
    if (!out || !grad_out) return false; /* an earlier failure, already reported */
    return ag_backward_(out, grad_out);
}

/* ---- ag_grad: gradients returned, not accumulated --------------------------- */

/* What a pass of ag_grad borrows from a leaf, given back afterwards. */
typedef struct {
    ag_tensor *grad;
    bool requires_grad;
} leaf_state;

static bool is_input(const ag_tensor *t, int n, ag_tensor *const *inputs) {
    for (int i = 0; i < n; i++)
        if (inputs[i] == t) return true;
    return false;
}

static bool grad_args_ok(int nout, ag_tensor *const *outputs, ag_tensor *const *grad_outputs,
                         int nin, ag_tensor *const *inputs, ag_tensor **grads) {
    if (nout < 1 || nin < 1 || !outputs || !inputs || !grads) {
        ag__fail("grad", "%d outputs, %d inputs%s: expected at least one of each and a "
                 "grads array of nin entries", nout, nin, !grads ? ", grads NULL" : "");
        return false;
    }
    for (int k = 0; k < nout; k++) {
        if (!outputs[k] || (grad_outputs && !grad_outputs[k])) return false; /* reported */
        if (!seed_ok("grad", outputs[k], grad_outputs ? grad_outputs[k] : NULL)) return false;
    }
    for (int i = 0; i < nin; i++) {
        if (!inputs[i]) return false; /* an earlier failure, already reported */
        if (!ag__check_live("grad", inputs[i])) return false;
        if (!inputs[i]->requires_grad) {
            ag__fail("grad", "input %d (%s %s) does not require a gradient: expected "
                     "tensors the outputs were computed from with requires_grad set", i,
                     ag_dtype_name(inputs[i]->dtype), ag__shp(inputs[i]));
            return false;
        }
    }
    return true;
}

/* The pass of ag_grad over o: leaves lend their state (saved in keep). A
 * plain pass gives each input leaf a zeroed buffer in A and makes the other
 * leaves need no gradient (the kernels then skip them); a graph pass
 * empties every leaf's gradient, and run_vjp adds into inputs' only. */
static bool grad_pass(const order *o, leaf_state *keep, ag_arena *A, int nout,
                      ag_tensor *const *outputs, ag_tensor *const *grad_outputs, int nin,
                      ag_tensor *const *inputs, ag_tensor **grads, bool graph) {
    bool ok = true;
    for (int64_t i = 0; i < o->n; i++) {
        ag_tensor *t = o->nodes[i];
        keep[i] = (leaf_state){t->grad, t->requires_grad};
        if (t->op) continue;
        const bool in = is_input(t, nin, inputs);
        t->grad = NULL;
        if (!graph && in) ok = ok && (t->grad = ag_zeros_(A, t->dtype, t->ndim, t->shape));
        if (!graph && !in) t->requires_grad = false;
    }
    for (int k = 0; ok && k < nout; k++)
        ok = add_seed(outputs[k], grad_outputs ? grad_outputs[k] : NULL, graph ? RECORD : KERNELS);
    ok = ok && walk(o, graph ? RECORD : KERNELS, NULL, NULL);
    /* an input the outputs do not reach (not sorted in this pass, so its
     * .grad is its own or an earlier pass's) gets zeros, as PyTorch's
     * materialize_grads gives; every sorted node has the pass's visit mark */
    const uint64_t pass = o->nodes[0]->visit;
    for (int i = 0; ok && i < nin; i++) {
        ag_tensor *x = inputs[i];
        const bool reached = x->visit == pass && x->grad;
        grads[i] = reached ? x->grad : ag_zeros_(A, x->dtype, x->ndim, x->shape);
        ok = grads[i] != NULL;
    }
    /* the leaves' own state back */
    for (int64_t i = 0; i < o->n; i++)
        if (!o->nodes[i]->op) {
            o->nodes[i]->grad = keep[i].grad;
            o->nodes[i]->requires_grad = keep[i].requires_grad;
        }
    return ok;
}

bool ag_grad_(int nout, ag_tensor *const *outputs, ag_tensor *const *grad_outputs, int nin,
              ag_tensor *const *inputs, ag_tensor **grads, bool create_graph) {
    if (!grad_args_ok(nout, outputs, grad_outputs, nin, inputs, grads)) return false;
    for (int i = 0; i < nin; i++) grads[i] = NULL;
    order o = {0};
    if (!sort_live("grad", nout, outputs, &o)) return false;
    leaf_state *keep = malloc((size_t)(o.n ? o.n : 1) * sizeof *keep);
    if (!keep) {
        free(o.nodes);
        ag__fail("grad", "out of memory for a graph of %lld nodes", (long long)o.n);
        return false;
    }
    const bool was = ag_set_grad_enabled(create_graph);
    const bool ok = grad_pass(&o, keep, outputs[0]->arena, nout, outputs, grad_outputs, nin,
                              inputs, grads, create_graph);
    ag_set_grad_enabled(was);
    free(keep);
    free(o.nodes);
    return ok;
}
