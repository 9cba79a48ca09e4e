"""The built-in renderer through its public functions: determinism, palettes, expressions, sizes, errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from comfyvn.core.errors import InvalidInput
from comfyvn.render.builtin import (
    EXPRESSIONS,
    render_background,
    render_portrait,
    render_sprite,
    render_sprite_set,
)
from comfyvn.render.builtin.backgrounds import read_scene
from comfyvn.render.builtin.palette import character_look

PNG = b"\x89PNG\r\n\x1a\n"


def image(data: bytes) -> Image.Image:
    assert data.startswith(PNG)
    return Image.open(io.BytesIO(data))


def differ(a: bytes, b: bytes) -> int:
    """How many pixels differ between two PNGs of the same size."""
    ia, ib = image(a).convert("RGBA"), image(b).convert("RGBA")
    assert ia.size == ib.size
    diff = ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v else 0)
    return diff.histogram()[255]


def test_expressions_are_the_28_sillytavern_labels():
    assert len(EXPRESSIONS) == 28 == len(set(EXPRESSIONS))
    assert {"admiration", "neutral", "surprise", "realization", "remorse", "nervousness"} <= set(EXPRESSIONS)


def test_background_is_deterministic_and_default_size():
    a = render_background("forest at night", weather="rain", seed=3)
    assert a == render_background("forest at night", weather="rain", seed=3)
    img = image(a)
    assert img.size == (1280, 720) and img.mode == "RGB"


def test_background_seed_changes_the_picture():
    assert differ(render_background("city", seed=1, width=320, height=180),
                  render_background("city", seed=2, width=320, height=180)) > 100


def test_rainy_forest_night_differs_from_city_noon():
    a = render_background("forest at night in the rain", width=640, height=360)
    b = render_background("city at noon", width=640, height=360)
    assert differ(a, b) > 640 * 360 // 2
    night = image(a).convert("L").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    noon = image(b).convert("L").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert night < noon - 40  # night in the rain is much darker


def test_scene_reading_from_words():
    def facts(scene):
        return (scene.kind, scene.time, scene.weather)

    assert facts(read_scene("forest at night in the rain", None, None)) == ("forest", "night", "rain")
    assert facts(read_scene("cozy cafe", "sunset", "snow")) == ("interior", "evening", "snow")
    assert read_scene("somewhere strange", None, None).kind == "field"
    assert read_scene("on the school rooftop", None, None).kind == "city"


@pytest.mark.parametrize("location", ["classroom", "cafe", "library", "bedroom", "tavern", "throne room",
                                      "beach", "harbor", "mountain pass", "castle", "meadow", "unknown place"])
def test_every_kind_of_place_renders(location):
    img = image(render_background(location, width=320, height=180))
    assert img.size == (320, 180)
    colors = img.getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 50  # a picture, not a flat fill


@pytest.mark.parametrize("weather", ["rain", "snow", "fog", "clouds", "storm"])
def test_weather_overlays_change_the_picture(weather):
    clear = render_background("field at noon", weather="clear", width=320, height=180)
    assert differ(clear, render_background("field at noon", weather=weather, width=320, height=180)) > 1000


@pytest.mark.parametrize("time", ["dawn", "morning", "noon", "afternoon", "evening", "night"])
def test_times_of_day_differ(time):
    other = "night" if time != "night" else "noon"
    assert differ(render_background("sea", time_of_day=time, width=160, height=90),
                  render_background("sea", time_of_day=other, width=160, height=90)) > 1000


def test_sprite_is_rgba_with_transparent_surroundings():
    img = image(render_sprite("Alice"))
    assert img.size == (512, 1024) and img.mode == "RGBA"
    alpha = img.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((511, 0)) == 0
    assert alpha.getpixel((256, 500)) == 255  # the body
    assert alpha.getpixel((256, 230)) == 255  # the face
    transparent = alpha.histogram()[0]
    assert 0.2 < transparent / (512 * 1024) < 0.9


def test_sprite_is_deterministic():
    assert render_sprite("Alice", expression="joy", seed=4) == render_sprite("Alice", expression="joy", seed=4)


def test_different_characters_get_different_palettes():
    looks = {name: character_look(name) for name in ("Alice", "Bob", "Carol", "Dmitri", "Eve")}
    assert len({(look.hair, look.clothes, look.eyes) for look in looks.values()}) == 5
    assert differ(render_sprite("Alice"), render_sprite("Bob")) > 10_000


def test_same_character_keeps_its_palette_across_expressions():
    look = character_look("Alice")
    assert look == character_look("alice ") == character_look("Alice")


def test_appearance_words_set_colors():
    look = character_look("Alice", "long red hair, green eyes, a blue dress")
    assert look.hair == (196, 48, 52) and look.eyes == (64, 150, 80) and look.clothes == (56, 96, 196)
    assert look.hair_style == "long" and look.outfit == "dress"
    img = image(render_sprite("Alice", appearance="red hair, blue dress")).convert("RGB")
    colors = {c for _, c in img.getcolors(maxcolors=1_000_000)}
    assert (196, 48, 52) in colors and (56, 96, 196) in colors


def test_every_expression_differs_from_every_other():
    sprites = render_sprite_set("Alice", list(EXPRESSIONS), width=256, height=512)
    assert list(sprites) == list(EXPRESSIONS)
    faces = {e: image(data).convert("RGBA").crop((40, 20, 220, 190)).tobytes() for e, data in sprites.items()}
    assert len(set(faces.values())) == 28
    for expression in EXPRESSIONS:
        if expression != "neutral":
            assert differ(sprites[expression], sprites["neutral"]) > 50, expression


def test_sprite_set_matches_single_sprites():
    sprites = render_sprite_set("Kaito", ["anger", "joy"], seed=2, appearance="school uniform")
    assert sprites["anger"] == render_sprite("Kaito", expression="anger", seed=2, appearance="school uniform")
    assert sprites["joy"] == render_sprite("Kaito", expression="joy", seed=2, appearance="school uniform")


def test_unknown_expression_falls_back_to_neutral():
    assert render_sprite("Alice", expression="bewildered-ish") == render_sprite("Alice", expression="neutral")
    assert render_sprite("Alice", expression="Happy") == render_sprite("Alice", expression="joy")
    assert list(render_sprite_set("Alice", ["???"], width=64, height=128)) == ["???"]


def test_name_label_changes_pixels():
    assert differ(render_sprite("Ann", width=256, height=512), render_sprite("Anne", width=256, height=512)) > 0


def test_portrait_is_square_and_opaque():
    img = image(render_portrait("Alice", expression="love", size=256))
    assert img.size == (256, 256)
    assert img.getchannel("A").getextrema() == (255, 255)
    assert render_portrait("Alice", size=128) == render_portrait("Alice", size=128)


@pytest.mark.parametrize("size", [(16, 16), (16, 4096), (700, 300)])
def test_sprite_sizes(size):
    assert image(render_sprite("Zed", width=size[0], height=size[1])).size == size


@pytest.mark.parametrize("bad", [0, 15, 4097, -1, 1280.0, "720", True, None])
def test_bad_sizes_are_invalid_input(bad):
    with pytest.raises(InvalidInput) as caught:
        render_background("city", width=bad)
    assert "width" in caught.value.message and "16" in caught.value.message
    with pytest.raises(InvalidInput):
        render_sprite("Alice", height=bad)
    with pytest.raises(InvalidInput):
        render_sprite_set("Alice", ["joy"], width=bad)
    with pytest.raises(InvalidInput):
        render_portrait("Alice", size=bad)


def test_non_text_location_is_invalid_input():
    with pytest.raises(InvalidInput):
        render_background(None)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(name=st.text(max_size=40), appearance=st.one_of(st.none(), st.text(max_size=60)),
       expression=st.text(max_size=20), seed=st.integers(-2**63, 2**63))
def test_any_text_renders_a_sprite(name, appearance, expression, seed):
    data = render_sprite(name, expression=expression, width=32, height=64, seed=seed, appearance=appearance)
    assert image(data).size == (32, 64)


@settings(max_examples=20, deadline=None)
@given(location=st.text(max_size=60), time=st.one_of(st.none(), st.text(max_size=12)),
       weather=st.one_of(st.none(), st.text(max_size=12)), w=st.integers(16, 96), h=st.integers(16, 96))
def test_any_text_renders_a_background(location, time, weather, w, h):
    assert image(render_background(location, time_of_day=time, weather=weather, width=w, height=h)).size == (w, h)
