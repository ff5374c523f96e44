"""What a client may ask of the server, and who may reach it: the limits, the bind, Host and API-key checks."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Sequence

from orchestrator.errors import ConfigError

MIN_KEY_LENGTH = 16


# Host names a browser uses for this machine. On a loopback bind only these are answered, so a web
# page cannot reach the server through a DNS-rebinding domain (which arrives with its own Host).
LOOPBACK_HOST_NAMES = ("localhost", "127.0.0.1", "[::1]")


ANY_HOST = "*"


@dataclass(frozen=True)
class ServeLimits:
    """What one client may ask of the server, and how long the server waits for it."""

    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 16 * 1024  # request line + headers; more gets 431
    max_tokens: int = 256  # a request asking for more gets 400
    max_waiting: int = 2  # requests queued behind the one generating; beyond that, 429 at once
    max_quick_waiting: int = 64  # requests that need no LLM (plain math), queued in their own lane
    # Other requests are routed and retrieved (and refused when there is no evidence) before they take a
    # generation slot: at most this many wait for that; beyond that, 429 at once.
    max_pending: int = 64
    request_read_s: float = 10.0  # a request (headers and body) must arrive within this; else the socket is closed
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 2048  # open sockets beyond this are closed at once (file descriptors are finite)
    max_request_s: float = (
        60.0  # generation stops after this; the client gets what was produced, finish_reason "length"
    )
    # Earlier turns: at most this many characters are read (newest first), then trimmed to this many tokens
    # with the chat route's own trim_history. Prompt evaluation is what makes long histories slow
    # (100 turns: 15-28 s with the whole context, 6-8 s with 512 tokens, loaded 2 cores; docs/serving.md).
    max_history_chars: int = 16 * 1024
    max_history_tokens: int = 512
    retry_after_s: int = 2  # sent with 429
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOST_NAMES  # Host header names answered; ("*",) for any
    graceful_shutdown_s: float = 30.0


def is_loopback(host: str) -> bool:
    """True only for addresses that other machines cannot reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname could resolve to anything: treat it as reachable


def bind_address(host: str) -> str:
    """The address to bind: "[::1]" (URL form) is "::1" to the socket layer."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to serve beyond this machine without an API key, and refuse guessable or unusable keys."""
    if api_key is not None and (not api_key.strip() or api_key != api_key.strip()):
        # The presented token is stripped before comparison, so such a key could never match.
        raise ConfigError(
            "The API key must not be blank or begin or end with whitespace; "
            'try: python -c "import secrets; print(secrets.token_urlsafe(32))".'
        )
    if api_key is not None and len(api_key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f'The API key must be at least {MIN_KEY_LENGTH} characters (try: python -c "import secrets; print(secrets.token_urlsafe(32))").'
        )
    if not api_key and not is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} without an API key: anyone who can reach it could use the model. "
            "Pass --api-key (or set ORCH_SERVE_API_KEY), or bind to 127.0.0.1."
        )
    bare = bind_address(host)
    if ":" in bare:
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise ConfigError(f"{host!r} is not an IPv6 address: write one like ::1 or [::1].") from None


def default_allowed_hosts(host: str) -> tuple[str, ...]:
    """Loopback binds answer only loopback host names and the bind address; other binds (which need a key) answer any."""
    return allowed_hosts(host, LOOPBACK_HOST_NAMES if is_loopback(bind_address(host)) else (ANY_HOST,))


def allowed_hosts(host: str, chosen: Sequence[str]) -> tuple[str, ...]:
    """`chosen` host names, and always the bind address itself (as a Host header writes it), so the URL
    the server prints is one it answers: --host 127.0.0.2 serves http://127.0.0.2:PORT."""
    bare = bind_address(host).lower()
    own = f"[{bare}]" if ":" in bare else bare
    return tuple(chosen) if ANY_HOST in chosen or own in chosen else (*chosen, own)


def host_allowed(host_header: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether the request's Host (name, without the port) is one this server answers to."""
    if ANY_HOST in allowed:
        return True
    if not host_header:
        return False
    return host_name(host_header) in {name.lower() for name in allowed}


def host_name(host_header: str) -> str:
    """The name in a Host header, lower-cased, without the port: "[::1]:8000" -> "[::1]"."""
    host = host_header.strip().lower()
    if host.startswith("[") and "]" in host:
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def key_matches(authorization: str | None, api_key: str) -> bool:
    """Constant-time comparison of the bearer token with the key (hmac.compare_digest)."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(presented.encode("utf-8"), api_key.encode("utf-8"))
