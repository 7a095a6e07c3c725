"""Store executed notebooks small and stamped: ``python -m vitlib.tools.store_notebooks notebooks/*.ipynb``.

``make notebooks`` runs every lesson top to bottom, then this tool rewrites each notebook in place:

* **stamp**: ``metadata.vitlib`` records one run id shared by every notebook of the run (and each notebook's own
  ``seconds``, from the kernel's cell timings), the profile, the
  commit, and a hash of the code and data the lessons ran on (the library and ``data/``), so a test can
  tell that all stored notebooks come from one run of the code as it is;
* **freeze widgets**: widgets do not render on the web, and their saved state holds a second copy of every
  explorer image and the state of every progress bar. Each widget output becomes what it showed: a
  progress bar its final line of text, an explorer its labels, slider values and figure; the saved
  widget state is dropped;
* **smaller figures**: figures wider than a notebook page are scaled down; a photo-like figure (one that
  JPEG stores smaller) is stored as JPEG, any other as a PNG with a 256-colour palette.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import re
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from ..checkpoint import atomic_write
from ..profile import current_profile
from .record import git_commit

__all__ = ["main", "source_hash", "stamp", "freeze_widgets", "smaller_image", "shrink_images", "widget_still"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
JPEG_QUALITY = 80
MAX_WIDTH = 800  # pixels; wider figures are scaled down to this
JPEG_GAIN = 0.9  # JPEG only where it is smaller than this share of the palette PNG (photo-like figures)
ROOT = Path(__file__).resolve().parents[2]


def source_hash(root: Path = ROOT) -> str:
    """SHA-256 of what the lessons' outputs depend on: every file of ``vitlib/`` but the tools, and of ``data/``
    (paths and contents, in sorted order; texts in Markdown, caches and notebook checkpoints left out)."""
    digest = hashlib.sha256()
    files = [*(root / "vitlib").rglob("*.py"), *(p for p in (root / "data").rglob("*") if p.is_file())]
    for path in sorted(files):
        relative = path.relative_to(root).as_posix()
        if (relative.startswith("vitlib/tools/") or relative.endswith(".md") or "__pycache__" in relative
                or ".ipynb_checkpoints" in relative):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run_seconds(notebook: dict) -> float | None:
    """Wall-clock seconds the notebook's run took: from the first cell's start to the last cell's reply, as the
    executing kernel recorded them in each cell's ``metadata.execution``; None for a notebook never run so."""
    starts, ends = [], []
    for cell in notebook["cells"]:
        execution = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in execution and "shell.execute_reply" in execution:
            starts.append(datetime.fromisoformat(execution["iopub.execute_input"]))
            ends.append(datetime.fromisoformat(execution["shell.execute_reply"]))
    return round((max(ends) - min(starts)).total_seconds(), 1) if starts else None


def stamp(notebook: dict, run: dict) -> None:
    """Record the run (``run``, ``profile``, ``commit``, ``source_hash``, ``time_utc``) in the notebook's metadata,
    and the notebook's own ``seconds`` (:func:`run_seconds`)."""
    notebook["metadata"]["vitlib"] = {**run, "seconds": run_seconds(notebook)}


