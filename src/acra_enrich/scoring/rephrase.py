"""A lead's rule-based rationale rephrased by an LLM for the SDR who reads it, and the check
that decides whether the rephrasing may replace it.

The rule-based rationale (score.rationale) is the truth: deterministic, and naming the
features that drove the score. A rephrasing is kept only when it still says the same thing:
- it keeps the bucket (High / Medium / Low);
- it names every feature the rule-based text names (each by a word of FEATURE_WORDS: a model
  may say "a verified e-mail address" for `verified_emails`, not leave it out), and no other:
  "they are also hiring" when the rule-based text says nothing of hiring is a fact the model
  made up (a generous word list refuses some honest rephrasings; the rule-based text then stays);
- every number in it is one the rule-based text holds (the score): a model that adds "three
  open roles" or "80 % fit" invented it;
- it is at most two sentences and MAX_CHARS characters.
Otherwise, or when the model cannot be asked (no key, OPENAI_DAILY_TOKENS_CAP spent, an error),
the rule-based text stays; the caller says why.

Rephrasings are cached by `cache_key`: the feature vector's hash together with the rule-based
text (which also carries which ICP criteria the tenant left unset, and so may not be named)
and the prompt's version, so the model is asked once per distinct vector.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from acra_enrich.scoring.features import FEATURES
from acra_enrich.vendors.base import OK
from acra_enrich.vendors.llm import LlmClient

PROMPT_VERSION = "1"
MAX_CHARS = 320
MAX_OUTPUT_TOKENS = 160
SCHEMA_NAME = "lead_rationale"
SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string", "description": "the rewritten rationale, one or two sentences"}},
    "required": ["rationale"],
    "additionalProperties": False,
}
SYSTEM_PROMPT = (
    "You rewrite a lead-scoring rationale for a salesperson in one or two plain, friendly sentences. "
    "Keep the bucket (High, Medium or Low) and the score as given, and mention every factor listed; "
    "add no other facts and no other numbers."
)
# How a rephrasing may name each feature (case-insensitive, from the start of a word).
FEATURE_WORDS: dict[str, tuple[str, ...]] = {
    "icp_industry": ("industr", "sector"),
    "icp_employees": ("size", "employee", "headcount", "staff", "team"),
    "icp_incorporation": (r"age\b", "incorporat", "founded", "established", "years in business"),
    "icp_district": ("district", "located", "location", "area"),
    "icp_keywords": ("keyword",),
    "website_found": ("website", "web site", r"site\b", "online presence"),
    "verified_emails": ("email", "e-mail"),
    "decision_makers": ("decision", "director", "founder", "executive", "leadership"),
    "hiring": ("hiring", "recruit", "job", "vacanc", "opening"),
    "tech_signals": ("tech", "stack"),
    "freshness": ("fresh", "recent", "up to date", "up-to-date", "current", "stale", "outdated"),
    "revenue": ("revenue", "turnover", "sales"),
}
_FEATURE_RES = {name: re.compile(r"\b(?:" + "|".join(words) + ")", re.I) for name, words in FEATURE_WORDS.items()}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
assert set(FEATURE_WORDS) == set(FEATURES)


def cache_key(features_hash: str, rule_text: str) -> str:
    return hashlib.sha1(f"{PROMPT_VERSION}\n{features_hash}\n{rule_text}".encode()).hexdigest()


def rejection(text: str, *, rule_text: str, bucket: str, named: Sequence[str]) -> str | None:
    """Why `text` may not stand in for `rule_text`, or None when it may."""
    text = " ".join(text.split())
    if not text:
        return "empty"
    if len(text) > MAX_CHARS or len(_SENTENCE_END.findall(text)) > 2:
        return "longer than two short sentences"
    if not re.search(rf"\b{bucket}\b", text, re.I):
        return f"the bucket ({bucket}) is missing"
    dropped = [name for name in named if not _FEATURE_RES[name].search(text)]
    if dropped:
        return "drops " + ", ".join(dropped)
    added = [name for name, found in _FEATURE_RES.items() if name not in named and found.search(text)]
    if added:
        return "adds " + ", ".join(added)
    allowed = set(_NUMBER.findall(rule_text))
    invented = [n for n in _NUMBER.findall(text) if n not in allowed]
    if invented:
        return "invents numbers: " + ", ".join(invented)
    return None


@dataclass(frozen=True)
class Rephrased:
    status: str  # a vendor status (ok, budget_exhausted, error, ...); "rejected" when the check refused it
    text: str | None = None  # the accepted rephrasing
    detail: str = ""  # why not
    model: str = ""
    tokens: int = 0


def messages(rule_text: str, named: Sequence[str]) -> list[dict[str, str]]:
    factors = "\n".join(f"- {FEATURES[name][1]}" for name in named) or "- (none)"
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Rationale: {rule_text}\n\nFactors to mention:\n{factors}"}]


async def rephrase(llm: LlmClient, rule_text: str, *, bucket: str, named: Sequence[str]) -> Rephrased:
    """Ask the model once; never raises."""
    result = await llm.complete_json(messages(rule_text, named), schema=SCHEMA, schema_name=SCHEMA_NAME,
                                     max_output_tokens=MAX_OUTPUT_TOKENS)
    tokens = result.usage.total_tokens if result.usage else 0
    if result.status != OK or result.data is None:
        return Rephrased(result.status, detail=result.detail, tokens=tokens)
    text = result.data.get("rationale")
    text = " ".join(text.split()) if isinstance(text, str) else ""
    why = rejection(text, rule_text=rule_text, bucket=bucket, named=named)
    if why is not None:
        return Rephrased("rejected", detail=why, model=result.model, tokens=tokens)
    return Rephrased(OK, text, model=result.model, tokens=tokens)
