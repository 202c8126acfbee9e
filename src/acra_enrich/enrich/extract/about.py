"""About text: trafilatura's main-text extraction under a hard time cap, with a selectolax fallback.

`method` on the result says which path produced it:
  "trafilatura"         main text extracted normally
  "meta_description"    trafilatura found nothing; the page's description meta was used
  "selectolax"          neither: paragraph-like lines of the visible text
  "selectolax_timeout"  trafilatura exceeded its cap (worker killed); visible-text fallback
  "selectolax_error"    the trafilatura worker failed; visible-text fallback
"""

from __future__ import annotations

import re

from acra_enrich.enrich.extract import hardcap
from acra_enrich.enrich.extract.dom import normalize_space
from acra_enrich.enrich.facts import Sourced

ABOUT_MAX_CHARS = 2_000
# trafilatura's cost grows with the tree; a company's about text is never this far down the page.
TRAFILATURA_MAX_CHARS = 600_000
DEFAULT_TIMEOUT_S = 8.0
_MIN_USEFUL = 40


def trafilatura_worker(html: str, url: str) -> str | None:
    """Runs in the capped worker process (imports trafilatura there, not in the caller)."""
    import trafilatura

    return trafilatura.extract(
        html,
        url=url,
        output_format="txt",
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        deduplicate=False,
        with_metadata=False,
    )


def clean_about(text: str, limit: int = ABOUT_MAX_CHARS) -> str:
    """Collapse whitespace (paragraphs become single newlines) and cut at a word boundary."""
    paragraphs = [normalize_space(p) for p in re.split(r"\n+", text)]
    cleaned = "\n".join(p for p in paragraphs if p)
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[:limit]
    boundary = max(cut.rfind(". "), cut.rfind("\n"))
    if boundary > limit * 0.6:
        return cut[: boundary + 1].rstrip()
    return cut.rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def _paragraph_lines(visible: str) -> str:
    """Visible text without menus: lines that read like sentences (8+ words)."""
    lines = [line for line in visible.split("\n") if len(line.split()) >= 8]
    return "\n".join(lines) if lines else visible


def about_text(
    html: str,
    url: str,
    visible: str,
    *,
    description: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Sourced[str] | None:
    """Main text of an about/home page, capped at ABOUT_MAX_CHARS; None for an empty page."""
    method = "trafilatura"
    text: str | None
    try:
        text = hardcap.run_capped(trafilatura_worker, html[:TRAFILATURA_MAX_CHARS], url, timeout_s=timeout_s)
    except hardcap.HardCapExceeded:
        text, method = _paragraph_lines(visible), "selectolax_timeout"
    except Exception:  # any worker failure: fall back, flagged in `method`
        text, method = _paragraph_lines(visible), "selectolax_error"
    if method == "trafilatura" and (not text or len(text.strip()) < _MIN_USEFUL):
        if description and len(description) >= _MIN_USEFUL:
            text, method = description, "meta_description"
        else:
            text, method = _paragraph_lines(visible), "selectolax"
    cleaned = clean_about(text or "")
    if not cleaned:
        return None
    return Sourced(cleaned, url, method)

