"""A learner's first notebook, in a real browser: JupyterLab, Run All, look at the outputs.

Starts JupyterLab on 127.0.0.1 (a random token, a free port, a temporary copy
of notebooks/ so the instructor's files are never saved over), opens it in
Debian's headless Chromium driven by Playwright, runs all cells from the Run
menu and checks what a learner would see: the widget calculator renders and
answers when a slider moves, a tqdm progress bar and a torchviz graph appear,
and no cell shows an error. Screenshots are written to the test's tmp_path.

Needs `apt-get install chromium` and `pip install playwright` (the Python
package only: the test uses /usr/bin/chromium, never `playwright install`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_utils.config import REPO_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Every host name except the test's own server resolves to nothing, so that Chromium reaches
#: no Google host (sync, updates, safe browsing) even on a laptop with internet.
OFFLINE_RULES = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 OFFLINE_RULES]
FIRST_NOTEBOOK = "01_conv2d_output_size.ipynb"
HARNESS_NOTEBOOK = "98_browser_check.ipynb"
#: The notebook on screen (other tabs' notebooks stay in the page, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: JupyterLab settings for a quiet, predictable page: the notebook's kernel starts without
#: asking, every cell is kept in the page (no virtual scrolling, so off-screen outputs can
#: be read), and no news pop-up.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                   "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def _requirements_or_skip() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed: apt-get install chromium (Debian's package)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright is not installed: pip install playwright (the browser comes from Debian)")
    if importlib.util.find_spec("jupyterlab") is None:
        pytest.skip("JupyterLab is not installed: pip install -r requirements.txt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _harness_notebook(path: Path) -> None:
    """A slider calculator, a tqdm loop, a torchviz graph and an error: proves the checks see each."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 98 · Browser check"),
        nbformat.v4.new_code_cell(
            "import ipywidgets as widgets\n"
            "n = widgets.IntSlider(value=32, min=1, max=64, description='size n')\n"
            "result = widgets.HTML()\n"
            "def update(change=None):\n"
            "    result.value = f'<b>output size = {n.value + 2 * 1 - 3 + 1}</b>'\n"
            "n.observe(update, names='value'); update()\n"
            "display(widgets.VBox([n, result]))"),
        nbformat.v4.new_code_cell(
            "import time\nfrom tqdm.auto import tqdm\n"
            "for _ in tqdm(range(40), desc='layers'):\n    time.sleep(0.005)"),
        nbformat.v4.new_code_cell(
            "from torch import nn\nfrom course_utils.viz import render_graph\n"
            "render_graph(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), (1, 1, 8, 8))"),
        nbformat.v4.new_code_cell("1 / 0  # a deliberate error: the checks must see it"),
    ]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, course_data):
    """A JupyterLab server on 127.0.0.1, in smoke mode, serving a copy of notebooks/."""
    _requirements_or_skip()
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", root)
    _harness_notebook(root / HARNESS_NOTEBOOK)
    for name, values in LAB_SETTINGS.items():
        (base / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (base / "settings" / name).write_text(json.dumps(values))
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "COURSE_SMOKE": "1", "COURSE_DATA_DIR": str(course_data.root),
           "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"), "JUPYTER_RUNTIME_DIR": str(base / "runtime")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
               "--ServerApp.port_retries=0", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers run as root
    log = open(base / "server.log", "w")
    server = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own process group: kernels included
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, token, server, base / "server.log")
        yield url, token, base
    finally:
        try:  # ask politely: the server shuts its kernels down
            request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST", data=b"")
            urllib.request.urlopen(request, timeout=10)
            server.wait(timeout=20)
        except Exception:
            pass
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()


