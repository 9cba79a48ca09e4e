"""Our own base files for an exported Ren'Py game: options.rpy, gui.rpy, screens.rpy, cvn_compat.rpy
and GUI images.

Nothing is taken from a Ren'Py install (Debian's template needs its guisupport.rpy). ``screens.rpy``,
``cvn_compat.rpy`` (a ``python early`` fix so a plain ``renpy <game>`` starts on Debian's Ren'Py 8.0.3
with Python 3.11, see comfyvn/export/renpy_fix.py) and the styles of ``gui.rpy`` live in
``comfyvn/export/base/``; sizes and colours are written into
``gui.rpy`` from the arguments, and the images under ``game/gui/`` are drawn with Pillow. The same
arguments always give byte-identical files.
"""

from __future__ import annotations

import io
import re
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw

from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_bytes

BASE_WIDTH, BASE_HEIGHT = 1280, 720
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_BUILD_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_DARK = (18, 16, 26)

# gui.* sizes at 1280x720; scaled to the export's height.
_SIZES = {
    "text_size": 22, "name_text_size": 30, "interface_text_size": 22, "label_text_size": 24,
    "notify_text_size": 16, "title_text_size": 50, "textbox_height": 185, "name_xpos": 240,
    "namebox_padding": 5, "namebox_border": 5, "dialogue_xpos": 268, "dialogue_ypos": 50,
    "dialogue_width": 744, "line_spacing": 2, "choice_width": 790, "choice_padding": 15,
    "choice_border": 100, "choice_spacing": 22, "quick_spacing": 16, "skip_ypos": 15,
    "navigation_xpos": 40, "navigation_spacing": 6, "menu_content_xpos": 300, "menu_content_ypos": 100,
    "pref_width": 260, "bar_size": 25, "bar_border": 4, "scrollbar_size": 12, "frame_border": 12,
    "slot_width": 256, "slot_height": 144,
}


def renpy_string(text: str) -> str:
    """A double-quoted Python/Ren'Py string literal holding exactly ``text``."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return '"' + "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in out) + '"'


def write_base(game_dir: Path, *, name: str, version: str = "1.0", build_name: str, save_directory: str,
               width: int = BASE_WIDTH, height: int = BASE_HEIGHT, accent: str = "#c05080") -> list[Path]:
    """Write options.rpy, gui.rpy, screens.rpy, cvn_compat.rpy and game/gui/*.png into ``game_dir``;
    returns the paths written, sorted."""
    _check(name=name, build_name=build_name, save_directory=save_directory, width=width, height=height,
           accent=accent)
    game_dir = Path(game_dir)
    sizes = _scaled(width, height)
    files: dict[str, bytes] = {
        "options.rpy": options_rpy(name=name, version=version, build_name=build_name,
                                   save_directory=save_directory).encode("utf-8"),
        "gui.rpy": gui_rpy(width=width, height=height, accent=accent, sizes=sizes).encode("utf-8"),
        "screens.rpy": _template("screens.rpy").encode("utf-8"),
        "cvn_compat.rpy": _template("cvn_compat.rpy").encode("utf-8"),
    }
    for rel, image in gui_images(width=width, height=height, accent=accent, sizes=sizes).items():
        files[rel] = _png(image)
    written = []
    for rel in sorted(files):
        path = game_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, files[rel])
        written.append(path)
    return written


def options_rpy(*, name: str, version: str, build_name: str, save_directory: str) -> str:
    """The game's name, version, save folder and build settings."""
    return "\n".join([
        "## The game's name, version, save folder and build settings. Written by ComfyVN; edit freely.",
        "",
        f"define config.name = {renpy_string(name)}",
        f"define config.version = {renpy_string(version)}",
        "define gui.show_name = True",
        "",
        "## Saves go to a folder of this name in the player's Ren'Py save location.",
        f"define config.save_directory = {renpy_string(save_directory)}",
        "define config.window_icon = \"gui/window_icon.png\"",
        "",
        "define config.has_sound = True",
        "define config.has_music = True",
        "define config.has_voice = True",
        "",
        "define config.enter_transition = dissolve",
        "define config.exit_transition = dissolve",
        "define config.intra_transition = dissolve",
        "define config.after_load_transition = None",
        "define config.end_game_transition = None",
        "",
        "## The text box shows for dialogue and hides for menus and scene changes.",
        "define config.window = \"auto\"",
        "define config.window_show_transition = Dissolve(.2)",
        "define config.window_hide_transition = Dissolve(.2)",
        "",
        "## Player defaults: 0 characters per second shows text at once; auto-forward speed 15.",
        "default preferences.text_cps = 40",
        "default preferences.afm_time = 15",
        "",
        "## Distribution: files left out of the packages Ren'Py builds.",
        f"define build.name = {renpy_string(build_name)}",
        "",
        "init python:",
        "    build.classify(\"**~\", None)",
        "    build.classify(\"**.bak\", None)",
        "    build.classify(\"**/.**\", None)",
        "    build.classify(\"**/#**\", None)",
        "    build.classify(\"**/thumbs.db\", None)",
        "    build.documentation(\"*.html\")",
        "    build.documentation(\"*.txt\")",
        "",
    ])


