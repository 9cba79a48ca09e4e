"""Our base game files: deterministic, escaped, and a game built on them lints clean and plays."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from PIL import Image

from comfyvn.core.errors import InvalidInput
from comfyvn.export import renpy_tool
from comfyvn.export.base_game import gui_images, renpy_string, write_base

TRICKY = 'The "Quoted" [Story] {b}of{/b} C:\\path 100%'

SCRIPT = """\
define e = Character("Eileen", image="eileen")

label start:
    "Hello there."
    e "Welcome to the base game."
    menu:
        "Where to?"
        "Left":
            jump left_path
        "Right":
            e "Right it is."
    jump finish

label left_path:
    e "Left."
    jump finish

label finish:
    "The end."
    return
"""

PLAYTHROUGH = """\
testcase play:
    "Start"
    click until "Left"
    "Left"
    pause 0.5
    run FileSave(1, page="1", confirm=False)
    pause 0.5
    assert renpy.can_load("1-1")
    run ShowMenu("preferences")
    pause 0.5
    run Return()
    pause 0.5
    run FileLoad(1, page="1", confirm=False)
    pause 0.5
    click until label finish
    $ renpy.quit(status=0)
"""


def write(game: Path, **overrides) -> list[Path]:
    args = {"name": TRICKY, "version": "1.0", "build_name": "TrickyStory", "save_directory": "TrickyStory-1"}
    return write_base(game, **{**args, **overrides})


def snapshot(game: Path) -> dict[str, bytes]:
    return {p.relative_to(game).as_posix(): p.read_bytes() for p in sorted(game.rglob("*")) if p.is_file()}


def make_game(root: Path, **overrides) -> Path:
    write(root / "game", **overrides)
    (root / "game" / "script.rpy").write_text(SCRIPT, encoding="utf-8")
    return root


def test_writes_the_base_files_and_images(tmp_path):
    written = write(tmp_path / "game")
    names = sorted(p.relative_to(tmp_path / "game").as_posix() for p in written)
    for expected in ("options.rpy", "gui.rpy", "screens.rpy", "gui/textbox.png", "gui/namebox.png",
                     "gui/frame.png", "gui/button/choice_idle_background.png",
                     "gui/button/choice_hover_background.png", "gui/bar/left.png", "gui/bar/right.png"):
        assert expected in names
    assert "guisupport.rpy" not in names
    with Image.open(tmp_path / "game" / "gui" / "textbox.png") as textbox:
        assert textbox.size == (1280, 185)
    screens = (tmp_path / "game" / "screens.rpy").read_text("utf-8")
    for screen in ("say(who, what)", "choice(items)", "input(prompt)", "nvl(dialogue", "main_menu()",
                   "game_menu(title", "file_slots(title)", "preferences()", "about()", "confirm(message",
                   "skip_indicator()", "notify(message)", "quick_menu()"):
        assert f"screen {screen}" in screens


def test_same_arguments_give_identical_bytes(tmp_path):
    write(tmp_path / "a" / "game")
    write(tmp_path / "b" / "game")
    first, second = snapshot(tmp_path / "a" / "game"), snapshot(tmp_path / "b" / "game")
    assert first == second and len(first) >= 10
    write(tmp_path / "c" / "game", accent="#3080c0")
    third = snapshot(tmp_path / "c" / "game")
    assert third["gui.rpy"] != first["gui.rpy"] and third["gui/textbox.png"] != first["gui/textbox.png"]
    assert third["screens.rpy"] == first["screens.rpy"]


def test_names_with_quotes_brackets_and_braces_are_escaped(tmp_path):
    write(tmp_path / "game", version='2.0 "beta"')
    options = (tmp_path / "game" / "options.rpy").read_text("utf-8").splitlines()
    values = {line.split(" = ", 1)[0]: line.split(" = ", 1)[1] for line in options if line.startswith("define ")}
    assert ast.literal_eval(values["define config.name"]) == TRICKY
    assert ast.literal_eval(values["define config.version"]) == '2.0 "beta"'
    # Displayed names go through the !q conversion, so [ and { are shown as written.
    screens = (tmp_path / "game" / "screens.rpy").read_text("utf-8")
    assert '"[config.name!q]"' in screens
    assert renpy_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_bad_arguments_are_refused(tmp_path):
    for bad in ({"build_name": "has space"}, {"save_directory": "a/b"}, {"accent": "pink"},
                {"name": "  "}, {"width": 10}):
        with pytest.raises(InvalidInput):
            write(tmp_path / "game", **bad)
    assert not (tmp_path / "game").exists()


def test_images_scale_with_the_screen():
    images = gui_images(width=1920, height=1080, accent="#c05080")
    assert images["gui/textbox.png"].size == (1920, 278)
    assert images["gui/main_menu.png"].size == (1920, 1080)


@pytest.mark.slow
def test_a_minimal_game_on_the_base_lints_clean(renpy, tmp_path):
    report = renpy_tool.lint(make_game(tmp_path / "p"), renpy=renpy)
    assert report.ok and report.errors == [], report.output
    wide = renpy_tool.lint(make_game(tmp_path / "wide", width=1920, height=1080, accent="#20a060"), renpy=renpy)
    assert wide.ok, wide.output


@pytest.mark.slow
def test_a_player_can_start_choose_save_load_and_quit(renpy, tmp_path):
    project = make_game(tmp_path / "p")
    (project / "game" / "tests.rpy").write_text(PLAYTHROUGH, encoding="utf-8")
    report = renpy_tool.run_test(project, "play", timeout=300, renpy=renpy)
    assert report.ok, report.output[-3000:]
