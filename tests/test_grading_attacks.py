"""The adversarial corpus: submissions that attack or break the grader, graded in one batch.

Each entry of ``CORPUS`` is one student's notebook and the outcome the instructor must see: a
score, or an error (tampering, a fault). The batch interleaves honest students ("honest_*")
between the attacks and checks that each of them still gets full marks. Runs in the bubblewrap
sandbox, like ``course autograde`` by default.
"""

from __future__ import annotations

import base64
import copy
import csv
import json
import re
import socket
import threading
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
import toy_course

from course_utils.grading import batch, feedback, markers

pytestmark = pytest.mark.grading
MARKER = f"course-leftover-{uuid.uuid4().hex[:8]}"  # in the command line of a left-behind process


def _answer_with(answer, index: int, code: str):
    nb = copy.deepcopy(answer)
    nb.cells[index].source = code
    return nb


def _before_answers(answer, code: str, animal: str = toy_course.SOLUTION_ANIMAL):
    """A notebook whose first answer cell runs ``code`` first, and whose animal() is given."""
    nb = _answer_with(answer, 1, code + "\n\ndef double(x):\n    return 2 * x")
    nb.cells[3].source = animal
    return nb


WRONG_DOUBLE = "def double(x):\n    return x + 2"  # passes double(2) == 4, fails double(-21)