def gui_rpy(*, width: int, height: int, accent: str, sizes: dict[str, int] | None = None) -> str:
    """gui.rpy: gui.init, the gui.* sizes and colours, and the styles."""
    sizes = sizes or _scaled(width, height)
    colors = {
        "accent_color": accent.lower(), "hover_color": _hex(_mix(_rgb(accent), (255, 255, 255), 0.4)),
        "idle_color": "#aaaaaa", "selected_color": "#ffffff", "insensitive_color": "#8888887f",
        "text_color": "#ffffff",
    }
    lines = [f"define gui.{key} = {renpy_string(value)}" for key, value in colors.items()]
    lines += ['define gui.text_font = "DejaVuSans.ttf"',
              'define gui.main_menu_background = "gui/main_menu.png"',
              'define gui.game_menu_background = "gui/game_menu.png"',
              "define gui.slot_cols = 3", "define gui.slot_rows = 2"]
    lines += [f"define gui.{key} = {value}" for key, value in sizes.items()]
    text = _template("gui.rpy")
    return (text.replace("@WIDTH@", str(width)).replace("@HEIGHT@", str(height))
            .replace("@DEFINES@", "\n".join(lines)))


def gui_images(*, width: int, height: int, accent: str, sizes: dict[str, int] | None = None) -> dict[str, Image.Image]:
    """The GUI images by path under game/: text box, name box, frames, buttons, bars, backgrounds."""
    sizes = sizes or _scaled(width, height)
    color = _rgb(accent)
    hover = _mix(color, (255, 255, 255), 0.4)
    frame = sizes["frame_border"] * 4
    choice_h = sizes["text_size"] + sizes["choice_padding"] * 2
    return {
        "gui/textbox.png": _textbox(width, sizes["textbox_height"], color),
        "gui/namebox.png": _panel((sizes["namebox_border"] * 6, sizes["namebox_border"] * 6),
                                  _mix(color, _DARK, 0.25) + (235,), color + (255,), 1),
        "gui/frame.png": _panel((frame, frame), _DARK + (225,), color + (255,), max(1, frame // 24)),
        "gui/button/slot_hover_background.png": _panel((frame, frame), _mix(color, _DARK, 0.6) + (225,),
                                                       hover + (255,), max(1, frame // 24)),
        "gui/button/choice_idle_background.png": _choice((sizes["choice_width"], choice_h), _DARK, 200),
        "gui/button/choice_hover_background.png": _choice((sizes["choice_width"], choice_h),
                                                          _mix(color, _DARK, 0.45), 230),
        "gui/bar/left.png": _panel((sizes["bar_size"] * 4, sizes["bar_size"]), color + (255,), hover + (255,), 1),
        "gui/bar/right.png": _panel((sizes["bar_size"] * 4, sizes["bar_size"]), (60, 58, 70, 255),
                                    (90, 88, 100, 255), 1),
        "gui/main_menu.png": _background(width, height, _mix(color, _DARK, 0.55), _DARK),
        "gui/game_menu.png": _background(width, height, _DARK, _mix(color, _DARK, 0.8)),
        "gui/window_icon.png": _panel((64, 64), color + (255,), hover + (255,), 4),
    }


def _check(*, name: str, build_name: str, save_directory: str, width: int, height: int, accent: str) -> None:
    if not name.strip():
        raise InvalidInput("the game needs a name; pass name='My Game'")
    if not _BUILD_NAME_RE.match(build_name):
        raise InvalidInput(f"build name {build_name!r} must be ASCII letters, digits, '_', '.' or '-' "
                           "(Ren'Py uses it in file names)")
    if not save_directory.strip() or any(ch in save_directory for ch in '/\\:') or save_directory in {".", ".."}:
        raise InvalidInput(f"save directory {save_directory!r} must be one folder name, without / \\ or :")
    if not (320 <= width <= 7680 and 240 <= height <= 4320):
        raise InvalidInput(f"screen size {width}x{height} is outside 320x240 .. 7680x4320")
    if not _COLOR_RE.match(accent):
        raise InvalidInput(f"accent colour {accent!r} must look like #c05080")


def _scaled(width: int, height: int) -> dict[str, int]:
    scale = height / BASE_HEIGHT
    sizes = {key: max(1, round(value * scale)) for key, value in _SIZES.items()}
    sizes["menu_content_width"] = width - round(340 * scale)
    sizes["menu_content_height"] = height - round(180 * scale)
    sizes["dialogue_width"] = min(sizes["dialogue_width"], width - sizes["dialogue_xpos"] - sizes["navigation_xpos"])
    sizes["choice_width"] = min(sizes["choice_width"], width - 2 * sizes["navigation_xpos"])
    return sizes


def _template(name: str) -> str:
    return (resources.files("comfyvn.export") / "base" / name).read_text(encoding="utf-8")


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a[:3], b[:3]))  # type: ignore[return-value]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def _gradient(size: tuple[int, int], values: list[int]) -> Image.Image:
    """An 'L' image whose rows take ``values`` (one per row, 0-255), stretched to ``size``."""
    column = Image.frombytes("L", (1, len(values)), bytes(values))
    return column.resize(size, Image.Resampling.NEAREST)


def _textbox(width: int, height: int, accent: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGBA", (width, height), _DARK + (0,))
    alpha = [min(230, round(60 + 200 * row / max(1, height - 1))) for row in range(height)]
    image.putalpha(_gradient((width, height), alpha))
    line = max(1, height // 90)
    ImageDraw.Draw(image).rectangle((0, 0, width - 1, line - 1), fill=accent + (200,))
    return image


def _panel(size: tuple[int, int], fill: tuple[int, ...], border: tuple[int, ...], thickness: int) -> Image.Image:
    image = Image.new("RGBA", size, fill)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] - 1, size[1] - 1), outline=border, width=thickness)
    return image


def _choice(size: tuple[int, int], fill: tuple[int, int, int], peak: int) -> Image.Image:
    """A horizontal band that fades out towards its left and right ends."""
    width = size[0]
    edge = max(1, width // 8)
    alpha = [round(peak * min(1.0, x / edge, (width - 1 - x) / edge)) for x in range(width)]
    row = Image.frombytes("L", (width, 1), bytes(alpha))
    image = Image.new("RGBA", size, fill + (0,))
    image.putalpha(row.resize(size, Image.Resampling.NEAREST))
    return image


def _background(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    rows = [_mix(top, bottom, row / max(1, height - 1)) for row in range(height)]
    channels = [_gradient((width, height), [rgb[i] for rgb in rows]) for i in range(3)]
    return Image.merge("RGB", channels)
