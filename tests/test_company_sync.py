"""staging_acra_companies -> companies: mapping, identity, protection of enriched data."""

from __future__ import annotations

from pathlib import Path

import psycopg

from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies, upsert_company
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.registry.ssic import bundled_subclasses
from acra_enrich.registry.ssic_store import ensure_bundled_ssic

HEADER = "uen,entity_name,entity_status_description,registration_incorporation_date,primary_ssic_code,primary_ssic_description,postal_code,street_name,block\n"


def _load_text(db: psycopg.Connection, tmp_path: Path, body: str, name: str = "rows.csv") -> None:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    load_acra_file(db, path)


def _company(db: psycopg.Connection, uen: str) -> tuple:
    return db.execute(
        "SELECT name, industry_code, industry_norm, industry, incorporation_year, status, hq_postal_code, hq_country "
        "FROM companies WHERE uen = %s", (uen,)
    ).fetchone()


def test_generated_registry_syncs_once_then_is_unchanged(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "acra.csv"
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=2500, seed=17)
    load_acra_file(db, path)
    ensure_bundled_ssic(db)

    first = sync_companies(db)
    assert (first.seen, first.inserted, first.updated) == (2500, 2500, 0)
    assert db.execute("SELECT count(*) FROM companies").fetchone()[0] == 2500
    # Every staged row maps: the year comes from the incorporation date, the code is digits.
    bad = db.execute(
        "SELECT count(*) FROM companies c JOIN staging_acra_companies s USING (uen) "
        "WHERE c.incorporation_year IS DISTINCT FROM "
        "      (CASE WHEN s.registration_incorporation_date ~ '^\\d{4}' THEN left(s.registration_incorporation_date, 4)::int END) "
        "   OR c.industry_code !~ '^\\d+$' OR c.status IS DISTINCT FROM s.entity_status_description"
    ).fetchone()[0]
    assert bad == 0

    # Nothing loaded since: nothing read. A full pass finds every company as it is.
    second = sync_companies(db)
    assert (second.seen, second.skipped, second.loads) == (0, 2500, [])
    full = sync_companies(db, full=True)
    assert (full.inserted, full.updated, full.unchanged) == (0, 0, 2500)


def test_ssic_codes_normalise_and_unknown_codes_fall_back_to_the_description(db: psycopg.Connection, tmp_path: Path) -> None:
    ensure_bundled_ssic(db)
    known = bundled_subclasses()[0]
    dotted = f"{known.code[:2]}.{known.code[2:]}"
    _load_text(db, tmp_path, (
        f"201900001A,DOTTED PTE. LTD.,Live Company,2019-01-02,{dotted},WHATEVER THE FILE SAYS,018989,MARINA BOULEVARD,10\n"
        f"201900002A,SPACED PTE. LTD.,Live Company,2019-01-02, {known.code} ,,,,\n"
        "201900003A,UNKNOWN CODE PTE. LTD.,Live,2019-01-02,99999,SOMETHING NOT IN THE REFERENCE,,,\n"
        "201900004A,NO CODE PTE. LTD.,Live,na,,,,,\n"
    ))
    sync_companies(db)
    assert _company(db, "201900001A")[1:4] == (known.code, known.title, known.title)
    assert _company(db, "201900002A")[1:3] == (known.code, known.title)
    assert _company(db, "201900003A")[1:4] == ("99999", "SOMETHING NOT IN THE REFERENCE", "SOMETHING NOT IN THE REFERENCE")
    assert _company(db, "201900004A")[1:5] == (None, None, None, None)
    # A registered address fills the HQ columns only where they are empty.
    assert _company(db, "201900001A")[6:] == ("018989", "Singapore")


