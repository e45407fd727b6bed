"""Bearer-token auth shared by the HTTP services: token sources, the check, counted refusals."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from interceptor.config import AuthConfig, ConfigError, load_config
from interceptor.counters import Counters
from interceptor.webauth import AuthOutcome, BearerAuth, auth_header, load_token


def test_token_from_config_env_and_file(tmp_path: Path) -> None:
    cfg = load_config(env={"SENSOR__AUTH__TOKEN": "s3cret"})
    tok = load_token(cfg.auth)
    assert (tok.value, tok.source) == ("s3cret", "config")
    assert "s3cret" not in repr(tok)
    f = tmp_path / "token"
    f.write_text("from-secret\n")
    tok = load_token(AuthConfig(token_file=str(f)))
    assert (tok.value, tok.source) == ("from-secret", "file")
    f.write_text("  \n")
    with pytest.raises(ConfigError, match="auth.token_file: .* is empty"):
        load_token(AuthConfig(token_file=str(f)))


def test_generated_token_printed_once_or_written_to_the_file(tmp_path: Path) -> None:
    out = io.StringIO()
    tok = load_token(AuthConfig(), announce=out, service="captures")
    assert tok.source == "generated" and len(tok.value) >= 40
    assert out.getvalue().count(tok.value) == 1 and out.getvalue().startswith("captures:")
    shared, out = AuthConfig(), io.StringIO()  # the capture API, the stream and /coverage of one agent
    first = load_token(shared, announce=out, service="captures")
    assert [load_token(shared, announce=out).value for _ in range(2)] == [first.value] * 2
    assert out.getvalue().count(first.value) == 1  # one token per process, shown once
    path = tmp_path / "new-token"
    out = io.StringIO()
    tok = load_token(AuthConfig(token_file=str(path)), announce=out)
    assert out.getvalue() == ""  # written to the file, not printed
    assert path.read_text().strip() == tok.value
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_token(AuthConfig(token_file=str(path))).value == tok.value  # the next start reads it


def test_check_outcomes_are_counted() -> None:
    counters = Counters()
    auth = BearerAuth(load_token(AuthConfig(token="abc")), counters)
    assert auth.check(auth_header("abc")["Authorization"]) is AuthOutcome.OK
    assert auth.check("bearer abc") is AuthOutcome.OK  # the scheme is case-insensitive
    assert auth.check(None) is AuthOutcome.MISSING
    assert auth.check("Basic YWJjOmFiYw==") is AuthOutcome.MALFORMED
    assert auth.check("Bearer ") is AuthOutcome.MALFORMED
    assert auth.check("Bearer abd") is AuthOutcome.WRONG
    assert auth.check("Bearer abcd") is AuthOutcome.WRONG
    assert {k: v for k, v in counters.counts.items() if k.startswith("auth.")} == {
        "auth.rejected.missing": 1, "auth.rejected.malformed": 2, "auth.rejected.wrong": 2}
