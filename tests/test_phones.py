"""Phone and fax numbers as real pages print them (issue 13): hand-written pages in the style of
Singapore, US and UK company sites, a Singapore site listing offices abroad, WhatsApp buttons;
fax as its own field, the page's country deciding how a national number is read, tel: links,
companies.phone and companies.fax."""

from __future__ import annotations

import psycopg
from alembic import command
from alembic.script import ScriptDirectory

from acra_enrich.db import connect
from acra_enrich.db.migrate import _alembic_config
from acra_enrich.enrich.discover.identity import identity_score
from acra_enrich.enrich.extract.page import extract_page, merge_facts, page_signals
from acra_enrich.enrich.extract.phones import main_fax, main_phone
from acra_enrich.enrich.facts import PageFacts, Phone
from acra_enrich.enrich.persist.store import PersistInput, persist


def page(body: str, title: str = "Acme", head: str = "") -> str:
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def numbers(facts: PageFacts) -> tuple[dict[str, str], dict[str, str]]:
    """({phone: kind}, {fax: kind}) of one page."""
    return {p.value: p.kind for p in facts.phones}, {f.value: f.kind for f in facts.faxes}


# A Singapore SME's contact page: Tel and Fax on one line, a table, an icon footer, "Tel/Fax".
SG_CONTACT = page("""
<header class="site-header"><nav><a href="/">Home</a><a href="/contact-us">Contact Us</a></nav></header>
<main>
  <h1>Contact Us</h1>
  <div class="wpb_wrapper">
    <p><strong>ACME PRECISION ENGINEERING PTE. LTD.</strong><br>
    No. 8 Kaki Bukit Avenue 4, #05-12 Premier @ Kaki Bukit<br>Singapore 415875</p>
    <p>Tel: +65 6841 2345 &nbsp;&nbsp; Fax: +65 6841 2346</p>
    <p>Email: <a href="mailto:sales@acmeprecision.com.sg">sales@acmeprecision.com.sg</a></p>
  </div>
  <h2>Departments</h2>
  <table class="tablepress">
    <thead><tr><th>Department</th><th>Tel</th><th>Fax</th></tr></thead>
    <tbody>
      <tr><td>Sales</td><td>6841 2350</td><td>6841 2351</td></tr>
      <tr><td>Service</td><td>6841 2360</td><td>6841 2361</td></tr>
    </tbody>
  </table>
  <dl><dt>Facsimile</dt><dd>6841 2399</dd><dt>Mobile</dt><dd>9123 4567</dd></dl>
  <p>After-hours hotline: <a href="tel:+6568412300">6841 2300</a></p>
</main>
<footer class="site-footer">
  <p><i class="fa fa-phone" aria-hidden="true"></i> 6841 2345 <i class="fa fa-fax" aria-hidden="true"></i> 6841 2346</p>
  <p>Tel/Fax: 6841 2377 / 6841 2378</p>
  <p>传真: 6841 2388</p>
  <p>&copy; 2025 Acme Precision Engineering Pte. Ltd.</p>
</footer>""")


def test_singapore_contact_page_keeps_fax_out_of_phones() -> None:
    facts = extract_page("https://www.acmeprecision.com.sg/contact-us", SG_CONTACT, role="contact")
    phones, faxes = numbers(facts)
    assert phones == {
        "+6568412345": "phone", "+6568412350": "phone", "+6568412360": "phone", "+6591234567": "mobile",
        "+6568412300": "hotline", "+6568412377": "phone",
    }
    assert faxes == dict.fromkeys(
        ["+6568412346", "+6568412351", "+6568412361", "+6568412399", "+6568412378", "+6568412388"], "fax")
    assert all(p.basis in ("international", "page") and p.source_url.endswith("/contact-us") for p in facts.phones)
    assert facts.region == "SG"


