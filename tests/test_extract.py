"""Deterministic extraction (issue 3, stage "extract"): rules on small inline pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stdnum.sg import uen as sg_uen

from acra_enrich.enrich.extract import about, hardcap
from acra_enrich.enrich.extract.address import address_from_text
from acra_enrich.enrich.extract.careers import employees_hint, open_jobs_from_text
from acra_enrich.enrich.extract.emails import clean_email, decode_cfemail
from acra_enrich.enrich.facts import Phone
from acra_enrich.enrich.extract.page import (
    Address,
    PageFacts,
    Sourced,
    extract_page,
    identity_score,
    merge_facts,
    nav_links,
    page_signals,
)

SITE = "https://www.acme.com.sg/"


def uen_local(prefix9: str) -> str:
    return prefix9 + sg_uen.calc_local_company_check_digit(prefix9)


OUR_UEN = uen_local("201912345")
OTHER_UEN = uen_local("201811111")


def page(body: str, head: str = "", title: str = "Acme") -> str:
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def facts(body: str, head: str = "", *, url: str = SITE, role: str = "other", title: str = "Acme") -> PageFacts:
    return extract_page(url, page(body, head, title), role=role)  # type: ignore[arg-type]


def cf_encode(email: str, key: int = 0x5A) -> str:
    """Cloudflare's scheme: first byte is the key, every following byte is the char XOR key."""
    return f"{key:02x}" + "".join(f"{b ^ key:02x}" for b in email.encode())


# ------------------------------------------------------------------------------------------ emails


@pytest.mark.parametrize(
    ("body", "expected", "method"),
    [
        ('<a href="mailto:Info@Acme.com.sg?subject=Hello%20there&cc=x">Mail</a>', "info@acme.com.sg", "mailto"),
        ('<a href="MAILTO:%20sales@acme.com.sg">Mail</a>', "sales@acme.com.sg", "mailto"),
        ("<p>Write to enquiries@acme.com.sg today.</p>", "enquiries@acme.com.sg", "text"),
        ("<p>sales [at] acme [dot] com [dot] sg</p>", "sales@acme.com.sg", "obfuscated"),
        ("<p>hr(at)acme(dot)sg</p>", "hr@acme.sg", "obfuscated"),
        ("<p>jobs {at} acme.com.sg</p>", "jobs@acme.com.sg", "obfuscated"),
        ("<p>contact: hello at acme [dot] sg</p>", "hello@acme.sg", "obfuscated"),
        ("<p>ops AT acme DOT com DOT sg</p>", "ops@acme.com.sg", "obfuscated"),
        ("<p>alice [at] tanco [dot] sg</p>", "alice@tanco.sg", "obfuscated"),
    ],
)
def test_email_forms(body: str, expected: str, method: str) -> None:
    found = facts(body, role="contact").emails  # some forms name another domain: a contact page keeps those
    assert [(e.value, e.method, e.source_url) for e in found] == [(expected, method, SITE)]


def test_mailto_with_several_addresses() -> None:
    found = facts('<a href="mailto:a@acme.com.sg,b@acme.com.sg?subject=x">us</a>').emails
    assert [e.value for e in found] == ["a@acme.com.sg", "b@acme.com.sg"]


@pytest.mark.parametrize(
    "text",
    [
        "Find our books at Amazon.com and more.",
        "Look at this dot product of vectors.",
        "We meet at noon. Dot the i's.",
        "Meet us at 10.30 at the office.",
    ],
)
def test_prose_is_not_an_email(text: str) -> None:
    assert facts(f"<p>{text}</p>").emails == []


@pytest.mark.parametrize(
    "raw",
    [
        "logo@2x.png",
        "image@3x.jpg",
        "hero-banner@2x.webp",
        "icon@1.5x.svg",
        "user@domain.com",
        "john@example.com",
        "0123456789abcdef0123456789abcdef@o12345.ingest.sentry.io",
        "605a7baede844d278b89dc95ae0a9123@sentry-next.wixpress.com",
        "a..b@acme.com.sg",
        "no-at-sign.acme.com",
    ],
)
def test_asset_and_placeholder_addresses_are_rejected(raw: str) -> None:
    assert clean_email(raw) is None
    assert facts(f"<p>see {raw} here</p>").emails == []


