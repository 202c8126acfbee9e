"""Safe HTML parsing and visible-text extraction (selectolax/lexbor).

Pages come from the open web: broken markup, multi-megabyte documents, binary junk. Everything
here caps its input and never raises on content.
"""

from __future__ import annotations

from html import escape

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Beyond this many characters a page is cut before parsing; real company pages are far smaller,
# and the cut bounds the work every later rule does (structured data past the cut is lost).
MAX_HTML_CHARS = 2_000_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b\u2000-\u200a\u202f\u205f\u3000]+")

_NON_VISIBLE = ["script", "style", "noscript", "template", "svg", "iframe", "object", "canvas", "head"]

# Elements that start a new line when rendered; text in different blocks must not run together
# ("para" + "tail" -> "paratail" would corrupt emails, phones and postal codes).
BLOCK_TAGS = frozenset(
    "address article aside blockquote body dd details dialog div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section summary table tbody "
    "td tfoot th thead tr ul option button label".split()
)


# Icon fonts mark contact details with empty elements (<i class="fa fa-fax"></i>): rendered as
# the symbol a reader sees, they keep "☎ 6123 4567 📠 6123 4568" two labelled numbers.
_ICON_TAGS = frozenset({"i", "span", "em"})
_ICON_CLASS = re.compile(r"(?<![a-z])(fax|whatsapp|mobile|phone|envelope)(?![a-z])", re.IGNORECASE)
_ICON_GLYPHS = {"fax": "📠", "whatsapp": "WhatsApp", "mobile": "📱", "phone": "☎", "envelope": "✉"}


def _icon_glyph(node: LexborNode) -> str | None:
    if node.tag not in _ICON_TAGS:
        return None
    found = _ICON_CLASS.search(node.attributes.get("class") or "")
    if found is None or (node.text() or "").strip():
        return None
    return _ICON_GLYPHS[found.group(1).lower()]


def sanitize_html(html: str | bytes | None, limit: int = MAX_HTML_CHARS) -> str:
    """Return a parseable string: decoded, capped, without control characters or lone surrogates."""
    if html is None:
        return ""
    if isinstance(html, bytes):
        html = html[: limit * 4].decode("utf-8", "replace")
    html = html[:limit]
    html = html.encode("utf-8", "replace").decode("utf-8", "replace")
    return _CONTROL.sub(" ", html)


# lexbor's tree building is quadratic in the nesting depth of container elements (100k nested
# <div>s take ~20 s); real pages stay below a few hundred levels.
MAX_NESTING = 2_000
_CONTAINER_TAG = re.compile(
    r"<(/?)(?:div|section|article|blockquote|ul|ol|dl|main|aside|nav|header|footer|form|fieldset|figure|details)\b[^>]*>",
    re.IGNORECASE,
)


def limit_nesting(html: str, max_depth: int = MAX_NESTING) -> str:
    """Cut the document where container elements nest deeper than `max_depth`."""
    lowered_count = html.count("<div") + html.count("<DIV") + html.count("<section") + html.count("<ul")
    if lowered_count <= max_depth:
        return html
    depth = 0
    for match in _CONTAINER_TAG.finditer(html):
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        if depth > max_depth:
            return html[: match.start()]
    return html


def parse_html(html: str) -> LexborHTMLParser:
    """Parse sanitized HTML; on parser failure return an empty document instead of raising."""
    try:
        return LexborHTMLParser(limit_nesting(html))
    except Exception:  # parser errors on hostile input mean "no content"
        return LexborHTMLParser("")


