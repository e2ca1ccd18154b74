"""Provider credentials: encrypted at rest, never returned, rotatable, testable."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

from assistants.models import ProviderCredential
from core import crypto
from tests.helpers import GOOD_KEY, assert_error


def _stored_column(org, credential_id) -> str:
    with schema_context(org.slug), connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted FROM assistants_providercredential WHERE id = %s",
            [credential_id],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def fresh_keys(settings):
    """Explicit Fernet keys for the test; the derived development key otherwise."""

    def use(*keys):
        settings.CREDENTIALS_ENCRYPTION_KEYS = list(keys)
        crypto.reset_keys_cache()

    yield use
    crypto.reset_keys_cache()


@pytest.mark.django_db
class TestStorage:
    def test_key_is_encrypted_at_rest_and_never_returned(self, org_a, client_for, provider_server):
        admin = client_for(org_a, "admin")
        response = admin.post("/api/v1/credentials", {"provider": "openai", "api_key": GOOD_KEY})
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["api_key_hint"] == "…1234"
        assert GOOD_KEY not in response.content.decode()
        assert GOOD_KEY not in admin.get("/api/v1/credentials").content.decode()
        assert GOOD_KEY not in admin.get(f"/api/v1/credentials/{body['id']}").content.decode()

        stored = _stored_column(org_a, body["id"])
        assert GOOD_KEY not in stored and "1234" not in stored
        assert crypto.decrypt(stored) == GOOD_KEY

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_only_admins_see_or_manage_credentials(self, org_a, client_for, role):
        client = client_for(org_a, role)
        assert_error(client.get("/api/v1/credentials"), 403)
        assert_error(
            client.post("/api/v1/credentials", {"provider": "openai", "api_key": "sk-x-12345678"}),
            403,
        )

    def test_one_credential_per_provider(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        admin.post("/api/v1/credentials", {"provider": "anthropic", "api_key": "sk-ant-one-12345"})
        again = admin.post(
            "/api/v1/credentials", {"provider": "anthropic", "api_key": "sk-ant-two-12345"}
        )
        assert "provider" in assert_error(again, 400)["fields"]

    def test_required_parts_per_provider(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        assert (
            "api_key"
            in assert_error(admin.post("/api/v1/credentials", {"provider": "google"}), 400)[
                "fields"
            ]
        )
        compatible = admin.post("/api/v1/credentials", {"provider": "openai_compatible"})
        assert "base_url" in assert_error(compatible, 400)["fields"]
        local = admin.post("/api/v1/credentials", {"provider": "local", "api_key": "x"})
        assert "provider" in assert_error(local, 400)["fields"]

    def test_update_replaces_the_key_and_delete_removes_it(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        created = admin.post(
            "/api/v1/credentials", {"provider": "openai", "api_key": "sk-old-key-1111"}
        ).json()
        updated = admin.patch(
            f"/api/v1/credentials/{created['id']}", {"api_key": "sk-new-key-2222"}
        ).json()
        assert updated["api_key_hint"] == "…2222"
        assert crypto.decrypt(_stored_column(org_a, created["id"])) == "sk-new-key-2222"
        assert admin.delete(f"/api/v1/credentials/{created['id']}").status_code == 204
        with schema_context(org_a.slug):
            assert not ProviderCredential.objects.exists()

    def test_another_organizations_credential_is_404(self, org_a, org_b, client_for):
        created = (
            client_for(org_a, "admin")
            .post("/api/v1/credentials", {"provider": "openai", "api_key": "sk-alpha-key-9999"})
            .json()
        )
        assert_error(client_for(org_b, "admin").get(f"/api/v1/credentials/{created['id']}"), 404)
        assert_error(
            client_for(org_b, "admin").post(f"/api/v1/credentials/{created['id']}/test"), 404
        )


@pytest.mark.django_db
def test_key_rotation_reencrypts_with_the_newest_key(org_a, client_for, fresh_keys):
    # given: a credential encrypted with the old key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    fresh_keys(old)
    created = (
        client_for(org_a, "admin")
        .post("/api/v1/credentials", {"provider": "openai", "api_key": "sk-rotate-me-5555"})
        .json()
    )
    before = _stored_column(org_a, created["id"])

    # when: the new key goes first and the rotation command runs
    fresh_keys(new, old)
    call_command("rotate_credentials_key")

    # then: only the new key is needed
    after = _stored_column(org_a, created["id"])
    assert after != before
    fresh_keys(new)
    assert crypto.decrypt(after) == "sk-rotate-me-5555"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(before)


def test_a_remembered_decryption_is_forgotten_with_the_keys(fresh_keys):
    # given: a key decrypted once, and so remembered (a chat turn's provider key, ADR 0104)
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    fresh_keys(old)
    token = crypto.encrypt("sk-remembered-7777")
    assert crypto.decrypt_cached(token) == "sk-remembered-7777"

    # when: the key that made it is dropped
    fresh_keys(new)

    # then: the remembered plain text is gone with it
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_cached(token)


@pytest.mark.django_db
class TestCredentialCheck:
    def _create(self, client, server, key):
        return client.post(
            "/api/v1/credentials",
            {
                "provider": "openai",
                "api_key": key,
                "base_url": f"{server.url}/v1",
            },
        ).json()

    def test_good_key_is_reported_working(self, org_a, client_for, provider_server):
        admin = client_for(org_a, "admin")
        created = self._create(admin, provider_server, GOOD_KEY)
        body = admin.post(f"/api/v1/credentials/{created['id']}/test").json()
        assert body["last_test_ok"] is True
        assert "Connected" in body["last_test_message"]
        assert provider_server.last.path.endswith("/models")

    def test_bad_key_is_reported_clearly_without_echoing_it(
        self, org_a, client_for, provider_server
    ):
        admin = client_for(org_a, "admin")
        created = self._create(admin, provider_server, "sk-bad-key-7777")
        response = admin.post(f"/api/v1/credentials/{created['id']}/test")
        assert response.status_code == 200
        body = response.json()
        assert body["last_test_ok"] is False
        assert "Authentication" in body["last_test_message"]
        assert "sk-bad-key-7777" not in response.content.decode()