def test_cloudflare_email_protection_both_forms() -> None:
    encoded_a = cf_encode("hello@acme.com.sg", key=0x42)
    encoded_b = cf_encode("Careers@Acme.com.sg", key=0x1F)
    assert decode_cfemail(encoded_a) == "hello@acme.com.sg"
    body = (
        f'<p><a href="/cdn-cgi/l/email-protection" class="__cf_email__" data-cfemail="{encoded_a}">[email&#160;protected]</a></p>'
        f'<p><a href="/cdn-cgi/l/email-protection#{encoded_b}">mail us</a></p>'
    )
    found = facts(body).emails
    assert [(e.value, e.method) for e in found] == [("careers@acme.com.sg", "cfemail"), ("hello@acme.com.sg", "cfemail")]


def test_cfemail_garbage_is_ignored() -> None:
    assert decode_cfemail("zz12") is None
    assert decode_cfemail("4") is None
    assert facts('<span data-cfemail="not-hex">x</span>').emails == []


# ------------------------------------------------------------------------------------------ phones


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tel: +65 6123 4567", "+6561234567"),
        ("Call 6123 4567 now", "+6561234567"),
        ("Mobile (65) 9123-4567", "+6591234567"),
        ("WhatsApp +65-8123-4567", "+6581234567"),
        ("Hotline 3158 1234", "+6531581234"),
        ("Phone: 6123.4567", "+6561234567"),
        ("KL office +60 3-2345 6789", "+60323456789"),
    ],
)
def test_phone_formats(text: str, expected: str) -> None:
    found = facts(f"<p>{text}</p>").phones
    assert [(p.value, p.method) for p in found] == [(expected, "text")]


@pytest.mark.parametrize(
    "text",
    [
        "Our office: 10 Anson Road Singapore 079903",
        "Updated 12/06/2023 and 2023-06-12",
        f"Company registration {OUR_UEN}",
        "Invoice 123456789012 paid",
        "Founded 1998, 250 staff, 20231231",
        "Call 1234 5678",  # 8 digits, but SG numbers start with 3, 6, 8 or 9
    ],
)
def test_digit_runs_that_are_not_phones(text: str) -> None:
    assert facts(f"<p>{text}</p>").phones == []


def test_tel_links_and_dedup() -> None:
    body = '<a href="tel:+6561234567">Call</a><p>Call us: +65 6123 4567</p><a href="tel:12">bad</a>'
    found = facts(body).phones
    assert [(p.value, p.method) for p in found] == [("+6561234567", "tel")]


# ------------------------------------------------------------------------------- structured data


ORG_JSONLD = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebSite", "name": "Acme Website"},
        {
            "@type": ["Organization", "ProfessionalService"],
            "name": "Acme Engineering Pte. Ltd.",
            "email": "mailto:Hello@acme.com.sg",
            "telephone": "+65 6222 3333",
            "sameAs": [
                "https://www.facebook.com/acmeeng/",
                "https://sg.linkedin.com/company/acme-engineering/?trk=x",
                "https://www.instagram.com/acme.eng/",
            ],
            "numberOfEmployees": {"@type": "QuantitativeValue", "value": "120"},
            "taxID": OUR_UEN,
            "address": {
                "@type": "PostalAddress",
                "streetAddress": "10 Anson Road, #20-01",
                "postalCode": "079903",
                "addressLocality": "Singapore",
                "addressCountry": {"@type": "Country", "name": "SG"},
            },
            "parentOrganization": {"@type": "Organization", "name": "Acme Holdings", "telephone": "+65 6999 8888"},
        },
    ],
}


def test_jsonld_organization() -> None:
    head = (
        '<script type="application/ld+json">{"broken": </script>'
        f'<script type="application/ld+json">{json.dumps(ORG_JSONLD)}</script>'
    )
    result = facts("<p>Welcome</p>", head)
    assert ("Acme Engineering Pte. Ltd.", "jsonld") in [(s.value, s.method) for s in result.site_names]
    assert "Acme Website" not in [s.value for s in result.site_names]
    assert "Acme Holdings" not in [s.value for s in result.site_names]
    assert [(e.value, e.method) for e in result.emails] == [("hello@acme.com.sg", "jsonld")]
    assert [(p.value, p.method) for p in result.phones] == [("+6562223333", "jsonld")]
    assert result.linkedin_url == Sourced("https://www.linkedin.com/company/acme-engineering", SITE, "jsonld")
    assert result.socials["facebook"].value == "https://www.facebook.com/acmeeng"
    assert result.socials["instagram"].value == "https://www.instagram.com/acme.eng"
    assert result.employees_est == Sourced(120, SITE, "jsonld")
    assert result.address == Sourced(Address("10 Anson Road, #20-01", "079903", "Singapore", "Singapore"), SITE, "jsonld")
    assert [(u.value, u.method) for u in result.uens] == [(OUR_UEN, "jsonld")]


