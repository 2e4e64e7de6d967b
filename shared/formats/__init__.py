"""Byte formats of the vault that the service reads without keys (pack trailers, commit manifests)."""
