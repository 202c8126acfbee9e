"""Domains a company plausibly owns, guessed from its legal name, most frequent form first.

A guess is cheap (one cached DNS lookup, see web.dns; through a proxy one robots.txt
request that the proxy answers itself when the name does not exist) and a search is dear
(a slot in a rate-limited provider shared by the whole registry), so the guess set is
wide: every form below under the suffixes Singapore companies use. Each guess that
resolves is still verified like any other candidate before it is believed.

Forms, for "ACME BRIGHT ENGINEERING PTE. LTD." (core = the name without its trailing
line-of-business words, brand = its uncommon words, lead = its first word), in the order
they are tried. The order is how often each form is a Singapore SME's own domain as we
see it in verified websites: the plain core name dominates, then the brand alone and the
whole name; shortened industry words and group forms come next; region tags and the
.asia/.net suffixes last. Re-rank here when verified data says otherwise
(`guess_form(name, domain)` names the form of a known website, for counting).

    core            acmebright              .com.sg .com .sg
    brand           acme                    .com.sg .com .sg
    full            acmebrightengineering   .com.sg .com .sg
    lead            acme (when not a common word)   .com.sg .com .sg
    core+short      acmebrighteng, acmebright-eng   .com.sg .com .sg
    core-hyphen     acme-bright             .com.sg .com .sg
    lead+short      acmeeng, acme-eng       .com.sg .sg .com
    lead+group      acmegroup, acme-group   .com .com.sg .sg
    core+region     acmebrightsg, acmebrightasia, acmebrightglobal   .com
    core            acmebright              .asia .net
    full-hyphen     acme-bright-engineering .com.sg .com
"""

from __future__ import annotations

import re
import unicodedata

from cleanco import basename

MAX_GUESSES = 45
MAIN_SUFFIXES = (".com.sg", ".com", ".sg")
# Line-of-business words that trail a name ("ACME BLUE TRADING") and are often left out
# of the domain (acmeblue.com.sg); region tags likewise.
TRAILING_WORDS = frozenset("""
singapore sg asia pacific international holdings holding group services service trading enterprise
enterprises company engineering construction technologies technology logistics consultancy consulting
investments investment solutions design renovation education ventures supplies systems electrical
transport travel digital media studio properties development management partners advisory resources
industries manufacturing marine catering cleaning works agency food stall clinic medical healthcare
security robotics tuition centre center cafe restaurant bakery beauty fitness realty motor shipping
store mart mini minimart shop plumbing coffee automobile automotive assurance insurance me fb florist kitchen
import export interior interiors contractor contractors builders build printing laundry salon spa
dental pharmacy optical tailor furniture electronics hardware fintech biotech software studios
associates accountants chartered law legal corporation co productions production industrial
communications marketing engineers global
""".split())
# Words too common to be a brand on their own: Singapore surnames, auspicious and everyday
# words that thousands of unrelated names share. A name's other words are its brand.
COMMON_WORDS = frozenset("""
tan lim lee ng ong wong goh chua chan koh teo ang yeo tay ho low sim chong chew chia lau toh seah
wee lai kwek heng foo quek poh yap loh soh kang hock seng huat hup chuan kim ah sin soon guan heng
eng joo keat meng chye golden fortune sunrise sun star lucky happy prosperity prosperous wealth
harmony unity united universal global international eastern western east west north south new
great grand royal supreme premier prime elite apex alpha omega zenith summit pinnacle crown
dragon phoenix lion tiger eagle jade pearl diamond crystal gold silver orient oriental pacific
ocean sea blue green red white black city metro central capital victory vision wisdom evergreen
sunshine bright smart best first one top true trust noble royal bismillah al sri raja kumar
""".split())
# How Singapore companies shorten a line-of-business word in their domain.
SHORT_FORMS: dict[str, str] = {
    "engineering": "eng", "engineers": "eng", "technology": "tech", "technologies": "tech",
    "international": "intl", "logistics": "log", "printing": "print", "construction": "const",
    "manufacturing": "mfg", "management": "mgmt", "electrical": "elec", "development": "dev",
    "enterprise": "ent", "enterprises": "ent", "marketing": "mktg", "corporation": "corp",
    "industries": "ind", "industrial": "ind", "systems": "sys", "communications": "comms",
    "consultancy": "consult", "consulting": "consult", "productions": "pro", "production": "pro",
    "services": "svc", "holdings": "hldg", "interiors": "id", "interior": "id",
    "education": "edu", "medical": "med", "electronics": "elec", "automotive": "auto", "automobile": "auto",
    "properties": "prop", "solutions": "sol",
}
REGION_TAGS = ("sg", "asia", "global")
_PARENS = re.compile(r"\([^)]*\)")
_WORD = re.compile(r"[a-z0-9]+(?:&[a-z0-9]+)?")


