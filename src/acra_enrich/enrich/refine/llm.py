"""Stage 4, llm_extract: refine deterministic facts with an OpenAI-compatible model.

Runs only when the LLM client is enabled (OPENAI_API_KEY set; OPENAI_BASE_URL picks the
endpoint). The corpus (`CompanyFacts.text`, at most EXTRACT_CORPUS_CHAR_LIMIT characters)
is cut into at most LLM_MAX_CHUNKS chunks along its page sections; each chunk gets one
JSON-schema answer, asked in corpus order (home, about, contact first).

Merging trusts the deterministic facts and only fills gaps. Models invent contact data, so
every email, phone number and URL the model returns must occur in the corpus (or among the
facts extraction already found) or it is discarded and counted (`discarded_invented`);
numbers (employees, open jobs) and postal codes must occur too, and a revenue figure must be an
amount the corpus prints, in a sentence that is not about growth, goals or clients
(extract/revenue.py: stated_in). A value the model adds keeps
`method="llm"` and the URL of the page it occurs in. The stage never raises: a failed call
leaves the deterministic facts as they were and names the reason in `degraded`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog
from rapidfuzz import fuzz
from selectolax.lexbor import LexborHTMLParser

from acra_enrich.config import Settings
from acra_enrich.enrich.extract.emails import clean_email, extract_emails
from acra_enrich.enrich.facts import Address, CompanyFacts, Phone, Sourced
from acra_enrich.enrich.extract.links import profile_url, social_network
from acra_enrich.enrich.extract.phones import extract_phones, same_number
from acra_enrich.enrich.extract.revenue import stated_in
from acra_enrich.enrich.sites import registrable_domain
from acra_enrich.vendors.base import BUDGET_EXHAUSTED, DISABLED, OK, RATE_LIMITED, UNAUTHORIZED
from acra_enrich.vendors.llm import LlmClient

log = structlog.get_logger(__name__)

METHOD = "llm"
MIN_CHUNK_CHARS = 4_000  # below this, more calls cost more than they help
_ABOUT_MIN_MATCH = 60  # rapidfuzz partial_ratio for attributing an about text to a page
_STOP_STATUSES = frozenset({DISABLED, BUDGET_EXHAUSTED, UNAUTHORIZED, RATE_LIMITED})
_EMPTY_TREE = LexborHTMLParser("")

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_PROPERTIES: dict[str, Any] = {
    "about_text": {**_NULLABLE_STRING, "description": "what the company does, 1-3 sentences, from the text"},
    "industry_keywords": {**_STRINGS, "description": "up to 5 short industry / product keywords"},
    "emails": {**_STRINGS, "description": "email addresses exactly as written in the text"},
    "phones": {**_STRINGS, "description": "phone numbers exactly as written in the text"},
    "linkedin_url": {**_NULLABLE_STRING, "description": "the company's LinkedIn page URL if written in the text"},
    "social_urls": {**_STRINGS, "description": "other social profile URLs written in the text"},
    "employees_estimate": {"type": ["integer", "null"], "description": "head count stated in the text"},
    "open_jobs_count": {"type": ["integer", "null"], "description": "number of open positions stated"},
    "annual_revenue": {**_NULLABLE_STRING, "description": "the company's own annual revenue or turnover if the text "
                       "states a figure, copied as written with its currency (e.g. 'S$12 million')"},
    "street_address": _NULLABLE_STRING,
    "postal_code": _NULLABLE_STRING,
    "city": _NULLABLE_STRING,
    "country": _NULLABLE_STRING,
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": _PROPERTIES,
    "required": list(_PROPERTIES),
    "additionalProperties": False,
}
SCHEMA_NAME = "company_facts"
SYSTEM_PROMPT = (
    "You extract facts about one company from text taken from its own website. Use only the text "
    "given. Copy email addresses, phone numbers and URLs exactly as they appear; never guess or "
    "construct one. Use null or an empty list when the text does not say."
)


class HasName(Protocol):
    @property
    def name(self) -> str: ...  # read-only, so the pipeline's frozen Company qualifies


@dataclass
class LlmExtractResult:
    """`facts` is the merged copy (None when nothing was merged: skipped or failed)."""

    status: str  # ok | skipped | degraded
    facts: CompanyFacts | None = None
    industry_keywords: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)
    discarded: list[tuple[str, str]] = field(default_factory=list)  # (field, value) dropped as invented

    @property
    def discarded_invented(self) -> int:
        return self.counts.get("discarded_invented", 0)


# --- corpus -------------------------------------------------------------------------------------


def corpus_sections(facts: CompanyFacts) -> list[tuple[str, str]]:
    """(page URL, text) in corpus order, from the `## <url>` headers merge_facts writes."""
    known = set(facts.pages)
    sections: list[tuple[str, list[str]]] = [(facts.url, [])]
    for line in facts.text.split("\n"):
        if line.startswith("## ") and line[3:].strip() in known:
            sections.append((line[3:].strip(), []))
        else:
            sections[-1][1].append(line)
    return [(url, "\n".join(lines).strip()) for url, lines in sections if "".join(lines).strip()]


def _pieces(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:size])
            line = line[size:]
        if current and len(current) + 1 + len(line) > size:
            pieces.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current.strip():
        pieces.append(current)
    return pieces


def chunk_corpus(sections: Sequence[tuple[str, str]], *, max_chunks: int, char_limit: int) -> list[str]:
    """At most `max_chunks` chunks of the first `char_limit` characters; each piece of a page
    carries its `## <url>` header so the model (and we) know where text came from."""
    budget = char_limit
    kept: list[tuple[str, str]] = []
    for url, text in sections:
        if budget <= 0:
            break
        kept.append((url, text[:budget]))
        budget -= len(kept[-1][1])
    total = sum(len(t) for _, t in kept)
    size = max(MIN_CHUNK_CHARS, math.ceil(total / max_chunks))
    chunks: list[str] = []
    current = ""
    for url, text in kept:
        header = f"## {url}\n"
        for piece in _pieces(text, max(size - len(header), 1)):
            block = header + piece
            if current and len(current) + 2 + len(block) > size:
                chunks.append(current)
                current = ""
            current = f"{current}\n\n{block}" if current else block
    if current:
        chunks.append(current)
    return chunks[:max_chunks]


# --- grounding ----------------------------------------------------------------------------------


def _url_key(url: str) -> str:
    """host+path, lower case, without scheme, www. and trailing slash: how a URL is compared."""
    text = url.strip().lower()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    host = (parts.hostname or "").removeprefix("www.")
    return f"{host}{parts.path}".rstrip("/")


def _number_in(text: str, number: int) -> bool:
    plain = str(number)
    grouped = f"{number:,}"
    return any(re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d])", text) for form in {plain, grouped})


class Grounding:
    """Where in the corpus each email, phone, URL and number occurs (first page wins)."""

    def __init__(self, facts: CompanyFacts, sections: Sequence[tuple[str, str]]) -> None:
        self.sections = sections
        self.emails: dict[str, str] = {e.value: e.source_url for e in facts.emails}
        self.numbers: dict[str, Phone] = {p.value: p for p in (*facts.phones, *facts.faxes)}
        self.urls: dict[str, str] = {}
        for profile in [facts.linkedin_url, *facts.socials.values()]:
            if profile is not None:
                self.urls.setdefault(_url_key(profile.value), profile.source_url)
        for url, text in sections:
            for email in extract_emails(_EMPTY_TREE, text, url):
                self.emails.setdefault(email.value, url)
            found = extract_phones(_EMPTY_TREE, text, url)
            for phone in (*found.phones, *found.faxes):
                self.numbers.setdefault(phone.value, phone)
        self._lowered = [(url, text.lower()) for url, text in sections]

    def number(self, raw: str) -> Phone | None:
        """The extracted number an LLM's copy `raw` is, if any."""
        return next((p for p in self.numbers.values() if same_number(raw, p)), None)

    def url_page(self, url: str) -> str | None:
        key = _url_key(url)
        if not key:
            return None
        if key in self.urls:
            return self.urls[key]
        return next((page for page, text in self._lowered if key in text), None)

    def number_page(self, number: int) -> str | None:
        return next((page for page, text in self.sections if _number_in(text, number)), None)

    def text_page(self, value: str) -> str | None:
        needle = " ".join(value.lower().split())
        return next((page for page, text in self._lowered if needle in " ".join(text.split())), None)

    def best_page(self, passage: str) -> str | None:
        scored = [(fuzz.partial_ratio(passage.lower(), text), page) for page, text in self._lowered]
        best = max(scored, default=(0.0, None))
        return best[1] if best[0] >= _ABOUT_MIN_MATCH else None


