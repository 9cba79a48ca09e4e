from tests.conftest import assert_envelope


def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_unknown_route_uses_envelope(client):
    assert_envelope(client.get("/nope"), 404, "not_found")
