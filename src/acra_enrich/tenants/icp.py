"""A tenant's ideal customer profile (ICP): what it means, how a file is read and checked.

An ICP file (YAML or JSON) holds any of these fields; unknown fields are refused:

    ssic_codes: ["J", "62", "70201"]   # SSIC 2020 section letters, division/group/class prefixes, codes
    industry_words: ["software"]       # matched as whole words in the company's SSIC title
    employees: {min: 10, max: 500}     # the employee estimate enrichment found
    incorporation_years: {min: 2005, max: 2022}
    statuses: ["Live Company", "Live"] # registry statuses (case-insensitive prefixes); default: live ones
    postal_districts: [1, 2, 9]        # Singapore's 28 postal districts, from the postal code
    keywords: ["cloud", "saas"]        # whole words in the name, industry or about text

At least one of `ssic_codes` / `industry_words` is required. How each field selects (see
runners/nightly/sql/candidates.sql): the industry (codes or words), the statuses and the
ranges are filters; a company whose employee estimate, incorporation year or postal code is
unknown is kept (its fit on that criterion is "unknown"); keywords filter nothing and only
raise the fit. Without `statuses`, live companies are taken (not ACRA_DIRECT_EXCLUDE_STATUSES;
no status counts as live); with them, a company without a status is left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from acra_enrich.errors import InputFileError
from acra_enrich.registry.ssic import section_of

# URA's postal districts by the first two digits of the postal code (the postal sector).
DISTRICT_SECTORS: dict[int, tuple[str, ...]] = {
    1: ("01", "02", "03", "04", "05", "06"), 2: ("07", "08"), 3: ("14", "15", "16"), 4: ("09", "10"),
    5: ("11", "12", "13"), 6: ("17",), 7: ("18", "19"), 8: ("20", "21"), 9: ("22", "23"),
    10: ("24", "25", "26", "27"), 11: ("28", "29", "30"), 12: ("31", "32", "33"), 13: ("34", "35", "36", "37"),
    14: ("38", "39", "40", "41"), 15: ("42", "43", "44", "45"), 16: ("46", "47", "48"), 17: ("49", "50", "81"),
    18: ("51", "52"), 19: ("53", "54", "55", "82"), 20: ("56", "57"), 21: ("58", "59"),
    22: ("60", "61", "62", "63", "64"), 23: ("65", "66", "67", "68"), 24: ("69", "70", "71"), 25: ("72", "73"),
    26: ("77", "78"), 27: ("75", "76"), 28: ("79", "80"),
}
_CODE = re.compile(r"^(?:[A-Za-z]|\d{2,5})$")
FIT_CRITERIA = ("industry", "status", "employees", "incorporation", "district", "keywords")


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def _words(values: list[str]) -> list[str]:
    cleaned = [" ".join(v.split()) for v in values]
    if any(not v for v in cleaned):
        raise ValueError("an entry is empty")
    return list(dict.fromkeys(cleaned))


class Icp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ssic_codes: list[str] = Field(default_factory=list)
    industry_words: list[str] = Field(default_factory=list)
    employees: Range | None = None
    incorporation_years: Range | None = None
    statuses: list[str] = Field(default_factory=list)
    postal_districts: list[int] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    @field_validator("ssic_codes", mode="before")
    @classmethod
    def _numbers_are_codes(cls, values: Any) -> Any:
        # `ssic_codes: [62]` in YAML is a number; a code with a leading zero must be quoted ('01').
        if isinstance(values, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
        return values

    @field_validator("ssic_codes")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        codes = []
        for i, raw in enumerate(values):
            code = raw.strip().upper()
            if not _CODE.match(code) or (code.isalpha() and section_of(code) is None) or (
                    code.isdigit() and section_of(code[:2]) is None):
                raise ValueError(f"entry {i} ({raw!r}) is not an SSIC 2020 section letter (A-U) or a 2- to 5-digit "
                                 "code of an SSIC 2020 division (quote codes with a leading zero: '01')")
            codes.append(code)
        return list(dict.fromkeys(codes))

    @field_validator("industry_words", "statuses", "keywords")
    @classmethod
    def _clean(cls, values: list[str]) -> list[str]:
        return _words(values)

    @field_validator("incorporation_years")
    @classmethod
    def _years(cls, value: Range | None) -> Range | None:
        for bound in (value.min, value.max) if value else ():
            if bound is not None and not 1800 <= bound <= 2100:
                raise ValueError(f"{bound} is not a year between 1800 and 2100")
        return value

    @field_validator("postal_districts")
    @classmethod
    def _districts(cls, values: list[int]) -> list[int]:
        for d in values:
            if d not in DISTRICT_SECTORS:
                raise ValueError(f"{d} is not a Singapore postal district (1 to 28)")
        return sorted(set(values))

    @model_validator(mode="after")
    def _has_industry(self) -> Icp:
        if not self.ssic_codes and not self.industry_words:
            raise ValueError("name the industry: ssic_codes, industry_words or both")
        return self

    def criteria(self) -> list[str]:
        """The fit criteria this ICP constrains (the keys of icp_candidates.fit)."""
        given = {"industry": True, "status": True, "employees": self.employees is not None,
                 "incorporation": self.incorporation_years is not None, "district": bool(self.postal_districts),
                 "keywords": bool(self.keywords)}
        return [c for c in FIT_CRITERIA if given[c]]


class IcpFileError(InputFileError):
    """An ICP file that cannot be used; the message names the file and the field."""


def _location(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def parse_icp(data: Any, source: str) -> Icp:
    """Validate decoded ICP data; IcpFileError names `source` and the first bad field(s)."""
    if not isinstance(data, dict):
        raise IcpFileError(f"{source}: expected a mapping of ICP fields at the top level "
                           f"(got {type(data).__name__})")
    try:
        return Icp.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _location(error["loc"])
            if error["type"] == "extra_forbidden":
                message = f"unknown field (known: {', '.join(Icp.model_fields)})"
            else:
                message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise IcpFileError(f"{source}: " + "; ".join(problems)) from None


def load_icp_file(path: Path) -> Icp:
    """Read an ICP from a .yaml/.yml or .json file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IcpFileError(f"{path}: cannot read the file ({exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IcpFileError(f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise IcpFileError(f"{path}: {where}not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    else:
        raise IcpFileError(f"{path}: expected a .yaml, .yml or .json file")
    return parse_icp(data, str(path))


def divisions_of_section(letter: str) -> list[str]:
    return [f"{n:02d}" for n in range(100) if section_of(f"{n:02d}") == letter]


def regex_of_words(words: list[str]) -> str | None:
    """One PostgreSQL regex matching any of `words` as whole words (case-insensitively with ~*)."""
    if not words:
        return None
    alternatives = "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", w).replace(" ", r"\s+") for w in words)
    return rf"\m({alternatives})\M"


