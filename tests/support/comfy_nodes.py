"""Node classes and prompt validation for the fake ComfyUI server (tests/support/comfy_server.py).

Nodes declare their ``/object_info`` spec the way ComfyUI nodes do (``input_types()``, ``RETURN_TYPES``,
``OUTPUT_NODE``) and run deterministically on small Pillow images: IMAGE is a list of RGB images (the
batch), MASK a list of "L" images, LATENT/MODEL/CLIP/VAE/CONDITIONING are plain dicts. ``validate_prompt``
follows ComfyUI 0.3.64's ``execution.validate_prompt``: same error types, messages and ``node_errors`` shape.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

MAX_RES = 16384
CHECKPOINTS = ["dreamshaper_8.safetensors", "sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
LORAS = ["detail_tweaker.safetensors", "pixel_art_xl.safetensors"]
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "ddim", "uni_pc"]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform"]
_UNCACHEABLE = itertools.count()


class Interrupted(Exception):
    """ComfyUI's InterruptProcessingException: /interrupt was called while a node ran."""


@dataclass
class RunContext:
    """What a running node may use: directories, the prompt (for PNG metadata) and the progress hook."""
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    prompt: dict
    extra_pnginfo: dict | None
    disable_metadata: bool
    temp_prefix: str
    check: Callable[[], None]  # raises Interrupted (or stops the run) between steps
    progress: Callable[[int, int, bytes | None], None]  # (value, max, JPEG preview or None)


def _int(default: int, lo: int, hi: int, step: int = 1, **extra: Any) -> list:
    return ["INT", {"default": default, "min": lo, "max": hi, "step": step, **extra}]


def _float(default: float, lo: float, hi: float, step: float = 0.01, **extra: Any) -> list:
    return ["FLOAT", {"default": default, "min": lo, "max": hi, "step": step, **extra}]


def _digest(*parts: Any) -> bytes:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()


class Node:
    CATEGORY = "image"
    RETURN_TYPES: tuple[str, ...] = ()
    RETURN_NAMES: tuple[str, ...] | None = None
    OUTPUT_NODE = False
    DESCRIPTION = ""
    VALIDATED: tuple[str, ...] = ()  # inputs checked by ``validate`` instead of min/max/choice checks

    @classmethod
    def input_types(cls, input_dir: Path) -> dict:
        return {"required": {}}

    @classmethod
    def is_changed(cls, input_dir: Path, inputs: dict) -> Any:
        return None

    @classmethod
    def validate(cls, input_dir: Path, **inputs: Any) -> bool | str:
        return True

    def run(self, ctx: RunContext, **inputs: Any) -> tuple | dict:
        raise NotImplementedError


class EmptyImage(Node):
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"width": _int(512, 1, MAX_RES), "height": _int(512, 1, MAX_RES),
                             "batch_size": _int(1, 1, 4096), "color": _int(0, 0, 0xFFFFFF, display="color")}}

    def run(self, ctx, width, height, batch_size, color):
        rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
        return ([Image.new("RGB", (width, height), rgb) for _ in range(batch_size)],)


class LoadImage(Node):
    RETURN_TYPES = ("IMAGE", "MASK")
    VALIDATED = ("image",)

    @classmethod
    def input_types(cls, input_dir):
        files = sorted(p.name for p in input_dir.iterdir() if p.is_file()) if input_dir.is_dir() else []
        return {"required": {"image": [files, {"image_upload": True}]}}

    @classmethod
    def is_changed(cls, input_dir, inputs):
        path = input_dir / str(inputs.get("image"))
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    @classmethod
    def validate(cls, input_dir, image):
        return True if (input_dir / str(image)).is_file() else f"Invalid image file: {image}"

    def run(self, ctx, image):
        with Image.open(ctx.input_dir / image) as opened:
            picture = ImageOps.exif_transpose(opened)
            rgb = picture.convert("RGB")
            if "A" in picture.getbands():
                mask = ImageOps.invert(picture.getchannel("A"))
            else:
                mask = Image.new("L", (64, 64), 0)
        return ([rgb], [mask])


