"""Odoo's external JSON-RPC API (Odoo 17/18), host `odoo.sandbox.test`: `POST /jsonrpc`.

Requests are `{"jsonrpc": "2.0", "method": "call", "params": {"service", "method", "args"}, "id"}`;
answers are HTTP 200 with `{"jsonrpc": "2.0", "id", "result"}` or, for any failure, HTTP 200
with Odoo's error object `{"code": 200, "message": "Odoo Server Error", "data": {"name",
"debug", "message", "arguments", "context"}}` (`data.name` is the exception's dotted name).

- `common.version`; `common.login [db, login, key]` and `common.authenticate [db, login, key,
  {}]` answer the user's uid, or `false` for a wrong login or key; an unknown database fails
  with `psycopg2.OperationalError` (as Odoo does).
- `object.execute_kw [db, uid, key, model, method, args, kwargs]` on `res.partner`, `crm.lead`
  and the read-only `res.country`: `search`, `search_read`, `search_count`, `read`, `create`
  (one dict or a list), `write`, `unlink`. Wrong credentials: `odoo.exceptions.AccessDenied`;
  a user without the right on the model: `odoo.exceptions.AccessError`; a missing required
  field (`crm.lead.name`) or a partner without a name: `odoo.exceptions.ValidationError`; an
  unknown field: `builtins.ValueError`; a missing record: `odoo.exceptions.MissingError`;
  an unknown model: `odoo.exceptions.UserError`.
- Domains: triples with `=`, `!=`, `in`, `not in`, `like`, `ilike`, `=like`, `=ilike`, `>`,
  `<`, `>=`, `<=`, prefix `&`, `|`, `!`. Archived records (`active` false) are left out unless
  the domain names `active` or the context says `active_test: false`. many2one fields read as
  `[id, display name]`.

State lives per database in `OdooState` (the server owns it; tests provision databases and
inspect or edit records through it, or the control route `POST /odoo` / `GET /odoo/<db>`).
A database `sandbox` with the login `api@sandbox.test` and key `sandbox-odoo-key` exists
from the start, so `acra-enrich sandbox serve` is usable as is.

Faults (`faults.take("odoo")`): "429"/5xx answer that status with a proxy's HTML page (what
sits in front of a real Odoo); "timeout" hangs; "bad_json" cuts the JSON off.
"""

from __future__ import annotations

import copy
import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "odoo"
SERVER_VERSION = "17.0"
DEFAULT_DB, DEFAULT_LOGIN, DEFAULT_KEY = "sandbox", "api@sandbox.test", "sandbox-odoo-key"
SINGAPORE_ID = 197  # res.country's id for Singapore in a stock Odoo database

# model -> field -> type ("char", "bool", "int", "float", "m2o:<model>", "text")
FIELDS: dict[str, dict[str, str]] = {
    "res.partner": {
        "name": "char", "display_name": "char", "is_company": "bool", "company_type": "char",
        "company_registry": "char", "vat": "char", "ref": "char", "website": "char", "phone": "char",
        "mobile": "char", "email": "char", "street": "char", "street2": "char", "city": "char", "zip": "char",
        "country_id": "m2o:res.country", "parent_id": "m2o:res.partner", "function": "char", "type": "char",
        "comment": "text", "active": "bool", "create_date": "datetime", "write_date": "datetime",
        "write_uid": "int",
    },
    "crm.lead": {
        "name": "char", "display_name": "char", "partner_id": "m2o:res.partner", "contact_name": "char",
        "partner_name": "char", "email_from": "char", "phone": "char", "website": "char", "description": "text",
        "type": "char", "expected_revenue": "float", "probability": "float", "priority": "char",
        "referred": "char", "active": "bool", "create_date": "datetime", "write_date": "datetime",
        "write_uid": "int",
    },
    "res.country": {"name": "char", "display_name": "char", "code": "char"},
}
REQUIRED = {"crm.lead": {"name": "Opportunity"}}
READ_ONLY_MODELS = frozenset({"res.country"})
_LABELS = {"res.partner": "Contact", "crm.lead": "Lead/Opportunity", "res.country": "Country"}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "res.partner": {"active": True, "is_company": False, "type": "contact"},
    "crm.lead": {"active": True, "type": "lead", "probability": 10.0, "priority": "0"},
    "res.country": {},
}


