"""Stable, process-independent pseudo-randomness: every draw is a hash of (seed, parts)."""

from __future__ import annotations

import hashlib


def unit(seed: int, *parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for ``(seed, *parts)``.

    Uses BLAKE2b over the ``repr`` of the key, never Python's salted ``hash()``, so every process
    with the same seed draws the same numbers.
    """
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def bits(seed: int, width: int, *parts: object) -> int:
    """A stable pseudo-random integer in ``[0, 2**width)`` for ``(seed, *parts)``."""
    return int(unit(seed, *parts) * 2**width)
