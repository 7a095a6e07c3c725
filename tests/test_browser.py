"""The course in a real browser: JupyterLab, widgets and all.

JupyterLab is started from this environment the way `make lab` starts it (on a learner's copies of the lessons),
headless on a free port of 127.0.0.1 with a token and ``VITLIB_PROFILE=smoke``. A headless Chromium,
driven by Playwright, opens a lesson, runs all its cells from the Run menu, checks that no cell
failed, moves the sliders of the lesson's explorer and checks that its label and figure are redrawn.

This needs a Chromium: Playwright's own (``python -m playwright install chromium``) or the system's
(Debian/Ubuntu: ``apt-get install chromium``). Without one the tests fail and say how to get one.
Screenshots go to ``artifacts/browser/`` (git-ignored); the test prints where.

To test another lesson's explorer, add one entry to ``EXPLORERS`` (its sliders, toggle buttons and menus).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from vitlib.tools import workspace

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "artifacts" / "browser"

# every lesson (test_project checks that the README's lesson table names the same): what a learner sees
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.browser  # `make unit` leaves these out; `make test` and CI run them


@dataclass(frozen=True)
class Explorer:
    notebook: str  # in notebooks/
    marker: str  # CSS selector of the bold part of the explorer's label (unique to the explorer)
    sliders: tuple[str, ...]  # the sliders' descriptions, moved one step each in this order
    key: str = "ArrowRight"  # the key that moves a focused slider handle one step
    toggles: tuple[tuple[str, str], ...] = ()  # (description, button) of toggle buttons, clicked before the sliders
    menus: tuple[tuple[str, str], ...] = ()  # (description, option) of dropdowns, chosen after the sliders


EXPLORERS = [
    Explorer("01_patches.ipynb", "b.patch-count", ("patch size", "stride")),
    Explorer("03_position_encoding.ipynb", "b.patch-index", ("patch row", "patch column")),
    # the layer starts at the last one, the query patch in the middle: each slider moves one step down
    Explorer("07_where_the_vit_looks.ipynb", "b.attention-view", ("layer", "patch row", "patch column"),
             key="ArrowLeft", toggles=(("query", "patch"),), menus=(("head", "head 0"), ("head", "rollout"))),
]

SERVER_START_S = 120  # JupyterLab answering on its port
KERNEL_READY_S = 120  # the notebook open and its kernel idle
RUN_ALL_S = 180  # Run All Cells in the smoke profile, on a busy 2-core machine
REDRAW_S = 60  # one slider step: the kernel redraws and the browser shows the new figure

CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root (CI containers); Playwright passes it too unless chromium_sandbox=True
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SYSTEM_CHROMIUMS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
HOW_TO_INSTALL = (
    "The browser tests need a Chromium. On Debian/Ubuntu: `sudo apt-get install chromium`; "
    "elsewhere: `.venv/bin/python -m playwright install chromium` (Playwright's own build)."
)

# Lab settings for the test's server only (a fresh JUPYTER_CONFIG_DIR, so a learner's own settings
# and workspaces are neither used nor changed): no autosave, so running a lesson in the browser never
# writes its outputs into the committed notebook; no news or update checks over the network.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": '{"autosave": false}',
    "@jupyterlab/apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
}


# ---------------------------------------------------------------- JupyterLab


@dataclass
class Lab:
    port: int
    token: str
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def workspace_url(self, workspace: str, path: str = "") -> str:
        """JupyterLab in a workspace of its own: no tabs left open by an earlier test."""
        return self.url(f"lab/workspaces/{workspace}/{path}".rstrip("/"))

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_lab_command() -> list[str]:
    jupyter = Path(sys.executable).with_name("jupyter")  # the environment's own, as `make lab` uses
    return [str(jupyter), "lab"] if jupyter.exists() else [sys.executable, "-m", "jupyterlab"]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it shuts its kernels down), then SIGKILL what is left."""
    for sig, wait in [(signal.SIGTERM, 20), (signal.SIGKILL, 10)]:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab():
    with tempfile.TemporaryDirectory(prefix="vit-course-lab-") as tmp:
        tmp = Path(tmp)
        for plugin, settings in LAB_SETTINGS.items():
            path = tmp / "config" / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(settings)
        env = dict(os.environ, VITLIB_PROFILE="smoke", JUPYTER_CONFIG_DIR=str(tmp / "config"),
                   JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
        server = Lab(port=_free_port(), token=secrets.token_hex(16), log=tmp / "lab.log")
        copies = ROOT / f".lab-browser-{os.getpid()}"  # a learner's copies, as `make lab` makes them (git ignores it)
        shutil.rmtree(copies, ignore_errors=True)
        workspace.sync(copies, NOTEBOOKS)
        command = _jupyter_lab_command() + [
            f"--ServerApp.root_dir={copies.name}",  # as `make lab`
            "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={server.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={server.token}",
            f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",  # not notebooks/.ipynb_checkpoints
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        with open(server.log, "wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                if process.poll() is not None:
                    pytest.fail(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}")
                try:
                    with urllib.request.urlopen(server.url("api/status"), timeout=5):
                        break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{server.log_tail()}")
                time.sleep(0.5)
            yield server
        finally:
            _stop(process)
            shutil.rmtree(copies, ignore_errors=True)


# ---------------------------------------------------------------- Chromium


def _launch_chromium(playwright):
    """Playwright's own Chromium if installed, else the system's; fail (never skip) without one."""
    candidates = []
    if Path(playwright.chromium.executable_path).exists():
        candidates.append(None)  # None: Playwright's own build
    for name in SYSTEM_CHROMIUMS:
        path = shutil.which(name)
        if path and path not in candidates:
            candidates.append(path)
    if not candidates:
        pytest.fail(f"No Chromium found (looked for Playwright's own and {', '.join(SYSTEM_CHROMIUMS)} "
                    f"on PATH). {HOW_TO_INSTALL}")
    errors = []
    for executable in candidates:
        try:
            return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Exception as error:  # noqa: BLE001 - try the next Chromium, then report them all
            lines = str(error).strip().splitlines()  # the message, and what the browser said before exiting
            said = [line.strip(" -") for line in lines[1:] if "[err]" in line or "exitCode" in line]
            shown = lines[:1] + list(dict.fromkeys(said))[:12]
            errors.append(f"{executable or 'Playwright Chromium'}: " + "\n  ".join(line[:300] for line in shown))
    pytest.fail("Chromium would not start:\n" + "\n".join(errors) + f"\n{HOW_TO_INSTALL}")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The browser tests need Playwright: `.venv/bin/pip install -e '.[test]'` "
                    f"(or `make test`, which installs it). {HOW_TO_INSTALL}")
    with sync_playwright() as playwright:
        chromium = _launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()
        try:
            lab.shut_down_kernels()  # each test starts its lesson's kernel; free its memory
        except OSError:
            pass  # the server is gone: the lab fixture reports that


@pytest.fixture
def page_errors(page):
    """Uncaught JavaScript errors in the page, for failure messages."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def screenshot(page, capsys):
    """``screenshot(name)`` saves the page under artifacts/browser/; the paths are printed at the end
    of the test, whatever pytest captures."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []

    def save(name: str) -> None:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=path)
        saved.append(path)

    yield save
    if saved:
        with capsys.disabled():
            print("\n  screenshots: " + ", ".join(str(p.relative_to(ROOT)) for p in saved))


# ---------------------------------------------------------------- JupyterLab's UI


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def _prompts(page) -> list[str]:
    # textContent, not innerText: cells scrolled far out of view are not laid out
    return [t.strip() for t in page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()]


def _kernel_status(page) -> str | None:
    return page.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status")


ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*:",
                        re.MULTILINE)


