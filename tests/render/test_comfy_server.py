"""The fake ComfyUI server (tests/support/comfy_server.py) behaves like ComfyUI 0.3.64 as
/work/shared/reference/comfyui.md describes: message order, routing, caching, history, view, uploads,
validation bodies, interrupts and the failure switches."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import time
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.comfy_server import FakeComfyUI

TIMEOUT = 10.0


@pytest.fixture
def comfy(tmp_path):
    with FakeComfyUI(tmp_path / "comfy") as server:
        yield server


class Socket:
    """A /ws client that keeps every message it reads (text as (type, data), binary as bytes)."""

    def __init__(self, server: FakeComfyUI, client_id: str | None = None, **headers: str) -> None:
        query = f"?clientId={client_id}" if client_id else ""
        self._stack = contextlib.ExitStack()
        self.conn: ClientConnection = self._stack.enter_context(connect(
            server.ws_url + query, open_timeout=TIMEOUT, ping_interval=None, close_timeout=2, compression=None,
            proxy=None, additional_headers=headers or None))
        self.seen: list[Any] = []

    def next(self, timeout: float = TIMEOUT) -> Any:
        raw = self.conn.recv(timeout=timeout)
        item = raw if isinstance(raw, bytes) else (json.loads(raw)["type"], json.loads(raw)["data"])
        self.seen.append(item)
        return item

    def until(self, kind: str, timeout: float = TIMEOUT, **fields: Any) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            item = self.next(max(0.01, deadline - time.monotonic()))
            if not isinstance(item, bytes) and item[0] == kind and all(item[1].get(k) == v for k, v in fields.items()):
                return item[1]

    def until_done(self, prompt_id: str) -> list[Any]:
        start = len(self.seen)
        self.until("executing", node=None, prompt_id=prompt_id)
        return self.seen[start:]

    def types(self, items: list[Any] | None = None) -> list[str]:
        return ["<binary>" if isinstance(i, bytes) else i[0] for i in (self.seen if items is None else items)]

    def close(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def socket(server: FakeComfyUI, client_id: str | None = None, **headers: str):
    ws = Socket(server, client_id, **headers)
    try:
        yield ws
    finally:
        ws.close()


def texts(items: list[Any]) -> list[tuple[str, dict]]:
    return [item for item in items if not isinstance(item, bytes)]


def image_graph(prefix: str = "test", color: int = 0x336699, size: int = 64) -> dict:
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                         "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}}


def sampler_graph(seed: int = 1, text: str = "a castle", steps: int = 3) -> dict:
    return {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
            "3": {"class_type": "KSampler", "inputs": {
                "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
                "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                "latent_image": ["5", 0]}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "sample"}}}


def submit(server: FakeComfyUI, graph: Any, client_id: str | None = None, path: str = "/prompt",
           **body: Any) -> httpx.Response:
    payload = {"prompt": graph, **body}
    if client_id is not None:
        payload["client_id"] = client_id
    return httpx.post(server.base_url + path, json=payload, timeout=TIMEOUT)


def view(server: FakeComfyUI, image: dict) -> httpx.Response:
    return httpx.get(server.base_url + "/view", params=image, timeout=TIMEOUT)


# -- the happy path --------------------------------------------------------------------------------
def test_success_sequence_history_and_view(comfy):
    with socket(comfy, "cid-1") as ws:
        assert ws.next() == ("status", {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "cid-1"})
        answer = submit(comfy, image_graph(), "cid-1", extra_data={"extra_pnginfo": {"workflow": {"nodes": []}}})
        assert answer.status_code == 200
        prompt_id = answer.json()["prompt_id"]
        assert answer.json() == {"prompt_id": prompt_id, "number": 0, "node_errors": {}}
        items = ws.until_done(prompt_id)
    assert ws.types(items) == [
        "status", "status", "execution_start", "execution_cached",
        "progress_state", "executing", "progress_state",
        "progress_state", "executing", "executed", "progress_state",
        "execution_success", "status", "executing"]
    events = dict(items)
    assert events["execution_start"]["prompt_id"] == prompt_id and events["execution_start"]["timestamp"] > 0
    assert events["execution_cached"]["nodes"] == []
    image = {"filename": "test_00001_.png", "subfolder": "", "type": "output"}
    assert events["executed"] == {"node": "2", "display_node": "2", "output": {"images": [image]},
                                  "prompt_id": prompt_id}
    assert items[-1] == ("executing", {"node": None, "prompt_id": prompt_id})
    states = [data["nodes"] for kind, data in items if kind == "progress_state"]
    assert states[-1]["1"]["state"] == states[-1]["2"]["state"] == "finished"

    history = httpx.get(f"{comfy.base_url}/history/{prompt_id}").json()[prompt_id]
    assert history["outputs"] == {"2": {"images": [image]}}
    assert history["status"]["status_str"] == "success" and history["status"]["completed"] is True
    assert [m[0] for m in history["status"]["messages"]] == ["execution_start", "execution_cached",
                                                             "execution_success"]
    assert history["prompt"][1] == prompt_id and history["prompt"][3]["client_id"] == "cid-1"
    assert httpx.get(f"{comfy.base_url}/api/history").json() == {prompt_id: history}

    png = view(comfy, image)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(png.content))
    assert picture.size == (64, 64) and picture.getpixel((0, 0)) == (0x33, 0x66, 0x99)
    assert json.loads(picture.text["prompt"]) == image_graph()
    assert json.loads(picture.text["workflow"]) == {"nodes": []}
    assert (comfy.output_dir / "test_00001_.png").read_bytes() == png.content


def test_history_is_empty_until_done_and_unknown_ids_are_empty(comfy):
    answer = submit(comfy, {**image_graph(), "0": {"class_type": "SlowNode", "inputs": {"seconds": 30}}})
    assert answer.status_code == 200  # SlowNode is no output: it is not run and not awaited
    assert httpx.get(f"{comfy.base_url}/history/nope").json() == {}
    slow = {"1": {"class_type": "SlowNode", "inputs": {"seconds": 30}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "slow"}}}
    with socket(comfy, "c") as ws:
        prompt_id = submit(comfy, slow, "c").json()["prompt_id"]
        ws.until("executing", node="1", prompt_id=prompt_id)
        assert httpx.get(f"{comfy.base_url}/history/{prompt_id}").json() == {}
        queue = httpx.get(f"{comfy.base_url}/queue").json()
        assert [item[1] for item in queue["queue_running"]] == [prompt_id] and queue["queue_pending"] == []
        assert httpx.post(f"{comfy.base_url}/interrupt", json={"prompt_id": prompt_id}).status_code == 200
        ws.until_done(prompt_id)
    assert httpx.get(f"{comfy.base_url}/history/{prompt_id}").json()[prompt_id]["status"]["status_str"] == "error"


def test_events_go_only_to_the_matching_client(comfy):
    with socket(comfy, "mine") as mine, socket(comfy, "other") as other, socket(comfy) as anonymous:
        assert anonymous.next()[1]["sid"]  # a server-made sid
        prompt_id = submit(comfy, image_graph(), "mine").json()["prompt_id"]
        mine.until_done(prompt_id)
        silent = submit(comfy, image_graph("quiet"), None).json()["prompt_id"]
        comfy.wait_idle()
        assert "quiet_00001_.png" in httpx.get(f"{comfy.base_url}/history/{silent}").text
        submit(comfy, image_graph("last"), "mine")
        mine.until("execution_success")
        other.until("status", status={"exec_info": {"queue_remaining": 0}})
        time.sleep(0.05)  # let anything misrouted arrive before we look
        with contextlib.suppress(TimeoutError):
            while True:
                other.next(timeout=0.2)
    assert set(other.types()) == {"status"}
    assert not any(data.get("prompt_id") == silent for _, data in texts(mine.seen))


# -- caching ---------------------------------------------------------------------------------------
def test_identical_graph_is_cached_and_reports_the_old_file(comfy):
    with socket(comfy, "c") as ws:
        first = submit(comfy, image_graph(), "c").json()["prompt_id"]
        ws.until_done(first)
        renumbered = {"10": {**image_graph()["1"]},
                      "20": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "test"}}}
        second = submit(comfy, renumbered, "c").json()["prompt_id"]
        items = ws.until_done(second)
    assert ws.types(items) == ["status", "status", "execution_start", "execution_cached", "executed",
                               "progress_state", "execution_success", "status", "executing"]
    events = dict(items)
    assert events["execution_cached"]["nodes"] == ["10", "20"]
    assert events["executed"]["output"]["images"][0]["filename"] == "test_00001_.png"
    assert [p.name for p in comfy.output_dir.iterdir()] == ["test_00001_.png"]
    assert [run[0] for run in comfy.node_runs] == [first, first] and comfy.executions == 2
    assert httpx.get(f"{comfy.base_url}/history/{second}").json()[second]["outputs"]["20"]["images"][0][
        "filename"] == "test_00001_.png"


def test_changed_input_reruns_only_what_changed_and_counts_files_up(comfy):
    submit(comfy, image_graph())
    comfy.wait_idle()
    submit(comfy, image_graph(color=0xFF0000))
    comfy.wait_idle()
    assert sorted(p.name for p in comfy.output_dir.iterdir()) == ["test_00001_.png", "test_00002_.png"]
    assert len(comfy.node_runs) == 4


# -- samplers, previews, determinism ---------------------------------------------------------------
def test_sampler_progress_previews_and_deterministic_images(comfy):
    with socket(comfy, "c") as ws:
        first = submit(comfy, sampler_graph(seed=7), "c").json()["prompt_id"]
        items = ws.until_done(first)
    progress = [data for kind, data in texts(items) if kind == "progress"]
    assert progress == [{"value": step, "max": 3, "prompt_id": first, "node": "3"} for step in (1, 2, 3)]
    frames = [item for item in items if isinstance(item, bytes)]
    assert len(frames) == 3
    assert all(struct.unpack(">II", frame[:8]) == (1, 1) and frame[8:10] == b"\xff\xd8" for frame in frames)
    outputs = [data["output"]["images"][0] for kind, data in texts(items) if kind == "executed"]
    assert [o["filename"] for o in outputs] == ["sample_00001_.png"]

    def pixels(name: str) -> bytes:
        return Image.open(comfy.output_dir / name).tobytes()

    for graph in (sampler_graph(seed=8), sampler_graph(seed=7), sampler_graph(seed=7, text="a tower")):
        submit(comfy, graph)  # seed 8 evicts the seed-7 results, so the second seed-7 run draws again
        comfy.wait_idle()
    assert pixels("sample_00003_.png") == pixels("sample_00001_.png")
    assert pixels("sample_00002_.png") != pixels("sample_00001_.png")
    assert pixels("sample_00004_.png") not in {pixels("sample_00001_.png"), pixels("sample_00002_.png")}


def test_preview_metadata_frames_for_clients_that_ask(comfy):
    with socket(comfy, "c") as ws:
        ws.next()
        ws.conn.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        assert ws.next() == ("feature_flags", {"supports_preview_metadata": True,
                                               "max_upload_size": comfy.max_upload_bytes})
        prompt_id = submit(comfy, sampler_graph(steps=1), "c").json()["prompt_id"]
        frames = [item for item in ws.until_done(prompt_id) if isinstance(item, bytes)]
    kind, length = struct.unpack(">II", frames[0][:8])
    assert kind == 4 and json.loads(frames[0][8:8 + length])["node_id"] == "3"


# -- failures, interrupts, reconnects ---------------------------------------------------------------
def test_execution_error_carries_server_paths(comfy):
    graph = {**image_graph(), "3": {"class_type": "FailNode", "inputs": {"message": "boom", "images": ["1", 0]}},
             "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "never"}}}
    with socket(comfy, "c") as ws:
        prompt_id = submit(comfy, graph, "c").json()["prompt_id"]
        items = ws.until_done(prompt_id)
    types = ws.types(items)
    assert "execution_success" not in types and types[-3:] == ["execution_error", "status", "executing"]
    error = dict(items)["execution_error"]
    assert error["node_id"] == "3" and error["node_type"] == "FailNode" and error["prompt_id"] == prompt_id
    assert error["exception_type"] == "RuntimeError"
    assert error["exception_message"].startswith("boom: could not open /")
    assert any("/tests/support/comfy_nodes.py" in line for line in error["traceback"])
    assert error["current_inputs"]["message"] == ["boom"] and "1" in error["executed"]
    history = httpx.get(f"{comfy.base_url}/history/{prompt_id}").json()[prompt_id]
    assert history["status"] == {"status_str": "error", "completed": False, "messages": history["status"]["messages"]}
    assert history["status"]["messages"][-1][0] == "execution_error"


def test_interrupt_reaches_every_client_and_reconnect_sees_the_running_node(comfy):
    graph = {**image_graph(), "3": {"class_type": "SlowNode", "inputs": {"seconds": 60, "images": ["1", 0]}}}
    graph["2"]["inputs"]["images"] = ["3", 0]
    with socket(comfy, "c") as ws, socket(comfy, "bystander") as bystander:
        prompt_id = submit(comfy, graph, "c").json()["prompt_id"]
        ws.until("executing", node="3", prompt_id=prompt_id)
        with socket(comfy, "c") as again:
            assert again.next()[0] == "status"
            assert again.next() == ("executing", {"node": "3"})
            assert httpx.post(f"{comfy.base_url}/interrupt", json={"prompt_id": "someone-else"}).status_code == 200
            assert httpx.post(f"{comfy.base_url}/api/interrupt").status_code == 200
            interrupted = again.until("execution_interrupted")
            assert bystander.until("execution_interrupted") == interrupted
            assert again.until_done(prompt_id)[-1] == ("executing", {"node": None, "prompt_id": prompt_id})
    assert {k: interrupted[k] for k in ("prompt_id", "node_id", "node_type", "executed")} == {
        "prompt_id": prompt_id, "node_id": "3", "node_type": "SlowNode", "executed": ["1"]}
    assert "execution_interrupted" not in ws.types()  # the old socket was replaced
    assert comfy.interrupts == 2


def test_queue_order_front_and_delete(comfy):
    blocker = {"1": {"class_type": "SlowNode", "inputs": {"seconds": 60}},
               "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    with socket(comfy, "c") as ws:
        slow = submit(comfy, blocker, "c").json()["prompt_id"]
        ws.until("executing", node="1", prompt_id=slow)
        late = submit(comfy, image_graph("late"), "c").json()["prompt_id"]
        gone = submit(comfy, image_graph("gone"), "c").json()["prompt_id"]
        urgent = submit(comfy, image_graph("urgent"), "c", front=True).json()
        assert urgent["number"] < 0
        pending = httpx.get(f"{comfy.base_url}/queue").json()["queue_pending"]
        assert [item[1] for item in pending] == [urgent["prompt_id"], late, gone]
        assert len(pending[0]) == 5 and pending[0][4] == ["2"]
        httpx.post(f"{comfy.base_url}/queue", json={"delete": [gone]})
        httpx.post(f"{comfy.base_url}/interrupt")
        ws.until_done(late)
    started = [data["prompt_id"] for kind, data in texts(ws.seen) if kind == "execution_start"]
    assert started == [slow, urgent["prompt_id"], late]
    assert httpx.get(f"{comfy.base_url}/history/{gone}").json() == {}
    preview = httpx.get(f"{comfy.base_url}/history/{slow}").json()[slow]
    assert preview["outputs"] == {}


def test_client_chosen_prompt_id_is_echoed_and_not_run_twice(comfy):
    prompt_id = str(uuid.uuid4())
    first = submit(comfy, image_graph(), prompt_id=prompt_id).json()
    assert first["prompt_id"] == prompt_id
    comfy.wait_idle()
    again = submit(comfy, image_graph(), prompt_id=prompt_id).json()
    assert again == first
    comfy.wait_idle()
    assert comfy.executions == 1 and len(comfy.prompts) == 2


# -- validation -------------------------------------------------------------------------------------
def error_types(body: dict) -> dict[str, list[str]]:
    return {node: [e["type"] for e in entry["errors"]] for node, entry in body["node_errors"].items()}


def test_validation_error_bodies(comfy):
    def bad(graph: Any, **body: Any) -> dict:
        answer = httpx.post(comfy.base_url + "/prompt", json={"prompt": graph, **body} if graph is not None else
                            body, timeout=TIMEOUT)
        assert answer.status_code == 400, answer.text
        assert set(answer.json()) == {"error", "node_errors"}
        assert set(answer.json()["error"]) == {"type", "message", "details", "extra_info"}
        return answer.json()

    assert bad(None, client_id="x")["error"]["type"] == "no_prompt"
    assert bad({"1": {"inputs": {}}})["error"] == {"type": "invalid_prompt", "message": "Cannot execute because a "
                                                  "node is missing the class_type property.",
                                                  "details": "Node ID '#1'", "extra_info": {}}
    assert "Nope does not exist" in bad({"1": {"class_type": "Nope", "inputs": {}}})["error"]["message"]
    assert bad({"1": image_graph()["1"]})["error"]["type"] == "prompt_no_outputs"

    graph = sampler_graph()
    graph["5"]["inputs"]["width"] = 8  # min 16
    graph["3"]["inputs"]["steps"] = 20000  # max 10000
    graph["3"]["inputs"]["sampler_name"] = "magic"
    graph["3"]["inputs"]["cfg"] = "lots"
    del graph["4"]["inputs"]["ckpt_name"]
    graph["8"]["inputs"]["vae"] = ["4", 0]  # MODEL into VAE
    body = bad(graph)
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert error_types(body) == {"4": ["required_input_missing"], "8": ["return_type_mismatch"],
                                 "5": ["value_smaller_than_min"],
                                 "3": ["value_bigger_than_max", "invalid_input_type", "value_not_in_list"]}
    assert body["node_errors"]["8"]["dependent_outputs"] == ["9"] and body["node_errors"]["8"]["class_type"] == \
        "VAEDecode"
    assert body["error"]["details"] == ""  # only the output node's own errors are listed there
    errors = {e["type"]: e for e in body["node_errors"]["3"]["errors"]}
    assert errors["value_bigger_than_max"]["message"] == "Value 20000 bigger than max of 10000"
    assert errors["value_not_in_list"]["details"].startswith("sampler_name: 'magic' not in [")
    assert errors["value_not_in_list"]["extra_info"]["received_value"] == "magic"

    dangling = image_graph()
    dangling["2"]["inputs"]["images"] = ["99", 0]
    assert error_types(bad(dangling)) == {"2": ["exception_during_validation"]}
    missing = {"1": {"class_type": "LoadImage", "inputs": {"image": "nope.png"}},
               "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}
    assert bad(missing)["node_errors"]["1"]["errors"][0]["details"] == "image - Invalid image file: nope.png"


def test_partly_valid_graph_runs_only_valid_outputs(comfy):
    graph = {**image_graph("good"), "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "bad"}}}
    answer = submit(comfy, graph)
    assert answer.status_code == 200
    assert error_types(answer.json()) == {"3": ["required_input_missing"]}
    comfy.wait_idle()
    assert [p.name for p in comfy.output_dir.iterdir()] == ["good_00001_.png"]


def test_malformed_json_is_a_plain_text_500(comfy):
    answer = httpx.post(comfy.base_url + "/prompt", content=b"{not json", timeout=TIMEOUT)
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/plain")


# -- uploads, view, other routes --------------------------------------------------------------------
def png_bytes(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


def upload(server: FakeComfyUI, name: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(server.base_url + "/upload/image", files={"image": (name, data, "image/png")}, data=fields,
                      timeout=TIMEOUT)


def test_upload_dedup_rename_and_load(comfy):
    red, blue = png_bytes((255, 0, 0)), png_bytes((0, 0, 255))
    assert upload(comfy, "hero.png", red).json() == {"name": "hero.png", "subfolder": "", "type": "input"}
    assert upload(comfy, "hero.png", red).json()["name"] == "hero.png"
    assert upload(comfy, "hero.png", blue).json()["name"] == "hero (1).png"
    assert upload(comfy, "hero.png", blue).json()["name"] == "hero (1).png"
    assert upload(comfy, "hero.png", blue, overwrite="true").json()["name"] == "hero.png"
    assert upload(comfy, "pose.png", red, subfolder="poses").json() == {"name": "pose.png", "subfolder": "poses",
                                                                        "type": "input"}
    assert (comfy.input_dir / "hero.png").read_bytes() == blue
    spec = httpx.get(comfy.base_url + "/object_info/LoadImage").json()["LoadImage"]["input"]["required"]["image"]
    assert spec[0] == ["hero (1).png", "hero.png"]
    assert view(comfy, {"filename": "pose.png", "subfolder": "poses", "type": "input"}).content == red

    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "hero (1).png"}},
             "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                          "width": 16, "height": 0, "crop": "disabled"}},
             "3": {"class_type": "ImageCompositeMasked", "inputs": {"destination": ["2", 0], "source": ["1", 0],
                                                                    "x": 4, "y": 4, "resize_source": False}},
             "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "scenes/out"}}}
    assert submit(comfy, graph).status_code == 200
    comfy.wait_idle()
    picture = Image.open(comfy.output_dir / "scenes" / "out_00001_.png")
    assert picture.size == (16, 16) and picture.getpixel((0, 0)) == (0, 0, 255)


def test_upload_limit_and_view_guards(tmp_path):
    with FakeComfyUI(tmp_path / "c", max_upload_bytes=1000) as comfy:
        assert upload(comfy, "big.png", b"x" * 2000).status_code == 413
        assert view(comfy, {"filename": "../secret.txt"}).status_code == 400
        assert view(comfy, {"filename": "a.png", "subfolder": "../.."}).status_code == 403
        assert view(comfy, {"filename": "a.png", "type": "models"}).status_code == 400
        assert view(comfy, {"filename": "missing.png"}).status_code == 404


def test_object_info_system_stats_and_free(comfy):
    info = httpx.get(comfy.base_url + "/object_info").json()
    assert {"KSampler", "SaveImage", "SlowNode", "FailNode", "LoraLoader"} <= set(info)
    sampler = info["KSampler"]
    assert sampler["input"]["required"]["steps"] == ["INT", {"default": 20, "min": 1, "max": 10000, "step": 1}]
    assert sampler["output"] == ["LATENT"] and sampler["output_node"] is False
    assert info["SaveImage"]["output_node"] is True
    assert "dreamshaper_8.safetensors" in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert httpx.get(comfy.base_url + "/api/object_info/Nope").json() == {}
    stats = httpx.get(comfy.base_url + "/system_stats").json()
    assert stats["system"]["comfyui_version"] == "0.3.64" and stats["devices"][0]["type"] == "cpu"
    assert httpx.post(comfy.base_url + "/free", json={"unload_models": True}).status_code == 200
    assert comfy.frees == [{"unload_models": True}]


def test_host_origin_mismatch_is_forbidden(comfy):
    evil = {"Origin": "http://evil.example"}
    assert httpx.get(comfy.base_url + "/system_stats", headers=evil).status_code == 403
    same = {"Origin": comfy.base_url}
    assert httpx.get(comfy.base_url + "/system_stats", headers=same).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        Socket(comfy, "c", Origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_client_pings_are_answered(comfy):
    with socket(comfy, "c") as ws:
        assert ws.conn.ping().wait(TIMEOUT)


# -- failure switches, kill and restart --------------------------------------------------------------
def test_stall_ws_keeps_the_socket_open_but_silent(comfy):
    comfy.stall_ws = True
    with socket(comfy, "c") as ws:
        prompt_id = submit(comfy, image_graph(), "c").json()["prompt_id"]
        ws.until("execution_start")
        comfy.wait_idle()
        assert prompt_id in httpx.get(f"{comfy.base_url}/history/{prompt_id}").json()
        with pytest.raises(TimeoutError):
            ws.next(timeout=0.3)
        comfy.stall_ws = False
        second = submit(comfy, image_graph("again"), "c").json()["prompt_id"]
        ws.until_done(second)


def test_drop_final_and_fail_next(comfy):
    comfy.drop_final = True
    with socket(comfy, "c") as ws:
        prompt_id = submit(comfy, image_graph(), "c").json()["prompt_id"]
        ws.until("execution_success", prompt_id=prompt_id)
        ws.until("status")
        with pytest.raises(TimeoutError):
            ws.next(timeout=0.3)
        comfy.drop_final, comfy.fail_next = False, 1
        failed = submit(comfy, image_graph("f"), "c").json()["prompt_id"]
        error = ws.until("execution_error", prompt_id=failed)
        assert "fail_next" in error["exception_message"] and error["node_id"] == "2"  # node 1 was cached
        ws.until_done(failed)
        fine = submit(comfy, image_graph("f"), "c").json()["prompt_id"]
        ws.until("execution_success", prompt_id=fine)


def test_kill_then_restart_on_the_same_port(comfy):
    first = submit(comfy, image_graph()).json()["prompt_id"]
    comfy.wait_idle()
    slow = {"1": {"class_type": "SlowNode", "inputs": {"seconds": 60}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "slow"}}}
    with socket(comfy, "c") as ws:
        prompt_id = submit(comfy, slow, "c").json()["prompt_id"]
        ws.until("executing", node="1", prompt_id=prompt_id)
        port = comfy.port
        comfy.kill()
        with pytest.raises(ConnectionClosed):
            while True:
                ws.next(timeout=TIMEOUT)
    with pytest.raises(httpx.ConnectError):
        httpx.get(comfy.base_url + "/system_stats", timeout=2)
    comfy.restart()
    assert comfy.port == port
    assert httpx.get(f"{comfy.base_url}/history").json() == {}
    assert httpx.get(f"{comfy.base_url}/history/{first}").json() == {}
    submit(comfy, image_graph())
    comfy.wait_idle()
    assert sorted(p.name for p in comfy.output_dir.iterdir()) == ["test_00001_.png", "test_00002_.png"]


def test_drop_ws_mid_run_and_lost_post_response(comfy):
    comfy.drop_ws = True
    slow = {"1": {"class_type": "SlowNode", "inputs": {"seconds": 60}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "slow"}}}
    with socket(comfy, "c") as ws:
        prompt_id = submit(comfy, slow, "c").json()["prompt_id"]
        ws.until("execution_start")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    with socket(comfy, "c") as again:
        assert again.next()[0] == "status"
        assert again.next() == ("executing", {"node": "1"})
        httpx.post(f"{comfy.base_url}/interrupt")
        again.until_done(prompt_id)
    comfy.post_error_next = 1
    retry_id = str(uuid.uuid4())
    lost = submit(comfy, image_graph(), prompt_id=retry_id)
    assert lost.status_code == 500
    assert submit(comfy, image_graph(), prompt_id=retry_id).json()["prompt_id"] == retry_id
    comfy.wait_idle()
    assert comfy.executions == 2 and [p.name for p in comfy.output_dir.iterdir()] == ["test_00001_.png"]
