"""Bearer tokens for the admin API, from ADMIN_API_TOKENS.

The variable lists `token:role` or `token:role:tenant_id` entries separated by commas. A
`viewer` may read; an `operator` may also queue and cancel jobs. A token pinned to a tenant
sees that tenant's runs and jobs only, through the same row-level security the runners use.
Tokens are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from acra_enrich.errors import ConfigError

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")


@dataclass(frozen=True)
class Grant:
    role: Role
    tenant_id: int | None = None

    def allows(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def parse_tokens(value: str | None) -> list[tuple[str, Grant]]:
    """ADMIN_API_TOKENS as (token, grant) pairs; ConfigError naming the entry's position."""
    grants: list[tuple[str, Grant]] = []
    for position, entry in enumerate((value or "").split(","), start=1):
        if not entry.strip():
            continue
        parts = [p.strip() for p in entry.split(":")]
        if len(parts) not in (2, 3) or len(parts[0]) < 16 or parts[1] not in ROLES:
            raise ConfigError(f"ADMIN_API_TOKENS entry {position}: expected token:role[:tenant_id] with a token of "
                              f"at least 16 characters and a role of {' or '.join(ROLES)}")
        tenant = None
        if len(parts) == 3:
            if not parts[2].isdigit() or int(parts[2]) < 1:
                raise ConfigError(f"ADMIN_API_TOKENS entry {position}: the tenant id must be a positive whole number")
            tenant = int(parts[2])
        grants.append((parts[0], Grant(parts[1], tenant)))  # type: ignore[arg-type]
    return grants


def grant_for(grants: list[tuple[str, Grant]], presented: str) -> Grant | None:
    found = None
    for token, grant in grants:  # every token compared: the time does not tell which matched
        if hmac.compare_digest(token.encode(), presented.encode()):
            found = grant
    return found
