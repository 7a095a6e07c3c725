"""Project-level checks: the two package lists agree, and the committed notebooks are clean."""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from vitlib.tools.store_notebooks import source_hash

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def normalise(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*", requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    return match.group(1).lower().replace("_", "-"), match.group(3).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return dict(normalise(r) for r in requirements)


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "environment.yml must have one pip: section"
    return dict(normalise(r) for r in pip[0] if not r.startswith("-"))


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert environment_requirements() == pyproject_requirements()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_ran_in_order_without_errors(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert all(n is not None for n in counts), f"{path.name}: some cells never ran; run it top to bottom"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: cells ran out of order: {counts}"
    for cell in code:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: a stored output is an error"
            text = "".join(output.get("text", ""))
            assert "Traceback" not in text, f"{path.name}: a stored output shows a traceback"


def test_every_lesson_is_numbered_in_order_and_in_the_readme():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert len(numbers) >= 7 and numbers == [f"{i:02d}" for i in range(len(numbers))]
    readme = (ROOT / "README.md").read_text()
    table = re.findall(r"^\| `(\d\d_[a-z0-9_]+)` \|", readme, flags=re.MULTILINE)
    assert table == [p.stem for p in NOTEBOOKS], "the README's lesson table must list every lesson, in order"


def test_the_readme_states_each_lessons_time_from_the_stored_run():
    readme = (ROOT / "README.md").read_text()
    stated = dict(re.findall(r"^\| `(\d\d_[a-z0-9_]+)` \|.*\| ([\d.]+) \|$", readme, flags=re.MULTILINE))
    seconds = {p.stem: json.loads(p.read_text())["metadata"].get("vitlib", {}).get("seconds") for p in NOTEBOOKS}
    measured = {stem: f"{s / 60:.1f}" for stem, s in seconds.items() if s is not None}
    assert stated == measured, "the README's lesson times must be the stored run's (make notebooks prints them)"
    total = re.search(r"whole course takes ([\d.]+) minutes", readme)
    assert total and total.group(1) == f"{sum(s for s in seconds.values() if s is not None) / 60:.1f}"


def test_stored_notebooks_come_from_one_run_of_the_code_as_it_is():
    stamps = [json.loads(p.read_text())["metadata"].get("vitlib") for p in NOTEBOOKS]
    unstamped = [p.name for p, s in zip(NOTEBOOKS, stamps) if not s]
    assert not unstamped, f"{unstamped} were not stored by `make notebooks`"
    assert len({s["run"] for s in stamps}) == 1, "the notebooks come from different runs; rerun `make notebooks`"
    assert {s["profile"] for s in stamps} == {"cpu"}, "the notebooks are stored from the cpu profile"
    assert stamps[0]["source_hash"] == source_hash(ROOT), (
        "vitlib or data/ changed since the notebooks were stored: rerun `make notebooks`")


def test_stored_notebooks_are_small_and_hold_no_widget_state():
    total = sum(p.stat().st_size for p in NOTEBOOKS)
    assert total < 3_000_000, f"the notebooks take {total / 1e6:.1f} MB"
    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text())
        assert "widgets" not in notebook["metadata"], f"{path.name} stores widget state"
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {}), path.name


def test_the_readmes_time_to_target_rows_quote_their_results_files():
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\d+) s \| ([\d.]+)% \| ([\d.]+)% \| `(results/time-to-target-[^`]+\.json)` \|$",
                      readme, flags=re.MULTILINE)
    assert len(rows) >= 3, "the README's time-to-target tables are missing"
    for seed, seconds, val, test, path in rows:
        result = json.loads((ROOT / path).read_text())
        assert result["finished"] and result["train_config"]["seed"] == int(seed), path
        assert (seconds, val, test) == (f"{result['train_seconds']:.0f}", f"{100 * result['final_val_accuracy']:.1f}",
                                        f"{100 * result['final_test_accuracy']:.1f}"), path


def test_lesson_05s_results_files_hold_lesson_05s_recipe_only():
    # lesson 08 quotes results/time-to-target-digits-cpu*.json as lesson 05's runs: a candidate recipe written
    # under that name would be averaged in with them
    from vitlib.profile import get_profile

    cpu = get_profile("cpu")
    paths = sorted((ROOT / "results").glob("time-to-target-digits-cpu*.json"))
    assert paths
    for path in paths:
        result = json.loads(path.read_text())
        config = result["train_config"]
        assert result["variant"] == cpu.train_variant and not result.get("model_options"), path.name
        assert (config["epochs"], config["batch_size"], config["lr"]) == (cpu.epochs, cpu.batch_size, cpu.lr), path.name


def test_the_readmes_benchmark_rows_quote_their_results_files():
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| .+? \| ([\d,]+) \| ([\d.]+)× \| `(results/bench-[^`]+\.json)` \|$", readme, flags=re.MULTILINE)
    assert len(rows) >= 2, "the README's benchmark table is missing"
    speeds = {path: json.loads((ROOT / path).read_text())["train"]["images_per_s"] for _, _, path in rows}
    baseline = speeds[rows[0][2]]  # the first row is what the others are measured against
    for images, ratio, path in rows:
        assert (images, ratio) == (f"{speeds[path]:,.0f}", f"{speeds[path] / baseline:.2f}"), path
