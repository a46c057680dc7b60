"""The seeded fragmenter: cut a byte stream where real TCP might, then write it.

Cuts land anywhere: inside a JSON line, inside a multi-byte UTF-8 character (on purpose, often),
and sometimes far enough apart that several events share one write.
"""

from __future__ import annotations

import random


def cut(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` in pieces at seeded positions; ``b"".join`` of the result is ``data``."""
    pieces: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size:
        roll = rng.random()
        if roll < 0.15:
            step = rng.randint(200, 1500)  # several events in one write
        elif roll < 0.5:
            step = rng.randint(1, 8)
        else:
            step = rng.randint(9, 120)
        end = min(size, pos + step)
        if end < size and rng.random() < 0.5:
            # move the cut just after the lead byte of a nearby multi-byte character
            for j in range(end, min(end + 24, size - 1)):
                if data[j] >= 0xC0:
                    end = j + 1
                    break
        pieces.append(data[pos:end])
        pos = end
    return pieces


def cuts_inside_characters(pieces: list[bytes]) -> int:
    """How many boundaries between pieces fall inside a UTF-8 character."""
    return sum(1 for piece in pieces[1:] if piece and 0x80 <= piece[0] < 0xC0)
