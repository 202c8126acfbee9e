"""Domains that are never a company's own website: directories, registry mirrors, social
networks, marketplaces, job boards, review and map sites, data vendors.

Search results for a company name are full of these, often ranked above the real site.
One maintained list, matched on the registrable domain (so subdomains such as
`sg.linkedin.com` are covered). Add to it when a new mirror shows up in search results.
"""

from __future__ import annotations

BLOCKED_DOMAINS: frozenset[str] = frozenset({
    # registry mirrors and company directories
    "sgpbusiness.com", "opengovsg.com", "recordowl.com", "bizfile.gov.sg", "acra.gov.sg", "companies.sg",
    "sgpgrid.com", "singaporecompanies.net", "opencorporates.com", "kompass.com", "yellowpages.com.sg",
    "streetdirectory.com", "infobel.com", "cybo.com", "sgbizfile.com", "timesbusinessdirectory.com",
    "sgcompany.info", "companyhouse.sg", "checkcompany.co.uk", "dnb.com", "zoominfo.com", "crunchbase.com",
    "rocketreach.co", "apollo.io", "lusha.com", "signalhire.com", "craft.co", "owler.com", "bloomberg.com",
    "globaldatabase.com", "emis.com", "b2bhint.com", "sg.kompass.com",
    # social networks and content platforms
    "linkedin.com", "facebook.com", "instagram.com", "twitter.com", "x.com", "youtube.com", "tiktok.com",
    "pinterest.com", "reddit.com", "medium.com", "wikipedia.org", "threads.net", "telegram.me", "t.me",
    "whatsapp.com", "wa.me",
    # marketplaces, food and travel platforms, maps and reviews
    "carousell.sg", "carousell.com", "shopee.sg", "lazada.sg", "qoo10.sg", "amazon.sg", "amazon.com",
    "ebay.com", "alibaba.com", "grab.com", "foodpanda.sg", "deliveroo.com.sg", "burpple.com",
    "hungrygowhere.com", "tripadvisor.com", "tripadvisor.com.sg", "yelp.com", "google.com", "goo.gl",
    "apple.com", "booking.com", "agoda.com", "klook.com", "propertyguru.com.sg", "99.co",
    # job boards and applicant tracking
    "mycareersfuture.gov.sg", "jobstreet.com.sg", "jobstreet.com", "indeed.com", "sg.indeed.com",
    "glassdoor.com", "glassdoor.sg", "jobsdb.com", "greenhouse.io", "lever.co", "workable.com",
    "myworkdayjobs.com", "smartrecruiters.com", "breezy.hr",
    # news and government
    "straitstimes.com", "businesstimes.com.sg", "channelnewsasia.com", "gov.sg",
})


def is_blocked(registrable_domain: str) -> bool:
    domain = registrable_domain.lower().strip(".")
    return domain in BLOCKED_DOMAINS or any(domain.endswith("." + blocked) for blocked in BLOCKED_DOMAINS)
