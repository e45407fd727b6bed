"""Bearer-token authentication shared by the HTTP services (capture API, stream endpoints, map service).

One token per service instance, from the config model's ``auth`` section: ``auth.token`` (or the
environment, ``SENSOR__AUTH__TOKEN``), else ``auth.token_file`` (a mounted Secret; surrounding
whitespace ignored). With neither, a random token is generated and printed ONCE to stderr so a
local user can copy it; it is never logged afterwards (``ApiToken`` hides its value from ``repr``).
When ``token_file`` names a file that does not exist yet, the generated token is written there
(mode 0600) instead of printed, so a local client reads it from the same path.

The check is sans-I/O: ``BearerAuth.check(header_value)`` returns the outcome; HTTP handlers turn
a refusal into ``401`` with ``WWW-Authenticate: Bearer``. The comparison is constant-time.
"""

from __future__ import annotations

import enum
import hmac
import os
import secrets
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from interceptor.config import AuthConfig, ConfigError
from interceptor.counters import Counters

TokenSource = Literal["config", "file", "generated"]
SCHEME = "bearer"


@dataclass(frozen=True)
class ApiToken:
    value: str = field(repr=False)
    source: TokenSource


class AuthOutcome(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no Authorization header
    MALFORMED = "malformed"  # not "Bearer <token>"
    WRONG = "wrong"  # a bearer token, not ours


def load_token(cfg: AuthConfig, announce: TextIO | None = None, service: str = "api") -> ApiToken:
    """The token this service accepts; see the module docstring for the order."""
    if cfg.token:
        return ApiToken(cfg.token.strip(), "config")
    if cfg.token_file:
        path = Path(cfg.token_file)
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            return _generate_into(path)
        except OSError as e:
            raise ConfigError(f"auth.token_file: cannot read {path}: {e.strerror}") from None
        if not value:
            raise ConfigError(f"auth.token_file: {path} is empty")
        return ApiToken(value, "file")
    token = ApiToken(secrets.token_urlsafe(32), "generated")
    out = announce if announce is not None else sys.stderr
    # The one and only time the value is shown: set auth.token or auth.token_file to choose it.
    print(f"{service}: no auth.token configured; generated bearer token (shown once): {token.value}",
          file=out, flush=True)
    cfg.token = token.value  # every other API of this process takes the same one, shown no more
    return token


def _generate_into(path: Path) -> ApiToken:
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise ConfigError(f"auth.token_file: cannot create {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return ApiToken(value, "generated")


class BearerAuth:
    """Checks ``Authorization`` header values; refusals are counted as ``auth.rejected.<outcome>``."""

    def __init__(self, token: ApiToken, counters: Counters | None = None) -> None:
        self._expected = token.value.encode()
        self.counters = counters

    def check(self, authorization: str | None) -> AuthOutcome:
        outcome = self._outcome(authorization)
        if outcome is not AuthOutcome.OK and self.counters is not None:
            self.counters.inc(f"auth.rejected.{outcome.value}")
        return outcome

    def _outcome(self, authorization: str | None) -> AuthOutcome:
        if not authorization:
            return AuthOutcome.MISSING
        scheme, _, given = authorization.strip().partition(" ")
        given = given.strip()
        if scheme.lower() != SCHEME or not given:
            return AuthOutcome.MALFORMED
        ok = hmac.compare_digest(given.encode(), self._expected)
        return AuthOutcome.OK if ok else AuthOutcome.WRONG


def auth_header(token: ApiToken | str) -> dict[str, str]:
    """The request header a client (or an agent forwarding to another) sends."""
    value = token.value if isinstance(token, ApiToken) else token
    return {"Authorization": f"Bearer {value}"}


UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="privacy-sensor"'}


def load_raw_token(cfg: AuthConfig) -> ApiToken | None:
    """The optional second token (``auth.raw_token`` / ``raw_token_file``) whose holder may see the live
    stream's detected personal data unmasked; None when not configured (nobody may)."""
    if cfg.raw_token:
        return ApiToken(cfg.raw_token.strip(), "config")
    if not cfg.raw_token_file:
        return None
    try:
        value = Path(cfg.raw_token_file).read_text().strip()
    except OSError as e:
        raise ConfigError(f"auth.raw_token_file: cannot read {cfg.raw_token_file}: {e.strerror}") from None
    if not value:
        raise ConfigError(f"auth.raw_token_file: {cfg.raw_token_file} is empty")
    return ApiToken(value, "file")


@dataclass(frozen=True)
class StreamGrant:
    """Who a stream client is: ``raw`` when it showed the raw token."""

    raw: bool
    name: str  # "raw" or "default": for logs, never the token


class StreamAuth:
    """The stream endpoints' check: the service token sees masked records, the raw token raw ones."""

    def __init__(self, token: ApiToken, raw: ApiToken | None, counters: Counters | None = None) -> None:
        self.default = BearerAuth(token, None)
        self.raw = BearerAuth(raw, None) if raw is not None else None
        self.counters = counters

    def check(self, authorization: str | None) -> StreamGrant | AuthOutcome:
        if self.raw is not None and self.raw.check(authorization) is AuthOutcome.OK:
            return StreamGrant(True, "raw")
        outcome = self.default.check(authorization)
        if outcome is AuthOutcome.OK:
            return StreamGrant(False, "default")
        if self.counters is not None:
            self.counters.inc(f"auth.rejected.{outcome.value}")
        return outcome


def server_ssl_context(cert_file: str, key_file: str = "") -> ssl.SSLContext | None:
    """TLS for a listener when ``cert_file`` is set (e.g. ``stream.tls_cert_file``), else None."""
    if not cert_file:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert_file, key_file or None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"TLS certificate {cert_file}: cannot load: {e}") from None
    return ctx
