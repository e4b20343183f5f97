"""The judge: test cells scored outside the student's kernel, from what the kernel saved.

A test cell whose metadata in the instructor's source notebook says ``{"course": {"judge":
NAME}}`` is not scored from its outputs. After nbgrader's autograde, :func:`apply` runs the
judge NAME of :data:`JUDGES` in a process of its own (``python -m course_utils.grading.judge``,
or a child forked by a :class:`Server`; outside the sandbox, with the data it hides), on the
files the kernel left in its working folder, copied out of the sandbox as the kernel shut down
(:func:`.sandbox.keep_outputs`). Two judges: ``experiment`` scores a saved model
(:mod:`course_utils.checks.experiment`), ``replay`` runs the instructor's tests on the answers
the kernel gave to the grader's questions (:mod:`.replay`). The judge's points become the
cell's automatic score in the gradebook and its lines become the cell's outputs, whatever the
kernel printed there. The judge process never runs code from the student; the metadata is read
from the template's source notebook, never from the submission.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import nbformat

from . import protocol
from .protocol import Judgement, Verdicts
from .repair import grade_id

__all__ = ["JUDGES", "TIMEOUT", "judged_cells", "sent_names", "check_state", "run_judge", "Server", "apply"]

# name -> module; the module's judge_cells(source, kept, grade_ids) returns {grade_id: verdict},
# a verdict being {"score": points} or {"passed": bool}, with "lines" (the cell's text), and
# "lost" (what cost points) or "error" ([name, message] of the failure).
JUDGES = {"experiment": "course_utils.checks.experiment",
          "replay": "course_utils.grading.replay"}
TIMEOUT = 300  # seconds for one judgement: loading TensorFlow, the backbone and the test photos
FORKS = sys.platform == "linux"  # forking after importing TensorFlow is safe on Linux only


def judged_cells(source: Path | nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> judge name, for the judged test cells of the notebook ``source`` (its path,
    or the notebook read)."""
    nb = source if isinstance(source, nbformat.NotebookNode) else nbformat.read(source, 4)
    cells = {}
    for cell in nb.cells:
        name = cell.get("metadata", {}).get("course", {}).get("judge")
        if name is not None:
            if name not in JUDGES:
                where = "the notebook" if nb is source else source.name
                raise ValueError(f"{where}: unknown judge {name!r} (known: {', '.join(JUDGES)})")
            cells[grade_id(cell)] = name
    return cells


def sent_names(source: Path | nbformat.NotebookNode) -> dict[str, list[str]]:
    """grade_id -> the notebook variables the kernel sends to the judge of that judged test
    cell (its metadata's ``{"course": {"sends": [...]}}``: ex07's reload test is sent the
    notebook's ``model``), for the judged cells that name some.

    Raises:
        ValueError: a name that is not a Python identifier.
    """
    nb = source if isinstance(source, nbformat.NotebookNode) else nbformat.read(source, 4)
    found = {}
    for cell in nb.cells:
        course = cell.get("metadata", {}).get("course", {})
        names = course.get("sends") if "judge" in course else None
        if names:
            if not isinstance(names, list) or not all(isinstance(n, str) and n.isidentifier()
                                                      for n in names):
                raise ValueError(f"{grade_id(cell)}: \"sends\" must list variable names, not "
                                 f"{names!r}")
            found[grade_id(cell)] = names
    return found


