"""Step 6, second half: with an LLM configured, each scored company's rule-based rationale is
rephrased (scoring/rephrase.py decides whether a rephrasing may stand), once per distinct
feature vector: rephrasings are kept in `rationale_cache` and reused by later runs and other
tenants. Calls spend OPENAI_DAILY_TOKENS_CAP like every other LLM call. Whatever the model
cannot do (budget spent, an error, a rephrasing refused) leaves the rule-based rationale, and
the returned payload says how many and why."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

from psycopg_pool import ConnectionPool

from acra_enrich.scoring import LeadScore
from acra_enrich.scoring.rephrase import Rephrased, cache_key, rephrase
from acra_enrich.sqlfiles import load_queries
from acra_enrich.vendors.base import BUDGET_EXHAUSTED, DISABLED, OK, RATE_LIMITED, UNAUTHORIZED
from acra_enrich.vendors.llm import LlmClient

_Q = load_queries("acra_enrich.runners.nightly.sql", "nightly.sql")
CONCURRENCY = 4
# After one of these no other company is asked: the answer would be the same.
_STOP = frozenset({DISABLED, BUDGET_EXHAUSTED, UNAUTHORIZED, RATE_LIMITED})


def _companies(n: int) -> str:
    return f"{n} compan{'y' if n == 1 else 'ies'}"


async def rephrase_rationales(pool: ConnectionPool, llm: LlmClient, tenant_id: int,
                              scored: Sequence[tuple[int, LeadScore]], log: Any) -> dict[str, Any]:
    """Rephrase the run's rationales; a payload part for the score stage:
    `rationale` (companies by where their rationale came from and why not the LLM) and `degraded`."""
    by_key: dict[str, list[tuple[int, LeadScore]]] = {}
    for company_id, lead in scored:
        by_key.setdefault(cache_key(lead.features_hash, lead.rationale), []).append((company_id, lead))
    if not by_key:
        return {}

    def cached() -> dict[str, str]:
        with pool.connection() as conn:
            return dict(conn.execute(_Q["rationale_cache_get"], {"keys": list(by_key), "model": llm.model}).fetchall())

    found = await asyncio.to_thread(cached)
    answers: dict[str, Rephrased] = {}
    stopped: list[str] = []
    slots = asyncio.Semaphore(CONCURRENCY)

    async def ask(key: str, lead: LeadScore) -> None:
        async with slots:
            if stopped:
                answers[key] = Rephrased(stopped[0], detail="not asked")
                return
            answer = await rephrase(llm, lead.rationale, bucket=lead.bucket, named=lead.named)
            answers[key] = answer
            if answer.status in _STOP:
                stopped.append(answer.status)
            if answer.status != OK:
                log.info("rationale_not_rephrased", status=answer.status, detail=answer.detail[:300],
                         rule=lead.rationale)

    async with asyncio.TaskGroup() as group:
        for key, leads in by_key.items():
            if key not in found:
                group.create_task(ask(key, leads[0][1]))

    counts: Counter[str] = Counter()
    tokens = sum(a.tokens for a in answers.values())

    def save() -> None:
        with pool.connection() as conn:
            for key, leads in by_key.items():
                ids = [company_id for company_id, _ in leads]
                answer = answers.get(key)
                if key in found:
                    text, source = found[key], "cached"
                elif answer is not None and answer.status == OK and answer.text:
                    text, source = answer.text, "llm"
                    conn.execute(_Q["rationale_cache_put"], {"key": key, "rationale": text, "model": llm.model})
                else:
                    counts["rules"] += len(ids)
                    counts[answer.status if answer else "error"] += len(ids)
                    continue
                counts[source] += len(ids)
                conn.execute(_Q["set_rationale"], {"tenant_id": tenant_id, "company_ids": ids, "rationale": text,
                                                   "source": "llm"})
            conn.commit()

    await asyncio.to_thread(save)
    notes = []
    if counts[BUDGET_EXHAUSTED]:
        notes.append(f"rationale rephrasing: OPENAI_DAILY_TOKENS_CAP reached; rule-based rationale kept for "
                     f"{_companies(counts[BUDGET_EXHAUSTED])}")
    failed = {s: n for s, n in counts.items() if s not in ("llm", "cached", "rules", "rejected", BUDGET_EXHAUSTED)}
    if failed:
        why = ", ".join(f"{s} {n}" for s, n in sorted(failed.items()))
        notes.append(f"rationale rephrasing: the LLM failed ({why}); rule-based rationale kept for "
                     f"{_companies(sum(failed.values()))}")
    return {"rationale": {**dict(counts), "llm_tokens": tokens}, "degraded": notes}
