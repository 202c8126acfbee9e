"""Structured logging: one JSON object per line, to a file under ACRA_ENRICH_HOME/logs
and, when asked, to stderr. Secrets in URLs or messages are redacted on the way out."""

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


def _redact(_: Any, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact_text(value)
    return event


class _FormatOnce(structlog.stdlib.ProcessorFormatter):
    """Render a record once although the file handler (twice: its rollover check formats
    too) and stderr all ask: rendering and redaction are most of a log line's cost."""

    def format(self, record: logging.LogRecord) -> str:
        cached = getattr(record, "_acra_rendered", None)
        if cached is None:
            cached = super().format(record)
            setattr(record, "_acra_rendered", cached)
        return cached


def configure_logging(settings: Settings, *, stderr: bool) -> Path:
    """Route structlog and stdlib logging to JSON lines; returns the log file's path."""
    log_dir = settings.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    formatter = _FormatOnce(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact,
                    structlog.processors.JSONRenderer()],
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)],
    )
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(path, maxBytes=50 << 20, backupCount=5, encoding="utf-8")
    ]
    if stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
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
