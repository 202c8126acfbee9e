-- Tenants, their Odoo connection and their ICP. Writes to tenant tables run inside
-- tenant_context (row-level security); the listing is the owner's view of every tenant.

-- name: lock_tenants
LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE

-- name: add_tenant
INSERT INTO tenants (tenant_id, name)
SELECT coalesce(max(tenant_id), 0) + 1, %(name)s FROM tenants
RETURNING tenant_id

-- name: tenant_by_id
SELECT tenant_id, name, status FROM tenants WHERE tenant_id = %(tenant_id)s

-- name: tenant_by_name
SELECT tenant_id, name, status FROM tenants WHERE lower(name) = lower(%(name)s)

-- name: set_tenant_status
UPDATE tenants SET status = %(status)s WHERE tenant_id = %(tenant_id)s RETURNING name

-- name: upsert_odoo_connection
INSERT INTO odoo_connections (tenant_id, base_url, db_name, username, api_key_env, active)
VALUES (%(tenant_id)s, %(base_url)s, %(db_name)s, %(username)s, %(api_key_env)s, true)
ON CONFLICT (tenant_id) DO UPDATE
SET base_url = EXCLUDED.base_url, db_name = EXCLUDED.db_name, username = EXCLUDED.username,
    api_key_env = EXCLUDED.api_key_env, active = true, updated_at = now()

-- name: odoo_connection
SELECT base_url, db_name, username, api_key_env FROM odoo_connections
WHERE tenant_id = %(tenant_id)s AND active

-- name: list_tenants
SELECT t.tenant_id, t.name, t.status, t.created_at,
       o.base_url AS odoo_url, o.db_name AS odoo_db, o.username AS odoo_user, o.api_key_env AS odoo_key_env,
       coalesce(o.active, false) AS odoo_active,
       (SELECT r.updated_at FROM icp_rules r WHERE r.tenant_id = t.tenant_id AND r.active
        ORDER BY r.updated_at DESC LIMIT 1) AS icp_updated_at
FROM tenants t
LEFT JOIN odoo_connections o ON o.tenant_id = t.tenant_id
ORDER BY t.tenant_id

-- name: active_tenants
-- Tenants the scheduler runs: active, with an active Odoo connection.
SELECT t.tenant_id, t.name
FROM tenants t
JOIN odoo_connections o ON o.tenant_id = t.tenant_id AND o.active
WHERE t.status = 'active'
ORDER BY t.tenant_id

-- name: upsert_icp
INSERT INTO icp_rules (tenant_id, name, payload, active)
VALUES (%(tenant_id)s, %(name)s, %(payload)s, true)
ON CONFLICT (tenant_id, name) DO UPDATE
SET payload = EXCLUDED.payload, active = true, updated_at = now()

-- name: get_icp
SELECT payload, updated_at FROM icp_rules
WHERE tenant_id = %(tenant_id)s AND name = %(name)s AND active

-- name: unknown_ssic_prefixes
-- The digit codes of an ICP that no SSIC code starts with.
SELECT p FROM unnest(%(prefixes)s::text[]) AS p
WHERE NOT EXISTS (SELECT 1 FROM ssic_ref r WHERE r.code LIKE p || '%%')
