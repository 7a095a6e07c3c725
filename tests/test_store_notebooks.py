import base64
import io
import json

import numpy as np
from PIL import Image

from vitlib.tools.store_notebooks import MAX_WIDTH, WIDGET_STATE, freeze_widgets, main, run_seconds, smaller_image


def png_of(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def model(name, **state):
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": {"_model_name": name, **state}}


def notebook_with_widgets():
    image = png_of(np.zeros((4, 4, 3), dtype=np.uint8))
    state = {
        # a tqdm bar: HBox(HTML description, FloatProgress, HTML counts)
        "bar": model("HBoxModel", children=["IPY_MODEL_desc", "IPY_MODEL_progress", "IPY_MODEL_counts"]),
        "desc": model("HTMLModel", value="training: 100%"),
        "progress": model("FloatProgressModel", value=30, max=30),
        "counts": model("HTMLModel", value=" 30/30 [00:02&lt;00:00, loss=0.5]"),
        # an explorer: VBox(slider, label, image)
        "explorer": model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_label", "IPY_MODEL_image"]),
        "slider": model("IntSliderModel", description="stride", value=8),
        "label": model("HTMLModel", value="<b>N = 49</b> patches"),
        "image": {**model("ImageModel", format="png"), "buffers": [{"path": ["value"], "encoding": "base64", "data": image}]},
    }
    view = lambda model_id: {"output_type": "display_data", "metadata": {}, "data": {  # noqa: E731
        "text/plain": ["a widget"], "application/vnd.jupyter.widget-view+json": {"model_id": model_id}}}
    cells = [
        {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": [], "outputs": [view("bar")]},
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": [], "outputs": [view("explorer")]},
        {"cell_type": "markdown", "metadata": {}, "source": ["text"]},
    ]
    return {"cells": cells, "metadata": {"widgets": {WIDGET_STATE: {"state": state}}}, "nbformat": 4,
            "nbformat_minor": 5}, image


def test_widgets_become_what_they_showed_and_their_state_goes():
    notebook, image = notebook_with_widgets()
    assert freeze_widgets(notebook) == 2
    assert "widgets" not in notebook["metadata"]
    bar = notebook["cells"][0]["outputs"]
    assert bar == [{"output_type": "stream", "name": "stderr",
                    "text": ["training: 100%|██████████| 30/30 [00:02<00:00, loss=0.5]\n"]}]
    still, figure = notebook["cells"][1]["outputs"]
    assert "stride: 8" in still["data"]["text/plain"][0] and "N = 49 patches" in still["data"]["text/plain"][0]
    assert "<b>N = 49</b> patches" in still["data"]["text/html"]
    assert figure["data"]["image/png"] == image


def test_photos_become_jpeg_and_plots_keep_a_palette_png():
    rng = np.random.default_rng(0)
    photo = (rng.normal(128, 40, (200, 300, 3)).clip(0, 255)).astype(np.uint8)  # noise-like, as a photo is
    mime, _ = smaller_image(png_of(photo))
    assert mime == "image/jpeg"
    plot = np.full((200, 300, 3), 255, dtype=np.uint8)
    plot[100, :] = (31, 119, 180)  # one line on white
    assert smaller_image(png_of(plot)) is None or smaller_image(png_of(plot))[0] == "image/png"
    wide = np.full((100, 2000, 3), 255, dtype=np.uint8)
    wide[:, ::7] = 0
    mime, encoded = smaller_image(png_of(wide))
    assert Image.open(io.BytesIO(base64.b64decode(encoded))).width == MAX_WIDTH == 800  # scaled to the page


def test_every_notebook_of_a_run_gets_the_same_stamp(tmp_path):
    paths = []
    for name in ("00_a.ipynb", "01_b.ipynb"):
        notebook, _ = notebook_with_widgets()
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(notebook))
    main([str(p) for p in paths])
    stamps = [json.loads(p.read_text())["metadata"]["vitlib"] for p in paths]
    assert stamps[0] == stamps[1] and len(stamps[0]["run"]) == 12
    assert set(stamps[0]) == {"commit", "run", "time_utc", "profile", "source_hash", "seconds"}
    assert stamps[0]["seconds"] is None  # never run by a kernel: no cell timings
    main([str(paths[0])])  # a second run: a new stamp
    assert json.loads(paths[0].read_text())["metadata"]["vitlib"]["run"] != stamps[0]["run"]


def test_run_seconds_span_the_first_cell_start_to_the_last_reply():
    def cell(start, reply):
        return {"cell_type": "code", "metadata": {"execution": {
            "iopub.execute_input": f"2026-01-01T10:{start}Z", "shell.execute_reply": f"2026-01-01T10:{reply}Z"}}}

    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}}, cell("00:01.5", "00:02.0"),
                          cell("00:02.1", "03:04.25")]}
    assert run_seconds(notebook) == 182.8  # 10:00:01.5 to 10:03:04.25
    assert run_seconds({"cells": [{"cell_type": "code", "metadata": {}}]}) is None
