"""Phone and fax numbers as the page means them, in E.164 (libphonenumber).

Where a number comes from: `tel:` links (authoritative: what a page links as a number is
one), WhatsApp links (`wa.me/<number>`, `api.whatsapp.com/send?phone=`), JSON-LD or
microdata `telephone` / `faxNumber`, and the visible text, line by line.

Which country it is in (see region.py): a number printed with its country code (`+60`,
`0060`, `(65)`) says so itself. A national number is read in the region of the office block
it sits in (a line naming one place, just above it) when it is written the way that country
writes its numbers; else in the page's region (structured address country, a postal
address, the country-code TLD, the country codes of the page's other numbers); else, with no
evidence at all, in Singapore, and then the reading is marked `guessed` (lower confidence,
and no evidence that the site is Singaporean). A number valid in none of these is dropped:
a wrong E.164 is worse than none, since a sales team will dial it.

What it is: the label before it on its line ("Tel:", "F:", "Fax", "WhatsApp", "传真"), a
label after it ("(fax)"), the label on the line above when that line is only a label (a
table row, a definition list), the header of its table column, a fax/WhatsApp marker in
the markup around it (`<i class="fa fa-fax">`, `class="fax"`), else its number type
(mobile, toll-free). A number labelled fax is a fax and never a phone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, unquote, urlsplit

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberMatcher
from phonenumbers import PhoneNumberType as NumberType
from selectolax.lexbor import LexborHTMLParser, LexborNode

from acra_enrich.enrich.extract.dom import BLOCK_TAGS, attr, normalize_space
from acra_enrich.enrich.extract.region import SINGAPORE, PageRegion, heading_region, location_region, page_region
from acra_enrich.enrich.facts import Phone, PhoneBasis, PhoneKind

DEFAULT_REGION = SINGAPORE
_MAX_TEXT = 100_000
_MAX_NUMBER_LINES = 600  # lines with enough digits to hold a number that get examined
_MAX_TRIES = 200  # libphonenumber candidates per line and region
_SECTION_LOOKBACK = 6  # lines above a number that may name its office's place
_NEAR_LINES = 2  # a place this close heads the number even where the country has no trunk prefix
_MAX_MARKUP = 400
_MAX_TABLES, _MAX_ROWS = 30, 200
_ONE_NUMBER_DIGITS = 15  # more digits than this in one cell or element: several numbers, no single kind

# Digit runs libphonenumber may accept but a person would read as something else.
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\s*$")
_BARE_DIGITS = re.compile(r"^\d+$")
_ENOUGH_DIGITS = re.compile(r"(?:\d\D{0,3}){7}")
# The match is part of a longer number when a short digit group sits right beside it:
# "(02)9191-8364" or "02 9191 8364" must not yield "9191 8364"; a whole number beside it
# ("6333 4444 6333 4445", two numbers behind icons) is another number.
_GROUP_BEFORE = re.compile(r"(\(?\+?\d[\d\s().-]*?)[\s.-]*$")
_GROUP_AFTER = re.compile(r"^([\s.-]*)(\d[\d\s.-]*)")
_WHOLE_NUMBER_DIGITS = 7
# A parenthesised country code the region's own parser cannot read: "(65) 6123 4567".
_PAREN_CC = re.compile(r"\(\s*\+?(\d{2,3})\s*\)[\s.-]*(\d[\d\s.-]{5,16}\d)")
_IDD_00 = re.compile(r"(?<![\d+])00[\s.-]?([1-9][\d\s().-]{6,18}\d)")
# How North American numbers are written: "(505) 326-1111", "1-617-495-6890", "800.330.8247".
_NANP = r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}(?:\s*(?:x|ext\.?)\s*\d{1,6})?"
_NANP_FORM = re.compile(rf"^{_NANP}$", re.I)
_NANP_IN_LINE = re.compile(rf"(?<![\d+]){_NANP}(?!\d)", re.I)

# Labels, most specific first; matched case-insensitively as whole words.
_LABEL_WORDS: tuple[tuple[PhoneKind, str], ...] = (
    ("fax", r"fax(?:\s*(?:no|number|line))?|facsimile|telefax|faks|传真|傳真|📠"),
    ("whatsapp", r"whats\s*app|wa\.me"),
    ("mobile", r"mobile|mob|hand\s*phone|h/?p|cell(?:phone|ular)?|手机|手機|📱"),
    ("hotline", r"hotline|help\s*line|careline|customer\s+service\s+line"),
    ("toll_free", r"toll[\s-]*free|free\s*phone|free\s*call"),
    ("phone", r"tel(?:ephone)?|phone|ph|call(?:\s*us)?|office|main(?:\s*line)?|general(?:\s*line)?|direct(?:\s*line)?"
              r"|电话|電話|☎|📞|✆"),
)
_KIND_NAMES: dict[str, PhoneKind] = {kind: kind for kind, _ in _LABEL_WORDS}
_LABEL = re.compile(
    "|".join(f"(?P<{kind}>(?<![a-z])(?:{words})(?![a-z]))" for kind, words in _LABEL_WORDS), re.IGNORECASE
)
# "Tel/Fax", "Phone & Fax": the first number after it is the phone, the second the fax.
_COMPOUND = re.compile(r"(?<![a-z])(?:tel(?:ephone)?|phone)\s*(?:/|&|and|\+|,)\s*fax(?![a-z])", re.IGNORECASE)
# One-letter labels right before the number: "T: 6123 4567  F: 6123 4568", "M +65 9123 4567".
_LETTER = re.compile(r"(?:^|(?<=[\s|•·,;/]))(?:([FMTP])\s*[:.]?|([fmtp])\s*[:.])\s*$")
_LETTER_KINDS: dict[str, PhoneKind] = {"f": "fax", "m": "mobile", "t": "phone", "p": "phone"}
_AFTER_LABEL = re.compile(r"^\s*[(\[]\s*([a-z]+)\s*[)\]]", re.IGNORECASE)
_LABEL_REACH = 40  # a label further before the number than this is about something else
_JOINER = re.compile(r"^[\s,/;&|]*(?:or|and|/)?[\s,/;&|]*$", re.IGNORECASE)
_BARE_LABEL = re.compile(r"^[\W_]*(?P<label>[^\W\d_][^\d]{0,24}?)[\s:：.\-–|]*$")
# Markup that marks what a number is: class/id tokens ("fa-fax", "contact-fax", "btn-whatsapp").
_MARKUP_KIND = re.compile(r"(?<![a-z])(fax|whatsapp)(?![a-z])", re.IGNORECASE)
_MARKUP_SELECTOR = '[class*="fax"], [id*="fax"], [class*="whatsapp"], [itemprop="faxNumber"]'
_WHATSAPP_HOSTS = ("wa.me", "api.whatsapp.com", "web.whatsapp.com", "chat.whatsapp.com")
_DEFAULT_KINDS: dict[int, PhoneKind] = {NumberType.MOBILE: "mobile", NumberType.TOLL_FREE: "toll_free"}


@dataclass
class PhoneFinds:
    """A page's numbers: phones (every kind but fax) and faxes, each once, in page order."""

    phones: list[Phone] = field(default_factory=list)
    faxes: list[Phone] = field(default_factory=list)
    region: PageRegion = field(default_factory=lambda: PageRegion(None, "none"))


