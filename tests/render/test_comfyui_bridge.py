"""The ComfyUI bridge against the protocol test server: success, progress, caching, rejected
graphs, execution errors, cancel, stalled and dropped sockets, a lost POST answer, a killed or
restarted server; and renders through it becoming assets."""

from __future__ import annotations

import threading

import pytest

from comfyvn.assets import provenance
from comfyvn.core.errors import Conflict, InvalidInput, UpstreamError
from comfyvn.render.comfyui import ComfyUIServer, sanitise
from tests.support.comfy_server import FakeComfyUI


@pytest.fixture
def comfy(tmp_path):
    with FakeComfyUI(tmp_path / "comfy") as server:
        yield server


@pytest.fixture
def bridge(comfy):
    client = ComfyUIServer(comfy.base_url, stall_seconds=0.5, lost_seconds=1.5, ping_interval=2)
    yield client
    client.close()


def still(size: int = 64, color: int = 0x336699, prefix: str = "test") -> dict:
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                          "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}}


def sampled(seed: int = 1, steps: int = 4) -> dict:
    return {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a forest", "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
                                                       "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                       "positive": ["6", 0], "negative": ["7", 0],
                                                       "latent_image": ["5", 0]}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "s"}}}


def slow(seconds: float = 5) -> dict:
    graph = still()
    graph["3"] = {"class_type": "SlowNode", "inputs": {"seconds": seconds, "images": ["1", 0]}}
    graph["2"]["inputs"]["images"] = ["3", 0]
    return graph


def test_a_render_with_our_ids_progress_and_outputs(comfy, bridge):
    seen = []
    result = bridge.run(sampled(), progress=lambda fraction, message: seen.append(fraction))
    assert len(result.outputs) == 1 and result.outputs[0].data.startswith(b"\x89PNG")
    body = comfy.prompts[-1]
    assert body["client_id"] == bridge.client_id and body["prompt_id"] == result.prompt_id
    assert seen and seen == sorted(seen) and all(0 <= f < 1 for f in seen)
    assert provenance.has_text(result.outputs[0].data)  # ComfyUI's chunks: the registry replaces them


def test_an_identical_graph_is_cached_and_reports_the_old_file(comfy, bridge):
    first = bridge.run(still())
    second = bridge.run(still())
    assert second.outputs[0].filename == first.outputs[0].filename and second.cached_nodes
    assert second.outputs[0].data == first.outputs[0].data
    assert comfy.executions == 2 and len(list(comfy.output_dir.glob("*.png"))) == 1


def test_a_rejected_graph_names_the_node_and_input(bridge):
    graph = sampled(steps=0)
    with pytest.raises(InvalidInput) as caught:
        bridge.run(graph)
    assert caught.value.code == "comfyui_rejected" and "KSampler" in caught.value.message
    assert "value_smaller_than_min" in caught.value.message


def test_an_execution_error_is_sanitised(comfy, bridge):
    graph = still()
    graph["3"] = {"class_type": "FailNode", "inputs": {"message": "boom", "images": ["1", 0]}}
    graph["2"]["inputs"]["images"] = ["3", 0]
    with pytest.raises(UpstreamError) as caught:
        bridge.run(graph)
    assert caught.value.code == "comfyui_execution_error" and "FailNode" in caught.value.message
    assert str(comfy.output_dir.parent) not in caught.value.message and "/tmp/" not in caught.value.message


def test_cancel_interrupts_the_server(comfy, bridge):
    flag = threading.Event()
    threading.Timer(0.4, flag.set).start()
    with pytest.raises(Conflict) as caught:
        bridge.run(slow(10), cancelled=flag.is_set)
    assert caught.value.code == "cancelled" and comfy.interrupts >= 1
    assert comfy.wait_idle(10)


@pytest.mark.parametrize("switch", ["stall_ws", "drop_final", "drop_ws"])
def test_a_silent_or_dropped_socket_falls_back_to_history(comfy, bridge, switch):
    setattr(comfy, switch, True)
    result = bridge.run(still(color=0x112233))
    assert result.outputs and result.outputs[0].data.startswith(b"\x89PNG")


