"""Reading a copied command line as bash or as Windows cmd would hand it to curl."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_proxy.accounts.shell_words import ShellSyntaxError, split_bash, split_cmd

pytestmark = pytest.mark.unit


def chrome_bash_quote(text: str) -> str:
    """How Chrome's developer tools quote one word for bash."""
    if re.search(r"[\x00-\x1f\x7f-\x9f!]|'", text):
        escaped = text.replace("\\", "\\\\").replace("'", "\\'")
        escaped = escaped.replace("\n", "\\n").replace("\r", "\\r")
        escaped = re.sub(r"[\x00-\x1f\x7f-\x9f!]", lambda m: f"\\u{ord(m.group(0)):04x}", escaped)
        return "$'" + escaped + "'"
    return "'" + text + "'"


def chrome_cmd_quote(text: str) -> str:
    """How Chrome's developer tools quote one word for cmd.exe."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[^a-zA-Z0-9\s_\-:=+~'/.,?;()*`]", lambda m: "^" + m.group(0), escaped)
    escaped = re.sub(r"%(?=[a-zA-Z0-9_])", "%^", escaped)
    escaped = re.sub(r"\r?\n", "^\n\n", escaped)
    return '^"' + escaped + '^"'


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("curl 'a b' \\\n  -H 'x: y'", ["curl", "a b", "-H", "x: y"]),
        ("curl 'a' \\\r\n  'b'", ["curl", "a", "b"]),
        ("curl $'it\\'s \\u0021'", ["curl", "it's !"]),
        ("curl $'\\x41\\101\\t\\n'", ["curl", "AA\t\n"]),
        ("curl $'caf\\u00e9 \\ud83d\\ude00'", ["curl", "café 😀"]),
        ("curl $'\\U0001F600'", ["curl", "😀"]),
        ("curl $'\\q'", ["curl", "\\q"]),
        ('curl "say \\"hi\\""', ["curl", 'say "hi"']),
        ("curl 'a'\"b\"$'c'", ["curl", "abc"]),
        ("curl -H 'cookie: a=1; b=2'", ["curl", "-H", "cookie: a=1; b=2"]),
    ],
)
def test_bash_words_come_out_as_bash_would_pass_them(line: str, words: list[str]) -> None:
    assert split_bash(line) == words


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('curl ^"https://x/^" ^\n  -H ^"a: b^"', ["curl", "https://x/", "-H", "a: b"]),
        ('curl ^"a^" ^\r\n  ^"b^"', ["curl", "a", "b"]),
        ('^"sec-ch-ua: ^\\^"Chromium^\\^";v=^\\^"142^\\^"^"', ['sec-ch-ua: "Chromium";v="142"']),
        ('^"^{^\\^"k^\\^":1^}^"', ['{"k":1}']),
        ('^"a^%^2Fb 100^% c^"', ["a%2Fb 100% c"]),
        ('^"x^^y^&z^|w^<v^>u^"', ["x^y&z|w<v>u"]),
        ('^"one^\n\ntwo^"', ["one\ntwo"]),
        # the quote-wrapped Chrome form: carets between plain quotes
        ('"sec-ch-ua: ^\\^"Chromium^\\^";v=^\\^"142^\\^""', ['sec-ch-ua: "Chromium";v="142"']),
        # an older Firefox: quotes doubled, % set apart, carets only outside quotes
        ('"{""a"":""1"""%"""}"', ['{"a":"1"%"}']),
        ('"100"%" sure"', ["100% sure"]),
        ('"a^b"', ["a^b"]),
        # a doubled backslash is one backslash of the value, wherever it stands
        (r'"a\\b"', [r"a\b"]),
        (r'"a\\\"b"', [r"a\"b"]),
        (r'"a\\\\" b', [r"a\\", "b"]),
    ],
)
def test_cmd_words_come_out_as_the_c_runtime_would_pass_them(line: str, words: list[str]) -> None:
    assert split_cmd(line) == words


@pytest.mark.parametrize("line", ["curl 'open", "curl $'open", 'curl "open'])
def test_an_unclosed_bash_quote_is_a_syntax_error(line: str) -> None:
    with pytest.raises(ShellSyntaxError):
        split_bash(line)


def test_an_unclosed_cmd_quote_is_a_syntax_error() -> None:
    with pytest.raises(ShellSyntaxError):
        split_cmd('curl ^"open')


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00")))
def test_any_value_chrome_quotes_for_bash_reads_back_unchanged(value: str) -> None:
    assert split_bash("curl " + chrome_bash_quote(value)) == ["curl", value]


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n")))
def test_any_value_chrome_quotes_for_cmd_reads_back_unchanged(value: str) -> None:
    assert split_cmd("curl " + chrome_cmd_quote(value) + " ^\n  -k") == ["curl", value, "-k"]
