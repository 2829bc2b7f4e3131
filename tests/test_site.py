"""The rendered course: `python -m course_utils site` executes notebooks and writes a static site.

The fast tests pin down the pieces (the scale chosen, the scale note, the
public edition of an exercise, widgets as text, the index and its manifest,
where the site may go). The slow ones build a real site in smoke mode from two
notebooks (01, which trains nothing and draws figures, and 08, which trains),
rebuild 01 alone into it, and open it in Debian's headless Chromium, from
file:// and from a static server on 127.0.0.1, as a reader would: a figure is
drawn, an exercise's question is shown and its solution is not, and the page
states the scale its outputs were computed at.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import threading
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.config import REPO_ROOT
from course_utils.exercises import question_text
from course_utils.website import Machine, NotebookFailedError, build_site, choose_scale, execute
from course_utils.website.build import Page, check_out, read_manifest, write_index
from course_utils.website.edition import CHECK_HIDDEN, WIDGET_STATE, WIDGET_VIEW, public_edition
from course_utils.website.execute import with_run
from course_utils.website.pages import Link, index_html, page_html
from course_utils.website.scale import expected_minutes, kernel_env, scale_note

from test_browser import CHROMIUM, offline_chromium

NOTEBOOKS = REPO_ROOT / "notebooks"
SITE_NOTEBOOKS = [NOTEBOOKS / "01_conv2d_output_size.ipynb", NOTEBOOKS / "08_mnist_resnet.ipynb"]
#: The first exercise of 01, its solution line, and what its check says when the answer is right.
QUESTION = "conv_arithmetic.output_size"
SOLUTION = "answer = (224 + 2 * 2 - 11) // 4 + 1"
VERDICT = "right: floor((224 + 4 - 11) / 4) + 1 = 55"
#: A 1x1 PNG, as a matplotlib figure's output holds one.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
#: A 2-core CPU, and a GPU, as this_machine() describes them.
CPU = Machine("cpu", "cpu (2 cores)", "2.5.1", "3.11.7", "2026-12-06", "/data/samples")
GPU = Machine("cuda", "cuda (Tesla T4)", "2.5.1", "3.11.7", "2026-12-06", "/data/full")


def exercise_notebook() -> nbformat.NotebookNode:
    """An exercise as the notebooks write it, executed: question, answer cell (tag or nbgrader only), check."""
    code, output = nbformat.v4.new_code_cell, nbformat.v4.new_output
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**Exercise `output_size`.** How tall is the output?"),
        code("answer = ...\n### BEGIN SOLUTION\nanswer = 55\n### END SOLUTION", metadata={"tags": ["solution"]},
             outputs=[output("stream", name="stdout", text="55\n")]),
        code("def f():\n    ### BEGIN SOLUTION\n    return 55\n    ### END SOLUTION",
             metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "f"}}),
        code("ex.output_size.check(answer)",
             outputs=[output("execute_result", data={"text/plain": "[right] output_size: right: 55"})]),
        code("plt.plot([1, 2])", outputs=[output("display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"})]),
    ])


def test_auto_scale_takes_the_largest_run_that_the_notebooks_own_estimate_fits_in_the_budget():
    estimates = {name: expected_minutes(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))
                 for name in ("01_conv2d_output_size", "02_cifar10_sequential_cnn", "06_resnet18_training")}
    assert estimates["01_conv2d_output_size"] is None  # trains nothing: no estimate
    assert estimates["06_resnet18_training"]["short"]["cpu"] > 30
    on_cpu = {name: choose_scale("auto", CPU, minutes) for name, minutes in estimates.items()}
    on_gpu = {name: choose_scale("auto", GPU, minutes) for name, minutes in estimates.items()}
    assert on_cpu == {"01_conv2d_output_size": "full", "02_cifar10_sequential_cnn": "short",
                      "06_resnet18_training": "smoke"}  # 02: full 70 min, short 18; 06: short 300
    assert set(on_gpu.values()) == {"full"}
    assert choose_scale("short", CPU, estimates["06_resnet18_training"]) == "short"  # asked for: as asked
    with pytest.raises(ValueError, match="scale must be"):
        choose_scale("huge", CPU, None)


def test_short_and_full_runs_turn_smoke_mode_off_in_the_kernel_and_smoke_turns_it_on():
    assert kernel_env("short")["COURSE_SMOKE"] == "0"  # a COURSE_SMOKE=1 in the shell cannot shrink it
    assert kernel_env("full")["COURSE_SMOKE"] == "0"
    assert kernel_env("smoke")["COURSE_SMOKE"] == "1"


def test_scale_note_states_the_scale_device_versions_date_and_data():
    note = scale_note(CPU, "short", has_run=True, seconds=61)
    for fact in ('RUN = "short"', "smoke mode off", "cpu (2 cores)", "PyTorch 2.5.1", "Python 3.11.7",
                 "2026-12-06", "in 61 s", "/data/samples"):
        assert fact.replace('"', "&quot;") in note, fact
    assert "no RUN setting" in scale_note(CPU, "full", has_run=False, seconds=1)
    assert "smoke mode (COURSE_SMOKE=1" in scale_note(CPU, "smoke", has_run=True, seconds=1)


def test_run_is_injected_after_the_parameters_cell_as_papermill_does_and_not_in_smoke_mode():
    nb = nbformat.read(NOTEBOOKS / "08_mnist_resnet.ipynb", as_version=4)
    given = with_run(nb, "short")
    tags = [cell.metadata.get("tags", []) for cell in given.cells]
    params = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert "injected-parameters" in tags[params + 1] and 'RUN = "short"' in given.cells[params + 1].source
    assert with_run(nb, None) is nb  # smoke mode: RUN does not matter
    no_settings = nbformat.read(NOTEBOOKS / "01_conv2d_output_size.ipynb", as_version=4)
    assert with_run(no_settings, "short") is no_settings


def test_public_edition_shows_the_question_and_the_stub_and_hides_the_solution_and_the_verdict():
    page = public_edition(exercise_notebook())
    question, answer, function, check, figure = page.cells
    assert "How tall is the output?" in question.source
    assert answer.source == "answer = ...\n# YOUR CODE HERE" and answer.outputs == []
    assert "return 55" not in function.source and "raise NotImplementedError" in function.source  # nbgrader's mark
    assert [o.text for o in check.outputs] == [CHECK_HIDDEN]
    assert figure.outputs[0].data["image/png"] == PIXEL  # results stay


def test_instructors_edition_keeps_solutions_and_verdicts():
    page = public_edition(exercise_notebook(), solutions=True)
    assert "answer = 55" in page.cells[1].source
    assert "right: 55" in page.cells[3].outputs[0].data["text/plain"]


def test_widgets_become_the_text_they_showed_and_no_widget_script_is_needed():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("for _ in tqdm(range(40)): pass", outputs=[
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "bar"}, "text/plain": "0%| 0/40"}),
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "closed"}, "text/plain": "0%"}),
    ])])
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_left", "IPY_MODEL_p", "IPY_MODEL_right"]}},
        "left": {"model_name": "HTMLModel", "state": {"value": "epochs: 100%"}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": 40.0, "max": 40.0}},
        "right": {"model_name": "HTMLModel", "state": {"value": " 40/40 [00:02&lt;00:00]"}},
    }}}
    page = public_edition(nb)
    assert [o.data["text/plain"] for o in page.cells[0].outputs] == ["epochs: 100%|##########| 40/40 [00:02<00:00]"]
    assert "widgets" not in page.metadata
    assert "widget-state" not in page_html(page, "bars")


def test_a_page_embeds_its_figures_so_it_works_from_file_and_any_server():
    html = page_html(public_edition(exercise_notebook()), "01 · Sizes")
    assert f'src="data:image/png;base64,{PIXEL}"' in html
    assert "<title>01 · Sizes</title>" in html


def test_index_links_every_page_and_shows_a_failure_without_a_link():
    page = index_html("ResNet, hands-on", [(Link("01_a.html", "01 · `Conv2d` sizes"), "smoke mode, 4 s"),
                                           (Link("02_b.html", "02 · CNN"), "FAILED: 02_b.ipynb failed in cell 3")],
                      '<p id="scale-note">smoke</p>')
    assert "<h1>ResNet, hands-on</h1>" in page and 'id="scale-note"' in page
    assert '<a href="01_a.html">01 · <code>Conv2d</code> sizes</a>' in page
    assert 'href="02_b.html"' not in page and "FAILED: 02_b.ipynb failed in cell 3" in page


def test_the_index_lists_the_pages_of_earlier_builds_so_a_site_can_be_built_in_several_goes(tmp_path):
    first = Page("01_a", "01 · A", "full", False, "cpu (2 cores)", "2026-12-06", seconds=5.0)
    failed = Page("02_b", "02 · B", "short", True, "cpu (2 cores)", "2026-12-06", error="02_b.ipynb failed")
    gone = Page("03_c", "03 · C", "smoke", True, "cpu (2 cores)", "2026-12-06", seconds=30.0)
    (tmp_path / "01_a.html").write_text("page")  # 03_c.html was removed since
    write_index(tmp_path, {page.name: page for page in (first, failed, gone)}, "Course")
    assert read_manifest(tmp_path) == {"01_a": first, "02_b": failed}
    index = (tmp_path / "index.html").read_text()
    assert "full size (no RUN setting), cpu (2 cores), 2026-12-06, 5 s" in index and "FAILED: 02_b.ipynb" in index
    (tmp_path / "site.json").write_text("not json")
    assert read_manifest(tmp_path) == {}  # a broken manifest: the next build starts afresh


def test_the_site_is_never_written_into_the_source_notebooks_folder(tmp_path):
    with pytest.raises(ValueError, match="output-free"):
        check_out(NOTEBOOKS / "site", SITE_NOTEBOOKS)
    with pytest.raises(ValueError, match="output-free"):
        check_out(NOTEBOOKS, SITE_NOTEBOOKS)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        check_out(tmp_path / "file", SITE_NOTEBOOKS)
    check_out(tmp_path / "site", SITE_NOTEBOOKS)  # anywhere else is fine


def test_the_command_names_a_file_that_is_not_a_notebook_and_refuses_an_out_inside_notebooks(tmp_path, capsys):
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "01_text.ipynb").write_text("not json")
    assert cli.main(["site", str(tmp_path / "nbs" / "01_text.ipynb"), "--out", str(tmp_path / "site")]) == 2
    assert "01_text.ipynb: not a notebook: it is not JSON" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()  # nothing written
    assert cli.main(["site", str(SITE_NOTEBOOKS[0]), "--out", str(NOTEBOOKS / "site")]) == 2
    assert "the source notebooks' folder, which stays output-free" in capsys.readouterr().err
    assert not (NOTEBOOKS / "site").exists()
    (tmp_path / "empty").mkdir()
    assert cli.main(["site", str(tmp_path / "empty"), "--out", str(tmp_path / "site")]) == 2
    assert f"{tmp_path / 'empty'} holds no NN_name.ipynb" in capsys.readouterr().err


@pytest.mark.slow
def test_a_failing_notebook_fails_the_build_with_its_name_cell_and_error(tmp_path, capsys):
    broken = tmp_path / "notebooks" / "01_broken.ipynb"
    broken.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · Broken"),
                                         nbformat.v4.new_code_cell('RUN = "full"', metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("1 / 0")])  # cell 2, also after RUN is injected
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, broken)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "01_broken.html").write_text("a page from an earlier build")
    with pytest.raises(NotebookFailedError, match=r"01_broken.ipynb failed in cell 2 \(1 / 0\): ZeroDivisionError"):
        execute(broken, "short")
    status = cli.main(["site", str(broken), "--scale", "short", "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert status == 1
    assert "01_broken.ipynb failed in cell 2 (1 / 0): ZeroDivisionError: division by zero" in err
    assert not (tmp_path / "site" / "01_broken.html").exists()  # no silent page, not even an old one
    assert "FAILED" in (tmp_path / "site" / "index.html").read_text()
    assert nbformat.read(broken, as_version=4).cells[2].outputs == []  # the source stays output-free


@pytest.fixture(scope="module")
def site(tmp_path_factory, course_data) -> Path:
    """The site of notebooks 01 and 08, built in smoke mode, then 01 rebuilt alone (about 40 s on a 2-core CPU)."""
    out = tmp_path_factory.mktemp("site")
    before = sorted(p.relative_to(NOTEBOOKS) for p in NOTEBOOKS.rglob("*"))
    with pytest.MonkeyPatch.context() as env:  # the kernels read the tests' datasets
        env.setenv("COURSE_DATA_DIR", str(course_data.root))
        pages = build_site(SITE_NOTEBOOKS, out, "smoke", timeout=600)
        assert [page.error for page in pages] == [None, None]
        again = build_site(SITE_NOTEBOOKS[:1], out, "smoke", timeout=600)  # 01 alone, rebuilt: 08 stays listed
        assert [page.name for page in again] == ["01_conv2d_output_size"] and again[0].error is None
    assert sorted(p.relative_to(NOTEBOOKS) for p in NOTEBOOKS.rglob("*")) == before, "the build wrote into notebooks/"
    return out


@pytest.fixture(scope="module")
def server(site):
    """A static file server on 127.0.0.1 for the site, as GitHub Pages or `python -m http.server` would serve it."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(site):
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed: apt-get install chromium (Debian's package)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright is not installed: pip install playwright (the browser comes from Debian)")
    with offline_chromium() as chromium:
        yield chromium


def figures_drawn(page) -> list[int]:
    """The natural widths of the figures in the outputs (0 for an image that did not load)."""
    return page.eval_on_selector_all(".jp-OutputArea-output img", "imgs => imgs.map(i => i.naturalWidth)")


@pytest.mark.slow
def test_a_page_opened_from_file_shows_the_scale_note_a_figure_and_the_question_not_the_answer(site, browser):
    source = nbformat.read(SITE_NOTEBOOKS[0], as_version=4)
    assert any(SOLUTION in cell.source for cell in source.cells)  # what must not be shown is there to hide
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto((site / "01_conv2d_output_size.html").as_uri())
        note = page.locator("#scale-note")
        assert note.is_visible() and "Outputs computed at: smoke mode (COURSE_SMOKE=1" in note.inner_text()
        widths = figures_drawn(page)
        assert widths and all(width > 0 for width in widths), widths
        figure = page.locator(".jp-OutputArea-output img").first
        figure.scroll_into_view_if_needed()
        assert figure.is_visible()
        question = page.get_by_text(question_text(QUESTION)[:60]).first
        question.scroll_into_view_if_needed()
        assert question.is_visible()
        text = page.inner_text("body")
        assert "# YOUR CODE HERE" in text and SOLUTION not in text and VERDICT not in text
        assert "layers checked: 100%|##########|" in " ".join(text.split())  # a tqdm bar, as it ended
    finally:
        page.close()


@pytest.mark.slow
def test_the_index_served_over_http_links_each_page_and_states_the_scale(site, server, browser):
    page = browser.new_page()
    try:
        page.goto(f"{server}/index.html")
        assert page.locator("h1").inner_text() == "ResNet, hands-on"
        assert "the table says at which scale" in page.locator("#scale-note").inner_text()
        assert page.locator("table a").count() == 2  # rebuilding 01 kept 08's page
        assert all(row.startswith(("01 · ", "08 · ")) and "smoke mode, " in row
                   for row in page.locator("tbody tr").all_inner_texts())
        page.get_by_role("link", name="08 · A small ResNet for MNIST").click()
        page.wait_for_load_state()
        assert page.url.endswith("/08_mnist_resnet.html")
        assert "Outputs computed at: smoke mode" in page.locator("#scale-note").inner_text()
        widths = figures_drawn(page)
        assert widths and all(width > 0 for width in widths), widths
        page.get_by_role("link", name="ResNet, hands-on: all notebooks").click()  # back to the index
        page.wait_for_load_state()
        assert page.url.endswith("/index.html")
    finally:
        page.close()
