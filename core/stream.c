/* core/stream.c — copies with non-temporal stores, for kernels whose output
 * will not be read again while it could still be in cache (see
 * AG_STREAM_MIN in internal.h).
 *
 * A plain store to a line that is not in cache first reads the line (a read
 * for ownership), then writes it back later: a copy of N bytes moves 3N. A
 * non-temporal store writes the line straight to memory through a
 * write-combining buffer: 2N. Such stores are weakly ordered, so the writer
 * fences before anyone else reads the data. */
#include <string.h>

#include "internal.h"

#if defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif

void ag__copy_nt(void *restrict dst, const void *restrict src, size_t bytes) {
#if defined(__AVX__) || defined(__SSE2__)
    char *d = dst;
    const char *s = src;
    /* plain stores up to the first 32-byte boundary of dst */
    size_t head = (size_t)(-(uintptr_t)d & 31);
    if (head > bytes) head = bytes;
    if (head) {
        memcpy(d, s, head);
        d += head, s += head, bytes -= head;
    }
    size_t i = 0;
#ifdef __AVX__
    for (; i + 32 <= bytes; i += 32)
        _mm256_stream_si256((__m256i *)(void *)(d + i),
                            _mm256_loadu_si256((const __m256i *)(const void *)(s + i)));
#else
    for (; i + 16 <= bytes; i += 16)
        _mm_stream_si128((__m128i *)(void *)(d + i),
                         _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
#endif
    if (i < bytes) memcpy(d + i, s + i, bytes - i);
#else
    memcpy(dst, src, bytes);
#endif
}

void ag__stream_fence(void) {
#if defined(__AVX__) || defined(__SSE2__)
    _mm_sfence();
#endif
}
