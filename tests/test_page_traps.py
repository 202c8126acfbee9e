"""Traps real pages set for extraction and crawling (issues 13 and 14): text runs glued by markup,
web agencies' credit lines, links tagged with tracking parameters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acra_enrich.config import load_settings
from acra_enrich.enrich.crawl.crawler import crawl_site, fetch_url, page_key
from acra_enrich.enrich.extract.emails import unglue
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.web import FetchResult, make_web_client
from web_server import TestWeb


def page(body: str, title: str = "Acme") -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


def emails(url: str, body: str, role: str = "other") -> list[str]:
    return [e.value for e in extract_page(url, page(body), role=role).emails]  # type: ignore[arg-type]


# --- glued text ------------------------------------------------------------------------------------


def test_block_boundaries_keep_addresses_apart() -> None:
    # A page builder's empty paragraph between two runs of one container.
    body = ('<div class="et_pb_text_inner">Email:customerservice@brightlamp.com.sg<p></p>'
            "Sales:sales@brightlamp.com.sg</div>"
            "<ul><li>hr@brightlamp.com.sg</li><li>Tel: 6123 4567</li></ul>"
            "<table><tr><td>info@brightlamp.com.sg</td><td>Fax</td></tr></table>")
    assert emails("https://www.brightlamp.com.sg/contact", body) == [
        "customerservice@brightlamp.com.sg", "sales@brightlamp.com.sg", "hr@brightlamp.com.sg",
        "info@brightlamp.com.sg"]


@pytest.mark.parametrize(("glued", "address"), [
    ("customerservice@brightlamp.comSales", "customerservice@brightlamp.com"),
    ("info@brightlamp.com.sgTel", "info@brightlamp.com.sg"),
    ("info@brightlamp.com.sgtel", "info@brightlamp.com.sg"),
    ("enquiry@brightlamp.sgwhatsapp", "enquiry@brightlamp.sg"),
    ("hello@brightlamp.company", "hello@brightlamp.company"),  # .company is a real suffix
])
def test_an_address_ends_at_its_public_suffix(glued: str, address: str) -> None:
    assert unglue(glued) == address


def test_text_with_no_separator_never_makes_an_invented_address() -> None:
    # A reader's text or a CMS that drops the markup between two runs.
    body = "<p>Email:customerservice@brightlamp.comSales:sales@brightlamp.com</p><p>ops@brightlamp.comzzz</p>"
    assert emails("https://www.brightlamp.com/", body) == ["customerservice@brightlamp.com", "sales@brightlamp.com"]


# --- web agency credits ------------------------------------------------------------------------------

SITE = "https://www.harbourtiles.com.sg/"


def test_agency_credit_lines_are_not_the_company_contact() -> None:
    body = """
    <main><p>Email: <a href="mailto:sales@harbourtiles.com.sg">sales@harbourtiles.com.sg</a></p></main>
    <footer>
      <p>&copy; 2025 Harbour Tiles Pte. Ltd.</p>
      <p class="credit">Website designed by <a href="https://www.pixelforge.sg/">Pixel Forge</a> |
         <a href="mailto:hello@pixelforge.sg">hello@pixelforge.sg</a></p>
      <p>Powered by Lion Web Solutions. Enquiries: enquiry@lionweb.com.sg</p>
      <div class="site-credit"><span>Site by <a href="https://kopidigital.com">Kopi Digital</a></span></div>
      <div>studio@kopidigital.com</div>
      <p>Made with &hearts; by <a href="https://redsparrow.asia">Red Sparrow</a></p>
    </footer>"""
    for role in ("home", "contact"):
        assert emails(SITE, body, role) == ["sales@harbourtiles.com.sg"], role


def test_an_address_on_another_domain_needs_a_contact_context() -> None:
    body = """
    <p>Our partner brand: bookings@harbourgroup.com</p>
    <p>Email: accounts@harbourgroup.com</p>
    <p>Write to harbour.tiles@gmail.com for samples.</p>
    <p><a href="mailto:orders@harbourgroup.com">Enquiries</a></p>"""
    assert emails(SITE, body, "home") == [
        "orders@harbourgroup.com", "accounts@harbourgroup.com", "harbour.tiles@gmail.com"]
    # On the contact page every address the page states is the company's.
    assert "bookings@harbourgroup.com" in emails(SITE, body, "contact")
    head = ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Organization", '
            '"name": "Harbour Tiles", "email": "hello@harbourgroup.com"}</script>')
    facts = extract_page(SITE, f"<html><head>{head}</head><body><p>Welcome</p></body></html>", role="home")
    assert [e.value for e in facts.emails] == ["hello@harbourgroup.com"]


# --- tracking parameters ---------------------------------------------------------------------------


def test_tracking_parameters_and_navigation_markers() -> None:
    assert fetch_url("https://acme.sg/about?utm_source=nl&utm_medium=email&gclid=x&fbclid=y#team") == \
        "https://acme.sg/about"
    assert fetch_url("https://acme.sg/index.php?page=about&utm_campaign=x") == "https://acme.sg/index.php?page=about"
    same = {page_key(u) for u in ("https://www.acme.sg/careers/index.htm?loc=MainNav",
                                  "https://acme.sg/careers/index.htm", "https://acme.sg/careers/index.htm?loc=Footer&",
                                  "https://acme.sg/careers/index.htm/?ref=home")}
    assert len(same) == 1
    assert page_key("https://acme.sg/index.php?page=about") != page_key("https://acme.sg/index.php?page=contact")


@pytest.fixture(scope="module")
def server() -> Iterator[TestWeb]:
    web = TestWeb().start()
    yield web
    web.stop()


async def test_a_page_is_fetched_once_whatever_its_links_carry(server: TestWeb, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    server.reset()
    home = page("""
      <nav><a href="/about/?loc=MainNav">About</a><a href="/careers/index.htm?loc=MainNav">Careers</a>
           <a href="/contact?utm_source=site&amp;utm_medium=nav">Contact</a></nav>
      <main><a href="/careers/index.htm">Join our team</a></main>
      <footer><a href="/careers/index.htm?loc=Footer">Jobs</a><a href="/about?loc=Footer">Who we are</a></footer>""")
    server.pages.update({
        "/about/": (200, page("<p>About us</p>")), "/about": (200, page("<p>About us</p>")),
        "/contact": (200, page("<p>Contact us</p><a href='/careers/index.htm?loc=ContactPage'>Careers</a>")),
        "/careers/index.htm": (500, "busy"),  # it fails: the careers kind stays wanted, its other links stay
    })
    settings = load_settings(enrich_allow_private_networks=True, crawl_domain_min_interval_s=0.0,
                             crawl_retry_backoff_s=0.01)
    home_url = server.url("/")
    async with make_web_client(settings) as web:
        homepage = FetchResult(url=home_url, final_url=home_url, status=200, text=home)
        crawled = await crawl_site(web, homepage, extract_page(home_url, home, role="home"), max_pages=8,
                                   reader=None, text_limit=10_000)
    paths = [s.path for s in server.log if s.path != "/robots.txt"]
    # One request per page: about (menu or footer link), careers/index.htm (failed, so the
    # careers kind was still wanted: its three other links were the same page), contact, then
    # the common /careers path.
    assert sorted(p.split("?")[0].rstrip("/") for p in paths) == ["/about", "/careers", "/careers/index.htm", "/contact"]
    assert not [p for p in paths if "utm_" in p]  # tracking parameters never reach the site
    assert crawled.fetched == 4


# --- LinkedIn ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("href", [
    "https://www.linkedin.com/company/harbour-tiles",
    "https://www.linkedin.com/company/harbour-tiles?trk=public_profile_topcard-name",
    "https://sg.linkedin.com/company/harbour-tiles/",
    "https://linkedin.com/company/harbour-tiles/about/",
    "http://www.linkedin.com/company/Harbour-Tiles",
    "//m.linkedin.com/company/harbour-tiles/posts/?feedView=all",
])
def test_a_company_page_however_it_is_linked(href: str) -> None:
    body = f"""<footer><ul class="social-icons">
      <li><a href="https://www.facebook.com/harbourtiles" aria-label="Facebook"><i class="fab fa-facebook-f"></i></a></li>
      <li><a href="{href}" target="_blank" aria-label="LinkedIn"><i class="fab fa-linkedin-in" aria-hidden="true"></i></a></li>
    </ul></footer>"""
    facts = extract_page(SITE, page(body), role="home")
    assert facts.linkedin_url is not None
    assert facts.linkedin_url.value == "https://www.linkedin.com/company/harbour-tiles"
    assert facts.socials["linkedin"] == facts.linkedin_url


def test_share_links_and_personal_profiles_are_not_the_company_page() -> None:
    body = """
    <a href="https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Fwww.harbourtiles.com.sg%2F">Share</a>
    <a href="https://www.linkedin.com/shareArticle?mini=true&amp;url=x">Share</a>
    <a href="https://sg.linkedin.com/in/jasmine-tan-4b1a2c3/">Connect with our founder</a>
    <a href="https://www.linkedin.com/pub/jasmine-tan/1/2/3">Profile</a>
    <a href="https://www.linkedin.com/feed/update/urn:li:activity:1234/">Our post</a>"""
    facts = extract_page(SITE, page(body), role="about")
    assert facts.linkedin_url is None and "linkedin" not in facts.socials
    # With the company page on the same page, the page wins.
    facts = extract_page(SITE, page(body + '<a href="https://sg.linkedin.com/company/harbour-tiles">in</a>'),
                         role="about")
    assert facts.linkedin_url is not None
    assert facts.linkedin_url.value == "https://www.linkedin.com/company/harbour-tiles"


def test_a_company_page_written_in_a_readers_text() -> None:
    # A script-only site read through a reader service: links come back as text.
    text = "Follow us: [LinkedIn](https://sg.linkedin.com/company/harbour-tiles/) [Share](https://www.linkedin.com/in/x)"
    facts = extract_page(SITE, f"<html><body><pre>{text}</pre></body></html>", role="home")
    assert facts.linkedin_url is not None
    assert (facts.linkedin_url.value, facts.linkedin_url.method) == (
        "https://www.linkedin.com/company/harbour-tiles", "text")