def check_state(source: Path) -> None:
    """Refuse a notebook in which a later cell reads a name that a judged test cell defines.

    Judged test cells do not run in the student's kernel (:class:`.execute.GuardedExecute`), so
    nothing after them may need what they define.

    Raises:
        ValueError: one line naming the cell, the name and the judged test.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    nb = nbformat.read(source, as_version=4)
    judged = judged_cells(nb)
    defined_by: dict[str, str] = {}  # name -> the judged test cell that defined it last
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = grade_id(cell) or f"cell {index + 1}"
        try:
            reads, binds = _names(TransformerManager().transform_cell(cell.source), where)
        except SyntaxError as exc:
            raise ValueError(f"{source.name}: {where} is not valid Python ({exc.msg})") from None
        if where in judged:
            defined_by.update(dict.fromkeys(binds, where))
            continue
        clash = sorted(reads & defined_by.keys())
        if clash:
            raise ValueError(f"{source.name}: {where} reads {clash[0]!r}, which the judged test "
                             f"{defined_by[clash[0]]} defines; judged tests do not run in the "
                             "student's kernel: define it in a cell that is not a test")
        for name in binds:
            defined_by.pop(name, None)


def _bound_first(node) -> list:
    """The names read in the body of ``node`` that ``node`` itself binds before its body runs:
    a ``for`` loop's target, a ``with``'s ``as`` names, an ``except ... as`` name."""
    import ast

    if isinstance(node, ast.ExceptHandler) and node.name:
        targets, body = [ast.Name(node.name)], node.body
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        targets, body = [node.target], node.body + node.orelse
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        targets, body = [item.optional_vars for item in node.items if item.optional_vars], \
            node.body
    else:
        return []
    names = {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return [n for statement in body for n in ast.walk(statement)
            if isinstance(n, ast.Name) and n.id in names]


def _names(code: str, where: str) -> tuple[set[str], set[str]]:
    """(global names ``code`` may read before it binds them itself, names it binds at its top
    level), from :mod:`symtable` (which names are global) and its top-level statements' order."""
    import ast
    import symtable

    table = symtable.symtable(code, where, "exec")
    reads, scopes = set(), [table]
    while scopes:  # read at the top level, or as a global by a function the cell defines
        scope = scopes.pop()
        reads |= {s.get_name() for s in scope.get_symbols()
                  if s.is_referenced() and (scope is table or s.is_global())}
        scopes += scope.get_children()
    early, bound = set(), set()
    for statement in ast.parse(code).body:
        nodes = list(ast.walk(statement))
        first = {id(name) for node in nodes for name in _bound_first(node)}
        early |= {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                  and id(n) not in first} - bound
        bound |= {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    binds = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    return reads & early, binds


def run_judge(name: str, source: Path, kept: Path, cells: list[str], timeout: int = TIMEOUT,
              server: Server | None = None) -> dict[str, dict]:
    """Judge ``cells`` of ``source`` on the files in ``kept``, in a process of its own: a verdict
    per grade_id (see :data:`JUDGES`), never an exception for what the student's kernel left.

    Args:
        server: a :class:`Server` to fork the judgement from; None starts a new process.

    Raises:
        RuntimeError: the judge itself failed (a bug, or a template it cannot read).
    """
    job = Judgement(name, str(source), str(kept), list(cells), timeout)
    reply = server.ask(job) if server is not None and FORKS else _ask_once(job)
    if reply.timed_out:
        return {gid: {"score": 0.0, "lines": [f"judging took more than {timeout} s"]}
                for gid in cells}
    if reply.failed is not None:
        raise RuntimeError(f"the {name} judge failed on {kept}: {reply.failed}")
    return {gid: reply.verdicts.get(gid, {"score": 0.0, "lines": ["this test did not run"]})
            for gid in cells}


def _ask_once(job: Judgement) -> Verdicts:
    """Judge ``job`` in a new ``python -m course_utils.grading.judge`` process."""
    from .processes import kernel_env

    line = io.StringIO()
    protocol.send(line, job)
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=line.getvalue(),
                              capture_output=True, text=True, timeout=job.timeout,
                              env=kernel_env())
    except subprocess.TimeoutExpired:
        return Verdicts(timed_out=True)
    return _reply(done.stdout, (done.stderr.strip().splitlines() or ["no message"])[-1])


