"""From a registry name to the words, display name and domain labels a company would use.

Shared by the world (which domains a company owns) and the renderers (how a site names its
owner), so both agree. The guessable domain forms are the ones a reasonable guesser tries:
`{label}.{tld}` for every label of `guess_labels(name)` and every tld of `GUESS_TLDS`.
"""

from __future__ import annotations

import re
import unicodedata

GUESS_TLDS: tuple[str, ...] = ("com.sg", "sg", "com")

_LEGAL_TAIL = re.compile(
    r"[\s,]*(?:\(PTE\.?\)\s*LTD\.?|PTE\.?\s*LTD\.?|PTE\.?\s*LIMITED|PRIVATE\s+LIMITED|LIMITED|LTD\.?"
    r"|LLP|LP|INC\.?|CORPORATION|CO\.,?\s*LTD\.?|GMBH|SDN\.?\s*BHD\.?|B\.V\.|PLC|AG|S\.A\.|PTY\.?\s*LTD\.?)\s*$"
)
_PARENS = re.compile(r"\([^)]*\)")
_TOKEN = re.compile(r"[a-z0-9]+(?:&[a-z0-9]+)?")

# Words that describe a line of business rather than name a company: a domain built from
# them alone would belong to anyone.
GENERIC_WORDS = frozenset("""
trading engineering construction holdings technologies technology logistics consultancy services
enterprise investments investment fb food marine solutions design build renovation education centre
ventures beauty medical clinic realty supplies import export me international group asia pacific
systems electrical plumbing catering transport travel digital media studio properties development
management partners advisory resources industries manufacturing automobile shipping security
cleaning florist bakery kitchen coffee robotics fintech biotech healthcare fitness tuition works
agency store mini mart motor stall co and assurance associates chartered accountants corporation
singapore sea
""".split())
# Everyday words and surnames that many unrelated names share.
COMMON_WORDS = frozenset("""
alpha apex atlas blue ocean bright capital central chuan crystal dragon eagle east eastern elite
evergreen fortune global golden grand green happy harmony hock seng hup jade kim lion city lotus
merlion metro new noble nova orchid orient phoenix prime raffles royal sin sunrise supreme tan lim
ong wee teo goh ng koh chua lee wong ah huat sri murugan raj muthu al amin bismillah nusantara star
trinity united universal vertex victory vision wisdom zenith kaizen sakura seoul mekong borneo
sentosa marina tiong bahru katong kumar smith rahman low yeo chan cafe maison decor etoile johns
naive grun metis sao paulo konig marys sunny the best a boy
""".split())
_ACRONYMS = frozenset({"M&E", "F&B", "LLP", "LP", "PTE.", "PTE", "LTD.", "LTD", "CO.,", "B.V.", "PLC", "AG",
                       "S.A.", "SDN.", "BHD.", "PAC", "(S)", "(SEA)", "3D", "A1", "1ST"})


def ascii_fold(text: str) -> str:
    """Accents removed, anything without an ASCII form (CJK) dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def base_name(name: str) -> str:
    """The name without its legal suffix and region tags, still upper case."""
    core = name
    while True:
        stripped = _LEGAL_TAIL.sub("", core)
        if stripped == core:
            break
        core = stripped
    return " ".join(_PARENS.sub(" ", core).split())


def name_tokens(name: str) -> list[str]:
    """Lower-case ASCII words of the name without legal suffix; `M&E` becomes `me`."""
    return [t.replace("&", "") for t in _TOKEN.findall(ascii_fold(base_name(name)).lower())]


def distinctive_tokens(name: str) -> list[str]:
    return [t for t in name_tokens(name)
            if t not in GENERIC_WORDS and t not in COMMON_WORDS and not t.isdigit() and len(t) >= 4]


def core_tokens(name: str) -> list[str]:
    """Words of the name up to its trailing line-of-business words (`ACME BLUE TRADING` -> acme, blue)."""
    tokens = name_tokens(name)
    end = len(tokens)
    while end > 1 and tokens[end - 1] in GENERIC_WORDS:
        end -= 1
    return tokens[:end]


def guess_labels(name: str) -> list[str]:
    """Domain labels (left of the TLD) someone guessing from the legal name would try, most
    natural first: the brand word alone, the core words joined or hyphenated, the whole name
    joined or hyphenated. Empty when the name is too generic to own a domain by guessing."""
    tokens = name_tokens(name)
    if not tokens:
        return []
    core = core_tokens(name)
    distinct = distinctive_tokens(name)
    labels: list[str] = []
    if len(distinct) == 1:
        labels.append(distinct[0])
    labels += ["".join(core), "-".join(core), "".join(tokens), "-".join(tokens)]
    out: list[str] = []
    for label in labels:
        if label and label not in out and 4 <= len(label) <= 40:
            out.append(label)
    if not distinct and all(t in GENERIC_WORDS or t in COMMON_WORDS or t.isdigit() for t in tokens):
        return []
    return out


# Shortened line-of-business words and the suffixes real Singapore companies put on the
# plain variants of their name (ACME BRIGHT ENGINEERING -> acmebright-eng.com, acme-eng.sg,
# acmegroup.com): guessable, but not by the plain forms above.
SHORT_WORDS: dict[str, str] = {
    "engineering": "eng", "technology": "tech", "technologies": "tech", "international": "intl",
    "logistics": "log", "printing": "print", "construction": "const", "manufacturing": "mfg",
    "management": "mgmt", "electrical": "elec",
}


def variant_domains(name: str) -> list[str]:
    """Plain variants of the name a company may register instead of its obvious domain: the
    core with a shortened industry word, the lead word with it or with "group" (under .com,
    .sg, .com.sg), the core with a region tag (.com), the core under .asia or .net. None of
    them is a `guess_labels` x `GUESS_TLDS` form."""
    tokens, core = name_tokens(name), core_tokens(name)
    if not core or not guess_labels(name):
        return []
    joined, lead = "".join(core), core[0]
    short = next((SHORT_WORDS[t] for t in tokens[len(core):] if t in SHORT_WORDS), None)
    labels = [f"{joined}-{short}", f"{joined}{short}", f"{lead}-{short}"] if short else []
    if len(lead) >= 4 and lead not in GENERIC_WORDS and lead not in COMMON_WORDS:
        labels += [f"{lead}group", f"{lead}-group"]
    plain = set(guess_labels(name))
    domains = [f"{label}.{tld}" for label in dict.fromkeys(labels) if label not in plain and 4 <= len(label) <= 40
               for tld in ("com", "sg", "com.sg")]
    domains += [f"{joined}{tag}.com" for tag in ("sg", "asia")] + [f"{joined}.asia", f"{joined}.net"]
    return domains


def slug(name: str) -> str:
    """URL slug of the base name (`katrazen-engineering`)."""
    return "-".join(name_tokens(name)) or "company"


def display_name(name: str) -> str:
    """How a company writes its own legal name: `Katrazen Engineering Pte. Ltd.`"""
    words = []
    for word in name.split():
        upper = word.upper()
        if upper in _ACRONYMS or any(ch.isdigit() for ch in word) or not word.isascii():
            words.append(word if upper not in ("PTE.", "PTE", "LTD.", "LTD") else word.capitalize())
        elif upper.startswith('"') or upper.startswith("("):
            words.append(word[0] + word[1:].capitalize())
        else:
            words.append(word.capitalize())
    return " ".join(words)


def brand_name(name: str) -> str:
    """The short name a site puts in its header: the base name in title case."""
    return display_name(base_name(name)) or display_name(name)
