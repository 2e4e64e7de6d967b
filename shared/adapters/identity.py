"""Builds the Azure credential for identity-based connections (managed identity in Azure)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=8)
def managed_identity_credential(client_id: str | None):
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential()
