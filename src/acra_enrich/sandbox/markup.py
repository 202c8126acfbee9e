"""Markup fragments the sandbox's pages share: how an email, a phone or a technology shows up
in real HTML, each paired with what a browser-rendering reader (Jina) would print for it."""

from __future__ import annotations

import hashlib
import random
import re
from html import escape

import phonenumbers

Fragment = tuple[str, str]  # (html, markdown)


def cf_encode(email: str, key: int) -> str:
    """Cloudflare email protection: a key byte, then each byte XOR the key, all hex."""
    return f"{key:02x}" + "".join(f"{b ^ key:02x}" for b in email.encode())


def cf_decode(data: str) -> str:
    key = int(data[:2], 16)
    return bytes(int(data[i:i + 2], 16) ^ key for i in range(2, len(data), 2)).decode()


def email_fragment(address: str, style: str, r: random.Random, label: str = "Email us") -> Fragment:
    """One email as a site shows it. Styles: plain, linked, cloudflare, at_dot, paren_at, mailto_only."""
    if style == "cloudflare":
        data = cf_encode(address, r.randrange(1, 256))
        return (f'<a href="/cdn-cgi/l/email-protection" class="__cf_email__" '
                f'data-cfemail="{data}">[email&#160;protected]</a>', address)
    if style == "at_dot":
        local, domain = address.split("@")
        shown = f"{local} [at] {' [dot] '.join(domain.split('.'))}"
        return escape(shown), shown
    if style == "paren_at":
        shown = address.replace("@", "(at)")
        return escape(shown), shown
    if style == "mailto_only":
        return f'<a href="mailto:{escape(address)}" class="btn-mail">{escape(label)}</a>', f"[{label}](mailto:{address})"
    if style == "linked":
        return f'<a href="mailto:{escape(address)}">{escape(address)}</a>', f"[{address}](mailto:{address})"
    return escape(address), address


def phone_display(e164: str, variant: int) -> str:
    """E.164 +6561234567 in one of the ways Singapore sites print it."""
    local = e164[3:]
    a, b = local[:4], local[4:]
    return (f"+65 {a} {b}", f"(+65) {a} {b}", f"{a} {b}", f"+65-{a}-{b}", f"+65 {local}", f"{local}")[variant % 6]


def phone_fragment(e164: str, variant: int, linked: bool) -> Fragment:
    shown = phone_display(e164, variant)
    if e164[3] in "89" and variant % 3 == 0:  # mobiles often double as WhatsApp
        url = f"https://wa.me/{e164[1:]}"
        return (f'<a href="{url}" class="whatsapp">{escape(shown)}</a> (WhatsApp)', f"[{shown}]({url}) (WhatsApp)")
    if linked:
        return f'<a href="tel:{e164}">{escape(shown)}</a>', f"[{shown}](tel:{e164})"
    return escape(shown), shown


FAX_STYLES = ("same_line", "table", "letter", "icon", "tel_linked")


def fax_fragment(e164: str, variant: int, style: str) -> Fragment:
    """A fax number as sites label it: "Fax: ...", "F: ...", an icon, a tel: link, or bare
    (style "table": the label is the table's own header cell)."""
    shown = escape(phone_display(e164, variant))
    if style == "table":
        return shown, shown
    if style == "letter":
        return f"F: {shown}", f"F: {shown}"
    if style == "icon":  # a reader drops icon fonts: its text keeps a written label
        return f'<i class="fa fa-fax" aria-hidden="true"></i> {shown}', f"Fax: {shown}"
    if style == "tel_linked":
        return f'Fax: <a href="tel:{e164}">{shown}</a>', f"Fax: [{shown}](tel:{e164})"
    return f"Fax: {shown}", f"Fax: {shown}"


def office_number(e164: str, national: bool) -> str:
    """An overseas office's number in its country's national format ("03-2161 8888") or in full."""
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.NATIONAL if national else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# Web agencies that sign the sites they build: (name, domain, mailbox).
AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("Pixel Forge Studio", "pixelforge.sg", "hello"), ("Lion Web Solutions", "lionweb.com.sg", "enquiry"),
    ("Kopi Digital", "kopidigital.com", "studio"), ("Red Sparrow Creative", "redsparrow.asia", "hi"),
    ("Orchid Interactive", "orchidinteractive.sg", "projects"),
)


def agency_credit(agency: tuple[str, str, str], style: int) -> list[Fragment]:
    """The footer credit of the agency that built the site, with the agency's own address:
    linked on the credit line, in its text, or on the line below (only the link ties it)."""
    name, domain, mailbox = agency
    address = f"{mailbox}@{domain}"
    if style == 0:
        return [(f'<p class="credit">Website designed by <a href="https://www.{domain}/" target="_blank">'
                 f'{escape(name)}</a> &middot; <a href="mailto:{address}">{address}</a></p>',
                 f"Website designed by [{name}](https://www.{domain}/) · [{address}](mailto:{address})")]
    if style == 1:
        return [(f'<p class="credit">Powered by {escape(name)}. Enquiries: {address}</p>',
                 f"Powered by {name}. Enquiries: {address}")]
    return [(f'<p class="credit">Site by <a href="https://{domain}">{escape(name)}</a></p>',
             f"Site by [{name}](https://{domain})"),
            (f'<p class="credit-contact">{address}</p>', address)]