def test_a_lost_post_answer_is_retried_without_running_twice(comfy, bridge):
    comfy.post_error_next = 1
    result = bridge.run(still(color=0x445566))
    assert result.outputs and comfy.executions == 1
    assert len({p["prompt_id"] for p in comfy.prompts}) == 1


def test_a_killed_server_fails_the_render(comfy, bridge):
    threading.Timer(0.3, comfy.kill).start()
    with pytest.raises(UpstreamError) as caught:
        bridge.run(slow(10))
    assert caught.value.code == "comfyui_unreachable"


def test_a_restarted_server_lost_the_render(comfy, bridge):
    threading.Timer(0.3, comfy.restart).start()
    with pytest.raises(UpstreamError) as caught:
        bridge.run(slow(10))
    assert caught.value.code in ("comfyui_lost", "comfyui_unreachable")


def test_health_capabilities_and_uploads(comfy, bridge):
    assert bridge.system_stats()["system"]["comfyui_version"]
    assert "KSampler" in bridge.object_info() and "KSampler" in bridge.object_info("KSampler")
    first = bridge.upload_image(b"\x89PNG fake", "pose.png")
    again = bridge.upload_image(b"\x89PNG other", "pose.png")
    assert first["name"] == "pose.png" and again["name"] != "pose.png"


def test_unreachable_server_is_a_clear_error():
    client = ComfyUIServer("http://127.0.0.1:9", lost_seconds=0.5)
    with pytest.raises(UpstreamError, match="cannot reach ComfyUI"):
        client.system_stats()
    client.close()


@pytest.mark.parametrize("message, kept", [
    ("Error loading /home/user/ComfyUI/models/checkpoints/x.safetensors: bad", "x.safetensors"),
    ("Error loading C:\\Users\\John Smith\\ComfyUI\\models\\a.ckpt: bad", "a.ckpt"),
    ("C:\\Program Files\\ComfyUI\\models\\loras\\l.safetensors missing", "l.safetensors"),
    ("\\\\nas\\share\\models\\x.ckpt missing", "x.ckpt"),
    ("/home/me/My Models/ckpt/a.safetensors not found", "a.safetensors"),
])
def test_sanitise_removes_folders_and_keeps_file_names(message, kept):
    text = sanitise(message)
    assert kept in text
    for private in ("home", "Users", "John", "Program Files", "nas", "share", "My Models"):
        assert private not in text
    assert sanitise("and/or stays") == "and/or stays"


def test_other_users_status_messages_do_not_hide_a_lost_final_message(comfy, bridge):
    import httpx

    comfy.drop_final = True
    stop = threading.Event()

    def busy_neighbour():  # another client keeps the queue moving: the server broadcasts `status`
        n = 0
        while not stop.is_set():
            n += 1
            httpx.post(comfy.base_url + "/prompt", json={"prompt": still(color=0x100000 + n), "client_id": "other"})
            stop.wait(0.2)

    neighbour = threading.Thread(target=busy_neighbour, daemon=True)
    neighbour.start()
    try:
        result = bridge.run(still(color=0xABCDEF), timeout=8)
    finally:
        stop.set()
        neighbour.join(5)
    assert result.outputs


def test_bridges_are_reused_bounded_and_closed_at_shutdown(comfy):
    import threading as threads

    from fastapi.testclient import TestClient

    from comfyvn.render import comfyui
    from comfyvn.server.app import create_app

    def watchers() -> list[str]:
        return [t.name for t in threads.enumerate() if t.name.startswith("comfyui-ws")]

    before = watchers()
    with TestClient(create_app(configure_logging=False)) as client:
        for n in range(3):
            answer = client.post("/api/render/template", json={"template": "test_image", "url": comfy.base_url,
                                                                "blocking": True, "values": {"color": 500 + n}})
            assert answer.status_code == 200, answer.text
        assert len(watchers()) == len(before) + 1  # one socket for the server, kept for the next render
        many = [comfyui.server(f"http://127.0.0.1:{9000 + n}") for n in range(comfyui.MAX_SERVERS + 3)]
        assert len(comfyui._servers) == comfyui.MAX_SERVERS  # a caller naming many URLs cannot pile them up
        assert all(bridge._closed.is_set() for bridge in many[:3]) and not many[-1]._closed.is_set()
    assert watchers() == before  # closed when the server stops