"""Structured logging: one JSON object per line, to a file under ACRA_ENRICH_HOME/logs
and, when asked, to stderr. Secrets in URLs or messages are redacted on the way out.

The file keeps everything at LOG_LEVEL. On stderr, a terminal gets warnings and errors in
human form (info lines too with --verbose); a pipe or a file (cron, CI, a supervisor) gets
the JSON lines a machine reads. The embedded PostgreSQL's own logger ("pgserver") writes to
the file only: its start/stop chatter is no user's business on the console."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict

from acra_enrich.config import Settings
from acra_enrich.web.redact import redact_text

LOG_FILE = "acra-enrich.log"
_QUIET_ON_CONSOLE = ("pgserver",)
_verbose = False


def set_verbose(verbose: bool) -> None:
    """`--verbose`: a terminal shows info lines too (set before configure_logging)."""
    global _verbose
    _verbose = verbose


class _NotOnConsole(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_QUIET_ON_CONSOLE)


def _redact(_: Any, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact_text(value)
    return event


class _FormatOnce(structlog.stdlib.ProcessorFormatter):
    """Render a record once per format although the file handler (twice: its rollover check
    formats too) and stderr all ask: rendering and redaction are most of a log line's cost."""

    def format(self, record: logging.LogRecord) -> str:
        key = f"_acra_rendered_{id(self)}"
        cached = getattr(record, key, None)
        if cached is None:
            cached = super().format(record)
            setattr(record, key, cached)
        return cached


def _formatter(renderer: Any) -> _FormatOnce:
    return _FormatOnce(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact, renderer],
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)],
    )


def configure_logging(settings: Settings, *, stderr: bool, verbose: bool | None = None) -> Path:
    """Route structlog and stdlib logging to the JSON log file and, with `stderr`, to the
    console (see the module docstring); returns the log file's path."""
    log_dir = settings.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    json_format = _formatter(structlog.processors.JSONRenderer())
    file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=50 << 20, backupCount=5, encoding="utf-8")
    file_handler.setFormatter(json_format)
    handlers: list[logging.Handler] = [file_handler]
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.addFilter(_NotOnConsole())
        if sys.stderr.isatty():
            console.setFormatter(_formatter(structlog.dev.ConsoleRenderer(colors=False)))
            console.setLevel(logging.INFO if (_verbose if verbose is None else verbose) else logging.WARNING)
        else:
            console.setFormatter(json_format)
        handlers.append(console)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # httpx logs every request at INFO; the web client logs its own outcomes with reasons.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return path
