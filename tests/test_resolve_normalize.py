"""normalize_name: one key for the ways one company is written (English and Chinese)."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanco import basename as cleanco_basename
from cleanco.clean import prepare_default_terms

from acra_enrich.resolve.normalize import (
    _CLEANCO_LAST_WORDS,
    _INITIALISM,
    _INITIALISM_HINT,
    _ascii_punctuation_to_spaces,
    _collapse_spaces,
    _cleanco_strip,
    _unicode_punctuation_to_spaces,
    normalize_name,
)

SAME_COMPANY = [
    # (written one way, written another way, the key)
    ("ACME PTE. LTD.", "Acme Pte Ltd", "acme"),
    ("Acme Private Limited", "ACME PTE LTD", "acme"),
    ("Acme Ltd", "ACME LIMITED", "acme"),
    ("Tan & Sons Sdn. Bhd.", "TAN AND SONS SDN BHD", "tan and sons"),
    ("Lee Partners LLP", "Lee Partners L.L.P.", "lee partners"),
    ("A.B.C. Trading Pte Ltd", "ABC TRADING PTE. LTD.", "abc trading"),
    ("McDonald's Restaurants Pte Ltd", "MCDONALDS RESTAURANTS PTE LTD", "mcdonalds restaurants"),
    ("Café Nero Ltd", "CAFE NERO LIMITED", "cafe nero"),
    ("  Acme   Holdings\tPte Ltd ", "Acme Holdings Pte. Ltd.", "acme holdings"),
    ("Acme Co., Ltd.", "ACME CO LTD", "acme"),
    ("Globex Inc.", "Globex Incorporated", "globex"),
    # full-width forms (NFKC) and brackets of every style
    ("ＡＣＭＥ　ＰＴＥ　ＬＴＤ", "ACME PTE LTD", "acme"),
    ("Acme (Asia) Pte Ltd", "Acme [Asia] Pte Ltd", "acme asia"),
    ("Acme【Asia】Pte Ltd", "Acme 「Asia」 Pte Ltd", "acme asia"),
    # Chinese legal forms, simplified and traditional
    ("平安银行股份有限公司", "平安银行有限公司", "平安银行"),
    ("中国平安保险（集团）股份有限公司", "中国平安保险(集团)股份有限公司", "中国平安保险集团"),
    ("中国平安保险（集团）股份有限公司", "中国平安保险集团有限责任公司", "中国平安保险集团"),
    ("台積電股份有限公司", "台積電有限公司", "台積電"),
    ("富达信息科技私人有限公司", "富达信息科技 私人有限公司", "富达信息科技"),
    ("【平安】银行有限公司", "平安银行公司", "平安银行"),
    ("ACME（新加坡）私人有限公司", "ACME (新加坡) 私人有限公司", "acme 新加坡"),
]


@pytest.mark.parametrize(("one", "other", "key"), SAME_COMPANY)
def test_variants_of_one_company_share_a_key(one: str, other: str, key: str) -> None:
    assert normalize_name(one) == key
    assert normalize_name(other) == key


DIFFERENT_COMPANIES = [
    ("Acme Trading Pte Ltd", "Acme Holdings Pte Ltd"),
    ("Acme (S) Pte Ltd", "Acme Pte Ltd"),  # a region tag is part of the registered name
    ("平安银行股份有限公司", "平安保险股份有限公司"),
    ("株式会社ガスト", "株式会社カスト"),  # kana marks are not accents: kept
    ("Apple Company", "Apple Computer"),
]


@pytest.mark.parametrize(("one", "other"), DIFFERENT_COMPANIES)
def test_different_companies_keep_different_keys(one: str, other: str) -> None:
    assert normalize_name(one) != normalize_name(other)


@pytest.mark.parametrize(("name", "key"), [
    (None, ""),
    ("", ""),
    ("   ", ""),
    ("---", ""),
    ("（）", ""),
    # a name that is nothing but a legal form keeps it rather than vanishing
    ("Pte Ltd", "pte ltd"),
    ("LLP", "llp"),
    ("有限公司", "有限公司"),
    ("Company", "company"),
])
def test_edge_cases(name: str | None, key: str) -> None:
    assert normalize_name(name) == key


@given(st.text(max_size=60))
def test_normalising_twice_changes_nothing(name: str) -> None:
    once = normalize_name(name)
    assert normalize_name(once) == once


@given(st.text(alphabet=st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=30))
def test_a_name_with_letters_never_normalises_to_nothing(name: str) -> None:
    assert normalize_name(name) != ""


# --- the shortcut past cleanco's term scan gives cleanco's own answer ---------------------------

_CLEANCO_TERMS = sorted({" ".join(parts) for _, parts in prepare_default_terms()})
_WORD = st.one_of(
    st.sampled_from(_CLEANCO_TERMS),
    st.sampled_from(["acme", "golden", "dragon", "co.", "Ltd.", "S.A.", "a/s", "GmbH", "ＡＣＭＥ", "Café", "有限公司",
                     "ООО", "x¨", "-", "(S)", "1/2", "ß"]),
    st.text(min_size=1, max_size=8),
)


@given(st.lists(_WORD, min_size=1, max_size=6), st.sampled_from([" ", "  ", ", ", ".", "\t", "\u00a0", ""]))
def test_the_cleanco_shortcut_matches_cleanco(words: list[str], separator: str) -> None:
    name = separator.join(words)
    assert _cleanco_strip(name) == " ".join(cleanco_basename(name).split())


# --- the ASCII fast paths give the general paths' answers ---------------------------------------

_ASCII_TERMS = [t for t in _CLEANCO_TERMS if t.isascii()]
_ASCII_NAME = st.lists(st.one_of(st.sampled_from(_ASCII_TERMS + ["A.B.C.", "McDonald's", "&", "Pte.", "Ltd.", "`x`"]),
                                 st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=8)),
                       min_size=1, max_size=6).map(" ".join)


@given(_ASCII_NAME)
def test_the_ascii_punctuation_table_matches_the_unicode_one(name: str) -> None:
    assert _ascii_punctuation_to_spaces(name) == _unicode_punctuation_to_spaces(name)


@given(_ASCII_NAME)
def test_a_name_ending_in_a_word_cleanco_never_ends_on_is_left_as_cleanco_leaves_it(name: str) -> None:
    text = " ".join(_ascii_punctuation_to_spaces(name.casefold()).split())
    last = text.split(" ")[-1]
    if last.isalnum() and last not in _CLEANCO_LAST_WORDS:  # the shortcut in _strip_suffix_once
        assert _cleanco_strip(text) == text


# --- the cheap steps give the answers of the regular expressions they replace ------------------

def test_collapsing_spaces_treats_every_code_point_as_the_re_module_does() -> None:
    spaces = re.compile(r"\s+")
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        text = f"{c}a{c}{c}b {c}"
        assert _collapse_spaces(text) == spaces.sub(" ", text).strip(), hex(code)


@given(st.lists(st.sampled_from(["a", "B", "1", "_", ".", " ", "é", "中", "-", "a.", "b.c"]), max_size=12).map("".join))
def test_every_initialism_carries_the_hint_looked_for_first(text: str) -> None:
    if _INITIALISM.search(text):
        assert _INITIALISM_HINT.search(text)