@dataclass(frozen=True)
class _Reading:
    number: PhoneNumber
    basis: PhoneBasis
    raw: str


# ------------------------------------------------------------------------------------- parsing


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _parse(raw: str, region: str | None) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, region, keep_raw_input=True)
    except NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _international(raw: str) -> PhoneNumber | None:
    """The number when it is printed with its country code (+CC, 00CC, (CC)), else None."""
    text = raw.strip()
    if text.startswith("+"):
        return _parse(text, None)
    idd = _IDD_00.match(text)
    if idd:
        return _parse("+" + idd.group(1), None)
    paren = _PAREN_CC.match(text)
    if paren:
        return _parse(f"+{paren.group(1)} {paren.group(2)}", None)
    return None


def _trunk_prefixed(raw: str, region: str) -> bool:
    """Written in `region`'s national format with its trunk prefix ("03-2161 8888" in MY)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = metadata.national_prefix if metadata is not None else None
    return bool(prefix) and re.sub(r"^[\s(]+", "", raw).startswith(prefix or "")


def _needs_trunk_prefix(region: str) -> bool:
    """Countries that dial a national number with "0" (MY, ID, GB, AU, CN...) always print it."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return metadata is not None and metadata.national_prefix == "0"


def _read(raw: str, regions: Iterable[tuple[str, PhoneBasis, bool]]) -> _Reading | None:
    """One number as written: with its country code if printed, else in the first of `regions`
    (region, basis, only in that region's trunk-prefixed form) where it is valid."""
    raw = unquote(raw).strip()
    if not raw or len(raw) > 60:
        return None
    explicit = _international(raw)
    if explicit is not None:
        return _Reading(explicit, "international", raw)
    if raw.startswith("+"):
        return None
    for region, basis, trunk_only in regions:
        if trunk_only and not _trunk_prefixed(raw, region):
            continue
        number = _parse(raw, region)
        if number is not None:
            return _Reading(number, basis, raw)
    return None


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """Parse one number as written in `region` (or with its own country code); None unless valid."""
    reading = _read(raw, [(region, "page", False)])
    return _e164(reading.number) if reading else None


