"""Bit-packed encoders for linear codes over Z2 and Z4: any rows of the code, built on demand.

A codeword is the sum of the generators selected by the bits of its index (bit b of the
index selects generator b). The index bits are taken eight at a time: a table holds the 256
sums of each group of eight generators, so a codeword costs one table lookup per group and a
few bitwise operations on packed words. Only bitwise operations act on the packed bytes, so
the result does not depend on the platform's byte order. Rows come out as +-1/sqrt(n) float64
unit vectors, built in chunks so that memory stays close to the output's size.
"""

from __future__ import annotations

import numpy as np

_GROUP = 8
_CHUNK_ELEMENTS = 1 << 18  # output elements per chunk: 2 MiB of float64 stays in cache


def _pack(bits: np.ndarray) -> np.ndarray:
    """Pack 0/1 rows little-endian into bytes, padded to whole 64-bit words."""
    packed = np.packbits(bits.astype(np.uint8), axis=-1, bitorder="little")
    pad = (-packed.shape[-1]) % 8
    return np.pad(packed, [(0, 0)] * (packed.ndim - 1) + [(0, pad)])


def _subset_sums(generators: np.ndarray, modulus: int) -> list[np.ndarray]:
    """For each group of eight generators, the sums (mod ``modulus``) of all their subsets."""
    tables = []
    for start in range(0, len(generators), _GROUP):
        table = np.zeros((1, generators.shape[1]), dtype=np.int64)
        for g in generators[start:start + _GROUP]:
            table = np.concatenate([table, (table + g) % modulus])
        tables.append(table)
    return tables


def _digits(index: np.ndarray, group: int) -> np.ndarray:
    return ((index >> (_GROUP * group)) & 0xFF).astype(np.intp)


def sign_rows(bits: np.ndarray, n: int, out: np.ndarray) -> None:
    """Write +-1/sqrt(n) (bit 0 -> +, bit 1 -> -) for packed bit rows into ``out`` (k, cols).

    scale - 2 scale * bit is exact in floating point, so the values are bitwise fixed.
    """
    scale = 1.0 / np.sqrt(float(n))
    unpacked = np.unpackbits(bits, axis=1, count=out.shape[1], bitorder="little")
    np.multiply(unpacked, -2.0 * scale, out=out)
    out += scale


class BinaryEncoder:
    """Codewords of the binary linear code spanned by ``generators`` (k x n, entries 0/1)."""

    def __init__(self, generators: np.ndarray):
        generators = np.asarray(generators, dtype=np.int64) % 2
        self.k, self.n = generators.shape
        self._tables = [_pack(t) for t in _subset_sums(generators, 2)]

    def packed(self, index: np.ndarray) -> np.ndarray:
        """Packed codewords (len(index), bytes) for int64 indices in [0, 2^k)."""
        words = [t.view(np.uint64) for t in self._tables]
        acc = words[0][_digits(index, 0)]
        for g in range(1, len(words)):
            acc ^= words[g][_digits(index, g)]
        return acc.view(np.uint8)

    def write(self, index: np.ndarray, out: np.ndarray) -> None:
        """Write the +-1/sqrt(n) rows of ``index`` into ``out`` (len(index), n)."""
        for lo, hi in chunks(len(index), self.n):
            sign_rows(self.packed(index[lo:hi]), self.n, out[lo:hi])


class Z4Encoder:
    """Gray images of the Z4-linear code spanned by ``generators`` (k x L, entries in Z4).

    Index bit b adds generator b; a generator of order 4 takes two bits (itself and twice
    itself), so the caller lists both. A Z4 vector is held as two bit planes, value = lo + 2 hi;
    the Gray map sends it to the binary vector (hi | hi xor lo) of length n = 2L
    (0 -> 00, 1 -> 01, 2 -> 11, 3 -> 10), which turns Lee distance into Hamming distance.
    """

    def __init__(self, generators: np.ndarray):
        generators = np.asarray(generators, dtype=np.int64) % 4
        self.k, self.length = generators.shape
        self.n = 2 * self.length
        self._tables = [(_pack(t & 1), _pack(t >> 1)) for t in _subset_sums(generators, 4)]

    def planes(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed (lo, hi) bit planes of the codewords of ``index``."""
        lo_t, hi_t = self._tables[0]
        d = _digits(index, 0)
        lo, hi = lo_t.view(np.uint64)[d], hi_t.view(np.uint64)[d]
        for g in range(1, len(self._tables)):
            lo_t, hi_t = self._tables[g]
            d = _digits(index, g)
            lo2, hi2 = lo_t.view(np.uint64)[d], hi_t.view(np.uint64)[d]
            hi ^= hi2 ^ (lo & lo2)
            lo ^= lo2
        return lo.view(np.uint8), hi.view(np.uint8)

    def packed(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two packed halves (hi, hi xor lo) of the Gray images of ``index``."""
        lo, hi = self.planes(index)
        return hi, hi ^ lo

    def write(self, index: np.ndarray, out: np.ndarray) -> None:
        """Write the +-1/sqrt(n) Gray images of ``index`` into ``out`` (len(index), n)."""
        half = self.length
        for lo, hi in chunks(len(index), self.n):
            first, second = self.packed(index[lo:hi])
            sign_rows(first, self.n, out[lo:hi, :half])
            sign_rows(second, self.n, out[lo:hi, half:])


def chunks(count: int, n: int) -> list[tuple[int, int]]:
    """[lo, hi) row ranges of about _CHUNK_ELEMENTS output elements each."""
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    return [(lo, min(lo + step, count)) for lo in range(0, count, step)]
