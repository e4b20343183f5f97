"""The course in JupyterLab, driven by a real browser (headless Chromium through Selenium).

For each lesson: open it, *Run → Run All Cells* in a fresh kernel, wait until the kernel is idle,
then check what a student would see: no error output, every ipywidgets output rendered (no
"Error displaying widget", no text fallback), and every explorer (a widget with a slider, toggle
buttons, a text box or a checkbox) answers one interaction with a different result. A screenshot
per lesson goes to ``build/screenshots/``. Then nbgrader's *Validate* button on an untouched
exercise must report every graded test cell as failing.

Lessons run with their defaults, as a student's would; ``COURSE_OFFLINE=1`` in the server's
environment makes the automatic profile ``offline`` (CI has no network). The server runs on a
temporary copy of ``notebooks/``, one exercise and ``nbgrader_config.py``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test-browser`` installs them with apt).
Without them the tests skip, except in CI or with ``COURSE_STRICT=1``, where they fail.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time

import nbformat
import pytest
from lab_browser import Lab, find_browser, start_chromium, strict, wait_for
from notebook_rules import LESSONS, ROOT, record_time

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ROOT / "build" / "screenshots"
TIMES = ROOT / "build" / "browser_times.json"
OPEN_TIMEOUT = 180  # s: JupyterLab loaded and the kernel started
RUN_TIMEOUT = 900  # s: Run All for one lesson (papermill takes 15-70 s on a quiet 2-core machine)
INTERACTION_TIMEOUT = 120  # s: an explorer's result changes after one interaction
VALIDATE_TIMEOUT = 600  # s: nbgrader runs the whole exercise before its dialog appears
EXERCISE = "ex01_imagenet"  # the exercise validated with nbgrader's button
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# a lesson that calls one of these must show at least one explorer
EXPLORER_CALL = re.compile(r"course_utils\.widgets\.\w+\(|widgets\.interact(?:ive)?\(")

# What the visible notebook shows, one entry per code cell, outputs of the cell itself only.
CELLS_JS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) return null;
return [...panel.querySelectorAll('.jp-CodeCell')].map(cell => ({
  prompt: (cell.querySelector('.jp-InputPrompt')?.textContent ?? '').trim(),
  outputs: [...cell.querySelectorAll(
      '.jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output')].map(o => ({
    mime: o.getAttribute('data-mime-type'),
    text: o.textContent.slice(0, 3000),
    view: !!o.querySelector('[class*="widget-"]')
          && !o.textContent.includes('Error displaying widget'),
  })),
}));
"""
KERNEL_JS = """
return document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) '
                              + '.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
"""
# An explorer's result: its text and images, without the controls (a slider's readout changes
# whenever the slider moves, whatever the result does).
RESULT_JS = """
const copy = arguments[0].cloneNode(true);
copy.querySelectorAll('.widget-slider, .widget-readout, .widget-toggle-buttons, .widget-text, '
                      + '.widget-textarea, .widget-checkbox, .widget-dropdown, .widget-button, '
                      + '.widget-label').forEach(e => e.remove());
return copy.textContent.trim() + [...copy.querySelectorAll('img')].map(i => i.src).join('|');
"""
CONTROLS = ".noUi-handle, .widget-toggle-button, .widget-text input, input[type=checkbox], select"


@pytest.fixture(scope="module")
def browser_paths():
    chromium, chromedriver = find_browser()
    if chromium and chromedriver:
        return chromium, chromedriver
    missing = " and ".join(name for name, path in (("chromium", chromium),
                                                    ("chromedriver", chromedriver)) if not path)
    message = (f"{missing} not found: `make test-browser` installs Debian's chromium and "
               "chromium-driver with apt (or set CHROMIUM and CHROMEDRIVER to their paths)")
    if strict():
        pytest.fail(f"{message}; the browser run is required in CI and with COURSE_STRICT=1")
    pytest.skip(message)


