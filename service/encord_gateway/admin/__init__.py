"""The administration API (credentials, vault, audit, callers): handlers the gateway runs itself."""