def linkedin_variant(url: str, variant: int) -> str:
    """A company page's URL the way sites link it: as is, with a tracking query, on a country
    subdomain with a trailing slash, without www, or with the slug's letters capitalised."""
    slug = url.rsplit("/", 1)[1]
    return (url, f"{url}?trk=public_profile_topcard-name", f"https://sg.linkedin.com/company/{slug}/",
            f"https://linkedin.com/company/{slug}/about/",
            f"http://www.linkedin.com/company/{slug.title()}")[variant % 5]


_ICONS = {"LinkedIn": "fab fa-linkedin-in", "Facebook": "fab fa-facebook-f", "Instagram": "fab fa-instagram",
          "Youtube": "fab fa-youtube", "X": "fab fa-x-twitter"}


def social_list(links: list[tuple[str, str]], *, icons: bool) -> Fragment:
    """The footer's social links: their names, or only icon fonts with an aria-label."""
    if icons:
        items = "".join(f'<li><a href="{u}" target="_blank" rel="noopener" aria-label="{n}">'
                        f'<i class="{_ICONS.get(n, "fa fa-link")}" aria-hidden="true"></i></a></li>' for n, u in links)
        return f'<ul class="social-icons">{items}</ul>', " ".join(f"[]({u})" for _, u in links)
    items = "".join(f'<li><a href="{u}" target="_blank" rel="noopener">{n}</a></li>' for n, u in links)
    return f'<ul class="social">{items}</ul>', " ".join(f"[{n}]({u})" for n, u in links)


def _ident(seed: str, n: int) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:n].upper()


def tech_head(tech: tuple[str, ...], seed: str) -> str:
    """<head> markup each technology leaves on a real page (the signatures detectors key on)."""
    out: list[str] = []
    if "WordPress" in tech:
        out += ['<meta name="generator" content="WordPress 6.5.3">',
                '<link rel="stylesheet" id="astra-theme-css" href="/wp-content/themes/astra/assets/css/minified/main.min.css?ver=4.6.4" media="all">']
        if "jQuery" in tech:
            out.append('<script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>')
    elif "jQuery" in tech:
        out.append('<script src="https://code.jquery.com/jquery-3.7.1.min.js" crossorigin="anonymous"></script>')
    if "Wix" in tech:
        out += ['<meta name="generator" content="Wix.com Website Builder">',
                '<link rel="preconnect" href="https://static.parastorage.com" crossorigin>']
    if "Shopify" in tech:
        out += ['<link rel="stylesheet" href="//cdn.shopify.com/s/files/1/0612/3344/t/4/assets/base.css?v=1708">',
                f'<script>window.Shopify = window.Shopify || {{}}; Shopify.shop = "{seed.lower()}.myshopify.com";</script>']
    if "Squarespace" in tech:
        out += ['<!-- This is Squarespace. -->',
                '<link rel="stylesheet" href="https://static1.squarespace.com/static/versioned-site-css/5f1/1/site.css">']
    if "Bootstrap" in tech:
        out.append('<link href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css" rel="stylesheet">')
    if "Google Analytics" in tech:
        gid = "G-" + _ident(seed + "ga", 10)
        out += [f'<script async src="https://www.googletagmanager.com/gtag/js?id={gid}"></script>',
                "<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}"
                f" gtag('js', new Date()); gtag('config', '{gid}');</script>"]
    if "Google Tag Manager" in tech:
        out.append("<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});"
                   "var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;"
                   "j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);"
                   f"}})(window,document,'script','dataLayer','GTM-{_ident(seed + 'gtm', 7)}');</script>")
    if "Facebook Pixel" in tech:
        out.append("<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){};t=b.createElement(e);"
                   "t.async=!0;t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}"
                   "(window,document,'script','https://connect.facebook.net/en_US/fbevents.js');"
                   f" fbq('init', '{int(_ident(seed + 'fb', 13), 16) % 10**15 + 10**15}'); fbq('track', 'PageView');</script>")
    if "HubSpot" in tech:
        out.append(f'<script type="text/javascript" id="hs-script-loader" async defer '
                   f'src="//js.hs-scripts.com/{int(_ident(seed + "hs", 6), 16) % 9_000_000 + 1_000_000}.js"></script>')
    if "Hotjar" in tech:
        out.append("<script>(function(h,o,t,j,a,r){h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};"
                   f"h._hjSettings={{hjid:{int(_ident(seed + 'hj', 6), 16)},hjsv:6}};"
                   "a=o.getElementsByTagName('head')[0];r=o.createElement('script');r.async=1;"
                   "r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;a.appendChild(r);"
                   "})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');</script>")
    if "React" in tech:
        out += ['<script defer src="/static/js/react-dom.production.min.js"></script>',
                '<script defer src="/static/js/main.4f1c2a9b.js"></script>']
    if "Cloudflare" in tech:
        out.append('<script data-cfasync="false" src="/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js"></script>')
    return "\n".join(out)


def markdown_to_text(markdown: str) -> str:
    """A reader's text format: the markdown without images, link targets and heading marks."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"^#+\s*", "", text, flags=re.M)
