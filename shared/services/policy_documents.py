"""Reads the retention policy documents: an instance's own policy, else the vault default."""

from __future__ import annotations

from shared.domain.retention import RetentionPolicy


def doc_id(instance_id: str | None) -> str:
    return f"policy:{instance_id or 'default'}"


def policy_of(doc: dict) -> dict:
    return RetentionPolicy.model_validate({k: doc[k] for k in RetentionPolicy.model_fields}).model_dump()


def effective_policy(rt, vault_id: str, instance_id: str) -> RetentionPolicy:
    """The instance's own policy, else the vault default, else keep everything."""
    for policy_id in (doc_id(instance_id), doc_id(None)):
        doc = rt.catalog.instances.find(vault_id, policy_id)
        if doc:
            return RetentionPolicy.model_validate(policy_of(doc))
    return RetentionPolicy()
