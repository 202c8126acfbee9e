"""Bytes to text the way browsers do: BOM, Content-Type charset, <meta charset>, then detection."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# WHATWG Encoding Standard: labels that mean a superset in practice (a page labelled
# iso-8859-1 carrying 0x93 means a cp1252 curly quote).
_WHATWG_SUPERSET = {  # keyed by codecs.lookup(label).name
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META_SCAN_BYTES = 4096  # the HTML spec's prescan window (1024) plus slack for long heads
_DETECT_SAMPLE_BYTES = 64 * 1024
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_TEXTUAL_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "application/javascript",
                  "application/ld+json", "application/rss", "application/atom")


def normalise_encoding(label: str) -> str | None:
    """A Python codec name for a charset label, widened to its WHATWG superset; None if unknown."""
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return _WHATWG_SUPERSET.get(name, name)


def is_textual(content_type: str) -> bool:
    """A missing type is treated as text: robots.txt and small APIs often omit it."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    return not ctype or ctype.startswith(_TEXTUAL_TYPES) or ctype.endswith(("+xml", "+json"))


def _declared(content: bytes, content_type: str) -> str | None:
    header = _HEADER_CHARSET.search(content_type)
    if header and (encoding := normalise_encoding(header.group(1))):
        return encoding
    meta = _META_CHARSET.search(content[:_META_SCAN_BYTES])
    if meta and (encoding := normalise_encoding(meta.group(1).decode("ascii"))):
        # A page saved as UTF-16 cannot have been read this way; the spec says ignore such labels.
        return "utf-8" if encoding.startswith("utf-16") else encoding
    return None


def _detected(content: bytes) -> str:
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(content[:_DETECT_SAMPLE_BYTES]).best()
    if best is None:
        return "cp1252"  # the web's historical default
    return normalise_encoding(best.encoding) or best.encoding


def decode_text(content: bytes, content_type: str) -> tuple[str, str | None]:
    """(text, encoding used); ("", None) for non-textual content such as images or PDFs."""
    if not content:
        return "", None
    if not is_textual(content_type):
        return "", None
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(encoding, "replace"), encoding
    encoding = _declared(content, content_type) or _detected(content)
    return content.decode(encoding, "replace"), encoding