def _state(notebook: dict) -> dict:
    return notebook["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _text_bar(value: float, total: float, width: int = 10) -> str:
    filled = 0 if not total else max(0, min(width, round(width * value / total)))
    return "█" * filled + " " * (width - filled)


def widget_still(model_id: str, state: dict) -> tuple[list[str], list[str], list[bytes]]:
    """What the widget ``model_id`` showed, from the saved ``state``: (html parts, text parts, PNG images),
    walking its children in order."""
    entry = state.get(model_id)
    if entry is None:
        return [], [], []
    name, values = entry["model_name"], entry["state"]
    if name in ("HTMLModel", "LabelModel"):
        value = values.get("value", "")
        return [value], [html.unescape(re.sub(r"<[^>]+>", "", value))], []
    if name.endswith("SliderModel") or name.endswith("TextModel"):
        line = f"{values.get('description', '')}: {values.get('value')}"
        return [f"<div>{html.escape(line)}</div>"], [line], []
    if name in ("FloatProgressModel", "IntProgressModel"):
        bar = _text_bar(values.get("value", 0), values.get("max", 0))
        return [f"<code>|{bar}|</code>"], [f"|{bar}|"], []
    if name == "ImageModel":
        buffers = [b for b in entry.get("buffers", []) if b.get("path") == ["value"]]
        return [], [], [base64.b64decode(b["data"]) for b in buffers]
    parts: tuple[list, list, list] = ([], [], [])
    for child in values.get("children", []):
        for collected, found in zip(parts, widget_still(child.removeprefix("IPY_MODEL_"), state)):
            collected.extend(found)
    return parts


def _is_progress_bar(model_id: str, state: dict) -> bool:
    children = state.get(model_id, {}).get("state", {}).get("children", [])
    names = [state.get(c.removeprefix("IPY_MODEL_"), {}).get("model_name") for c in children]
    return names == ["HTMLModel", "FloatProgressModel", "HTMLModel"]


def freeze_widgets(notebook: dict) -> int:
    """Replace every widget output by a still of what it showed; drop the saved widget state. Returns how
    many outputs were frozen."""
    state, frozen = _state(notebook), 0
    for cell in notebook["cells"]:
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            frozen += 1
            model_id = view["model_id"]
            html_parts, text_parts, images = widget_still(model_id, state)
            if _is_progress_bar(model_id, state):  # tqdm: "training: 100%|██████████| 1860/1860 [03:45<00:00, ...]"
                line = "".join(text_parts)
                outputs.append({"output_type": "stream", "name": "stderr", "text": [line + "\n"]})
                continue
            if not html_parts and not images:  # nothing saved for it: keep its plain-text form
                outputs.append({"output_type": "display_data", "metadata": {},
                                "data": {"text/plain": output["data"].get("text/plain", "")}})
                continue
            note = "<p><i>A still of the interactive figure: run the cell to use its controls.</i></p>"
            outputs.append({"output_type": "display_data", "metadata": {},
                            "data": {"text/html": [note, *html_parts], "text/plain": ["\n".join(text_parts)]}})
            for png in images:
                outputs.append({"output_type": "display_data", "metadata": {},
                                "data": {"image/png": base64.b64encode(png).decode(), "text/plain": ["<Figure>"]}})
        if "outputs" in cell:
            cell["outputs"] = outputs
    notebook["metadata"].pop("widgets", None)
    return frozen


def smaller_image(png_base64: str) -> tuple[str, str] | None:
    """A smaller encoding of a PNG figure, as ``(mime type, base64)``, or None if none saves much: scaled down
    to :data:`MAX_WIDTH`, then JPEG for photo-like images (flattened on white), else a PNG with a
    256-colour palette (plots and heatmaps look the same)."""
    png = base64.b64decode(png_base64)
    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
    if flat.width > MAX_WIDTH:  # wider than a notebook page shows it
        flat = flat.resize((MAX_WIDTH, round(flat.height * MAX_WIDTH / flat.width)), Image.LANCZOS)
    jpeg, palette = io.BytesIO(), io.BytesIO()
    flat.save(jpeg, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    flat.quantize(256, method=Image.Quantize.MEDIANCUT).save(palette, format="PNG", optimize=True)
    if len(jpeg.getvalue()) < JPEG_GAIN * min(len(png), len(palette.getvalue())):
        return "image/jpeg", base64.b64encode(jpeg.getvalue()).decode()
    if len(palette.getvalue()) < 0.9 * len(png):
        return "image/png", base64.b64encode(palette.getvalue()).decode()
    return None


def shrink_images(notebook: dict) -> int:
    """Store every PNG output smaller (see :func:`smaller_image`); returns how many became JPEG."""
    converted = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            png = data.get("image/png")
            if png is None:
                continue
            smaller = smaller_image("".join(png) if isinstance(png, list) else png)
            if smaller is not None:
                del data["image/png"]
                mime, encoded = smaller
                data[mime] = encoded
                converted += mime == "image/jpeg"
    return converted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vitlib.tools.store_notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", help="executed notebooks, rewritten in place")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    run = {"run": uuid.uuid4().hex[:12], "profile": current_profile().name, "commit": git_commit(),
           "source_hash": source_hash(), "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for path in map(Path, args.notebooks):
        notebook = json.loads(path.read_text())
        before = len(path.read_bytes())
        frozen, converted = freeze_widgets(notebook), shrink_images(notebook)
        stamp(notebook, run)
        text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        atomic_write(path, lambda temporary: temporary.write_text(text))
        seconds = notebook["metadata"]["vitlib"]["seconds"]
        took = f"{seconds / 60:.1f} min" if seconds is not None else "no timings"
        print(f"{path.name}: {took}; {before / 1e6:.2f} MB -> {len(text.encode()) / 1e6:.2f} MB "
              f"({frozen} widget outputs frozen, {converted} figures as JPEG); run {run['run']}")


if __name__ == "__main__":
    main()