# A Singapore company's contact page listing its regional offices, numbers in each country's format.
REGIONAL_OFFICES = page("""
<h1>Our Offices</h1>
<div class="office"><h3>Singapore (Headquarters)</h3>
  <p>1 Raffles Place, #20-01 One Raffles Place, Singapore 048616</p>
  <p>T: 6532 1234 | F: 6532 1235</p></div>
<div class="office"><h3>Kuala Lumpur</h3>
  <p>Level 15, Menara Hap Seng, Jalan P. Ramlee, 50250 Kuala Lumpur, Malaysia</p>
  <p>Tel: 03-2161 8888 &nbsp; Fax: 03-2161 8899</p></div>
<div class="office"><h3>Jakarta</h3>
  <p>Wisma Mulia, 21st Floor, Jl. Jend. Gatot Subroto No. 42, Jakarta 12710, Indonesia</p>
  <p>Phone: (021) 5290 1234</p>
  <p>Mobile: +62 812-1234-5678</p></div>
<div class="office"><h3>Hong Kong Office</h3>
  <p>Tel: 2123 4567</p></div>
<p>Jakarta: (021) 5290 9999 (fax)</p>
<p>General enquiries: 6532 1234</p>
""")


def test_regional_offices_are_read_in_their_own_countries() -> None:
    facts = extract_page("https://www.acmegroup.com.sg/offices", REGIONAL_OFFICES, role="contact")
    phones, faxes = numbers(facts)
    assert phones == {
        "+6565321234": "phone", "+60321618888": "phone", "+622152901234": "phone", "+6281212345678": "mobile",
        "+85221234567": "phone",
    }
    assert faxes == {"+6565321235": "fax", "+60321618899": "fax", "+622152909999": "fax"}
    basis = {p.value: p.basis for p in (*facts.phones, *facts.faxes)}
    assert basis["+60321618888"] == basis["+622152901234"] == basis["+85221234567"] == "section"
    assert basis["+6565321234"] == "page" and basis["+6281212345678"] == "international"


# A US company: NANP formats, a toll-free line, a tel: link with other text, a fictional 555 number.
US_PAGE = page("""
<header><a href="tel:505-326-1111" class="header-phone"><span class="icon-phone"></span> Call Us</a></header>
<h1>Contact Desert Tile Supply</h1>
<p>Showroom: 6100 Uptown Blvd NE, Suite 200, Albuquerque, NM 87110</p>
<p>Main: (505) 326-1111 x12 &middot; Toll-free: 1-800-330-8247</p>
<p>Boston office: 1-617-495-6890</p>
<p>Call (555) 123-4567 in the movies, or 1-555-0100.</p>
<p>Catalog lines GRAFIK 5000 / 6000 / 7000</p>
""", title="Desert Tile Supply")


def test_us_page_numbers_keep_their_country() -> None:
    facts = extract_page("https://www.deserttilesupply.com/contact", US_PAGE, role="contact")
    phones, faxes = numbers(facts)
    assert phones == {"+15053261111": "phone", "+18003308247": "toll_free", "+16174956890": "phone"}
    assert not faxes
    assert not [p for p in facts.phones if p.value.startswith("+65")]  # 555 numbers are not real: none invented
    main = next(p for p in facts.phones if p.value == "+15053261111")
    assert (main.method, main.extension, main.basis) == ("tel", "12", "page")
    assert facts.region == "US"


def test_a_page_without_evidence_never_turns_a_foreign_number_into_a_singapore_one() -> None:
    body = ('<p>Questions? Call 800-330-8247 or <a href="tel:1-617-495-6890">our Boston desk</a>.</p>'
            "<p>Sydney: (02) 9191 8364</p><p>Sales 02 9191 8365</p><p>Warehouse: 1-505-326-1111</p>")
    facts = extract_page("https://www.tilesupply.com/", page(body), role="home")
    assert {p.value: p.basis for p in facts.phones} == {
        "+16174956890": "guessed", "+18003308247": "guessed", "+61291918364": "section", "+15053261111": "guessed"}
    assert facts.region is None
    # A guessed number is no evidence that the site is Singaporean either.
    assert not any(p.singapore_evidence for p in facts.phones)