def test_changes_update_registry_columns_but_never_enriched_ones(db: psycopg.Connection, tmp_path: Path) -> None:
    _load_text(db, tmp_path, "201900001A,ALPHA PTE. LTD.,Live Company,2019-01-02,62011,SOFTWARE,018989,X,1\n")
    sync_companies(db)
    db.execute(
        "UPDATE companies SET website_domain = 'alpha.com.sg', about_text = 'We build things', "
        "employees_est = 40, hq_postal_code = '123456', linkedin_url = 'https://www.linkedin.com/company/alpha' "
        "WHERE uen = '201900001A'"
    )
    db.commit()
    _load_text(db, tmp_path, "201900001A,ALPHA (RENAMED) PTE. LTD.,Struck Off,2019-01-02,62011,SOFTWARE,654321,Y,2\n")

    report = sync_companies(db)

    assert (report.inserted, report.updated) == (0, 1)
    row = db.execute(
        "SELECT name, status, website_domain, about_text, employees_est, hq_postal_code, linkedin_url "
        "FROM companies WHERE uen = '201900001A'"
    ).fetchone()
    assert row == ("ALPHA (RENAMED) PTE. LTD.", "Struck Off", "alpha.com.sg", "We build things", 40, "123456",
                   "https://www.linkedin.com/company/alpha")


def test_a_company_known_without_uen_adopts_it_by_name_and_year(db: psycopg.Connection, tmp_path: Path) -> None:
    db.execute(
        "INSERT INTO companies (name, incorporation_year, website_domain) VALUES "
        "('Beta Trading Pte. Ltd.', 2018, 'beta.sg'), ('Twin Pte. Ltd.', 2020, NULL)"
    )
    db.commit()
    _load_text(db, tmp_path, (
        "201800001B,BETA TRADING PTE. LTD.,Live Company,2018-05-05,,,,,\n"
        # Two registry entities with the same name and year: no guess is made.
        "202000001C,TWIN PTE. LTD.,Live Company,2020-01-01,,,,,\n"
        "202000002C,TWIN PTE. LTD.,Live Company,2020-03-01,,,,,\n"
    ))
    report = sync_companies(db)
    assert report.adopted == 1
    assert db.execute(
        "SELECT uen, website_domain FROM companies WHERE lower(name) = 'beta trading pte. ltd.'"
    ).fetchall() == [("201800001B", "beta.sg")]
    assert db.execute("SELECT count(*) FROM companies WHERE lower(name) = 'twin pte. ltd.'").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM companies WHERE uen IS NULL").fetchone()[0] == 1


def test_single_row_upsert_returns_the_company_id(db: psycopg.Connection, tmp_path: Path) -> None:
    _load_text(db, tmp_path, "201900001A,ALPHA PTE. LTD.,Live Company,2019-01-02,62011,SOFTWARE,,,\n")
    company_id = upsert_company(db, "201900001a")
    assert company_id == db.execute("SELECT company_id FROM companies WHERE uen = '201900001A'").fetchone()[0]
    assert upsert_company(db, "201900001A") == company_id  # idempotent
    assert upsert_company(db, "209900009Z") is None
    assert db.execute("SELECT count(*) FROM companies").fetchone()[0] == 1


def test_sync_since_only_touches_rows_changed_after(db: psycopg.Connection, tmp_path: Path) -> None:
    _load_text(db, tmp_path, "201900001A,ALPHA PTE. LTD.,Live,2019-01-02,,,,,\n201900002A,BETA PTE. LTD.,Live,2019-01-02,,,,,\n")
    cutoff = db.execute("SELECT now()").fetchone()[0]
    db.commit()
    db.execute("UPDATE staging_acra_companies SET changed_at = now() - interval '1 day'")
    db.execute("UPDATE staging_acra_companies SET changed_at = now() + interval '1 minute' WHERE uen = '201900002A'")
    db.commit()
    report = sync_companies(db, since=cutoff)
    assert (report.seen, report.inserted) == (1, 1)
    assert [r[0] for r in db.execute("SELECT uen FROM companies")] == ["201900002A"]
