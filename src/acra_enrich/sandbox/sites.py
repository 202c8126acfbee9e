"""Company websites rendered from the truth, page by page, on demand.

Every page is built as blocks of (html, markdown): the HTML is what the crawler gets (in one
of four templates, with the company's hard cases), the markdown is what a browser-rendering
reader (Jina, Tavily extract) prints for the same page. Both come from the same truth, so a
test can check that the truth really is on the pages and nothing else is.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape

from acra_enrich.sandbox import markup, names
from acra_enrich.sandbox.http import SandboxRequest, SandboxResponse
from acra_enrich.sandbox.responses import gzip_ok, redirect
from acra_enrich.sandbox.world import SandboxCompany, World

BAIT_PATH = "/internal/staff-directory"
HAZARD_PATHS = {"slow_page": "/news", "huge_page": "/catalogue", "gzip_bomb": "/brochure", "redirect_loop": "/offers"}
HAZARD_LABELS = {"slow_page": "Latest news", "huge_page": "Download our full catalogue",
                 "gzip_bomb": "Company brochure", "redirect_loop": "Special offers"}
SLOW_CHUNKS, SLOW_CHUNK_DELAY_S = 60, 0.5  # ~30 s of drip
HUGE_BYTES = 6 * 1024 * 1024
BOMB_BYTES = 128 * 1024 * 1024
_COPYRIGHT_YEAR = 2025  # fixed: pages must not change with the clock

_TEMPLATES: tuple[dict[str, dict[str, str]], ...] = (
    {"paths": {"about": "/about-us", "contact": "/contact-us", "careers": "/careers", "services": "/services"},
     "labels": {"home": "Home", "about": "About Us", "contact": "Contact Us", "careers": "Careers", "services": "Services"}},
    {"paths": {"about": "/about", "contact": "/contact", "careers": "/join-us", "services": "/solutions"},
     "labels": {"home": "Home", "about": "Who we are", "contact": "Get in touch", "careers": "Join us", "services": "Solutions"}},
    {"paths": {"about": "/about-us/", "contact": "/contact/", "careers": "/careers/", "services": "/what-we-do/"},
     "labels": {"home": "Home", "about": "About", "contact": "Contact", "careers": "Careers", "services": "What We Do"}},
    {"paths": {"about": "/about.html", "contact": "/contact.html", "careers": "/jobs.html", "services": "/products.html"},
     "labels": {"home": "Home", "about": "Our Story", "contact": "Contact", "careers": "Jobs", "services": "Products"}},
)
_WORDPRESS = 2
_SERVICES = ("Consultation and planning", "Project management", "Installation and commissioning",
             "Maintenance contracts", "Supply and logistics", "After-sales support", "Training workshops",
             "Design and prototyping", "Quality inspection", "Import and distribution", "Custom solutions")
_TAGLINES = ("Your trusted partner in Singapore", "Quality you can count on", "Building better together",
             "Reliable. Local. Proven.", "Serving Singapore with pride", "Solutions that work for you")
_JOB_TITLES = ("Sales Executive", "Accounts Assistant", "Project Engineer", "Operations Executive",
               "Customer Service Officer", "Marketing Executive", "Site Supervisor", "Admin Assistant",
               "Software Engineer", "Logistics Coordinator", "HR Executive", "Business Development Manager")
_SENTENCE_END = re.compile("".join(f"(?<!{w})(?<!{w.upper()})" for w in ("Pte", "Co", "Ltd", "Bhd", "Inc"))
                           + r"\.\s+(?=[A-Z])")
_PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                         "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


@dataclass
class Page:
    title: str
    blocks: list[markup.Fragment] = field(default_factory=list)
    status: int = 200
    head: str = ""  # extra <head> markup (JSON-LD)

    def add(self, html: str, md: str) -> None:
        self.blocks.append((html, md))


@dataclass(frozen=True)
class Reading:
    """A page as a browser-rendering reader returns it."""

    url: str
    title: str
    markdown: str
    status: int = 200
    html: str = ""


class Site:
    """One company's website: routes, pages and their reader view."""

    def __init__(self, world: World, company: SandboxCompany) -> None:
        t = company.truth
        assert t.site_host and t.domain
        self.company, self.truth, self.host = company, t, t.site_host
        self.cases = t.hard_cases
        r = random.Random(f"acra-sandbox-site:{world.seed}:{company.uen}")
        self.r = r
        self.template = _WORDPRESS if "WordPress" in t.tech_stack else r.choice((0, 1, 3))
        self.paths = _TEMPLATES[self.template]["paths"]
        self.labels = _TEMPLATES[self.template]["labels"]
        self.email_style = next((style for case, style in (
            ("cloudflare_email", "cloudflare"), ("obfuscated_at_dot", "at_dot"),
            ("obfuscated_paren_at", "paren_at"), ("mailto_only", "mailto_only")) if case in self.cases),
            r.choice(("linked", "linked", "plain")))
        self.two_deep = "contact_two_deep" in self.cases
        self.footer_contact = not self.two_deep and r.random() < 0.6
        self.local_phones = [p for p in t.phones if p.startswith("+65")]  # offices' numbers print in their block
        self.phone_variants = [r.randrange(6) for _ in self.local_phones]
        self.phone_linked = r.random() < 0.6
        self.services = r.sample(_SERVICES, 4)
        self.tagline = r.choice(_TAGLINES)
        self.hazard = next((c for c in HAZARD_PATHS if c in self.cases), None)
        self.jobs = [r.choice(_JOB_TITLES) for _ in range(t.jobs_count or 0)]
        self.employee_phrase = r.choice(("a team of {n}+ professionals", "over {n} employees",
                                         "{n} dedicated staff", "a {n}-strong team"))
        # Fax numbers have their own draw, so the rest of the site looks as before they existed.
        nr = random.Random(f"acra-sandbox-numbers:{world.seed}:{company.uen}")
        self.fax = next((f for f in t.faxes if f.startswith("+65")), None)
        styles = [s for s in markup.FAX_STYLES if s != "icon" or "script_only" not in self.cases]
        self.fax_style, self.fax_variant = nr.choice(styles), nr.randrange(6)
        self.fax_in_footer = nr.random() < 0.5
        # The web agency that built the site signs the footer, with its own address.
        self.agency = nr.choice(markup.AGENCIES) if nr.random() < 0.25 else None
        self.agency_style = nr.randrange(3)
        # Analytics-minded sites tag their links: the menu with ?loc=MainNav, the footer's
        # quick links with ?loc=Footer, calls to action with utm_* (the same page each time).
        self.tagged_links = nr.random() < 0.2
        # LinkedIn as sites link it: tracking query, country subdomain, trailing slash, an icon
        # only; beside it, a share button or the founder's personal profile (neither is the page).
        self.linkedin_href = markup.linkedin_variant(t.linkedin_url, nr.randrange(5)) if t.linkedin_url else None
        self.social_icons = nr.random() < 0.4
        self.share_button = nr.random() < 0.3
        self.founder_profile = t.people[0] if t.people and nr.random() < 0.3 else None

    # -- routing ---------------------------------------------------------------------

    def respond(self, req: SandboxRequest) -> SandboxResponse:
        path = req.path or "/"
        if path == "/robots.txt":
            return SandboxResponse.text(self.robots_txt())
        if path == "/sitemap.xml":
            return SandboxResponse.text(self.sitemap(), content_type="application/xml; charset=utf-8")
        if path.startswith(("/assets/", "/wp-content/uploads/")) or path == "/favicon.ico":
            return SandboxResponse(200, {"Content-Type": "image/png"}, _PNG_1PX)
        if path.startswith("/cdn-cgi/l/email-protection") and "cloudflare_email" in self.cases:
            return self._send(Page("Email Protection | Cloudflare", [(
                "<h1>Email Protection</h1><p>You are unable to access this email address.</p>",
                "Email Protection\n\nYou are unable to access this email address.")]))
        if self.hazard and path == HAZARD_PATHS[self.hazard]:
            return self._hazard()
        if self.hazard == "redirect_loop" and path == "/offers/":
            return redirect("/offers", 302)
        if "script_only" in self.cases:
            if path.startswith("/static/js/"):
                return SandboxResponse.text(_SPA_JS, content_type="application/javascript")
            if path == "/api/content":
                page = self.page(req.arg("path") or "/")
                body = {"title": page.title, "markdown": self._markdown(page)} if page else {}
                return SandboxResponse.json(body, 200 if page else 404)
        if self.template == _WORDPRESS and path + "/" in self.paths.values():
            return redirect(path + "/")  # WordPress canonicalises to the trailing slash
        page = self.page(path)
        if page is None:
            page = self._not_found()
        if "script_only" in self.cases and page.status == 200:
            return self._send_shell(page)
        return self._send(page)

    def read(self, path: str) -> Reading:
        """What Jina reader prints for `path` (script-only pages rendered as a browser would)."""
        url = f"https://{self.host}{path}"
        if self.hazard and path == HAZARD_PATHS[self.hazard]:
            if self.hazard == "redirect_loop":
                return Reading(url, "", "", status=508)  # the reader gives up on the loop
            page = self._hazard_page()
            return Reading(url, page.title, self._markdown(page)[:200_000])
        page = self.page(path) or self._not_found()
        return Reading(url, page.title, self._markdown(page), page.status, self._html(page))

    def page(self, path: str) -> Page | None:
        role = self._role(path)
        if role is None:
            return None
        return getattr(self, f"_page_{role}")()

    def page_paths(self) -> list[str]:
        """Paths of the site's crawlable pages (what the sitemap lists)."""
        roles = ["about", "contact", "services"] + (["careers"] if self.truth.jobs_count is not None else [])
        return ["/"] + [self.paths[r] for r in roles]

    def _role(self, path: str) -> str | None:
        if path in ("/", "/index.html", "/index.php", "/home"):
            return "home"
        for role, p in self.paths.items():
            if path == p:
                return None if role == "careers" and self.truth.jobs_count is None else role
        if path == BAIT_PATH and "robots_bait" in self.cases:
            return "bait"
        if path in ("/privacy", "/privacy-policy"):
            return "privacy"
        return None

    # -- pages ---------------------------------------------------------------------

    def _link(self, role: str, label: str | None = None) -> markup.Fragment:
        href, text = self.paths.get(role, "/"), label or self.labels[role]
        if self.tagged_links:
            href += f"?utm_source=website&utm_medium=cta&utm_campaign={role}"
        return f'<a href="{href}">{escape(text)}</a>', f"[{text}](http://{self.host}{href})"

    def _page_home(self) -> Page:
        t, c = self.truth, self.company
        page = Page(f"{c.brand} | {self.tagline}")
        page.add(f'<h1 class="hero-title">{escape(c.brand)}</h1><p class="lead">{escape(self.tagline)}</p>',
                 f"# {c.brand}\n\n{self.tagline}")
        if "asset_email_names" in self.cases:
            page.add('<div class="hero" style="background-image:url(/assets/img/hero-banner@2x.jpg)">'
                     '<img src="/assets/img/team-photo@2x.jpg" srcset="/assets/img/team-photo@2x.jpg 2x, '
                     '/assets/img/team-photo@3x.jpg 3x" alt="Our team"></div>',
                     f"![Our team](http://{self.host}/assets/img/team-photo@2x.jpg)")
        summary = first_sentence(t.about_text or "")
        page.add(f"<p>{escape(summary)}</p>", summary)
        items = "".join(f"<li>{escape(s)}</li>" for s in self.services)
        page.add(f"<h2>What we do</h2><ul class=\"services\">{items}</ul>",
                 "## What we do\n\n" + "\n".join(f"*   {s}" for s in self.services))
        if not self.two_deep:
            h, m = self._link("contact", "Contact us today")
            page.add(f'<p class="cta">{h}</p>', m)
        h, m = self._link("about", "Learn more about us")
        page.add(f"<p>{h}</p>", m)
        if self.hazard:
            label, href = HAZARD_LABELS[self.hazard], HAZARD_PATHS[self.hazard]
            page.add(f'<p><a href="{href}">{label}</a></p>', f"[{label}](http://{self.host}{href})")
        if "jsonld_org" in self.cases:
            page.head = self._jsonld()
        return page

    def _page_about(self) -> Page:
        t, c = self.truth, self.company
        page = Page(f"{self.labels['about']} - {c.brand}")
        page.add(f"<h1>{escape(self.labels['about'])}</h1>", f"# {self.labels['about']}")
        page.add(f'<p class="about-text">{escape(t.about_text or "")}</p>', t.about_text or "")
        if "employee_hint" in self.cases and t.employees_est:
            text = f"Today we are {self.employee_phrase.format(n=t.employees_est)}, serving clients across the region."
            page.add(f"<p>{escape(text)}</p>", text)
        for sentence in (t.revenue_text, t.revenue_trap):
            if sentence:
                page.add(f"<p>{escape(sentence)}</p>", sentence)
        if t.jobs_count is not None:
            h, m = self._link("careers", "We're hiring - see our careers page")
            page.add(f"<p>{h}</p>", m)
        h, m = self._link("contact", "Get in touch with our team")
        page.add(f"<p>{h}</p>", m)
        if self.founder_profile is not None:
            p = self.founder_profile
            text = f"Connect with our {p.title.lower()}, {p.full_name}, on LinkedIn"
            page.add(f'<p><a href="{p.linkedin_url}/">{escape(text)}</a></p>', f"[{text}]({p.linkedin_url}/)")
        if self.share_button:
            share = f"https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2F{self.host}%2F"
            page.add(f'<p class="share"><a href="{share}" class="share-linkedin">Share on LinkedIn</a></p>',
                     f"[Share on LinkedIn]({share})")
        return page

    def _page_contact(self) -> Page:
        t, c = self.truth, self.company
        page = Page(f"{self.labels['contact']} | {c.brand}")
        page.add(f"<h1>{escape(self.labels['contact'])}</h1>", f"# {self.labels['contact']}")
        if t.address:
            page.add(*self._address_block(microdata="microdata_og" in self.cases))
        for i, email in enumerate(e for e in t.emails if not e.startswith("careers@")):
            person = next((p for p in t.people if p.email == email), None)
            label = f"{person.title}, {person.full_name}" if person else ("Email" if i == 0 else "Sales & enquiries")
            h, m = markup.email_fragment(email, self.email_style, self.r, "Email us" if i == 0 else f"Email {label}")
            page.add(f'<p class="email">{escape(label)}: {h}</p>', f"{label}: {m}")
        for i, (phone, variant) in enumerate(zip(self.local_phones, self.phone_variants)):
            kind = "Mobile" if phone[3] in "89" else "Tel"
            h, m = markup.phone_fragment(phone, variant, self.phone_linked)
            if i == 0 and self.fax:
                for fragment in self._with_fax(kind, h, m):
                    page.add(*fragment)
            else:
                page.add(f'<p class="phone">{kind}: {h}</p>', f"{kind}: {m}")
        if t.offices:
            page.add("<h2>Regional offices</h2>", "## Regional offices")
        for office in t.offices:
            numbers = f"Tel: {markup.office_number(office.phone, office.national)}"
            if office.fax:
                numbers += f"   Fax: {markup.office_number(office.fax, office.national)}"
            page.add(f'<div class="office"><h3>{escape(office.city)}</h3><p>{escape(office.address)}</p>'
                     f"<p>{escape(numbers)}</p></div>", f"### {office.city}\n\n{office.address}\n\n{numbers}")
        page.add("<p>Opening hours: Mon-Fri 9am - 6pm</p>", "Opening hours: Mon-Fri 9am - 6pm")
        page.add('<form class="contact-form" method="post" action="/contact-submit"><input name="name" placeholder="Name">'
                 '<input name="email" type="email" placeholder="Your email"><textarea name="message"></textarea>'
                 '<button type="submit">Send</button></form>', "")
        return page

    def _with_fax(self, kind: str, phone_html: str, phone_md: str) -> tuple[markup.Fragment, ...]:
        """The main line with the fax beside it, in the site's fax style."""
        assert self.fax is not None
        fh, fm = markup.fax_fragment(self.fax, self.fax_variant, self.fax_style)
        if self.fax_style == "same_line":
            return ((f'<p class="phone">{kind}: {phone_html} &nbsp; {fh}</p>', f"{kind}: {phone_md}  {fm}"),)
        if self.fax_style == "table":
            return ((f'<table class="numbers"><tr><th>{kind}</th><td>{phone_html}</td></tr>'
                     f"<tr><th>Fax</th><td>{fh}</td></tr></table>", f"| {kind} | {phone_md} |\n| Fax | {fm} |"),)
        return ((f'<p class="phone">{kind}: {phone_html}</p>', f"{kind}: {phone_md}"),
                (f'<p class="contact-line">{fh}</p>', fm))

    def _page_careers(self) -> Page:
        t, c = self.truth, self.company
        page = Page(f"{self.labels['careers']} | {c.brand}")
        page.add(f"<h1>{escape(self.labels['careers'])}</h1>", f"# {self.labels['careers']}")
        if t.ats_url:
            text = "See all our current openings on our careers portal"
            page.add(f'<p><a href="{t.ats_url}" class="ats-link">{text}</a></p>', f"[{text}]({t.ats_url})")
        elif self.jobs:
            page.add(f"<p>We currently have {len(self.jobs)} open positions.</p>",
                     f"We currently have {len(self.jobs)} open positions.")
            for i, title in enumerate(self.jobs):
                page.add(f'<div class="job-opening" id="job-{i + 1}"><h3>{escape(title)}</h3>'
                         '<p>Full-time &middot; Singapore</p></div>', f"### {title}\n\nFull-time · Singapore")
        else:
            page.add("<p>There are no open positions at the moment. Please check back later.</p>",
                     "There are no open positions at the moment. Please check back later.")
        hr = next((e for e in t.emails if e.startswith("careers@")), None)
        if hr:
            h, m = markup.email_fragment(hr, self.email_style, self.r, "Send us your CV")
            page.add(f"<p>Send your CV to {h}</p>", f"Send your CV to {m}")
        return page

    def _page_services(self) -> Page:
        page = Page(f"{self.labels['services']} | {self.company.brand}")
        page.add(f"<h1>{escape(self.labels['services'])}</h1>", f"# {self.labels['services']}")
        for s in self.services:
            text = f"{s} tailored to your needs, delivered by experienced specialists."
            page.add(f"<h3>{escape(s)}</h3><p>{text}</p>", f"### {s}\n\n{text}")
        return page

    def _page_privacy(self) -> Page:
        page = Page(f"Privacy Policy | {self.company.brand}")
        text = ("We collect personal data only to respond to your enquiries, in line with the Personal "
                "Data Protection Act 2012.")
        page.add(f"<h1>Privacy Policy</h1><p>{text}</p>", f"# Privacy Policy\n\n{text}")
        return page

    def _page_bait(self) -> Page:
        t = self.truth
        page = Page(f"Staff directory | {self.company.brand}")
        page.add("<h1>Internal staff directory</h1><p>For employees only.</p>", "# Internal staff directory")
        for email, phone in zip(t.bait_emails, t.bait_phones * len(t.bait_emails)):
            page.add(f'<p><a href="mailto:{email}">{email}</a> &middot; {markup.phone_display(phone, 0)}</p>',
                     f"{email} · {markup.phone_display(phone, 0)}")
        return page

    def _not_found(self) -> Page:
        soft = "soft_404" in self.cases
        page = Page("Page not found" + (f" | {self.company.brand}" if soft else ""), status=200 if soft else 404)
        text = "Oops! That page can't be found. It looks like nothing was found at this location."
        page.add(f"<h1>Page not found</h1><p>{text}</p>", f"# Page not found\n\n{text}")
        return page

    def _address_block(self, microdata: bool) -> markup.Fragment:
        a = self.truth.address
        assert a is not None
        if microdata:
            html = ('<div itemscope itemtype="https://schema.org/Organization">'
                    f'<span itemprop="name">{escape(self.company.display_name)}</span>'
                    '<div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">'
                    f'<span itemprop="streetAddress">{escape(a.street)}</span>, '
                    f'<span itemprop="addressLocality">Singapore</span> '
                    f'<span itemprop="postalCode">{a.postal_code}</span>'
                    '<meta itemprop="addressCountry" content="SG"></div>'
                    f'<meta itemprop="telephone" content="{self.truth.phones[0]}">'
                    + (f'<meta itemprop="faxNumber" content="{self.fax}">' if self.fax else "") + "</div>")
        else:
            html = f'<address>{escape(a.street)}<br>Singapore {a.postal_code}</address>'
        return html, f"Address: {a.street}, Singapore {a.postal_code}"

    def _jsonld(self) -> str:
        t, c = self.truth, self.company
        org: dict[str, object] = {
            "@context": "https://schema.org", "@type": "Organization", "name": c.display_name,
            "url": f"https://{self.host}/", "logo": f"https://{self.host}/assets/img/logo@2x.png",
            "telephone": markup.phone_display(t.phones[0], 0),
        }
        if self.fax:
            org["faxNumber"] = markup.phone_display(self.fax, 0)
        if t.address:
            org["address"] = {"@type": "PostalAddress", "streetAddress": t.address.street,
                              "postalCode": t.address.postal_code, "addressLocality": "Singapore",
                              "addressCountry": "SG"}
        if t.emails and self.email_style in ("plain", "linked"):
            org["email"] = t.emails[0]
        same_as = [u for u in (t.linkedin_url, *t.socials.values()) if u]
        if same_as:
            org["sameAs"] = same_as
        if t.employees_est:
            org["numberOfEmployees"] = {"@type": "QuantitativeValue", "value": t.employees_est}
        if t.uen_on_site:
            org["taxID"] = c.uen
        return f'<script type="application/ld+json">{json.dumps(org, ensure_ascii=False)}</script>'

    # -- layout --------------------------------------------------------------------

    def _nav(self) -> list[tuple[str, str]]:
        roles = ["home", "about", "services"] + (["careers"] if self.truth.jobs_count is not None else [])
        if not self.two_deep:
            roles.append("contact")
        tag = "?loc=MainNav" if self.tagged_links else ""
        return [(self.labels[r], "/" if r == "home" else self.paths[r] + tag) for r in roles]

    def _footer(self) -> list[markup.Fragment]:
        t, c = self.truth, self.company
        parts: list[markup.Fragment] = []
        if self.footer_contact:
            if t.address:
                parts.append((f"<p>{escape(t.address.street)}, Singapore {t.address.postal_code}</p>",
                              f"{t.address.street}, Singapore {t.address.postal_code}"))
            h, m = markup.phone_fragment(t.phones[0], self.phone_variants[0], self.phone_linked)
            if self.fax and self.fax_in_footer:
                fax = escape(markup.phone_display(self.fax, self.fax_variant))
                parts.append((f"<p>T: {h} | F: {fax}</p>", f"T: {m} | F: {fax}"))
            else:
                parts.append((f"<p>T: {h}</p>", f"T: {m}"))
            first = next((e for e in t.emails if not e.startswith("careers@")), None)
            if first:
                h, m = markup.email_fragment(first, self.email_style, self.r)
                parts.append((f"<p>E: {h}</p>", f"E: {m}"))
        links = [("LinkedIn", self.linkedin_href)] if self.linkedin_href else []
        links += [(k.capitalize() if k != "x" else "X", v) for k, v in t.socials.items()]
        if links:
            parts.append(markup.social_list(links, icons=self.social_icons))
        if "robots_bait" in self.cases:
            parts.append((f'<p><a href="{BAIT_PATH}">Staff portal</a></p>', f"[Staff portal](http://{self.host}{BAIT_PATH})"))
        if self.tagged_links:
            quick = [(self.labels[r], self.paths[r] + "?loc=Footer") for r in ("about", "contact")]
            parts.append(('<ul class="quick-links">' + "".join(
                f'<li><a href="{href}">{escape(label)}</a></li>' for label, href in quick) + "</ul>",
                " ".join(f"[{label}](http://{self.host}{href})" for label, href in quick)))
        stop = "" if c.display_name.endswith(".") else "."
        legal = f"© {_COPYRIGHT_YEAR} {c.display_name}{stop} All rights reserved."
        if t.uen_on_site:
            legal += f" UEN: {c.uen}"
        parts.append((f'<p class="legal">{escape(legal)} <a href="/privacy">Privacy Policy</a></p>', legal))
        if self.agency is not None:
            parts += markup.agency_credit(self.agency, self.agency_style)
        return parts

    def _head(self, page: Page) -> str:
        t = self.truth
        charset = "" if "charset_undeclared" in self.cases else (
            f'<meta http-equiv="Content-Type" content="text/html; charset={t.charset}">' if self.template == 3
            else f'<meta charset="{t.charset}">')
        og = ""
        if "microdata_og" in self.cases:
            og = (f'<meta property="og:type" content="website"><meta property="og:title" content="{escape(page.title)}">'
                  f'<meta property="og:site_name" content="{escape(self.company.brand)}">'
                  f'<meta property="og:url" content="https://{self.host}/">'
                  f'<meta property="og:description" content="{escape((t.about_text or "")[:150])}">'
                  f'<meta property="og:image" content="https://{self.host}/assets/img/og-image@2x.jpg">')
        icons = ('<link rel="apple-touch-icon" sizes="180x180" href="/assets/img/apple-touch-icon@2x.png">'
                 if "asset_email_names" in self.cases else "")
        return (f"{charset}<title>{escape(page.title)}</title>"
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<meta name="description" content="{escape(self.tagline)}">{og}{icons}\n'
                f"{markup.tech_head(t.tech_stack, self.company.uen)}\n{page.head}")

    def _html(self, page: Page) -> str:
        nav = self._nav()
        body = "\n".join(h for h, _ in page.blocks)
        footer = "\n".join(h for h, _ in self._footer())
        logo = ('<img class="logo" src="/assets/img/logo@2x.png" alt="logo">'
                if "asset_email_names" in self.cases else f'<span class="logo">{escape(self.company.brand)}</span>')
        if self.template == 3:  # an old table layout
            links = " | ".join(f'<a href="{href}">{escape(label)}</a>' for label, href in nav)
            return (f"<html><head>{self._head(page)}</head><body><table width=\"100%\"><tr><td>{logo}</td>"
                    f"<td>{links}</td></tr><tr><td colspan=\"2\">{body}</td></tr>"
                    f"<tr><td colspan=\"2\"><hr>{footer}</td></tr></table></body></html>")
        items = "".join(f'<li class="menu-item"><a href="{href}">{escape(label)}</a></li>' for label, href in nav)
        if self.template == _WORDPRESS:
            return (f'<!DOCTYPE html><html lang="en-SG"><head>{self._head(page)}</head>'
                    f'<body class="page"><div id="page" class="site"><header id="masthead" class="site-header">'
                    f'{logo}<nav id="site-navigation" class="main-navigation"><ul id="primary-menu" class="menu">'
                    f'{items}</ul></nav></header><main id="primary" class="site-main"><article class="entry-content">'
                    f'{body}</article></main><footer id="colophon" class="site-footer">{footer}</footer></div></body></html>')
        return (f'<!doctype html><html lang="en"><head>{self._head(page)}</head><body>'
                f'<header class="site-header">{logo}<nav class="navbar"><ul class="nav">{items}</ul></nav></header>'
                f'<main class="container">{body}</main><footer class="footer">{footer}</footer></body></html>')

    def _markdown(self, page: Page) -> str:
        nav = " ".join(f"[{label}](http://{self.host}{href})" for label, href in self._nav())
        blocks = "\n\n".join(m for _, m in page.blocks if m)
        footer = "\n\n".join(m for _, m in self._footer())
        return f"{nav}\n\n{blocks}\n\n{footer}\n"

    def _send(self, page: Page) -> SandboxResponse:
        resp = SandboxResponse.html(self._html(page), page.status, self.truth.charset)
        if "charset_undeclared" in self.cases:
            resp.headers["Content-Type"] = "text/html"
        self._server_headers(resp)
        return gzip_ok(resp)

    def _send_shell(self, page: Page) -> SandboxResponse:
        shell = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(self.company.brand)}</title>'
                 f'<meta name="viewport" content="width=device-width,initial-scale=1">'
                 f"{markup.tech_head(self.truth.tech_stack, self.company.uen)}</head><body>"
                 '<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>')
        resp = SandboxResponse.html(shell)
        self._server_headers(resp)
        return gzip_ok(resp)

    def _server_headers(self, resp: SandboxResponse) -> None:
        if "Cloudflare" in self.truth.tech_stack:
            resp.headers["Server"] = "cloudflare"
            resp.headers["CF-RAY"] = f"8a1b2c3d4e5f{self.company.uen[-4:].lower()}-SIN"
        elif "WordPress" in self.truth.tech_stack:
            resp.headers["Server"] = "Apache"
            resp.headers["Link"] = f'<https://{self.host}/wp-json/>; rel="https://api.w.org/"'
        else:
            resp.headers["Server"] = "nginx"

    # -- robots, sitemap, hazards ------------------------------------------------------

    def robots_txt(self) -> str:
        lines = ["User-agent: *"]
        if self.template == _WORDPRESS:
            lines += ["Disallow: /wp-admin/", "Allow: /wp-admin/admin-ajax.php"]
        if "robots_bait" in self.cases:
            lines.append("Disallow: /internal/")
        if self.truth.crawl_delay_s:
            lines.append(f"Crawl-delay: {self.truth.crawl_delay_s:g}")
        if len(lines) == 1:
            lines.append("Disallow:")
        lines += ["", f"Sitemap: https://{self.host}/sitemap.xml", ""]
        return "\n".join(lines)

    def sitemap(self) -> str:
        urls = "".join(f"<url><loc>https://{self.host}{p}</loc></url>" for p in self.page_paths())
        return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'

    def _hazard_page(self) -> Page:
        page = Page(f"{HAZARD_LABELS[self.hazard or 'slow_page']} | {self.company.brand}")
        page.add("<h1>News</h1><p>Company updates and announcements.</p>", "# News\n\nCompany updates and announcements.")
        return page

    def _hazard(self) -> SandboxResponse:
        if self.hazard == "redirect_loop":
            return redirect("/offers/", 302)
        if self.hazard == "gzip_bomb":
            return SandboxResponse(200, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
                                   gzip_bomb())
        head = self._html(self._hazard_page()).split("</main>")[0].encode()
        if self.hazard == "slow_page":
            drip = (b"<p>Update %d: more news soon.</p>\n" % i for i in range(SLOW_CHUNKS))
            return SandboxResponse(200, {"Content-Type": "text/html; charset=utf-8"},
                                   chunks=itertools.chain([head], drip, [b"</main></body></html>"]),
                                   chunk_delay_s=SLOW_CHUNK_DELAY_S)
        return SandboxResponse(200, {"Content-Type": "text/html; charset=utf-8"},
                               chunks=itertools.chain([head], _huge_rows(), [b"</table></main></body></html>"]))