def test_microdata_organization() -> None:
    body = """
    <div itemscope itemtype="https://schema.org/LocalBusiness">
      <span itemprop="name">Micro Bakery</span>
      <span itemprop="telephone">6333 4444</span>
      <div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">
        <span itemprop="streetAddress">Blk 123 Ang Mo Kio Ave 3, #01-234</span>
        <span itemprop="postalCode">560123</span>
      </div>
      <meta itemprop="numberOfEmployees" content="35">
    </div>"""
    result = facts(body)
    assert ("Micro Bakery", "microdata") in [(s.value, s.method) for s in result.site_names]
    assert [(p.value, p.method) for p in result.phones] == [("+6563334444", "microdata")]
    assert result.address is not None and result.address.method == "microdata"
    assert result.address.value == Address("Blk 123 Ang Mo Kio Ave 3, #01-234", "560123", "Singapore", "Singapore")
    assert result.employees_est == Sourced(35, SITE, "microdata")


def test_opengraph_site_name_and_title() -> None:
    head = '<meta property="og:site_name" content="Acme Engineering"><meta property="og:title" content="Home">'
    result = facts("<p>x</p>", head, title="Home | Acme")
    assert result.title == "Home | Acme"
    assert [(s.value, s.method) for s in result.site_names] == [("Home | Acme", "title"), ("Acme Engineering", "og")]


# ------------------------------------------------------------------------------------ tech stack


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<meta name="generator" content="WordPress 6.4.2">', ("WordPress", "meta_generator")),
        ('<meta name="generator" content="Wix.com Website Builder">', ("Wix", "meta_generator")),
        ('<meta name="Generator" content="Joomla! - Open Source Content Management">', ("Joomla", "meta_generator")),
        ('<meta name="generator" content="Drupal 10 (https://www.drupal.org)">', ("Drupal", "meta_generator")),
        ('<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>', ("Google Tag Manager", "script_host")),
        ('<script src="//js.hs-scripts.com/123.js"></script>', ("HubSpot", "script_host")),
        ('<link rel="stylesheet" href="https://cdn.shopify.com/s/files/theme.css">', ("Shopify", "script_host")),
        ('<script src="https://connect.facebook.net/en_US/fbevents.js"></script>', ("Meta Pixel", "script_host")),
        ('<script src="https://js.stripe.com/v3/"></script>', ("Stripe", "script_host")),
        ('<script src="https://widget.intercom.io/widget/abc"></script>', ("Intercom", "script_host")),
        (
            '<link href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css" rel="stylesheet">',
            ("Bootstrap", "script_host"),
        ),
        ('<link rel="stylesheet" href="/wp-content/themes/x/style.css">', ("WordPress", "asset_path")),
    ],
)
def test_tech_stack(head: str, expected: tuple[str, str]) -> None:
    assert [(t.value, t.method) for t in facts("<p>x</p>", head).tech_stack] == [expected]


def test_tech_stack_ignores_unknown_and_lookalike_hosts() -> None:
    head = '<script src="https://cdn.jsdelivr.net/npm/lodash/lodash.min.js"></script><script src="https://notstripe.com/x.js"></script>'
    assert facts("<p>x</p>", head).tech_stack == []


# -------------------------------------------------------------------------------- careers / jobs


def test_jobs_from_jsonld_jobpostings() -> None:
    postings = [{"@context": "https://schema.org", "@type": "JobPosting", "title": f"Role {i}"} for i in range(3)]
    head = "".join(f'<script type="application/ld+json">{json.dumps(p)}</script>' for p in postings)
    result = facts("<p>Join us</p>", head, url=SITE + "careers", role="careers")
    assert result.careers is True
    assert result.jobs_count == Sourced(3, SITE + "careers", "jsonld")