def test_site_evidence_rereads_guessed_numbers_and_a_fax_label_holds_across_pages() -> None:
    home = extract_page("https://www.acme.com/", page("<footer><p>Call 6123 4567 | 6123 4568</p></footer>"),
                        role="home")
    contact = extract_page("https://www.acme.com/contact", page(
        "<p>8 Temasek Boulevard, #22-03 Suntec Tower Three, Singapore 038988</p>"
        "<p>Tel: 6123 4567</p><p>Fax: 6123 4568</p>"), role="contact")
    assert {p.basis for p in home.phones} == {"guessed"}
    merged = merge_facts([home, contact])
    assert [(p.value, p.kind) for p in merged.phones] == [("+6561234567", "phone")]
    assert [(f.value, f.kind) for f in merged.faxes] == [("+6561234568", "fax")]
    assert merged.region == "SG"

    us_home = extract_page("https://www.tiles.com/", page("<p>Order line 800-852-3335</p>"), role="home")
    us_contact = extract_page("https://www.tiles.com/contact", page("<p>88 Main St, Springfield, IL 62701</p>"),
                              role="contact")
    assert [p.value for p in merge_facts([us_home, us_contact]).phones] == ["+18008523335"]
    sg_home = extract_page("https://www.tiles.com/", page("<p>Order line 800 852 3335</p>"), role="home")
    sg_contact = extract_page("https://www.tiles.com/contact", page("<p>Singapore 038988</p>"), role="contact")
    assert [(p.value, p.basis) for p in merge_facts([sg_home, sg_contact]).phones] == [("+658008523335", "site")]


UK_PAGE = page("""
<div class="contact-details">
  <p>Harbour Logistics Ltd, 1 Poultry, London EC2R 8EJ, United Kingdom</p>
  <p>T +44 (0)20 7946 0958 &nbsp; F +44 (0)20 7946 0959</p>
  <p>Switchboard 020 7946 0000 ext. 214</p>
  <p>International: 0044 161 496 0000</p>
</div>""")


def test_uk_page_trunk_zero_inside_international_numbers_and_extensions() -> None:
    facts = extract_page("https://www.harbourlogistics.co.uk/contact", UK_PAGE, role="contact")
    phones, faxes = numbers(facts)
    assert phones == {"+442079460958": "phone", "+442079460000": "phone", "+441614960000": "phone"}
    assert faxes == {"+442079460959": "fax"}
    assert {p.value: p.extension for p in facts.phones}["+442079460000"] == "214"


def test_whatsapp_buttons_are_mobile_numbers_with_their_kind() -> None:
    body = """
    <a class="elementor-button" href="https://wa.me/6591234567?text=Hi%20there">
      <i class="fab fa-whatsapp" aria-hidden="true"></i> Chat with us</a>
    <a href="https://api.whatsapp.com/send?phone=+60123456789&amp;text=Hello">WhatsApp Malaysia</a>
    <p>Mobile / WhatsApp: 9123 4567</p>
    <a href="https://wa.me/123">broken</a>"""
    facts = extract_page("https://www.acme.sg/", page(body), role="home")
    assert {p.value: (p.kind, p.method) for p in facts.phones} == {
        "+6591234567": ("whatsapp", "whatsapp"), "+60123456789": ("whatsapp", "whatsapp")}


def test_structured_fax_number_and_country() -> None:
    head = """<script type="application/ld+json">{"@context": "https://schema.org", "@type": "LocalBusiness",
      "name": "Harimau Trading Sdn Bhd", "telephone": "03-7955 1234", "faxNumber": "03-7955 1235",
      "address": {"@type": "PostalAddress", "addressLocality": "Petaling Jaya", "addressCountry": "MY"}}</script>"""
    facts = extract_page("https://www.harimau.com/", page("<p>Welcome</p>", head=head), role="home")
    assert numbers(facts) == ({"+60379551234": "phone"}, {"+60379551235": "fax"})
    assert facts.region == "MY"


def test_parenthesised_and_idd_country_codes_on_a_foreign_page() -> None:
    body = "<p>Singapore branch (65) 6123 4567, Malaysia HQ 03-2161 8888, from abroad 0065 6123 4569</p>"
    facts = extract_page("https://www.harimau.com.my/", page(body), role="home")
    assert {p.value: p.basis for p in facts.phones} == {
        "+6561234567": "international", "+60321618888": "page", "+6561234569": "international"}


