"""Tenants (sales teams), their Odoo connection and their ideal customer profile."""