class OdooFault(Exception):
    """An exception as Odoo's RPC layer serialises it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass
class OdooUser:
    uid: int
    login: str
    key: str
    # model -> allowed operations ("read", "write", "create", "unlink"); missing model = all
    rights: dict[str, set[str]] = field(default_factory=dict)

    def may(self, model: str, operation: str) -> bool:
        allowed = self.rights.get(model)
        return allowed is None or operation in allowed


@dataclass
class OdooDatabase:
    name: str
    users: dict[str, OdooUser] = field(default_factory=dict)
    records: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (model, method) of every execute_kw

    def __post_init__(self) -> None:
        for model in FIELDS:
            self.records.setdefault(model, {})
            self.next_id.setdefault(model, 1)
        self.records["res.country"][SINGAPORE_ID] = {"id": SINGAPORE_ID, "name": "Singapore", "code": "SG"}

    def user_by_uid(self, uid: Any) -> OdooUser | None:
        return next((u for u in self.users.values() if u.uid == uid), None)


class OdooState:
    """Every emulated database; thread-safe (the sandbox serves requests from many threads)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._dbs: dict[str, OdooDatabase] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._dbs.clear()
            self.create_database(DEFAULT_DB, DEFAULT_LOGIN, DEFAULT_KEY)

    def create_database(self, name: str, login: str, key: str) -> OdooDatabase:
        """A fresh database with one user (uid 2, as the first user of a real one)."""
        with self.lock:
            db = OdooDatabase(name)
            db.users[login] = OdooUser(2, login, key)
            self._dbs[name] = db
            return db

    def add_user(self, db_name: str, login: str, key: str, rights: dict[str, set[str]] | None = None) -> int:
        with self.lock:
            db = self._dbs[db_name]
            uid = max(u.uid for u in db.users.values()) + 1
            db.users[login] = OdooUser(uid, login, key, rights or {})
            return uid

    def set_rights(self, db_name: str, login: str, model: str, operations: set[str]) -> None:
        with self.lock:
            self._dbs[db_name].users[login].rights[model] = set(operations)

    def database(self, name: str) -> OdooDatabase | None:
        with self.lock:
            return self._dbs.get(name)

    def records(self, db_name: str, model: str, *, archived: bool = True) -> list[dict[str, Any]]:
        """Copies of a model's records in id order (for tests)."""
        with self.lock:
            rows = self._dbs[db_name].records[model]
            return [copy.deepcopy(r) for _, r in sorted(rows.items()) if archived or r.get("active", True)]

    def edit(self, db_name: str, model: str, record_id: int, values: dict[str, Any]) -> None:
        """What an Odoo user does in the web client: change fields of a record (write_uid 1)."""
        with self.lock:
            record = self._dbs[db_name].records[model][record_id]
            record.update(values)
            record["write_date"] = _now()
            record["write_uid"] = 1

    def calls(self, db_name: str) -> list[tuple[str, str]]:
        with self.lock:
            return list(self._dbs[db_name].calls)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _response(request_id: Any, *, result: Any = None, fault: OdooFault | None = None) -> SandboxResponse:
    if fault is None:
        return SandboxResponse.json({"jsonrpc": "2.0", "id": request_id, "result": result})
    return SandboxResponse.json({"jsonrpc": "2.0", "id": request_id, "error": {
        "code": 200, "message": "Odoo Server Error",
        "data": {"name": fault.name, "debug": f"Traceback (most recent call last):\n{fault.name}: {fault.message}\n",
                 "message": fault.message, "arguments": [fault.message], "context": {}},
    }})


