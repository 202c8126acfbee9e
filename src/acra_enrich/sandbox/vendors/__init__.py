"""Vendor emulations, one module each, routed by the Host the product's request names.

Each module exposes `make_handler(world, faults) -> Handler` (see sandbox.http). The host
names are the real services' (the product reaches them through ENRICH_HTTP_PROXY with
http:// base URLs, see DESIGN.md §6); `*.sandbox.test` names stand in for services whose
endpoint is configured per customer.
"""

# host -> module name under acra_enrich.sandbox.vendors
VENDOR_HOSTS: dict[str, str] = {
    "html.duckduckgo.com": "ddg",
    "r.jina.ai": "jina",
    "api.tavily.com": "tavily",
    "api.openai.com": "openai",
    "api.apify.com": "apify",
    "api.lusha.com": "lusha",
    "api.zerobounce.net": "zerobounce",
    "bulkapi.zerobounce.net": "zerobounce",
    "hooks.slack.com": "slack",
    "odoo.sandbox.test": "odoo",
    "eqc.sandbox.test": "eqc",
    "searxng.sandbox.test": "searxng",
    "api-production.data.gov.sg": "datagovsg",
    "api-open.data.gov.sg": "datagovsg",
    "s3.ap-southeast-1.amazonaws.com": "datagovsg",
}
