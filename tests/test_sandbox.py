"""The sandbox web, driven over real HTTP through its proxy with httpx (not the product's client)."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import socket
import subprocess
import sys
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import phonenumbers
import pytest
from protego import Protego
from selectolax.lexbor import LexborHTMLParser

from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.sandbox.markup import AGENCIES, cf_decode
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.sandbox.vendors.zerobounce import BAD_KEY
from acra_enrich.sandbox.world import ALL_HARD_CASES, LIVE_STATUSES, SandboxCompany, build_world, world_from_records

SEED, COMPANIES = 7, 150
HAZARD_PATHS = {"/news", "/catalogue", "/brochure", "/offers"}  # slow, huge, bomb, loop: fetched only on purpose
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ASSET = (".png", ".jpg", ".jpeg", ".svg", ".gif")


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=SEED, companies=COMPANIES, hang_s=5) as handle:
        yield handle


@pytest.fixture
def client(sb: SandboxHandle) -> Iterator[httpx.Client]:
    sb.reset()
    with httpx.Client(proxy=sb.proxy_url, timeout=5) as c:
        yield c


def first(sb: SandboxHandle, case: str) -> SandboxCompany:
    found = sb.world.with_case(case)
    assert found, f"no company with {case} in the test world"
    return found[0]


# ----------------------------------------------------------------------------- helpers


def page_text(response: httpx.Response, charset: str) -> str:
    return response.content.decode(charset)


def emails_in(markup: str) -> set[str]:
    """Emails a careful extractor finds: plain, mailto, Cloudflare-protected, [at]/[dot], (at)."""
    text = html.unescape(markup)
    found = {e.lower() for e in _EMAIL.findall(text) if not e.lower().endswith(_ASSET)}
    found |= {cf_decode(h) for h in re.findall(r'data-cfemail="([0-9a-f]+)"', text)}
    for m in re.finditer(r"([\w.+-]+) \[at\] ((?:[\w-]+ \[dot\] )+[\w-]+)", text):
        found.add(f"{m.group(1)}@{m.group(2).replace(' [dot] ', '.')}".lower())
    for m in re.finditer(r"([\w.+-]+)\(at\)([\w.-]+\.\w+)", text):
        found.add(f"{m.group(1)}@{m.group(2)}".lower())
    return found


AGENCY_EMAILS = {f"{mailbox}@{domain}" for _, domain, mailbox in AGENCIES}


def markup_number(e164: str, national: bool) -> str:
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if national else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(phonenumbers.parse(e164), fmt)


def phones_in(markup: str) -> set[str]:
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", markup, flags=re.S)
    return {phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            for m in phonenumbers.PhoneNumberMatcher(html.unescape(visible), "SG")}


def crawl(client: httpx.Client, host: str, charset: str, max_pages: int = 20) -> dict[str, str]:
    """Breadth-first over same-host links from the home page, obeying robots.txt."""
    robots = Protego.parse(client.get(f"http://{host}/robots.txt").text)
    pages: dict[str, str] = {}
    queue = deque(["/"])
    while queue and len(pages) < max_pages:
        path = queue.popleft()
        if path in pages or path in HAZARD_PATHS or not robots.can_fetch(f"http://{host}{path}", "sandbox-test"):
            continue
        r = client.get(f"http://{host}{path}")
        assert r.status_code == 200, (host, path, r.status_code)
        pages[path] = page_text(r, charset)
        for href in re.findall(r'href="([^"]+)"', pages[path]):
            url = urlsplit(urljoin(f"http://{host}{path}", html.unescape(href)))
            if url.hostname == host and not url.path.endswith((*_ASSET, ".js", ".css")) and "cdn-cgi" not in url.path:
                queue.append(url.path or "/")
    return pages


def ddg_results(markup: str) -> list[str]:
    """Target URLs of organic results, parsed with the selectors the real page documents."""
    urls = []
    for node in LexborHTMLParser(markup).css("div.result"):
        if "result--ad" in (node.attributes.get("class") or ""):
            continue
        href = node.css_first("a.result__a").attributes["href"] or ""
        assert href.startswith("//duckduckgo.com/l/?uddg=")
        urls.append(parse_qs(urlsplit("https:" + href).query)["uddg"][0])
        assert node.css_first("a.result__snippet") is not None
    return urls


# ------------------------------------------------------------------------------- world


def test_world_is_the_sample_file_and_deterministic() -> None:
    out = io.BytesIO()
    write_acra_csv(out, rows=60, seed=SEED)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    small, again, big = build_world(SEED, 60), build_world(SEED, 60), build_world(SEED, COMPANIES)
    assert [(c.uen, c.name, c.status) for c in small.companies] == [
        (r["uen"], r["entity_name"], r["entity_status_description"]) for r in rows]
    assert small.companies == again.companies
    assert big.companies[:60] == small.companies  # a company does not depend on the world's size
    assert build_world(SEED + 1, 60).companies != small.companies
    real = world_from_records([{"uen": "201912345A", "entity_name": "KATRAZEN TRADING PTE. LTD."}], seed=1)
    assert [c.uen for c in real.companies] == ["201912345A"]


def test_world_mix_looks_like_the_real_web() -> None:
    world = build_world(SEED, 2000)
    live = [c for c in world.companies if c.status in LIVE_STATUSES]
    gone = [c for c in world.companies if c.status not in LIVE_STATUSES]
    sites = [c for c in world.companies if c.truth.domain]
    assert 0.55 <= sum(1 for c in live if c.truth.domain) / len(live) <= 0.65
    assert sum(1 for c in gone if c.truth.domain) / len(gone) < 0.1
    assert 0.1 <= sum(1 for c in sites if c.truth.found_by == "search_only") / len(sites) <= 0.35
    assert len({c.truth.domain for c in sites}) == len(sites)  # no two companies share a domain
    for c in sites:
        local = [p for p in c.truth.phones if p.startswith("+65")]
        assert local and all(re.fullmatch(r"\+65[689]\d{7}", p) for p in local)
        overseas = {o.phone for o in c.truth.offices} | {o.fax for o in c.truth.offices if o.fax}
        assert set(c.truth.phones) - set(local) == {o.phone for o in c.truth.offices}
        assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in overseas)
        assert not set(c.truth.faxes) & set(c.truth.phones)
        assert not set(c.truth.bait_emails) & set(c.truth.emails)
        assert c.truth.domain not in c.truth.decoy_domains
    # Singapore contact pages often print a fax beside the phone; some list offices abroad.
    assert 0.3 <= sum(1 for c in sites if any(f.startswith("+65") for f in c.truth.faxes)) / len(sites) <= 0.6
    assert 0.08 <= sum(1 for c in sites if c.truth.offices) / len(sites) <= 0.25


def test_every_hard_case_is_present(sb: SandboxHandle) -> None:
    counts = Counter(case for c in sb.world.companies for case in c.truth.hard_cases)
    assert set(ALL_HARD_CASES) <= set(counts)


# ------------------------------------------------------------------------------- sites


def test_sites_hold_exactly_the_truth(sb: SandboxHandle, client: httpx.Client) -> None:
    checked = 0
    for c in sb.world.companies:
        t = c.truth
        if t.site_host is None or "script_only" in t.hard_cases:
            continue
        pages = crawl(client, t.site_host, t.charset)
        markup = "\n".join(pages.values())
        # Besides the company's addresses, only the web agency's on its credit line.
        assert set(t.emails) <= emails_in(markup) <= set(t.emails) | AGENCY_EMAILS, c.uen
        # Singapore numbers read as such; an overseas office's numbers as printed in its block.
        assert {n for n in phones_in(markup) if n.startswith("+65")} == {
            n for n in (*t.phones, *t.faxes) if n.startswith("+65")}, c.uen
        for office in t.offices:
            assert markup_number(office.phone, office.national) in html.unescape(markup), c.uen
        assert t.about_text and t.about_text in html.unescape(markup), c.uen
        # The company page as the site links it (a country subdomain, ?trk=, capitals...).
        linkedin_slugs = set(re.findall(r"linkedin\.com/company/([\w-]+)", markup))
        assert {s.lower() for s in linkedin_slugs} == ({t.linkedin_url.rsplit("/", 1)[1]} if t.linkedin_url else set())
        if "careers_page" in t.hard_cases and "external_ats" not in t.hard_cases:
            assert markup.count('class="job-opening"') == t.jobs_count
        if "employee_hint" in t.hard_cases:
            assert str(t.employees_est) in html.unescape(markup)
        if t.uen_on_site:
            assert c.uen in markup
        for case, marker in (("WordPress", 'content="WordPress'), ("Google Analytics", "googletagmanager.com/gtag/js"),
                             ("Shopify", "cdn.shopify.com"), ("HubSpot", "js.hs-scripts.com")):
            assert (marker in markup) == (case in t.tech_stack), (c.uen, case)
        checked += 1
    assert checked > 40


def test_robots_disallowed_path_holds_only_bait(sb: SandboxHandle, client: httpx.Client) -> None:
    c = first(sb, "robots_bait")
    host = c.truth.site_host
    robots = Protego.parse(client.get(f"http://{host}/robots.txt").text)
    home = client.get(f"http://{host}/").text
    bait_link = next(h for h in re.findall(r'href="([^"]+)"', home) if h.startswith("/internal/"))
    assert not robots.can_fetch(f"http://{host}{bait_link}", "any-bot")
    bait = client.get(f"http://{host}{bait_link}").text
    assert set(c.truth.bait_emails) <= emails_in(bait) and set(c.truth.bait_phones) <= phones_in(bait)
    delayed = first(sb, "crawl_delay")
    robots = Protego.parse(client.get(f"http://{delayed.truth.site_host}/robots.txt").text)
    assert robots.crawl_delay("any-bot") == delayed.truth.crawl_delay_s


def test_contact_page_two_clicks_deep(sb: SandboxHandle, client: httpx.Client) -> None:
    c = first(sb, "contact_two_deep")
    t = c.truth
    home = client.get(f"http://{t.site_host}/").text
    assert not emails_in(home) - AGENCY_EMAILS and not phones_in(home)
    pages = crawl(client, t.site_host, t.charset)
    holder = [p for p, text in pages.items() if phones_in(text)]
    assert len(holder) == 1 and holder[0] not in re.findall(r'href="([^"]+)"', home)


@pytest.mark.parametrize("case", ["cloudflare_email", "obfuscated_at_dot", "obfuscated_paren_at", "mailto_only"])
def test_emails_are_never_in_plain_sight_when_obfuscated(sb: SandboxHandle, client: httpx.Client, case: str) -> None:
    c = first(sb, case)
    markup = "\n".join(crawl(client, c.truth.site_host, c.truth.charset).values())
    visible = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    assert c.truth.emails and not any(e in visible for e in c.truth.emails)
    assert emails_in(markup) - AGENCY_EMAILS == set(c.truth.emails)


def test_structured_data_and_asset_names(sb: SandboxHandle, client: httpx.Client) -> None:
    c = first(sb, "jsonld_org")
    home = client.get(f"http://{c.truth.site_host}/").content.decode(c.truth.charset)
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', home, re.S).group(1))
    assert data["@type"] == "Organization" and data["numberOfEmployees"]["value"] == c.truth.employees_est
    assert data["address"]["postalCode"] == c.truth.address.postal_code
    if c.truth.linkedin_url:
        assert c.truth.linkedin_url in data["sameAs"]
    m = first(sb, "microdata_og")
    pages = "\n".join(crawl(client, m.truth.site_host, m.truth.charset).values())
    assert 'property="og:site_name"' in pages and 'itemtype="https://schema.org/PostalAddress"' in pages
    a = first(sb, "asset_email_names")
    home = client.get(f"http://{a.truth.site_host}/").text
    assert "logo@2x.png" in home and "logo@2x.png" not in emails_in(home)


@pytest.mark.parametrize("case", ["charset_cp1252", "charset_shift_jis", "charset_gb2312", "charset_undeclared"])
def test_non_utf8_sites(sb: SandboxHandle, client: httpx.Client, case: str) -> None:
    c = first(sb, case)
    pages = crawl(client, c.truth.site_host, c.truth.charset)
    about = next(text for text in pages.values() if c.truth.about_text in html.unescape(text))
    assert not c.truth.about_text.isascii()
    raw = about.encode(c.truth.charset)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    r = client.get(f"http://{c.truth.site_host}/")
    declared = "charset" in r.headers["content-type"] or "charset" in r.text.lower()
    assert declared == (case != "charset_undeclared")


def test_redirects_decoys_and_soft_404(sb: SandboxHandle, client: httpx.Client) -> None:
    alias = first(sb, "redirect_alias")
    r = client.get(f"http://{alias.truth.alias_domains[0]}/about?x=1")
    assert r.status_code == 301 and r.headers["location"] == f"http://{alias.truth.site_host}/about?x=1"
    with pytest.raises(httpx.TooManyRedirects):
        client.get(f"http://{first(sb, 'redirect_loop').truth.site_host}/offers", follow_redirects=True)
    parked = first(sb, "parked_decoy")
    page = client.get(f"http://{parked.truth.decoy_domains[0]}/").text
    assert "may be for sale" in page and parked.uen not in page
    look = first(sb, "lookalike_decoy")
    decoy_home = client.get(f"http://{look.truth.decoy_domains[0]}/", follow_redirects=True)
    footer_uen = re.search(r"UEN: (\w+)", decoy_home.text).group(1)
    assert footer_uen != look.uen and look.truth.decoy_domains[0] != look.truth.domain
    assert client.get(f"http://{first(sb, 'soft_404').truth.site_host}/no-such-page").status_code == 200
    normal = next(c for c in sb.world.companies if c.truth.site_host and "soft_404" not in c.truth.hard_cases)
    assert client.get(f"http://{normal.truth.site_host}/no-such-page").status_code == 404


def test_pathological_pages(sb: SandboxHandle, client: httpx.Client) -> None:
    bomb = first(sb, "gzip_bomb")
    with client.stream("GET", f"http://{bomb.truth.site_host}/brochure", headers={"Accept-Encoding": "identity"}) as r:
        raw = b"".join(r.iter_raw())  # sent gzipped even though the client asked for identity
    assert r.headers["content-encoding"] == "gzip" and len(raw) < 1024 * 1024
    inflated = zlib.decompressobj(31).decompress(raw, 6 * 1024 * 1024)
    assert len(inflated) == 6 * 1024 * 1024  # capped here; the whole stream is far larger
    huge = first(sb, "huge_page")
    with client.stream("GET", f"http://{huge.truth.site_host}/catalogue") as r:
        assert "content-length" not in r.headers
        assert sum(len(b) for b in r.iter_raw()) > 5 * 1024 * 1024
    slow = first(sb, "slow_page")
    with httpx.Client(proxy=sb.proxy_url, timeout=httpx.Timeout(5, read=0.2)) as impatient, \
            impatient.stream("GET", f"http://{slow.truth.site_host}/news") as r, pytest.raises(httpx.ReadTimeout):
        for _ in r.iter_raw():  # the head arrives at once, then the page drips
            pass
    ats = first(sb, "external_ats")
    board = client.get(ats.truth.ats_url.replace("https://", "http://")).text
    assert board.count('class="opening"') == ats.truth.jobs_count


# ------------------------------------------------------------------------------ proxy


def test_connect_is_refused_and_unknown_hosts_fail(sb: SandboxHandle, client: httpx.Client) -> None:
    site = next(c for c in sb.world.companies if c.truth.site_host)
    with pytest.raises(httpx.ProxyError):
        client.get(f"https://{site.truth.site_host}/")
    with socket.create_connection(("127.0.0.1", sb.port)) as s:
        s.sendall(f"CONNECT {site.truth.site_host}:443 HTTP/1.1\r\nHost: {site.truth.site_host}:443\r\n\r\n".encode())
        assert s.recv(64).startswith(b"HTTP/1.1 405")
    assert client.get("http://no-such-company-anywhere.sg/").status_code == 502
    assert [r.status for r in sb.requests() if r.method == "CONNECT"] == [405, 405]
    # origin form with a Host header reaches the same site
    direct = httpx.get(f"http://127.0.0.1:{sb.port}/", headers={"Host": site.truth.site_host})
    assert direct.status_code == 200 and site.truth.about_text.split(" ")[0] in direct.text


# ------------------------------------------------------------------------------ vendors


def test_ddg_ranks_directories_above_the_site_for_some(sb: SandboxHandle, client: httpx.Client) -> None:
    above = next(c for c in sb.world.with_case("directory_above") if c.truth.linkedin_url)
    urls = ddg_results(client.post("http://html.duckduckgo.com/html/", data={"q": above.name}).text)
    site = f"https://{above.truth.site_host}/"
    assert site in urls
    assert any(u.startswith(("https://www.sgpbusiness.com", "https://opengovsg.com", "https://recordowl.com"))
               for u in urls[:urls.index(site)])
    assert above.truth.linkedin_url in urls[:urls.index(site)]
    plain = next(c for c in sb.world.companies if c.truth.domain and not c.truth.hard_cases & {
        "directory_above", "lookalike_decoy"})
    urls = ddg_results(client.get("http://html.duckduckgo.com/html/", params={"q": f"{plain.brand} singapore"}).text)
    assert urls[0] == f"https://{plain.truth.site_host}/"
    none = client.post("http://html.duckduckgo.com/html/", data={"q": "zzqx nothing matches this"}).text
    assert ddg_results(none) == [] and "no-results" in none


def test_ddg_answers_202_after_the_limit(sb: SandboxHandle, client: httpx.Client) -> None:
    sb.set_ddg_rate_limit(2, window_s=60)
    try:
        answers = [client.post("http://html.duckduckgo.com/html/", data={"q": f"query {i}"}) for i in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 202]
        assert "anomaly-modal" in answers[2].text and not ddg_results(answers[2].text)
        client.post("http://sandbox.control/ddg", json={"limit": 1000})
        assert client.post("http://html.duckduckgo.com/html/", data={"q": "again"}).status_code == 200
    finally:
        sb.set_ddg_rate_limit(1000, window_s=60)


def test_jina_renders_script_only_pages(sb: SandboxHandle, client: httpx.Client) -> None:
    c = first(sb, "script_only")
    t = c.truth
    shell = client.get(f"http://{t.site_host}/").text
    assert 'id="root"' in shell and t.about_text[:40] not in shell and not emails_in(shell)
    pages = [client.get(f"http://r.jina.ai/https://{t.site_host}{p}", headers={"Accept": "application/json"}).json()
             for p in ("/", "/about-us", "/about", "/about-us/", "/about.html", "/contact-us", "/contact",
                       "/contact/", "/contact.html")]
    assert all(p["code"] == 200 and p["data"]["usage"]["tokens"] > 0 for p in pages)
    content = "\n".join(p["data"]["content"] for p in pages if "warning" not in p["data"])
    assert t.about_text in content and set(t.emails) <= emails_in(content)
    text = client.get(f"http://r.jina.ai/http://{t.site_host}/").text
    assert text.startswith("Title: ") and "Markdown Content:" in text
    missing = client.get("http://r.jina.ai/https://no-such-host.sg/")
    assert missing.status_code == 422 and missing.json()["data"] is None


def _corpus(client: httpx.Client, c: SandboxCompany) -> str:
    return "\n\n".join(client.get(f"http://r.jina.ai/http://{c.truth.site_host}{p}").text
                       for p in ("/", "/about-us", "/about", "/contact-us", "/contact", "/contact.html", "/contact/"))


def _chat(client: httpx.Client, corpus: str, key: str | None = "sk-test") -> httpx.Response:
    schema = {"type": "object", "additionalProperties": False,
              "required": ["about_text", "emails", "phones", "linkedin_url", "employees_est"],
              "properties": {"about_text": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                             "emails": {"type": "array", "items": {"type": "string"}},
                             "phones": {"type": "array", "items": {"type": "string"}},
                             "linkedin_url": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                             "employees_est": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("http://api.openai.com/v1/chat/completions", headers=headers, json={
        "model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Extract company facts."},
                                             {"role": "user", "content": corpus}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "facts", "schema": schema, "strict": True}}})


def test_openai_shape_and_invented_values(sb: SandboxHandle, client: httpx.Client) -> None:
    liar = next(c for c in sb.world.with_case("llm_invents") if "script_only" not in c.truth.hard_cases)
    corpus = _corpus(client, liar)
    body = _chat(client, corpus).json()
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    facts = json.loads(body["choices"][0]["message"]["content"])
    assert set(facts) == {"about_text", "emails", "phones", "linkedin_url", "employees_est"}
    invented_email = liar.truth.llm_invented[0]
    assert invented_email in facts["emails"] and invented_email not in corpus
    assert set(liar.truth.emails) <= set(facts["emails"])
    honest = next(c for c in sb.world.companies if c.truth.emails and c.truth.site_host
                  and not c.truth.hard_cases & {"llm_invents", "script_only"})
    facts = json.loads(_chat(client, _corpus(client, honest)).json()["choices"][0]["message"]["content"])
    assert set(facts["emails"]) == set(honest.truth.emails)
    assert {re.sub(r"\D", "", p) for p in facts["phones"]} == {p[1:] for p in honest.truth.phones}
    denied = _chat(client, "x", key=None)
    assert denied.status_code == 401 and set(denied.json()["error"]) == {"message", "type", "param", "code"}
    assert _chat(client, "x", key="sk-invalid").json()["error"]["code"] == "invalid_api_key"


def test_openai_strict_schema_refusals_and_the_token_limit(sb: SandboxHandle, client: httpx.Client) -> None:
    def ask(schema: dict[str, Any], **extra: Any) -> httpx.Response:
        return client.post("http://api.openai.com/v1/chat/completions", headers={"Authorization": "Bearer sk-test"},
                           json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], **extra,
                                 "response_format": {"type": "json_schema", "json_schema": {
                                     "name": "facts", "schema": schema, "strict": True}}})

    open_object = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    refused = ask(open_object)
    assert refused.status_code == 400 and refused.json()["error"] == {
        "message": "Invalid schema for response_format 'facts': In context=(), 'additionalProperties' is required "
                   "to be supplied and to be false.",
        "type": "invalid_request_error", "param": "response_format", "code": None}
    nested = {"type": "object", "additionalProperties": False, "required": ["a"], "properties": {"a": {
        "type": "object", "additionalProperties": False, "required": ["b"],
        "properties": {"b": {"type": "string"}, "c": {"type": "string"}}}}}
    assert ask(nested).json()["error"]["message"].endswith(
        "In context=('properties', 'a'), 'required' is required to be supplied and to be an array including every "
        "key in properties. Missing 'c'.")
    long = {"type": "object", "additionalProperties": False, "required": ["about_text"],
            "properties": {"about_text": {"type": "string"}}}
    text = "Acme Widgets was established in 1999 and provides widgets to builders across the region."
    whole = ask(long, messages=[{"role": "user", "content": text}]).json()
    assert json.loads(whole["choices"][0]["message"]["content"]) == {"about_text": text}
    cut = ask(long, max_tokens=3, messages=[{"role": "user", "content": text}]).json()
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 3
    assert len(cut["choices"][0]["message"]["content"]) == 12


def test_zerobounce_verdicts_bad_key_and_batch(sb: SandboxHandle, client: httpx.Client) -> None:
    bad = client.get("http://api.zerobounce.net/v2/validate", params={"api_key": "invalid", "email": "a@b.com"})
    assert bad.status_code == 200 and bad.json() == {"error": BAD_KEY}
    liar = next(c for c in sb.world.with_case("llm_invents") if not c.truth.catch_all)
    known = next(c for c in sb.world.companies if c.truth.emails and c.truth.domain
                 and not c.truth.catch_all and c.truth.emails[0].endswith(c.truth.domain))
    one = client.get("http://api.zerobounce.net/v2/validate",
                     params={"api_key": "k", "email": known.truth.emails[0], "ip_address": ""}).json()
    assert one["address"] == known.truth.emails[0] and one["status"] in ("valid", "do_not_mail", "unknown")
    assert {"sub_status", "free_email", "mx_found", "processed_at"} <= set(one)
    batch = client.post("http://bulkapi.zerobounce.net/v2/validatebatch", json={"api_key": "k", "email_batch": [
        {"email_address": liar.truth.llm_invented[0], "ip_address": None},
        {"email_address": "someone@no-such-domain-xyz.com", "ip_address": None},
        {"ip_address": "1.2.3.4"}]}).json()
    assert [r["status"] for r in batch["email_batch"]] == ["invalid", "invalid"]
    assert batch["email_batch"][0]["sub_status"] == "mailbox_not_found" and len(batch["errors"]) == 1
    verdicts = Counter(client.get("http://api.zerobounce.net/v2/validate", params={"api_key": "k", "email": e})
                       .json()["status"] for c in sb.world.companies if not c.truth.catch_all for e in c.truth.emails)
    assert verdicts["valid"] > 0.7 * sum(verdicts.values())
    bulk_bad = client.post("http://bulkapi.zerobounce.net/v2/validatebatch",
                           json={"api_key": "invalid-key", "email_batch": [{"email_address": "a@b.com"}]})
    assert bulk_bad.status_code == 200 and bulk_bad.json()["errors"][0]["error"] == BAD_KEY


def test_tavily_apify_lusha_slack(sb: SandboxHandle, client: httpx.Client) -> None:
    c = next(x for x in sb.world.companies if x.truth.site_host and x.truth.linkedin_url
             and any(p.known_to_lusha for p in x.truth.people))
    assert client.post("http://api.tavily.com/search", json={"query": c.name}).status_code == 401
    found = client.post("http://api.tavily.com/search", headers={"Authorization": "Bearer tvly-test"},
                        json={"query": c.name, "max_results": 10}).json()
    assert f"https://{c.truth.site_host}/" in [r["url"] for r in found["results"]]
    assert all(0 < r["score"] <= 1 for r in found["results"])
    script = first(sb, "script_only")
    extracted = client.post("http://api.tavily.com/extract", json={
        "api_key": "tvly-test", "urls": [f"https://{script.truth.site_host}/", "https://nowhere-xyz.sg/"]}).json()
    assert script.truth.about_text.split(".")[0][:30] in extracted["results"][0]["raw_content"]
    assert extracted["failed_results"][0]["url"] == "https://nowhere-xyz.sg/"

    actor = "http://api.apify.com/v2/acts/harvestapi~linkedin-company-employees/run-sync-get-dataset-items"
    assert client.post(actor, json={}).json()["error"]["type"] == "token-not-provided"
    people = client.post(actor, params={"token": "apify_api_x"}, json={"companies": [c.truth.linkedin_url]})
    assert people.status_code == 201
    assert [p["profileUrl"] for p in people.json()] == [p.linkedin_url for p in c.truth.people]

    person = next(p for p in c.truth.people if p.known_to_lusha)
    params = {"firstName": person.first_name, "lastName": person.last_name, "companyDomain": c.truth.domain}
    assert client.get("http://api.lusha.com/v2/person", params=params).status_code == 401
    got = client.get("http://api.lusha.com/v2/person", params=params, headers={"api_key": "lusha-k"}).json()
    assert got["contact"]["isCreditCharged"] and got["contact"]["data"]["emailAddresses"][0]["email"] == person.email
    miss = client.get("http://api.lusha.com/v2/person", headers={"api_key": "lusha-k"},
                      params={**params, "lastName": "Nobody"}).json()
    assert miss["contact"]["data"] is None and not miss["contact"]["isCreditCharged"]

    hook = "http://hooks.slack.com/services/T000/B000/XXX"
    assert client.post(hook, json={"text": "3 failures"}).text == "ok"
    assert client.post(hook, json={}).text == "no_text"
    assert (client.post(hook, content=b"{nope").status_code, client.post(hook, content=b"{nope").text) == (
        400, "invalid_payload")
    assert client.post("http://hooks.slack.com/services/nothing", json={"text": "x"}).text == "no_service"
    assert client.get("http://sandbox.control/slack").json()["messages"][0]["payload"] == {"text": "3 failures"}


# ------------------------------------------------------------------------------- faults


def test_faults_are_answered_in_each_vendors_shape(sb: SandboxHandle, client: httpx.Client) -> None:
    sb.faults.inject("zerobounce", "429")
    validate = ("http://api.zerobounce.net/v2/validate", {"api_key": "k", "email": "a@b.com"})
    r = client.get(validate[0], params=validate[1])
    assert r.status_code == 429 and r.headers["retry-after"]
    assert client.get(validate[0], params=validate[1]).status_code == 200
    scripted = client.post("http://sandbox.control/faults", json={"vendor": "openai", "mode": "500", "count": 2})
    assert scripted.json()["ok"]
    for _ in range(2):
        r = _chat(client, "x")
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    assert _chat(client, "x").status_code == 200
    sb.faults.inject("ddg", "202")
    assert client.post("http://html.duckduckgo.com/html/", data={"q": "x"}).status_code == 202
    sb.faults.inject("jina", "bad_json")
    with pytest.raises(json.JSONDecodeError):
        client.get("http://r.jina.ai/http://example.sg/", headers={"Accept": "application/json"}).json()
    sb.faults.inject("apify", "timeout")
    assert client.post("http://api.apify.com/v2/acts/a~b/run-sync-get-dataset-items?token=t", json={}).json()[
        "error"]["type"] == "run-timeout-exceeded"
    sb.faults.inject("lusha", "timeout")
    with pytest.raises(httpx.ReadTimeout):
        client.get("http://api.lusha.com/v2/person", headers={"api_key": "k"}, timeout=0.5)
    site = next(c for c in sb.world.companies if c.truth.site_host)
    sb.faults.inject(site.truth.site_host, "503")
    assert client.get(f"http://{site.truth.site_host}/").status_code == 503
    assert client.post("http://sandbox.control/faults", json={"vendor": "x", "mode": "nope"}).status_code == 400


# ------------------------------------------------------------------------- control, log, cli


def test_request_log_and_control_api(sb: SandboxHandle, client: httpx.Client) -> None:
    site = next(c for c in sb.world.companies if c.truth.site_host)
    client.get(f"http://{site.truth.site_host}/", headers={"User-Agent": "probe/1"})
    client.get(f"http://{site.truth.site_host}/robots.txt")
    log = client.get("http://sandbox.control/requests", params={"host": site.truth.site_host}).json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("GET", "/", 200), ("GET", "/robots.txt", 200)]
    assert log[0]["user_agent"] == "probe/1" and log[0]["t_monotonic"] <= log[1]["t_monotonic"]
    assert all(r.host != "sandbox.control" for r in sb.requests())
    since = sb.requests()[-1].seq
    client.get("http://no-such-host.sg/")
    assert [r.host for r in sb.requests(since=since)] == ["no-such-host.sg"]
    truth = client.get(f"http://sandbox.control/truth/{site.uen}").json()
    assert truth["uen"] == site.uen and truth["truth"]["emails"] == list(site.truth.emails)
    assert sorted(truth["truth"]["hard_cases"]) == sorted(site.truth.hard_cases)
    assert client.get("http://sandbox.control/truth/NOPE").status_code == 404
    listed = client.get("http://sandbox.control/companies", params={"case": "gzip_bomb"}).json()["companies"]
    assert [c["uen"] for c in listed] == [c.uen for c in sb.world.with_case("gzip_bomb")]
    health = client.get("http://sandbox.control/health").json()
    assert health["ok"] and health["companies"] == COMPANIES and health["seed"] == SEED
    assert client.post("http://sandbox.control/reset").json()["ok"] and sb.requests() == []
    env = sb.env()
    assert env["ENRICH_HTTP_PROXY"] == sb.proxy_url and env["OPENAI_BASE_URL"] == "http://api.openai.com/v1"
    assert env["ENRICH_ALLOW_PRIVATE_NETWORKS"] == "true" and env["DDG_BASE_URL"] == "http://html.duckduckgo.com/html/"


def test_env_is_accepted_by_the_product_settings(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from acra_enrich.config import load_settings

    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.enrich_http_proxy == sb.proxy_url and settings.enrich_allow_private_networks
    assert settings.zerobounce_bulk_base_url == "http://bulkapi.zerobounce.net"
    assert settings.openai_api_key is not None and settings.slack_webhook_url is not None


def test_cli_serves_until_stopped() -> None:
    cmd = [sys.executable, "-m", "acra_enrich", "sandbox", "serve", "--seed", "3", "--companies", "20", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()  # printed once the server is listening
        assert first_line.startswith("export ENRICH_HTTP_PROXY=http://127.0.0.1:")
        proxy = first_line.strip().partition("=")[2]
        with httpx.Client(proxy=proxy, timeout=5) as c:
            health = c.get("http://sandbox.control/health").json()
        assert health["seed"] == 3 and health["companies"] == 20
    finally:
        proc.terminate()
        proc.wait(timeout=10)
