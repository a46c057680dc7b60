"""Settings from QWEN_PROXY_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_proxy.config import Settings, SettingsError

pytestmark = pytest.mark.unit


def test_defaults_listen_on_loopback_with_sqlite() -> None:
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1"
    assert settings.store == "sqlite"
    assert settings.upstream_url == "https://chat.qwen.ai"


def test_variables_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "QWEN_PROXY_PORT": "9001",
            "QWEN_PROXY_API_KEYS": "a, b,,c",
            "QWEN_PROXY_DATA_DIR": "/tmp/qp",
            "QWEN_PROXY_IDLE_TIMEOUT": "7.5",
        }
    )
    assert settings.port == 9001
    assert settings.api_keys == ("a", "b", "c")
    assert settings.data_dir == Path("/tmp/qp")
    assert settings.idle_timeout == 7.5


def test_flags_override_variables() -> None:
    settings = Settings.from_env({"QWEN_PROXY_PORT": "9001"}, port=9002)
    assert settings.port == 9002


def test_public_bind_without_keys_is_refused_with_reason() -> None:
    with pytest.raises(SettingsError, match="QWEN_PROXY_API_KEYS"):
        Settings.from_env({"QWEN_PROXY_HOST": "0.0.0.0"})
    settings = Settings.from_env({"QWEN_PROXY_HOST": "0.0.0.0", "QWEN_PROXY_API_KEYS": "k"})
    assert settings.host == "0.0.0.0"
    assert settings.api_keys == ("k",)


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="QWEN_PROXY_PORT"):
        Settings.from_env({"QWEN_PROXY_PORT": "eighty"})


def test_unknown_store_is_refused() -> None:
    with pytest.raises(SettingsError, match="QWEN_PROXY_STORE"):
        Settings.from_env({"QWEN_PROXY_STORE": "mongodb://x"})


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({"QWEN_PROXY_TOKEN": "eyJsecret", "QWEN_PROXY_API_KEYS": "k1"})
    assert "eyJsecret" not in repr(settings)
    assert "k1" not in repr(settings)


def test_to_env_round_trips_every_setting() -> None:
    settings = Settings.from_env(
        {"QWEN_PROXY_API_KEYS": "a,b", "QWEN_PROXY_PORT": "9009", "QWEN_PROXY_TOKEN": "t"}
    )
    assert Settings.from_env(settings.to_env()) == settings


def test_settings_built_directly_are_validated_too() -> None:
    with pytest.raises(SettingsError, match="without client keys"):
        Settings(host="0.0.0.0")
    with pytest.raises(SettingsError, match="QWEN_PROXY_PORT"):
        Settings(port=70000)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QWEN_PROXY_LOG_LEVEL", "loud"),
        ("QWEN_PROXY_REASONING_OUTPUT", "xml"),
        ("QWEN_PROXY_THINKING_FORMAT", "verbose"),
        ("QWEN_PROXY_CONTINUE_FROM", "chat_id"),
    ],
)
def test_an_enumerated_setting_names_its_choices(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable} must be one of .*got '{value}'"):
        Settings.from_env({variable: value})


def test_enumerated_values_are_read_case_insensitively() -> None:
    assert Settings.from_env({"QWEN_PROXY_LOG_LEVEL": "DEBUG"}).log_level == "debug"


def test_a_wrong_type_is_refused_with_the_variable_named() -> None:
    with pytest.raises(SettingsError, match="QWEN_PROXY_PORT has the wrong type"):
        Settings(port="8787")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="QWEN_PROXY_API_KEYS"):
        Settings(api_keys=["k"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QWEN_PROXY_IDLE_TIMEOUT", "0"),
        ("QWEN_PROXY_ACCOUNT_MAX_CONCURRENT", "0"),
        ("QWEN_PROXY_RETRIES", "-1"),
        ("QWEN_PROXY_CONVERSATION_TTL", "-5"),
        ("QWEN_PROXY_SIGNIN_INTERVAL", "-1"),
    ],
)
def test_out_of_range_numbers_are_refused(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_optional_settings_accept_none_and_their_type() -> None:
    assert Settings(token=None).token is None
    assert Settings(token="t").token == "t"


def test_the_auth_host_and_its_version_are_settings_of_their_own() -> None:
    default = Settings.from_env({})
    moved = Settings.from_env(
        {"QWEN_PROXY_AUTH_URL": "http://127.0.0.1:8900/auth/", "QWEN_PROXY_AUTH_VERSION": "0.4.0"}
    )

    assert default.auth_url == "https://auth.qwen.ai"
    assert default.auth_version != default.web_version
    assert (moved.auth_base, moved.auth_version) == ("http://127.0.0.1:8900/auth", "0.4.0")
    with pytest.raises(SettingsError, match="QWEN_PROXY_AUTH_URL"):
        Settings.from_env({"QWEN_PROXY_AUTH_URL": "auth.qwen.ai"})


def test_anthropic_model_map_reads_pairs_or_json_in_order() -> None:
    pairs = Settings.from_env(
        {"QWEN_PROXY_ANTHROPIC_MODEL_MAP": "claude-sonnet-*=qwen3.7-max, claude-*=qwen3.7-plus"}
    ).anthropic_models
    assert pairs == (("claude-sonnet-*", "qwen3.7-max"), ("claude-*", "qwen3.7-plus"))
    as_json = Settings.from_env(
        {"QWEN_PROXY_ANTHROPIC_MODEL_MAP": '{"claude-haiku-*": "qwen3.5-flash"}'}
    ).anthropic_models
    assert as_json == (("claude-haiku-*", "qwen3.5-flash"),)
    assert Settings.from_env({"QWEN_PROXY_ANTHROPIC_MODEL_MAP": "{}"}).anthropic_models == ()


def test_default_anthropic_model_map_covers_the_three_claude_families() -> None:
    patterns = [pattern for pattern, _ in Settings().anthropic_models]
    assert patterns == ["claude-*opus*", "claude-*sonnet*", "claude-*haiku*"]


@pytest.mark.parametrize("text", ["claude-sonnet", "=qwen3.7-plus", "[1]", '{"a": 1}', "{bad"])
def test_a_broken_anthropic_model_map_names_the_variable(text: str) -> None:
    with pytest.raises(SettingsError, match="QWEN_PROXY_ANTHROPIC_MODEL_MAP"):
        Settings.from_env({"QWEN_PROXY_ANTHROPIC_MODEL_MAP": text})


def test_password_sign_ins_are_paced_45_seconds_apart_unless_told_otherwise() -> None:
    assert Settings().signin_interval == 45.0
    assert Settings.from_env({"QWEN_PROXY_SIGNIN_INTERVAL": "120"}).signin_interval == 120.0