@pytest.mark.parametrize(
    ("body", "count", "method"),
    [
        ("<h1>Careers</h1><p>We currently have 7 open positions.</p>", 7, "text"),
        ("<h1>Careers</h1><p>There are no open positions at the moment.</p>", 0, "text"),
        (
            '<h2>Open roles</h2><ul><li><a href="/j/1">Engineer</a></li><li><a href="/j/2">Designer</a></li>'
            '<li><a href="/j/3">Sales</a></li></ul><nav><ul><li>Home</li><li>About</li><li>x</li><li>y</li></ul></nav>',
            3,
            "job_list",
        ),
        (
            '<section class="job-openings"><ul><li>Accountant</li><li>Driver</li></ul></section>',
            2,
            "job_list",
        ),
        (
            '<p>See our board</p><a href="https://boards.greenhouse.io/acme/jobs/111">A</a>'
            '<a href="https://jobs.lever.co/acme/abc-def">B</a><a href="https://boards.greenhouse.io/acme">all</a>',
            2,
            "ats_links",
        ),
    ],
)
def test_jobs_count_on_careers_page(body: str, count: int, method: str) -> None:
    result = facts(body, url=SITE + "careers/", role="careers")
    assert result.careers is True
    assert result.jobs_count == Sourced(count, SITE + "careers/", method)


def test_careers_signals_on_other_pages() -> None:
    ats = facts('<p>Hello</p><a href="https://apply.workable.com/acme/">Jobs board</a>')
    assert ats.careers is True
    mcf = facts('<a href="https://www.mycareersfuture.gov.sg/job/engineering/x">We are hiring</a>')
    assert mcf.careers is True
    link = facts('<nav><a href="/join-us">Join us</a></nav>')
    assert link.careers is True
    plain = facts("<p>We do engineering. 3 roles for our products.</p>")
    assert plain.careers is False and plain.jobs_count is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We are a team of 50+ specialists.", 50),
        ("Over 200 employees across Asia.", 200),
        ("1,200 staff in six countries", 1200),
        ("The firm employs more than 300 people.", 300),
        ("Our 2k employees", 2000),
        ("A 15-strong team of builders.", 15),
        ("Our 45 dedicated professionals serve you.", 45),
        ("Founded in 2015 with 3 offices and 500 clients.", None),
        ("Established 1998.", None),
    ],
)
def test_employee_hints(text: str, expected: int | None) -> None:
    assert employees_hint(text) == expected
    result = facts(f"<p>{text}</p>")
    assert (result.employees_est.value if result.employees_est else None) == expected
    if expected is not None:
        assert result.employees_est is not None and result.employees_est.method == "text"


def test_open_jobs_text_variants() -> None:
    assert open_jobs_from_text("Browse 12 current openings") == 12
    assert open_jobs_from_text("three open roles") == 3
    assert open_jobs_from_text("Sorry, no vacancies currently.") == 0
    assert open_jobs_from_text("We love our team.") is None


# -------------------------------------------------------------------------------------- address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Address: 10 Anson Road, #20-01 International Plaza, Singapore 079903",
            Address("10 Anson Road, #20-01 International Plaza", "079903", "Singapore", "Singapore"),
        ),
        (
            "Visit us\n1 Raffles Place\n#44-01 One Raffles Place\nSingapore 048616\nTel: +65 6123 4567",
            Address("1 Raffles Place, #44-01 One Raffles Place", "048616", "Singapore", "Singapore"),
        ),
        (
            "Blk 123 Ang Mo Kio Ave 3 #01-234 S(560123)",
            Address("Blk 123 Ang Mo Kio Ave 3 #01-234", "560123", "Singapore", "Singapore"),
        ),
        ("Office: 3 Temasek Avenue Singapore (039190)", Address("3 Temasek Avenue", "039190", "Singapore", "Singapore")),
        ("Singapore 079903", Address(None, "079903", "Singapore", "Singapore")),
        ("Blk 456 Jurong West St 42 #05-67", Address("Blk 456 Jurong West St 42 #05-67", None, None, None)),
        ("We ship to Singapore 990000 times a year", None),  # sector 99 does not exist
        ("Singapore 2023 annual report", None),
    ],
)
def test_address_patterns(text: str, expected: Address | None) -> None:
    assert address_from_text(text) == expected


def test_address_from_page_text_is_sourced() -> None:
    result = facts("<footer><p>Acme Pte Ltd</p><p>8 Marina View, Singapore 018960</p></footer>", url=SITE + "contact")
    assert result.address == Sourced(Address("8 Marina View", "018960", "Singapore", "Singapore"), SITE + "contact", "text")


# ---------------------------------------------------------------------------------------- UENs


