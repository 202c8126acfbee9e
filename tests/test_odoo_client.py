"""The Odoo JSON-RPC client against the sandbox's Odoo emulation, over real HTTP: login, the
ORM calls the nightly sync uses, and every failure family in Odoo's own shape (HTTP 200 with a
JSON-RPC error), never with the key in what is logged."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from acra_enrich.config import load_settings
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.vendors import OdooClient, make_vendor_web_client

KEY = "odoo-test-key-1234567"
URL = "http://odoo.sandbox.test"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=3, companies=5) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.reset()
    sandbox.odoo.create_database("acme", "api@acme.sg", KEY)
    return sandbox


def settings(sb: SandboxHandle):  # type: ignore[no-untyped-def]
    return load_settings(**{k.lower(): v for k, v in sb.env().items()}, postgres_dsn=None)


async def test_login_and_the_calls_a_sync_makes(sb: SandboxHandle) -> None:
    async with make_vendor_web_client(settings(sb)) as web:
        odoo = OdooClient(web, URL, "acme", "api@acme.sg", SecretStr(KEY))
        assert (await odoo.version()).result["server_version"].startswith("17")
        login = await odoo.login()
        assert login.ok and login.result == 2
        country = await odoo.execute_kw("res.country", "search", [[["code", "=", "SG"]]], {"limit": 1})
        created = await odoo.execute_kw("res.partner", "create", [{
            "name": "ACME PTE. LTD.", "is_company": True, "company_registry": "201912345N",
            "website": "https://acme.sg", "country_id": country.result[0]}])
        assert created.ok and isinstance(created.result, int)
        child = await odoo.execute_kw("res.partner", "create", [{"name": "Jane Tan", "parent_id": created.result,
                                                                 "email": "jane@acme.sg", "function": "CEO"}])
        found = await odoo.execute_kw("res.partner", "search_read", [[["company_registry", "=", "201912345N"]]],
                                      {"fields": ["name", "country_id", "is_company"], "limit": 1})
        assert found.result == [{"id": created.result, "name": "ACME PTE. LTD.", "country_id": [197, "Singapore"],
                                 "is_company": True}]
        people = await odoo.execute_kw("res.partner", "search", [["&", ["parent_id", "=", created.result],
                                                                  ["email", "=ilike", "JANE@acme.sg"]]])
        assert people.result == [child.result]
        assert (await odoo.execute_kw("res.partner", "write", [[created.result], {"phone": "+65 6123 4567"}])).result
        lead = await odoo.execute_kw("crm.lead", "create", [{"name": "ACME PTE. LTD.", "partner_id": created.result}])
        assert lead.ok
    partners = sb.odoo.records("acme", "res.partner")
    assert [p["name"] for p in partners] == ["ACME PTE. LTD.", "Jane Tan"]
    assert partners[0]["phone"] == "+65 6123 4567" and partners[1]["display_name"] == "ACME PTE. LTD., Jane Tan"
    assert sb.odoo.records("acme", "crm.lead")[0]["partner_id"] == created.result


async def test_failures_come_back_in_odoos_shape_and_never_show_the_key(sb: SandboxHandle) -> None:
    sb.odoo.add_user("acme", "reader@acme.sg", "reader-key-99999", {"crm.lead": {"read"}})
    async with make_vendor_web_client(settings(sb)) as web:
        wrong = OdooClient(web, URL, "acme", "api@acme.sg", SecretStr("wrong-key-abcdef"))
        login = await wrong.login()
        assert login.status == "unauthorized" and login.kind == "auth" and "wrong-key" not in login.detail
        nodb = await OdooClient(web, URL, "nope", "api@acme.sg", SecretStr(KEY)).login()
        assert nodb.kind == "server" and 'database "nope" does not exist' in nodb.detail

        odoo = OdooClient(web, URL, "acme", "api@acme.sg", SecretStr(KEY))
        no_name = await odoo.execute_kw("crm.lead", "create", [{"partner_id": False}])
        assert no_name.kind == "validation" and "Field: Opportunity (name)" in no_name.detail
        unknown = await odoo.execute_kw("res.partner", "create", [{"name": "X", "colour": "red"}])
        assert unknown.kind == "validation" and "Invalid field 'colour'" in unknown.detail
        missing = await odoo.execute_kw("res.partner", "write", [[999], {"phone": "1"}])
        assert missing.kind == "missing" and missing.error_name == "odoo.exceptions.MissingError"
        model = await odoo.execute_kw("sale.order", "search", [[]])
        assert model.kind == "validation" and "Object sale.order doesn't exist" in model.detail

        reader = OdooClient(web, URL, "acme", "reader@acme.sg", SecretStr("reader-key-99999"))
        denied = await reader.execute_kw("crm.lead", "create", [{"name": "X"}])
        assert denied.kind == "access" and "not allowed to create 'Lead/Opportunity'" in denied.detail
        assert (await reader.execute_kw("crm.lead", "search", [[]])).ok

        sb.faults.inject("odoo", "502")
        down = await odoo.execute_kw("res.partner", "create", [{"name": "Y"}])
        assert down.kind == "transport" and down.http_status == 502
    assert [p["name"] for p in sb.odoo.records("acme", "res.partner")] == []
    statuses = {r.status for r in sb.requests(host="odoo.sandbox.test")}
    assert statuses == {200, 502}  # every Odoo error above was an HTTP 200


def test_the_raw_error_object_is_odoos(sb: SandboxHandle) -> None:
    payload = {"jsonrpc": "2.0", "method": "call", "id": 7, "params": {
        "service": "object", "method": "execute_kw", "args": ["acme", 2, "bad", "res.partner", "search", [[]]]}}
    answer = httpx.post("http://odoo.sandbox.test/jsonrpc", json=payload, proxy=sb.proxy_url).json()
    assert answer["id"] == 7 and answer["error"]["code"] == 200 and answer["error"]["message"] == "Odoo Server Error"
    assert answer["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert answer["error"]["data"]["message"] == "Access Denied"
    assert set(answer["error"]["data"]) == {"name", "debug", "message", "arguments", "context"}
