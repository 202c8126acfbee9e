"""Which country's numbering a page, or one office block of it, speaks.

A phone number printed without a country code means nothing until a region is chosen, and a
wrong region turns a real number into a wrong one (a US toll-free number read as `+65...`).
The evidence, strongest first: the organisation's structured `addressCountry`, a postal
address in the text, the site's country-code TLD, then the country codes of the numbers the
page prints in full. Inside a page, a line that names one place ("Kuala Lumpur",
"Malaysia Office", "Jl. Sudirman ..., Jakarta 12190, Indonesia") heads the lines below it.

Country names come from libphonenumber's own locale data (English names of every region it
knows), plus the short forms and the large business cities a Singapore company's overseas
offices are in.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers.geodata.locale import LOCALE_DATA

from acra_enrich.enrich.sites import host_of, registrable_domain

SINGAPORE = "SG"

# ccTLDs sold as generic names (.io, .co, .ai, ...): they say nothing about where a site is.
_GENERIC_CCTLDS = frozenset(
    "ac ai am as bz cc cd cf co cx dj fm ga gg gl gq gs im io je la ly me ml ms mu nu pw sh so st tk to tv vc vg ws"
    .split()
)
# English country names that are also common words, person or US-state names.
_AMBIGUOUS_NAMES = frozenset(
    {"chad", "georgia", "jordan", "jersey", "guernsey", "turkey", "guinea", "niger", "mali", "dominica"}
)
_ALIASES: dict[str, str] = {
    "usa": "US", "u.s.a.": "US", "u.s.": "US", "united states of america": "US",
    "uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "great britain": "GB",
    "prc": "CN", "p.r.c.": "CN", "people's republic of china": "CN", "mainland china": "CN",
    "hong kong sar": "HK", "hongkong": "HK", "macau": "MO", "korea": "KR", "republic of korea": "KR",
    "viet nam": "VN", "uae": "AE", "u.a.e.": "AE", "republic of singapore": "SG",
    "brunei darussalam": "BN", "burma": "MM",
    # Chinese names of the region's countries (Singapore sites in Chinese print these).
    "新加坡": "SG", "马来西亚": "MY", "馬來西亞": "MY", "印度尼西亚": "ID", "印尼": "ID", "中国": "CN", "中國": "CN",
    "香港": "HK", "台湾": "TW", "台灣": "TW", "越南": "VN", "泰国": "TH", "泰國": "TH", "菲律宾": "PH", "澳门": "MO",
}
# Business cities and states where the overseas offices of Singapore companies are.
_CITIES: dict[str, str] = {
    **dict.fromkeys(("kuala lumpur", "petaling jaya", "shah alam", "subang jaya", "cyberjaya", "putrajaya",
                     "johor bahru", "penang", "pulau pinang", "ipoh", "melaka",
                     "kota kinabalu", "kuching", "selangor", "klang", "seremban", "iskandar puteri"), "MY"),
    **dict.fromkeys(("jakarta", "surabaya", "bandung", "batam", "medan", "semarang", "denpasar",
                     "tangerang", "bekasi", "yogyakarta"), "ID"),
    **dict.fromkeys(("bangkok", "chiang mai", "phuket", "pattaya"), "TH"),
    **dict.fromkeys(("manila", "makati", "taguig", "pasig", "quezon city", "cebu", "davao"), "PH"),
    **dict.fromkeys(("ho chi minh city", "ho chi minh", "hanoi", "ha noi", "da nang", "hai phong"), "VN"),
    **dict.fromkeys(("shanghai", "beijing", "shenzhen", "guangzhou", "suzhou", "hangzhou", "chengdu", "tianjin",
                     "xiamen", "wuhan", "nanjing", "qingdao", "dongguan", "上海", "北京", "深圳", "广州"), "CN"),
    **dict.fromkeys(("kowloon", "tsim sha tsui", "wan chai", "causeway bay", "kwun tong"), "HK"),
    **dict.fromkeys(("taipei", "kaohsiung", "taichung", "hsinchu"), "TW"),
    **dict.fromkeys(("tokyo", "osaka", "yokohama", "nagoya", "fukuoka"), "JP"),
    **dict.fromkeys(("seoul", "busan", "incheon"), "KR"),
    **dict.fromkeys(("yangon", "mandalay"), "MM"),
    **dict.fromkeys(("phnom penh", "siem reap"), "KH"),
    **dict.fromkeys(("vientiane",), "LA"),
    **dict.fromkeys(("bandar seri begawan",), "BN"),
    **dict.fromkeys(("mumbai", "new delhi", "delhi", "bangalore", "bengaluru", "chennai", "hyderabad", "pune",
                     "kolkata", "gurgaon", "gurugram", "noida"), "IN"),
    **dict.fromkeys(("dubai", "abu dhabi", "sharjah"), "AE"),
    **dict.fromkeys(("sydney", "melbourne", "brisbane", "perth", "adelaide", "canberra"), "AU"),
    **dict.fromkeys(("auckland", "wellington", "christchurch"), "NZ"),
    **dict.fromkeys(("london", "manchester", "birmingham", "edinburgh", "glasgow"), "GB"),
    **dict.fromkeys(("new york", "san francisco", "los angeles", "chicago", "houston", "seattle", "boston"), "US"),
}

_US_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
              "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
# Postal forms that name their country by shape: "Albuquerque, NM 87110", "NSW 2000",
# "London EC2V 7HH", "Singapore 048616" / "S(048616)".
_ADDRESS_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bSingapore\s*[,(\-]?\s*\(?\d{6}\b|\bS\s*\(\s*\d{6}\s*\)", re.IGNORECASE), "SG"),
    (re.compile(rf"\b[A-Z][A-Za-z .'-]{{1,40}},?\s+(?:{'|'.join(_US_STATES)})\s+\d{{5}}(?:-\d{{4}})?\b"), "US"),
    (re.compile(r"\b(?:NSW|VIC|QLD|TAS|ACT)\s+\d{4}\b"), "AU"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"), "GB"),
)
_TRAILING_WORDS = re.compile(r"[^\W\d_]+")  # words left after a place name (digits and punctuation pass)
# Words that may follow the place in an office heading ("Kuala Lumpur Office", "PT Acme Jakarta Tbk").
_HEADING_WORDS = frozenset(
    "office offices branch hq headquarters head main regional representative rep sales service centre center "
    "subsidiary factory plant warehouse showroom contact contacts us sdn bhd pte ltd pt tbk co inc llc limited "
    "corp corporation company group pty private bhd tel telephone phone fax mobile hotline whatsapp no".split()
)
_SENTENCE = re.compile(r"[.!?]\s*$")
_POSTCODE_DIGITS = 6
HEADING_CHARS = 60  # a place named on a line this short heads an office block
ADDRESS_CHARS = 220


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        english = (LOCALE_DATA.get(region) or {}).get("aa")
        if english and not english.startswith("*"):
            key = english.lower()
            if key not in _AMBIGUOUS_NAMES:
                names[key] = region
    names.update(_ALIASES)
    names.update(_CITIES)
    return names


@lru_cache(maxsize=1)
def _name_pattern() -> re.Pattern[str]:
    # Longest first, so "Hong Kong SAR" wins over "Hong Kong" and "Ho Chi Minh City" over its prefix.
    # Latin names are whole words; Chinese text has no spaces to bound a word with.
    ordered = sorted(_names(), key=len, reverse=True)
    latin = "|".join(re.escape(n) for n in ordered if n.isascii())
    cjk = "|".join(re.escape(n) for n in ordered if not n.isascii())
    return re.compile(rf"(?<![\w.])(?:{latin})(?!\w)|(?:{cjk})", re.IGNORECASE)


def region_of_country(value: str | None) -> str | None:
    """'SG', 'sg', 'Singapore', 'Malaysia', 'USA' -> region code; None when unknown."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 2 and text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    if text.upper() == "UK":
        return "GB"
    return _names().get(text.lower().rstrip("."))