def test_uens_printed_on_page_are_validated() -> None:
    bad = OUR_UEN[:-1] + ("A" if OUR_UEN[-1] != "A" else "B")
    result = facts(f"<footer>Acme Pte Ltd (UEN: {OUR_UEN}) · Reg {bad} · T08LL1234H</footer>")
    assert [u.value for u in result.uens] == [OUR_UEN, "T08LL1234H"]
    assert all(u.method == "text" for u in result.uens)


# -------------------------------------------------------------------------------------- socials


def test_social_links_prefer_company_linkedin_and_skip_share_widgets() -> None:
    body = """
    <a href="https://www.linkedin.com/in/ceo-person/">CEO</a>
    <a href="https://www.linkedin.com/shareArticle?url=x">share</a>
    <a href="https://www.facebook.com/sharer/sharer.php?u=x">share</a>
    <a href="https://www.linkedin.com/company/acme-eng/about/">LinkedIn</a>
    <a href="https://m.facebook.com/AcmeEng?ref=x">fb</a>
    <a href="https://twitter.com/intent/tweet?text=x">tweet</a>
    <a href="https://x.com/acme_sg">X</a>
    <a href="https://www.youtube.com/@acme">YT</a>
    <a href="https://www.tiktok.com/@acme.sg">TT</a>"""
    result = facts(body)
    assert result.linkedin_url == Sourced("https://www.linkedin.com/company/acme-eng", SITE, "link")
    assert {k: v.value for k, v in result.socials.items()} == {
        "linkedin": "https://www.linkedin.com/company/acme-eng",
        "facebook": "https://www.facebook.com/AcmeEng",
        "x": "https://x.com/acme_sg",
        "youtube": "https://www.youtube.com/@acme",
        "tiktok": "https://www.tiktok.com/@acme.sg",
    }


# ------------------------------------------------------------------------------------ nav links


NAV_HTML = page(
    """
    <header><nav>
      <a href="/">Home</a>
      <a href="/about-us/">About Us</a>
      <a href="https://acme.com.sg/contact#form">Get in touch</a>
      <a href="https://careers.acme.com.sg/">We're hiring</a>
      <a href="#team">Our team</a>
      <a href="mailto:hi@acme.com.sg">Contact</a>
      <a href="tel:+6561234567">Contact</a>
      <a href="javascript:void(0)">Contact</a>
    </nav></header>
    <main>
      <a href="/company/history/milestones/2020/">read more</a>
      <a href="https://www.linkedin.com/company/acme">About us on LinkedIn</a>
      <a href="https://acme.com/about">About</a>
      <a href="https://partner.sg/contact">Contact</a>
      <a href="/brochure/about-us.pdf">About us (PDF)</a>
      <a href="/who-we-are">Who we are</a>
    </main>"""
)


def test_nav_links_rank_and_same_site_filter() -> None:
    links = nav_links(SITE, NAV_HTML)
    by_url = {c.url: c for c in links}
    assert set(by_url) == {
        "https://www.acme.com.sg/about-us/",
        "https://acme.com.sg/contact",
        "https://careers.acme.com.sg/",
        "https://www.acme.com.sg/who-we-are",
        "https://www.acme.com.sg/company/history/milestones/2020/",
    }
    assert by_url["https://acme.com.sg/contact"].kind == "contact"
    assert by_url["https://careers.acme.com.sg/"].kind == "careers"
    assert by_url["https://www.acme.com.sg/who-we-are"].kind == "about"
    # nav "About Us" (exact text + path + nav) beats body "Who we are" beats a deep path-only match
    about_ranked = [c.url for c in links if c.kind == "about"]
    assert about_ranked == [
        "https://www.acme.com.sg/about-us/",
        "https://www.acme.com.sg/who-we-are",
        "https://www.acme.com.sg/company/history/milestones/2020/",
    ]
    assert [c.score for c in links] == sorted((c.score for c in links), reverse=True)
    assert all("#" not in c.url for c in links)


def test_nav_links_resolve_base_href_and_tolerate_garbage() -> None:
    html = '<html><head><base href="https://www.acme.com.sg/en/"></head><body><a href="contact.html">Contact us</a></body></html>'
    assert [(c.url, c.kind) for c in nav_links(SITE, html)] == [("https://www.acme.com.sg/en/contact.html", "contact")]
    assert nav_links(SITE, "\x00\xff<<a href=>>>") == []
    assert nav_links("not a url", "<a href='/about'>About</a>") == []


# -------------------------------------------------------------------------------------- signals