def make_handler(world: World, faults: Faults, state: OdooState | None = None) -> Handler:
    odoo = state or OdooState()

    def proxy_page(status: int) -> SandboxResponse:
        return SandboxResponse.html(f"<html><head><title>{status}</title></head><body><center><h1>{status}</h1>"
                                    "</center><hr><center>nginx</center></body></html>", status)

    def handle(req: SandboxRequest) -> SandboxResponse:
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, proxy_page)
        if req.path != "/jsonrpc":
            return SandboxResponse.html("<h1>Not Found</h1><p>The requested URL was not found on the server.</p>", 404)
        if req.method != "POST":
            return SandboxResponse.html("<h1>Method Not Allowed</h1>", 405)
        try:
            body = req.json()
        except ValueError:
            return SandboxResponse.html("<h1>Bad Request</h1><p>Invalid JSON data</p>", 400)
        if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
            return SandboxResponse.html("<h1>Bad Request</h1><p>Invalid JSON-RPC data</p>", 400)
        params, request_id = body["params"], body.get("id")
        try:
            with odoo.lock:
                return _response(request_id, result=_dispatch(odoo, params))
        except OdooFault as exc:
            return _response(request_id, fault=exc)

    return handle


def _dispatch(odoo: OdooState, params: dict[str, Any]) -> Any:
    service, method, args = params.get("service"), params.get("method"), params.get("args") or []
    if not isinstance(args, list):
        raise OdooFault("builtins.TypeError", "args must be a list")
    if service == "common" and method == "version":
        return {"server_version": SERVER_VERSION, "server_version_info": [17, 0, 0, "final", 0, ""],
                "server_serie": SERVER_VERSION, "protocol_version": 1}
    if service == "common" and method in ("login", "authenticate"):
        if len(args) < 3:
            raise OdooFault("builtins.TypeError", f"{method}() missing required positional arguments")
        db = _database(odoo, args[0])
        user = db.users.get(str(args[1]))
        return user.uid if user is not None and user.key == args[2] else False
    if service == "object" and method == "execute_kw":
        if len(args) < 5:
            raise OdooFault("builtins.TypeError", "execute_kw() missing required positional arguments")
        db = _database(odoo, args[0])
        user = db.user_by_uid(args[1])
        if user is None or user.key != args[2]:
            raise OdooFault("odoo.exceptions.AccessDenied", "Access Denied")
        model, op = str(args[3]), str(args[4])
        positional = args[5] if len(args) > 5 else []
        kwargs = args[6] if len(args) > 6 else {}
        if not isinstance(positional, list) or not isinstance(kwargs, dict):
            raise OdooFault("builtins.TypeError", "execute_kw() expects a list of arguments and a dict of keywords")
        db.calls.append((model, op))
        return _execute(db, user, model, op, positional, kwargs)
    raise OdooFault("builtins.KeyError", f"No such RPC method: {service}.{method}")


def _database(odoo: OdooState, name: Any) -> OdooDatabase:
    db = odoo.database(str(name))
    if db is None:
        raise OdooFault("psycopg2.OperationalError", f'connection to server on socket "/var/run/postgresql/.s.PGSQL'
                        f'.5432" failed: FATAL:  database "{name}" does not exist\n')
    return db


_OPERATION = {"search": "read", "search_read": "read", "search_count": "read", "read": "read", "create": "create",
              "write": "write", "unlink": "unlink"}


