"""/api/characters/{id}/loras, /api/characters/render and /api/lora over HTTP (built-in renderer)."""

from __future__ import annotations

import hashlib
import json

import pytest

from comfyvn.characters import designer
from tests.conftest import assert_envelope
from tests.support.jobs_http import wait_client_job

MIRA = {"id": "mira", "name": "Mira", "appearance": "red hair, green coat", "style": "anime",
        "expressions": ["neutral", "joy", "anger"], "default_expression": "joy"}



@pytest.fixture
def mira(client):
    answer = client.post("/api/characters", json=MIRA)
    assert answer.status_code == 201, answer.text
    return "mira"



def test_lora_stack_is_stored_beside_the_character_and_checked(client, mira, lora_file):
    assert client.get(f"/api/characters/{mira}/loras").json()["loras"] == []
    registered = client.post("/api/lora", json={"path": str(lora_file), "trigger_words": ["mira"]})
    assert registered.status_code == 201, registered.text
    sha = registered.json()["sha256"]
    wrong = client.put(f"/api/characters/{mira}/loras",
                       json={"loras": [{"name": "mira_style.safetensors", "strength": 0.7, "sha256": "0" * 64}]})
    assert_envelope(wrong, 422, "lora_sha_mismatch")
    saved = client.put(f"/api/characters/{mira}/loras", json={"loras": [
        {"name": "mira_style.safetensors", "strength": 0.7, "clip_strength": 0.5},
        {"name": "detail_tweaker.safetensors"}]})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["loras"][0] == {"name": "mira_style.safetensors", "strength": 0.7, "clip_strength": 0.5,
                                "sha256": sha, "trigger_words": ["mira"]}
    assert body["loras"][1] == {"name": "detail_tweaker.safetensors", "strength": 1.0}
    assert len(body["warnings"]) == 1 and "detail_tweaker" in body["warnings"][0]
    path = designer.lora_path("default", mira)
    assert path.parts[-5:] == ("workspaces", "default", "characters", "mira", "lora.json")
    assert json.loads(path.read_text())["loras"] == body["loras"]
    assert client.get(f"/api/characters/{mira}/loras").json()["loras"] == body["loras"]
    # the character listing is not confused by the folder beside the record
    assert [c["id"] for c in client.get("/api/characters").json()["items"]] == ["mira"]


@pytest.mark.parametrize("stack, field", [
    ([{"name": "../evil.safetensors"}], "name"),
    ([{"name": "x.safetensors", "strength": 1000}], "strength"),
    ([{"name": "x.safetensors"}, {"name": "x.safetensors"}], "twice"),
    ([{"name": "x.safetensors", "colour": 1}], "unknown"),
    ([{"name": "x.safetensors", "sha256": "xyz"}], "sha256"),
])
def test_bad_stacks_are_refused_and_nothing_is_written(client, mira, stack, field):
    answer = client.put(f"/api/characters/{mira}/loras", json={"loras": stack})
    error = assert_envelope(answer, 422)
    assert field in error["message"] or field in json.dumps(error["details"])
    assert not designer.lora_path("default", mira).exists()


def test_unknown_characters_and_bad_ids(client):
    assert_envelope(client.get("/api/characters/ghost/loras"), 404)
    assert_envelope(client.put("/api/characters/ghost/loras", json={"loras": []}), 404)
    assert_envelope(client.get("/api/characters/..%2Fx/loras"), 404)
    assert_envelope(client.put("/api/characters/mira/loras?project=..", json={"loras": []}), 422)
    assert_envelope(client.post("/api/characters/render", json={"character_id": "ghost", "blocking": True}), 404)
    assert_envelope(client.post("/api/characters/render", json={"character_id": "x", "kind": "video"}), 422)


def test_render_portrait_and_sprites_blocking(client, mira):
    portrait = client.post("/api/characters/render", json={"character_id": mira, "blocking": True,
                                                           "provider": "builtin"})
    assert portrait.status_code == 200, portrait.text
    [asset] = portrait.json()["assets"]
    assert asset["type"] == "character.portrait" and asset["path"].startswith("characters/mira/anime/portrait-joy-")
    assert asset["meta"]["expression"] == "joy"
    sprites = client.post("/api/characters/render", json={"character_id": mira, "kind": "sprites", "blocking": True,
                                                          "provider": "builtin", "style": "chibi"}).json()
    assert sorted(a["meta"]["expression"] for a in sprites["assets"]) == ["anger", "joy", "neutral"]
    assert all(a["path"].startswith("characters/mira/chibi/") for a in sprites["assets"])


