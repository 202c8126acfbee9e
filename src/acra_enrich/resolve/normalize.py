"""One company-name normaliser, used for every comparison, cache key and queue key.

`normalize_name` folds the ways one company is written into one key:

1. Unicode NFKC, so full-width letters, digits, spaces and brackets become their ASCII
   forms (`ＡＣＭＥ（新加坡）` -> `ACME(新加坡)`);
2. case folding, and Latin diacritics dropped (`Café` -> `cafe`);
3. `&` read as `and`; apostrophes dropped (`McDonald's` -> `mcdonalds`); dots inside
   initialisms dropped (`A.B.C.` -> `abc`); every other punctuation mark or symbol,
   including every bracket style (`()` `【】` `〔〕` `「」` `《》`) and CJK punctuation,
   becomes a space;
4. whitespace collapsed, and dropped between two Han/kana characters;
5. legal-form suffixes stripped from the end, repeatedly: our own English list
   (Pte. Ltd., Private Limited, Ltd, LLP, Sdn Bhd, Inc, ...), our Chinese list
   (私人有限公司, 股份有限公司, 有限责任公司, 有限公司, ...) and cleanco's
   international list. A name made only of a legal form keeps its last word, so the
   key is never empty for a name that had letters in it.

The result is a lookup key, not a display name.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata

from cleanco import basename as _cleanco_basename
from cleanco.clean import prepare_default_terms, remove_accents, strip_punct, tail_removal_rexp
from cleanco.non_nfkd_map import NON_NFKD_MAP

# Longest first where one is the tail of another; all already in normalised form.
_ENGLISH_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("private", "limited"),
    ("pte", "ltd"),
    ("pvt", "ltd"),
    ("pty", "ltd"),
    ("sdn", "bhd"),
    ("and", "company"),
    ("and", "co"),
    ("limited", "liability", "partnership"),
    ("limited", "partnership"),
    ("pte",),
    ("pvt",),
    ("pty",),
    ("private",),
    ("ltd",),
    ("limited",),
    ("llp",),
    ("lp",),
    ("llc",),
    ("plc",),
    ("inc",),
    ("incorporated",),
    ("corp",),
    ("corporation",),
    ("co",),
    ("company",),
    ("bhd",),
    ("berhad",),
    ("gmbh",),
)

# Simplified and traditional forms; NFKC does not map one to the other.
_CHINESE_SUFFIXES: tuple[str, ...] = (
    "私人有限公司",
    "股份有限公司",
    "有限责任公司",
    "有限責任公司",
    "有限合伙",
    "有限合夥",
    "有限公司",
    "股份公司",
    "公司",
)

# Every suffix above, filed under its last word: only those can end a name.
_ENGLISH_BY_LAST: dict[str, tuple[tuple[str, ...], ...]] = {
    last: tuple(s for s in _ENGLISH_SUFFIXES if s[-1] == last) for last in {s[-1] for s in _ENGLISH_SUFFIXES}
}
# cleanco strips a legal form only when the name's last word ends one of its terms; most
# names end otherwise, and then cleanco would change nothing but the spacing.
_CLEANCO_LAST_WORDS = frozenset(parts[-1] for _, parts in prepare_default_terms())
# remove_accents maps a few letters by table as well; none of them is ASCII (today)
_NO_ASCII_IN_ACCENT_MAP = not any(c.isascii() for c in NON_NFKD_MAP)

_APOSTROPHES = dict.fromkeys(map(ord, "'’‘`´ʼ"), None)
_INITIALISM = re.compile(r"\b(?:[^\W_]\.){2,}(?:[^\W_]\b)?")
# In every initialism, and far cheaper to look for than one ('pte. ltd.' has none).
_INITIALISM_HINT = re.compile(r"\.[^\W_]\.")
# Han and kana are written without spaces, so a space between two of them (left by a
# bracket or a full-width space) carries no meaning.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")


class _PunctuationToSpace(dict[int, int]):
    """str.translate table: punctuation and symbols (Unicode P* and S*) become a space,
    everything else stays; each character's category is looked up once per process."""

    def __missing__(self, code: int) -> int:
        self[code] = 0x20 if unicodedata.category(chr(code))[0] in "PS" else code
        return self[code]


_PUNCTUATION_TO_SPACE = _PunctuationToSpace()
# The ASCII part of both tables (every ASCII punctuation mark or symbol is Unicode P* or S*).
_ASCII_APOSTROPHES = bytes(c for c in _APOSTROPHES if c < 128)
_ASCII_PUNCTUATION_TO_SPACE = bytes.maketrans(string.punctuation.encode("ascii"), b" " * len(string.punctuation))