@pytest.fixture(scope="module")
def lab(browser_paths, tmp_path_factory):
    """JupyterLab on a copy of the course, offline, on 127.0.0.1 with a random token."""
    work = tmp_path_factory.mktemp("jupyterlab")
    root = work / "course"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    shutil.copytree(ROOT / "exercises" / EXERCISE, root / "exercises" / EXERCISE)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    # the kernels inherit this environment, with conftest's private caches (KERAS_HOME, ...)
    env = dict(os.environ, COURSE_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    server = Lab(root, env, work / "jupyterlab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def driver(browser_paths, tmp_path_factory):
    work = tmp_path_factory.mktemp("chromium")
    browser = start_chromium(*browser_paths, work / "profile", work / "chromedriver.log")
    try:
        yield browser
    finally:
        browser.quit()  # ends Chromium and chromedriver


def open_notebook(driver, lab: Lab, path: str) -> nbformat.NotebookNode:
    """Open ``path`` in a workspace of its own; wait for its cells and an idle kernel."""
    nb = nbformat.read(lab.root / path, as_version=4)
    code = sum(cell.cell_type == "code" for cell in nb.cells)
    driver.get(lab.url(path, workspace=re.sub(r"\W", "-", path)))
    wait_for(lambda: len(driver.execute_script(CELLS_JS) or []) == code, OPEN_TIMEOUT,
             f"{path} to show its {code} code cells")
    wait_for(lambda: driver.execute_script(KERNEL_JS) == "idle", OPEN_TIMEOUT,
             f"the kernel of {path} to start")
    return nb


def click_menu(driver, menu: str, command: str) -> None:
    """Open a menu of the menu bar and click the entry that runs ``command``."""
    from selenium.webdriver.common.by import By

    bar = [item for item in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
           if item.text.strip() == menu]
    assert bar, f"JupyterLab's menu bar has no {menu!r} menu"
    bar[0].click()
    wait_for(lambda: driver.find_element(
        By.CSS_SELECTOR, f'.lm-Menu-item[data-command="{command}"]'), 10,
        f"{command} in the {menu} menu").click()


def run_all(driver) -> float:
    """Run → Run All Cells; wait until no cell is queued and the kernel is idle. Returns seconds.

    The toolbar's execution indicator says "busy" while any cell of the notebook is scheduled
    (collapsed cells show no prompt, so prompts alone cannot tell); "idle" must hold for 2 s,
    counted once the first code cell shows a new execution count (on a busy machine the page
    can look idle for seconds after the click, before it has queued anything).
    """
    first = driver.execute_script(CELLS_JS)[0]["prompt"]
    start = time.monotonic()
    click_menu(driver, "Run", "runmenu:run-all")  # Run → Run All Cells
    quiet, started = 0, False

    def finished() -> bool:
        nonlocal quiet, started
        prompts = [cell["prompt"] for cell in driver.execute_script(CELLS_JS)]
        started = started or (prompts[0] != first and re.search(r"\d", prompts[0]) is not None)
        idle = started and driver.execute_script(KERNEL_JS) == "idle" \
            and not any("*" in p for p in prompts)
        quiet = quiet + 1 if idle else 0
        return quiet >= 4

    wait_for(finished, RUN_TIMEOUT, "Run All Cells to finish")
    return time.monotonic() - start


def save(driver, lab: Lab, path: str) -> nbformat.NotebookNode:
    """Click the toolbar's Save button; return the notebook as written to disk."""
    from selenium.webdriver.common.by import By

    file = lab.root / path
    before = file.stat().st_mtime_ns
    driver.find_element(By.CSS_SELECTOR, '.jp-NotebookPanel:not(.lm-mod-hidden) '
                                         'jp-button[data-command="docmanager:save"]').click()
    wait_for(lambda: file.stat().st_mtime_ns != before, 60, f"{path} to be saved")
    return wait_for(lambda: nbformat.read(file, as_version=4), 10, f"{path} to be readable")


def describe(nb: nbformat.NotebookNode, index: int) -> str:
    """'code cell 7 (first line)': the cell a student would look for."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    lines = code[index].source.strip().splitlines()
    return f"code cell {index + 1} ({(lines[0] if lines else '')[:70]!r})"


def run_problems(nb: nbformat.NotebookNode, saved: nbformat.NotebookNode, cells: list) -> list[str]:
    """Errors and unrendered widgets, as the page shows them and as the saved notebook has them."""
    problems = []
    saved_code = [cell for cell in saved.cells if cell.cell_type == "code"]
    for i, (cell, saved_cell) in enumerate(zip(cells, saved_code, strict=True)):
        where = describe(nb, i)
        if saved_cell.execution_count is None:
            problems.append(f"{where} did not run")
        for output in saved_cell.outputs:
            if output.output_type == "error":
                trace = "\n".join(re.sub(r"\x1b\[[\d;]*m", "", line)
                                  for line in output.traceback[-6:])
                problems.append(f"{where} raised {output.ename}: {output.evalue}\n{trace}")
        for output in cell["outputs"]:
            if output["mime"] == "application/vnd.jupyter.stderr" and "Traceback" in output["text"]:
                if not any(o.output_type == "error" for o in saved_cell.outputs):
                    problems.append(f"{where} printed a traceback:\n{output['text'][-1500:]}")
            if "Error displaying widget" in output["text"]:
                problems.append(f"{where}: {output['text'].strip()[:200]}")
        widgets = sum(WIDGET_MIME in o.get("data", {}) for o in saved_cell.outputs)
        views = sum(o["view"] for o in cell["outputs"])
        if views < widgets:
            problems.append(f"{where} has {widgets} widget output(s) but {views} rendered "
                            "widget view(s)")
    return problems


def interact(driver, explorer) -> str:
    """Use the explorer's first control once, as a student would; say what was done."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    find = lambda css: explorer.find_elements(By.CSS_SELECTOR, css)  # noqa: E731
    if handles := find(".noUi-handle"):
        handle = handles[0]
        low, high, now = (float(handle.get_attribute(f"aria-value{k}"))
                          for k in ("min", "max", "now"))
        width = explorer.find_element(By.CSS_SELECTOR, ".noUi-base").size["width"]
        offset = int(0.3 * width) * (-1 if now - low > high - now else 1)
        ActionChains(driver).drag_and_drop_by_offset(handle, offset, 0).perform()
        return f"dragged the slider from {now:g} by {offset} px"
    if buttons := [b for b in find(".widget-toggle-button")
                   if "mod-active" not in b.get_attribute("class")]:
        label = buttons[0].text
        buttons[0].click()
        return f"clicked the toggle button {label!r}"
    if boxes := find(".widget-text input"):
        query = "a cat sleeping on the sofa"
        driver.execute_script("arguments[0].select()", boxes[0])  # typing replaces the old query
        boxes[0].send_keys(query, Keys.ENTER)
        return f"typed {query!r}"
    if boxes := find("input[type=checkbox]"):
        boxes[0].click()
        return "clicked the checkbox"
    selects = find("select")
    options = selects[0].find_elements(By.CSS_SELECTOR, "option:not(:checked)")
    options[0].click()
    return f"chose {options[0].text!r}"


def check_explorers(driver, nb: nbformat.NotebookNode,
                    timeout: float = INTERACTION_TIMEOUT) -> tuple[list[str], object]:
    """Interact once with every explorer; return problems and the first explorer (or None)."""
    from selenium.webdriver.common.by import By

    outputs = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) "
                                   ".jp-Cell-outputArea > .jp-OutputArea-child > "
                                   ".jp-OutputArea-output")
    explorers = [o for o in outputs if o.find_elements(By.CSS_SELECTOR, CONTROLS)]
    problems = []
    expected = sum(bool(EXPLORER_CALL.search(cell.source)) for cell in nb.cells
                   if cell.cell_type == "code")
    if expected and not explorers:
        problems.append(f"{expected} cell(s) make an explorer, but no widget with a control "
                        "is on the page")
    for number, explorer in enumerate(explorers, 1):
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", explorer)
        before = settled_result(driver, explorer, timeout)
        done = interact(driver, explorer)
        try:
            wait_for(lambda e=explorer, b=before: driver.execute_script(RESULT_JS, e) != b,
                     timeout, "the explorer's result to change")
            after = settled_result(driver, explorer, timeout)
        except TimeoutError:
            after = before
        if after in ("", before):
            digest = hashlib.sha256(before.encode()).hexdigest()[:8]
            problems.append(f"explorer {number}: {done}, but its result stayed the same "
                            f"({before[:200]!r}..., sha256 {digest})")
    return problems, explorers[0] if explorers else None


