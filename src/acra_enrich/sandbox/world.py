"""The sandbox's seeded world: the registry's companies, their websites and the ground truth.

`build_world(seed, n)` takes exactly the first n entities `write_acra_csv(rows=n, seed=seed)`
writes, so a test can ingest that file and ask the sandbox about the same UENs. Everything
is derived from (seed, UEN) and from the companies before it, never from n, so a company
looks the same in a world of 50 and of 50,000. Pages are rendered lazily (sandbox.sites);
building a world only decides the facts.

Hard cases (the strings in `CompanyTruth.hard_cases`) are spread deterministically: every
other company with a website gets one "exclusive" case from `EXCLUSIVE_CASES` in turn, and
the "common" cases follow fixed strides over the same website counter, so any world with
about 100 companies holds every case at least once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any, Literal

import phonenumbers
from stdnum.sg import uen as stdnum_uen

from acra_enrich.registry.sample import iter_good_records
from acra_enrich.sandbox import names

LIVE_STATUSES = frozenset({"Live Company", "Live", "Registered"})

# One per site in turn (every other site): the pathological cases, mutually exclusive.
EXCLUSIVE_CASES: tuple[str, ...] = (
    "cloudflare_email",     # emails only as Cloudflare email protection (data-cfemail, XOR encoded)
    "obfuscated_at_dot",    # "info [at] acme [dot] com [dot] sg"
    "obfuscated_paren_at",  # "info(at)acme.com.sg"
    "mailto_only",          # emails only inside mailto: hrefs, link text "Email us"
    "contact_two_deep",     # contact details only on the contact page, linked only from about
    "robots_bait",          # robots.txt disallows /internal/, which holds bait emails/phones
    "redirect_alias",       # a guessable alias domain 301s to the canonical site
    "slow_page",            # one linked page drips for ~30 s (no truth on it)
    "huge_page",            # one linked page is > 5 MiB (no truth on it)
    "gzip_bomb",            # one linked page is a gzip bomb (128 MiB of zeros)
    "redirect_loop",        # one linked path redirects in a loop
    "charset_cp1252",       # the whole site in windows-1252, declared in header and meta
    "charset_shift_jis",    # Shift_JIS, declared
    "charset_gb2312",       # GB2312, declared
    "charset_undeclared",   # windows-1252 bytes, no charset anywhere
    "script_only",          # pages are an empty JS shell; only Jina reader sees the content
    "parked_decoy",         # a guessable domain of the company is parked (for sale)
    "lookalike_decoy",      # a guessable domain belongs to a look-alike company
    "external_ats",         # careers page links to an external ATS board holding the openings
    "crawl_delay",          # robots.txt Crawl-delay (truth.crawl_delay_s)
    "soft_404",             # unknown paths answer 200 "page not found"
)
# (case, stride, offset): site number k has the case when k % stride == offset.
COMMON_CASES: tuple[tuple[str, int, int], ...] = (
    ("jsonld_org", 3, 0),         # JSON-LD Organization with address, telephone, sameAs, numberOfEmployees
    ("microdata_og", 5, 3),       # schema.org microdata + OpenGraph
    ("employee_hint", 3, 1),      # "a team of 50+" on the about page
    ("careers_page", 3, 2),       # careers page with N openings on the site
    ("uen_footer", 4, 2),         # UEN printed in the footer
    ("asset_email_names", 2, 0),  # logo@2x.png, hero@3x.jpg in markup
    ("llm_invents", 4, 1),        # the LLM emulation adds an email/phone/URL not in the corpus
)
SEARCH_CASES = ("directory_above",)  # directories/socials rank above the real site in DDG
# Drawn on their own (their own random stream, so every other company keeps its facts):
DISCOVERY_CASES = (
    "name_variant",  # the site is under a plain variant of the name (acmebright-eng.com, acmegroup.com)
    "foreign_namesake",  # <core>.com.sg is a Malaysian "(M) Sdn. Bhd." of the same name (KL address, +60)
    "brand_title",  # the site calls itself by a brand, not its legal name ("LeewardPro")
)
ALL_HARD_CASES: tuple[str, ...] = (
    *EXCLUSIVE_CASES, *(c for c, _, _ in COMMON_CASES), *SEARCH_CASES, *DISCOVERY_CASES, "search_only",
)
NAME_VARIANT_SHARE = 0.35  # of the guessable sites
FOREIGN_NAMESAKE_SHARE = 0.1  # of live companies with a guessable name
BRAND_TITLE_SHARE = 0.15  # of the sites

TECH_NAMES: tuple[str, ...] = (
    "WordPress", "Wix", "Shopify", "Squarespace", "Google Analytics", "Google Tag Manager",
    "Facebook Pixel", "HubSpot", "Hotjar", "jQuery", "Bootstrap", "React", "Cloudflare",
)

_FIRST_NAMES = ("Wei Ling", "Jun Jie", "Hui Min", "Kai Xiang", "Siti", "Nur Aisyah", "Muhammad",
                "Priya", "Rajesh", "Daniel", "Rachel", "Marcus", "Jasmine", "Bryan", "Michelle",
                "Arun", "Farah", "Kelvin", "Grace", "Benjamin", "Shu Fen", "Hafiz", "Deepa", "Ethan")
_LAST_NAMES = ("Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua", "Koh", "Teo", "Kumar",
               "Rahman", "Singh", "Yeo", "Chan", "Low", "Pillai", "Ismail", "Sim", "Ho")
_TITLES = ("Managing Director", "Director", "Founder & CEO", "Operations Manager", "Head of Sales",
           "HR Manager", "Finance Manager", "Business Development Manager", "General Manager",
           "Marketing Executive", "Project Manager", "Chief Technology Officer")
_ROLE_LOCALS = ("info", "enquiry", "enquiries", "sales", "hello", "contact", "admin", "accounts",
                "office", "support")
_FOREIGN_STREETS = (("1 Raffles Place", "048616"), ("10 Anson Road", "079903"),
                    ("3 Temasek Boulevard", "038983"), ("71 Robinson Road", "068895"))
_OFFICE_MOVES = (("Ubi Avenue 1", "Oxley Bizhub"), ("Kallang Avenue", "Aperia"),
                 ("Jalan Bukit Merah", "Henderson Industrial Park"), ("Cecil Street", "The Octagon"),
                 ("Changi Business Park Central 2", "UE BizHub East"), ("Woodlands Loop", "Woodlands Bizhub"))
_KL_STREETS = (("Level 12, Menara Binjai, 2 Jalan Binjai", "50450"), ("Suite 8-3, Wisma UOA II, Jalan Pinang", "50450"),
               ("No. 27, Jalan Sultan Ismail", "50250"), ("Level 20, Menara IMC, 8 Jalan Sultan Ismail", "50250"))
_DECOY_ACTIVITIES = ("TECHNOLOGIES", "TRADING", "CONSULTING", "LOGISTICS", "INTERIORS", "HOLDINGS",
                     "MEDIA", "ENGINEERING", "FOODS", "TRAVEL")


@dataclass(frozen=True)
class Address:
    street: str  # as the site prints it: "38 Shenton Way, #29-231 UIC Building"
    postal_code: str
    city: str = "Singapore"
    country: str = "Singapore"


@dataclass(frozen=True)
class Office:
    """An overseas office a Singapore company lists on its contact page."""

    city: str
    country: str
    address: str  # as printed, ending with the city or country
    phone: str  # E.164
    fax: str | None  # E.164
    national: bool  # printed in the country's own national format ("03-2161 8888"), not "+60 3-..."


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    title: str
    linkedin_url: str
    email: str | None  # the work address the contact vendors know (never printed on the site)
    phone: str | None  # E.164
    known_to_lusha: bool

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


# Overseas offices: (city, country, address template, country calling code + area code, first
# digits of the subscriber number, subscriber length). Numbers are checked with libphonenumber.
_OFFICE_PLACES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("Kuala Lumpur", "Malaysia", "Level {n}, Menara {x}, Jalan Sultan Ismail, 50250 Kuala Lumpur, Malaysia",
     "+603", "2", 8),
    ("Jakarta", "Indonesia", "{n}th Floor, Wisma {x}, Jl. Jend. Sudirman Kav. 52-53, Jakarta 12190, Indonesia",
     "+6221", "5", 8),
    ("Hong Kong", "Hong Kong", "Unit {n}03, {x} Centre, 89 Queensway, Admiralty, Hong Kong", "+852", "2", 8),
    ("Ho Chi Minh City", "Vietnam", "Floor {n}, {x} Tower, 2 Hai Ba Trung, District 1, Ho Chi Minh City, Vietnam",
     "+8428", "3", 8),
    ("Shanghai", "China", "Room {n}05, {x} Plaza, 100 Century Avenue, Pudong, Shanghai 200120, China",
     "+8621", "6", 8),
)
_OFFICE_BUILDINGS = ("Hap Seng", "Mulia", "Lippo", "Bitexco", "Raffles", "Central", "Pacific", "Harbour")


@dataclass(frozen=True)
class CompanyTruth:
    """What a perfect enrichment of this company finds on the public web."""

    domain: str | None  # registrable domain of the company's site; None = no website
    found_by: Literal["guess", "search_only"] | None  # guessable from the legal name, or only via search
    site_host: str | None = None  # the host that serves the pages ("www.acme.com.sg" or "acme.com.sg")
    alias_domains: tuple[str, ...] = ()  # other domains of the company that redirect to the site
    decoy_domains: tuple[str, ...] = ()  # guessable domains that are NOT this company's (parked, look-alike)
    emails: tuple[str, ...] = ()  # public emails on crawlable pages, lower case
    phones: tuple[str, ...] = ()  # E.164: the Singapore lines first, then the overseas offices'
    faxes: tuple[str, ...] = ()  # E.164: fax numbers, printed as such (never phones)
    offices: tuple[Office, ...] = ()  # overseas offices (their numbers are in phones/faxes)
    linkedin_url: str | None = None
    socials: Mapping[str, str] = field(default_factory=dict)  # platform -> URL
    address: Address | None = None
    about_text: str | None = None  # the about paragraph as printed
    tech_stack: tuple[str, ...] = ()  # names from TECH_NAMES, detectable from page markup
    jobs_count: int | None = None  # open positions (site or external ATS); None = no careers page
    employees_est: int | None = None  # the number the site states; None = not stated
    hard_cases: frozenset[str] = frozenset()
    crawl_delay_s: float | None = None  # robots.txt Crawl-delay
    bait_emails: tuple[str, ...] = ()  # only under the robots-disallowed path: must never be extracted
    bait_phones: tuple[str, ...] = ()
    uen_on_site: bool = False
    charset: str = "utf-8"
    people: tuple[Person, ...] = ()  # employees the contact vendors (Apify, Lusha) know
    catch_all: bool = False  # the mail server accepts every address (ZeroBounce: catch-all)
    llm_invented: tuple[str, ...] = ()  # email, phone (E.164), URL the LLM emulation invents
    ats_url: str | None = None  # external job board (external_ats)
    # The about page's sentence stating the company's revenue, and the amount in SGD; phrased
    # so only a reader of meaning (the LLM) gets it when `revenue_llm_only`. `revenue_trap`: a
    # sentence with a figure that is not the company's revenue (its clients' growth, a goal).
    revenue_text: str | None = None
    revenue_sgd: int | None = None
    revenue_llm_only: bool = False
    revenue_trap: str | None = None
    site_brand: str | None = None  # what the site calls itself when not its legal name (brand_title)
    registration_no: str | None = None  # a foreign namesake's company number, printed on its site


@dataclass(frozen=True)
class SandboxCompany:
    uen: str
    name: str  # the registry's entity_name
    status: str
    entity_type: str
    incorporated: str  # registration_incorporation_date as published ("" / "na" possible)
    industry: str  # primary SSIC description
    registered_address: Address | None
    truth: CompanyTruth
    is_decoy: bool = False  # a look-alike company invented by the sandbox, not in the registry sample

    @property
    def display_name(self) -> str:
        return names.display_name(self.name)

    @property
    def brand(self) -> str:
        return self.truth.site_brand or names.brand_name(self.name)


HostKind = Literal["site", "redirect", "parked", "foreign"]


@dataclass(frozen=True)
class HostEntry:
    kind: HostKind
    company: SandboxCompany  # the site's owner; for "parked", the company the decoy targets
    target_host: str | None = None  # "redirect": where to


@dataclass(eq=False)
class World:
    seed: int
    companies: Sequence[SandboxCompany]  # the registry sample's companies, in file order
    decoys: Sequence[SandboxCompany]  # look-alike companies that own decoy domains
    hosts: Mapping[str, HostEntry]  # every host name of the world's web
    # Indexes built on first use (search, third-party pages), guarded by cache_lock.
    caches: dict[str, object] = field(default_factory=dict, init=False, repr=False)
    cache_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _by_uen: dict[str, SandboxCompany] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_uen = {c.uen: c for c in (*self.companies, *self.decoys)}

    def company(self, uen: str) -> SandboxCompany | None:
        return self._by_uen.get(uen.strip().upper())

    def host(self, host: str) -> HostEntry | None:
        return self.hosts.get(host.lower().rstrip("."))

    def with_case(self, case: str) -> list[SandboxCompany]:
        """Registry companies carrying a hard case (see ALL_HARD_CASES)."""
        return [c for c in self.companies if case in c.truth.hard_cases]


# ------------------------------------------------------------------------------ builder


def _rng(seed: int, uen: str, purpose: str) -> random.Random:
    return random.Random(f"acra-sandbox:{seed}:{uen}:{purpose}")


# (sentence with {amount}, amount as printed, SGD, only an LLM reads it)
_REVENUE_STATEMENTS = (
    ("Last year we achieved an annual turnover of {amount}.", "S${n} million", 1_000_000, False),
    ("Our revenue exceeded {amount} in FY2024.", "SGD {n}m", 1_000_000, False),
    ("Group revenue: {amount}.", "US${n} million", 1_350_000, False),
    ("Annual sales of over {amount} and counting.", "S${n}0,000", 10_000, False),
    ("Last year the business turned over more than {amount}.", "S${n} million", 1_000_000, True),
)
_REVENUE_TRAPS = (
    "We have helped our clients grow their sales by S${n} million.",
    "Our revenue target is S${n}0 million by 2030.",
    "Plans start from S${n}9 per month.",
)


def _revenue(seed: int, uen: str) -> dict[str, Any]:
    """A revenue sentence for some companies, a trap sentence for others (own draw: the rest of
    the world is as before)."""
    r = _rng(seed, uen, "revenue")
    draw, n = r.random(), r.choice((2, 3, 4, 6, 8, 12, 15, 25, 40))
    if draw < 0.3:
        sentence, amount, unit, llm_only = r.choice(_REVENUE_STATEMENTS)
        return {"revenue_text": sentence.format(amount=amount.format(n=n)), "revenue_sgd": n * unit,
                "revenue_llm_only": llm_only}
    if draw < 0.45:
        return {"revenue_trap": r.choice(_REVENUE_TRAPS).format(n=n)}
    return {}


def _site_chance(status: str, entity_type: str) -> float:
    if status in LIVE_STATUSES:
        return {"Local Company": 0.68, "Foreign Company": 0.72, "Public Accounting Firm": 0.8,
                "Limited Liability Partnership": 0.6}.get(entity_type, 0.48)
    if status.startswith("In Liquidation") or status.startswith("Gazetted"):
        return 0.25
    return 0.04  # struck off, dissolved, cancelled: the odd stale site


def _registry_address(rec: Mapping[str, str]) -> Address | None:
    if rec.get("address_type") != "LOCAL" or not rec.get("postal_code"):
        return None
    street = names.display_name(f"{rec['block']} {rec['street_name']}".strip())
    unit = f"#{rec['level_no']}-{rec['unit_no']}" if rec.get("level_no") and rec.get("unit_no") else ""
    building = names.display_name(rec.get("building_name", ""))
    rest = " ".join(x for x in (unit, building) if x)
    return Address(f"{street}, {rest}" if rest else street, rec["postal_code"])


def _landline(r: random.Random) -> str:
    # 6 then 1-8 (not 6: 6623 and 694x are unallocated), as the numbering plan allows
    return f"+656{r.choice('1234578')}{r.randrange(1_000_000):06d}"


def _mobile(r: random.Random) -> str:
    return f"+65{r.choice(('8', '9'))}{r.choice('12345678')}{r.randrange(1_000_000):06d}"


def _valid_number(r: random.Random, prefix: str, lead: str, length: int) -> str:
    for _ in range(50):
        number = prefix + lead + "".join(str(r.randrange(10)) for _ in range(length - len(lead)))
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number
    raise AssertionError(f"no valid number under {prefix}{lead}")  # the table above is wrong


def _numbers(seed: int, uen: str, phones: list[str]) -> tuple[tuple[str, ...], tuple[Office, ...]]:
    """Fax numbers (often the main line's neighbour) and overseas offices, from their own draw
    so the rest of the company stays as it was before they existed."""
    r = _rng(seed, uen, "numbers")
    faxes: list[str] = []
    if r.random() < 0.45:
        main = phones[0]
        neighbour = main[:-1] + str((int(main[-1]) + 1) % 10)
        faxes.append(neighbour if r.random() < 0.5 and neighbour not in phones else _landline(r))
    offices: list[Office] = []
    if r.random() < 0.15:
        for city, country, template, prefix, lead, length in r.sample(_OFFICE_PLACES, r.choice((1, 1, 2))):
            phone = _valid_number(r, prefix, lead, length)
            fax = _valid_number(r, prefix, lead, length) if r.random() < 0.5 else None
            address = template.format(n=r.randrange(2, 40), x=r.choice(_OFFICE_BUILDINGS))
            offices.append(Office(city, country, address, phone, fax if fax != phone else None, r.random() < 0.6))
    faxes += [o.fax for o in offices if o.fax]
    return tuple(f for f in dict.fromkeys(faxes) if f not in phones), tuple(offices)


def _moved_address(r: random.Random) -> Address:
    street, building = r.choice(_OFFICE_MOVES)
    return Address(f"{r.randrange(1, 200)} {street}, #{r.randrange(1, 20):02d}-{r.randrange(1, 120):02d} {building}",
                   f"{r.choice(('40', '41', '46', '48', '52', '60', '73', '07', '06'))}{r.randrange(10000):04d}")


def _people(r: random.Random, seed: int, uen: str, domain: str | None, count: int) -> tuple[Person, ...]:
    people = []
    used: set[tuple[str, str]] = set()
    pattern = r.choice(("first.last", "first", "flast", "firstlast"))
    for i in range(count):
        first, last = r.choice(_FIRST_NAMES), r.choice(_LAST_NAMES)
        if (first, last) in used:
            continue
        used.add((first, last))
        f, l_ = first.lower().replace(" ", ""), last.lower()
        local = {"first.last": f"{f}.{l_}", "first": f, "flast": f"{f[0]}{l_}", "firstlast": f"{f}{l_}"}[pattern]
        email = f"{local}@{domain}" if domain else None
        handle = f"{f}-{l_}-{_rng(seed, uen, f'p{i}').getrandbits(28):07x}"
        people.append(Person(first, last, _TITLES[0] if i == 0 else r.choice(_TITLES[3:]),
                             f"https://www.linkedin.com/in/{handle}", email,
                             _mobile(r) if r.random() < 0.6 else None, r.random() < 0.7))
    return tuple(people)


def _guess_domains(name: str, r: random.Random) -> list[str]:
    """Candidate guessable domains in the order this company would have picked them."""
    labels = names.guess_labels(name)
    if not labels:
        return []
    tld_order = sorted(names.GUESS_TLDS, key=lambda t: r.random() * {"com.sg": 1.0, "com": 1.6, "sg": 3.0}[t])
    # Most companies register the short form; some the whole name.
    first_label = labels[0] if r.random() < 0.7 or len(labels) == 1 else r.choice(labels[1:])
    ordered = [first_label] + [lab for lab in labels if lab != first_label]
    return [f"{lab}.{tld}" for lab in ordered for tld in tld_order]


def _search_only_domain(name: str, r: random.Random) -> str:
    """A brand domain no guesser derives from the legal name (found only by searching)."""
    tokens = names.distinctive_tokens(name) or names.core_tokens(name) or ["biz"]
    word = tokens[0]
    label = r.choice((f"get{word}", f"{word}hq", f"the{word}", f"{word}global", f"go{word}", f"my{word}",
                      "".join(t[0] for t in names.name_tokens(name)) + "sg" + str(r.randrange(10, 99))))
    return f"{label}.{r.choice(('com', 'io', 'asia', 'co', 'net'))}"


def _brand_title(seed: int, uen: str, name: str) -> str | None:
    """A brand some sites use instead of their legal name: the lead word and the start of the
    next, run together ("LEEWARD PRODUCTIONS" -> "LeewardPro"); drawn on its own stream."""
    b = _rng(seed, uen, "brand")
    tokens = names.name_tokens(name)
    if b.random() >= BRAND_TITLE_SHARE or len(tokens) < 2 or len(tokens[0]) < 4 or len(tokens[1]) < 5:
        return None
    return tokens[0].capitalize() + tokens[1][:3].capitalize()


def _decoy_uen(r: random.Random) -> str:
    # ROC numbers from 1950-1964: the sample generator registers local companies from 1965 on,
    # so a decoy never shares a UEN with a registry company.
    body = f"{r.randrange(1950, 1965)}{r.randrange(100000):05d}"
    return body + stdnum_uen.calc_local_company_check_digit(body)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.taken: set[str] = set()  # registrable domains in use: never two owners
        self.hosts: dict[str, HostEntry] = {}
        self.sites = 0  # companies with a website so far: drives the hard-case strides
        self.companies: list[SandboxCompany] = []
        self.decoys: list[SandboxCompany] = []

    def _take(self, domain: str) -> str:
        self.taken.add(domain)
        return domain

    # -- one company ---------------------------------------------------------------

    def add(self, rec: Mapping[str, str]) -> None:
        uen, name = rec["uen"], rec["entity_name"]
        status, etype = rec.get("entity_status_description", ""), rec.get("entity_type_description", "")
        r = _rng(self.seed, uen, "truth")
        reg_addr = _registry_address(rec)
        has_site = r.random() < _site_chance(status, etype)
        guesses = _guess_domains(name, r)
        cases: set[str] = set()
        if has_site:
            k = self.sites
            self.sites += 1
            if k % 2 == 0:
                cases.add(EXCLUSIVE_CASES[(k // 2) % len(EXCLUSIVE_CASES)])
            cases.update(c for c, stride, off in COMMON_CASES if k % stride == off)
            if k % 5 in (0, 1, 3):
                cases.add("directory_above")
        elif status in LIVE_STATUSES and guesses and r.random() < 0.06:
            cases.add("parked_decoy")  # no website, yet its obvious domain answers

        foreign = self._foreign_domain(uen, name, status, cases)
        # Guessable domains already owned by someone else are natural look-alikes.
        decoys = [d for d in guesses if d in self.hosts][:6]
        if foreign is not None:
            decoys.insert(0, foreign)
        free = [d for d in guesses if d not in self.taken]
        squatted: str | None = None
        if cases & {"parked_decoy", "lookalike_decoy"}:
            if free:
                squatted = self._take(free.pop(0))
                decoys.insert(0, squatted)
                # the squatter holds that label; the company's own domain is another form
                label = squatted.split(".", 1)[0]
                free = [d for d in free if d.split(".", 1)[0] != label]
            else:
                cases -= {"parked_decoy", "lookalike_decoy"}
        company = SandboxCompany(uen, name, status, etype, rec.get("registration_incorporation_date", ""),
                                 rec.get("primary_ssic_description", ""), reg_addr,
                                 CompanyTruth(domain=None, found_by=None))
        if not has_site:
            company = replace(company, truth=CompanyTruth(
                domain=None, found_by=None, decoy_domains=tuple(decoys), hard_cases=frozenset(cases)))
        else:
            # guessable unless the draw, a squatter or collisions say otherwise
            search_only = r.random() < 0.2 or not free or (squatted is not None and r.random() < 0.5)
            variant = None if search_only or squatted else self._variant_domain(uen, name)
            if search_only:
                domain = _search_only_domain(name, r)
                while domain in self.taken:
                    domain = _search_only_domain(name, r)
                cases.add("search_only")
            elif variant is not None:
                domain = variant
                cases.add("name_variant")
            else:
                domain = free.pop(0)
            self._take(domain)
            site_host = f"www.{domain}" if r.random() < 0.6 else domain
            aliases: list[str] = []
            if "redirect_alias" in cases:
                label = domain.split(".", 1)[0]
                alias = next((d for d in free if d.split(".", 1)[0] == label), None) or next(iter(free), None)
                if alias is None:
                    cases.discard("redirect_alias")
                else:
                    aliases.append(self._take(alias))
            company = replace(company, truth=self._site_truth(
                company, r, domain, site_host, aliases, decoys, cases, reg_addr))
            brand = _brand_title(self.seed, uen, name)
            if brand is not None:
                company = replace(company, truth=replace(company.truth, site_brand=brand,
                                                         hard_cases=company.truth.hard_cases | {"brand_title"}))
            self._register_site(company)
        if foreign is not None:
            self._register_foreign(company, foreign)
        if squatted is not None:
            if "parked_decoy" in cases:
                self.hosts[squatted] = HostEntry("parked", company)
                self.hosts["www." + squatted] = HostEntry("parked", company)
            else:
                self._register_lookalike(company, squatted)
        self.companies.append(company)

    def _variant_domain(self, uen: str, name: str) -> str | None:
        v = _rng(self.seed, uen, "variant")
        if v.random() >= NAME_VARIANT_SHARE:
            return None
        free = [d for d in names.variant_domains(name) if d not in self.taken]
        return v.choice(free) if free else None

    def _site_truth(self, company: SandboxCompany, r: random.Random, domain: str, site_host: str,
                    aliases: list[str], decoys: list[str], cases: set[str],
                    reg_addr: Address | None) -> CompanyTruth:
        uen = company.uen
        # emails: role addresses at the domain; some small firms use a free mailbox instead
        emails: list[str] = []
        x = r.random()
        styled = cases & {"cloudflare_email", "obfuscated_at_dot", "obfuscated_paren_at", "mailto_only",
                          "contact_two_deep", "robots_bait"}
        if styled or x >= 0.1:  # else the site has a contact form only
            if x < 0.25 and company.entity_type == "Sole Proprietorship/ Partnership" and not styled:
                word = (names.core_tokens(company.name) or ["biz"])[0]
                emails.append(f"{word}{r.randrange(10, 99)}@gmail.com")  # small firms use a free mailbox
            else:
                emails += [f"{loc}@{domain}" for loc in r.sample(_ROLE_LOCALS, r.choice((1, 1, 2, 2, 3)))]
        people = _people(r, self.seed, uen, domain, r.choice((0, 1, 2, 2, 3, 4, 5, 6)))
        domain_mail = bool(emails) and emails[0].endswith("@" + domain)
        if domain_mail and people and people[0].email and r.random() < 0.25:
            emails.append(people[0].email)  # the boss's address printed on the contact page
        if domain_mail and cases & {"careers_page", "external_ats"}:
            emails.append(f"careers@{domain}")
        phones = [_landline(r)]
        if r.random() < 0.4:
            phones.append(_mobile(r))
        faxes, offices = _numbers(self.seed, uen, phones)
        phones += [o.phone for o in offices]
        address = reg_addr if reg_addr is not None and r.random() < 0.85 else (
            _moved_address(r) if reg_addr is not None else Address(*r.choice(_FOREIGN_STREETS)))
        slug = names.slug(company.name)
        linkedin = f"https://www.linkedin.com/company/{slug}" if r.random() < 0.6 else None
        socials: dict[str, str] = {}
        if r.random() < 0.5:
            socials["facebook"] = f"https://www.facebook.com/{slug.replace('-', '')}"
        if r.random() < 0.3:
            socials["instagram"] = f"https://www.instagram.com/{slug.replace('-', '_')}"
        if r.random() < 0.1:
            socials["youtube"] = f"https://www.youtube.com/@{slug.replace('-', '')}"
        if r.random() < 0.1:
            socials["x"] = f"https://x.com/{slug.replace('-', '')[:15]}"
        tech = self._tech(r, cases)
        employees = None
        if cases & {"employee_hint", "jsonld_org"}:
            employees = r.choice((5, 8, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 500))
        jobs = None
        ats_url = None
        if "external_ats" in cases:
            jobs = r.randrange(1, 9)
            board = r.choice(("boards.greenhouse.io", "jobs.lever.co"))
            ats_url = f"https://{board}/{slug.replace('-', '')}"
        elif "careers_page" in cases:
            jobs = r.choice((0, 1, 2, 3, 4, 5, 6, 8, 12))
        charset = {"charset_cp1252": "windows-1252", "charset_shift_jis": "shift_jis",
                   "charset_gb2312": "gb2312", "charset_undeclared": "windows-1252"}.get(
            next((c for c in cases if c.startswith("charset_")), ""), "utf-8")
        about = _about_text(company, r, charset)
        bait_emails: tuple[str, ...] = ()
        bait_phones: tuple[str, ...] = ()
        if "robots_bait" in cases:
            bait_emails = (f"payroll.internal@{domain}", f"staff.directory@{domain}")
            bait_phones = (_landline(r),)
        invented: tuple[str, ...] = ()
        if "llm_invents" in cases:
            ir = _rng(self.seed, uen, "llm")
            first, last = ir.choice(_FIRST_NAMES).split()[0].lower(), ir.choice(_LAST_NAMES).lower()
            fake_email = f"{first}.{last}.director@{domain}"
            invented = (fake_email, _landline(ir),
                        f"https://www.linkedin.com/company/{slug}-official-sg")
        crawl_delay = float(r.choice((1, 2))) if "crawl_delay" in cases else None
        return CompanyTruth(
            domain=domain, found_by="search_only" if "search_only" in cases else "guess",
            site_host=site_host, alias_domains=tuple(aliases), decoy_domains=tuple(decoys),
            emails=tuple(dict.fromkeys(e.lower() for e in emails)), phones=tuple(dict.fromkeys(phones)),
            faxes=faxes, offices=offices,
            linkedin_url=linkedin, socials=socials, address=address, about_text=about,
            tech_stack=tech, jobs_count=jobs, employees_est=employees, hard_cases=frozenset(cases),
            crawl_delay_s=crawl_delay, bait_emails=bait_emails, bait_phones=bait_phones,
            uen_on_site="uen_footer" in cases, charset=charset, people=people,
            catch_all=r.random() < 0.1, llm_invented=invented, ats_url=ats_url, **_revenue(self.seed, uen),
        )

    @staticmethod
    def _tech(r: random.Random, cases: set[str]) -> tuple[str, ...]:
        tech: list[str] = []
        if "script_only" in cases:
            tech.append("React")
        else:
            x = r.random()
            cms = "WordPress" if x < 0.4 else "Wix" if x < 0.5 else "Shopify" if x < 0.58 else \
                "Squarespace" if x < 0.63 else None
            if cms:
                tech.append(cms)
            if r.random() < 0.4 and cms in (None, "WordPress"):
                tech.append("jQuery")
            if r.random() < 0.3 and cms is None:
                tech.append("Bootstrap")
        for name, p in (("Google Analytics", 0.55), ("Google Tag Manager", 0.3), ("Facebook Pixel", 0.15),
                        ("HubSpot", 0.1), ("Hotjar", 0.05)):
            if r.random() < p:
                tech.append(name)
        if "cloudflare_email" in cases:
            tech.append("Cloudflare")
        return tuple(tech)

    # -- hosts ---------------------------------------------------------------------

    def _register_site(self, company: SandboxCompany) -> None:
        t = company.truth
        assert t.domain and t.site_host
        self.hosts[t.site_host] = HostEntry("site", company)
        other = f"www.{t.domain}" if t.site_host == t.domain else t.domain
        self.hosts[other] = HostEntry("redirect", company, t.site_host)
        for alias in t.alias_domains:
            self.hosts[alias] = HostEntry("redirect", company, t.site_host)
            self.hosts[f"www.{alias}"] = HostEntry("redirect", company, t.site_host)

    def _foreign_domain(self, uen: str, name: str, status: str, cases: set[str]) -> str | None:
        """The obvious guess, taken by a Malaysian namesake (drawn on its own random stream)."""
        f = _rng(self.seed, uen, "foreign")
        core = "".join(names.core_tokens(name))
        if f.random() >= FOREIGN_NAMESAKE_SHARE or status not in LIVE_STATUSES or not names.guess_labels(name) \
                or cases & {"parked_decoy", "lookalike_decoy"} or len(core) < 4:
            return None
        domain = f"{core}.com.sg"
        if domain in self.taken:
            return None
        cases.add("foreign_namesake")
        return self._take(domain)

    def _register_foreign(self, company: SandboxCompany, domain: str) -> None:
        """The Malaysian namesake owning `domain`: "(M) Sdn. Bhd.", Kuala Lumpur, +60, a company number."""
        f = _rng(self.seed, company.uen, "foreign-site")
        year = f.randrange(1995, 2024)
        number = f"{year}01{f.randrange(10**6):06d} ({f.randrange(10**5, 10**7)}-{f.choice('ADHKMPTUVWX')})"
        street, postcode = f.choice(_KL_STREETS)
        decoy = SandboxCompany(
            number.split()[0], f"{names.base_name(company.name)} (M) SDN. BHD.", "Live", "Foreign namesake",
            f"{year}-0{f.randrange(1, 10)}-1{f.randrange(0, 10)}", company.industry, None,
            CompanyTruth(domain=domain, found_by="guess", site_host=f"www.{domain}",
                         emails=(f"{f.choice(_ROLE_LOCALS)}@{domain}",),
                         phones=(f"+603{f.randrange(2000, 9999)}{f.randrange(10**4):04d}",),
                         address=Address(street, postcode, "Kuala Lumpur", "Malaysia"), registration_no=number),
            is_decoy=True)
        self.decoys.append(decoy)
        self.hosts[f"www.{domain}"] = HostEntry("foreign", decoy)
        self.hosts[domain] = HostEntry("redirect", decoy, f"www.{domain}")

    def _register_lookalike(self, company: SandboxCompany, domain: str) -> None:
        """A same-word company with its own UEN and address owns `domain` (a decoy)."""
        r = _rng(self.seed, company.uen, "decoy")
        word = domain.split(".", 1)[0].upper().replace("-", " ")
        activity = r.choice([a for a in _DECOY_ACTIVITIES if a not in company.name])
        address = _moved_address(r)
        decoy = SandboxCompany(_decoy_uen(r), f"{word} {activity} PTE. LTD.", "Live Company", "Local Company",
                               f"{r.randrange(1950, 1965)}-0{r.randrange(1, 10)}-1{r.randrange(0, 10)}",
                               "", address, CompanyTruth(domain=None, found_by=None), is_decoy=True)
        decoy = replace(decoy, truth=CompanyTruth(
            domain=domain, found_by="guess", site_host=f"www.{domain}",
            emails=(f"{r.choice(_ROLE_LOCALS)}@{domain}",), phones=(_landline(r),), address=address,
            about_text=_about_text(decoy, r, "utf-8"), tech_stack=("WordPress",),
            hard_cases=frozenset({"uen_footer"}), uen_on_site=True,
        ))
        self.decoys.append(decoy)
        self.hosts[f"www.{domain}"] = HostEntry("site", decoy)
        self.hosts[domain] = HostEntry("redirect", decoy, f"www.{domain}")


_CHARSET_FLAVOUR = {
    "windows-1252": " Our café-style showroom – “where quality meets service” – welcomes you.",
    "shift_jis": " 私たちはシンガポールで信頼されるパートナーです。",
    "gb2312": " 我们是新加坡值得信赖的合作伙伴。",
}


def _about_text(company: SandboxCompany, r: random.Random, charset: str) -> str:
    year = company.incorporated[:4] if company.incorporated[:4].isdigit() else str(r.randrange(1990, 2020))
    industry = (company.industry or "professional services").lower().rstrip(".")
    if len(industry) > 70:
        industry = industry[:70].rsplit(" ", 1)[0]
    opener = r.choice((
        "{n} is a Singapore-based company specialising in {i}, established in {y}.",
        "Founded in {y}, {n} provides {i} to clients across Singapore and the region.",
        "Since {y}, {n} has been a trusted name in {i} in Singapore.",
    )).format(n=company.display_name, i=industry, y=year)
    middle = r.choice((
        "We combine local know-how with dependable service and clear communication.",
        "Our team focuses on quality, safety and on-time delivery for every project.",
        "We serve small businesses, multinationals and public-sector clients alike.",
    ))
    return opener + " " + middle + _CHARSET_FLAVOUR.get(charset, "")


def build_world(seed: int, companies: int) -> World:
    """The first `companies` good ACRA rows for `seed`, each with a decided web presence."""
    if companies < 0:
        raise ValueError("companies must be >= 0")
    return world_from_records(islice(iter_good_records(seed), companies), seed)


def world_from_records(records: Iterable[Mapping[str, str]], seed: int) -> World:
    """A world for any ACRA rows (e.g. a real extract), keyed by canonical column name
    (acra_columns.canonical_name); `uen` and `entity_name` are required, the rest optional."""
    builder = _Builder(seed)
    for rec in records:
        builder.add(rec)
    return World(seed, tuple(builder.companies), tuple(builder.decoys), builder.hosts)

