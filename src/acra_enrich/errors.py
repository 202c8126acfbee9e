"""Errors that end the program with a documented exit code (DESIGN.md §7)."""

from __future__ import annotations


class AcraEnrichError(Exception):
    exit_code = 1


class ConfigError(AcraEnrichError):
    """Bad configuration or usage: exit 2."""

    exit_code = 2


class DatabaseUnavailable(AcraEnrichError):
    """The database cannot be reached or started: exit 3."""

    exit_code = 3


class InputFileError(AcraEnrichError):
    """An input file cannot be used at all (missing, unreadable, wrong header): exit 2."""

    exit_code = 2
