"""Independent, named random streams derived from one seed."""

from __future__ import annotations

import hashlib

import numpy as np


class Streams:
    """``Streams(seed).for_part("households")`` always yields the same generator for that part.

    Parts draw from their own streams so that adding draws to one part leaves the others as they
    were; a day of changes draws from ``for_part("day", n)``.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def for_part(self, name: str, *index: int) -> np.random.Generator:
        digest = hashlib.sha256(name.encode()).digest()
        words = [self.seed, int.from_bytes(digest[:4], "little"), *index]
        return np.random.default_rng(np.random.SeedSequence(words))
