"""Keep credentials out of log lines, error details and stats (ZeroBounce takes `?api_key=`)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

_SECRET_NAME = re.compile(
    r"(?:^|[_\-.])(?:api[_\-]?key|apikey|key|token|access[_\-]?token|secret|password|passwd|pwd|auth|"
    r"authorization|signature|sig|credential|credentials|session|sessionid)$",
    re.IGNORECASE,
)
# name=value pairs inside free text (exception messages may quote a URL).
_PAIR = re.compile(r"([A-Za-z0-9_\-.]+)=([^&\s#\"'<>]+)")
_USERINFO = re.compile(r"(://)[^/@\s]+@")
# Webhook URLs carry their secret in the path (Slack: /services/T…/B…/<token>).
_SECRET_PATH = re.compile(r"(/services/[A-Za-z0-9]+/[A-Za-z0-9]+/)[A-Za-z0-9]+")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """The URL with credentials and secret-looking query values replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = f"{REDACTED}@{netloc}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="")
    path = _SECRET_PATH.sub(rf"\1{REDACTED}", parts.path)
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Free text with `secret_name=value` pairs and URL credentials replaced."""
    if "=" not in text and "@" not in text and "/services/" not in text:
        return text  # the common case in log lines (names, UENs, domains): nothing to look for
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _SECRET_PATH.sub(rf"\1{REDACTED}", text)
    return _PAIR.sub(lambda m: f"{m.group(1)}={REDACTED}" if is_secret_name(m.group(1)) else m.group(0), text)