def candidate_params(icp: Icp, excluded_status_patterns: list[str]) -> dict[str, Any]:
    """The ICP as the parameters of the candidates query."""
    digits = [c for c in icp.ssic_codes if c.isdigit()]
    sections = [c for c in icp.ssic_codes if c.isalpha()]
    # whole divisions (two digits) compare by equality; longer codes match as prefixes
    divisions = sorted({d for s in sections for d in divisions_of_section(s)} | {c for c in digits if len(c) == 2})

    def like_prefix(value: str) -> str:
        return value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    return {
        "ssic_patterns": [c + "%" for c in digits if len(c) != 2],
        "ssic_divisions": divisions,
        "industry_regex": regex_of_words(icp.industry_words),
        "emp_given": icp.employees is not None,
        "emp_min": icp.employees.min if icp.employees else None,
        "emp_max": icp.employees.max if icp.employees else None,
        "year_given": icp.incorporation_years is not None,
        "year_min": icp.incorporation_years.min if icp.incorporation_years else None,
        "year_max": icp.incorporation_years.max if icp.incorporation_years else None,
        "statuses": [like_prefix(s) for s in icp.statuses] or None,
        "excluded": excluded_status_patterns,
        "sectors": [s for d in icp.postal_districts for s in DISTRICT_SECTORS[d]] or None,
        "keyword_regex": regex_of_words(icp.keywords),
    }
