"""Poses: files under <data>/poses, the active pose in persona metadata, stick-figure pictures."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from comfyvn.characters import poses
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.player import registry
from comfyvn.sillytavern.personas import Persona
from tests.conftest import assert_envelope

# a standing figure, COCO-18 order, x and y from 0 to 1
STANDING = [[0.5, 0.1, 1], [0.5, 0.2, 1], [0.4, 0.2, 1], [0.35, 0.35, 1], [0.3, 0.5, 1], [0.6, 0.2, 1],
            [0.65, 0.35, 1], [0.7, 0.5, 1], [0.45, 0.5, 1], [0.45, 0.7, 1], [0.45, 0.9, 1], [0.55, 0.5, 1],
            [0.55, 0.7, 1], [0.55, 0.9, 1], [0.48, 0.08, 1], [0.52, 0.08, 1], [0.46, 0.1, 0], [0.54, 0.1, 0]]


def test_pose_crud_and_stick_figure(client):
    created = client.post("/api/poses", json={"id": "standing", "name": "Standing", "keypoints": STANDING,
                                              "tags": ["Idle"]})
    assert created.status_code == 201, created.text
    assert created.json()["tags"] == ["idle"]
    assert (poses.poses_dir() / "standing.json").is_file()
    assert_envelope(client.post("/api/poses", json={"id": "standing", "keypoints": STANDING}), 409)
    assert client.post("/api/poses?replace=true", json={"id": "standing", "keypoints": STANDING}).status_code == 201
    assert client.get("/api/poses").json()["items"] == [{"id": "standing", "name": "standing", "tags": [],
                                                         "kind": "keypoints"}]
    picture = client.get("/api/poses/standing/image", params={"width": 256, "height": 384})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(picture.content)).convert("RGB")
    assert image.size == (256, 384)
    assert image.getpixel((128, 38)) != (0, 0, 0)  # the nose joint is drawn
    assert image.getpixel((5, 5)) == (0, 0, 0)  # background
    assert client.delete("/api/poses/standing").json()["deleted"] is True
    assert_envelope(client.get("/api/poses/standing"), 404)
    assert_envelope(client.delete("/api/poses/standing"), 404)
    assert_envelope(client.get("/api/poses/..%2Fx"), 404)


@pytest.mark.parametrize("body", [
    {"id": "../x", "keypoints": STANDING},
    {"id": "p", "keypoints": STANDING[:10]},
    {"id": "p", "keypoints": [[2, 0.5, 1]] + STANDING[1:]},
    {"id": "p", "keypoints": [[0.5, 0.5, 3]] + STANDING[1:]},
    {"id": "p", "keypoints": STANDING, "image": "abc"},
    {"id": "p"},
    {"id": "p", "image": "../../etc/passwd"},
    {"id": "p", "keypoints": STANDING, "colour": "red"},
])
def test_bad_poses_are_refused(client, body):
    assert_envelope(client.post("/api/poses", json=body), 422)
    assert poses.list_poses() == []


def test_pixel_keypoints_with_a_canvas_and_body_25():
    body25 = [[x * 100, y * 200, c] for x, y, c in STANDING] + [[50, 195, 1]] * 7
    record = poses.check_pose({"id": "b25", "keypoints": body25, "canvas": [100, 200]})
    png = poses.stick_figure(record, width=64, height=128)
    assert Image.open(io.BytesIO(png)).size == (64, 128)
    with pytest.raises(InvalidInput):
        poses.check_pose({"id": "b25", "keypoints": body25})  # pixels without a canvas


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.sampled_from([0, 0.5, 1])), min_size=18, max_size=18))
def test_any_valid_keypoints_draw(points):
    record = poses.check_pose({"id": "any", "keypoints": [list(p) for p in points]})
    assert poses.stick_figure(record, width=32, height=32).startswith(b"\x89PNG")


def test_active_pose_lives_in_the_active_persona(client):
    client.post("/api/poses", json={"id": "standing", "keypoints": STANDING})
    assert client.get("/api/poses/active").json() == {"persona": None, "pose": None}
    assert_envelope(client.post("/api/poses/active", json={"id": "standing"}), 409, "no_active_persona")
    registry.import_roster([Persona(id="wanderer", avatar="w.png", name="Wanderer", metadata={"title": "x"})],
                           default="wanderer")
    assert_envelope(client.post("/api/poses/active", json={"id": "ghost"}), 404)
    answer = client.post("/api/poses/active", json={"id": "standing"})
    assert answer.json() == {"persona": "wanderer", "pose": "standing"}, answer.text
    stored = registry.get_persona("wanderer")
    assert stored["metadata"] == {"title": "x", "pose": "standing"} and registry.active()["id"] == "wanderer"
    assert client.get("/api/poses/active").json() == {"persona": "wanderer", "pose": "standing"}
    assert client.post("/api/poses/active", json={"id": None}).json()["pose"] is None
    assert [e["payload"] for e in modder_hooks.history(event="on_pose_changed")] == [
        {"persona": "wanderer", "pose": "standing"}, {"persona": "wanderer", "pose": None}]


def test_image_poses_serve_their_asset(client):
    from comfyvn.assets.registry import registry as assets

    png = poses.stick_figure(poses.check_pose({"id": "x", "keypoints": STANDING}), width=40, height=60)
    sidecar, _ = assets("default").add_bytes(png, name="pose.png", type="image")
    client.post("/api/poses", json={"id": "photo", "image": sidecar["uid"]})
    picture = client.get("/api/poses/photo/image")
    assert picture.status_code == 200 and picture.content == png
    client.post("/api/poses", json={"id": "lost", "image": "no-such-uid"})
    assert_envelope(client.get("/api/poses/lost/image"), 404)


def test_a_hand_written_bad_pose_file_is_422_not_500(client):
    from comfyvn.characters import poses

    folder = poses.poses_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bad.json").write_text('{"id": "bad", "name": "Bad", "keypoints": [[0.5, 0.5, 1.0]]}')
    answer = client.get("/api/poses/bad/image")
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_pose"
    assert "bad" not in [p["id"] for p in client.get("/api/poses").json().get("items", client.get("/api/poses").json().get("poses", []))]
