/* exp over arrays of non-positive arguments, for the softmax of the kernels.
 *
 * A softmax row takes one exp per class: with 45 classes and 11 non-zeros a
 * row, as many as it takes multiply-adds to compute its scores, and the
 * largest cost of a dense minibatch of 2 features. libm's exp is scalar
 * (about 5 ns here). On x86-64 processors with AVX2 and FMA (chosen at run
 * time, once) four arguments at a time go through
 *
 *   x = n ln2 + r, |r| <= ln2 / 2   (n rounded to nearest, ln2 split in two
 *                                    parts so that r is exact),
 *   exp(r) by its Taylor polynomial of degree 13 (remainder < 1e-17),
 *   2^n from the bits of n,
 *
 * within 1 ulp of libm's exp on [-708, 0] (tested), four to five times
 * faster. Elsewhere libm's exp is used.
 *
 * The arguments are x - shift with x <= shift (shift: the row's maximum
 * score), or NaN. Below -708 the result is 0 (exp there is below 3.3e-308:
 * next to a softmax row's total, which is at least 1, it is nothing); NaN
 * gives NaN and -inf gives 0.
 */
#ifndef SKLEARN_LINCLF_FAST_EXP_H
#define SKLEARN_LINCLF_FAST_EXP_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define LC_HAVE_VECTOR_EXP 1
#else
#define LC_HAVE_VECTOR_EXP 0
#endif

/* 1: the vector exp is used; 0: libm's. Set by lc_exp_init. */
static int lc_use_vector_exp = 0;

static void lc_exp_shifted_d_libm(double *x, ptrdiff_t n, double shift)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        x[i] = exp(x[i] - shift);
    }
}

static void lc_exp_shifted_f_libm(float *x, ptrdiff_t n, double shift)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        x[i] = (float)exp((double)x[i] - shift);
    }
}

#if LC_HAVE_VECTOR_EXP

typedef double lc_v4d __attribute__((vector_size(32)));
typedef int64_t lc_v4i __attribute__((vector_size(32)));
typedef float lc_v4f __attribute__((vector_size(16)));

#define LC_ALL4(v) {v, v, v, v}

__attribute__((target("avx2,fma")))
static inline lc_v4d lc_exp4(lc_v4d x)
{
    const lc_v4d log2e = LC_ALL4(1.4426950408889634);
    /* ln2 = LN2_HI + LN2_LO; n * LN2_HI is exact for |n| < 2^11. */
    const lc_v4d ln2_hi = LC_ALL4(6.93147180369123816490e-01);
    const lc_v4d ln2_lo = LC_ALL4(1.90821492927058770002e-10);
    /* 1.5 * 2^52: adding it rounds to an integer, kept in the low bits. */
    const lc_v4d shifter = LC_ALL4(6755399441055744.0);
    const lc_v4d lowest = LC_ALL4(-708.0);
    lc_v4i under = x < lowest;
    lc_v4d xc = (lc_v4d)(((lc_v4i)x & ~under) | ((lc_v4i)lowest & under));
    lc_v4d kd = xc * log2e + shifter;
    lc_v4i n = (lc_v4i)kd;
    kd = kd - shifter;
    lc_v4d r = (xc - kd * ln2_hi) - kd * ln2_lo;
    /* Horner's rule from 1/13! down to 1. */
    lc_v4d p = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^n: the low bits of n (two's complement, -1022 <= n <= 0 here) plus
     * the exponent bias, shifted into the exponent field. */
    lc_v4d two_n = (lc_v4d)((n + 1023) << 52);
    return (lc_v4d)((lc_v4i)(p * two_n) & ~under);
}

__attribute__((target("avx2,fma")))
static void lc_exp_shifted_d_avx2(double *x, ptrdiff_t n, double shift)
{
    const lc_v4d s = LC_ALL4(shift);
    lc_v4d v;
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(&v, x + i, sizeof v);
        v = lc_exp4(v - s);
        memcpy(x + i, &v, sizeof v);
    }
    if (i < n) {
        double tail[4] = {shift, shift, shift, shift};
        memcpy(tail, x + i, (size_t)(n - i) * sizeof(double));
        memcpy(&v, tail, sizeof v);
        v = lc_exp4(v - s);
        memcpy(tail, &v, sizeof v);
        memcpy(x + i, tail, (size_t)(n - i) * sizeof(double));
    }
}

__attribute__((target("avx2,fma")))
static void lc_exp_shifted_f_avx2(float *x, ptrdiff_t n, double shift)
{
    const lc_v4d s = LC_ALL4(shift);
    lc_v4f f;
    lc_v4d v;
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(&f, x + i, sizeof f);
        v = lc_exp4(__builtin_convertvector(f, lc_v4d) - s);
        f = __builtin_convertvector(v, lc_v4f);
        memcpy(x + i, &f, sizeof f);
    }
    if (i < n) {
        float tail[4] = {0, 0, 0, 0};
        memcpy(tail, x + i, (size_t)(n - i) * sizeof(float));
        memcpy(&f, tail, sizeof f);
        v = lc_exp4(__builtin_convertvector(f, lc_v4d) - s);
        f = __builtin_convertvector(v, lc_v4f);
        memcpy(tail, &f, sizeof f);
        memcpy(x + i, tail, (size_t)(n - i) * sizeof(float));
    }
}

#endif  /* LC_HAVE_VECTOR_EXP */

/* Whether this processor can run the vector exp. */
static int lc_vector_exp_available(void)
{
#if LC_HAVE_VECTOR_EXP
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* Choose the implementation: the vector exp where available, unless
 * use_vector is 0. Called when the module is imported (and by the tests),
 * never while a kernel runs. Returns the choice. */
static int lc_exp_init(int use_vector)
{
    lc_use_vector_exp = use_vector && lc_vector_exp_available();
    return lc_use_vector_exp;
}

/* x[i] <- exp(x[i] - shift), i < n. */
static inline void lc_exp_shifted_d(double *x, ptrdiff_t n, double shift)
{
#if LC_HAVE_VECTOR_EXP
    if (lc_use_vector_exp) {
        lc_exp_shifted_d_avx2(x, n, shift);
        return;
    }
#endif
    lc_exp_shifted_d_libm(x, n, shift);
}

/* x[i] <- exp(x[i] - shift) rounded to float, computed in double. */
static inline void lc_exp_shifted_f(float *x, ptrdiff_t n, double shift)
{
#if LC_HAVE_VECTOR_EXP
    if (lc_use_vector_exp) {
        lc_exp_shifted_f_avx2(x, n, shift);
        return;
    }
#endif
    lc_exp_shifted_f_libm(x, n, shift);
}

#endif  /* SKLEARN_LINCLF_FAST_EXP_H */
