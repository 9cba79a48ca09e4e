"""The /jobs HTTP API with the test dev plugin's job kinds (tests/dev_plugins/testkit.py).

``dev_plugins`` comes before ``client`` in every signature: the app must be built after the dev
plugins are enabled.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import assert_envelope

TEST_KINDS = {"test.sleep", "test.async_sleep", "test.block", "test.fail", "test.echo"}
FINISHED = ("succeeded", "failed", "cancelled")


def wait_job(client, job_id: str, *states: str, timeout: float = 15.0) -> dict[str, Any]:
    states = states or FINISHED
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()["job"]
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job['state']}, expected one of {states}")
        time.sleep(0.02)


def submit(client, kind: str, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    response = client.post("/jobs/submit", json={"kind": kind, "params": params or {}, **extra})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == body["job"]["state"]
    return body["job"]


# -- happy paths ----------------------------------------------------------------------------------
def test_kinds_lists_the_dev_plugin_kinds(dev_plugins, client):
    response = client.get("/jobs/kinds")
    assert response.status_code == 200
    kinds = {k["name"]: k for k in response.json()["kinds"]}
    assert TEST_KINDS <= set(kinds)
    names = [k["name"] for k in response.json()["kinds"]]
    assert names == sorted(names)
    assert kinds["test.block"]["isolation"] == "process"
    assert kinds["test.echo"]["isolation"] == "thread"
    assert kinds["test.echo"]["owner"] == "testkit"
    assert kinds["test.echo"]["description"]
    assert set(kinds["test.echo"]) == {"name", "description", "isolation", "owner", "params_schema"}


def test_kinds_without_dev_plugins_has_no_test_kinds(client):
    names = {k["name"] for k in client.get("/jobs/kinds").json()["kinds"]}
    assert not names & TEST_KINDS


def test_submit_then_get_poll_and_logs(dev_plugins, client):
    response = client.post("/jobs/submit", json={"kind": "test.echo", "params": {"word": "hi", "n": 2}})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"job", "status"}
    job = body["job"]
    assert body["status"] == "queued" and job["state"] == "queued"
    assert job["kind"] == "test.echo" and job["params"] == {"word": "hi", "n": 2}
    assert job["priority"] == 0 and job["run_at"] is None and len(job["id"]) == 32

    done = wait_job(client, job["id"])
    assert done["state"] == "succeeded"
    assert done["result"] == {"word": "hi", "n": 2}
    assert done["progress"] == 1.0 and done["error"] is None
    assert client.get(f"/jobs/{job['id']}").json() == {"job": done}

    logs = client.get(f"/jobs/logs/{job['id']}")
    assert logs.status_code == 200
    body = logs.json()
    assert body["id"] == job["id"]
    assert [line["line"] for line in body["lines"]] == ["echo {'word': 'hi', 'n': 2}"]
    assert body["lines"][0]["seq"] == 0 and body["next_offset"] == 1
    after = client.get(f"/jobs/logs/{job['id']}", params={"offset": 1}).json()
    assert after["lines"] == [] and after["next_offset"] == 1

    poll = client.get("/jobs/poll")
    assert poll.status_code == 200
    polled = poll.json()
    assert set(polled) == {"jobs", "counts"}
    assert [j["id"] for j in polled["jobs"]] == [job["id"]]
    assert polled["jobs"][0] == done
    assert set(polled["counts"]) == {"queued", "delayed", "running", "succeeded", "failed", "cancelled"}
    assert polled["counts"]["succeeded"] == 1 and polled["counts"]["failed"] == 0  # finished jobs count too


def test_poll_filters_by_state_and_kind_with_paging(dev_plugins, client):
    ok = wait_job(client, submit(client, "test.echo", {"n": 1})["id"])
    bad = wait_job(client, submit(client, "test.fail", {"message": "nope"})["id"])
    later = submit(client, "test.echo", {"n": 2}, delay=120)
    assert later["state"] == "delayed"

    def ids(**params: Any) -> list[str]:
        response = client.get("/jobs/poll", params=params)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["jobs"]]

    assert ids() == [later["id"], bad["id"], ok["id"]]
    assert ids(state="succeeded") == [ok["id"]]
    assert ids(state="failed") == [bad["id"]]
    assert ids(state="delayed") == [later["id"]]
    assert ids(kind="test.echo") == [later["id"], ok["id"]]
    assert ids(kind="test.echo", state="succeeded") == [ok["id"]]
    assert ids(kind="test.sleep") == []
    assert ids(limit=1) == [later["id"]]
    assert ids(limit=2, offset=1) == [bad["id"], ok["id"]]
    counts = client.get("/jobs/poll").json()["counts"]
    assert counts["delayed"] == 1 and counts["running"] == 0 and counts["queued"] == 0


def test_priority_and_delay_are_accepted(dev_plugins, client):
    job = submit(client, "test.echo", priority=7, delay=30)
    assert job["priority"] == 7 and job["state"] == "delayed"
    assert job["run_at"] - job["created_at"] == pytest.approx(30)
    assert client.get(f"/jobs/{job['id']}").json()["job"]["state"] == "delayed"


def test_failed_job_reports_error_and_traceback(dev_plugins, client):
    job = submit(client, "test.fail", {"message": "the disk is on fire"})
    done = wait_job(client, job["id"])
    assert done["state"] == "failed"
    assert done["error"] == "ValueError: the disk is on fire"
    lines = client.get(f"/jobs/logs/{job['id']}").json()["lines"]
    assert lines and lines[-1]["line"].startswith("Traceback") and "the disk is on fire" in lines[-1]["line"]


def test_kill_running_job(dev_plugins, client):
    job = submit(client, "test.sleep", {"seconds": 60, "steps": 600})
    wait_job(client, job["id"], "running")
    response = client.post(f"/jobs/kill/{job['id']}")
    assert response.status_code == 202
    answer = response.json()["job"]
    assert answer["id"] == job["id"] and answer["cancel_requested"] is True
    done = wait_job(client, job["id"])
    assert done["state"] == "cancelled"
    lines = [x["line"] for x in client.get(f"/jobs/logs/{job['id']}").json()["lines"]]
    assert "cancel requested: killed by request" in lines
    assert "slept" not in lines


def test_kill_async_job(dev_plugins, client):
    job = submit(client, "test.async_sleep", {"seconds": 60})
    wait_job(client, job["id"], "running")
    wait_logs = time.monotonic() + 10
    while not client.get(f"/jobs/logs/{job['id']}").json()["lines"]:
        assert time.monotonic() < wait_logs
        time.sleep(0.02)
    assert client.post(f"/jobs/kill/{job['id']}").status_code == 202
    done = wait_job(client, job["id"])
    assert done["state"] == "cancelled" and done["result"] is None


def test_kill_delayed_job_cancels_it_at_once(dev_plugins, client):
    job = submit(client, "test.echo", delay=60)
    response = client.post(f"/jobs/kill/{job['id']}")
    assert response.status_code == 202
    assert response.json()["job"]["state"] == "cancelled"
    assert client.get(f"/jobs/{job['id']}").json()["job"]["state"] == "cancelled"


def test_reset_removes_finished_jobs_only(dev_plugins, client):
    ok = wait_job(client, submit(client, "test.echo")["id"])
    bad = wait_job(client, submit(client, "test.fail")["id"])
    later = submit(client, "test.echo", delay=60)

    response = client.post("/jobs/reset")
    assert response.status_code == 200
    assert response.json() == {"removed": 2}
    assert [j["id"] for j in client.get("/jobs/poll").json()["jobs"]] == [later["id"]]
    for job in (ok, bad):
        assert_envelope(client.get(f"/jobs/{job['id']}"), 404, "not_found")
        assert_envelope(client.get(f"/jobs/logs/{job['id']}"), 404, "not_found")
    assert client.post("/jobs/reset").json() == {"removed": 0}


# -- errors ---------------------------------------------------------------------------------------
def test_unknown_kind_is_422_and_lists_known_kinds(dev_plugins, client):
    error = assert_envelope(client.post("/jobs/submit", json={"kind": "test.nope"}), 422, "unknown_job_kind")
    assert "test.nope" in error["message"]
    for name in TEST_KINDS:
        assert name in error["message"]
    assert error["details"] == {"field": "kind", "kind": "test.nope"}
    assert client.get("/jobs/poll").json()["jobs"] == []


def test_missing_kind_is_a_validation_error_naming_body_kind(dev_plugins, client):
    error = assert_envelope(client.post("/jobs/submit", json={"params": {}}), 422, "validation_error")
    assert "body.kind" in error["message"]
    assert error["details"]["errors"][0]["field"] == "body.kind"

    error = assert_envelope(client.post("/jobs/submit", json={"kind": ""}), 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "body.kind"


def test_bad_body_fields_are_validation_errors(dev_plugins, client):
    error = assert_envelope(client.post("/jobs/submit", json={"kind": "test.echo", "delay": -1}),
                            422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "body.delay"

    error = assert_envelope(client.post("/jobs/submit", json={"kind": "test.echo", "params": [1, 2]}),
                            422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "body.params"

    error = assert_envelope(client.post("/jobs/submit", json={"kind": "test.echo", "priority": "high"}),
                            422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "body.priority"

    response = client.post("/jobs/submit", content=b"not json", headers={"content-type": "application/json"})
    assert_envelope(response, 422, "validation_error")
    assert client.get("/jobs/poll").json()["jobs"] == []


def test_bad_poll_filters_are_422(dev_plugins, client):
    error = assert_envelope(client.get("/jobs/poll", params={"state": "finished"}), 422, "invalid_input")
    assert "finished" in error["message"] and "succeeded" in error["message"]
    error = assert_envelope(client.get("/jobs/poll", params={"limit": 0}), 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "query.limit"
    assert_envelope(client.get("/jobs/poll", params={"offset": -1}), 422, "validation_error")
    assert_envelope(client.get("/jobs/poll", params={"limit": 1001}), 422, "validation_error")


def test_unknown_job_id_is_404_everywhere(dev_plugins, client):
    for response in (
        client.get("/jobs/0123456789abcdef"),
        client.get("/jobs/logs/0123456789abcdef"),
        client.post("/jobs/kill/0123456789abcdef"),
    ):
        error = assert_envelope(response, 404, "not_found")
        assert "0123456789abcdef" in error["message"]
        assert error["details"] == {"kind": "job", "id": "0123456789abcdef"}


def test_kill_finished_job_is_409(dev_plugins, client):
    ok = wait_job(client, submit(client, "test.echo")["id"])
    error = assert_envelope(client.post(f"/jobs/kill/{ok['id']}"), 409, "conflict")
    assert "succeeded" in error["message"]
    assert error["details"] == {"id": ok["id"], "state": "succeeded"}

    bad = wait_job(client, submit(client, "test.fail")["id"])
    assert assert_envelope(client.post(f"/jobs/kill/{bad['id']}"), 409, "conflict")["details"]["state"] == "failed"


def test_bad_logs_paging_is_422(dev_plugins, client):
    ok = wait_job(client, submit(client, "test.echo")["id"])
    assert_envelope(client.get(f"/jobs/logs/{ok['id']}", params={"offset": -1}), 422, "validation_error")
    assert_envelope(client.get(f"/jobs/logs/{ok['id']}", params={"limit": 0}), 422, "validation_error")
