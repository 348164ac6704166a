"""Keep secrets out of the Rasa server's and the action server's logs (docs/security.md).

Two measures, installed by each server at start:

- every log record is scrubbed as it is made (a record factory, so whatever logger
  and handler): signed tokens (chat tokens, channel identities), bearer headers, a
  Telegram bot token in a URL, `token=` query values, and the exact value of every
  secret in the environment;
- Rasa's structured tracebacks no longer carry each frame's local variables, which
  held the message, its metadata and the chat token.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

REDACTED = "[redacted]"
_PATTERNS = (
    # A JWT: three base64url parts, the first always starting with '{"' encoded.
    (re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"), r"\1" + REDACTED),
    (re.compile(r"/bot\d+:[A-Za-z0-9_\-]{20,}"), "/bot" + REDACTED),
    (re.compile(r"(?i)\b((?:access_|auth_|api_)?token=)[^&\s\"']+"), r"\1" + REDACTED),
)
# Environment variables whose values are secrets, by the end of their name.
_SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_PASSWORD", "_KEY")
_MIN_SECRET_LENGTH = 8


def secret_values(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if environ is None else environ
    values = {
        v for k, v in env.items() if k.endswith(_SECRET_SUFFIXES) and len(v) >= _MIN_SECRET_LENGTH
    }
    return tuple(sorted(values, key=len, reverse=True))  # longest first: no partial leftovers


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """A log argument without secrets: numbers stay numbers (for %d), the rest is text."""
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value), secrets)


def scrub_record(record: logging.LogRecord, secrets: tuple[str, ...]) -> logging.LogRecord:
    """The record's message, arguments and traceback with the secrets removed (the
    arguments one by one: some formatters read them)."""
    record.msg = scrub(record.msg, secrets)
    if isinstance(record.args, dict):
        record.args = {k: scrub(v, secrets) for k, v in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(scrub(v, secrets) for v in record.args)
    if record.exc_info:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text, record.exc_info = redact(text, secrets), None
    if record.stack_info:
        record.stack_info = redact(record.stack_info, secrets)
    return record


def install_record_factory() -> None:
    """Scrub every log record of this process as it is made, whichever logger makes it and
    however the handlers are configured later (Sanic and uvicorn configure their own)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "scrubs", False):
        return
    secrets = secret_values()

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(make(*args, **kwargs), secrets)

    scrubbed.scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(scrubbed)


def _scrub_structure(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub_structure(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_structure(v, secrets) for v in value]
    return value


def _redact_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: scrub every string of a structured event, tracebacks included."""
    scrubbed: dict[str, Any] = _scrub_structure(event_dict, secret_values())
    return scrubbed


def quiet_structlog() -> None:
    """Re-configure structlog (as Rasa set it up) without local variables in tracebacks
    and with every string scrubbed before it is rendered."""
    import structlog
    from structlog.processors import ExceptionRenderer
    from structlog.tracebacks import ExceptionDictTransformer

    processors = list(structlog.get_config()["processors"])
    processors = [
        ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if isinstance(p, ExceptionRenderer)
        else p
        for p in processors
    ]
    if _redact_event not in processors:
        processors.insert(max(len(processors) - 1, 0), _redact_event)
    structlog.configure(processors=processors)