def same_number(raw: str, phone: Phone) -> bool:
    """Is `raw` (an LLM's copy of a number) this extracted number, as printed or read in its country?"""
    digits = _digits(raw)
    if not digits:
        return False
    if digits == _digits(phone.raw) or "+" + digits == phone.value:
        return True
    region = phonenumbers.region_code_for_number(phonenumbers.parse(phone.value))
    return region is not None and to_e164(raw, region) == phone.value


def _plausible(line: str, start: int, end: int, raw: str) -> bool:
    if _DATE_LIKE.match(raw):
        return False
    # An unformatted run of digits longer than a full SG number (part of an order or account
    # number) is not a phone number even if a prefix of it would be.
    if _BARE_DIGITS.match(raw) and len(raw) > 8:
        return False
    # "GRAFIK 5000 / 6000 / 7000": a list of figures, not "6000 7000".
    if re.search(r"\s/\s", raw):
        return False
    before = _GROUP_BEFORE.search(line[max(0, start - 24):start])
    if before and (before.end(1) == start or len(_digits(before.group(1))) < _WHOLE_NUMBER_DIGITS):
        return False
    after = _GROUP_AFTER.match(line[end:end + 24])
    return not (after and (not after.group(1) or len(_digits(after.group(2))) < _WHOLE_NUMBER_DIGITS))


# ------------------------------------------------------------------------------------- labels


def _label_kinds(text: str) -> list[tuple[int, int, list[PhoneKind]]]:
    """(start, end, kinds) of every label in `text`; a compound label has two kinds."""
    compound: list[PhoneKind] = ["phone", "fax"]
    found = [(m.start(), m.end(), list(compound)) for m in _COMPOUND.finditer(text)]
    taken = [(s, e) for s, e, _ in found]
    for match in _LABEL.finditer(text):
        if any(s <= match.start() < e for s, e in taken):
            continue
        kind = next(k for k, v in match.groupdict().items() if v)
        found.append((match.start(), match.end(), [_KIND_NAMES[kind]]))
    return sorted(found)


def _label_before(segment: str) -> list[PhoneKind] | None:
    """The kinds the last label in `segment` (the text just before a number) names."""
    letter = _LETTER.search(segment)
    if letter:
        return [_LETTER_KINDS[(letter.group(1) or letter.group(2)).lower()]]
    tail = segment[-_LABEL_REACH:]
    labels = _label_kinds(tail)
    return labels[-1][2] if labels else None


def _label_after(text: str) -> PhoneKind | None:
    match = _AFTER_LABEL.match(text)
    if not match:
        return None
    word = match.group(1)
    if len(word) == 1:
        return _LETTER_KINDS.get(word.lower())
    labels = _label_kinds(word)
    return labels[0][2][0] if labels else None


def _bare_label(line: str) -> PhoneKind | None:
    """The kind a line names when the line is nothing but a label ("Fax", "Tel No.:")."""
    match = _BARE_LABEL.match(line.strip())
    if not match or len(line) > 30:
        return None
    word = match.group("label")
    if len(word) == 1:
        return _LETTER_KINDS.get(word.lower())
    labels = _label_kinds(word)
    if len(labels) != 1 or labels[0][1] - labels[0][0] < len(word.strip()) - 3:
        return None
    return labels[0][2][0]


