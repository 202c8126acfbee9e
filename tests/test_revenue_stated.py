"""A revenue figure stated on the company's own pages (issue 11 §2.6, companies.revenue_bucket's
first source): the conservative pattern on real-looking sentences, then sandbox sites crawled
with the product's extraction and refined by the LLM emulation over real HTTP (a figure only a
reader of meaning gets; a careless model's reading of a sentence about clients or goals thrown
away), and the nightly score stage taking a stated figure before the estimates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acra_enrich.config import load_settings
from acra_enrich.enrich.extract.revenue import find_revenue, parse_amount, stated_in
from acra_enrich.enrich.refine.llm import llm_extract
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.scoring import revenue_bucket
from acra_enrich.vendors import Vendors
from test_llm_contacts import crawl, quiet_site
from vendor_helpers import company_where, sandbox, sb, vendor_bundle  # noqa: F401 (sandbox, sb: fixtures)


@pytest.mark.parametrize("text, sgd", [
    ("Founded in 1998, we reached an annual turnover of S$12 million in FY2023.", 12_000_000),
    ("Our revenue exceeded SGD 3.5m last year.", 3_500_000),
    ("Group revenue: US$1.2 billion.", 1_620_000_000),
    ("Annual turnover in excess of S$12,000,000.", 12_000_000),
    ("Revenue in 2022 was S$12.5 million, up from S$10 million.", 12_500_000),
    ("We helped our clients grow their sales by S$3 million.", None),
    ("Our revenue target is S$50 million by 2030.", None),
    ("Sales from S$99 per month.", None),
    ("Turnover of RM 12 million.", None),
    ("Our revenue is $12 million.", None),  # which dollar: not read
    ("Sales team of 12. We raised S$5 million in funding.", None),
    ("Revenue grew by S$2 million to a record year.", None),
])
def test_only_a_plainly_stated_figure_is_read(text: str, sgd: int | None) -> None:
    found = find_revenue(text, "https://a.sg/about")
    assert (found.value.amount_sgd if found else None) == sgd
    if found:
        assert found.source_url == "https://a.sg/about" and found.method == "text"
        assert parse_amount(found.value.as_written) == sgd


def test_an_llm_figure_stands_only_as_an_amount_printed_outside_other_stories() -> None:
    page = "We turned over more than S$4 million last year. Our clients grew sales by S$9 million."
    assert stated_in(page, "S$4 million") is not None and stated_in(page, "SGD 4,000,000") is not None
    assert stated_in(page, "S$5 million") is None  # not printed
    assert stated_in(page, "S$9 million") is None  # printed, but about the clients


@pytest.fixture
async def vendors(sb: SandboxHandle) -> AsyncIterator[Vendors]:
    async with vendor_bundle(load_settings()) as bundle:
        yield bundle


async def test_sites_stating_revenue_through_extraction_and_the_llm(sb: SandboxHandle, vendors: Vendors) -> None:
    settings = load_settings()
    plain = company_where(sb, quiet_site, lambda c: bool(c.truth.revenue_text) and not c.truth.revenue_llm_only)
    facts = await crawl(settings, plain)
    assert facts.revenue is not None and facts.revenue.value.amount_sgd == plain.truth.revenue_sgd
    assert facts.revenue.method == "text" and facts.revenue.source_url in facts.pages

    meaning = company_where(sb, quiet_site, lambda c: c.truth.revenue_llm_only)
    facts = await crawl(settings, meaning)
    assert facts.revenue is None and meaning.truth.revenue_text and "turned over" in facts.text
    result = await llm_extract(facts, vendors.llm, settings, company_name=meaning.name)
    assert result.facts is not None and result.facts.revenue is not None
    assert result.facts.revenue.value.amount_sgd == meaning.truth.revenue_sgd and result.facts.revenue.method == "llm"

    trap = company_where(sb, quiet_site, lambda c: bool(c.truth.revenue_trap) and "S$" in (c.truth.revenue_trap or "")
                         and any(w in (c.truth.revenue_trap or "") for w in ("sales", "revenue")))
    facts = await crawl(settings, trap)
    assert facts.revenue is None and (trap.truth.revenue_trap or "") in facts.text
    result = await llm_extract(facts, vendors.llm, settings, company_name=trap.name)
    assert result.facts is not None and result.facts.revenue is None
    assert any(name == "annual_revenue" for name, _ in result.discarded), result.discarded


def test_a_stated_figure_outranks_the_estimates() -> None:
    assert revenue_bucket(stated_sgd=12_000_000, employees_est=3, paid_up_capital_sgd=1) == ("10M-100M", "stated")
    assert revenue_bucket(stated_sgd=None, employees_est=3, paid_up_capital_sgd=1) == ("<1M", "employees")

