"""BudgetManager: limits in settings, the verdict and its event, admission, devices, external
jobs and the asset working set (eviction order, lazy eviction, the dedup cache)."""

from __future__ import annotations

import pytest

from comfyvn.cache.cache_manager import CacheManager
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.perf import budget_manager
from comfyvn.perf.budget_manager import DEFAULT_LIMITS, BudgetManager


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []

    def __call__(self, event, payload) -> None:
        modder_hooks.bus().validate(event, payload)  # exactly the declared fields
        self.items.append((event, dict(payload)))

    def states(self) -> list[tuple[str, str]]:
        return [(p["previous"], p["state"]) for _, p in self.items]


@pytest.fixture
def settings(tmp_path):
    return SettingsManager(tmp_path / "settings.json")


@pytest.fixture
def events():
    return Events()


def make(settings, events=None, *, enabled=True, cpu=0.0, **kwargs) -> BudgetManager:
    return BudgetManager(settings=settings, emit=events, enabled=lambda: enabled, cpu=lambda: cpu,
                         clock=kwargs.pop("clock", Clock()), **kwargs)


# -- limits ------------------------------------------------------------------------------------------
def test_limits_default_then_persist_in_the_settings_section(settings):
    manager = make(settings)
    assert manager.limits() == DEFAULT_LIMITS
    manager.set_limits({"max_running_jobs": 2, "max_cpu_percent": 90})
    assert settings.stored()["perf"] == {"max_running_jobs": 2, "max_cpu_percent": 90.0}
    assert make(settings).limits()["max_running_jobs"] == 2  # a fresh manager reads them back
    manager.set_limits({"max_running_jobs": None})
    assert manager.limits()["max_running_jobs"] is None


@pytest.mark.parametrize("patch", [{"max_jobs": 1}, {"max_running_jobs": -1}, {"max_running_jobs": 1.5},
                                   {"max_cpu_percent": 150}, {"max_queued_jobs": True},
                                   {"retry_delay_seconds": None}, {"max_vram_gb": "8"}])
def test_bad_limits_are_refused_naming_the_key(settings, patch):
    with pytest.raises(InvalidInput) as info:
        make(settings).set_limits(patch)
    assert next(iter(patch)) in str(info.value)
    assert "perf" not in settings.stored()


def test_invalid_stored_limits_fall_back_to_defaults(settings):
    settings.save({"perf": {"max_running_jobs": "lots", "max_queued_jobs": 3, "unrelated": 1}})
    limits = make(settings).limits()
    assert limits["max_running_jobs"] is None and limits["max_queued_jobs"] == 3 and "unrelated" not in limits


# -- verdict and admission ---------------------------------------------------------------------------
def test_state_event_fires_on_each_change_only(settings, events):
    manager = make(settings, events)
    manager.set_limits({"max_running_jobs": 1})
    assert manager.state({"running": 0})["state"] == "ok"
    assert events.items == []  # starts ok: no change
    report = manager.state({"running": 1})
    assert report["state"] == "constrained" and report["exceeded"] == ["max_running_jobs"]
    manager.state({"running": 1})
    manager.state({"running": 0})
    assert events.states() == [("ok", "constrained"), ("constrained", "ok")]
    payload = events.items[0][1]
    assert payload["reasons"] == ["running jobs 1 reached max_running_jobs=1"]
    assert payload["metrics"]["running_jobs"] == 1


def test_no_events_and_every_job_admitted_while_budgets_are_off(settings, events):
    manager = make(settings, events, enabled=False, cpu=99.0)
    manager.set_limits({"max_running_jobs": 0, "max_cpu_percent": 10})
    assert manager.admit("k", {}, {"running": 5}) is None
    assert manager.state()["state"] == "constrained" and manager.state()["enabled"] is False
    assert events.items == []


@pytest.mark.parametrize("limits,counts,cpu,reason", [
    ({"max_queued_jobs": 2}, {"queued": 2}, 0.0, "queued jobs 2 reached max_queued_jobs=2"),
    ({"max_running_jobs": 1}, {"running": 1}, 0.0, "running jobs 1 reached max_running_jobs=1"),
    ({"max_cpu_percent": 80}, {}, 95.0, "CPU percent 95.0 over max_cpu_percent=80.0"),
])
def test_admission_defers_over_a_job_cap_with_the_retry_delay(settings, limits, counts, cpu, reason):
    manager = make(settings, cpu=cpu)
    manager.set_limits({**limits, "retry_delay_seconds": 0.5})
    delay, text = manager.admit("k", {}, counts)
    assert delay == 0.5 and text == f"deferred by perf budget: {reason}"


def test_admission_below_the_caps_and_asset_overage_do_not_defer(settings):
    manager = make(settings, cpu=50.0)
    manager.set_limits({"max_queued_jobs": 2, "max_running_jobs": 2, "max_cpu_percent": 80, "max_cached_assets": 0})
    manager.register_asset("a", 1, pinned=True)  # over the asset limit, pinned so it stays
    assert manager.evaluate({"queued": 1, "running": 1})["exceeded"] == ["max_cached_assets"]
    assert manager.admit("k", {}, {"queued": 1, "running": 1, "delayed": 50}) is None


def test_vram_comes_from_fresh_device_reports(settings):
    clock = Clock()
    manager = make(settings, clock=clock)
    manager.set_limits({"max_vram_gb": 8, "device_report_ttl_seconds": 60})
    assert manager.metrics({})["vram_gb"] is None
    manager.report_device("comfy-a", 6.0, 12.0)
    manager.report_device("comfy-b", 9.5)
    assert manager.metrics({})["vram_gb"] == 9.5
    assert "VRAM GB on a device 9.5 over max_vram_gb=8.0" in manager.admit("k", {}, {})[1]
    clock.now += 3600  # both reports are stale now
    assert manager.metrics({})["vram_gb"] is None and manager.admit("k", {}, {}) is None
    with pytest.raises(InvalidInput):
        manager.report_device("", 1.0)