def _corpus(root: Path, secrets: list[str], port: int):
    answer = toy_course.answered(root)
    nb = {}
    # --- tests switched off from inside the kernel --------------------------------------------
    nb["input_transformer"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nget_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"))
    nb["ast_transformer"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport ast\nclass Blank(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n        node.body = []\n        return node\n"
        "get_ipython().ast_transformers.append(Blank())"))
    nb["run_cell_patch"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport IPython\nasync def quiet(self, *args, **kwargs):\n"
        "    return IPython.core.interactiveshell.ExecutionResult(None)\n"
        "IPython.core.interactiveshell.InteractiveShell.run_cell_async = quiet\n"
        "def quiet_sync(self, *args, **kwargs):\n"
        "    return IPython.core.interactiveshell.ExecutionResult(None)\n"
        "IPython.core.interactiveshell.InteractiveShell.run_cell = quiet_sync"))
    nb["checks_noop"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport course_utils.checks as c\n"
        "for name in dir(c):\n    if name.startswith('expect'):\n"
        "        setattr(c, name, lambda *a, **k: None)"))
    nb["checks_patched_mid_test"] = _answer_with(answer, 1, (
        "def double(x):\n    import course_utils.checks as c\n"
        "    c.expect_number = lambda *a, **k: None\n    return x + 2"))
    nb["showtraceback"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport sys\nip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
        "ip._showtraceback = lambda *a, **k: None\nsys.excepthook = lambda *a: None"))
    nb["event_callback"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\ndef loosen(*args):\n    import course_utils.checks as c\n"
        "    c.expect_number = lambda *a, **k: None\n"
        "get_ipython().events.register('pre_run_cell', loosen)"))
    nb["builtins_patch"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport builtins, math\nbuiltins.abs = lambda x: 0\n"
        "math.isclose = lambda *a, **k: True"))
    # --- what a test cell shows or returns: nbgrader reads an execute_result as partial credit --
    nb["displayhook"] = _answer_with(answer, 1, (
        "def double(x):\n    get_ipython().displayhook('all the points')\n    return x + 2"))
    nb["audit_hook"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport sys\nsys.addaudithook(lambda event, args: get_ipython().displayhook(1.0)\n"
        "                 if event == 'compile' and 'canary' not in str(args) else None)"))
    nb["displays"] = _answer_with(answer, 1, (
        "def double(x):\n    from IPython.display import display\n"
        "    display({'text/plain': '1.0'}, raw=True)\n    return x + 2"))
    # --- limits the kernel cannot step around: a full /tmp, a huge file, a nested namespace,
    # more processes than allowed (a root grader needs the pids cgroup for that one), a system
    # call the seccomp filter refuses ---------------------------------------------------------
    nb["limits_hold"] = _before_answers(answer, (
        "import ctypes, os\nescaped = []\n"
        "def fill(paths, size, grow):\n    try:\n        for path in paths:\n"
        "            with open(path, 'wb') as handle:\n"
        "                grow(handle.fileno(), size)\n"
        "        escaped.append(paths[0])\n    except OSError:\n        pass\n"
        "    for path in paths:\n        if os.path.exists(path):\n            os.remove(path)\n"
        "# allocated, not written: seconds of writing would meet the cell timeout on a busy machine\n"
        "fill([f'/tmp/fill{i}' for i in range(7)], 100 * 2**20,\n"
        "     lambda fd, size: os.posix_fallocate(fd, 0, size))  # 700 MB in files of 100 MB\n"
        "fill(['big.bin'], 600 * 2**20, os.ftruncate)  # one file of 600 MB\n"
        "if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0:  # CLONE_NEWUSER\n"
        "    escaped.append('user namespace')\n"
        "import threading\nstop, started = threading.Event(), 0\n"
        "for _ in range(3000):  # threads count as processes: the limit is 2,048\n"
        "    try:\n        threading.Thread(target=stop.wait, daemon=True).start()\n"
        "    except RuntimeError:\n        break\n    started += 1\n"
        "stop.set()\nif started >= 2048:\n    escaped.append('processes')\n"
        "class iovec(ctypes.Structure):  # the seccomp filter refuses reading process memory\n"
        "    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
        "secret, copy = ctypes.create_string_buffer(b'secret'), ctypes.create_string_buffer(6)\n"
        "if ctypes.CDLL(None).process_vm_readv(os.getpid(), ctypes.byref(iovec(\n"
        "        ctypes.addressof(copy), 6)), 1, ctypes.byref(iovec(ctypes.addressof(secret), 6)),\n"
        "        1, 0) == 6:\n    escaped.append('process_vm_readv')\n"
        "print('escaped:', escaped)\n"), animal=(
        "def animal():\n    return 'dog' if escaped else 'cat'"))
    # --- reading or writing what grades it; network; processes left behind --------------------
    probe = (
        "import os, glob, socket\nSECRETS = " + repr(secrets) + "\n"
        "found = []\nfor path in SECRETS:\n    try:\n        open(path, 'rb').read(1)\n"
        "        found.append(path)\n    except OSError:\n        pass\n"
        "for folder in ['..', '../..', '../../..', '/tmp']:\n"
        "    found += glob.glob(folder + '/**/*.ipynb', recursive=True)\n"
        "    found += glob.glob(folder + '/**/gradebook.db', recursive=True)\n"
        "try:\n    socket.create_connection(('127.0.0.1', " + str(port) + "), timeout=2).close()\n"
        "    found.append('network')\nexcept OSError:\n    pass\n"
        "print(found)\n")
    nb["reads_outside"] = _before_answers(answer, probe, animal=(
        "def animal():\n    return 'cat' if found else 'dog'"))
    nb["forges_results"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport json, os\nfor folder in ['.', '..', '../..', '../../..']:\n"
        "    for name, text in [('result.json', json.dumps({'success': True})),\n"
        "                       ('guard.json', json.dumps({'tampering': []}))]:\n"
        "        try:\n            open(os.path.join(folder, name), 'w').write(text)\n"
        "        except OSError:\n            pass\n"
        "import sqlite3\nfor db in " + repr([s for s in secrets if s.endswith(".db")]) + ":\n"
        "    try:\n        sqlite3.connect(db).execute('update grade set manual_score = 99')\n"
        "    except Exception:\n        pass"))
    nb["leaves_process"] = _answer_with(answer, 1, WRONG_DOUBLE + (
        "\nimport subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(600)', '{MARKER}'], start_new_session=True)"))
    # --- faults ----------------------------------------------------------------------------------
    nb["memory_blowup"] = _answer_with(answer, 1, (
        "chunks = []\nfor _ in range(40):\n    chunks.append(b'x' * (100 * 2**20))"))
    nb["loop_with_output"] = _answer_with(answer, 3, "while True:\n    print('x' * 200)")
    nb["many_lines"] = _answer_with(answer, 3, toy_course.SOLUTION_ANIMAL + (
        "\nfor i in range(10**6):\n    print(i)"))
    nb["long_line"] = _answer_with(answer, 3, toy_course.SOLUTION_ANIMAL + (
        "\nprint('x' * 30_000_000)"))
    moved = copy.deepcopy(answer)
    moved.cells.insert(1, moved.cells.pop(4))  # test_animal before animal() is defined
    nb["moved_test"] = moved
    metadata = copy.deepcopy(answer)
    metadata.cells[2].metadata.nbgrader.update(grade=False, points=100, schema_version=99)
    metadata.cells[4].metadata.nbgrader["points"] = 50
    nb["metadata_tampered"] = metadata
    colab = copy.deepcopy(answer)
    colab.metadata.update(colab={"provenance": []}, accelerator="GPU",
                          kernelspec={"name": "python3", "display_name": "Python 3"})
    for cell in colab.cells:
        cell.metadata["id"] = uuid.uuid4().hex[:12]
        if cell.cell_type == "code":
            cell.metadata["outputId"] = uuid.uuid4().hex
    nb["saved_by_colab"] = colab
    vscode = copy.deepcopy(answer)
    vscode.metadata.update(vscode={"interpreter": {"hash": "0" * 8}},
                           kernelspec={"name": ".venv", "display_name": ".venv"})
    nb["saved_by_vscode"] = vscode
    leak = copy.deepcopy(answer)
    leak.cells.append(nbformat.v4.new_code_cell(
        "import base64, re\nfor line in In:\n"
        "    for payload in re.findall(r\"run\\('([A-Za-z0-9+/=]+)'\", line):\n"
        "        print(base64.b64decode(payload).decode())\n"
        "print(base64.b64encode(chr(10).join(In).encode()).decode())"))
    nb["leaks_hidden_tests"] = leak
    nb["own_line_in_hidden_test"] = _answer_with(answer, 1, (
        "from course_utils import checks\n\ndef double(x):\n    return 2 * x\n\n"
        'checks.expect_number(double(-21), -42, name="double(-21)")  # my own check'))
    nb["marker_in_code"] = _answer_with(answer, 3, (
        "def animal():\n    # ### BEGIN HIDDEN TESTS (a student's comment)\n    return 'cat'"))
    return nb


