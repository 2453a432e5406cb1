/* core/broadcast.c — PyTorch's broadcasting rules and the strided walk that
 * every elementwise kernel uses. */
#include "internal.h"

bool ag__broadcast(const char *op, int na, const int64_t *sa, int nb, const int64_t *sb,
                   int *ndim, int64_t *shape) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        /* align from the right */
        int ia = na - n + i, ib = nb - n + i;
        int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        if (a != b && a != 1 && b != 1) {
            ag__fail(op, "shapes %s and %s do not broadcast: sizes %lld and %lld at dim %d "
                     "differ and neither is 1", ag__shp_of(na, sa), ag__shp_of(nb, sb),
                     (long long)a, (long long)b, i);
            return false;
        }
        shape[i] = a == 1 ? b : a;
    }
    *ndim = n;
    return true;
}

void ag__bcast_strides(const ag_tensor *t, int ndim, int64_t *strides) {
    int64_t own[AG_MAX_DIMS];
    ag__strides(t->ndim, t->shape, own);
    for (int i = 0; i < ndim; i++) {
        int it = t->ndim - ndim + i;
        strides[i] = it < 0 || t->shape[it] == 1 ? 0 : own[it];
    }
}

void ag__iter_init(ag__iter *it, int ndim, const int64_t *shape, int nops,
                   const int64_t *const *strides) {
    it->ndim = ndim;
    it->nops = nops;
    for (int d = 0; d < ndim; d++) {
        it->shape[d] = shape[d];
        it->idx[d] = 0;
    }
    for (int k = 0; k < nops; k++) {
        for (int d = 0; d < ndim; d++) it->strides[k][d] = strides[k][d];
        it->off[k] = 0;
        it->istride[k] = ndim > 0 ? strides[k][ndim - 1] : 0;
    }
    it->inner = ndim > 0 ? shape[ndim - 1] : 1;
}

bool ag__iter_next(ag__iter *it) {
    /* advance the index over every dim but the innermost (which is the run) */
    for (int d = it->ndim - 2; d >= 0; d--) {
        if (++it->idx[d] < it->shape[d]) {
            for (int k = 0; k < it->nops; k++) it->off[k] += it->strides[k][d];
            return true;
        }
        for (int k = 0; k < it->nops; k++) it->off[k] -= it->strides[k][d] * (it->shape[d] - 1);
        it->idx[d] = 0;
    }
    return false;
}

void ag__strided_copy(ag_tensor *dst, const ag_tensor *src, const int64_t *strides) {
    if (dst->numel == 0) return;
    ag__iter it;
    ag__iter_init(&it, dst->ndim, dst->shape, 1, (const int64_t *[]){strides});
    int64_t o = 0;
    AG_BY_SIZE(ag_dtype_size(src->dtype), U, {
        const U *s = src->data;
        U *d = dst->data;
        do {
            const U *x = s + it.off[0];
            const int64_t n = it.inner, is = it.istride[0];
            for (int64_t j = 0; j < n; j++) d[o + j] = x[j * is];
            o += n;
        } while (ag__iter_next(&it));
    });
}

void ag__strided_add(ag_tensor *dst, const int64_t *strides, const ag_tensor *src) {
    if (src->numel == 0) return;
    ag__iter it;
    ag__iter_init(&it, src->ndim, src->shape, 1, (const int64_t *[]){strides});
    int64_t o = 0;
    AG_DISPATCH(src->dtype, T, {
        const T *s = src->data;
        T *d = dst->data;
        do {
            T *x = d + it.off[0];
            const int64_t n = it.inner, is = it.istride[0];
            for (int64_t j = 0; j < n; j++) x[j * is] += s[o + j];
            o += n;
        } while (ag__iter_next(&it));
    });
}

void ag__iter_seek(ag__iter *it, int64_t run) {
    for (int d = it->ndim - 2; d >= 0; d--) {
        it->idx[d] = run % it->shape[d];
        run /= it->shape[d];
        for (int k = 0; k < it->nops; k++) it->off[k] += it->idx[d] * it->strides[k][d];
    }
}