PARKED_HTML = page(
    '<h1>acme.com.sg</h1><p>This domain may be for sale!</p><a href="https://sedo.com/search/details/?domain=acme.com.sg">Buy</a>'
    "<p>Related searches: Engineering, Singapore</p>",
    title="acme.com.sg - Acme Engineering",
)
SCRIPT_ONLY_HTML = page('<div id="root"></div><script src="/static/js/main.3f2a.js"></script>')
BLOCKED_HTML = page(
    "<p>Checking your browser before accessing acme.com.sg.</p><script>window._cf_chl_opt={cvId:'2'}</script>",
    title="Just a moment...",
)
CONTACT_WITH_CAPTCHA = page(
    "<h1>Contact Acme Engineering</h1>" + "<p>Our engineers reply within one working day to every enquiry.</p>" * 20
    + '<form><div class="g-recaptcha"></div></form><script src="https://www.google.com/recaptcha/api.js"></script>'
)


@pytest.mark.parametrize(
    ("html", "parked", "script_only", "blocked", "empty"),
    [
        (PARKED_HTML, True, False, False, False),
        (page("<p>Buy this domain.</p>"), True, False, False, True),
        (page('<iframe src="https://www.bodis.com/lander"></iframe><script src="x.js"></script>'), True, True, False, False),
        (SCRIPT_ONLY_HTML, False, True, False, False),
        (BLOCKED_HTML, False, False, True, False),
        (page("<h1>Access denied</h1><p>You don't have permission.</p>"), False, False, True, False),
        (CONTACT_WITH_CAPTCHA, False, False, False, False),
        (page(""), False, False, False, True),
    ],
)
def test_page_signals(html: str, parked: bool, script_only: bool, blocked: bool, empty: bool) -> None:
    signals = page_signals(html)
    assert (signals.parked, signals.script_only, signals.blocked, signals.empty) == (parked, script_only, blocked, empty)
    if parked or script_only or blocked or empty:
        assert signals.reasons


# ------------------------------------------------------------------------------------- identity


def _score(html: str, url: str = SITE) -> float:
    page_facts = extract_page(url, html)
    return identity_score("Acme Engineering Pte. Ltd.", OUR_UEN, page_facts, page_signals(html)).score


def test_identity_score_orders_candidates() -> None:
    sg = "<p>10 Anson Road, Singapore 079903</p><p>Tel +65 6123 4567</p>"
    right_with_uen = page(f"<h1>Acme Engineering</h1>{sg}<footer>UEN {OUR_UEN}</footer>", title="Acme Engineering Pte Ltd | Home")
    right_without_uen = page(f"<h1>Acme Engineering</h1>{sg}", title="Home - Acme Engineering")
    lookalike = page(
        f"<h1>Acme Engineering Works</h1>{sg}<footer>UEN {OTHER_UEN}</footer>", title="Acme Engineering Works Pte Ltd"
    )
    unrelated = page("<h1>Best Plumbing</h1><p>We fix pipes in Sydney.</p>", title="Best Plumbing Services")
    scores = [
        _score(right_with_uen),
        _score(right_without_uen),
        _score(lookalike, "https://www.acmeworks.sg/"),
        _score(PARKED_HTML, "https://www.acme.com.sg/"),
    ]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4, scores
    assert scores[0] >= 0.85
    assert scores[3] <= 0.02
    assert _score(unrelated, "https://bestplumbing.com.au/") < scores[1]


def test_identity_score_reasons() -> None:
    html = page(f"<footer>UEN {OUR_UEN}</footer>", title="Acme Engineering")
    result = identity_score("ACME ENGINEERING PTE. LTD.", OUR_UEN, extract_page(SITE, html), page_signals(html))
    assert result.uen_match is True and result.name_similarity == 1.0 and result.name_source == "title"
    assert any("own UEN" in r for r in result.reasons)
    other = identity_score("Acme Engineering Pte Ltd", OUR_UEN, extract_page(SITE, page(f"<p>{OTHER_UEN}</p>")), page_signals(page("x")))
    assert other.other_uens == (OTHER_UEN,) and other.uen_match is False


def test_a_parenthesised_qualifier_of_the_legal_name_is_optional_on_the_site() -> None:
    html = page("<h1>Bokedos Fitness</h1>", title="Bokedos Fitness")
    facts, signals = extract_page(SITE, html), page_signals(html)
    qualified = identity_score("BOKEDOS FITNESS (INTERNATIONAL) PTE LTD", None, facts, signals)
    assert qualified.name_similarity == 1.0
    # The words outside the parentheses still have to match.
    other = identity_score("BOKEDOS TRAVEL (INTERNATIONAL) PTE LTD", None, facts, signals)
    assert other.name_similarity < 0.95