def test_render_as_jobs(client, mira):
    queued = client.post("/api/characters/render", json={"character_id": mira, "expressions": ["neutral", "anger"],
                                                         "provider": "builtin"})
    assert queued.status_code == 202, queued.text
    jobs = queued.json()["jobs"]
    assert [j["kind"] for j in jobs] == ["render.portrait", "render.portrait"]
    done = [wait_client_job(client, j["job_id"]) for j in jobs]
    assert all(j["state"] == "succeeded" for j in done), done
    assert sorted(j["result"]["assets"][0]["meta"]["expression"] for j in done) == ["anger", "neutral"]


def test_renders_carry_the_lora_stack(client, mira, monkeypatch):
    client.put(f"/api/characters/{mira}/loras", json={"loras": [{"name": "pixel_art_xl.safetensors", "strength": 0.6},
                                                                {"name": "detail_tweaker.safetensors"}]})
    [(kind, params)] = designer.render_requests("default", mira, kind="sprites")
    assert kind == "render.sprites" and [e["name"] for e in params["loras"]] == [
        "pixel_art_xl.safetensors", "detail_tweaker.safetensors"]
    assert params["loras"][0]["strength"] == 0.6
    [(kind, portrait)] = designer.render_requests("default", mira, kind="portrait")
    assert kind == "render.portrait" and portrait["loras"] == params["loras"]
    assert params["name"] == "Mira" and params["appearance"] == "red hair, green coat"


def test_lora_registry_over_http(client, lora_file, tmp_path):
    assert_envelope(client.post("/api/lora", json={"path": str(tmp_path)}), 422, "invalid_lora_file")
    assert_envelope(client.post("/api/lora", json={"path": "relative.safetensors"}), 422, "invalid_lora_file")
    sha = hashlib.sha256(lora_file.read_bytes()).hexdigest()
    assert client.post("/api/lora", json={"path": str(lora_file), "base_model": "sdxl"}).status_code == 201
    assert client.post("/api/lora", json={"path": str(lora_file), "base_model": "sdxl"}).status_code == 200
    assert client.get("/api/lora/mira_style.safetensors").json()["sha256"] == sha
    assert [e["name"] for e in client.get("/api/lora", params={"base_model": "SDXL"}).json()["items"]] == [
        "mira_style.safetensors"]
    assert client.get("/api/lora", params={"q": "nothing"}).json()["items"] == []
    lora_file.write_bytes(b"tampered")
    report = client.post("/api/lora/verify", json={}).json()
    assert [m["name"] for m in report["mismatched"]] == ["mira_style.safetensors"]
    assert_envelope(client.post("/api/lora/verify", json={"names": ["ghost.pt"]}), 404)
    assert client.delete("/api/lora/mira_style.safetensors").json()["deleted"] is True
    assert_envelope(client.get("/api/lora/mira_style.safetensors"), 404)
    assert_envelope(client.get("/api/lora/..%2Fetc.safetensors"), 404)
    assert_envelope(client.delete("/api/lora/verify"), 404)


def test_the_stack_reaches_a_comfyui_graph(client, mira, tmp_path):
    from tests.support.comfy_server import FakeComfyUI

    client.put(f"/api/characters/{mira}/loras", json={"loras": [{"name": "pixel_art_xl.safetensors",
                                                                 "strength": 0.6}]})
    with FakeComfyUI(tmp_path / "comfy") as comfy:
        answer = client.post("/api/characters/render", json={"character_id": mira, "kind": "sprites",
                                                             "expressions": ["joy"], "provider": "comfyui",
                                                             "url": comfy.base_url, "blocking": True})
        assert answer.status_code == 200, answer.text
        graph = comfy.prompts[-1]["prompt"]
    assert any(n["class_type"] == "LoraLoader" and n["inputs"]["lora_name"] == "pixel_art_xl.safetensors"
               and n["inputs"]["strength_model"] == 0.6 for n in graph.values())
    [asset] = answer.json()["assets"]
    assert asset["provenance"]["loras"] == [{"name": "pixel_art_xl.safetensors", "strength": 0.6}]


def test_sprites_follow_the_active_pose(client, mira):
    assert_envelope(client.post("/api/characters/render", json={"character_id": mira, "kind": "sprites",
                                                                 "pose": "nope", "blocking": True}), 404)
    client.post("/api/poses", json={"id": "wave", "name": "Wave", "keypoints": [[0.5, 0.1, 1.0]] * 18})
    [(kind, params)] = designer.render_requests("default", mira, kind="sprites", pose="wave")
    assert params["pose"] == "wave"
    answer = client.post("/api/characters/render", json={"character_id": mira, "kind": "sprites", "pose": "wave",
                                                          "expressions": ["joy"], "blocking": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["assets"][0]["meta"]["pose"] == "wave"