def _execute(db: OdooDatabase, user: OdooUser, model: str, method: str, args: list[Any],
             kwargs: dict[str, Any]) -> Any:
    if model not in FIELDS:
        raise OdooFault("odoo.exceptions.UserError", f"Object {model} doesn't exist")
    if method not in _OPERATION:
        raise OdooFault("builtins.AttributeError", f"The method '{method}' does not exist on the model '{model}'")
    operation = _OPERATION[method]
    if not user.may(model, operation) or (model in READ_ONLY_MODELS and operation != "read"):
        raise OdooFault("odoo.exceptions.AccessError",
                        f"You are not allowed to {'modify' if operation == 'write' else operation} "
                        f"'{_LABELS[model]}' ({model}) records.\n\nThis operation is allowed for the following "
                        f"groups:\n\t- Sales/User: Own Documents Only\n\nContact your administrator to request "
                        f"access if necessary.")
    table = db.records[model]
    context = kwargs.get("context") or {}
    if method in ("search", "search_read", "search_count"):
        domain = args[0] if args else kwargs.get("domain", [])
        found = _search(db, model, domain, context)
        if method == "search_count":
            return len(found)
        offset, limit = int(kwargs.get("offset") or 0), kwargs.get("limit")
        found = found[offset:offset + int(limit)] if limit else found[offset:]
        if method == "search":
            return found
        return [_read_one(db, model, table[i], kwargs.get("fields")) for i in found]
    if method == "read":
        ids = _ids(args[0] if args else kwargs.get("ids"))
        fields = args[1] if len(args) > 1 else kwargs.get("fields")
        missing = [i for i in ids if i not in table]
        if missing:
            raise _missing(model, missing, user)
        return [_read_one(db, model, table[i], fields) for i in ids]
    if method == "create":
        values = args[0] if args else kwargs.get("vals_list")
        batch = values if isinstance(values, list) else [values]
        created = [_create(db, user, model, v) for v in batch]
        return created if isinstance(values, list) else created[0]
    if method == "write":
        if len(args) < 2:
            raise OdooFault("builtins.TypeError", "write() missing 1 required positional argument: 'vals'")
        ids, values = _ids(args[0]), args[1]
        missing = [i for i in ids if i not in table]
        if missing:
            raise _missing(model, missing, user)
        _check_values(db, model, values, creating=False)
        for i in ids:
            table[i].update(values)
            table[i]["write_date"], table[i]["write_uid"] = _now(), user.uid
            _refresh_display_name(db, model, table[i])
        return True
    ids = _ids(args[0] if args else [])
    missing = [i for i in ids if i not in table]
    if missing:
        raise _missing(model, missing, user)
    for i in ids:
        del table[i]
    return True


def _ids(value: Any) -> list[int]:
    ids = value if isinstance(value, list) else [value]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise OdooFault("builtins.TypeError", f"expected record ids, got {value!r}")
    return list(ids)


def _missing(model: str, ids: list[int], user: OdooUser) -> OdooFault:
    shown = ", ".join(map(str, ids)) + ("," if len(ids) == 1 else "")
    return OdooFault("odoo.exceptions.MissingError", "Record does not exist or has been deleted.\n"
                     f"(Record: {model}({shown}), User: {user.uid})")