def normalize_space(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


_NAV_CLASS = re.compile(r"\b(?:nav|navbar|menu|main-menu|site-header|site-footer)\b", re.IGNORECASE)


def in_navigation(node: LexborNode) -> bool:
    """Inside the site's navigation chrome (nav/header/footer, a role=navigation or menu container)."""
    parent = node.parent
    depth = 0
    while parent is not None and depth < 20:
        if parent.tag in ("nav", "header", "footer"):
            return True
        if parent.tag not in ("-text", "html", "body"):
            label = (parent.attributes.get("class") or "") + " " + (parent.attributes.get("id") or "")
            if parent.attributes.get("role") == "navigation" or _NAV_CLASS.search(label):
                return True
        parent = parent.parent
        depth += 1
    return False


def _container_ids(node: LexborNode) -> tuple[int, int]:
    """(nearest block ancestor, nearest link/button ancestor) of a text node."""
    block = link = 0
    parent = node.parent
    depth = 0
    while parent is not None and depth < 64 and not block:
        tag = parent.tag
        if not link and tag in ("a", "button"):
            link = parent.mem_id
        if tag in BLOCK_TAGS:
            block = parent.mem_id
        parent = parent.parent
        depth += 1
    return block, link


def visible_text(tree: LexborHTMLParser, limit: int = 200_000) -> str:
    """Rendered-ish text of the body: one line per block element, whitespace collapsed, capped.

    Works on a clone so the caller's tree keeps its scripts (tech stack, signals need them).
    """
    try:
        doc = tree.clone()
        doc.strip_tags(_NON_VISIBLE)
        for hidden in doc.css("[hidden], [aria-hidden=true]"):
            if _icon_glyph(hidden) is None:  # icon fonts are aria-hidden, yet what they show matters
                hidden.decompose()
        root = doc.body or doc.root
        if root is None:
            return ""
        parts: list[str] = []
        size = 0
        last_block = last_link = -1
        for node in root.traverse(include_text=True):
            tag = node.tag
            if tag == "br":
                parts.append("\n")
                continue
            if tag == "-text":
                chunk = node.text_content or ""
                if not chunk.strip():
                    parts.append(" ")
                    continue
            else:
                glyph = _icon_glyph(node)
                if glyph is None:
                    if tag in BLOCK_TAGS:
                        last_block = -1  # even an empty <p></p> ends the text run before it
                    continue
                chunk = f" {glyph} "
            block, link = _container_ids(node)
            if block != last_block:
                parts.append("\n")
            elif link != last_link:
                # adjacent menu links ("About" "Contact") must not fuse into one word
                parts.append(" ")
            last_block, last_link = block, link
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                break
    except Exception:  # a broken tree yields no text, never an exception
        return ""
    lines = (normalize_space(line) for line in "".join(parts).split("\n"))
    text = "\n".join(line for line in lines if line)
    return text[:limit]


def base_url(tree: LexborHTMLParser, page_url: str) -> str:
    """The URL relative links resolve against (<base href> when present and sane)."""
    node = tree.css_first("base[href]")
    href = (node.attributes.get("href") or "").strip() if node is not None else ""
    if href:
        resolved = safe_urljoin(page_url, href)
        if resolved and urlsplit(resolved).scheme in ("http", "https"):
            return resolved
    return page_url


def safe_urljoin(base: str, href: str) -> str | None:
    try:
        return urljoin(base, href.strip())
    except ValueError:
        return None


def attr(node: LexborNode, name: str) -> str:
    value = node.attributes.get(name)
    return value.strip() if isinstance(value, str) else ""


def title_of(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("title")
    if node is None:
        return None
    title = normalize_space(node.text() or "")
    return title[:300] or None


def meta_content(tree: LexborHTMLParser, *, name: str | None = None, prop: str | None = None) -> str | None:
    for node in tree.css("meta"):
        key = attr(node, "name").lower() if name else attr(node, "property").lower()
        if key == (name or prop or "").lower():
            content = normalize_space(attr(node, "content"))
            if content:
                return content
    return None


def text_as_html(title: str | None, text: str) -> str:
    """Reader output (plain text or markdown) wrapped as a page the extractors understand."""
    return f"<html><head><title>{escape(title or '')}</title></head><body><pre>{escape(text)}</pre></body></html>"
