from __future__ import annotations

import pytest

from qwen_proxy.emulator.faults import (
    Fault,
    FaultBoard,
    UnknownFault,
    magic_faults,
    parse_cli_fault,
)
from qwen_proxy.emulator.tokens import TokenRejected, mint_token, read_token

pytestmark = pytest.mark.integration


def test_a_minted_token_reads_back_its_claims() -> None:
    token = mint_token("k", "u1", 100, 2_000_000_000)
    claims = read_token("k", token, 1_900_000_000)
    assert (claims.user_id, claims.last_password_change, claims.exp) == ("u1", 100, 2_000_000_000)


def test_an_expired_token_is_rejected_as_expired() -> None:
    token = mint_token("k", "u1", 100, 1000)
    with pytest.raises(TokenRejected) as info:
        read_token("k", token, 1001)
    assert info.value.reason == "expired"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", mint_token("other", "u1", 1, 2**40)])
def test_a_forged_or_malformed_token_is_invalid(token: str) -> None:
    with pytest.raises(TokenRejected) as info:
        read_token("k", token, 0)
    assert info.value.reason == "invalid"


def test_magic_words_name_faults_with_typed_parameters() -> None:
    found = magic_faults("hi [[fault:rate_limited num=3]] and [[fault:trickle delay=0.5]]")
    assert [(f.name, f.params) for f in found] == [
        ("rate_limited", {"num": 3}),
        ("trickle", {"delay": 0.5}),
    ]


def test_unknown_magic_words_are_ignored_but_unknown_cli_faults_are_refused() -> None:
    assert magic_faults("[[fault:nope]]") == []
    with pytest.raises(UnknownFault):
        parse_cli_fault("nope")
    with pytest.raises(UnknownFault):
        parse_cli_fault("waf_html:route=bogus")


def test_cli_faults_carry_scope_and_parameters() -> None:
    fault = parse_cli_fault("http_5xx:status=503,times=2,route=models,account=a@x")
    assert fault.params == {"status": 503}
    assert (fault.times, fault.routes, fault.account) == (2, frozenset({"models"}), "a@x")


def test_a_fault_with_times_wears_out_and_scopes_are_respected() -> None:
    board = FaultBoard()
    board.add(Fault("waf_html", times=2, account="a@x"))
    assert board.take("completions", "b@x", None) == []
    assert board.take("models", "a@x", None) == []
    assert len(board.take("completions", "a@x", None)) == 1
    assert len(board.take("completions", "a@x", None)) == 1
    assert board.take("completions", "a@x", None) == []


def test_missing_user_agent_waf_fires_only_without_user_agent() -> None:
    board = FaultBoard()
    board.add(Fault("missing_user_agent_waf", routes=frozenset({"any"})))
    assert board.take("models", None, None, has_user_agent=True) == []
    assert len(board.take("models", None, None, has_user_agent=False)) == 1