def _wait_until_up(url: str, token: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with status {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def offline_chromium():
    """Headless Chromium, through Playwright, that resolves no host but this machine's."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def browser(lab):
    with offline_chromium() as chromium:
        yield chromium


def run_all_cells(browser, lab, notebook: str, timeout_s: float = 180):
    """Open ``notebook`` in JupyterLab, choose Run > Run All Cells, wait until the kernel is idle."""
    url, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    workspace = Path(notebook).stem  # a workspace of its own: no tabs restored from other tests
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook}?token={token}")
    page.wait_for_selector(f"{PANEL} .jp-Cell")
    _wait_for_kernel(url, token, notebook)
    page.wait_for_timeout(1000)  # let the page connect to the kernel the server just started
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.get_by_text("Run All Cells", exact=True).click()
    try:
        _wait_until_run(page, timeout_s)
    except Exception:
        page.screenshot(path=str(lab[2] / f"{notebook}.timeout.png"))
        raise
    page.wait_for_timeout(1500)  # widgets render just after the kernel goes idle
    return page


def _wait_for_kernel(url: str, token: str, notebook: str, timeout_s: float = 90) -> None:
    """Until the server says the notebook's kernel is started and idle, as a learner waits for it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=10) as response:
            sessions = json.load(response)
        if any(s["path"].endswith(notebook) and s["kernel"]["execution_state"] == "idle" for s in sessions):
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel of {notebook} did not start within {timeout_s:.0f} s")


def _wait_until_run(page, timeout_s: float) -> None:
    """Until the kernel is idle, no cell is queued, and every cell ran or one failed."""
    page.wait_for_function(
        """(panel) => {
            const nb = document.querySelector(panel);
            const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
            const idle = nb.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
            const stderr = [...nb.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')];
            const done = prompts.every(p => /\\[\\d+\\]/.test(p)) || stderr.some(e => e.innerText.includes('Traceback'));
            return idle && !prompts.some(p => p.includes('*')) && done;
        }""", arg=PANEL, timeout=timeout_s * 1000, polling=500)


def errors_shown(page) -> list[str]:
    """Tracebacks and widget failures, as a learner would see them in the outputs."""
    stderr = page.locator(f'{PANEL} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    widgets = page.locator(f"{PANEL} .jp-OutputArea-output").filter(has_text="Error displaying widget")
    return [t for t in stderr.all_inner_texts() if "Traceback" in t] + widgets.all_inner_texts()


def unexecuted_cells(page) -> list[int]:
    prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    return [i for i, p in enumerate(prompts) if not any(c.isdigit() for c in p)]


def calculator_answers(page, screenshot: Path) -> None:
    """The first slider renders; moving it changes the number after 'output size'."""
    slider = page.locator(f"{PANEL} .jupyter-widgets.widget-slider").first
    slider.wait_for(state="visible", timeout=30_000)
    answer = page.locator(f"{PANEL} .jp-OutputArea-output").filter(has_text="output size").last
    before = answer.inner_text()
    slider.scroll_into_view_if_needed()
    slider.locator(".noUi-handle").first.press("ArrowRight")  # a learner's arrow key: one step up
    page.wait_for_function("([panel, old]) => [...document.querySelectorAll(panel + ' .jp-OutputArea-output')]"
                           ".some(e => e.innerText.includes('output size') && e.innerText !== old)",
                           arg=[PANEL, before], timeout=15_000)
    after = answer.inner_text()
    assert before != after and "output size" in after, (before, after)
    page.screenshot(path=str(screenshot))


def progress_bar_shown(page) -> bool:
    bars = page.locator(f"{PANEL} .jupyter-widgets.widget-hprogress, {PANEL} .jupyter-widgets.widget-progress")
    return bars.count() > 0 or page.locator(f"{PANEL} .jupyter-widgets").filter(has_text="100%").count() > 0


def graph_shown(page) -> bool:
    """A Graphviz drawing in an output: an inline <svg>, or an <img> of the SVG or PNG."""
    svg = page.locator(f"{PANEL} .jp-RenderedSVG img, {PANEL} .jp-RenderedSVG svg, {PANEL} .jp-OutputArea-output svg g.graph")
    png = page.locator(f"{PANEL} .jp-RenderedImage img")
    return svg.count() > 0 or png.count() > 0


def test_browser_checks_see_slider_progress_bar_and_graph(browser, lab, tmp_path):
    page = run_all_cells(browser, lab, HARNESS_NOTEBOOK)
    try:
        errors = errors_shown(page)
        assert len(errors) == 1 and "ZeroDivisionError" in errors[0], errors
        assert not unexecuted_cells(page)
        calculator_answers(page, tmp_path / "98_calculator.png")
        assert progress_bar_shown(page)
        assert graph_shown(page)
        page.screenshot(path=str(tmp_path / "98_all.png"))
    finally:
        page.close()


def test_learner_runs_the_first_notebook_in_jupyterlab(browser, lab, tmp_path):
    page = run_all_cells(browser, lab, FIRST_NOTEBOOK)
    try:
        page.screenshot(path=str(tmp_path / "01_after_run_all.png"))
        errors = errors_shown(page)
        assert not errors, "cells show errors:\n" + "\n\n".join(errors)
        assert not unexecuted_cells(page), f"code cells not run: {unexecuted_cells(page)}"
        calculator_answers(page, tmp_path / "01_calculator.png")
        assert progress_bar_shown(page), "no tqdm progress bar rendered (section 4 checks layers with one)"
        page.locator(f"{PANEL} .jp-RenderedSVG, {PANEL} .jp-RenderedImage").last.scroll_into_view_if_needed()
        assert graph_shown(page), "no torchviz graph rendered (section 7 draws the model's graph)"
        page.screenshot(path=str(tmp_path / "01_graph.png"))
    finally:
        page.close()


def test_browser_resolves_no_host_but_the_local_server(browser, lab):
    """Outside hosts fail to resolve, even one that resolves without DNS (``*.localhost``)."""
    from playwright.sync_api import Error

    url, token, _ = lab
    port = url.rsplit(":", 1)[1]
    for outside in ("http://example.com/", f"http://course-check.localhost:{port}/"):
        page = browser.new_page()
        try:
            with pytest.raises(Error, match="ERR_NAME_NOT_RESOLVED"):
                page.goto(outside, timeout=15_000)
        finally:
            page.close()
    page = browser.new_page()
    try:
        page.goto(f"{url}/api/status?token={token}")
        assert "started" in page.content()  # the test's own server is still reached
    finally:
        page.close()
