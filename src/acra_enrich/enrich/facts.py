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


PhoneKind = Literal["phone", "mobile", "whatsapp", "hotline", "toll_free", "fax"]
# How the number's country was decided: printed with its country code; read in the region
# of the office block it sits in, of its page, or of the whole site; or guessed (no evidence).
PhoneBasis = Literal["international", "section", "page", "site", "guessed"]
_BASIS_CONFIDENCE: dict[str, float] = {"international": 0.95, "section": 0.9, "page": 0.9, "site": 0.85, "guessed": 0.6}


@dataclass(frozen=True)
class Phone(Sourced[str]):
    """A phone or fax number in E.164 (`value`), with what the page said about it.

    `labelled`: the page named its kind (a "Fax:" label, a fax column, a WhatsApp link);
    otherwise the kind comes from the number's type. `raw` is the number as printed, so a
    guessed reading can be redone once the site's country is known.
    """

    kind: PhoneKind = "phone"
    basis: PhoneBasis = "international"
    labelled: bool = False
    extension: str | None = None
    raw: str = ""

    @property
    def confidence(self) -> float:
        return _BASIS_CONFIDENCE[self.basis]

    @property
    def singapore_evidence(self) -> bool:
        """Singaporean as printed: with +65/(65), or a national 6/8/9 number on a page or site
        that shows it is in Singapore. A number only guessed to be Singaporean is no evidence."""
        if not self.value.startswith("+65") or self.basis == "guessed":
            return False
        return self.basis == "international" or (len(self.value) == 11 and self.value[3] in "689")


@dataclass(frozen=True)
class Address:
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None


@dataclass(frozen=True)
class StatedRevenue:
    """A revenue figure the company's pages state (extract/revenue.py), in Singapore dollars."""

    amount_sgd: int
    as_written: str  # the amount as the page prints it ("S$12 million")


@dataclass
class _Facts:
    """The values extraction reports, each with the URL it came from."""

    url: str
    title: str | None = None
    site_names: list[Sourced[str]] = field(default_factory=list)
    emails: list[Sourced[str]] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)  # never a fax
    faxes: list[Phone] = field(default_factory=list)
    region: str | None = None  # the country the page (site) gives evidence for; None: no evidence
    linkedin_url: Sourced[str] | None = None
    socials: dict[str, Sourced[str]] = field(default_factory=dict)
    address: Sourced[Address] | None = None
    about_text: Sourced[str] | None = None
    tech_stack: list[Sourced[str]] = field(default_factory=list)
    careers: bool = False
    jobs_count: Sourced[int] | None = None
    employees_est: Sourced[int] | None = None
    revenue: Sourced[StatedRevenue] | None = None
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