def region_of_host(url_or_host: str) -> str | None:
    """The region a country-code TLD names (`acme.com.my` -> MY); None for generic TLDs."""
    host = host_of(url_or_host) if "/" in url_or_host else url_or_host.lower()
    domain = registrable_domain(host)
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    if len(tld) != 2 or tld in _GENERIC_CCTLDS:
        return None
    region = "GB" if tld == "uk" else tld.upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def _closing_place(text: str, trailing: frozenset[str]) -> str | None:
    """The region of the last place named in `text`, when nothing but `trailing` words,
    digits (postcodes) and punctuation follow it: "50450 Kuala Lumpur, Malaysia", "Jakarta
    Office", but not "1 Penang Road, #02-01" (a Singapore street named after a place)."""
    matches = list(_name_pattern().finditer(text))
    if not matches:
        return None
    regions = {_names().get(m.group(0).lower()) for m in matches} - {None}
    if len(regions) != 1:
        return None
    after = text[matches[-1].end():]
    if len(re.sub(r"\D", "", after)) > _POSTCODE_DIGITS:  # a phone number follows, not a postcode
        return None
    rest = _TRAILING_WORDS.findall(after.lower())
    return next(iter(regions)) if all(word in trailing for word in rest) else None


def address_region(line: str) -> str | None:
    """The region a postal address on this line is in, from its shape ("NM 87110") or the
    place it ends with ("50450 Kuala Lumpur, Malaysia"); None when the line is no address."""
    if len(line) > ADDRESS_CHARS:
        return None
    for pattern, region in _ADDRESS_FORMS:
        if pattern.search(line):
            return region
    if not re.search(r"\d", line):
        return None
    return _closing_place(line, frozenset())


def heading_region(text: str) -> str | None:
    """A short label that names one place ("Kuala Lumpur", "Malaysia Office", "Jakarta:")."""
    text = text.strip()
    if not text or len(text) > HEADING_CHARS or len(text.split()) > 8:
        return None
    last_word = text.rstrip(".").rsplit(None, 1)[-1].lower().strip("().") if text.rstrip(".") else ""
    if _SENTENCE.search(text) and last_word not in _HEADING_WORDS:  # "... Sdn. Bhd." is a name, not a sentence
        return None
    return _closing_place(text, _HEADING_WORDS)


def location_region(line: str) -> str | None:
    """The place a line is about when it is an office heading or a postal address."""
    return heading_region(line) or address_region(line)


@dataclass(frozen=True)
class PageRegion:
    """Where the page says it is: `region` None means no evidence at all; `source` names it."""

    region: str | None
    source: str  # "structured" | "address" | "tld" | "numbers" | "none"

    @property
    def evidenced(self) -> bool:
        return self.region is not None


def page_region(
    page_url: str,
    lines: Sequence[str],
    *,
    countries: Iterable[str] = (),
    international_regions: Iterable[str] = (),
    max_lines: int = 3_000,
) -> PageRegion:
    for country in countries:
        region = region_of_country(country)
        if region:
            return PageRegion(region, "structured")
    for line in lines[:max_lines]:
        if len(line) <= ADDRESS_CHARS:
            region = address_region(line)
            if region:
                return PageRegion(region, "address")
    region = region_of_host(page_url)
    if region:
        return PageRegion(region, "tld")
    counted = Counter(international_regions).most_common(1)
    if counted:
        return PageRegion(counted[0][0], "numbers")
    return PageRegion(None, "none")