# --- merging ------------------------------------------------------------------------------------


@dataclass
class _Merge:
    facts: CompanyFacts
    grounding: Grounding
    counts: dict[str, int]
    discarded: list[tuple[str, str]]
    keywords: list[str]

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def invented(self, field_name: str, value: str) -> None:
        self.count("discarded_invented")
        self.discarded.append((field_name, value))

    def answer(self, data: dict[str, Any]) -> None:
        f = self.facts
        g = self.grounding
        new_emails = list(f.emails)
        known_emails = {e.value for e in new_emails}
        for raw in _strings(data.get("emails")):
            email = clean_email(raw)
            if email is None:
                self.count("rejected_invalid")
            elif email in known_emails:
                continue
            elif email in g.emails:
                new_emails.append(Sourced(email, g.emails[email], METHOD))
                known_emails.add(email)
                self.count("added_emails")
            else:
                self.invented("email", raw)
        new_phones = list(f.phones)
        known_phones = {p.value for p in new_phones}
        for raw in _strings(data.get("phones")):
            phone = g.number(raw)
            if phone is None:
                self.invented("phone", raw)
            elif phone.kind == "fax":
                self.count("rejected_fax")  # the pages label it fax: never a phone
            elif phone.value not in known_phones:
                new_phones.append(dataclasses.replace(phone, method=METHOD))
                known_phones.add(phone.value)
                self.count("added_phones")
        linkedin, socials = f.linkedin_url, dict(f.socials)
        for raw in [*_strings([data.get("linkedin_url")]), *_strings(data.get("social_urls"))]:
            url = raw if "://" in raw else "https://" + raw
            network = social_network(url)
            if network is None:
                self.count("rejected_invalid")
                continue
            if _url_key(url) in g.urls:  # extraction found it already
                continue
            page = g.url_page(url)
            if page is None:
                self.invented("url", raw)
                continue
            if network in socials:  # extraction's profile for this network stands
                continue
            profile = Sourced(profile_url(url, network), page, METHOD)
            socials[network] = profile
            if network == "linkedin" and linkedin is None:
                linkedin = profile
            self.count("added_urls")
        f = dataclasses.replace(f, emails=new_emails, phones=new_phones, linkedin_url=linkedin, socials=socials)
        f = self._scalars(f, data)
        for keyword in _strings(data.get("industry_keywords")):
            if keyword.lower() not in {k.lower() for k in self.keywords}:
                self.keywords.append(keyword)
        self.facts = f

    def _scalars(self, f: CompanyFacts, data: dict[str, Any]) -> CompanyFacts:
        g = self.grounding
        about = data.get("about_text")
        if f.about_text is None and isinstance(about, str) and about.strip():
            f = dataclasses.replace(f, about_text=Sourced(about.strip(), g.best_page(about) or f.url, METHOD))
            self.count("added_fields")
        for key, attr in (("employees_estimate", "employees_est"), ("open_jobs_count", "jobs_count")):
            value = data.get(key)
            if getattr(f, attr) is not None or not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                continue
            page = g.number_page(value)
            if page is None:
                self.invented(key, str(value))
                continue
            # attr names one of two Sourced[int] fields; a computed keyword is beyond mypy's replace() check
            change: dict[str, Any] = {attr: Sourced(value, page, METHOD)}
            f = dataclasses.replace(f, **change)
            self.count("added_fields")
        figure = data.get("annual_revenue")
        if f.revenue is None and isinstance(figure, str) and figure.strip():
            found = next(((page, stated) for page, text in g.sections if (stated := stated_in(text, figure))), None)
            if found is None:
                self.invented("annual_revenue", figure)
            else:
                f = dataclasses.replace(f, revenue=Sourced(found[1], found[0], METHOD))
                self.count("added_fields")
        postal = data.get("postal_code")
        if f.address is None and isinstance(postal, str) and postal.strip():
            page = g.text_page(postal.strip())
            if page is None:
                self.invented("postal_code", postal)
            else:
                street = data.get("street_address")
                grounded_street = street.strip() if isinstance(street, str) and g.text_page(street.strip()) else None
                address = Address(street=grounded_street, postal_code=postal.strip(),
                                  city=_str(data.get("city")), country=_str(data.get("country")))
                f = dataclasses.replace(f, address=Sourced(address, page, METHOD))
                self.count("added_fields")
        return f


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- the stage ----------------------------------------------------------------------------------


