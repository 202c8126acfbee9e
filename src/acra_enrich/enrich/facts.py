"""Records produced by extraction: every value keeps the URL it came from and how it was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

PageRole = Literal["home", "about", "contact", "careers", "other"]


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value with its provenance.

    `method` names the rule that produced it, e.g. "mailto", "text", "cfemail", "obfuscated",
    "jsonld", "microdata", "og", "title", "meta_generator", "script_host", "trafilatura".
    """

    value: T
    source_url: str
    method: str


@dataclass(frozen=True)
class Address:
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None


@dataclass
class _Facts:
    """The values extraction reports, each with the URL it came from."""

    url: str
    title: str | None = None
    site_names: list[Sourced[str]] = field(default_factory=list)
    emails: list[Sourced[str]] = field(default_factory=list)
    phones: list[Sourced[str]] = field(default_factory=list)
    linkedin_url: Sourced[str] | None = None
    socials: dict[str, Sourced[str]] = field(default_factory=dict)
    address: Sourced[Address] | None = None
    about_text: Sourced[str] | None = None
    tech_stack: list[Sourced[str]] = field(default_factory=list)
    careers: bool = False
    jobs_count: Sourced[int] | None = None
    employees_est: Sourced[int] | None = None
    uens: list[Sourced[str]] = field(default_factory=list)
    text: str = ""


@dataclass
class PageFacts(_Facts):
    """Everything deterministic extraction found on one page."""

    role: PageRole = "other"


@dataclass
class CompanyFacts(_Facts):
    """PageFacts merged across one site's pages; `pages` lists the URLs merged, in input order."""

    pages: list[str] = field(default_factory=list)
