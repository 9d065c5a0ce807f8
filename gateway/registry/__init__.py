"""The run-time connector registry: specs stored with every version (sqlmodel), an admin API under
``/admin/connectors``, hot reload on every instance, and the safety rules (base-URL allowlist, encrypted secrets)."""