def test_only_numbers_singaporean_as_printed_are_identity_evidence() -> None:
    def sg(url: str, body: str) -> bool:
        facts = extract_page(url, page(body), role="home")
        return identity_score("ACME PTE. LTD.", None, facts, page_signals(page(body), facts.text)).sg_evidence

    assert sg("https://www.acme.com/", "<p>Call +65 6123 4567</p>")
    assert sg("https://www.acme.com.sg/", "<p>Call 6123 4567</p>")  # the .sg site says where it is
    assert not sg("https://www.acme.com/", "<p>Call 6123 4567</p>")  # only guessed to be Singaporean
    assert not sg("https://www.acme.com/", "<p>Toll free 800-330-8247</p>")


def test_main_phone_prefers_a_singapore_main_line_and_is_never_a_fax() -> None:
    url = "https://acme.sg/contact"
    fax = Phone("+6561234568", url, "text", kind="fax")
    kl = Phone("+60321618888", url, "text")
    mobile = Phone("+6591234567", url, "text", kind="mobile")
    main = Phone("+6561234567", url, "text")
    assert main_phone([kl, mobile, fax, main]) == main
    assert main_phone([kl, mobile]) == mobile  # a Singapore mobile before a line abroad
    assert main_phone([Phone("+60123456789", url, "whatsapp", kind="whatsapp"), kl]) == kl
    assert main_phone([fax]) is None
    assert main_fax([Phone("+60321618899", url, "text", kind="fax"), fax]) == fax


def test_persist_writes_phone_and_fax_with_their_sources(db: psycopg.Connection) -> None:
    company_id = db.execute("INSERT INTO companies (uen, name, phone) VALUES ('201912345A', 'ACME PTE. LTD.', "
                            "'+6568412346') RETURNING company_id").fetchone()[0]
    db.commit()
    facts = merge_facts([extract_page("https://www.acmeprecision.com.sg/contact-us", SG_CONTACT, role="contact")])
    history_id = persist(db, PersistInput(company_id=company_id, status="ok", facts=facts))
    # The phone an earlier version stored was this fax: it moves out of `phone`.
    assert db.execute("SELECT phone, fax FROM companies WHERE company_id = %s", (company_id,)).fetchone() == (
        "+6568412345", "+6568412346")
    faxes, fields = db.execute("SELECT faxes, fields FROM company_enrichment_runs WHERE id = %s",
                               (history_id,)).fetchone()
    assert "+6568412346" in faxes and "+6568412346" not in fields["phones"]
    first = fields["faxes"][0]
    assert (first["value"], first["source_url"], first["kind"]) == (
        "+6568412346", "https://www.acmeprecision.com.sg/contact-us", "fax")
    # A later run that finds no phone and no fax keeps both.
    persist(db, PersistInput(company_id=company_id, status="ok", facts=merge_facts([extract_page(
        "https://www.acmeprecision.com.sg/", page("<p>Welcome</p>"), role="home")])))
    assert db.execute("SELECT phone, fax FROM companies WHERE company_id = %s", (company_id,)).fetchone() == (
        "+6568412345", "+6568412346")


def test_fax_migration_runs_forward_on_a_database_with_rows(blank_database: str) -> None:
    cfg = _alembic_config(blank_database)
    fax_revision = next(r for r in ScriptDirectory.from_config(cfg).walk_revisions() if "companies.fax" in (r.doc or ""))
    command.upgrade(cfg, fax_revision.down_revision)
    with psycopg.connect(blank_database) as conn:
        company_id = conn.execute("INSERT INTO companies (uen, name, phone) VALUES ('201912345A', 'ACME PTE. LTD.', "
                                  "'+6561234567') RETURNING company_id").fetchone()[0]
        conn.execute("INSERT INTO company_enrichment_runs (company_id, status, phones) VALUES (%s, 'ok', '[]')",
                     (company_id,))
    command.upgrade(cfg, "head")
    with psycopg.connect(blank_database) as conn:
        assert conn.execute("SELECT phone, fax FROM companies").fetchall() == [("+6561234567", None)]
        assert conn.execute("SELECT count(*), count(faxes) FROM company_enrichment_runs").fetchone() == (1, 0)
