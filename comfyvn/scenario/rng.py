"""The story PRNG: SplitMix64, our own implementation, identical on every platform.

Algorithm (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014):

    state = (state + 0x9E3779B97F4A7C15) mod 2**64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) mod 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) mod 2**64
    output = z ^ (z >> 31)

Every output passes through the full avalanche mixer, so seeds 0, 1, 2, ... give unrelated streams.
Seeds are integers (taken mod 2**64) or strings (the first 8 bytes of their SHA-256, big-endian).
The whole state is one 64-bit integer, serialised as 16 lowercase hex digits so JSON readers that
store numbers as doubles cannot round it. Only integer arithmetic is used, except ``random()``
which divides a 53-bit integer by 2**53 (exact in IEEE-754 doubles), so results are identical on
every platform and in Ren'Py's Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
ALGORITHM = "splitmix64"


def seed_to_int(seed: int | str | None) -> int:
    """The 64-bit starting state for ``seed`` (``None`` means 0)."""
    if seed is None:
        return 0
    if isinstance(seed, bool):
        raise TypeError("seed must be an integer or a string, not a boolean")
    if isinstance(seed, int):
        return seed & MASK
    if isinstance(seed, str):
        return int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    raise TypeError(f"seed must be an integer or a string, not {type(seed).__name__}")


def seed_from_text(text: str) -> int | str:
    """A seed typed as text (command line, query string): an integer when it reads as one."""
    return int(text) if text.lstrip("-").isdigit() else text


class StoryRandom:
    """A seeded generator with a serialisable state (``state`` / ``from_state``)."""

    __slots__ = ("_state",)

    def __init__(self, seed: int | str | None = 0) -> None:
        self._state = seed_to_int(seed)

    @classmethod
    def from_state(cls, state: str) -> StoryRandom:
        rng = cls.__new__(cls)
        try:
            value = int(state, 16)
        except (TypeError, ValueError):
            raise ValueError(f"RNG state must be 16 hex digits, got {state!r}") from None
        if not 0 <= value <= MASK:
            raise ValueError(f"RNG state out of range: {state!r}")
        rng._state = value
        return rng

    @property
    def state(self) -> str:
        return f"{self._state:016x}"

    def next_u64(self) -> int:
        self._state = z = (self._state + GAMMA) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.next_u64() >> 11) / 9007199254740992.0

    def below(self, n: int) -> int:
        """An integer in [0, n): the high 64 bits of a 128-bit product (no modulo)."""
        if n <= 0:
            raise ValueError("below() needs a positive bound")
        return (self.next_u64() * n) >> 64

    def randint(self, low: int, high: int) -> int:
        """An integer in [low, high], both ends included."""
        if high < low:
            raise ValueError(f"randint bounds reversed: {low} > {high}")
        return low + self.below(high - low + 1)

    def weighted_index(self, weights: Sequence[float]) -> int:
        """Index picked with probability proportional to its weight (weights >= 0, sum > 0).

        One draw: r = random() * total, then the first index whose running sum exceeds r.
        """
        total = 0.0
        for weight in weights:
            total += weight
        if not total > 0:
            raise ValueError("weighted_index needs a positive total weight")
        r = self.random() * total
        running = 0.0
        last = 0
        for index, weight in enumerate(weights):
            if weight <= 0:
                continue
            running += weight
            last = index
            if r < running:
                return index
        return last  # r == total after float rounding: the last positive weight
