"""``java.util.Random``'s generator. AWS seeds one for a seeded ``States.MathRandom`` and for
JSONata's ``$random(seed)``, so the same seed gives the same number as on AWS."""

from __future__ import annotations


class JavaRandom:
    _MULTIPLIER = 0x5DEECE66D
    _MASK = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULTIPLIER) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULTIPLIER + 0xB) & self._MASK
        return self._seed >> (48 - bits)  # at most 31 bits asked for by next_int: never negative

    def next_int(self, bound: int) -> int:
        """``nextInt(bound)`` (MathRandom: AWS draws ``start + nextInt(end - start)``, we assume)."""
        if bound & -bound == bound:  # a power of two
            return (bound * self._next(31)) >> 31
        while True:
            bits = self._next(31)
            value = bits % bound
            if bits - value + (bound - 1) < 2**31:
                return value

    def next_double(self) -> float:
        """``nextDouble()`` (``$random(42)`` is 0.7275636800328681, as measured on AWS)."""
        return ((self._next(26) << 27) + self._next(27)) * (1.0 / (1 << 53))
