"""``count_tokens``: an estimate, since the upstream has no tokenizer to ask.

The count is that of the text a new chat would send upstream for the request (the whole
history folded into one message, system prompt included), at one token per four UTF-8 bytes
(the estimate the limits use), plus the tool definitions' JSON the same way, plus
``IMAGE_TOKENS`` per image. Qwen's own count of a turn arrives as ``usage.input_tokens``.
"""

from __future__ import annotations

import math

import orjson

from qwen_proxy.api.anthropic.request import AnthropicRequest
from qwen_proxy.conversations.fold import fold_history
from qwen_proxy.service.limits import estimate_tokens

#: about what Anthropic charges for a 1-megapixel image
IMAGE_TOKENS = 1600


def estimate_input_tokens(request: AnthropicRequest) -> int:
    """The estimated input tokens of ``request`` (at least 1)."""
    tokens = estimate_tokens(fold_history(request.messages))
    definitions = request.tools.definitions
    if definitions:
        tokens += estimate_tokens(orjson.dumps([d.as_dict() for d in definitions]).decode())
    tokens += IMAGE_TOKENS * sum(len(m.images) for m in request.messages)
    return max(1, math.ceil(tokens))
