#!/usr/bin/env python3
"""core/vmath_fit.py — fits the polynomials of core/vmath.h (needs mpmath).

    python3 core/vmath_fit.py erf|G|Q

Each fit minimises the largest relative error of the function it serves,
by Lawson's iteration (weighted least squares whose weights follow the
error, converging to the minimax fit) on 250 or 300 Chebyshev points, in 40-digit
arithmetic, then reports the error on 2000 evenly spaced points:

  erf  erf(x) = x + x P(x^2)          P on x^2 in [0, 1], 7 terms (2^-29.6)
  G    e^(z^2) erfc(z) = sum c_i t^i  t = 2 / (2 + z), z in [0.35, 10.3], 10 terms (2^-28.7)
  Q    Phi(x) = 1/2 + x Q(x^2)        Q on x^2 in [0, 2], 8 terms (2^-33); relative
                                      to Phi(-|x|) for |x| <= 0.5, Phi(|x|) beyond,
                                      the sides core/vmath.h uses it on

It prints the coefficients lowest degree first: erf's and Q's rounded to
float (as core/vmath.h writes them), G's to double. The fits take minutes.
"""
import struct
import sys

import mpmath as mp

mp.mp.dps = 40


def lawson(target, terms, lo, hi, npts=300, iters=60):
    """Coefficients c of sum c_i v^i ~ f(v) with the weighted error w (f - sum)
    near minimax on [lo, hi], where target(v) = (f, w); and the largest error."""
    pts = [lo + (hi - lo) * (1 - mp.cos(mp.pi * (k + 0.5) / npts)) / 2 for k in range(npts)]
    fw = [target(v) for v in pts]
    lw = [mp.mpf(1) / npts] * npts
    for _ in range(iters):
        a = mp.matrix(terms, terms)
        b = mp.matrix(terms, 1)
        for k, v in enumerate(pts):
            f, w = fw[k]
            ww = lw[k] * w * w
            pw = [v**i for i in range(terms)]
            for i in range(terms):
                b[i] += ww * pw[i] * f
                for j in range(terms):
                    a[i, j] += ww * pw[i] * pw[j]
        c = mp.lu_solve(a, b)
        err = [abs((sum(c[i] * v**i for i in range(terms)) - fw[k][0]) * fw[k][1])
               for k, v in enumerate(pts)]
        s = sum(lw[k] * err[k] for k in range(npts))
        lw = [lw[k] * err[k] / s for k in range(npts)]
    worst = 0
    for k in range(2000):
        v = lo + (hi - lo) * k / 1999
        f, w = target(v)
        worst = max(worst, abs((sum(c[i] * v**i for i in range(terms)) - f) * w))
    return [c[i] for i in range(terms)], worst


def erf_small(z):
    if z == 0:
        return 2 / mp.sqrt(mp.pi) - 1, mp.sqrt(mp.pi) / 2
    x = mp.sqrt(z)
    e = mp.erf(x)
    return e / x - 1, x / e


def erfc_scaled(t):
    z = 2 / t - 2
    g = mp.erfc(z) * mp.exp(z * z)
    return g, 1 / g


def normcdf_small(z):
    if z == 0:
        return 1 / mp.sqrt(2 * mp.pi), 2
    x = mp.sqrt(z)
    side = mp.ncdf(-x) if z <= mp.mpf("0.25") else mp.ncdf(x)
    return (mp.ncdf(x) - mp.mpf("0.5")) / x, x / side


def f32(v):
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def main():
    which = sys.argv[1] if len(sys.argv) == 2 else ""
    fits = {
        "erf": (erf_small, 7, mp.mpf(0), mp.mpf(1), 300, 80, lambda v: "%.9g" % f32(v)),
        "G": (erfc_scaled, 10, 2 / (2 + mp.mpf("10.3")), 2 / (2 + mp.mpf("0.35")), 250, 60,
              lambda v: "%.17g" % float(v)),
        "Q": (normcdf_small, 8, mp.mpf(0), mp.mpf(2), 250, 60, lambda v: "%.9g" % f32(v)),
    }
    if which not in fits:
        sys.exit("usage: vmath_fit.py erf|G|Q")
    target, terms, lo, hi, npts, iters, show = fits[which]
    c, worst = lawson(target, terms, lo, hi, npts, iters)
    print("%s: largest relative error 2^%s" % (which, mp.nstr(mp.log(worst, 2), 4)))
    for v in c:
        print(show(v))


if __name__ == "__main__":
    main()