def _error_outputs(page) -> list[str]:
    """Error outputs (JupyterLab renders them like stderr: warnings may be there too, and pass)."""
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    errors = [text for text in stderr.all_text_contents() if ERROR_TEXT.search(text)]
    widgets = page.locator(".jp-OutputArea-output", has_text="Error displaying widget")
    return errors + widgets.all_text_contents()


def _open_and_run_all(page, notebook: str, lab: Lab, page_errors: list[str]) -> None:
    page.goto(lab.workspace_url(Path(notebook).stem, f"tree/{notebook}"))
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=KERNEL_READY_S * 1000)
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=KERNEL_READY_S * 1000)  # status bar

    # The stored outputs (and prompts [1], [2], ...) of the committed notebook look like a finished
    # run, so clear them first: afterwards every prompt must go from [ ] to a number.
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
        ".every(p => p.textContent.trim() === '[ ]:')", timeout=30_000)

    _menu(page, "Run", "Run All Cells")
    start, stopped_since = time.monotonic(), None
    while True:
        prompts, status = _prompts(page), _kernel_status(page)
        if status == "idle" and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            break
        # Run All stops at a cell that fails: the cells after it keep their empty prompt.
        stopped = status == "idle" and "[*]:" not in prompts
        stopped_since = (stopped_since or time.monotonic()) if stopped else None
        waited = time.monotonic() - start
        if (stopped_since and time.monotonic() - stopped_since > 10) or waited > RUN_ALL_S:
            not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p)]
            pytest.fail(f"{notebook}: Run All did not finish after {waited:.0f} s (kernel {status}); code cells "
                        f"{not_run} (0-based) did not run. Errors shown: {_error_outputs(page) or 'none'}; "
                        f"browser errors: {page_errors or 'none'}")
        page.wait_for_timeout(500)

    errors = _error_outputs(page)
    assert not errors, f"{notebook}: cells show errors:\n" + "\n\n".join(errors)