def test_external_jobs_count_against_the_caps(settings, events):
    manager = make(settings, events)
    manager.set_limits({"max_running_jobs": 1})
    assert manager.register_job("r1", "remote")["status"] == "queued"
    assert manager.metrics({})["queued_jobs"] == 1
    manager.start_job("r1")
    answer = manager.register_job("r2", "remote")
    assert answer["status"] == "delayed" and answer["retry_after"] == 2.0 and "max_running_jobs" in answer["reason"]
    assert [j["job_id"] for j in manager.external_jobs()] == ["r1"]
    manager.finish_job("r1")
    assert manager.register_job("r2")["status"] == "queued"
    assert events.states() == [("ok", "constrained"), ("constrained", "ok")]
    with pytest.raises(NotFound):
        manager.start_job("nope")
    with pytest.raises(NotFound):
        manager.finish_job("nope")


# -- assets ------------------------------------------------------------------------------------------
def test_eviction_is_least_recently_used_first_and_skips_pins(settings):
    manager = make(settings, enabled=False)  # no lazy eviction: only explicit passes
    for key in ("a", "b", "c", "d", "e"):
        manager.register_asset(key, 10, pinned=key == "b")
    manager.touch_asset("a")
    assert [a["key"] for a in manager.assets()] == ["b", "c", "d", "e", "a"]
    manager.set_limits({"max_cached_assets": 2})
    assert [a["key"] for a in manager.evict(dry_run=True)] == ["c", "d", "e"]
    assert len(manager.assets()) == 5  # dry run changed nothing
    assert [a["key"] for a in manager.evict()] == ["c", "d", "e"]
    assert [a["key"] for a in manager.assets()] == ["b", "a"]
    assert manager.evict() == []


def test_byte_limit_evicts_until_it_holds(settings):
    manager = make(settings, enabled=False)
    for key, size in (("a", 50), ("b", 30), ("c", 40)):
        manager.register_asset(key, size)
    manager.set_limits({"max_cached_bytes": 60})
    assert [a["key"] for a in manager.evict()] == ["a", "b"]
    assert manager.metrics({})["cached_bytes"] == 40


def test_register_evicts_lazily_while_budgets_are_on(settings):
    manager = make(settings)
    manager.set_limits({"max_cached_assets": 2})
    assert manager.register_asset("a", 1)["evicted"] == []
    assert manager.register_asset("b", 1)["evicted"] == []
    manager.touch_asset("a")
    result = manager.register_asset("c", 1)
    assert [a["key"] for a in result["evicted"]] == ["b"] and result["asset"]["key"] == "c"
    again = manager.register_asset("a", 5)  # re-registering refreshes, keeps the first registration time
    assert again["evicted"] == [] and again["asset"]["bytes"] == 5
    assert [a["key"] for a in manager.assets()] == ["c", "a"]


def test_register_keeps_the_new_asset_even_if_alone_over_the_limit(settings):
    manager = make(settings)
    manager.set_limits({"max_cached_bytes": 10})
    manager.register_asset("small", 5)
    result = manager.register_asset("huge", 100)
    assert [a["key"] for a in result["evicted"]] == ["small"]
    assert [a["key"] for a in manager.assets()] == ["huge"]


def test_unknown_assets_and_bad_sizes(settings):
    manager = make(settings)
    with pytest.raises(NotFound):
        manager.touch_asset("missing")
    with pytest.raises(NotFound):
        manager.forget_asset("missing")
    with pytest.raises(InvalidInput):
        manager.register_asset("x", -1)
    with pytest.raises(InvalidInput):
        manager.register_asset("", 1)
    manager.register_asset("x", 1)
    assert manager.forget_asset("x")["key"] == "x" and manager.assets() == []


def test_touch_and_release_go_through_the_dedup_cache(settings, tmp_path):
    times = iter(range(1, 100))
    cache = CacheManager(tmp_path / "cache", clock=lambda: float(next(times)))
    files = []
    for name in ("one.png", "two.png", "three.png"):
        path = tmp_path / "assets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(name.encode())
        cache.add(path)
        files.append(path)
    cache.pin(files[1])
    manager = make(settings, enabled=False, cache=lambda: cache)
    for path in files:
        manager.register_asset(path.name, path.stat().st_size, cache_path=str(path))
    manager.register_asset("not-cached", 1, cache_path=str(tmp_path / "nowhere.png"))
    before = cache.get(files[0]).last_access
    manager.touch_asset("one.png")
    assert cache.get(files[0]).last_access > before
    manager.touch_asset("not-cached")  # not in the cache: logged, not an error
    manager.set_limits({"max_cached_assets": 1})
    evicted = manager.evict(release_cache=True)
    assert [(a["key"], a["cache_released"]) for a in evicted] == [
        ("two.png", False), ("three.png", True), ("one.png", True)]
    assert cache.get(files[1]) is not None  # pinned in the cache: kept there
    assert cache.get(files[0]) is None and cache.get(files[2]) is None
    assert [a["key"] for a in manager.assets()] == ["not-cached"]


# -- the process-wide manager ------------------------------------------------------------------------
def test_default_is_created_on_first_use_and_reset_by_uninstall():
    first = budget_manager.default()
    assert budget_manager.default() is first
    assert budget_manager.state()["limits"] == DEFAULT_LIMITS
    budget_manager.uninstall()
    assert budget_manager.default() is not first
