/* tests/tensor/rng.c — the seeded RNG: reproducibility, the published
 * algorithm (splitmix64 seeding xoshiro256**, re-implemented here from the
 * reference code), and the distributions, with tolerances from standard
 * errors. */
#include <math.h>
#include <string.h>

#include "tensor_test.h"

/* ---- reference: Vigna's splitmix64.c and xoshiro256starstar.c ------------ */

static uint64_t ref_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t ref_next(uint64_t s[4]) {
    const uint64_t result = ref_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return result;
}

START_TEST(rng_matches_reference_algorithm) {
    /* splitmix64's first output from state 0 (a published test value) */
    uint64_t x = 0;
    ck_assert(ref_splitmix64(&x) == 0xe220a8397b1dcdafull);
    const uint64_t seeds[] = {0, 1, 42, 0xdeadbeefcafef00dull};
    for (int k = 0; k < 4; k++) {
        uint64_t sm = seeds[k], s[4];
        for (int i = 0; i < 4; i++) s[i] = ref_splitmix64(&sm);
        ag_rng r;
        ag_rng_seed(&r, seeds[k]);
        for (int i = 0; i < 1000; i++) ck_assert(ag_rng_u64(&r) == ref_next(s));
        /* uniform takes the top 53 bits */
        for (int i = 0; i < 100; i++)
            ck_assert(ag_rng_uniform(&r) == (double)(ref_next(s) >> 11) / 9007199254740992.0);
    }
}
END_TEST

/* ag_rng_seeded: the reference stream, from a state with no Box-Muller spare
 * (its first normal is the cosine of the first pair, computed here). */
START_TEST(rng_seeded_by_value) {
    const uint64_t seeds[] = {0, 7, 0xdeadbeefcafef00dull};
    for (int k = 0; k < 3; k++) {
        uint64_t sm = seeds[k], s[4];
        for (int i = 0; i < 4; i++) s[i] = ref_splitmix64(&sm);
        ag_rng r = ag_rng_seeded(seeds[k]);
        ck_assert(!r.has_spare);
        for (int i = 0; i < 100; i++) ck_assert(ag_rng_u64(&r) == ref_next(s));
        const double u1 = 1.0 - (double)(ref_next(s) >> 11) / 9007199254740992.0;
        const double u2 = (double)(ref_next(s) >> 11) / 9007199254740992.0;
        const double z = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
        ck_assert_double_eq_tol(ag_rng_normal(&r), z, 1e-12);
    }
}
END_TEST

START_TEST(rng_same_seed_same_stream) {
    ag_rng a, b;
    ag_rng_seed(&a, 1234);
    ag_rng_seed(&b, 1234);
    for (int i = 0; i < 10000; i++) ck_assert(ag_rng_u64(&a) == ag_rng_u64(&b));
    for (int i = 0; i < 1001; i++) ck_assert(ag_rng_normal(&a) == ag_rng_normal(&b));
    for (int i = 0; i < 1000; i++) ck_assert(ag_rng_uniform(&a) == ag_rng_uniform(&b));
    for (int i = 0; i < 1000; i++) ck_assert(ag_rng_below(&a, 37) == ag_rng_below(&b, 37));
    /* re-seeding starts over, and forgets a spare normal value */
    ag_rng c;
    ag_rng_seed(&c, 99);
    double first = ag_rng_normal(&c);
    ag_rng_seed(&c, 99);
    ck_assert(ag_rng_normal(&c) == first);
    (void)ag_rng_normal(&c); /* leaves no spare: a pair was used */
    (void)ag_rng_normal(&c); /* leaves a spare */
    ag_rng_seed(&c, 99);
    ck_assert(ag_rng_normal(&c) == first);
}
END_TEST

START_TEST(rng_different_seeds_differ) {
    ag_rng a, b;
    ag_rng_seed(&a, 1);
    ag_rng_seed(&b, 2);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += ag_rng_u64(&a) == ag_rng_u64(&b);
    ck_assert_int_eq(same, 0);
    /* 0 is a valid seed (the state is not all zero) */
    ag_rng z;
    ag_rng_seed(&z, 0);
    uint64_t v = 0;
    for (int i = 0; i < 4; i++) v |= ag_rng_u64(&z);
    ck_assert(v != 0);
}
END_TEST