# ------------------------------------------------------------------------------------- markup


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _following_text(node: LexborNode, limit: int = 60) -> str:
    """Text after an icon element, up to the next marked element or block ("<i class="fa-fax"></i> 6123 4568")."""
    parts: list[str] = []
    size = 0
    sibling = node.next
    while sibling is not None and size < limit:
        if sibling.tag == "-text":
            chunk = sibling.text_content or ""
        elif sibling.tag in BLOCK_TAGS or _MARKUP_KIND.search(attr(sibling, "class") + " " + attr(sibling, "id")):
            break
        else:
            chunk = sibling.text() or ""
        parts.append(chunk)
        size += len(chunk)
        sibling = sibling.next
    return "".join(parts)[:limit]


def _markup_kinds(tree: LexborHTMLParser) -> list[tuple[str, PhoneKind]]:
    """(digits, kind) for numbers the markup marks: fax/WhatsApp elements and table columns."""
    marked_numbers: list[tuple[str, PhoneKind]] = []
    for node in tree.css(_MARKUP_SELECTOR)[:_MAX_MARKUP]:
        hint = " ".join((attr(node, "class"), attr(node, "id"), attr(node, "itemprop")))
        marked = _MARKUP_KIND.search(hint)
        if "faxnumber" not in hint.lower() and marked is None:
            continue
        kind: PhoneKind = "whatsapp" if marked is not None and marked.group(1).lower() == "whatsapp" else "fax"
        text = normalize_space(node.text() or attr(node, "content"))
        if len(_digits(text)) < 7:
            text = _following_text(node)
        digits = _digits(text)
        if 7 <= len(digits) <= _ONE_NUMBER_DIGITS and len(text) <= 120:
            marked_numbers.append((digits, kind))
    for table in tree.css("table")[:_MAX_TABLES]:
        marked_numbers.extend(_column_kinds(table))
    return marked_numbers


def _column_kinds(table: LexborNode) -> Iterator[tuple[str, PhoneKind]]:
    """Numbers under a labelled column header ("Office | Tel | Fax")."""
    rows = table.css("tr")[:_MAX_ROWS]
    if len(rows) < 2:
        return
    header = [_bare_label(normalize_space(cell.text() or "")) for cell in rows[0].css("th, td")]
    if not any(header):
        return
    for row in rows[1:]:
        for index, cell in enumerate(row.css("th, td")):
            kind = header[index] if index < len(header) else None
            digits = _digits(cell.text() or "")
            if kind and 7 <= len(digits) <= _ONE_NUMBER_DIGITS:
                yield digits, kind


# ------------------------------------------------------------------------------------- the page


@dataclass
class _Found:
    number: PhoneNumber
    method: str
    basis: PhoneBasis
    kind: PhoneKind | None  # None: not labelled, the number type decides
    raw: str