def _check_values(db: OdooDatabase, model: str, values: Any, *, creating: bool) -> None:
    if not isinstance(values, dict):
        raise OdooFault("builtins.TypeError", f"expected a dict of field values, got {type(values).__name__}")
    for name, value in values.items():
        kind = FIELDS[model].get(name)
        if kind is None or name in ("id", "display_name", "create_date", "write_date", "write_uid"):
            raise OdooFault("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        if kind.startswith("m2o:") and value not in (False, None):
            target = kind[4:]
            if not isinstance(value, int) or value not in db.records[target]:
                raise OdooFault("odoo.exceptions.MissingError", "Record does not exist or has been deleted.\n"
                                f"(Record: {target}({value},), User: 2)")
    for name, label in REQUIRED.get(model, {}).items():
        if (creating or name in values) and not values.get(name):
            raise OdooFault("odoo.exceptions.ValidationError",
                            "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n"
                            "- Delete: another model requires the record being deleted. If possible, archive it "
                            f"instead.\n\nModel: {_LABELS[model]} ({model})\nField: {label} ({name})")
    if model == "res.partner" and (creating or "name" in values) and not values.get("name") \
            and values.get("type", "contact") == "contact":
        raise OdooFault("odoo.exceptions.ValidationError", "Contacts require a name")


def _create(db: OdooDatabase, user: OdooUser, model: str, values: Any) -> int:
    _check_values(db, model, values, creating=True)
    record_id = db.next_id[model]
    db.next_id[model] += 1
    record = {"id": record_id, **_DEFAULTS[model], **values, "create_date": _now(), "write_date": _now(),
              "write_uid": user.uid}
    if model == "res.partner":
        record["company_type"] = "company" if record.get("is_company") else "person"
    db.records[model][record_id] = record
    _refresh_display_name(db, model, record)
    return record_id


def _refresh_display_name(db: OdooDatabase, model: str, record: dict[str, Any]) -> None:
    name = record.get("name") or ""
    parent = record.get("parent_id")
    if model == "res.partner" and parent and parent in db.records["res.partner"]:
        name = f"{db.records['res.partner'][parent].get('name')}, {name}"
    record["display_name"] = name


def _read_one(db: OdooDatabase, model: str, record: dict[str, Any], fields: Any) -> dict[str, Any]:
    names = list(fields) if fields else list(FIELDS[model])
    result: dict[str, Any] = {"id": record["id"]}
    for name in names:
        if name == "id":
            continue
        kind = FIELDS[model].get(name)
        if kind is None:
            raise OdooFault("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        value = record.get(name, False)
        if kind.startswith("m2o:") and value:
            target = db.records[kind[4:]].get(value)
            value = [value, target.get("display_name") or target.get("name")] if target else False
        result[name] = value if value is not None else False
    return result


def _search(db: OdooDatabase, model: str, domain: Any, context: dict[str, Any]) -> list[int]:
    if not isinstance(domain, list):
        raise OdooFault("builtins.ValueError", f"Invalid domain {domain!r}")
    predicate = _compile(domain, model)
    names_active = any(isinstance(t, list) and t and t[0] == "active" for t in domain)
    hide_archived = "active" in FIELDS[model] and not names_active and context.get("active_test", True)
    return [i for i, r in sorted(db.records[model].items())
            if predicate(r) and not (hide_archived and not r.get("active", True))]


Predicate = Callable[[dict[str, Any]], bool]


def _compile(domain: list[Any], model: str) -> Predicate:
    """Odoo's prefix-notation domain; consecutive terms are and-ed."""
    items = list(domain)

    def parse() -> Predicate:
        item = items.pop(0)
        if item == "!":
            inner = parse()
            return lambda r: not inner(r)
        if item in ("&", "|"):
            left, right = parse(), parse()
            return (lambda r: left(r) and right(r)) if item == "&" else (lambda r: left(r) or right(r))
        if isinstance(item, (list, tuple)) and len(item) == 3:
            return _term(model, *item)
        raise OdooFault("builtins.ValueError", f"Invalid leaf {item!r}")

    terms = []
    while items:
        terms.append(parse())
    return lambda r: all(t(r) for t in terms)


def _term(model: str, name: str, operator: str, value: Any) -> Predicate:
    if name != "id" and name not in FIELDS[model]:
        raise OdooFault("builtins.ValueError", f"Invalid field {model}.{name} in leaf {(name, operator, value)!r}")

    def get(r: dict[str, Any]) -> Any:
        v = r.get(name, False)
        return False if v is None else v

    def text(v: Any) -> str:
        return "" if v is False else str(v)

    if operator == "=":
        return lambda r: get(r) == value
    if operator == "!=":
        return lambda r: get(r) != value
    if operator in ("in", "not in"):
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        return (lambda r: get(r) in values) if operator == "in" else (lambda r: get(r) not in values)
    if operator in ("like", "ilike"):
        needle = text(value)
        if operator == "ilike":
            return lambda r: needle.lower() in text(get(r)).lower()
        return lambda r: needle in text(get(r))
    if operator in ("=like", "=ilike"):
        pattern = text(value).replace("%", "*").replace("_", "?")
        if operator == "=ilike":
            return lambda r: get(r) is not False and fnmatch.fnmatchcase(text(get(r)).lower(), pattern.lower())
        return lambda r: get(r) is not False and fnmatch.fnmatchcase(text(get(r)), pattern)
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}
    if operator in comparisons:
        compare = comparisons[operator]
        return lambda r: get(r) is not False and compare(get(r), value)
    raise OdooFault("builtins.ValueError", f"Invalid leaf {(name, operator, value)!r}")