def next_save_path(base: Path, prefix: str) -> tuple[Path, str, int, str]:
    """ComfyUI's get_save_image_path: (folder, name, next counter, subfolder) for ``prefix``."""
    subfolder, name = os.path.split(os.path.normpath(prefix))
    folder = Path(os.path.abspath(base / subfolder))
    if os.path.commonpath((str(base.resolve()), str(folder))) != str(base.resolve()):
        raise Exception("**** ERROR: Saving image outside the output folder is not allowed."
                        f"\n full_output_folder: {folder}\n         output_dir: {base}")
    folder.mkdir(parents=True, exist_ok=True)
    counter = 0
    for file in os.listdir(folder):
        if file[:len(name) + 1].lower() == name.lower() + "_":
            digits = file[len(name) + 1:].split("_")[0]
            counter = max(counter, int(digits) if digits.isdigit() else 0)
    return folder, name, counter + 1, subfolder


def save_images(ctx: RunContext, images: list, prefix: str, base: Path, kind: str, level: int) -> list[dict]:
    folder, name, counter, subfolder = next_save_path(base, prefix)
    results = []
    for image in images:
        info = None
        if not ctx.disable_metadata:
            info = PngInfo()
            info.add_text("prompt", json.dumps(ctx.prompt))
            for key, value in (ctx.extra_pnginfo or {}).items():
                info.add_text(key, json.dumps(value))
        filename = f"{name}_{counter:05}_.png"
        image.save(folder / filename, pnginfo=info, compress_level=level)
        results.append({"filename": filename, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


class SaveImage(Node):
    OUTPUT_NODE = True
    DESCRIPTION = "Saves the input images to your ComfyUI output directory."

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def run(self, ctx, images, filename_prefix):
        return {"ui": {"images": save_images(ctx, images, filename_prefix, ctx.output_dir, "output", 4)}}


class PreviewImage(Node):
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"images": ["IMAGE"]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def run(self, ctx, images):
        return {"ui": {"images": save_images(ctx, images, "ComfyUI" + ctx.temp_prefix, ctx.temp_dir, "temp", 1)}}


_RESAMPLE = {"nearest-exact": Image.NEAREST, "bilinear": Image.BILINEAR, "area": Image.BOX,
             "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}


class ImageScale(Node):
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"image": ["IMAGE"], "upscale_method": [list(_RESAMPLE), {}],
                             "width": _int(512, 0, MAX_RES), "height": _int(512, 0, MAX_RES),
                             "crop": [["disabled", "center"], {}]}}

    def run(self, ctx, image, upscale_method, width, height, crop):
        out = []
        for picture in image:
            w, h = width, height
            if not w and not h:
                out.append(picture)
                continue
            w = w or max(1, round(picture.width * h / picture.height))
            h = h or max(1, round(picture.height * w / picture.width))
            if crop == "center":
                out.append(ImageOps.fit(picture, (w, h), _RESAMPLE[upscale_method]))
            else:
                out.append(picture.resize((w, h), _RESAMPLE[upscale_method]))
        return (out,)


class ImageCompositeMasked(Node):
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"destination": ["IMAGE"], "source": ["IMAGE"], "x": _int(0, 0, MAX_RES),
                             "y": _int(0, 0, MAX_RES), "resize_source": ["BOOLEAN", {"default": False}]},
                "optional": {"mask": ["MASK"]}}

    def run(self, ctx, destination, source, x, y, resize_source, mask=None):
        out = []
        for index, dest in enumerate(destination):
            src = source[min(index, len(source) - 1)]
            if resize_source:
                src = src.resize(dest.size, Image.BILINEAR)
            alpha = mask[min(index, len(mask) - 1)].resize(src.size) if mask else None
            canvas = dest.copy()
            canvas.paste(src, (x, y), alpha)
            out.append(canvas)
        return (out,)


class CheckpointLoaderSimple(Node):
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"ckpt_name": [list(CHECKPOINTS), {"tooltip": "The checkpoint to load."}]}}

    def run(self, ctx, ckpt_name):
        return ({"ckpt": ckpt_name, "loras": []}, {"ckpt": ckpt_name, "loras": []}, {"ckpt": ckpt_name})