class _PageReader:
    def __init__(self, lines: Sequence[str], region: PageRegion, markup: list[tuple[str, PhoneKind]],
                 extra_regions: Sequence[str]) -> None:
        self.lines = lines
        self.region = region
        self.markup = markup
        self.extra_regions = [r for r in extra_regions if r != region.region]
        self._sections: dict[int, tuple[str, int] | None] = {}

    # -- where ------------------------------------------------------------------------

    def section(self, index: int) -> tuple[str, int] | None:
        """(region, distance in lines) of the place heading line `index`, if any."""
        if index not in self._sections:
            found = None
            for back in range(1, _SECTION_LOOKBACK + 1):
                if index - back < 0:
                    break
                region = location_region(self.lines[index - back])
                if region:
                    found = (region, back)
                    break
            self._sections[index] = found
        return self._sections[index]

    def regions_for(self, line: str, index: int, start: int, raw: str = "") -> list[tuple[str, PhoneBasis, bool]]:
        """Where to read a national number at `start` of line `index`, best first:
        (region, basis, only when written with that region's trunk prefix)."""
        page = self.region.region
        out: list[tuple[str, PhoneBasis, bool]] = []
        same_line = heading_region(re.split(r"\d", line[:start])[-1]) if start else None
        section = (same_line, 0) if same_line else self.section(index)
        if section and section[0] != page:
            region, distance = section
            # A trunk-prefix country's numbers carry their "0"; elsewhere only a place right
            # above the number (an office heading) is trusted over the page's own country.
            out.append((region, "section", _needs_trunk_prefix(region) or distance > _NEAR_LINES))
        if page:
            out.append((page, "page", False))
        out += [(r, "page", True) for r in self.extra_regions]
        if self.region.source in ("none", "numbers"):
            # No evidence (or only other numbers'): a North American form reads as such, the
            # rest as Singaporean, both only guessed.
            if _NANP_FORM.match(raw.strip()):
                out.append(("US", "guessed", False))
            out.append((DEFAULT_REGION, "guessed", False))
        return out

    def read(self, line: str, index: int, start: int, raw: str) -> _Reading | None:
        """The number at `start` of line `index`, read where it sits."""
        return _read(raw, self.regions_for(line, index, start, raw))

    # -- what -------------------------------------------------------------------------

    def markup_kind(self, number: PhoneNumber) -> PhoneKind | None:
        national = str(number.national_number)
        return next((kind for digits, kind in self.markup if national in digits), None)

    def numbers(self) -> Iterator[_Found]:
        examined = 0
        for index, line in enumerate(self.lines):
            if not _ENOUGH_DIGITS.search(line):
                continue
            examined += 1
            if examined > _MAX_NUMBER_LINES:
                return
            yield from self._line(index, line)

    def _matches(self, line: str, index: int) -> list[tuple[int, int, _Reading]]:
        """(start, end, reading) of every number on the line, in line order."""
        spans: list[tuple[int, int, _Reading]] = []

        def add(start: int, end: int, reading: _Reading | None) -> None:
            if reading is not None and all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, reading))

        for pattern in (_PAREN_CC, _IDD_00):
            for match in pattern.finditer(line):
                number = _international(match.group(0))
                add(match.start(), match.end(), _Reading(number, "international", match.group(0)) if number else None)
        # libphonenumber finds the spans; which region a span is read in is decided here.
        candidates = [r for r, _, _ in self.regions_for(line, index, 0)] + self._places_on(line)
        if self.region.source in ("none", "numbers") and _NANP_IN_LINE.search(line):
            candidates.insert(0, "US")
        for region in dict.fromkeys(candidates):
            for start, end, raw, number in _match(line, region):
                if not _plausible(line, start, end, raw):
                    continue
                if raw.lstrip().startswith("+"):
                    add(start, end, _Reading(number, "international", raw))
                else:
                    add(start, end, self.read(line, index, start, raw))
        return sorted(spans, key=lambda s: s[0])

    @staticmethod
    def _places_on(line: str) -> list[str]:
        """Places named on the line itself between numbers ("Jakarta: (021) 5795 1234")."""
        segments = re.split(r"\d[\d\s().+-]*", line)
        return [r for r in (heading_region(s) for s in segments if s.strip()) if r]

    def _line(self, index: int, line: str) -> Iterator[_Found]:
        previous_end = 0
        carried: list[PhoneKind] = []  # what the last label still names ("Tel/Fax:" names two)
        for position, (start, end, reading) in enumerate(self._matches(line, index)):
            segment = line[previous_end:start]
            kinds = _label_before(segment)
            kind: PhoneKind | None = None
            if kinds is not None:
                carried = list(kinds)
                kind = carried.pop(0)
            elif carried and _JOINER.match(segment):
                # "Fax: 6123 4568 / 6123 4569", "Tel/Fax: 6123 4567 / 6123 4568": the label goes on.
                # A callable label carried on names nothing a number's own type would not.
                kind = carried.pop(0) if len(carried) > 1 else carried[0]
                kind = kind if kind == "fax" else None
            else:
                carried = []
            if kinds is not None and not carried:
                carried = [kinds[-1]]
            kind = _label_after(line[end:end + 16]) or kind
            if kind is None and position == 0 and not segment.strip() and index > 0:
                kind = _bare_label(self.lines[index - 1])
            if kind is None:
                kind = self.markup_kind(reading.number)
            previous_end = end
            yield _Found(reading.number, "text", reading.basis, kind, reading.raw.strip())


