"""OpenAI-compatible `POST /v1/chat/completions`, deterministic.

With `response_format: {"type": "json_schema", "json_schema": {"schema": ...}}` the answer is
JSON matching the schema (`$ref`/`$defs`, `anyOf` with null, nested objects and arrays),
each property filled by its name from what the prompt's text holds: emails, phones,
LinkedIn/social URLs, about text, employee count, address, postal code, city, country,
the company's name and website. Like a real model it reads obfuscated emails
("info [at] acme [dot] sg") and ignores image names such as logo@2x.png.

Asked to rewrite a lead-scoring rationale (a `Rationale: High (0.72): a, b. Held back by c and
d.` line in the prompt, a `rationale` property in the schema) it answers "A High-priority lead at
0.72: a and b; held back by c and d." like a model that summarises hard and embellishes: it
keeps at most four factors (a fifth is left out) and writes "hiring" as "hiring for 3 roles",
a number the rationale never gave.

A `revenue` property gets the first amount after a revenue word ("revenue", "turnover",
"turned over", "sales") as printed, whatever the sentence says of it: "grow their sales by
S$3 million" is read as revenue too, as a careless model would.

For companies with the `llm_invents` hard case (recognised by a domain or UEN in the prompt)
it also hallucinates: the company's `truth.llm_invented` email, phone and URL, none of which
occurs in the prompt. `json_object` gets a fixed set of keys; no format gets a sentence.
Errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: 401 without or
with an "invalid" key, 400 for a missing model or messages, and 400 (`param: "response_format"`)
for a `strict` schema OpenAI refuses: an object without `additionalProperties: false`, or whose
`required` does not list every property. An answer longer than `max_tokens` (or
`max_completion_tokens`; 4 characters a token) is cut there with `finish_reason: "length"`,
as a real model's is.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.markup import phone_display
from acra_enrich.sandbox.responses import bearer, key_ok
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import SandboxCompany, World

VENDOR = "openai"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ASSET_TLDS = ("png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js")
_AT_DOT = re.compile(r"([A-Za-z0-9._%+-]+)\s*[\[(]at[\])]\s*((?:[A-Za-z0-9-]+\s*(?:\[dot\]|\.)\s*)+[A-Za-z]{2,})", re.I)
_DOT = re.compile(r"\s*(?:\[dot\]|\.)\s*", re.I)
_PHONE = re.compile(r"(?<![\d+])(?:\+65[\s-]?|\(\+?65\)\s?)?([689]\d{3})[\s-]?(\d{4})(?!\d)")
_CREDIT = re.compile(r"designed by|powered by|site by", re.IGNORECASE)
_FAX_LABEL = re.compile(r"(?:fax|\bF:)[\s:|]*(?:\[)?$", re.IGNORECASE)
_LINKEDIN = re.compile(r"https?://(?:[a-z]{2,3}\.)?linkedin\.com/company/[A-Za-z0-9_%-]+")
_SOCIAL = re.compile(r"https?://(?:www\.)?(?:facebook|instagram|x|twitter|youtube)\.com/[A-Za-z0-9_@.%-]+")
_EMPLOYEES = re.compile(
    r"(\d[\d,]*)\+?(?:-strong team|\s+(?:employees|staff|dedicated staff|professionals|people))", re.I)
_ADDRESS = re.compile(r"(\d+[A-Z]?\s+[A-Z][^\n]{3,90}?),?\s+Singapore\s+(\d{6})")
_JOBS = re.compile(r"(\d+) open positions", re.I)
_DOMAIN = re.compile(r"\b(?:www\.)?((?:[a-z0-9-]+\.)+(?:com\.sg|sg|com|io|asia|co|net))\b", re.I)
_UEN = re.compile(r"\b(?:\d{8}[A-Z]|\d{9}[A-Z]|[ST]\d{2}[A-Z]{2}\d{4}[A-Z])\b")
# A model reads a figure after a revenue word, whatever the sentence says it is.
_REVENUE = re.compile(r"(?:revenue|turnover|turned over|sales)\b[^.\n]{0,40}?((?:S\$|SGD|US\$)\s?[\d,]+(?:\.\d+)?"
                      r"(?:\s?(?:million|billion|m|bn)\b)?)", re.I)
_RULE = re.compile(r"^Rationale: (High|Medium|Low) \((\d\.\d\d)\): (.*?)\.(?: Held back by (.*?)\.)?[ \t]*$", re.M)
_MISSING = object()


def _error(status: int, message: str | None = None, code: str | None = None, param: str | None = None,
           type_: str | None = None) -> SandboxResponse:
    defaults = {401: ("invalid_request_error", "You didn't provide an API key."),
                429: ("requests", "Rate limit reached for requests. Please try again in 1s."),
                400: ("invalid_request_error", "Bad request.")}
    kind, text = defaults.get(
        status, ("server_error", "The server had an error while processing your request. Sorry about that!"))
    if status == 429:
        code = code or "rate_limit_exceeded"
    return SandboxResponse.json({"error": {"message": message or text, "type": type_ or kind,
                                           "param": param, "code": code}}, status)


def _strict_violation(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode says about `schema`, or None when it accepts it."""
    if not isinstance(schema, dict):
        return None
    where = f"In context=({', '.join(repr(c) for c in context)}{',' if len(context) == 1 else ''})"
    kinds = schema.get("type")
    if kinds == "object" or (isinstance(kinds, list) and "object" in kinds) or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        props = schema.get("properties") or {}
        required = schema.get("required")
        missing = [k for k in props if not isinstance(required, list) or k not in required]
        if missing:
            return (f"{where}, 'required' is required to be supplied and to be an array including every key in "
                    f"properties. Missing '{missing[0]}'.")
        for name, sub in props.items():
            if (found := _strict_violation(sub, (*context, "properties", name))) is not None:
                return found
    for key in ("items",):
        if (found := _strict_violation(schema.get(key), (*context, key))) is not None:
            return found
    for key in ("anyOf", "$defs", "definitions"):
        options = schema.get(key)
        subs = options.items() if isinstance(options, dict) else enumerate(options or [])
        for name, sub in subs:
            if (found := _strict_violation(sub, (*context, key, str(name)))) is not None:
                return found
    return None


