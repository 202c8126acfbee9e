"""Organization data from JSON-LD, microdata and OpenGraph (extruct), tolerant of broken markup."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import extruct
from selectolax.lexbor import LexborHTMLParser

from acra_enrich.enrich.extract.address import address_from_text, normalize_country
from acra_enrich.enrich.facts import Address

_SYNTAXES = ["json-ld", "microdata", "opengraph"]
_MAX_NODES = 5_000
_MAX_DEPTH = 12

# schema.org Organization and its common subtypes; anything ending in these words is a subtype
# too (ProfessionalService, HomeAndConstructionBusiness, TravelAgency, ...).
_ORG_TYPES = frozenset(
    {"Organization", "Corporation", "LocalBusiness", "Company", "NGO", "Store", "Restaurant", "OnlineBusiness"}
)
_ORG_SUFFIXES = ("Organization", "Business", "Service", "Store", "Agency", "Office")
_NOT_ORG = frozenset({"Service", "WebSite", "WebPage", "Person", "Product", "Offer"})
# Properties whose values are *other* parties (a parent group, a client, a reviewer); their names,
# phones and addresses must not be read as the site owner's.
_OTHER_PARTIES = frozenset(
    {"parentOrganization", "subOrganization", "memberOf", "member", "members", "department", "funder",
     "sponsor", "brand", "alumni", "review", "author", "hiringOrganization", "competitor", "seller"}
)
_COMMENT_LINES = re.compile(r"^\s*(?://.*|<!--|-->)\s*$|<!--|-->", re.MULTILINE)


@dataclass
class StructuredData:
    """What the page's embedded metadata says, each item tagged with its syntax ("jsonld", "microdata", "og")."""

    site_names: list[tuple[str, str]] = field(default_factory=list)
    emails: list[tuple[str, str]] = field(default_factory=list)
    telephones: list[tuple[str, str]] = field(default_factory=list)
    faxes: list[tuple[str, str]] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)  # the organisation's addressCountry, as written
    same_as: list[tuple[str, str]] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    address: tuple[Address, str] | None = None
    employees: tuple[int, str] | None = None
    job_postings: int = 0
    job_postings_method: str = ""
    og: dict[str, str] = field(default_factory=dict)


def _type_names(node: dict[str, Any]) -> list[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    names = []
    for value in values:
        if isinstance(value, str) and value:
            names.append(value.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1])
    return names


def _is_org(types: list[str]) -> bool:
    for name in types:
        if name in _NOT_ORG:
            continue
        if name in _ORG_TYPES or name.endswith(_ORG_SUFFIXES):
            return True
    return False