def first_sentence(text: str) -> str:
    """The first sentence, not fooled by "Pte. Ltd." or "& Co." inside it."""
    return _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".") + "."


def _huge_rows() -> Iterator[bytes]:
    row = b"<tr><td>SKU-%07d</td><td>Industrial component, grade A, stainless steel, 25 mm</td><td>SGD 12.50</td></tr>\n"
    sent, i = 0, 0
    yield b"<table class=\"catalogue\">"
    while sent < HUGE_BYTES:
        chunk = b"".join(row % (i + j) for j in range(500))
        i += 500
        sent += len(chunk)
        yield chunk


@functools.cache  # built once per process: compressing 128 MiB takes a moment
def gzip_bomb() -> bytes:
    """A small gzip stream that inflates to BOMB_BYTES."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31 = gzip container
    block = b" " * (1024 * 1024)
    parts = [comp.compress(b"<html><body>")]
    parts += [comp.compress(block) for _ in range(BOMB_BYTES // len(block))]
    parts.append(comp.flush())
    return b"".join(parts)


_SPA_JS = ("(function(){fetch('/api/content?path='+encodeURIComponent(location.pathname))"
           ".then(function(r){return r.json()}).then(function(d){document.title=d.title;"
           "document.getElementById('root').innerText=d.markdown;});})();")


def parked_page(domain: str, company: SandboxCompany, r: random.Random) -> str:
    """A domain-parking page: for sale notice and ad links, nothing about any company."""
    words = names.core_tokens(company.name) or ["business"]
    topics = [f"{w.capitalize()} Services Singapore" for w in words[:2]] + ["Business Loans", "Office Space For Rent",
                                                                           "Web Hosting", "Online Marketing"]
    links = "".join(f'<li><a href="http://{domain}/?q={escape(t.replace(" ", "+"))}&amp;ad=1">{escape(t)}</a></li>'
                    for t in r.sample(topics, 4))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{domain}</title>'
            '<meta name="robots" content="noindex, nofollow"></head><body class="parked">'
            f'<h1>{domain}</h1><p class="sale">This domain may be for sale. '
            f'<a href="https://www.sedo.com/search/details/?domain={domain}&amp;origin=parking">Make an offer</a></p>'
            f'<h2>Related searches</h2><ul class="ads">{links}</ul>'
            '<p class="small">This webpage was generated by the domain owner using Sedo Domain Parking. '
            "Disclaimer: Sedo maintains no relationship with third party advertisers.</p></body></html>")