def _corpus(messages: list[Any]) -> str:
    parts: list[str] = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(parts)


class _Reader:
    """What a diligent model reads out of the prompt."""

    def __init__(self, world: World, text: str) -> None:
        self.text = text
        self.company = _identify(world, text)
        deobfuscated = _AT_DOT.sub(lambda m: m.group(1) + "@" + _DOT.sub(".", m.group(2)), text)
        # A diligent model knows a web agency's credit line is not the company's contact.
        credit = {m.group(0).lower() for line in deobfuscated.splitlines() if _CREDIT.search(line)
                  for m in _EMAIL.finditer(line)}
        credit_domains = {e.rsplit("@", 1)[1] for e in credit} | {
            m.group(1).lower().removeprefix("www.") for line in deobfuscated.splitlines() if _CREDIT.search(line)
            for m in re.finditer(r"https?://([A-Za-z0-9.-]+)", line)}
        emails = [e.lower() for e in _EMAIL.findall(deobfuscated) if e.rsplit(".", 1)[-1].lower() not in _ASSET_TLDS
                  and e.lower().rsplit("@", 1)[1] not in credit_domains]
        self.emails = list(dict.fromkeys(emails))
        numbers = [(f"+65 {m.group(1)} {m.group(2)}", bool(_FAX_LABEL.search(text[max(0, m.start() - 10):m.start()])))
                   for m in _PHONE.finditer(text)]
        # A diligent model leaves out the numbers the page labels fax; the careless one
        # (llm_invents) reads them as phones too.
        self.phones = list(dict.fromkeys(n for n, fax in numbers if not fax))
        self.faxes = list(dict.fromkeys(n for n, fax in numbers if fax))
        self.linkedin = next(iter(_LINKEDIN.findall(text)), None)
        self.socials = list(dict.fromkeys(_SOCIAL.findall(text)))
        m = _EMPLOYEES.search(text)
        self.employees = int(m.group(1).replace(",", "")) if m else None
        m = _ADDRESS.search(text)
        self.address: str | None = m.group(1).strip() if m else None
        self.postal: str | None = m.group(2) if m else None
        m = _JOBS.search(text)
        self.jobs = int(m.group(1)) if m else None
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text)
                      if re.search(r"established|founded|since|specialis|provides", p, re.I)]
        self.about = max(paragraphs, key=len)[:600] if paragraphs else None
        invented = self.company.truth.llm_invented if self.company else ()
        self.fake_email, self.fake_phone, self.fake_url = (invented + (None, None, None))[:3]

    def value(self, key: str, kind: str) -> Any:
        k = key.lower()
        many = kind == "array"
        c = self.company
        if "rationale" in k:
            return _rephrase(self.text)
        if "revenue" in k or "turnover" in k:
            m = _REVENUE.search(self.text)
            return m.group(1) if m else None
        if "email" in k:
            found = self.emails + ([self.fake_email] if self.fake_email else [])
            return found if many else (self.fake_email or next(iter(self.emails), None))
        if "phone" in k or "tel" in k:
            fake = phone_display(self.fake_phone, 0) if self.fake_phone else None
            found = self.phones + ([fake, *self.faxes] if fake else [])
            return found if many else (fake or next(iter(self.phones), None))
        if "linkedin" in k:
            return [self.fake_url or self.linkedin] if many else (self.fake_url or self.linkedin)
        if "social" in k:
            return self.socials + ([self.fake_url] if self.fake_url else []) if many else next(iter(self.socials), None)
        if "about" in k or "description" in k or "summary" in k:
            return self.about
        if "employee" in k or "headcount" in k or "staff" in k:
            return self.employees
        if "job" in k or "opening" in k or "hiring" in k:
            return self.jobs
        if "postal" in k or "zip" in k:
            return self.postal
        if "address" in k or "street" in k:
            return self.address
        if "city" in k or "country" in k:
            return "Singapore" if "singapore" in self.text.lower() else None
        if "tech" in k:
            return [] if many else None
        if ("website" in k or "domain" in k or k == "url") and c and c.truth.domain:
            return c.truth.domain if "domain" in k else f"https://{c.truth.site_host}/"
        if "name" in k and c:
            return c.display_name
        return _MISSING


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _rephrase(text: str) -> str | None:
    m = _RULE.search(text)
    if m is None:
        return None
    bucket, score, drivers, held = m.groups()
    factors = [d for d in drivers.split(", ") if d != "little fits"]
    weak = held.split(" and ") if held else []
    kept = (factors + weak)[:4]
    factors, weak = kept[:len(factors)], kept[len(factors):]
    factors = ["hiring for 3 roles" if f == "hiring" else f for f in factors]
    answer = f"A {bucket}-priority lead at {score}" + (f": {_join(factors)}" if factors else " with little that fits")
    return answer + (f"; held back by {_join(weak)}." if weak else ".")