def _messages(chunk: str, company_name: str | None, domain: str) -> list[dict[str, str]]:
    about = f"Company: {company_name}\n" if company_name else ""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{about}Website: {domain}\n\nText from the website:\n\n{chunk}"},
    ]


async def llm_extract(facts: CompanyFacts, llm: LlmClient, settings: Settings, *,
                      company_name: str | None = None) -> LlmExtractResult:
    """Refine `facts` with the LLM; never raises (see the module docstring)."""
    if not llm.enabled:
        return LlmExtractResult("skipped", counts={"llm_chunks": 0})
    try:
        return await _run(facts, llm, settings, company_name)
    except Exception as exc:  # a bug here must cost the company its LLM refinement, not its run
        log.exception("llm_extract_failed", url=facts.url, error=type(exc).__name__)
        return LlmExtractResult("degraded", degraded=[f"llm:internal_error:{type(exc).__name__}"])


async def _run(facts: CompanyFacts, llm: LlmClient, settings: Settings, company_name: str | None) -> LlmExtractResult:
    sections = corpus_sections(facts)
    chunks = chunk_corpus(sections, max_chunks=settings.llm_max_chunks, char_limit=settings.extract_corpus_char_limit)
    if not chunks:
        return LlmExtractResult("skipped", counts={"llm_chunks": 0})
    merge = _Merge(facts, Grounding(facts, sections), {"llm_chunks": len(chunks), "llm_calls": 0, "llm_tokens": 0,
                                                        "discarded_invented": 0}, [], [])
    degraded: list[str] = []
    domain = registrable_domain(facts.url) or facts.url
    answered = 0
    for chunk in chunks:
        result = await llm.complete_json(_messages(chunk, company_name, domain), schema=SCHEMA, schema_name=SCHEMA_NAME)
        merge.count("llm_calls")
        if result.usage is not None:
            merge.count("llm_tokens", result.usage.total_tokens)
        if result.status != OK or result.data is None:
            degraded.append(f"llm:{result.status}")
            log.warning("llm_call_failed", url=facts.url, status=result.status, detail=result.detail)
            if result.status in _STOP_STATUSES:
                break
            continue
        answered += 1
        merge.answer(result.data)
    if answered == 0:
        return LlmExtractResult("degraded", counts=merge.counts, degraded=list(dict.fromkeys(degraded)))
    return LlmExtractResult(
        "degraded" if degraded else "ok", facts=merge.facts, industry_keywords=merge.keywords,
        counts=merge.counts, degraded=list(dict.fromkeys(degraded)), discarded=merge.discarded,
    )


class LlmExtractStage:
    """The stage as the pipeline calls it: `await stage(company, facts)`."""

    def __init__(self, llm: LlmClient, settings: Settings) -> None:
        self.llm = llm
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.llm.enabled

    async def __call__(self, company: HasName, facts: CompanyFacts) -> LlmExtractResult:
        return await llm_extract(facts, self.llm, self.settings, company_name=company.name)
