"""Tech stack from `<meta name="generator">` and the hosts/paths of scripts, stylesheets and iframes.

The two tables below are the one place to maintain: add a row, nothing else changes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from acra_enrich.enrich.extract.dom import attr, safe_urljoin
from acra_enrich.enrich.facts import Sourced
from acra_enrich.enrich.sites import host_matches

# generator meta content (matched case-insensitively at the start) -> product
GENERATORS: tuple[tuple[str, str], ...] = (
    ("wordpress", "WordPress"),
    ("wix.com", "Wix"),
    ("squarespace", "Squarespace"),
    ("joomla", "Joomla"),
    ("drupal", "Drupal"),
    ("shopify", "Shopify"),
    ("webflow", "Webflow"),
    ("ghost", "Ghost"),
    ("hugo", "Hugo"),
    ("gatsby", "Gatsby"),
    ("next.js", "Next.js"),
    ("nuxt", "Nuxt"),
    ("hubspot", "HubSpot CMS"),
    ("weebly", "Weebly"),
    ("blogger", "Blogger"),
    ("duda", "Duda"),
    ("elementor", "Elementor"),
    ("woocommerce", "WooCommerce"),
    ("divi", "Divi"),
    ("typo3", "TYPO3"),
    ("magento", "Magento"),
    ("prestashop", "PrestaShop"),
    ("bigcommerce", "BigCommerce"),
    ("jimdo", "Jimdo"),
    ("godaddy website builder", "GoDaddy Website Builder"),
    ("site kit by google", "Google Site Kit"),
    ("strikingly", "Strikingly"),
    ("framer", "Framer"),
)

# (host or host+path prefix, product): a script/link/iframe URL whose host is the host (or a
# subdomain of it) and whose path starts with the path prefix, when one is given.
SCRIPT_HOSTS: tuple[tuple[str, str], ...] = (
    ("googletagmanager.com", "Google Tag Manager"),
    ("google-analytics.com", "Google Analytics"),
    ("js.hs-scripts.com", "HubSpot"),
    ("js.hsforms.net", "HubSpot"),
    ("js.hs-analytics.net", "HubSpot"),
    ("cdn.shopify.com", "Shopify"),
    ("static.wixstatic.com", "Wix"),
    ("static.parastorage.com", "Wix"),
    ("static1.squarespace.com", "Squarespace"),
    ("assets.squarespace.com", "Squarespace"),
    ("connect.facebook.net", "Meta Pixel"),
    ("js.stripe.com", "Stripe"),
    ("widget.intercom.io", "Intercom"),
    ("js.intercomcdn.com", "Intercom"),
    ("cdn.jsdelivr.net/npm/bootstrap", "Bootstrap"),
    ("stackpath.bootstrapcdn.com", "Bootstrap"),
    ("maxcdn.bootstrapcdn.com", "Bootstrap"),
    ("code.jquery.com", "jQuery"),
    ("ajax.googleapis.com/ajax/libs/jquery", "jQuery"),
    ("cdnjs.cloudflare.com/ajax/libs/jquery", "jQuery"),
    ("www.google.com/recaptcha", "reCAPTCHA"),
    ("www.gstatic.com/recaptcha", "reCAPTCHA"),
    ("challenges.cloudflare.com", "Cloudflare Turnstile"),
    ("static.hotjar.com", "Hotjar"),
    ("script.hotjar.com", "Hotjar"),
    ("cdn.segment.com", "Segment"),
    ("js.driftt.com", "Drift"),
    ("embed.tawk.to", "Tawk.to"),
    ("client.crisp.chat", "Crisp"),
    ("static.zdassets.com", "Zendesk"),
    ("snap.licdn.com", "LinkedIn Insight Tag"),
    ("platform.linkedin.com", "LinkedIn"),
    ("www.googleadservices.com", "Google Ads"),
    ("googleads.g.doubleclick.net", "Google Ads"),
    ("maps.googleapis.com", "Google Maps"),
    ("www.google.com/maps", "Google Maps"),
    ("fonts.googleapis.com", "Google Fonts"),
    ("use.typekit.net", "Adobe Fonts"),
    ("kit.fontawesome.com", "Font Awesome"),
    ("cdn.jsdelivr.net/npm/@fortawesome", "Font Awesome"),
    ("cdnjs.cloudflare.com/ajax/libs/font-awesome", "Font Awesome"),
    ("unpkg.com/react", "React"),
    ("cdn.jsdelivr.net/npm/vue", "Vue.js"),
    ("unpkg.com/vue", "Vue.js"),
    ("cdn.tailwindcss.com", "Tailwind CSS"),
    ("assets.calendly.com", "Calendly"),
    ("js.chargebee.com", "Chargebee"),
    ("cdn.mxpnl.com", "Mixpanel"),
    ("cdn.amplitude.com", "Amplitude"),
    ("static.cloudflareinsights.com", "Cloudflare Web Analytics"),
    ("plausible.io", "Plausible"),
    ("cdn.onesignal.com", "OneSignal"),
    ("chimpstatic.com", "Mailchimp"),
    ("list-manage.com", "Mailchimp"),
    ("zohopublic.com", "Zoho"),
    ("salesiq.zoho.com", "Zoho SalesIQ"),
    ("cdn.cookielaw.org", "OneTrust"),
    ("consent.cookiebot.com", "Cookiebot"),
    ("www.youtube.com/embed", "YouTube"),
    ("player.vimeo.com", "Vimeo"),
)

# Same-site asset paths that betray the platform even without a generator meta.
ASSET_PATHS: tuple[tuple[str, str], ...] = (
    ("/wp-content/", "WordPress"),
    ("/wp-includes/", "WordPress"),
    ("/_next/static/", "Next.js"),
    ("/_nuxt/", "Nuxt"),
    ("/sites/default/files/", "Drupal"),
    ("/media/jui/", "Joomla"),
)

_MAX_RESOURCES = 2_000


def _host_rule(rule: str) -> tuple[str, str]:
    host, _, path = rule.partition("/")
    return host, "/" + path if path else ""


_HOST_RULES = tuple((*_host_rule(rule), name) for rule, name in SCRIPT_HOSTS)


def _generator(content: str) -> str | None:
    lowered = content.lower()
    for prefix, name in GENERATORS:
        if lowered.startswith(prefix) or re.match(rf"^[^;,]*\b{re.escape(prefix)}\b", lowered):
            return name
    return None


def _resource_urls(tree: LexborHTMLParser, page_url: str) -> list[str]:
    urls = []
    for selector, key in (("script[src]", "src"), ("link[href]", "href"), ("iframe[src]", "src"), ("img[src]", "src")):
        for node in tree.css(selector)[:_MAX_RESOURCES]:
            value = attr(node, key)
            if value:
                resolved = safe_urljoin(page_url, value)
                if resolved:
                    urls.append(resolved)
    return urls


def detect_tech(tree: LexborHTMLParser, page_url: str) -> list[Sourced[str]]:
    found: dict[str, Sourced[str]] = {}
    for node in tree.css("meta"):
        if attr(node, "name").lower() == "generator":
            name = _generator(attr(node, "content"))
            if name and name not in found:
                found[name] = Sourced(name, page_url, "meta_generator")
    for url in _resource_urls(tree, page_url):
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        host = (parts.hostname or "").lower()
        path = parts.path or "/"
        for rule_host, rule_path, name in _HOST_RULES:
            if name not in found and host_matches(host, rule_host) and path.startswith(rule_path):
                found[name] = Sourced(name, page_url, "script_host")
        for marker, name in ASSET_PATHS:
            if name not in found and marker in path:
                found[name] = Sourced(name, page_url, "asset_path")
    return list(found.values())
