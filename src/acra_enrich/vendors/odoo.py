"""Odoo's external JSON-RPC API: `POST {base}/jsonrpc` (Odoo up to 18; still served by 19).

    odoo = OdooClient(web, base_url, db, login, api_key)
    answer = await odoo.login()                     # uid, or unauthorized
    answer = await odoo.execute_kw("res.partner", "search", [[["company_registry", "=", uen]]], {"limit": 1})

Odoo answers every failure with HTTP 200 and a JSON-RPC `error` whose `data.name` is the
Python exception (`odoo.exceptions.AccessDenied`, `AccessError`, `ValidationError`,
`MissingError`, `UserError`, `builtins.ValueError`, ...). An outcome's `kind` says which family
it was: auth | access | validation | missing | server | transport. `common.login` answering
`false` (a wrong login or key) is `unauthorized` too. Like every vendor client, it never raises
for what the network or Odoo does, and its `detail` never holds the key.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from acra_enrich.vendors.base import ERROR, OK, UNAUTHORIZED, VendorClient, VendorOutcome, json_body
from acra_enrich.web import WebClient

VENDOR = "odoo"
_KINDS = {
    "odoo.exceptions.AccessDenied": "auth",
    "odoo.exceptions.AccessError": "access",
    "odoo.exceptions.ValidationError": "validation",
    "odoo.exceptions.UserError": "validation",
    "builtins.ValueError": "validation",
    "odoo.exceptions.MissingError": "missing",
}


@dataclass(frozen=True)
class OdooAnswer(VendorOutcome):
    result: Any = None
    kind: str = ""  # for a failure: auth | access | validation | missing | server | transport
    error_name: str = ""  # Odoo's exception name, when Odoo gave one


class OdooClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, base_url: str, db: str, login: str, api_key: SecretStr) -> None:
        super().__init__(web, None, disabled_reason=None, secrets=(api_key.get_secret_value(),))
        self.url = base_url.rstrip("/") + "/jsonrpc"
        self.db = db
        self.login_name = login
        self._key = api_key
        self._uid: int | None = None
        self._ids = itertools.count(1)

    async def _call(self, service: str, method: str, args: list[Any], *, write: bool = False) -> OdooAnswer:
        payload = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args},
                   "id": next(self._ids)}
        # A write is sent once: a retry after a lost answer could create a record twice.
        result = await self.web.request("POST", self.url, json=payload, attempts=1 if write else None)
        body = json_body(result)
        if not result.ok:
            status, detail = self._failure(result)
            return OdooAnswer(status, detail, result.status, kind="transport")
        if not isinstance(body, dict) or not ("result" in body or "error" in body):
            return OdooAnswer(ERROR, "answer is not a JSON-RPC response", result.status, kind="transport")
        error = body.get("error")
        if error is None:
            return OdooAnswer(OK, "", result.status, result=body.get("result"))
        data = error.get("data") if isinstance(error, dict) else None
        name = str(data.get("name") or "") if isinstance(data, dict) else ""
        message = str((data.get("message") if isinstance(data, dict) else None)
                      or (error.get("message") if isinstance(error, dict) else "") or "unknown error")
        kind = _KINDS.get(name, "server")
        status = UNAUTHORIZED if kind == "auth" else ERROR
        return OdooAnswer(status, self._detail(f"{name or 'Odoo error'}: {message}"), result.status,
                          kind=kind, error_name=name)

    async def version(self) -> OdooAnswer:
        return await self._call("common", "version", [])

    async def login(self) -> OdooAnswer:
        """The user's uid (kept for later calls), or `unauthorized` for a wrong login or key."""
        answer = await self._call("common", "login", [self.db, self.login_name, self._key.get_secret_value()])
        if not answer.ok:
            return answer
        if not isinstance(answer.result, int) or isinstance(answer.result, bool) or answer.result <= 0:
            return OdooAnswer(UNAUTHORIZED, f"Odoo refused login {self.login_name!r} on database {self.db!r} "
                              "(wrong login or API key)", answer.http_status, kind="auth")
        self._uid = answer.result
        return answer

    async def execute_kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None,
                         ) -> OdooAnswer:
        """One ORM call as the logged-in user (logging in first if needed)."""
        if self._uid is None:
            logged = await self.login()
            if not logged.ok:
                return logged
        assert self._uid is not None
        return await self._call("object", "execute_kw", [
            self.db, self._uid, self._key.get_secret_value(), model, method, args, kwargs or {}],
            write=method in ("create", "write", "unlink"))