def _reply(output: str, otherwise: str) -> Verdicts:
    """The :class:`Verdicts` on the last line of a judge process's ``output``; when there is
    none, ``otherwise`` is why the judge failed."""
    try:
        reply = protocol.receive(output.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Verdicts(failed=otherwise)
    return reply if isinstance(reply, Verdicts) else Verdicts(failed=otherwise)


def _judge(job: Judgement) -> Verdicts:
    """The reply to one judgement, computed in this process (when the judge raises, its
    traceback goes to stderr and its one line is the reply's ``failed``)."""
    try:
        module = importlib.import_module(JUDGES[job.name])
        return Verdicts(module.judge_cells(Path(job.source), Path(job.kept), job.cells))
    except Exception as exc:  # noqa: BLE001 (reported to the grader, which withholds the score)
        traceback.print_exc()
        return Verdicts(failed=f"{type(exc).__name__}: {exc}")


class Server:
    """A judge process kept for many judgements (``python -m course_utils.grading.judge serve``).

    It imports the judges, nbformat and Keras (with TensorFlow) once, then forks a new child for
    each judgement: a judgement costs what running the instructor's notebook costs, without the
    seconds TensorFlow takes to import, and none sees what another left (the child exits after
    one). Forking is used on Linux only (:data:`FORKS`); elsewhere :func:`run_judge` starts a
    process per judgement. Not thread-safe: one judgement at a time.
    """

    START = 120  # seconds the server may take to import its libraries, on a busy machine

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server process, unless it runs: it imports while the caller does other
        work (the student's notebook running), and :meth:`ask` starts it when needed."""
        from .processes import kernel_env

        if FORKS and (self._proc is None or self._proc.poll() is not None):
            self._proc = subprocess.Popen([sys.executable, "-m", __name__, "serve"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                          env=kernel_env())

    def ask(self, job: Judgement) -> Verdicts:
        """The reply to ``job`` (see :func:`_judge`)."""
        self.start()
        try:
            protocol.send(self._proc.stdin, job)
            if select.select([self._proc.stdout], [], [], job.timeout + self.START)[0]:
                reply = protocol.receive(self._proc.stdout.readline())
                if isinstance(reply, Verdicts):
                    return reply
        except (BrokenPipeError, ValueError):
            pass
        self.close()
        return Verdicts(failed="the judge process stopped answering")

    def close(self) -> None:
        """Stop the server process (a judgement in progress with it)."""
        from .processes import kill_tree

        proc, self._proc = self._proc, None
        if proc is not None:
            kill_tree(proc.pid)
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                stream.close()


def _serve() -> int:
    """The server's loop: one :class:`Judgement` per line of stdin, one :class:`Verdicts` per
    line of stdout."""
    for module in ("nbformat", "IPython.core.inputtransformer2", "keras", *JUDGES.values()):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    for line in sys.stdin:
        protocol.send(sys.stdout, _forked(_judgement(line)))
    return 0


def _judgement(line: str) -> Judgement:
    """The :class:`Judgement` on ``line``; ValueError for anything else."""
    job = protocol.receive(line)
    if not isinstance(job, Judgement):
        raise ValueError(f"a judge takes judgements, not {type(job).__name__}")
    return job


def _forked(job: Judgement) -> Verdicts:
    """:func:`_judge` in a forked child, killed after ``job.timeout`` seconds."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing it prints may reach the server's stdout
        try:
            os.close(read_end)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            with os.fdopen(write_end, "w") as out:
                protocol.send(out, _judge(job))
        finally:
            os._exit(0)  # never back into the server's loop, whatever the judgement raised
    os.close(write_end)
    deadline, chunks = time.monotonic() + job.timeout, []
    with os.fdopen(read_end, "rb") as pipe:
        while select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return Verdicts(timed_out=True)
    os.waitpid(pid, 0)
    return _reply(b"".join(chunks).decode(errors="replace"),
                  "the judge's process ended without a verdict")


def apply(source: Path, graded: Path, db: Path, kept: Path, assignment: str,
          student: str, server: Server | None = None) -> list[str]:
    """Judge ``source``'s judged cells for one graded submission (with ``server``, when given).

    Writes each judged cell's score into the gradebook ``db`` and replaces the cell's outputs
    in the autograded notebook ``graded``. Returns one note per judge that ran.
    """
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    cells = judged_cells(source)
    if not cells:
        return []
    verdicts: dict[str, dict] = {}
    for name in sorted(set(cells.values())):
        verdicts.update(run_judge(name, source, kept, [g for g, n in cells.items() if n == name],
                                   server=server))
    nb = nbformat.read(graded, as_version=4)
    total = 0.0
    with Gradebook(db_url(db)) as gb:
        for gid, found in verdicts.items():
            grade = gb.find_grade(gid, graded.stem, assignment, student)
            score = grade.max_score if found.get("passed") else float(found.get("score", 0))
            grade.auto_score = min(float(score), float(grade.max_score))
            total += grade.auto_score
            for cell in nb.cells:
                if grade_id(cell) == gid:
                    cell.outputs = [_stream("\n".join(found["lines"]) + "\n")] \
                        if found.get("lines") else []
                    cell.outputs += _failure(found, grade.auto_score, grade.max_score)
        gb.db.commit()
    nbformat.write(nb, graded)
    return [f"{len(verdicts)} test cell(s) judged outside the sandbox: {total:g} points"]


def _failure(found: dict, score: float, max_score: float) -> list:
    """The error output of a judged cell that lost points (none when it did not)."""
    if score >= max_score:
        return []
    if found.get("error"):
        ename, message = found["error"]
    else:
        ename = "JudgedOutside"
        message = f"{score:g} of {max_score:g} points; " + "; ".join(found.get("lost", []))
    return [nbformat.v4.new_output("error", ename=ename, evalue=message,
                                   traceback=[f"{ename}: {message}"])]


def _stream(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _main(argv: list[str]) -> int:
    """``python -m course_utils.grading.judge``: judge the JSON job read from stdin and print the
    reply as one JSON line; ``... judge serve``: :class:`Server`'s side."""
    if argv == ["serve"]:
        return _serve()
    protocol.send(sys.stdout, _judge(_judgement(sys.stdin.read())))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
