"""Keep secrets out of the backend's, the web page's and the console's logs (docs/security.md).

Every log line is scrubbed before it is written: signed tokens (chat tokens, channel
identities), bearer headers, `token=` query values (the console calls Rasa's HTTP API
with its token in the URL, and HTTP clients log URLs), and the exact value of every secret
in the environment. The Rasa server and the action server do the same
(extensions/redaction.py).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

REDACTED = "[redacted]"
_PATTERNS = (
    (re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b((?:access_|auth_|api_)?token=)[^&\s\"']+"), r"\1" + REDACTED),
)
_SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_PASSWORD", "_KEY")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """A log argument without secrets: numbers stay numbers (for %d), the rest is text.
    Formatters (uvicorn's access log) still get their arguments one by one."""
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value), secrets)


def install() -> None:
    """Scrub every log record of this process as it is made: whichever logger makes it and
    however uvicorn configures its handlers later. HTTP clients' per-request lines, which
    hold whole URLs, stay out."""
    make = logging.getLogRecordFactory()
    if getattr(make, "scrubs", False):
        return
    values = {v for k, v in os.environ.items() if k.endswith(_SECRET_SUFFIXES) and len(v) >= 8}
    secrets = tuple(sorted(values, key=len, reverse=True))  # longest first

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.msg = scrub(record.msg, secrets)
        if isinstance(record.args, dict):
            record.args = {k: scrub(v, secrets) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(scrub(v, secrets) for v in record.args)
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text, secrets), None
        return record

    scrubbed.scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(scrubbed)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
