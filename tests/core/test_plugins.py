"""The plugin host: core plugins, dev plugins (only in dev mode), owners, duplicate declarations
and broken plugins failing loudly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pluggy
import pytest

from comfyvn.config import feature_flags
from comfyvn.config.feature_flags import Flag
from comfyvn.core import modder_hooks, plugins
from comfyvn.core.errors import InvalidInput
from comfyvn.core.jobs import JobKind
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import PluginError, hookimpl

FULL_PLUGIN = '''
from comfyvn.config.feature_flags import Flag
from comfyvn.core.jobs import JobKind
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = {name!r}


@hookimpl
def comfyvn_flags():
    return [Flag("{prefix}_flag", True, "A dev flag.")]


@hookimpl
def comfyvn_events():
    return [EventSpec("{prefix}.happened", "Something happened.", {{"what": "What happened."}})]


@hookimpl
def comfyvn_job_kinds():
    return [JobKind("{prefix}.job", "tests.support.jobkit:echo", "Echo from a dev plugin.")]
'''


def write_plugin(folder: Path, stem: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture
def dev_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "my_dev_plugins"
    folder.mkdir()
    monkeypatch.setenv("COMFYVN_DEV_MODE", "1")
    monkeypatch.setenv("COMFYVN_DEV_PLUGINS_DIR", str(folder))
    plugins.reset()
    return folder


def _names() -> dict[str, str]:
    return {p["name"]: p["source"] for p in plugins.state()["plugins"]}


def test_core_plugins_load_without_dev_mode():
    state = plugins.state()
    assert state["dev_mode"] is False
    sources = _names()
    assert sources["core"] == "core" and sources["diagnostics"] == "core"
    assert all(source != "dev" and not source.startswith("dev:") for source in sources.values())
    core = next(p for p in state["plugins"] if p["name"] == "core")
    assert core["hooks"] == ["comfyvn_events", "comfyvn_flags", "comfyvn_routers"]
    assert state["counts"] == {"flags": len(plugins.flags()), "events": len(plugins.events()),
                               "job_kinds": len(plugins.job_kinds())}
    assert plugins.job_kinds()["system.diagnostics"].owner == "diagnostics"
    assert plugins.events()["flags.changed"].owner == "core"


def test_dev_plugin_declarations_show_up_with_its_owner(dev_dir):
    path = write_plugin(dev_dir, "studio_extras", FULL_PLUGIN.format(name="studio-extras", prefix="extras"))
    snapshot = {f["name"]: f for f in feature_flags.snapshot()}
    assert snapshot["extras_flag"]["owner"] == "studio-extras"
    assert snapshot["extras_flag"]["enabled"] is True
    specs = modder_hooks.specs()
    assert specs["extras.happened"].owner == "studio-extras"
    assert dict(specs["extras.happened"].fields) == {"what": "What happened."}
    kinds = plugins.job_kinds()
    assert kinds["extras.job"].owner == "studio-extras"
    state = plugins.state()
    assert state["dev_mode"] is True
    assert state["dev_plugins_dir"] == str(dev_dir)
    entry = next(p for p in state["plugins"] if p["name"] == "studio-extras")
    assert entry["source"] == f"dev:{path}"
    assert entry["hooks"] == ["comfyvn_events", "comfyvn_flags", "comfyvn_job_kinds"]
    # the declared event is usable on the bus, with its declared payload
    seen = []
    modder_hooks.subscribe("extras.happened", seen.append)
    modder_hooks.emit("extras.happened", {"what": "a test"})
    assert seen[0]["payload"] == {"what": "a test"}
    with pytest.raises(InvalidInput):
        modder_hooks.emit("extras.happened", {"wrong": 1})


def test_dev_plugin_job_kind_runs_inline(dev_dir, runtime_root):
    from comfyvn.core.job_store import JobStore
    from comfyvn.core.jobs import JobManager

    write_plugin(dev_dir, "runner", FULL_PLUGIN.format(name="runner", prefix="runner"))
    manager = JobManager(JobStore(runtime_root / "jobs.sqlite3"))
    try:
        job = manager.run_inline("runner.job", {"hello": "world"})
    finally:
        manager.store.close()
    assert job["state"] == "succeeded"
    assert job["result"] == {"hello": "world"}


def test_dev_plugin_without_plugin_name_is_named_after_its_file(dev_dir):
    write_plugin(dev_dir, "anonymous", """
        from comfyvn.config.feature_flags import Flag
        from comfyvn.core.plugins import hookimpl

        @hookimpl
        def comfyvn_flags():
            return [Flag("anon_flag", False, "No name.")]
    """)
    assert plugins.flags()["anon_flag"].owner == "dev:anonymous"
    assert _names()["dev:anonymous"].startswith("dev:")


def test_dev_plugins_are_not_loaded_without_dev_mode(tmp_path, monkeypatch):
    folder = tmp_path / "dev"
    write_plugin(folder, "extras", FULL_PLUGIN.format(name="extras", prefix="extras"))
    write_plugin(folder, "broken", "def oops(:\n")  # would fail loudly if it were loaded
    monkeypatch.setenv("COMFYVN_DEV_PLUGINS_DIR", str(folder))
    for value in (None, "0", "false", "no", ""):
        if value is None:
            monkeypatch.delenv("COMFYVN_DEV_MODE", raising=False)
        else:
            monkeypatch.setenv("COMFYVN_DEV_MODE", value)
        plugins.reset()
        assert plugins.dev_mode() is False
        assert "extras_flag" not in plugins.flags()
        assert "extras.job" not in plugins.job_kinds()
        assert "extras.happened" not in modder_hooks.specs()
        assert "extras" not in _names()


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_dev_mode_spellings(value, monkeypatch):
    monkeypatch.setenv("COMFYVN_DEV_MODE", value)
    assert plugins.dev_mode() is True


def test_default_dev_plugin_folder_is_under_data(runtime_root, monkeypatch):
    monkeypatch.setenv("COMFYVN_DEV_MODE", "1")
    folder = plugins.dev_plugins_dir()
    assert folder == (runtime_root / "data").resolve() / "dev_plugins"
    write_plugin(folder, "local", FULL_PLUGIN.format(name="local", prefix="local"))
    plugins.reset()
    assert plugins.job_kinds()["local.job"].owner == "local"


def test_missing_dev_folder_is_fine(tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_DEV_MODE", "1")
    monkeypatch.setenv("COMFYVN_DEV_PLUGINS_DIR", str(tmp_path / "absent"))
    plugins.reset()
    assert "core" in _names()


def test_only_python_files_are_loaded(dev_dir):
    (dev_dir / "notes.txt").write_text("def broken(:")
    (dev_dir / "sub").mkdir()
    write_plugin(dev_dir / "sub", "nested", "raise RuntimeError('nested folders are not scanned')")
    write_plugin(dev_dir, "ok", FULL_PLUGIN.format(name="ok", prefix="ok"))
    assert "ok_flag" in plugins.flags()


def test_dev_plugin_with_syntax_error_names_the_file(dev_dir):
    write_plugin(dev_dir, "good", FULL_PLUGIN.format(name="good", prefix="good"))
    bad = write_plugin(dev_dir, "zz_broken", "from comfyvn.core.plugins import hookimpl\ndef broken(:\n    pass\n")
    with pytest.raises(PluginError) as caught:
        plugins.flags()
    assert str(bad) in str(caught.value)
    assert isinstance(caught.value.__cause__, SyntaxError)
    with pytest.raises(PluginError):  # not skipped on the next try either
        feature_flags.snapshot()
    with pytest.raises(PluginError):
        plugins.state()


def test_dev_plugin_raising_at_import_names_the_file(dev_dir):
    bad = write_plugin(dev_dir, "explodes", "raise RuntimeError('cannot start: missing model')\n")
    with pytest.raises(PluginError, match="cannot start: missing model") as caught:
        plugins.manager()
    assert str(bad) in str(caught.value)


def test_dev_plugin_with_missing_dependency_fails_loudly(dev_dir):
    write_plugin(dev_dir, "needs_dep", "import comfyvn_no_such_dependency_xyz\n")
    with pytest.raises(PluginError, match="comfyvn_no_such_dependency_xyz"):
        plugins.job_kinds()


def test_two_dev_plugins_with_the_same_name_fail_loudly(dev_dir):
    write_plugin(dev_dir, "first", "PLUGIN_NAME = 'twin'\n")
    second = write_plugin(dev_dir, "second", "PLUGIN_NAME = 'twin'\n")
    with pytest.raises((PluginError, ValueError), match="twin") as caught:
        plugins.manager()
    assert str(second) in str(caught.value)


def test_two_dev_plugins_declaring_the_same_flag(dev_dir):
    for stem, name in (("one", "plugin-one"), ("two", "plugin-two")):
        write_plugin(dev_dir, stem, f"""
            from comfyvn.config.feature_flags import Flag
            from comfyvn.core.plugins import hookimpl

            PLUGIN_NAME = {name!r}

            @hookimpl
            def comfyvn_flags():
                return [Flag("shared_flag", False, "Declared twice.")]
        """)
    with pytest.raises(PluginError, match="feature flag 'shared_flag' is declared by both") as caught:
        feature_flags.snapshot()
    assert "plugin-one" in str(caught.value) and "plugin-two" in str(caught.value)


def test_dev_plugin_redeclaring_a_core_flag(dev_dir):
    write_plugin(dev_dir, "copycat", """
        from comfyvn.config.feature_flags import Flag
        from comfyvn.core.plugins import hookimpl

        PLUGIN_NAME = "copycat"

        @hookimpl
        def comfyvn_flags():
            return [Flag("enable_modder_webhooks", True, "Mine now.")]
    """)
    with pytest.raises(PluginError, match="'core' and 'copycat'|'copycat' and 'core'"):
        feature_flags.is_enabled("enable_modder_webhooks")


class _Declares:
    def __init__(self, *, flags=(), events=(), kinds=()) -> None:
        self._flags, self._events, self._kinds = flags, events, kinds

    @hookimpl
    def comfyvn_flags(self):
        return list(self._flags)

    @hookimpl
    def comfyvn_events(self):
        return list(self._events)

    @hookimpl
    def comfyvn_job_kinds(self):
        return list(self._kinds)


@pytest.mark.parametrize(("what", "declare", "read"), [
    ("feature flag", lambda: _Declares(flags=[Flag("dup", False, "d")]), plugins.flags),
    ("event", lambda: _Declares(events=[EventSpec("dup", "d", {})]), plugins.events),
    ("job kind", lambda: _Declares(kinds=[JobKind("dup", "x:y", "d")]), plugins.job_kinds),
])
def test_duplicates_across_runtime_plugins(what, declare, read):
    plugins.register(declare(), name="alpha")
    assert read()["dup"].owner == "alpha"
    plugins.register(declare(), name="beta")
    with pytest.raises(PluginError, match=f"{what} 'dup' is declared by both 'alpha' and 'beta'"):
        read()
    plugins.unregister("beta")
    assert read()["dup"].owner == "alpha"  # fixed by removing the duplicate


def test_register_and_unregister_bump_the_generation():
    start = plugins.generation
    name = plugins.register(_Declares(flags=[Flag("temp", True, "t")]), name="temp-plugin", source="tests")
    assert name == "temp-plugin"
    assert plugins.generation > start
    assert _names()["temp-plugin"] == "tests"
    assert "temp" in plugins.flags()
    middle = plugins.generation
    plugins.unregister("temp-plugin")
    assert plugins.generation > middle
    assert "temp" not in plugins.flags()
    assert "temp-plugin" not in _names()
    plugins.unregister("temp-plugin")  # unknown: harmless


def test_reset_rebuilds_from_the_sources(dev_dir):
    assert "later_flag" not in plugins.flags()
    write_plugin(dev_dir, "later", FULL_PLUGIN.format(name="later", prefix="later"))
    assert "later_flag" not in plugins.flags()  # cached until a reload
    plugins.register(_Declares(flags=[Flag("runtime_only", False, "r")]), name="runtime")
    plugins.reset()
    assert "later_flag" in plugins.flags()
    assert "runtime_only" not in plugins.flags()  # runtime registrations are forgotten


def test_call_runs_startup_hooks():
    seen = []

    class Startup:
        @hookimpl
        def comfyvn_startup(self, services):
            seen.append(services)
            return "started"

    plugins.register(Startup(), name="startup-probe")
    assert plugins.call("comfyvn_startup", services="svc") == ["started"]
    assert seen == ["svc"]


def test_hookimpl_with_a_wrong_signature_fails_loudly(dev_dir):
    write_plugin(dev_dir, "wrong_args", """
        from comfyvn.core.plugins import hookimpl

        @hookimpl
        def comfyvn_startup(services, extra):
            pass
    """)
    with pytest.raises((PluginError, pluggy.PluginValidationError), match="extra"):
        plugins.manager()


def test_the_test_suite_dev_plugins_fixture(dev_plugins):
    kinds = plugins.job_kinds()
    assert {"test.sleep", "test.echo", "test.fail"} <= set(kinds)
    assert kinds["test.echo"].owner == "testkit"