def _match(line: str, region: str) -> Iterator[tuple[int, int, str, PhoneNumber]]:
    matcher = PhoneNumberMatcher(line, region, leniency=Leniency.VALID, max_tries=_MAX_TRIES)
    while True:
        try:
            if not matcher.has_next():
                return
            match = matcher.next()
        except Exception:  # libphonenumber on hostile text: stop scanning this line
            return
        yield match.start, match.end, match.raw_string, match.number


def _whatsapp_number(href: str) -> str | None:
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme == "whatsapp" or host in _WHATSAPP_HOSTS:
        phone = (parse_qs(parts.query).get("phone") or [""])[0]
        if not phone and host == "wa.me":
            phone = parts.path.strip("/").split("/")[0]
        digits = _digits(phone)
        return "+" + digits if 8 <= len(digits) <= 15 else None
    return None


def _link_kind(node: LexborNode) -> PhoneKind | None:
    hint = " ".join((attr(node, "class"), attr(node, "id"), attr(node, "title"), attr(node, "aria-label"),
                     normalize_space(node.text() or "")))
    labels = _label_kinds(hint)
    marked = _MARKUP_KIND.search(hint)
    if marked:
        return "fax" if marked.group(1).lower() == "fax" else "whatsapp"
    return labels[-1][2][0] if labels else None


def extract_phones(
    tree: LexborHTMLParser,
    text: str,
    page_url: str,
    *,
    telephones: Iterable[tuple[str, str]] = (),
    faxes: Iterable[tuple[str, str]] = (),
    countries: Iterable[str] = (),
) -> PhoneFinds:
    """Every phone and fax number on one page (see the module docstring for the rules)."""
    lines = text[:_MAX_TEXT].split("\n")
    explicit_regions = [r for r in map(phonenumbers.region_code_for_number, _explicit_numbers(lines)) if r]
    region = page_region(page_url, lines, countries=list(countries), international_regions=explicit_regions)
    reader = _PageReader(lines, region, _markup_kinds(tree), list(dict.fromkeys(explicit_regions)))
    in_text = list(reader.numbers())
    # A linked number the text pass already read (in its office block's region) is that reading.
    by_digits = {_digits(f.raw): f for f in in_text}
    linked: list[_Found] = []
    for node in tree.css("a[href]"):
        href = attr(node, "href")
        if href.lower().startswith(("tel:", "callto:")):
            raw = unquote(href.split(":", 1)[1]).split("?")[0].strip()
            seen = by_digits.get(_digits(raw.split(";")[0]))
            if seen is not None:
                linked.append(_Found(seen.number, "tel", seen.basis, _link_kind(node), raw))
                continue
            reading = reader.read("", 0, 0, raw)
            if reading is not None:
                linked.append(_Found(reading.number, "tel", reading.basis, _link_kind(node), raw))
            continue
        wa = _whatsapp_number(href)
        number = _parse(wa, None) if wa else None
        if number is not None:
            linked.append(_Found(number, "whatsapp", "international", "whatsapp", wa or ""))
    declared: list[_Found] = []
    for values, kind in ((telephones, None), (faxes, "fax")):
        for raw, method in values:
            reading = reader.read("", 0, 0, raw)
            if reading is not None:
                declared.append(_Found(reading.number, method, reading.basis, kind, raw))  # type: ignore[arg-type]
    return _resolve([*linked, *declared, *in_text], page_url, region)


def _explicit_numbers(lines: Sequence[str]) -> Iterator[PhoneNumber]:
    """Numbers printed with a leading "+" (their country is certain), for the page's region evidence."""
    for line in lines[:2_000]:
        if "+" not in line:
            continue
        for match in re.finditer(r"\+\s?\d[\d\s().-]{6,20}\d", line):
            number = _parse(match.group(0), None)
            if number is not None:
                yield number


