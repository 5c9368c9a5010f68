"""Webhooks: courses' HTTP endpoints told about events (a submission scored), HMAC-signed and retried."""