class LoraLoader(Node):
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP")

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"model": ["MODEL"], "clip": ["CLIP"], "lora_name": [list(LORAS), {}],
                             "strength_model": _float(1.0, -100.0, 100.0),
                             "strength_clip": _float(1.0, -100.0, 100.0)}}

    def run(self, ctx, model, clip, lora_name, strength_model, strength_clip):
        return ({**model, "loras": [*model["loras"], [lora_name, strength_model]]},
                {**clip, "loras": [*clip["loras"], [lora_name, strength_clip]]})


class CLIPTextEncode(Node):
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP"]}}

    def run(self, ctx, text, clip):
        return ({"text": text, "clip": clip},)


class EmptyLatentImage(Node):
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"width": _int(512, 16, MAX_RES, 8), "height": _int(512, 16, MAX_RES, 8),
                             "batch_size": _int(1, 1, 4096)}}

    def run(self, ctx, width, height, batch_size):
        return ({"width": width, "height": height, "batch_size": batch_size},)


CONTROLNETS = ["control_v11p_sd15_openpose.pth", "controlnet-openpose-sdxl-1.0.safetensors"]


class ControlNetLoader(Node):
    CATEGORY = "loaders"
    RETURN_TYPES = ("CONTROL_NET",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"control_net_name": [list(CONTROLNETS), {}]}}

    def run(self, ctx, control_net_name):
        return ({"controlnet": control_net_name},)


class ControlNetApplyAdvanced(Node):
    CATEGORY = "conditioning/controlnet"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("positive", "negative")

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
                             "control_net": ["CONTROL_NET"], "image": ["IMAGE"],
                             "strength": _float(1.0, 0.0, 10.0), "start_percent": _float(0.0, 0.0, 1.0, 0.001),
                             "end_percent": _float(1.0, 0.0, 1.0, 0.001)},
                "optional": {"vae": ["VAE"]}}

    def run(self, ctx, positive, negative, control_net, image, strength, start_percent, end_percent, vae=None):
        guide = {"controlnet": control_net["controlnet"], "strength": strength}  # the pose steers the text
        return ({**positive, "text": f"{positive['text']} [pose {strength}]", "guide": guide},
                {**negative, "guide": guide})


def _jpeg(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


class KSampler(Node):
    CATEGORY = "sampling"
    RETURN_TYPES = ("LATENT",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {
            "model": ["MODEL"], "seed": _int(0, 0, 0xFFFFFFFFFFFFFFFF, control_after_generate=True),
            "steps": _int(20, 1, 10000), "cfg": _float(8.0, 0.0, 100.0, 0.1, round=0.01),
            "sampler_name": [list(SAMPLERS), {}], "scheduler": [list(SCHEDULERS), {}],
            "positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "latent_image": ["LATENT"],
            "denoise": _float(1.0, 0.0, 1.0)}}

    def run(self, ctx, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
            denoise):
        sampled = {"seed": seed, "steps": steps, "cfg": cfg, "sampler": sampler_name, "scheduler": scheduler,
                   "denoise": denoise, "positive": positive["text"], "negative": negative["text"], "model": model}
        digest = _digest(sampled)
        size = (max(1, latent_image["width"] // 8), max(1, latent_image["height"] // 8))
        for step in range(1, steps + 1):
            ctx.check()
            shade = (digest[0] * step // steps, digest[1] * step // steps, digest[2] * step // steps)
            ctx.progress(step, steps, _jpeg(size, shade))
        return ({**latent_image, "sampled": sampled},)


class VAEDecode(Node):
    CATEGORY = "latent"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"samples": ["LATENT"], "vae": ["VAE"]}}

    def run(self, ctx, samples, vae):
        size = (samples["width"], samples["height"])
        gradient = Image.linear_gradient("L").resize(size)
        out = []
        for index in range(samples["batch_size"]):
            digest = _digest(samples, vae, index)
            top, bottom = Image.new("RGB", size, tuple(digest[:3])), Image.new("RGB", size, tuple(digest[3:6]))
            out.append(Image.composite(bottom, top, gradient))
        return (out,)


class SlowNode(Node):
    """Test-only: sleeps ``seconds`` (checking for interrupts), passes images through; never cached."""
    CATEGORY = "testing"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"seconds": _float(1.0, 0.0, 3600.0)}, "optional": {"images": ["IMAGE"]}}

    @classmethod
    def is_changed(cls, input_dir, inputs):
        return f"uncacheable-{next(_UNCACHEABLE)}"

    def run(self, ctx, seconds, images=None):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ctx.check()
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        ctx.check()
        return (images or [Image.new("RGB", (64, 64))],)


