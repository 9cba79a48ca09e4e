"""/api/render: the built-in renderer and a ComfyUI server (the protocol test server) drawing
into the asset registry; templates; tools/lock_nodes.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfyvn.assets import provenance
from comfyvn.assets.registry import registry
from tests.conftest import assert_envelope
from tests.support.comfy_server import FakeComfyUI
from tests.support.jobs_http import wait_client_job

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture
def comfy(tmp_path):
    with FakeComfyUI(tmp_path / "comfy") as server:
        yield server



def test_builtin_background_and_sprites_become_assets(client):
    answer = client.post("/api/render/background", json={"location": "forest clearing", "time_of_day": "night",
                                                           "weather": "rain", "seed": 3, "blocking": True})
    assert answer.status_code == 200, answer.text
    asset = answer.json()["assets"][0]
    assert asset["type"] == "background" and {"forest-clearing", "night", "rain"} <= set(asset["tags"])
    assert asset["provenance"]["tool"] == "builtin" and asset["provenance"]["seed"] == 3
    again = client.post("/api/render/background", json={"location": "forest clearing", "time_of_day": "night",
                                                          "weather": "rain", "seed": 3, "blocking": True}).json()
    assert again["assets"][0]["uid"] == asset["uid"]  # deterministic: the same asset
    queued = client.post("/api/render/sprites", json={"character": "mira", "name": "Mira",
                                                        "expressions": ["joy", "anger", "neutral"]})
    assert queued.status_code == 202
    job = wait_client_job(client, queued.json()["job_id"])
    assert job["state"] == "succeeded", job
    paths = sorted(a["path"] for a in job["result"]["assets"])
    assert [p.rsplit("-", 1)[0] for p in paths] == ["characters/mira/default/anger", "characters/mira/default/joy",
                                                   "characters/mira/default/neutral"]
    found = registry().query(type="character.sprite", tags=["mira"])
    assert found["total"] == 3


def test_comfyui_render_carries_provenance_and_no_workflow(client, comfy):
    answer = client.post("/api/render/background", json={"location": "harbour", "provider": "comfyui",
                                                           "url": comfy.base_url, "width": 64, "height": 64,
                                                           "seed": 9, "blocking": True})
    assert answer.status_code == 200, answer.text
    asset = answer.json()["assets"][0]
    block = asset["provenance"]
    assert block["tool"] == "comfyui" and block["workflow_id"] == "scene_still" and block["server"] == comfy.base_url
    assert block["prompt_id"] == comfy.prompts[-1]["prompt_id"] and block["seed"] == 9
    stored = (registry().root / asset["path"]).read_bytes()
    assert not provenance.has_text(stored) and provenance.read_png(stored)["prompt_id"] == block["prompt_id"]


def test_comfyui_sprites_with_a_lora(client, comfy):
    answer = client.post("/api/render/sprites", json={
        "character": "sera", "expressions": ["joy"], "provider": "comfyui", "url": comfy.base_url, "blocking": True,
        "lora": {"name": "detail_tweaker.safetensors", "strength": 0.6}})
    assert answer.status_code == 200, answer.text
    block = answer.json()["assets"][0]["provenance"]
    assert block["workflow_id"] == "sprite_pack" and block["loras"] == [{"name": "detail_tweaker.safetensors",
                                                                          "strength": 0.6}]
    graph = comfy.prompts[-1]["prompt"]
    assert any(n["class_type"] == "LoraLoader" and n["inputs"]["lora_name"] == "detail_tweaker.safetensors"
               for n in graph.values())


def test_errors(client, comfy):
    assert_envelope(client.post("/api/render/background", json={"location": "x", "provider": "comfyui",
                                                                 "blocking": True}), 422, "comfyui_not_configured")
    assert_envelope(client.post("/api/render/background", json={"location": "", "blocking": True}), 422)
    assert_envelope(client.post("/api/render/background", json={"location": "x", "width": 5, "blocking": True}), 422)
    rejected = client.post("/api/render/sprites", json={"character": "sera", "provider": "comfyui", "blocking": True,
                                                        "url": comfy.base_url, "lora": {"name": "missing.safetensors"}})
    assert_envelope(rejected, 422, "comfyui_rejected")
    assert_envelope(client.post("/api/render/background", json={"location": "x", "provider": "comfyui",
                                                                 "url": "http://127.0.0.1:9", "blocking": True}), 502)


def test_templates_listing():
    from fastapi.testclient import TestClient

    from comfyvn.server.app import create_app

    with TestClient(create_app(configure_logging=False)) as client:
        listed = client.get("/api/render/templates").json()["templates"]
        assert {"scene_still", "sprite_pack", "sprite_composite_basic"} <= {t["id"] for t in listed}
        assert client.get("/api/render/templates/sprite_pack").json()["graph"]["10"]["class_type"] == "LoraLoader"
        assert_envelope(client.get("/api/render/templates/nope"), 404)


def test_lock_nodes_tool(comfy, tmp_path):
    tool = [sys.executable, str(ROOT / "tools" / "lock_nodes.py")]
    checked = subprocess.run([*tool, "--check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    core = ["scene_still", "sprite_pack", "sprite_composite_basic", "pose_blend_basic", "sprite_pose_composite",
            "test_image"]
    against = subprocess.run([*tool, "--server", comfy.base_url, "--json", *[f"--template={t}" for t in core]],
                             capture_output=True, text=True, timeout=60)
    report = json.loads(against.stdout)
    assert against.returncode == 0 and report["ok"], report
    warnings = [p for p in report["templates"]["sprite_pack"] if p["severity"] == "warning"]
    assert any("character.safetensors" in w["message"] for w in warnings)  # the default LoRA is not on the server
    everything = subprocess.run([*tool, "--server", comfy.base_url, "--json"], capture_output=True, text=True,
                                timeout=60)
    report = json.loads(everything.stdout)
    assert everything.returncode == 1 and not report["ok"]  # the video and voice templates need custom nodes
    missing = {p["node"] for name in ("video_ad_evolved", "voice_clip_xtts") for p in report["templates"][name]
               if p["severity"] == "error"}
    assert {"ADE_AnimateDiffLoaderGen1", "VHS_VideoCombine", "XTTS_INFER", "LoadAudioPath"} <= missing
    down = subprocess.run([*tool, "--server", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 2 and "cannot reach" in down.stderr


def test_a_comfyui_render_job_and_its_cancel(client, comfy):
    queued = client.post("/api/render/template", json={"template": "test_image", "url": comfy.base_url,
                                                        "values": {"width": 32, "height": 32, "color": 7}})
    job = wait_client_job(client, queued.json()["job_id"])
    assert job["state"] == "succeeded", job
    assert job["result"]["assets"][0]["provenance"]["workflow_id"] == "test_image"
    comfy.stall_ws = True  # the bridge hears nothing more: the job is still waiting when it is cancelled
    slow = client.post("/jobs/submit", json={"kind": "render.template", "params": {
        "template": "test_image", "url": comfy.base_url, "values": {"width": 32, "height": 32, "color": 8}}})
    job_id = slow.json()["job"]["id"]
    time.sleep(0.5)
    assert client.post(f"/jobs/kill/{job_id}").status_code == 202
    assert wait_client_job(client, job_id)["state"] == "cancelled"
    assert comfy.interrupts >= 1  # the bridge told ComfyUI to stop


def test_auto_uses_the_configured_comfyui_provider(client, comfy):
    created = client.post("/api/providers", json={"id": "local-comfy", "kind": "comfyui", "base_url": comfy.base_url})
    assert created.status_code == 201, created.text
    answer = client.post("/api/render/background", json={"location": "dock", "width": 64, "height": 64,
                                                           "blocking": True}).json()
    assert answer["assets"][0]["provenance"]["server"] == comfy.base_url
    client.patch("/api/providers/local-comfy", json={"enabled": False})
    builtin = client.post("/api/render/background", json={"location": "dock", "blocking": True}).json()
    assert builtin["assets"][0]["provenance"]["tool"] == "builtin"


def test_hardened_bridge_injects_the_lora_stack_and_prompt_overrides(client, comfy):
    from comfyvn.config.settings import SettingsManager

    SettingsManager().save({"render": {"prompt_overrides": {"*": {"suffix": "masterpiece"},
                                                             "sera": {"prefix": "sera style", "negative": "hats"}}}})
    stack = [{"name": "detail_tweaker.safetensors", "strength": 0.5},
             {"name": "pixel_art_xl.safetensors", "strength": 0.3, "clip_strength": 0.2}]
    body = {"character": "sera", "expressions": ["joy"], "provider": "comfyui", "url": comfy.base_url,
            "blocking": True, "loras": stack}
    plain = client.post("/api/render/sprites", json=body)
    assert plain.status_code == 200, plain.text
    graph = comfy.prompts[-1]["prompt"]
    assert [n["inputs"]["lora_name"] for n in graph.values() if n["class_type"] == "LoraLoader"] == [
        "detail_tweaker.safetensors"]  # without hardening: the first LoRA, through sprite_pack
    assert client.post("/api/flags/enable_comfy_bridge_hardening", json={"enabled": True}).status_code == 200
    hardened = client.post("/api/render/sprites", json={**body, "seed": 1})
    assert hardened.status_code == 200, hardened.text
    graph = comfy.prompts[-1]["prompt"]
    chain = sorted((k for k, n in graph.items() if n["class_type"] == "LoraLoader"), key=int)
    assert [graph[k]["inputs"]["lora_name"] for k in chain] == ["detail_tweaker.safetensors", "pixel_art_xl.safetensors"]
    assert graph[chain[1]]["inputs"]["strength_clip"] == 0.2 and graph[chain[1]]["inputs"]["model"] == [chain[0], 0]
    sampler = next(n for n in graph.values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["model"] == [chain[1], 0]  # everything downstream uses the end of the chain
    texts = [n["inputs"]["text"] for n in graph.values() if n["class_type"] == "CLIPTextEncode"]
    assert any(t.startswith("sera style") and t.endswith("masterpiece") for t in texts)
    assert any(t.endswith("hats") for t in texts)
    assert hardened.json()["assets"][0]["provenance"]["loras"][1]["name"] == "pixel_art_xl.safetensors"


def test_a_posed_sprite_through_an_uploaded_pose_image(client, comfy):
    from comfyvn.render.comfyui import server

    created = client.post("/api/poses", json={"id": "wave", "name": "Wave", "keypoints": [[0.5, 0.1, 1.0]] * 18})
    assert created.status_code in (200, 201), created.text
    pose_png = client.get("/api/poses/wave/image").content
    uploaded = server(comfy.base_url).upload_image(pose_png, "wave.png")
    answer = client.post("/api/render/template", json={
        "template": "pose_blend_basic", "url": comfy.base_url, "blocking": True, "asset_type": "character.sprite",
        "values": {"prompt": "sera waving", "pose_image": uploaded["name"],
                   "checkpoint": "sd_xl_base_1.0.safetensors", "width": 64, "height": 64}})
    assert answer.status_code == 200, answer.text
    graph = comfy.prompts[-1]["prompt"]
    assert {n["class_type"] for n in graph.values()} >= {"ControlNetLoader", "ControlNetApplyAdvanced", "LoadImage"}
    assert answer.json()["assets"][0]["provenance"]["workflow_id"] == "pose_blend_basic"


def test_scheduled_renders_stick_to_a_device_and_fail_over(client, tmp_path):
    with FakeComfyUI(tmp_path / "a") as first, FakeComfyUI(tmp_path / "b") as second:
        for name, server in (("gpu-a", first), ("gpu-b", second)):
            assert client.post("/api/providers", json={"id": name, "kind": "comfyui", "base_url": server.base_url,
                                                       "cost_per_minute": 0.5}).status_code == 201

        def render(seed: int) -> dict:
            answer = client.post("/api/render/portrait", json={"character": "sera", "seed": seed, "blocking": True})
            assert answer.status_code == 200, answer.text
            return answer.json()["assets"][0]["provenance"]

        one, two = render(1), render(2)
        assert one["device"] == two["device"]  # the character's renders stay where its LoRAs are loaded
        other = "gpu-b" if one["device"] == "gpu-a" else "gpu-a"
        board = {row["device"]: row for row in client.get("/api/schedule/board").json()["devices"]}
        assert board[one["device"]]["completed"] == 2 and board[other]["completed"] == 0
        assert client.get("/api/schedule/state").json()["affinity"]["character:sera"] == one["device"]
        assert client.post("/api/schedule/health", json={"device": one["device"], "status": "down",
                                                         "error": "gone"}).status_code == 200
        three = render(3)
        assert three["device"] == other  # failover, and the character now sticks there
        assert client.get("/api/schedule/state").json()["affinity"]["character:sera"] == other


UI_WORKFLOW = {  # as ComfyUI's editor saves it: nodes with widget values, links by number
    "last_node_id": 3, "last_link_id": 1,
    "nodes": [
        {"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [], "outputs": [{"name": "IMAGE", "links": [1]}],
         "widgets_values": [32, 32, 1, 255]},
        {"id": 2, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 1}],
         "widgets_values": ["from_ui"]},
        {"id": 3, "type": "Note", "mode": 0, "inputs": [], "widgets_values": ["a comment"]},
    ],
    "links": [[1, 1, 0, 2, 0, "IMAGE"]],
}


def test_ui_workflows_are_converted_or_refused(client, comfy):
    from comfyvn.render.comfyui import server

    converted = client.post("/api/render/workflow/convert", json={"workflow": UI_WORKFLOW, "url": comfy.base_url})
    assert converted.status_code == 200, converted.text
    graph = converted.json()["graph"]
    assert graph == {"1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1,
                                                                   "color": 255}},
                     "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "from_ui", "images": ["1", 0]}}}
    assert server(comfy.base_url).run(graph).outputs  # the converted graph runs
    api = client.post("/api/render/workflow/convert", json={"workflow": graph, "url": comfy.base_url}).json()
    assert api["format"] == "api" and api["graph"] == graph
    unknown = {**UI_WORKFLOW, "nodes": [*UI_WORKFLOW["nodes"], {"id": 4, "type": "SomeCustomNode", "mode": 0,
                                                                 "inputs": [], "widgets_values": []}]}
    assert_envelope(client.post("/api/render/workflow/convert", json={"workflow": unknown, "url": comfy.base_url}),
                    422, "workflow_unconvertible")


def test_comfyui_progress_reaches_the_job_stream(client, comfy):
    from comfyvn.core import modder_hooks

    queued = client.post("/api/render/template", json={"template": "test_image", "url": comfy.base_url,
                                                        "values": {"width": 32, "height": 32, "color": 99}})
    job_id = queued.json()["job_id"]
    assert wait_client_job(client, job_id)["state"] == "succeeded"
    steps = [e["payload"] for e in modder_hooks.history(event="on_job_progress") if e["payload"]["job_id"] == job_id]
    assert any("ComfyUI" in (step["message"] or "") for step in steps)


def test_a_device_that_went_away_fails_over_and_comes_back(client, tmp_path):
    from comfyvn.compute import shared

    with FakeComfyUI(tmp_path / "a") as first, FakeComfyUI(tmp_path / "b") as second:
        for name, server in (("gpu-a", first), ("gpu-b", second)):
            client.post("/api/providers", json={"id": name, "kind": "comfyui", "base_url": server.base_url})
        body = {"character": "kai", "blocking": True}
        sticky = client.post("/api/render/portrait", json=body | {"seed": 1}).json()["assets"][0]["provenance"]["device"]
        gone, other = (first, second) if sticky == "gpu-a" else (second, first)
        gone.kill()  # it still looks healthy to the scheduler
        moved = client.post("/api/render/portrait", json=body | {"seed": 2})
        assert moved.status_code == 200, moved.text
        assert moved.json()["assets"][0]["provenance"]["server"] == other.base_url
        state = {row["device"]: row for row in client.get("/api/schedule/state").json()["devices"]}
        assert state[sticky]["status"] == "down"
        gone.restart()
        shared.recheck_down(shared.scheduler(), older_than=0)
        state = {row["device"]: row for row in client.get("/api/schedule/state").json()["devices"]}
        assert state[sticky]["status"] == "healthy"


def test_sprites_in_a_pose_on_comfyui(client, comfy):
    client.post("/api/poses", json={"id": "wave", "name": "Wave", "keypoints": [[0.5, 0.1, 1.0]] * 18})
    answer = client.post("/api/render/sprites", json={
        "character": "sera", "expressions": ["joy"], "pose": "wave", "provider": "comfyui", "url": comfy.base_url,
        "blocking": True, "loras": [{"name": "detail_tweaker.safetensors", "strength": 0.4}]})
    assert answer.status_code == 200, answer.text
    graph = comfy.prompts[-1]["prompt"]
    classes = [n["class_type"] for n in graph.values()]
    assert "ControlNetApplyAdvanced" in classes and classes.count("LoraLoader") == 1
    image = next(n for n in graph.values() if n["class_type"] == "LoadImage")["inputs"]["image"]
    assert (comfy.input_dir / image).is_file()  # the pose's stick figure, uploaded first
    asset = answer.json()["assets"][0]
    assert asset["meta"]["pose"] == "wave" and asset["provenance"]["workflow_id"] == "pose_blend_basic"
    builtin = client.post("/api/render/sprites", json={"character": "sera", "expressions": ["joy"], "pose": "wave",
                                                        "provider": "builtin", "blocking": True})
    assert builtin.status_code == 200 and builtin.json()["assets"][0]["meta"]["pose"] == "wave"


def test_a_render_whose_device_goes_down_is_not_handed_to_workers(client):
    from comfyvn.compute import shared
    from comfyvn.compute.providers import Device
    from comfyvn.compute.scheduler import Scheduler

    scheduler = Scheduler([Device(id="gpu", base_url="http://127.0.0.1:9")])
    job = scheduler.place({"kind": "render.scene_still", "affinity": "character:sera"})
    assert scheduler.health("gpu", "down", "gone")["requeued"] == []
    scheduler.health("gpu", "healthy")
    assert scheduler.claim("gpu") is None  # never queued for an external worker
    assert scheduler.get(job["id"])["status"] == "failed"
    assert shared.scheduler() is shared.scheduler()


def test_renders_fail_fast_when_every_device_is_down_and_recover(client, comfy):
    from comfyvn.compute import shared

    client.post("/api/providers", json={"id": "gpu", "kind": "comfyui", "base_url": comfy.base_url})
    shared.scheduler().health("gpu", "down", "restarting")
    down = client.post("/api/render/portrait", json={"character": "kai", "blocking": True})
    assert_envelope(down, 503, "devices_down")
    shared.recheck_down(shared.scheduler(), older_than=0)  # what the next render does after 30 s
    back = client.post("/api/render/portrait", json={"character": "kai", "blocking": True})
    assert back.status_code == 200, back.text