def name_words(name: str) -> list[str]:
    """Lower-case ASCII words of the legal name without its legal suffix or parentheses."""
    folded = unicodedata.normalize("NFKD", _PARENS.sub(" ", name)).encode("ascii", "ignore").decode("ascii")
    return [w.replace("&", "") for w in _WORD.findall(basename(folded).lower())]


def _forms(words: list[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(form, label, suffixes) in rank order."""
    core = list(words)
    while len(core) > 1 and core[-1] in TRAILING_WORDS:
        core.pop()
    trailing = words[len(core):]
    brand = [w for w in words if w not in COMMON_WORDS and w not in TRAILING_WORDS and not w.isdigit()]
    short = next((SHORT_FORMS[w] for w in trailing if w in SHORT_FORMS), None)
    lead = core[0]
    joined = "".join(core)
    forms: list[tuple[str, str, tuple[str, ...]]] = [
        ("core", joined, MAIN_SUFFIXES), ("brand", "".join(brand), MAIN_SUFFIXES),
        ("full", "".join(words), MAIN_SUFFIXES),
    ]
    if len(core) > 1 and len(lead) >= 4 and lead not in COMMON_WORDS and not lead.isdigit():
        forms.append(("lead", lead, MAIN_SUFFIXES))
    if short:
        forms += [("core+short", joined + short, MAIN_SUFFIXES),
                  ("core+short", f"{joined}-{short}", MAIN_SUFFIXES)]
    forms.append(("core-hyphen", "-".join(core), MAIN_SUFFIXES))
    if short and len(core) > 1:
        forms += [("lead+short", lead + short, (".com.sg", ".sg", ".com")),
                  ("lead+short", f"{lead}-{short}", (".com.sg", ".sg", ".com"))]
    if len(lead) >= 3:
        forms += [("lead+group", lead + "group", (".com", ".com.sg", ".sg")),
                  ("lead+group", f"{lead}-group", (".com", ".com.sg", ".sg"))]
    forms += [("core+region", joined + tag, (".com",)) for tag in REGION_TAGS if not joined.endswith(tag)]
    forms += [("core", joined, (".asia", ".net")), ("full-hyphen", "-".join(words), (".com.sg", ".com"))]
    return forms


def guess_domains(name: str) -> list[str]:
    """Domains a company with this legal name plausibly owns, most likely first (at most MAX_GUESSES)."""
    words = name_words(name)
    out: list[str] = []
    for _, label, suffixes in _forms(words) if words else []:
        if not 3 <= len(label) <= 63 or label.startswith("-") or label.endswith("-"):
            continue
        for suffix in suffixes:
            if label + suffix not in out:
                out.append(label + suffix)
    return out[:MAX_GUESSES]


def guess_form(name: str, domain: str) -> str | None:
    """Which form of the guesses `domain` is for this name ("core", "lead+group", ...), or None:
    what to count over verified websites to re-rank the forms."""
    words = name_words(name)
    label = domain.lower().removeprefix("www.").split(".", 1)[0]
    return next((form for form, form_label, _ in _forms(words) if form_label == label), None) if words else None
