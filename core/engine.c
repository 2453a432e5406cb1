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
    return record(out, op, n, srcs, true);
}

ag_tensor *ag__record_asked(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs) {
    return record(out, op, n, srcs, false);
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
    if (t && t->grad) memset(t->grad->data, 0, (size_t)t->grad->numel * ag_dtype_size(t->dtype));
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
static bool topo_sort(ag_tensor *out, order *o) {
    uint64_t gen = atomic_fetch_add(&generation, 1u) + 1u;
    int64_t sp = 0, cap = 256;
    frame *stack = malloc((size_t)cap * sizeof *stack);
    if (!stack) return false;
    stack[sp++] = (frame){out, 0};
    out->visit = gen;
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

/* dst += src (or += 1 when src is NULL); same dtype and numel. */
static void accumulate(ag_tensor *dst, const ag_tensor *src) {
    const int64_t n = dst->numel;
    if (dst->dtype == AG_BF16) {
        uint16_t *h = dst->data;
        for (int64_t i = 0; i < n; i++) {
            float v = src ? ag_bf16_to_f32(((const uint16_t *)src->data)[i]) : 1.0f;
            h[i] = ag_f32_to_bf16(ag_bf16_to_f32(h[i]) + v);
        }
        return;
    }
    AG_DISPATCH(dst->dtype, T, {
        T *d = dst->data;
        const T *s = src ? src->data : NULL;
        AG_OMP_FOR(n >= AG_PAR_MIN)
        for (int64_t i = 0; i < n; i++) d[i] += s ? s[i] : (T)1;
    });
}

/* Every node of the sorted graph (its sources that need a gradient are nodes
 * too) still lives in its arena's current epoch. */
static bool graph_live(const order *o) {
    for (int64_t i = 0; i < o->n; i++)
        if (!ag__check_live("backward", o->nodes[i])) return false;
    return true;
}

/* Backward with the leaf hook (NULL: none). A leaf sits in the post-order
 * before every node that uses it, so when the reverse walk reaches it, all
 * of its users have run: its gradient is final. */
static bool backward(ag_tensor *out, const ag_tensor *grad_out, ag_leaf_hook hook,
                     void *userdata) {
    if (!out) return false;
    if (!ag__check_live("backward", out)) return false;
    if (grad_out && !ag__check_live("backward", grad_out)) return false;
    if (!out->requires_grad) {
        ag__fail("backward", "tensor %s does not require a gradient: no input of its graph "
                 "has requires_grad set, or it was computed with gradients disabled",
                 ag__shp(out));
        return false;
    }
    if (!grad_out && out->numel != 1) {
        ag__fail("backward", "output %s has %lld elements: an implicit gradient of 1 needs a "
                 "one-element output; pass grad_out", ag__shp(out), (long long)out->numel);
        return false;
    }
    if (grad_out && (!ag_same_shape(out, grad_out) || grad_out->dtype != out->dtype)) {
        ag__fail("backward", "grad_out is %s %s: expected the output's shape and dtype, %s %s",
                 ag_dtype_name(grad_out->dtype), ag__shp(grad_out), ag_dtype_name(out->dtype),
                 ag__shp(out));
        return false;
    }
    order o = {0};
    if (!topo_sort(out, &o)) {
        free(o.nodes);
        ag__fail("backward", "out of memory sorting the graph of %s", ag__shp(out));
        return false;
    }
    if (!graph_live(&o)) {
        free(o.nodes);
        return false;
    }
    /* Non-leaf gradients start from zero on every call; leaves accumulate. */
    for (int64_t i = 0; i < o.n; i++)
        if (o.nodes[i]->op) o.nodes[i]->grad = NULL;
    /* The seed. A non-leaf output's gradient is grad_out itself, not a copy:
     * nothing in out's graph writes out->grad (out consumes no node of it),
     * and the next backward drops it again. */
    bool ok = true;
    if (grad_out && out->op)
        out->grad = (ag_tensor *)grad_out;
    else {
        ag_tensor *seed = ag__grad_buf(out);
        ok = seed != NULL;
        if (ok) accumulate(seed, grad_out);
    }
    for (int64_t i = o.n - 1; ok && i >= 0; i--) {
        ag_tensor *t = o.nodes[i];
        if (!t->op && hook) hook(t, userdata);
        if (!t->op || !t->grad) continue;
        /* a backward that reports (a custom op's check, out of memory for a
         * gradient) stops the pass: the caller learns it from the result */
        const int reports = ag_error_count();
        t->op->backward(t);
        ok = ag_error_count() == reports;
        if (ok && anomaly) ok = ag__anomaly_backward(t);
    }
    free(o.nodes);
    return ok;
}

bool ag_backward_(ag_tensor *out, const ag_tensor *grad_out) {
    return backward(out, grad_out, NULL, NULL);
}

bool ag_backward_hooked_(ag_tensor *out, const ag_tensor *grad_out, ag_leaf_hook hook,
                         void *userdata) {
    return backward(out, grad_out, hook, userdata);
}

bool ag_backward_from_(ag_tensor *out, const ag_tensor *grad_out) {
    if (!out || !grad_out) return false; /* an earlier failure, already reported */
    return ag_backward_(out, grad_out);
}