class FailNode(Node):
    """Test-only: raises an exception whose message names an absolute server path."""
    CATEGORY = "testing"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, input_dir):
        return {"required": {"message": ["STRING", {"default": "boom"}]}, "optional": {"images": ["IMAGE"]}}

    def run(self, ctx, message, images=None):
        missing = ctx.input_dir.resolve().parent / "models" / "checkpoints" / "missing.safetensors"
        raise RuntimeError(f"{message}: could not open {missing}")


NODES: dict[str, type[Node]] = {cls.__name__: cls for cls in (
    EmptyImage, LoadImage, SaveImage, PreviewImage, ImageScale, ImageCompositeMasked, CheckpointLoaderSimple,
    LoraLoader, CLIPTextEncode, EmptyLatentImage, KSampler, VAEDecode, ControlNetLoader, ControlNetApplyAdvanced,
    SlowNode, FailNode)}


def object_info(name: str, input_dir: Path) -> dict:
    cls = NODES[name]
    spec = cls.input_types(input_dir)
    return {"input": spec, "input_order": {key: list(spec[key]) for key in ("required", "optional") if key in spec},
            "output": list(cls.RETURN_TYPES), "output_is_list": [False] * len(cls.RETURN_TYPES),
            "output_name": list(cls.RETURN_NAMES or cls.RETURN_TYPES), "name": name, "display_name": name,
            "description": cls.DESCRIPTION, "python_module": "nodes", "category": cls.CATEGORY,
            "output_node": cls.OUTPUT_NODE, "deprecated": False, "experimental": False, "api_node": False}


def input_specs(cls: type[Node], input_dir: Path) -> dict[str, tuple[Any, dict, str]]:
    """{input name: (type, options, "required"|"optional")} in declaration order."""
    spec = cls.input_types(input_dir)
    return {name: (conf[0], conf[1] if len(conf) > 1 else {}, category)
            for category in ("required", "optional") for name, conf in spec.get(category, {}).items()}


def convert(kind: Any, value: Any) -> Any:
    if isinstance(value, dict) and "__value__" in value:
        value = value["__value__"]
    return {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}.get(kind, lambda v: v)(value) \
        if isinstance(kind, str) else value


def _error(kind: str, message: str, details: str, extra: dict | None = None) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


def _type_matches(received: Any, wanted: Any) -> bool:
    if received == wanted:
        return True
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    got, want = {t.strip() for t in received.split(",")}, {t.strip() for t in wanted.split(",")}
    return "*" in got or "*" in want or bool(got & want)


