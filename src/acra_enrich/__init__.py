"""acra-enrich: keep a company database built from Singapore's ACRA registry fresh and useful."""

from acra_enrich.config import Settings, get_settings, load_settings
from acra_enrich.errors import AcraEnrichError, ConfigError, DatabaseUnavailable, InputFileError

__version__ = "0.1.0"

__all__ = [
    "AcraEnrichError",
    "ConfigError",
    "DatabaseUnavailable",
    "InputFileError",
    "Settings",
    "get_settings",
    "load_settings",
    "__version__",
]
