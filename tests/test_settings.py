"""Settings accept both the local connection-string form and the Azure identity form."""

import pytest

from shared.settings import SETTING_NAMES, SettingsError, load_settings

LOCAL = {"PRIMARY_STORAGE": "UseDevelopmentStorage=true", "COSMOS_ENDPOINT": "https://127.0.0.1:8081", "COSMOS_KEY": "k"}
AZURE = {
    "PRIMARY_STORAGE__blobServiceUri": "https://p.blob.core.windows.net",
    "PRIMARY_STORAGE__queueServiceUri": "https://p.queue.core.windows.net",
    "PRIMARY_STORAGE__credential": "managedidentity", "PRIMARY_STORAGE__clientId": "cid",
    "SECONDARY_STORAGE__blobServiceUri": "https://s.blob.core.windows.net",
    "COSMOS__accountEndpoint": "https://c.documents.azure.com", "COSMOS__clientId": "cid",
}


def test_local_form():
    settings = load_settings(LOCAL)
    assert settings.primary_storage.connection_string == "UseDevelopmentStorage=true"
    assert settings.cosmos.key == "k" and settings.cosmos.is_loopback
    assert settings.secondary_storage is None


def test_azure_identity_form():
    settings = load_settings(AZURE)
    assert settings.primary_storage.connection_string is None
    assert settings.primary_storage.queue_service_uri.startswith("https://p.queue")
    assert settings.primary_storage.managed_identity_client_id == "cid"
    assert settings.secondary_storage.blob_service_uri.startswith("https://s.blob")
    assert settings.cosmos.key is None and not settings.cosmos.is_loopback


def test_each_identity_connection_carries_its_client_id():
    settings = load_settings({**AZURE, "SECONDARY_STORAGE__clientId": "sec-cid", "COSMOS__clientId": "cosmos-cid"})
    assert settings.secondary_storage.managed_identity_client_id == "sec-cid"
    assert settings.cosmos.endpoint == "https://c.documents.azure.com"
    assert settings.cosmos.managed_identity_client_id == "cosmos-cid"
    assert settings.primary_storage.managed_identity_client_id == "cid"


def test_identity_form_without_client_ids_leaves_the_identity_unnamed():
    settings = load_settings({name: value for name, value in AZURE.items() if not name.endswith("__clientId")})
    assert settings.primary_storage.managed_identity_client_id is None
    assert settings.secondary_storage.managed_identity_client_id is None
    assert settings.cosmos.managed_identity_client_id is None and settings.cosmos.key is None


def test_the_paired_account_has_no_queue_endpoint():
    settings = load_settings({**AZURE, "SECONDARY_STORAGE__queueServiceUri": "https://s.queue.core.windows.net"})
    assert settings.secondary_storage.queue_service_uri is None


def test_a_connection_string_wins_over_identity_settings():
    settings = load_settings({**AZURE, **LOCAL, "SECONDARY_STORAGE": "UseDevelopmentStorage=true"})
    for storage in (settings.primary_storage, settings.secondary_storage):
        assert storage.connection_string == "UseDevelopmentStorage=true"
        assert storage.blob_service_uri is None and storage.managed_identity_client_id is None
    assert settings.cosmos.endpoint == "https://127.0.0.1:8081" and settings.cosmos.key == "k"
    assert settings.cosmos.managed_identity_client_id is None


@pytest.mark.parametrize("env, message", [
    ({}, "PRIMARY_STORAGE"),
    ({"PRIMARY_STORAGE": "x"}, "COSMOS_ENDPOINT"),
    ({**LOCAL, "GC_GRACE_HOURS": "1", "BACKUP_SESSION_HOURS": "2"}, "GC_GRACE_HOURS must be longer"),
    ({**LOCAL, "GC_GRACE_HOURS": "soon"}, "must be a number"),
    ({**LOCAL, "DEFAULT_REDUNDANCY": "ZRS"}, "LRS or GRS"),
    ({**LOCAL, "PRICE_TABLE": "{"}, "PRICE_TABLE"),
])
def test_bad_settings_name_the_problem(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_every_setting_is_classified():
    assert set(SETTING_NAMES.values()) <= {"both", "azure", "local"}
    for name, where in SETTING_NAMES.items():
        assert ("__" in name) == (where == "azure"), name
