"""Image generation in Qwen's terms (pure): the aspect ratios it draws, and the nearest one.

An image turn (chat type ``t2i``, or ``image_edit`` with the source image in ``files[]``) names
its shape as one of five ratios; the generated image comes back as a URL in the stream's
``image_gen`` phase, with a ``key`` query that must be kept to fetch it.
"""

from __future__ import annotations

import math

#: the ratios the upstream draws, width:height
RATIOS = ("1:1", "3:4", "4:3", "16:9", "9:16")
DEFAULT_RATIO = "1:1"
IMAGE_CHAT_TYPES = ("t2i", "image_edit")


def nearest_ratio(width: int, height: int) -> str:
    """The upstream ratio closest to ``width``:``height`` (compared as logarithms, so 2:1 and
    1:2 are equally far from 1:1)."""
    if width <= 0 or height <= 0:
        raise ValueError("an image size needs a positive width and height")
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - wanted)

    return min(RATIOS, key=distance)