# ------------------------------------------------------------------------------------ about text


ABOUT_HTML = page(
    "<nav><a href='/'>Home</a> <a href='/about'>About</a></nav>"
    "<article><h1>About Acme</h1><p>Acme Engineering was founded in 1998 to design mechanical and electrical "
    "systems for commercial buildings in Singapore. Today our engineers serve clients across Southeast Asia, "
    "from hospitals to data centres, with a focus on energy efficiency.</p>"
    "<p>We believe good engineering is invisible: buildings that stay cool, safe and quiet for decades.</p></article>"
    "<footer>© Acme</footer>"
)


def _sleeping_worker(html: str, url: str) -> str | None:
    time.sleep(60)
    return "never"


def test_about_text_uses_trafilatura_then_falls_back_on_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    normal = extract_page(SITE + "about", ABOUT_HTML, role="about")
    assert normal.about_text is not None and normal.about_text.method == "trafilatura"
    assert "Acme Engineering was founded in 1998" in normal.about_text.value
    assert "Home" not in normal.about_text.value and "© Acme" not in normal.about_text.value

    monkeypatch.setattr(about, "trafilatura_worker", _sleeping_worker)
    slow = extract_page(SITE + "about", ABOUT_HTML, role="about", about_timeout_s=0.5)
    assert slow.about_text is not None
    assert slow.about_text.method == "selectolax_timeout"
    assert "founded in 1998" in slow.about_text.value
    assert slow.about_text.source_url == SITE + "about"

    monkeypatch.undo()
    again = extract_page(SITE + "about", ABOUT_HTML, role="about")  # the pool was replaced, not left broken
    assert again.about_text is not None and again.about_text.method == "trafilatura"


def test_hard_cap_kills_the_worker() -> None:
    with pytest.raises(hardcap.HardCapExceeded):
        hardcap.run_capped(time.sleep, 30, timeout_s=0.5)
    assert hardcap.run_capped(len, "abc", timeout_s=30) == 3


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; reaping it is its new parent's job


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_the_worker_ends_when_its_parent_is_killed() -> None:
    # `kill -9` of a sweep must not leave its extraction worker running.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "from acra_enrich.enrich.extract import hardcap\n"
         "print(hardcap.run_capped(os.getpid, timeout_s=60), flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert worker != parent.pid and _running(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(worker)


def test_about_text_is_capped_and_only_for_home_or_about() -> None:
    long_page = page("<article>" + "<p>" + "Acme builds reliable engineering systems for clients. " * 200 + "</p></article>")
    result = extract_page(SITE, long_page, role="home")
    assert result.about_text is not None and len(result.about_text.value) <= about.ABOUT_MAX_CHARS + 1
    assert extract_page(SITE + "contact", long_page, role="contact").about_text is None


# ------------------------------------------------------------------------------------ robustness


@pytest.mark.parametrize(
    "html",
    [
        "",
        "\x00\x01\x02 binary \udcff junk",
        os.urandom(200_000).decode("latin-1"),
        "<div>" * 50_000 + "deep" + "</div>" * 50_000,
        "<html><body>" + "<p>Call 6123 4567 or mail info@acme.com.sg</p>" * 120_000 + "</body></html>",
        '<script type="application/ld+json">' + "[" * 100_000 + "</script>",
        "<<<<>>>></a></b><a href='http://[::1'>x</a><a href='http://%zz'>y</a>",
    ],
    ids=["empty", "control-chars", "random-bytes", "deep-nesting", "5mb", "deep-json", "bad-urls"],
)
def test_never_raises_on_garbage(html: str) -> None:
    result = extract_page(SITE, html, role="other", text_limit=1_000)
    assert isinstance(result, PageFacts)
    assert len(result.text) <= 1_000
    page_signals(html)
    nav_links(SITE, html)


def test_visible_text_keeps_blocks_apart_and_drops_scripts() -> None:
    html = page("<nav><a href='/a'>About</a><a href='/c'>Contact</a></nav><p>para</p>tail<script>var x='hidden';</script>")
    text = extract_page(SITE, html).text
    assert text.split("\n") == ["About Contact", "para", "tail"]


# ------------------------------------------------------------------------------------ merging