START_TEST(rng_uniform_distribution) {
    ag_rng r;
    ag_rng_seed(&r, 7);
    const int n = 100000;
    double sum = 0, sq = 0, lo = 1, hi = 0;
    int below_quarter = 0;
    for (int i = 0; i < n; i++) {
        double u = ag_rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        sum += u;
        sq += u * u;
        below_quarter += u < 0.25;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* U(0,1): mean 1/2, variance 1/12; standard error of the mean sqrt(1/12/n) */
    double se = sqrt(1.0 / 12.0 / n);
    ck_assert_msg(fabs(mean - 0.5) < 4 * se, "mean %g", mean);
    /* variance of u: the standard error of the sample variance is
     * sqrt((mu4 - sigma^4) / n) with mu4 = 1/80 */
    double se_var = sqrt((1.0 / 80.0 - 1.0 / 144.0) / n);
    ck_assert_msg(fabs(var - 1.0 / 12.0) < 4 * se_var, "variance %g", var);
    /* P(u < 1/4) = 1/4 */
    double p = (double)below_quarter / n, se_p = sqrt(0.25 * 0.75 / n);
    ck_assert_msg(fabs(p - 0.25) < 4 * se_p, "P(u < 1/4) = %g", p);
    ck_assert(lo < 1e-3 && hi > 1 - 1e-3);
}
END_TEST

START_TEST(rng_normal_distribution) {
    ag_rng r;
    ag_rng_seed(&r, 11);
    const int n = 100000;
    double sum = 0, sq = 0, q4 = 0;
    int within1 = 0;
    for (int i = 0; i < n; i++) {
        double z = ag_rng_normal(&r);
        ck_assert(isfinite(z));
        sum += z;
        sq += z * z;
        q4 += z * z * z * z;
        within1 += fabs(z) < 1.0;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* N(0,1): standard error of the mean 1/sqrt(n); of the variance sqrt(2/n) */
    ck_assert_msg(fabs(mean) < 4 / sqrt(n), "mean %g", mean);
    ck_assert_msg(fabs(var - 1) < 4 * sqrt(2.0 / n), "variance %g", var);
    /* fourth moment 3 (its standard error is sqrt((105 - 9) / n)) */
    ck_assert_msg(fabs(q4 / n - 3) < 4 * sqrt(96.0 / n), "E[z^4] = %g", q4 / n);
    /* P(|z| < 1) = erf(1/sqrt(2)) */
    double p = (double)within1 / n, want = erf(1 / sqrt(2.0));
    ck_assert_msg(fabs(p - want) < 4 * sqrt(want * (1 - want) / n), "P(|z| < 1) = %g", p);
}
END_TEST

START_TEST(rng_below_in_range_and_uniform) {
    ag_rng r;
    ag_rng_seed(&r, 3);
    enum { K = 10 };
    const int n = 100000;
    int counts[K] = {0};
    for (int i = 0; i < n; i++) {
        uint64_t v = ag_rng_below(&r, K);
        ck_assert(v < K);
        counts[v]++;
    }
    /* chi-square with 9 degrees of freedom: mean 9, sd sqrt(18) ~ 4.2;
     * P(chi2 > 40) is below 1e-5 */
    double chi2 = 0, e = (double)n / K;
    for (int k = 0; k < K; k++) chi2 += (counts[k] - e) * (counts[k] - e) / e;
    ck_assert_msg(chi2 < 40, "chi-square %g", chi2);
    /* n = 1 always gives 0; large n stays in range */
    for (int i = 0; i < 100; i++) ck_assert(ag_rng_below(&r, 1) == 0);
    const uint64_t big = (1ull << 63) + 12345;
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t v = ag_rng_below(&r, big);
        ck_assert(v < big);
        high += v >= big / 2;
    }
    /* about half of them in the upper half (not biased low by a modulo) */
    ck_assert_msg(high > 400 && high < 600, "%d of 1000 in the upper half", high);
    /* a range that is not a power of two and not small: 3 * 2^62 */
    const uint64_t odd = 3ull << 62;
    int top_third = 0;
    for (int i = 0; i < 3000; i++) {
        uint64_t v = ag_rng_below(&r, odd);
        ck_assert(v < odd);
        top_third += v >= (2ull << 62);
    }
    ck_assert_msg(top_third > 850 && top_third < 1150, "%d of 3000 in the top third", top_third);
}
END_TEST

START_TEST(rand_and_randn_fill_tensors) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r1, r2;
    ag_rng_seed(&r1, 5);
    ag_rng_seed(&r2, 5);
    ag_tensor *a = ag_rand(A, &r1, AG_F32, AG_SHAPE(4, 5), -2.0, 3.0);
    ag_tensor *b = ag_rand(A, &r2, AG_F32, AG_SHAPE(4, 5), -2.0, 3.0);
    ck_assert_ptr_nonnull(a);
    ck_assert(ag_is_leaf(a) && !a->requires_grad);
    ck_shape(a, 2, ((int64_t[]){4, 5}));
    ck_assert_int_eq(memcmp(a->data, b->data, 20 * sizeof(float)), 0);
    for (int64_t i = 0; i < 20; i++) {
        double v = ag_get_flat(a, i);
        ck_assert(v >= -2.0 && v <= 3.0);
    }
    /* the elements are lo + (hi - lo) * u for the stream's uniforms, in order */
    ag_rng r3;
    ag_rng_seed(&r3, 5);
    for (int64_t i = 0; i < 20; i++)
        ck_assert(ag_get_flat(a, i) == (double)(float)(-2.0 + 5.0 * ag_rng_uniform(&r3)));

    /* randn: the same seed gives the same tensor; moments of 10^4 values */
    ag_rng_seed(&r1, 8);
    ag_rng_seed(&r2, 8);
    ag_tensor *n1 = ag_randn(A, &r1, AG_F64, AG_SHAPE(100, 100), 2.0, 3.0);
    ag_tensor *n2 = ag_randn(A, &r2, AG_F64, AG_SHAPE(100, 100), 2.0, 3.0);
    ck_assert_int_eq(memcmp(n1->data, n2->data, 10000 * sizeof(double)), 0);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < 10000; i++) {
        double v = ag_get_flat(n1, i);
        sum += v;
        sq += v * v;
    }
    double mean = sum / 1e4, var = sq / 1e4 - mean * mean;
    ck_assert_msg(fabs(mean - 2.0) < 4 * 3.0 / 100, "mean %g", mean);
    ck_assert_msg(fabs(var - 9.0) < 4 * 9.0 * sqrt(2.0 / 1e4), "variance %g", var);
    /* different seeds: different tensors */
    ag_rng_seed(&r2, 9);
    ag_tensor *n3 = ag_randn(A, &r2, AG_F64, AG_SHAPE(100, 100), 2.0, 3.0);
    ck_assert_int_ne(memcmp(n1->data, n3->data, 10000 * sizeof(double)), 0);
    /* bf16: values are bf16-rounded normals */
    ag_rng_seed(&r1, 8);
    ag_tensor *h = ag_randn(A, &r1, AG_BF16, AG_SHAPE(8), 0.0, 1.0);
    ag_rng_seed(&r2, 8);
    for (int64_t i = 0; i < 8; i++)
        ck_assert(ag_get_flat(h, i) ==
                  (double)ag_bf16_to_f32(ag_f32_to_bf16((float)ag_rng_normal(&r2))));
    ag_arena_free(A);
}
END_TEST

TCase *tensor_rng_tcase(void) {
    TCase *tc = tcase_create("rng");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rng_matches_reference_algorithm);
    tcase_add_test(tc, rng_seeded_by_value);
    tcase_add_test(tc, rng_same_seed_same_stream);
    tcase_add_test(tc, rng_different_seeds_differ);
    tcase_add_test(tc, rng_uniform_distribution);
    tcase_add_test(tc, rng_normal_distribution);
    tcase_add_test(tc, rng_below_in_range_and_uniform);
    tcase_add_test(tc, rand_and_randn_fill_tensors);
    return tc;
}
