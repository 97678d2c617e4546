#!/usr/bin/python3
# Hand computation of the McNemar p-values asserted in PairedTest (stdlib only).
# exact: p = min(1, 2 * sum_{i<=min(b,c)} C(b+c, i) / 2^(b+c));  chi2 with continuity correction:
# x = (|b-c| - 1)^2 / (b+c), p = P[chi2_1 > x] = erfc(sqrt(x/2)).
import math
def exact(b, c):
    d = b + c
    return min(1.0, 2 * sum(math.comb(d, i) for i in range(min(b, c) + 1)) / 2 ** d)
def chi2cc(b, c):
    x = (abs(b - c) - 1) ** 2 / (b + c)
    return x, math.erfc(math.sqrt(x / 2))
for b, c in [(3, 20), (8, 12)]:
    print(f"exact onlyA={b} onlyB={c}: p={exact(b, c):.12g}")
for b, c in [(10, 30), (20, 26)]:
    x, p = chi2cc(b, c)
    print(f"chi2cc onlyA={b} onlyB={c}: chi2={x:.12g} p={p:.12g}")
for x in [0.1, 1.0, 2.5, 3.0, 4.2, 6.0]:
    print(f"erfc({x})={math.erfc(x):.17g}")