def _page(url: str, role: str, **kw: object) -> PageFacts:
    return PageFacts(url=url, role=role, **kw)  # type: ignore[arg-type]


def test_merge_facts_preferences_and_sources() -> None:
    home_url, about_url, contact_url = SITE, SITE + "about", SITE + "contact"
    home = _page(
        home_url, "home", title="Acme", text="home text",
        site_names=[Sourced("Acme", home_url, "title")],
        emails=[Sourced("acme.sg@gmail.com", home_url, "text"), Sourced("info@acme.com.sg", home_url, "mailto")],
        phones=[Phone("+6561234567", home_url, "tel")],
        linkedin_url=Sourced("https://www.linkedin.com/in/founder", home_url, "link"),
        socials={"facebook": Sourced("https://www.facebook.com/acme", home_url, "link")},
        about_text=Sourced("Home blurb", home_url, "trafilatura"),
        address=Sourced(Address("1 Somewhere", "123456", "Singapore", "Singapore"), home_url, "text"),
        tech_stack=[Sourced("WordPress", home_url, "meta_generator")],
        employees_est=Sourced(50, home_url, "text"),
    )
    about_page = _page(
        about_url, "about", text="about text",
        about_text=Sourced("About page story", about_url, "trafilatura"),
        linkedin_url=Sourced("https://www.linkedin.com/company/acme", about_url, "link"),
        emails=[Sourced("info@acme.com.sg", about_url, "text")],
        employees_est=Sourced(120, about_url, "jsonld"),
        tech_stack=[Sourced("WordPress", about_url, "meta_generator"), Sourced("HubSpot", about_url, "script_host")],
    )
    contact = _page(
        contact_url, "contact", text="contact text",
        emails=[Sourced("sales@shop.acme.com.sg", contact_url, "mailto"), Sourced("partner@vendor.com", contact_url, "text")],
        phones=[Phone("+6561234567", contact_url, "text"), Phone("+6598765432", contact_url, "text", kind="mobile")],
        address=Sourced(Address("10 Anson Road", "079903", "Singapore", "Singapore"), contact_url, "jsonld"),
        uens=[Sourced(OUR_UEN, contact_url, "text")],
    )
    careers = _page(SITE + "careers", "careers", careers=True, jobs_count=Sourced(4, SITE + "careers", "text"))
    other = _page(SITE + "blog", "other", jobs_count=Sourced(9, SITE + "blog", "text"))

    merged = merge_facts([home, about_page, contact, careers, other])
    assert merged.pages == [home_url, about_url, contact_url, SITE + "careers", SITE + "blog"]
    assert merged.url == home_url and merged.title == "Acme"
    assert merged.about_text == Sourced("About page story", about_url, "trafilatura")
    assert merged.linkedin_url == Sourced("https://www.linkedin.com/company/acme", about_url, "link")
    assert merged.socials["linkedin"] == merged.linkedin_url
    assert [(e.value, e.source_url) for e in merged.emails] == [
        ("sales@shop.acme.com.sg", contact_url),
        ("info@acme.com.sg", home_url),
        ("partner@vendor.com", contact_url),
        ("acme.sg@gmail.com", home_url),
    ]
    assert [(p.value, p.source_url) for p in merged.phones] == [("+6561234567", contact_url), ("+6598765432", contact_url)]
    assert merged.address is not None and merged.address.source_url == contact_url and merged.address.method == "jsonld"
    assert merged.employees_est == Sourced(120, about_url, "jsonld")
    assert merged.jobs_count == Sourced(4, SITE + "careers", "text")
    assert merged.careers is True
    assert [(t.value, t.source_url) for t in merged.tech_stack] == [("WordPress", home_url), ("HubSpot", about_url)]
    assert merged.uens == [Sourced(OUR_UEN, contact_url, "text")]
    assert merged.text.index("home text") < merged.text.index("about text") < merged.text.index("contact text")
    assert home_url in merged.text


def test_merge_about_falls_back_to_home_and_handles_empty() -> None:
    home = _page(SITE, "home", about_text=Sourced("Home blurb", SITE, "trafilatura"))
    about_page = _page(SITE + "about", "about")
    assert merge_facts([about_page, home]).about_text == Sourced("Home blurb", SITE, "trafilatura")
    assert merge_facts([]).pages == []
    capped = merge_facts([_page(SITE, "home", text="x" * 500)], text_limit=100)
    assert len(capped.text) <= 100