def _validate_node(prompt: dict, uid: str, validated: dict, input_dir: Path) -> tuple[bool, list, str]:
    if uid in validated:
        return validated[uid]
    inputs = prompt[uid]["inputs"]
    cls = NODES[prompt[uid]["class_type"]]
    errors: list[dict] = []
    valid = True
    for name, (kind, extra, category) in input_specs(cls, input_dir).items():
        info = [kind, extra]
        if name not in inputs:
            if category == "required":
                errors.append(_error("required_input_missing", "Required input is missing", name, {"input_name": name}))
            continue
        value = inputs[name]
        if isinstance(value, list):
            if len(value) != 2:
                errors.append(_error("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, "
                                     "slot_index]", name, {"input_name": name, "input_config": info,
                                                           "received_value": value}))
                continue
            received = NODES[prompt[value[0]]["class_type"]].RETURN_TYPES[value[1]]
            if not _type_matches(received, kind):
                errors.append(_error("return_type_mismatch", "Return type mismatch between linked nodes",
                                     f"{name}, received_type({received}) mismatch input_type({kind})",
                                     {"input_name": name, "input_config": info, "received_type": received,
                                      "linked_node": value}))
                continue
            try:
                if _validate_node(prompt, value[0], validated, input_dir)[0] is False:
                    valid = False
            except Exception as ex:
                valid = False
                validated[value[0]] = (False, [_error(
                    "exception_during_inner_validation", "Exception when validating inner node", str(ex),
                    {"input_name": name, "input_config": info, "exception_message": str(ex),
                     "exception_type": _type_name(ex), "traceback": traceback.format_tb(ex.__traceback__),
                     "linked_node": value})], value[0])
            continue
        try:
            value = convert(kind, value)
        except Exception as ex:
            errors.append(_error("invalid_input_type", f"Failed to convert an input value to a {kind} value",
                                 f"{name}, {value}, {ex}", {"input_name": name, "input_config": info,
                                                            "received_value": value, "exception_message": str(ex)}))
            continue
        if name in cls.VALIDATED:
            continue
        seen = {"input_name": name, "input_config": info, "received_value": value}
        if "min" in extra and value < extra["min"]:
            errors.append(_error("value_smaller_than_min", f"Value {value} smaller than min of {extra['min']}",
                                 name, seen))
        elif "max" in extra and value > extra["max"]:
            errors.append(_error("value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}",
                                 name, seen))
        elif isinstance(kind, list) and value not in kind:
            listed = f"(list of length {len(kind)})" if len(kind) > 20 else str(kind)
            errors.append(_error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}",
                                 {**seen, "input_config": None if len(kind) > 20 else info}))
    for name in cls.VALIDATED:
        if name in inputs and not isinstance(inputs[name], list):
            answer = cls.validate(input_dir, **{name: inputs[name]})
            if answer is not True:
                details = name if answer is False else f"{name} - {answer}"
                errors.append(_error("custom_validation_failed", "Custom validation failed for node", details,
                                     {"input_name": name}))
    result = (not errors and valid, errors, uid)
    validated[uid] = result
    return result


def _type_name(ex: BaseException) -> str:
    klass = type(ex)
    return klass.__qualname__ if klass.__module__ == "builtins" else f"{klass.__module__}.{klass.__qualname__}"


def validate_prompt(prompt: Any, input_dir: Path) -> tuple[bool, dict | None, list[str], dict]:
    """(ok, error, outputs to execute, node_errors), as ComfyUI's validate_prompt returns them."""
    if not isinstance(prompt, dict):  # ComfyUI crashes (500) here; a 400 is kinder and still a failure
        return False, _error("invalid_prompt", "Cannot execute because the prompt is not a JSON object.",
                             type(prompt).__name__), [], {}
    outputs = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return False, _error("invalid_prompt", "Cannot execute because a node is missing the class_type "
                                 "property.", f"Node ID '#{node_id}'"), [], {}
        class_type = node["class_type"]
        cls = NODES.get(class_type) if isinstance(class_type, str) else None
        if cls is None:
            return False, _error("invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                                 f"Node ID '#{node_id}'"), [], {}
        if cls.OUTPUT_NODE:
            outputs.append(node_id)
    if not outputs:
        return False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}
    validated: dict[str, tuple] = {}
    good, failures, node_errors = [], [], {}
    for output in outputs:
        try:
            ok, reasons, _ = _validate_node(prompt, output, validated, input_dir)
        except Exception as ex:
            ok, reasons = False, [_error("exception_during_validation", "Exception when validating node", str(ex),
                                         {"exception_type": _type_name(ex),
                                          "traceback": traceback.format_tb(ex.__traceback__)})]
            validated[output] = (False, reasons, output)
        if ok:
            good.append(output)
            continue
        if reasons:
            failures.append((output, reasons))
        for node_id, (node_ok, node_reasons, _) in validated.items():
            if node_ok is not True and node_reasons:
                entry = node_errors.setdefault(node_id, {"errors": node_reasons, "dependent_outputs": [],
                                                         "class_type": prompt[node_id]["class_type"]})
                entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, reasons in failures for e in reasons)
        return False, _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details), \
            [], node_errors
    return True, None, good, node_errors
