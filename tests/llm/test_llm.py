"""The LLM provider against a loopback OpenAI-compatible server: the client, the status/check routes,
and /roleplay/sample_llm cleaning through it (inline and as a job)."""

from __future__ import annotations

import json

import pytest

from comfyvn.config.settings import SettingsManager
from comfyvn.core.errors import InvalidInput, UpstreamError
from comfyvn.llm.provider import LLMSettings, configured_provider
from comfyvn.projects.paths import project_dir
from comfyvn.roleplay.cleaner import LLMCleaner
from tests.conftest import assert_envelope
from tests.support.jobs_http import wait_client_job
from tests.support.llm_server import MODEL, FakeLLM

CHAT = "\n".join([
    json.dumps({"user_name": "Ann", "character_name": "Sera", "create_date": "2024-09-28@01h00m00s"}),
    json.dumps({"name": "Sera", "is_user": False, "send_date": "2024-09-28@01h00m01s", "mes": "Hello,  teh traveller."}),
    json.dumps({"name": "Ann", "is_user": True, "send_date": "2024-09-28@01h00m02s", "mes": "*waves* Hi teh Sera!"}),
])


@pytest.fixture
def llm():
    with FakeLLM() as server:
        yield server


def configure(base_url: str, **extra) -> None:
    SettingsManager().save({"llm": {"provider": "openai", "base_url": base_url, "model": MODEL, **extra}})


def test_offline_by_default():
    assert configured_provider() is None
    assert LLMSettings.load().describe()["configured"] is False


def test_chat_sends_model_key_and_messages(llm, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-123")
    configure(llm.base_url, api_key_env="TEST_LLM_KEY")
    provider = configured_provider()
    assert provider.chat([{"role": "user", "content": "teh cat "}]) == "the cat"
    sent = llm.requests[-1]
    assert sent["headers"]["authorization"] == "Bearer sk-test-123"
    assert sent["body"]["model"] == MODEL and sent["body"]["stream"] is False
    assert provider.models() == [MODEL]
    described = LLMSettings.load().describe()
    assert described["api_key_present"] is True and "sk-test" not in json.dumps(described)


@pytest.mark.parametrize("mode, code, fragment", [
    ("error", "llm_error", "HTTP 500: model overloaded"),
    ("garbage", "llm_error", "not JSON"),
])
def test_upstream_failures_are_502_with_the_reason(llm, mode, code, fragment):
    configure(llm.base_url)
    llm.mode = mode
    with pytest.raises(UpstreamError) as caught:
        configured_provider().chat([{"role": "user", "content": "x"}])
    assert caught.value.code == code and fragment in caught.value.message and caught.value.status == 502


def test_unreachable_and_timeout(llm):
    configure("http://127.0.0.1:9/v1")  # discard port: nothing listens
    with pytest.raises(UpstreamError, match="cannot connect"):
        configured_provider().chat([{"role": "user", "content": "x"}])
    configure(llm.base_url, timeout_seconds=0.3)
    llm.mode = "slow"
    with pytest.raises(UpstreamError) as caught:
        configured_provider().chat([{"role": "user", "content": "x"}])
    assert caught.value.code == "llm_timeout"


def test_bad_settings_are_named():
    SettingsManager().save({"llm": {"provider": "gpt5"}})
    with pytest.raises(InvalidInput, match="llm.provider"):
        configured_provider()
    SettingsManager().save({"llm": {"provider": "openai", "base_url": "127.0.0.1:5001"}})
    with pytest.raises(InvalidInput, match="llm.base_url"):
        configured_provider()


def test_cleaner_keeps_offline_text_when_the_answer_is_unusable(llm):
    configure(llm.base_url)
    cleaner = LLMCleaner(configured_provider())
    assert cleaner.clean("teh  end .", "low") == "the end."  # offline pass, then the model's edit
    for mode in ("empty", "chatty"):
        llm.mode = mode
        assert cleaner.clean("teh  end .", "low") == "teh end."
    assert cleaner.stats == {"llm_calls": 3, "llm_kept_offline": 2}
    prompt = llm.requests[0]["body"]["messages"][0]["content"]
    assert "spelling" in prompt and "out-of-character" not in prompt  # the low-detail instructions


def test_routes_status_and_check(client, llm):
    assert client.get("/api/llm/status").json()["provider"] == "offline"
    assert client.post("/api/llm/check").json()["ok"] is True
    configure(llm.base_url)
    checked = client.post("/api/llm/check").json()
    assert checked["models"] == [MODEL] and checked["model_listed"] is True
    llm.mode = "error"
    configure("http://127.0.0.1:9/v1")
    assert_envelope(client.post("/api/llm/check"), 502, "llm_unreachable")


def _import(client) -> str:
    return client.post("/roleplay/import", json={"name": "Sera - chat.jsonl", "content": CHAT}).json()["uid"]



def _final_texts(uid: str) -> list[str]:
    final = json.loads((project_dir("default") / "roleplay" / "final" / f"{uid}.json").read_text())
    return [m["text"] for m in final["messages"]]


def test_sample_llm_inline_and_as_job(client, llm):
    uid = _import(client)
    assert_envelope(client.post("/roleplay/sample_llm", json={"uid": uid, "cleaner": "llm"}), 422, "llm_not_configured")
    configure(llm.base_url)
    done = client.post("/roleplay/sample_llm", json={"uid": uid, "blocking": True}).json()
    assert done["cleaner"] == f"llm:{MODEL}" and done["changes"]["llm_calls"] == 2
    assert _final_texts(uid) == ["Hello, the traveller.", "*waves* Hi the Sera!"]
    queued = client.post("/roleplay/sample_llm", json={"uid": uid, "overwrite": True})
    assert queued.status_code == 202
    job = wait_client_job(client, queued.json()["job_id"])
    assert job["state"] == "succeeded", job
    assert job["result"]["changes"]["llm_calls"] == 2
    offline = client.post("/roleplay/sample_llm", json={"uid": uid, "cleaner": "offline", "overwrite": True}).json()
    assert offline["cleaner"] == "offline" and _final_texts(uid)[0] == "Hello, teh traveller."


def test_sample_llm_failure_writes_nothing(client, llm):
    uid = _import(client)
    configure(llm.base_url)
    llm.mode = "error"
    final = project_dir("default") / "roleplay" / "final" / f"{uid}.json"
    assert_envelope(client.post("/roleplay/sample_llm", json={"uid": uid, "blocking": True}), 502, "llm_error")
    assert not final.exists()