def _drop_latin_marks(text: str) -> str:
    # Only the Latin combining diacritics: dropping every mark would also change CJK
    # kana (が -> か) and Indic scripts, which would merge different names.
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if not 0x0300 <= ord(ch) <= 0x036F)
    return unicodedata.normalize("NFC", kept)


def _punctuation_to_spaces(text: str) -> str:
    return _ascii_punctuation_to_spaces(text) if text.isascii() else _unicode_punctuation_to_spaces(text)


def _ascii_punctuation_to_spaces(text: str) -> str:
    # Most names: the same mapping by byte tables, several times faster than by dict.
    text = _spell_out(text.encode("ascii").translate(None, _ASCII_APOSTROPHES).decode("ascii"))
    return text.encode("ascii").translate(_ASCII_PUNCTUATION_TO_SPACE).decode("ascii")


def _unicode_punctuation_to_spaces(text: str) -> str:
    return _spell_out(text.translate(_APOSTROPHES)).translate(_PUNCTUATION_TO_SPACE)


def _spell_out(text: str) -> str:
    """`&` read as `and`, and the dots of initialisms dropped (before punctuation becomes space)."""
    text = text.replace("&", " and ")
    if _INITIALISM_HINT.search(text):
        text = _INITIALISM.sub(lambda m: m.group(0).replace(".", ""), text)
    return text


def _cleanco_strip(name: str) -> str:
    """cleanco's basename of `name` with whitespace collapsed.

    When the last word (as cleanco normalises it) ends none of cleanco's terms, cleanco
    removes nothing, and its answer is computed here without its scan of every term.
    Words are compared per word, which is exact for an ASCII last word: nothing in it
    decomposes, and no mark can attach across the space before it (and cleanco's accent
    removal leaves such a word as its casefold).
    """
    words = _strip_tail(name).split()
    if words and words[-1].isascii() and strip_punct(_fold_ascii(words[-1])) not in _CLEANCO_LAST_WORDS:
        return _strip_tail(" ".join(words))
    return _collapse_spaces(_cleanco_basename(name))


def _fold_ascii(word: str) -> str:
    """cleanco's remove_accents of an ASCII word."""
    return word.casefold() if _NO_ASCII_IN_ACCENT_MAP else remove_accents(word)


def _strip_tail(name: str) -> str:
    # cleanco's strip_tail, without a pass through the re module's cache on each call
    match = tail_removal_rexp.search(name)
    return name if match is None else name[: match.start()]


def _strip_suffix_once(name: str) -> str:
    """`name` without its last legal form; `name` itself when it is nothing but one."""
    tokens = name.split(" ")
    for suffix in _ENGLISH_BY_LAST.get(tokens[-1], ()):
        if tuple(tokens[-len(suffix):]) == suffix:
            return " ".join(tokens[: -len(suffix)]) if len(tokens) > len(suffix) else name
    last = tokens[-1]
    if _NO_ASCII_IN_ACCENT_MAP and last.isascii() and last.isalnum() and last not in _CLEANCO_LAST_WORDS:
        return name  # what _cleanco_strip would answer, without its string work
    if name.endswith(_CHINESE_SUFFIXES):
        ending = next(e for e in _CHINESE_SUFFIXES if name.endswith(e))
        return name[: -len(ending)].rstrip() if len(name) > len(ending) else name
    cleaned = _cleanco_strip(name)
    return cleaned if cleaned else name


# Files of mentions repeat their customers (a billing export names one on every invoice), and
# a key costs about as much Python time to compute as PostgreSQL takes to look it up: the
# keys of the last 32,768 names are kept (a few MiB at most).
@functools.lru_cache(maxsize=1 << 15)
def normalize_name(name: str | None) -> str:
    """The comparison key of a company name ('' for None, blank or punctuation-only)."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = _drop_latin_marks(text)
    text = _collapse_spaces(_punctuation_to_spaces(text))
    if not text.isascii():
        text = _CJK_GAP.sub("", text)
    while True:
        stripped = _strip_suffix_once(text)
        if stripped == text or not stripped:
            return text
        text = stripped


def clean_text(value: str | None) -> str | None:
    """Trimmed, NFKC, single-spaced text; None when nothing is left (for exact aliases)."""
    if value is None:
        return None
    text = _collapse_spaces(unicodedata.normalize("NFKC", value))
    return text or None


def _collapse_spaces(text: str) -> str:
    # Every run of whitespace as one space, none at the ends: the same as re.sub(r"\s+", " ")
    # and strip() (str.split and the re module agree on what is whitespace, code point by
    # code point), in a quarter of the time.
    return " ".join(text.split())