def _resolve(found: Sequence[_Found], page_url: str, region: PageRegion) -> PhoneFinds:
    """One Phone per number: the first finding is its source; a label anywhere names its kind."""
    order: dict[str, _Found] = {}
    labels: dict[str, list[PhoneKind]] = {}
    extensions: dict[str, str] = {}
    for item in found:
        key = _e164(item.number)
        order.setdefault(key, item)
        if item.kind is not None:
            labels.setdefault(key, []).append(item.kind)
        if item.number.extension:
            extensions.setdefault(key, item.number.extension)
    out = PhoneFinds(region=region)
    for key, item in order.items():
        kind = resolve_kind(labels.get(key, []))
        labelled = kind is not None
        if kind is None:
            kind = _DEFAULT_KINDS.get(phonenumbers.number_type(item.number), "phone")
        phone = Phone(key, page_url, item.method, kind=kind, basis=item.basis, labelled=labelled,
                      extension=extensions.get(key), raw=item.raw)
        (out.faxes if kind == "fax" else out.phones).append(phone)
    return out


def resolve_kind(kinds: Sequence[PhoneKind]) -> PhoneKind | None:
    """Labels seen for one number: any callable label wins (a "Tel/Fax" line is a phone),
    else fax; None when it was never labelled."""
    callable_kinds = [k for k in kinds if k != "fax"]
    if callable_kinds:
        return callable_kinds[0]
    return "fax" if kinds else None


def reread(phone: Phone, region: str) -> Phone | None:
    """A guessed number read again in the site's country; None when it is not valid there."""
    if phone.basis != "guessed":
        return phone
    if phonenumbers.region_code_for_number(phonenumbers.parse(phone.value)) == region:
        return replace(phone, basis="site")
    number = _parse(phone.raw, region) if phone.raw and not phone.raw.startswith("+") else None
    if number is None:
        # Guessed North American from its form alone: keep that guess; a Singapore guess the
        # site contradicts is dropped rather than kept as a wrong +65 number.
        return phone if not phone.value.startswith("+65") else None
    return replace(phone, value=_e164(number), basis="site", extension=number.extension or None)


def merge_numbers(pages: Sequence[tuple[Sequence[Phone], str | None]]) -> tuple[list[Phone], list[Phone], str | None]:
    """One site's numbers from its pages ((numbers, page region), most trusted page first):
    (phones, faxes, the site's region). Guessed readings are redone in the site's region;
    a number labelled fax on any page is a fax, unless another page labels it callable."""
    regions = Counter(region for _, region in pages if region)
    site_region = max(regions, key=lambda r: (regions[r], -_first_index(pages, r))) if regions else None
    first: dict[str, Phone] = {}
    labels: dict[str, list[PhoneKind]] = {}
    extensions: dict[str, str] = {}
    for numbers, _ in pages:
        for phone in numbers:
            reread_phone = reread(phone, site_region) if site_region else phone
            if reread_phone is None:
                continue
            first.setdefault(reread_phone.value, reread_phone)
            if reread_phone.labelled:
                labels.setdefault(reread_phone.value, []).append(reread_phone.kind)
            if reread_phone.extension:
                extensions.setdefault(reread_phone.value, reread_phone.extension)
    phones: list[Phone] = []
    faxes: list[Phone] = []
    for value, phone in first.items():
        kind = resolve_kind(labels.get(value, []))
        merged = replace(phone, kind=kind or phone.kind, labelled=kind is not None, extension=extensions.get(value))
        (faxes if merged.kind == "fax" else phones).append(merged)
    return phones, faxes, site_region


def _first_index(pages: Sequence[tuple[Sequence[Phone], str | None]], region: str) -> int:
    return next(i for i, (_, r) in enumerate(pages) if r == region)


# The general line first, then service lines, then mobiles: the number a company answers as a company.
_MAIN_RANK: dict[str, int] = {"phone": 0, "hotline": 1, "toll_free": 1}


def main_phone(phones: Sequence[Phone]) -> Phone | None:
    """companies.phone: the company's main Singapore line when it has one, else its first
    main line, else its first number; never a fax."""
    callable_ = [p for p in phones if p.kind != "fax"]

    def rank(item: tuple[int, Phone]) -> tuple[int, int, int]:
        index, phone = item
        return (0 if phone.value.startswith("+65") else 1, _MAIN_RANK.get(phone.kind, 2), index)

    return min(enumerate(callable_), key=rank)[1] if callable_ else None


def main_fax(faxes: Sequence[Phone]) -> Phone | None:
    """companies.fax: the Singapore fax when there is one, else the first."""
    return next((f for f in faxes if f.value.startswith("+65")), faxes[0] if faxes else None)
