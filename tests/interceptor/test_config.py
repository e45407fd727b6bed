"""The configuration model: defaults, YAML, environment overrides, errors that name the key."""

from pathlib import Path

import pytest

from interceptor.config import ConfigError, load_config


def test_defaults_match_soveren() -> None:
    cfg = load_config(env={})
    assert cfg.core.max_message_bytes == cfg.core.max_pair_bytes == 1_000_000
    assert "application/json" in cfg.filters.content_types
    assert cfg.filters.drop_urls == ["/metrics", "/healthz", "/api/health", "/api/v2/alive", "/api/v2/detect"]


def test_yaml_then_env(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("core:\n  max_message_bytes: 2000\nfilters:\n  keep_all: true\n")
    cfg = load_config(p, env={"SENSOR__CORE__MAX_MESSAGE_BYTES": "3000", "SENSOR__KAFKA__TOPIC": "x", "OTHER": "1"})
    assert cfg.core.max_message_bytes == 3000 and cfg.filters.keep_all and cfg.kafka.topic == "x"


@pytest.mark.parametrize("text,message", [
    ("core:\n  max_message_byte: 1\n", "core.max_message_byte: unknown key"),
    ("core:\n  max_message_bytes: lots\n", "core.max_message_bytes: expected an integer, got 'lots'"),
    ("core:\n  oversize: keep\n", "core.oversize: must be one of ['drop', 'truncate']"),
    ("filters:\n  drop_urls: /metrics\n", "filters.drop_urls: expected a list"),
    ("nope: {}\n", "nope: unknown key"),
    ("- a\n- b\n", "the top level must be a mapping"),
    ("core: [\n", "not valid YAML"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(p, env={})


def test_env_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="core.response_timeout_s: expected a number"):
        load_config(env={"SENSOR__CORE__RESPONSE_TIMEOUT_S": "soon"})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/sensor.yaml", env={})
