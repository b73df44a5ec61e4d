"""Health endpoint and API-key authentication on the Archetype surface."""


def test_healthz_is_open_and_lists_surfaces(server):
    r = server.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["surfaces"]["archetype"].endswith("/v0.5")
    assert body["surfaces"]["superai"].endswith("/v1")
    # Gravity's client is configured with the server root and appends /api/v1/jobs itself
    assert not body["surfaces"]["gravity"].endswith("/api/v1/jobs")
    assert body["surfaces"]["gravity"] == body["surfaces"]["archetype"].removesuffix("/v0.5")


def test_missing_key_is_401_in_archetype_format(server):
    r = server.client.get("/v0.5/files/metadata")
    assert r.status_code == 401
    err = r.json()["errors"][0]
    assert err["code"] == "unauthorized"
    assert err["error_uid"].startswith("err-")
    assert "Authorization" in err["suggestion"]


def test_wrong_key_is_401(server):
    r = server.client.get("/v0.5/files/metadata", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == "invalid API key"


def test_all_three_auth_headers_work(server, api):
    for headers in ({"Authorization": f"Bearer {api.key}"}, {"API-KEY": api.key}, {"x-api-key": api.key}):
        r = server.client.get("/v0.5/files/metadata", headers=headers)
        assert r.status_code == 200, headers


def test_admin_key_from_settings_is_registered(server):
    r = server.client.get("/v0.5/files/metadata", headers={"Authorization": "Bearer test-admin-key"})
    assert r.status_code == 200