def settled_result(driver, explorer, timeout: float) -> str:
    """The explorer's result once the kernel is idle and the result holds for a second."""
    last = None

    def steady() -> bool:
        nonlocal last
        idle = driver.execute_script(KERNEL_JS) == "idle"
        now = driver.execute_script(RESULT_JS, explorer) if idle else None
        same, last = now is not None and now == last, now
        return same

    wait_for(steady, timeout, "the explorer's result to settle", poll=1.0)
    return last


def screenshot(driver, name: str, element=None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if element is not None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        time.sleep(0.5)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_in_jupyterlab(lesson, lab, driver):
    """Run All shows no error, renders every widget, and each explorer answers an interaction."""
    from selenium.webdriver.common.by import By

    path = f"notebooks/{lesson.name}"
    focus = None
    try:
        nb = open_notebook(driver, lab, path)
        record_time(TIMES, lesson.stem, run_all(driver))
        saved = save(driver, lab, path)
        problems = run_problems(nb, saved, driver.execute_script(CELLS_JS))
        explorer_problems, focus = check_explorers(driver, nb)
        problems += explorer_problems
        if focus is None:  # no explorer: show the last picture the lesson drew
            images = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden)"
                                          " .jp-Cell-outputArea img")
            focus = images[-1] if images else None
        assert not problems, f"{lesson.name} in JupyterLab:\n" + "\n".join(problems)
    finally:
        screenshot(driver, lesson.stem, focus)
        lab.shutdown_kernels()  # each lesson's kernel holds about 1 GB


