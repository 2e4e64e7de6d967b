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
