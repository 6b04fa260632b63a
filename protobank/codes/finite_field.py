"""Exact arithmetic in a finite field GF(p^k), as integer lookup tables.

The complex-phase codes and the elliptic quadrics need GF(q) for prime powers q up to a few
hundred (q = 9, 25, 27, 49, 121, 125, 169, 289, 361, 529, and 2, 4, 8 for the quadrics).
Element e in [0, q) is the polynomial sum_i d_i t^i over GF(p), d_i the base-p digits of e,
reduced modulo the smallest (in that integer order) monic irreducible polynomial of degree k.
Any such choice gives an isomorphic field; fixing it makes every table, and so every code
built from it, the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class FiniteField:
    """GF(p^k) as tables: ``add[a, b]``, ``mul[a, b]``, ``neg[a]`` and ``trace[a]`` in [0, p)."""

    p: int
    k: int
    add: np.ndarray
    mul: np.ndarray
    neg: np.ndarray
    trace: np.ndarray

    @property
    def q(self) -> int:
        """The number of elements, p^k."""
        return self.p**self.k

    def power(self, a: np.ndarray, e: int) -> np.ndarray:
        """a^e elementwise (a an array of elements, e >= 0), by square and multiply."""
        return _power(self.mul, np.asarray(a), e)

    def primitive_element(self) -> int:
        """The smallest element that generates the multiplicative group."""
        q = self.q
        orders = [(q - 1) // r for r in _prime_factors(q - 1)]
        for g in range(2 if q > 2 else 1, q):
            if all(self.power(np.array(g), o) != 1 for o in orders):
                return g
        raise AssertionError(f"GF({q}) has no primitive element")  # pragma: no cover


def prime_power(q: int) -> tuple[int, int] | None:
    """(p, k) with q = p^k and p prime, or None when q is not a prime power."""
    if q < 2:
        return None
    factors = _prime_factors(q)
    if len(factors) != 1:
        return None
    p = factors[0]
    k = 0
    while q > 1:
        q //= p
        k += 1
    return p, k


def _prime_factors(n: int) -> list[int]:
    """The distinct primes dividing n, ascending."""
    out, f = [], 2
    while f * f <= n:
        if n % f == 0:
            out.append(f)
            while n % f == 0:
                n //= f
        f += 1
    if n > 1:
        out.append(n)
    return out


@lru_cache(maxsize=None)
def gf(q: int) -> FiniteField:
    """The field with q elements (q a prime power), tables built once per process.

    Raises
    ------
    ValueError
        If q is not a prime power.
    """
    pk = prime_power(q)
    if pk is None:
        raise ValueError(f"GF(q) needs q to be a prime power, got q={q}")
    p, k = pk
    digits = (np.arange(q)[:, None] // p ** np.arange(k)[None, :]) % p  # (q, k)
    weights = p ** np.arange(k)
    add = (((digits[:, None, :] + digits[None, :, :]) % p) @ weights).astype(np.int32)
    neg = (((-digits) % p) @ weights).astype(np.int32)
    for modulus in _monic_polynomials(p, k):
        mul = _multiplication_table(digits, modulus, p)
        if k == 1 or not (mul[1:, 1:] == 0).any():  # no zero divisors: the modulus is irreducible
            break
    frob = np.arange(q)
    trace = np.zeros(q, dtype=np.int64)
    for _ in range(k):  # Tr(a) = a + a^p + ... + a^(p^(k-1)), an element of the prime field
        trace = add[trace, frob]
        frob = _power(mul, frob, p)
    if (trace >= p).any():  # pragma: no cover - a wrong table, not a user error
        raise AssertionError(f"trace of GF({q}) left the prime field")
    return FiniteField(p=p, k=k, add=add, mul=mul, neg=neg, trace=trace.astype(np.int32))


def _monic_polynomials(p: int, k: int):
    """Monic degree-k polynomials over GF(p), as arrays c_0..c_{k-1}, in integer order."""
    for code in range(p**k):
        yield (code // p ** np.arange(k)) % p


def _multiplication_table(digits: np.ndarray, modulus: np.ndarray, p: int) -> np.ndarray:
    """mul[a, b] for the field GF(p)[t] / (t^k + sum modulus_i t^i)."""
    q, k = digits.shape
    prod = np.zeros((q, q, 2 * k - 1), dtype=np.int64)
    for i in range(k):
        for j in range(k):
            prod[:, :, i + j] += digits[:, None, i] * digits[None, :, j]
    prod %= p
    for top in range(2 * k - 2, k - 1, -1):  # t^k = -sum modulus_i t^i
        lead = prod[:, :, top].copy()
        prod[:, :, top] = 0
        prod[:, :, top - k : top] -= lead[:, :, None] * modulus[None, None, :]
        prod %= p
    return (prod[:, :, :k] @ (p ** np.arange(k))).astype(np.int32)


def _power(mul: np.ndarray, a: np.ndarray, e: int) -> np.ndarray:
    """a^e elementwise with the multiplication table, by square and multiply."""
    out = np.ones_like(a)
    while e:
        if e & 1:
            out = mul[out, a]
        a = mul[a, a]
        e >>= 1
    return out
