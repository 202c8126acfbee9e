"""Phone numbers with libphonenumber (default region SG), kept only when valid, as E.164."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher
from selectolax.lexbor import LexborHTMLParser

from acra_enrich.enrich.extract.dom import attr
from acra_enrich.enrich.facts import Sourced

DEFAULT_REGION = "SG"
_MAX_TEXT = 100_000
_MAX_TRIES = 2_000

# Digit runs libphonenumber may accept but a person would read as something else.
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\s*$")
_BARE_DIGITS = re.compile(r"^\d+$")


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """Parse one number as written (tel: link, JSON-LD telephone); None unless valid."""
    raw = unquote(raw).strip()
    if not raw or len(raw) > 40:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _plausible_raw(raw: str) -> bool:
    if _DATE_LIKE.match(raw):
        return False
    # An unformatted run of digits longer than a full SG number (e.g. part of an order or
    # account number) is not a phone number even if a prefix of it would be.
    return not (_BARE_DIGITS.match(raw) and len(raw) > 8)


def _from_text(text: str) -> Iterable[str]:
    matcher = PhoneNumberMatcher(text[:_MAX_TEXT], DEFAULT_REGION, leniency=Leniency.VALID, max_tries=_MAX_TRIES)
    while True:
        try:
            if not matcher.has_next():
                return
            match = matcher.next()
        except Exception:  # libphonenumber on hostile text: stop scanning, keep what we have
            return
        if not _plausible_raw(match.raw_string):
            continue
        if phonenumbers.is_valid_number(match.number):
            yield phonenumbers.format_number(match.number, PhoneNumberFormat.E164)


def extract_phones(
    tree: LexborHTMLParser,
    text: str,
    page_url: str,
    structured: Iterable[tuple[str, str]] = (),
) -> list[Sourced[str]]:
    """tel: links first, then structured-data telephones, then numbers written in the text."""
    found: dict[str, Sourced[str]] = {}

    def add(e164: str | None, method: str) -> None:
        if e164 and e164 not in found:
            found[e164] = Sourced(e164, page_url, method)

    for node in tree.css("a[href]"):
        href = attr(node, "href")
        if href.lower().startswith(("tel:", "callto:")):
            add(to_e164(href.split(":", 1)[1]), "tel")
    for raw, method in structured:
        add(to_e164(raw), method)
    for e164 in _from_text(text):
        add(e164, "text")
    return list(found.values())