def test_checks_catch_an_error_a_dead_explorer_and_a_lost_widget(lab, driver):
    """The checks above fail where they should: on a small notebook with each fault in it."""
    path = "selftest/faults.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in [
        "import ipywidgets as widgets\nfrom IPython.display import display",
        # dead: its result never changes
        "slider = widgets.IntSlider(value=5, max=50)\n"
        "display(widgets.VBox([slider, widgets.HTML('<b>always the same</b>')]))",
        # alive: the result follows the buttons
        "buttons = widgets.ToggleButtons(options=['a', 'b'])\nshown = widgets.HTML('a')\n"
        "buttons.observe(lambda change: setattr(shown, 'value', change.new), names='value')\n"
        "display(widgets.VBox([buttons, shown]))",
        "1 / 0",
        "print('not reached')",
    ]]
    (lab.root / path).parent.mkdir(exist_ok=True)
    nbformat.write(nb, lab.root / path)
    try:
        open_notebook(driver, lab, path)
        run_all(driver)
        saved = save(driver, lab, path)
        problems = run_problems(nb, saved, driver.execute_script(CELLS_JS))
        assert len(problems) == 2, problems
        assert "code cell 4 ('1 / 0') raised ZeroDivisionError" in problems[0]
        assert "code cell 5 (\"print('not reached')\") did not run" in problems[1]
        explorer_problems, _ = check_explorers(driver, nb, timeout=10)
        assert len(explorer_problems) == 1, explorer_problems
        assert explorer_problems[0].startswith("explorer 1: dragged the slider from 5 by")
        lab.shutdown_kernels()
        # reopened with a new kernel, the saved widget outputs have no model behind them
        open_notebook(driver, lab, path)

        def lost_widgets() -> list[str]:
            problems = run_problems(nb, saved, driver.execute_script(CELLS_JS))
            return [p.split(":")[0] for p in problems if "Error displaying widget" in p]

        wait_for(lambda: len(lost_widgets()) == 2, 30, "'Error displaying widget' twice")
        assert lost_widgets() == [describe(nb, 1), describe(nb, 2)]
    finally:
        lab.shutdown_kernels()


def test_validate_button_reports_untouched_exercise_as_failing(lab, driver):
    """nbgrader's Validate button runs the exercise and lists every graded test cell as failed."""
    from selenium.webdriver.common.by import By

    path = f"exercises/{EXERCISE}/{EXERCISE}.ipynb"
    try:
        nb = open_notebook(driver, lab, path)
        # compared without whitespace: the dialog writes each source line by line (<br>)
        graded = {re.sub(r"\s", "", cell.source) for cell in nb.cells if cell.cell_type == "code"
                  and cell.metadata.get("nbgrader", {}).get("grade")}
        assert graded, f"{path} has no graded test cells"
        buttons = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) "
                                       'jp-button[title="Validate Assignment"]')
        assert buttons, ("no Validate button in the notebook toolbar: is nbgrader's JupyterLab "
                         "extension enabled? (jupyter labextension list)")
        start = time.monotonic()
        buttons[0].click()
        dialog = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".jp-Dialog"),
                          VALIDATE_TIMEOUT, "nbgrader's validation dialog")
        record_time(TIMES, f"validate_{EXERCISE}", time.monotonic() - start)
        title = dialog.find_element(By.CSS_SELECTOR, ".jp-Dialog-header").text
        body = dialog.find_element(By.CSS_SELECTOR, ".jp-Dialog-body")
        text = body.get_attribute("textContent")
        assert title == "Validation Results", f"unexpected dialog {title!r}: {text[:500]}"
        assert dialog.find_elements(By.CSS_SELECTOR, ".validation-failed"), text[:1000]
        failed = {re.sub(r"\s", "", pre.get_attribute("textContent")) for pre in body.find_elements(
            By.XPATH, ".//p[text()='The following cell failed:']/../following-sibling::div[1]/pre")}
        assert failed == graded, (f"{len(failed)} cell(s) reported failing, expected all "
                                  f"{len(graded)} graded test cells of an untouched exercise")
    finally:
        screenshot(driver, f"{EXERCISE}_validate")
        lab.shutdown_kernels()