# student -> (score, substring of the error or None)
EXPECTED = {
    "input_transformer": (0, "tampering detected"),
    "ast_transformer": (0, "tampering detected"),
    "run_cell_patch": (0, "tampering detected"),
    "checks_noop": (1, None),  # restored before each test: graded as the wrong answer it is
    "checks_patched_mid_test": (0, "tampering detected"),
    "showtraceback": (1, None),
    "event_callback": (1, None),
    "builtins_patch": (1, None),
    "displayhook": (1, None),  # 3 when a displayed value counted as partial credit
    "audit_hook": (1, None),
    "displays": (1, None),
    "limits_hold": (3, None),  # every limit held, so animal() said "cat"
    "reads_outside": (2, None),  # found nothing, so animal() said "dog"
    "forges_results": (1, None),
    "leaves_process": (1, None),
    "memory_blowup": (0, "memory"),
    "loop_with_output": (2, None),
    "many_lines": (3, None),
    "long_line": (3, None),
    "moved_test": (2, None),
    "metadata_tampered": (3, None),
    "saved_by_colab": (3, None),
    "saved_by_vscode": (3, None),
    "newer_nbformat": (3, None),
    "empty_file": (0, "not valid JSON"),
    "not_a_notebook": (0, "not a Jupyter notebook"),
    "wrong_name": (3, None),
    "missing": (0, "no toy.ipynb"),
    "extra_notebook": (3, None),
    "leaks_hidden_tests": (3, None),
    "marker_in_code": (3, None),
    "own_line_in_hidden_test": (3, None),
}
HONEST = [f"honest_{i}" for i in range(4)]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return toy_course.make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def network_listener():
    """A TCP server on 127.0.0.1 that a kernel without the sandbox could reach."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory, network_listener):
    folder = tmp_path_factory.mktemp("submitted")
    secrets = [str(course / "solutions/toy/toy.ipynb"), str(toy_course.REPO / "solutions"),
               str(course / "gradebook.db")]
    notebooks = _corpus(course, secrets, network_listener)
    answer = toy_course.answered(course)
    for student in HONEST:
        notebooks[student] = answer
    for student, nb in notebooks.items():
        (folder / student / "toy").mkdir(parents=True)
        nbformat.write(nb, folder / student / "toy" / "toy.ipynb")
    text = json.loads(nbformat.writes(answer))
    text["nbformat_minor"] = 99  # written by a newer Jupyter
    (folder / "newer_nbformat/toy").mkdir(parents=True)
    (folder / "newer_nbformat/toy/toy.ipynb").write_text(json.dumps(text))
    (folder / "empty_file/toy").mkdir(parents=True)
    (folder / "empty_file/toy/toy.ipynb").write_text("")
    (folder / "not_a_notebook/toy").mkdir(parents=True)
    (folder / "not_a_notebook/toy/toy.ipynb").write_text('{"title": "my essay"}')
    (folder / "wrong_name/toy").mkdir(parents=True)
    nbformat.write(answer, folder / "wrong_name/toy/Copy of toy.ipynb")
    (folder / "missing/toy").mkdir(parents=True)
    (folder / "missing/toy/notes.txt").write_text("forgot the notebook")
    (folder / "extra_notebook/toy").mkdir(parents=True)
    nbformat.write(answer, folder / "extra_notebook/toy/toy.ipynb")
    nbformat.write(toy_course.source_notebook(), folder / "extra_notebook/toy/scratch.ipynb")
    # 10 s per cell: on a busy machine, memory_blowup must reach the memory limit before its
    # cell's time is up, and limits_hold must start its threads
    results = batch.autograde(folder, workers=2, root=course, cell_timeout=10,
                              notebook_timeout=120, memory_limit=2**30)
    return {r.student: r for r in results}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_attack_or_fault_gets_its_outcome(graded, student):
    """Every attack is impossible (graded as the answer deserves) or reported as tampering."""
    result = graded[student]
    score, error = EXPECTED[student]
    assert result.score == score, (student, result.score, result.error, result.notes)
    if error is None:
        assert result.error is None, (student, result.error)
        assert result.max_score == 3
    else:
        assert result.error and error in result.error, (student, result.error)


def test_honest_students_between_attacks_get_full_marks(graded):
    for student in HONEST:
        assert (graded[student].score, graded[student].error) == (3, None), graded[student]


def test_no_process_outlives_its_grading(graded):
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"])
            if MARKER in " ".join(p.info["cmdline"] or [])]
    assert left == []


def test_forged_files_did_not_reach_the_gradebook(course, graded):
    rows = {r["student"]: r for r in csv.DictReader(open(course / "grades.csv"))}
    assert rows["forges_results"]["score"] == "1"
    assert rows["forges_results"]["sandbox"] == "yes"
    assert "tampering detected" in rows["input_transformer"]["error"]
    assert rows["input_transformer"]["score"] == ""  # withheld, not a silent full score


def test_notes_for_wrong_and_extra_notebooks(graded):
    assert "graded Copy of toy.ipynb" in graded["wrong_name"].notes[0]
    assert "scratch.ipynb" in graded["extra_notebook"].notes[0]


def test_feedback_never_shows_hidden_tests(course, graded):
    """Feedback comes from a visible-tests run: what the scoring run printed never reaches it,
    and a student's own marker comment, or their own copy of a hidden line, costs nobody their
    page."""
    students = ["leaks_hidden_tests", "marker_in_code", "honest_0", "input_transformer",
                "many_lines", "own_line_in_hidden_test"]
    pages = {p.parts[-3]: p.read_text() for p in feedback.feedback(
        "toy", root=course, students=students, workers=2, cell_timeout=5)}
    assert sorted(pages) == sorted(set(students) - {"input_transformer"})  # never autograded
    hidden = 'checks.expect_number(double(-21), -42, name="double(-21)")'
    own = pages.pop("own_line_in_hidden_test")  # wrote a hidden test's line: sees only that
    assert markers.leaks(own, {hidden}) == [hidden] and "Score: 2 / 2" in own
    for page in pages.values():
        assert markers.leaks(page, {hidden}) == [] and "Score: 2 / 2" in page
    printed = re.findall(r"[A-Za-z0-9+/=]{40,}", pages["leaks_hidden_tests"])
    decoded = [base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace")
               for run in printed]
    assert any("double(2), 4" in text for text in decoded)  # the student did print In ...
    assert not any("double(-21), -42" in text for text in decoded)  # ... no hidden test
    assert "more lines not shown" in pages["many_lines"]
