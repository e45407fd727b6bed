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


def test_sections_behave_as_dataclasses() -> None:
    """The sections are dataclasses whose three methods are Section's, not generated per class:
    construction, repr, equality, copies and ``dataclasses`` functions work as ``@dataclass``'s."""
    import copy
    import dataclasses
    import pickle

    from interceptor.config import CaptureConfig, Config, CoreConfig, FalcoRuleConfig, Http2Config

    assert dataclasses.is_dataclass(Config) and [f.name for f in dataclasses.fields(Http2Config)] == [
        "max_streams", "grpc_max_messages"]
    assert repr(Http2Config()) == "Http2Config(max_streams=100, grpc_max_messages=64)"
    assert Http2Config(7).max_streams == 7 and Http2Config(7, grpc_max_messages=3).grpc_max_messages == 3
    a, b = CaptureConfig(), CaptureConfig()
    assert a == b and a.exclude_interfaces == b.exclude_interfaces
    assert a.exclude_interfaces is not b.exclude_interfaces  # a fresh list each (default_factory)
    assert Config().captures.falco_rules == [FalcoRuleConfig()]
    assert CoreConfig() != CoreConfig(max_flows=1) and CoreConfig() != Http2Config()
    assert (CoreConfig() == object()) is False
    cfg = load_config(env={})
    assert copy.deepcopy(cfg) == cfg and pickle.loads(pickle.dumps(cfg)) == cfg
    assert dataclasses.replace(cfg.capture, snaplen=5).snaplen == 5 and cfg.capture.snaplen == 262144
    assert dataclasses.asdict(cfg)["http2"] == {"max_streams": 100, "grpc_max_messages": 64}
    for bad, message in [(lambda: Http2Config(1, 2, 3), "2 positional arguments but 3"),
                         (lambda: Http2Config(1, max_streams=2), "multiple values for argument 'max_streams'"),
                         (lambda: Http2Config(bogus=1), "unexpected keyword argument 'bogus'"),
                         (lambda: hash(Http2Config()), "unhashable")]:
        with pytest.raises(TypeError, match=message):
            bad()
