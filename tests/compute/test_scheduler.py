"""The scheduler as plain Python: ordering, affinity, failover, cost telemetry, threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.compute.providers import GB, Device
from comfyvn.compute.scheduler import Scheduler
from comfyvn.core.errors import Conflict, InvalidInput, NotFound


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(*devices: Device, clock: Clock | None = None) -> Scheduler:
    return Scheduler(devices or [Device("a", max_concurrent=10)], clock=clock or Clock())


def drain(scheduler: Scheduler, device: str) -> list[str]:
    order = []
    while (job := scheduler.claim(device)) is not None:
        order.append(job["id"])
        scheduler.complete(job["id"])
    return order


def test_fifo_within_a_priority_and_higher_priority_first():
    s = make()
    for job_id, priority in [("a1", 0), ("b1", 5), ("a2", 0), ("b2", 5), ("c1", -1)]:
        s.enqueue({"id": job_id, "priority": priority})
    assert drain(s, "a") == ["b1", "b2", "a1", "a2", "c1"]


def test_a_later_high_priority_job_is_claimed_before_waiting_ones():
    s = make()
    for n in range(3):
        s.enqueue({"id": f"low{n}"})
    assert s.claim("a")["id"] == "low0"
    s.enqueue({"id": "urgent", "priority": 10, "affinity": "character:sera"})
    assert s.claim("a")["id"] == "urgent"
    assert s.claim("a")["id"] == "low1"


def test_pools_local_remote_and_pinned_jobs():
    s = make(Device("gpu", location="local"), Device("cloud", location="remote"))
    s.enqueue({"id": "r", "pool": "remote"})
    s.enqueue({"id": "l", "pool": "local"})
    s.enqueue({"id": "p", "device": "gpu", "priority": -5})
    assert s.claim("gpu")["id"] == "l"
    assert s.claim("cloud")["id"] == "r"
    assert s.claim("cloud") is None  # the pinned job waits for its device
    s.complete("l")
    assert s.claim("gpu")["id"] == "p"


def test_capacity_is_respected():
    s = make(Device("a", max_concurrent=2))
    for n in range(5):
        s.enqueue({"id": str(n)})
    assert [s.claim("a")["id"], s.claim("a")["id"]] == ["0", "1"]
    assert s.claim("a") is None
    s.complete("0")
    assert s.claim("a")["id"] == "2"


def test_affinity_sticks_to_the_device_that_ran_the_key():
    s = make(Device("a", max_concurrent=5), Device("b", max_concurrent=5))
    s.enqueue({"id": "s1", "affinity": "character:sera"})
    assert s.claim("a")["id"] == "s1"
    s.enqueue({"id": "s2", "affinity": "character:sera"})
    s.enqueue({"id": "plain"})
    assert s.claim("b")["id"] == "plain"  # b skips sera's job: a has her LoRAs and is free
    assert s.claim("b") is None
    assert s.claim("a")["id"] == "s2"
    assert s.state()["affinity"] == {"character:sera": "a"}


def test_affinity_fails_over_when_the_sticky_device_is_full_and_records_the_new_device():
    s = make(Device("a", max_concurrent=1), Device("b", max_concurrent=5))
    s.enqueue({"id": "s1", "affinity": "sera"})
    s.enqueue({"id": "s2", "affinity": "sera"})
    assert s.claim("a")["id"] == "s1"  # a is now saturated
    assert s.claim("b")["id"] == "s2"
    assert s.state()["affinity"] == {"sera": "b"}
    s.complete("s1")
    s.enqueue({"id": "s3", "affinity": "sera"})
    assert s.claim("a") is None  # stickiness moved to b, which is healthy with room
    assert s.claim("b")["id"] == "s3"


def test_affinity_fails_over_when_the_sticky_device_is_down_or_degraded():
    s = make(Device("a", max_concurrent=5), Device("b", max_concurrent=5))
    s.enqueue({"id": "s1", "affinity": "sera"})
    s.claim("a")
    s.complete("s1")
    s.enqueue({"id": "s2", "affinity": "sera"})
    s.health("a", "degraded", "slow")
    assert s.claim("b")["id"] == "s2"
    assert s.state()["affinity"]["sera"] == "b"


def test_device_down_requeues_its_running_jobs_in_their_original_place():
    s = make(Device("a", max_concurrent=5), Device("b", max_concurrent=5))
    for job_id in ("j1", "j2", "j3"):
        s.enqueue({"id": job_id})
    s.claim("a")
    s.claim("a")
    result = s.health("a", "down", "connection refused")
    assert result["requeued"] == ["j1", "j2"] and result["previous"] == "healthy"
    assert s.claim("a") is None
    assert [s.claim("b")["id"] for _ in range(3)] == ["j1", "j2", "j3"]
    assert s.get("j1")["assigned"] == "b" and s.get("j1")["attempts"] == 2
    state = {d["device"]: d for d in s.state()["devices"]}
    assert state["a"]["status"] == "down" and state["a"]["last_error"] == "connection refused"
    assert state["a"]["last_check"] == 1000.0


def test_a_late_complete_from_a_failed_over_device_conflicts():
    s = make(Device("a"), Device("b"))
    s.enqueue({"id": "j"})
    s.claim("a")
    s.health("a", "down")
    with pytest.raises(Conflict):
        s.complete("j")


def test_fail_with_retry_until_attempts_run_out():
    s = make()
    s.enqueue({"id": "j", "max_attempts": 2})
    s.claim("a")
    assert s.fail("j", "boom", retry=True)["status"] == "queued"
    s.claim("a")
    job = s.fail("j", "boom again", retry=True)
    assert job["status"] == "failed" and job["attempts"] == 2 and job["error"] == "boom again"
    assert s.requeue("j")["status"] == "queued"
    with pytest.raises(Conflict):
        s.requeue("j")


def test_bad_transitions_and_unknown_ids():
    s = make()
    s.enqueue({"id": "j"})
    with pytest.raises(Conflict):
        s.complete("j")
    with pytest.raises(Conflict):
        s.enqueue({"id": "j"})
    with pytest.raises(NotFound):
        s.complete("nope")
    with pytest.raises(NotFound):
        s.claim("nowhere")
    with pytest.raises(InvalidInput):
        s.enqueue({"device": "nowhere"})
    with pytest.raises(InvalidInput):
        s.enqueue({"pool": "moon"})
    with pytest.raises(InvalidInput):
        s.health("a", "sleepy")


def test_cost_formula():
    clock = Clock()
    device = Device("cloud", location="remote", cost_per_minute=0.5, ingress_per_gb=0.1, egress_per_gb=0.2,
                    cost_per_vram_gb_minute=0.01, vram_gb=24)
    s = make(device, clock=clock)
    s.enqueue({"id": "j"})
    s.claim("cloud")
    clock.now += 120  # two minutes
    job = s.complete("j", {"bytes_tx": 2 * GB, "bytes_rx": GB // 2})
    # 2 min * 0.5 + 48 VRAM-GB-minutes * 0.01 + 2 GB * 0.1 + 0.5 GB * 0.2
    assert job["telemetry"] == {"cost_estimate": pytest.approx(1.0 + 0.48 + 0.2 + 0.1), "duration_sec": 120.0,
                                "bytes_tx": 2 * GB, "bytes_rx": GB // 2, "vram_minutes": 48.0}
    row = s.board()["devices"][0]
    assert row["completed"] == 1 and row["costs"]["cost_estimate"] == pytest.approx(1.78)
    assert row["durations"]["p50"] == 120.0


def test_reported_duration_and_vram_win_over_the_clock():
    s = make(Device("a", cost_per_minute=1.0, cost_per_vram_gb_minute=1.0, vram_gb=8))
    s.enqueue({"id": "j"})
    s.claim("a")
    job = s.complete("j", {"duration_sec": 30, "vram_gb": 2})
    assert job["telemetry"]["cost_estimate"] == pytest.approx(0.5 + 1.0)
    s.enqueue({"id": "k"})
    s.claim("a")
    with pytest.raises(InvalidInput):
        s.complete("k", {"bytes_tx": -1})
    assert s.get("k")["status"] == "running"


def test_board_counts_queues_per_device():
    s = make(Device("a", max_concurrent=1), Device("b", max_concurrent=1))
    s.enqueue({"id": "s1", "affinity": "sera"})
    s.claim("a")
    s.enqueue({"id": "s2", "affinity": "sera"})
    s.enqueue({"id": "pin", "device": "b"})
    s.enqueue({"id": "free"})
    board = {row["device"]: row for row in s.board()["devices"]}
    assert board["a"]["running"] == ["s1"] and board["a"]["queued"] == 1
    assert board["b"]["queued"] == 1
    assert s.board()["unassigned"] == 1


def test_removing_a_device_requeues_running_and_fails_pinned_jobs():
    s = make(Device("a", max_concurrent=2), Device("b"))
    s.enqueue({"id": "run"})
    s.enqueue({"id": "pin", "device": "a", "priority": -1})
    s.claim("a")
    s.sync([Device("b")])
    assert s.get("run")["status"] == "queued"
    assert s.get("pin")["status"] == "failed" and "removed" in s.get("pin")["error"]
    with pytest.raises(Conflict):
        s.requeue("pin")
    assert s.claim("b")["id"] == "run"


def test_threads_claim_each_job_exactly_once_within_capacity():
    total = 2000
    s = Scheduler([Device(f"d{n}", max_concurrent=3) for n in range(4)], history_limit=total)
    claimed: list[str] = []
    peak = {f"d{n}": 0 for n in range(4)}
    lock = threading.Lock()

    def producer(start: int) -> None:
        for n in range(start, total, 2):
            s.enqueue({"id": f"j{n}", "priority": n % 3, "affinity": f"c{n % 7}" if n % 2 else None})

    def worker(device: str) -> None:
        while True:
            job = s.claim(device)
            if job is None:
                with lock:
                    if len(claimed) >= total:
                        return
                continue
            with lock:
                claimed.append(job["id"])
                peak[device] = max(peak[device], len(s.board()["devices"][int(device[1:])]["running"]))
            s.complete(job["id"])

    threads = [threading.Thread(target=producer, args=(k,)) for k in (0, 1)]
    threads += [threading.Thread(target=worker, args=(f"d{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(f"j{n}" for n in range(total))
    assert max(peak.values()) <= 3
    assert s.state()["jobs"]["done"] == total


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 2), st.sampled_from([None, "x", "y"]), st.sampled_from(["local", "any"])),
                max_size=40),
       st.lists(st.sampled_from(["a", "b", "down-a", "up-a"]), max_size=60))
def test_claims_follow_priority_then_fifo_among_what_a_device_may_take(jobs, actions):
    """Whatever the interleaving, each claim returns the best job the device is allowed to take."""
    s = make(Device("a", max_concurrent=2), Device("b", max_concurrent=2))
    for n, (priority, affinity, pool) in enumerate(jobs):
        s.enqueue({"id": f"j{n}", "priority": priority, "affinity": affinity, "pool": pool})
    for action in actions:
        if action == "down-a":
            s.health("a", "down")
            continue
        if action == "up-a":
            s.health("a", "healthy")
            continue
        before = s.state()
        queued = [s.get(f"j{n}") for n in range(len(jobs)) if s.get(f"j{n}")["status"] == "queued"]
        devices = {d["device"]: d for d in before["devices"]}

        def holds(device: str, devices: dict = devices) -> bool:
            d = devices[device]
            return d["status"] == "healthy" and d["load"] < d["max_concurrent"]

        me = devices[action]
        allowed = [] if me["status"] == "down" or me["load"] >= me["max_concurrent"] else [
            j for j in queued
            if j["affinity"] is None or before["affinity"].get(j["affinity"]) in (None, action)
            or not holds(before["affinity"][j["affinity"]])]
        expected = min(allowed, key=lambda j: (-j["priority"], j["seq"]))["id"] if allowed else None
        job = s.claim(action)
        assert (job and job["id"]) == expected
        running = [j for j in (s.get(f"j{n}") for n in range(len(jobs))) if j["status"] == "running"]
        if len(running) >= 3:
            s.complete(running[0]["id"])