def _show(page, locator) -> None:
    """Scroll an element to the middle of the notebook and wait until its images are drawn."""
    locator.evaluate("element => element.scrollIntoView({block: 'center'})")
    locator.locator("img").first.evaluate(
        "img => img.complete && img.naturalWidth > 0 ? null : new Promise(done => img.onload = done)")
    page.wait_for_timeout(300)  # let the scroll settle


# ---------------------------------------------------------------- the tests


def test_file_browser_lists_the_lessons(lab, page):
    """The learner's first step: `make lab` serves the learner's copies and the file browser lists the lessons."""
    page.goto(lab.workspace_url("file-browser"))
    items = page.locator(".jp-DirListing-content .jp-DirListing-itemText")
    items.first.wait_for(timeout=KERNEL_READY_S * 1000)
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-DirListing-content .jp-DirListing-itemText').length >= n",
        arg=len(LESSONS), timeout=30_000)
    listed = [t.strip() for t in items.all_text_contents()]
    missing = [name for name in LESSONS if name not in listed]
    assert not missing, f"the file browser lists {listed}; missing {missing}"

    # and a lesson opens from the list
    page.locator(".jp-DirListing-item", has_text=LESSONS[0]).dblclick()
    tab = page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text=LESSONS[0])
    tab.wait_for(timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)


@pytest.mark.parametrize("explorer", EXPLORERS, ids=[e.notebook for e in EXPLORERS])
def test_lesson_runs_and_its_explorer_responds(lab, page, page_errors, screenshot, explorer):
    path = NOTEBOOKS / explorer.notebook
    committed = path.read_bytes()
    stem = path.stem
    for old in SCREENSHOTS.glob(f"{stem}-*.png"):  # from an earlier run
        old.unlink()
    try:
        _open_and_run_all(page, explorer.notebook, lab, page_errors)

        from playwright.sync_api import expect

        boxes = page.locator(".widget-vbox", has=page.locator(explorer.marker))
        expect(boxes, f"{explorer.notebook}: one explorer with {explorer.marker}").to_have_count(1)
        box = boxes.first
        label = box.locator(".widget-html-content", has=page.locator(explorer.marker))
        marker, figure = box.locator(explorer.marker), box.locator("img.widget-image")
        expect(figure).to_have_count(1)
        _show(page, box)
        screenshot(f"{stem}-before")
        first_marker = marker.text_content()

        def control(kind: str, name: str):
            found = box.locator(kind, has=page.locator(".widget-label", has_text=re.compile(f"^{re.escape(name)}$")))
            expect(found, f"{explorer.notebook}: one {kind} called {name!r}").to_have_count(1)
            return found

        def expect_redrawn(what: str, text: str, src: str) -> None:
            expect(label, f"{what}: the label was not redrawn").not_to_have_text(text, timeout=REDRAW_S * 1000)
            expect(figure, f"{what}: the figure was not redrawn").not_to_have_attribute(
                "src", src, timeout=REDRAW_S * 1000)

        for name, button in explorer.toggles:
            text, src = label.text_content(), figure.get_attribute("src")
            control(".widget-toggle-buttons", name).locator("button", has_text=re.compile(
                f"^{re.escape(button)}$")).click()
            expect_redrawn(f"{name!r} set to {button!r}", text, src)

        for name in explorer.sliders:
            slider = box.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(
                f"^{re.escape(name)}$")))
            expect(slider, f"{explorer.notebook}: one slider called {name!r}").to_have_count(1)
            readout, text, src = slider.locator(".widget-readout"), label.text_content(), figure.get_attribute("src")
            value = readout.text_content()
            slider.locator(".noUi-handle").focus()
            page.keyboard.press(explorer.key)
            expect(readout, f"{name!r}: the slider did not move").not_to_have_text(value, timeout=10_000)
            expect(label, f"{name!r} moved from {value}: the label was not redrawn").not_to_have_text(
                text, timeout=REDRAW_S * 1000)
            expect(figure, f"{name!r} moved from {value}: the figure was not redrawn").not_to_have_attribute(
                "src", src, timeout=REDRAW_S * 1000)

        for name, option in explorer.menus:
            text, src = label.text_content(), figure.get_attribute("src")
            control(".widget-dropdown", name).locator("select").select_option(label=option)
            expect_redrawn(f"{name!r} set to {option!r}", text, src)

        assert marker.text_content() != first_marker, f"{explorer.marker} still shows {first_marker!r}"
        _show(page, box)
        screenshot(f"{stem}-after")
        errors = _error_outputs(page)
        assert not errors, f"{explorer.notebook}: errors after moving the sliders:\n" + "\n\n".join(errors)
    except BaseException:
        try:
            screenshot(f"{stem}-failed")
        except Exception:  # noqa: BLE001 - the original failure matters more
            pass
        raise
    finally:
        # autosave is off, so the browser run never writes the notebook; make sure of it
        if path.read_bytes() != committed:
            path.write_bytes(committed)
            pytest.fail(f"{explorer.notebook} was changed by the browser run (restored)")
