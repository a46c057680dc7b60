"""The block syntax the model is asked to write, and the markers the sieve recognises.

Our own call block (the one the prompt teaches)::

    <qp:call>
    {"name": "read_file", "arguments": {"path": "src/app.py"}}
    </qp:call>

and a tool result, as the model reads it back::

    <qp:result id="call_1" name="read_file">
    ...the tool's output...
    </qp:result>

Why this shape:

* **Not the native tag.** The upstream intercepts text that looks like a Hermes
  ``<tool_call>`` block and replaces the reply with "Tool X does not exists."; a namespaced tag
  is not intercepted, while the JSON inside stays exactly what Qwen models were trained to write
  inside ``<tool_call>``, so the model only has to change the tag.
* **Unlikely in prose.** ``<qp:`` does not occur in natural text or in common code (HTML and
  generics have no ``qp:`` prefix), so a false start costs at most a few held-back characters.
* **Robust to streaming.** The opener is a fixed literal that is complete after nine characters;
  until then only a tail that is a prefix of it is held back, and the rest of the text streams.
* **Survives markdown.** The markers hold no character that markdown escapes or eats
  (``_``, ``*``, ``#``, backticks), and a block a model wraps in a code fence is still found.

The sieve also reads what models write on their own: native ``<tool_call>`` blocks, the
qwen3-coder ``<function=NAME><parameter=P>`` form, fenced or bare JSON calls, and full-width or
smart-quote variants of every marker (compared through :data:`FOLD`, which maps each such
character to one ASCII character so positions line up).
"""

from __future__ import annotations

import json
from typing import Final

CALL_OPEN: Final = "<qp:call>"
CALL_CLOSE: Final = "</qp:call>"
RESULT_TAG: Final = "qp:result"

#: every opener name the sieve knows (compared after :data:`FOLD`); a name ends at ``>`` or
#: at whitespace followed by attributes, except ``<function=`` whose name follows the ``=``
OPENERS: Final = ("<qp:call", "<tool_call", "<tool_calls", "<tool-call", "<function=")
#: closers that end any explicit block; ``</function>`` ends a bare qwen3-coder block only
CLOSERS: Final = ("</qp:call>", "</tool_call>", "</tool_calls>", "</tool-call>")
CODER_CLOSE: Final = "</function>"
#: longest text an opener's attributes may take before ``>``
MAX_ATTRIBUTES: Final = 300

# ！..～ -> !..~ (full-width capitals straight to lower case, so one pass does both)
_FULL_WIDTH = {chr(0xFF01 + i): chr(0x21 + i).lower() for i in range(94)}
_QUOTES = {"“": '"', "”": '"', "„": '"', "‟": '"', "‘": "'", "’": "'", "〈": "<", "〉": ">"}
_UPPER = {chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}
#: maps full-width forms, smart quotes and ASCII capitals one-to-one (same length)
FOLD: Final = str.maketrans({**_FULL_WIDTH, **_QUOTES, **_UPPER})


def fold(text: str) -> str:
    """``text`` as the marker matcher sees it: same length, ASCII markers, lower case."""
    return text.translate(FOLD)


def render_call(name: str, arguments: object, call_id: str | None = None) -> str:
    """One call in our syntax; ``arguments`` is written as JSON, keys in their given order."""
    opener = f'<qp:call id="{call_id}">' if call_id else CALL_OPEN
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"{opener}\n{body}\n{CALL_CLOSE}"


def render_result(call_id: str, name: str | None, text: str) -> str:
    """One tool result as the model reads it back (``name`` omitted when unknown)."""
    label = f' name="{name}"' if name else ""
    return f'<{RESULT_TAG} id="{call_id}"{label}>\n{text}\n</{RESULT_TAG}>'