def _walk(value: Any, depth: int = 0, budget: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON-LD/microdata tree (@graph, itemListElement, nested values), bounded."""
    budget = budget if budget is not None else [_MAX_NODES]
    if depth > _MAX_DEPTH or budget[0] <= 0:
        return
    if isinstance(value, dict):
        budget[0] -= 1
        yield value
        for key, child in value.items():
            if key not in _OTHER_PARTIES:
                yield from _walk(child, depth + 1, budget)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child, depth + 1, budget)


def _strings(value: Any) -> list[str]:
    """A schema.org property as a list of strings (a value may be a string, a list, or a node with a name/@id)."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[:50]:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            text = str(item).strip()
            if text:
                out.append(text)
        elif isinstance(item, dict):
            for key in ("name", "value", "@id", "url"):
                if isinstance(item.get(key), str) and item[key].strip():
                    out.append(item[key].strip())
                    break
    return out


def parse_count(value: Any) -> int | None:
    """numberOfEmployees: 50, "50", "1,200", "50+", or a QuantitativeValue {value|minValue|maxValue}."""
    if isinstance(value, dict):
        for key in ("value", "minValue", "maxValue"):
            found = parse_count(value.get(key))
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        return parse_count(value[0]) if value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
    elif isinstance(value, str):
        match = re.search(r"\d[\d,]*", value)
        if not match:
            return None
        number = int(match.group(0).replace(",", ""))
    else:
        return None
    return number if 0 < number < 10_000_000 else None


def _postal_address(value: Any) -> Address | None:
    if isinstance(value, list):
        for item in value:
            found = _postal_address(item)
            if found:
                return found
        return None
    if isinstance(value, str):
        return address_from_text(value)
    if not isinstance(value, dict):
        return None

    def text(key: str) -> str | None:
        values = _strings(value.get(key))
        return " ".join(values)[:200] if values else None

    street = text("streetAddress")
    postal = text("postalCode")
    city = text("addressLocality")
    country = normalize_country(text("addressCountry"))
    if postal:
        postal = re.sub(r"\s+", "", postal)
        if re.fullmatch(r"(?:S\()?\d{6}\)?", postal, re.IGNORECASE):
            postal = re.sub(r"\D", "", postal)
            if country in (None, "Singapore"):
                country = "Singapore"
                city = city or "Singapore"
    if not any((street, postal, city, country)):
        return None
    return Address(street=street, postal_code=postal, city=city, country=country)


def _address_countries(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [c for item in items[:10] if isinstance(item, dict) for c in _strings(item.get("addressCountry"))[:1]]


def _jsonld_blocks(tree: LexborHTMLParser) -> list[Any]:
    """Per-block JSON-LD parsing: one broken block must not hide the others (extruct drops them all)."""
    items: list[Any] = []
    for node in tree.css('script[type="application/ld+json"]')[:50]:
        raw = node.text() or ""
        for candidate in (raw, _COMMENT_LINES.sub("", raw)):
            try:
                items.append(json.loads(candidate, strict=False))
                break
            except (ValueError, RecursionError):
                continue  # malformed: retry without HTML/JS comment lines, then give up on this block
    return items


def _extruct(html: str, url: str, tree: LexborHTMLParser) -> dict[str, list[Any]]:
    try:
        data = extruct.extract(
            html.encode("utf-8", "replace"), base_url=url, syntaxes=_SYNTAXES, uniform=True, errors="ignore"
        )
    except Exception:  # extruct on hostile markup: fall back to per-block JSON-LD below
        data = {}
    if "json-ld" not in data:
        data["json-ld"] = _jsonld_blocks(tree)
    return data


def extract_structured(html: str, url: str, tree: LexborHTMLParser) -> StructuredData:
    data = _extruct(html, url, tree)
    out = StructuredData()
    for syntax, method in (("json-ld", "jsonld"), ("microdata", "microdata")):
        for node in _walk(data.get(syntax) or []):
            types = _type_names(node)
            if "JobPosting" in types:
                out.job_postings += 1
                out.job_postings_method = out.job_postings_method or method
            if not _is_org(types):
                continue
            for key in ("name", "legalName"):
                for name in _strings(node.get(key))[:1]:
                    out.site_names.append((name[:200], method))
            out.emails.extend((e, method) for e in _strings(node.get("email")))
            out.telephones.extend((t, method) for t in _strings(node.get("telephone")))
            out.faxes.extend((t, method) for t in _strings(node.get("faxNumber")))
            out.countries.extend(_address_countries(node.get("address") or node.get("location")))
            out.same_as.extend((u, method) for u in _strings(node.get("sameAs")))
            for key in ("taxID", "vatID", "identifier", "leiCode"):
                out.identifiers.extend((i, method) for i in _strings(node.get(key)))
            if out.address is None:
                address = _postal_address(node.get("address") or node.get("location"))
                if address:
                    out.address = (address, method)
            if out.employees is None:
                count = parse_count(node.get("numberOfEmployees"))
                if count:
                    out.employees = (count, method)
    for item in data.get("opengraph") or []:
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and key.startswith("og:") and isinstance(value, str) and value.strip():
                    out.og.setdefault(key, value.strip()[:2000])
    if out.og.get("og:site_name"):
        out.site_names.append((out.og["og:site_name"][:200], "og"))
    return out
