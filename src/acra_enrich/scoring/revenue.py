"""`companies.revenue_bucket`: annual revenue in Singapore dollars, bucketed, from what the
product knows, with the source kept (`companies.revenue_source`). The first source present wins:

1. `stated`: a revenue figure stated on the company's own pages, taken as is
   (`companies.revenue_stated_sgd`, with the figure as written and its page in
   `revenue_stated_text` / `revenue_stated_url`): read by extraction's conservative pattern
   for plainly stated figures ("annual turnover of S$12 million", enrich/extract/revenue.py)
   or, with an LLM configured, by the refine stage, whose figure must be an amount the pages
   print, in a sentence not about growth, goals or clients (enrich/refine/llm.py). US dollars
   are converted at a fixed rate; other currencies are not read.
2. `employees`: the employee estimate times S$150,000, a typical revenue per employee of a
   Singapore SME (Department of Statistics' productivity figures put value added per worker
   near S$100k; revenue runs higher).
3. `paid_up_capital`: the registry's paid-up capital in SGD (ordinary + preference + other
   shares of its first capital entry) times ten. Capital is a weak signal: a S$1 company can
   turn over millions; so this only fills a gap.

Buckets: <1M, 1M-10M, 10M-100M, 100M+. Nothing known: no bucket (NULL).
"""

from __future__ import annotations

REVENUE_BUCKETS = ("<1M", "1M-10M", "10M-100M", "100M+")
REVENUE_PER_EMPLOYEE_SGD = 150_000
CAPITAL_MULTIPLE = 10


def bucket_of_amount(sgd: float) -> str:
    if sgd < 1_000_000:
        return "<1M"
    if sgd < 10_000_000:
        return "1M-10M"
    if sgd < 100_000_000:
        return "10M-100M"
    return "100M+"


def revenue_bucket(*, stated_sgd: float | None = None, employees_est: int | None = None,
                   paid_up_capital_sgd: float | None = None) -> tuple[str, str] | None:
    """(bucket, source) by the rule above, or None when nothing is known."""
    if stated_sgd is not None and stated_sgd > 0:
        return bucket_of_amount(stated_sgd), "stated"
    if employees_est is not None and employees_est > 0:
        return bucket_of_amount(employees_est * REVENUE_PER_EMPLOYEE_SGD), "employees"
    if paid_up_capital_sgd is not None and paid_up_capital_sgd > 0:
        return bucket_of_amount(paid_up_capital_sgd * CAPITAL_MULTIPLE), "paid_up_capital"
    return None