def _identify(world: World, text: str) -> SandboxCompany | None:
    for uen in _UEN.findall(text):
        found = world.company(uen)
        if found is not None and not found.is_decoy:
            return found
    for domain in _DOMAIN.findall(text):
        entry = world.host(domain.lower())
        if entry is not None and entry.kind != "parked" and not entry.company.is_decoy:
            return entry.company
    return None


def _fill(schema: dict, root: dict, key: str, read: Callable[[str, str], Any]) -> Any:
    if "$ref" in schema:
        ref = schema["$ref"].split("/")
        target: Any = root
        for part in ref[1:]:
            target = target.get(part, {})
        return _fill(target, root, key, read)
    options = schema.get("anyOf") or schema.get("oneOf")
    nullable = False
    if options:
        nullable = any(o.get("type") == "null" for o in options)
        non_null = [o for o in options if o.get("type") != "null"]
        schema = non_null[0] if non_null else {"type": "null"}
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kind = next((t for t in kind if t != "null"), "null")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _fill(sub, root, name, read) for name, sub in props.items()}
    value = read(key, kind)
    if kind == "array":
        items = schema.get("items", {})
        if value is _MISSING or value is None:
            return []
        if items.get("type") == "object" or "$ref" in items:
            # e.g. "emails": [{"email": ..., "type": ...}]: one object per value found
            return [_fill(items, root, key, _pinned(read, key, v)) for v in value if v is not None]
        return [v for v in value if v is not None]
    if value is _MISSING or value is None:
        return None if nullable else {"string": "", "integer": 0, "number": 0, "boolean": False}.get(kind)
    if kind in ("integer", "number") and not isinstance(value, (int, float)):
        return None if nullable else 0
    if kind == "string" and not isinstance(value, str):
        return str(value)
    return value


def _pinned(read: Callable[[str, str], Any], key: str, value: Any) -> Callable[[str, str], Any]:
    """A reader that answers `value` for the item property named like the array (email/emails)."""
    stem = key.lower().rstrip("s")

    def pinned(name: str, kind: str) -> Any:
        return value if stem and stem in name.lower() else read(name, kind)

    return pinned


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        path = req.path.removeprefix("/v1")
        key = bearer(req.headers)
        if key is None:
            return _error(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                               "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        if not key_ok(key):
            return _error(401, f"Incorrect API key provided: {key[:6]}***. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        if req.method == "GET" and path == "/models":
            return SandboxResponse.json({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}]})
        if req.method != "POST" or path != "/chat/completions":
            return _error(404, f"Invalid URL ({req.method} {req.path})", type_="invalid_request_error")
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, _error)
        try:
            body = req.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict) or not body.get("model"):
            return _error(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "Missing required parameter: 'messages'.", param="messages",
                          code="missing_required_parameter")
        prompt = _corpus(messages)
        reader = _Reader(world, prompt)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema") or {}
            schema = spec.get("schema") or {}
            refused = _strict_violation(schema) if spec.get("strict") else None
            if refused is not None:
                return _error(400, f"Invalid schema for response_format '{spec.get('name', '')}': {refused}",
                              param="response_format")
            content = json.dumps(_fill(schema, schema, "", reader.value), ensure_ascii=False)
        elif fmt.get("type") == "json_object":
            keys = ("emails", "phones", "about_text", "linkedin_url", "employees_est")
            content = json.dumps({k: v for k in keys if (v := reader.value(k, "array" if k.endswith("s") else "string"))
                                  is not _MISSING}, ensure_ascii=False)
        else:
            content = reader.about or "I could not find a description of the company in the text provided."
        digest = hashlib.sha256((prompt + json.dumps(fmt, sort_keys=True)).encode()).hexdigest()
        finish = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and len(content) > limit * 4:
            content, finish = content[:limit * 4], "length"
        prompt_tokens, completion_tokens = max(1, len(prompt) // 4), max(1, -(-len(content) // 4))
        return SandboxResponse.json({
            "id": f"chatcmpl-{digest[:29]}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_sandbox",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    return handle
