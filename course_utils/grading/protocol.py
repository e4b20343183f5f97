"""The conversations between the grader and the processes it starts, as typed JSON lines.

*Grading*: the grader (:mod:`.workers`, used by :mod:`.runner` and :mod:`.feedback`) writes a
:class:`Job` as one JSON line on a grading process's stdin; the grading process (:mod:`.child`)
does it and answers on its stdout with a :class:`Spare` line when it has taken a kernel, then one
:class:`Outcome` line. The grading process classifies its own run (nbgrader's result, the test
guard's findings, a dead kernel, timed-out cells) since it is where the run happens; the grader
adds only what it alone sees (``Outcome.stopped``: it killed the run for time or memory). A
one-shot run is a grading process that handles one job.

*Judging*: the grader (:func:`.judge.run_judge`) writes a :class:`Judgement` to a judge process
(one per judgement, or a :class:`.judge.Server` that forks one), which never runs student code
and answers with one :class:`Verdicts` line.

A leaf of :mod:`course_utils.grading`: it imports nothing of the course, so both sides and the
Dask workers (:mod:`.cluster`, which ship :class:`Limits`) can read it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import IO

__all__ = ["CELL_TIMEOUT", "NOTEBOOK_TIMEOUT", "MEMORY_LIMIT", "KINDS", "Limits", "Job", "Spare",
           "Outcome", "Judgement", "Verdicts", "send", "receive"]

CELL_TIMEOUT = 120  # seconds per cell: sized for the exercises' training cells
NOTEBOOK_TIMEOUT = 300  # seconds for one student's whole notebook, kernel start included
MEMORY_LIMIT = 6 * 2**30  # bytes for one student's grading process tree (kernel included)
KINDS = ("generate", "autograde", "execute")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one job may use: seconds per cell, seconds in all, bytes of memory."""

    cell_timeout: int = CELL_TIMEOUT
    notebook_timeout: int = NOTEBOOK_TIMEOUT
    memory_limit: int = MEMORY_LIMIT

    def raised(self, asked: Mapping) -> Limits:
        """These limits with the time limits raised to what a source notebook asks for (its
        metadata's ``"course": {"cell_timeout": s, "notebook_timeout": s}``; never lowered)."""
        return dataclasses.replace(
            self, cell_timeout=max(self.cell_timeout, int(asked.get("cell_timeout", 0))),
            notebook_timeout=max(self.notebook_timeout, int(asked.get("notebook_timeout", 0))))


@dataclasses.dataclass(frozen=True)
class Job:
    """One thing for a grading process to do.

    ``kind`` is one of :data:`KINDS`:

    * ``generate``: ``nbgrader generate_assignment`` of ``assignment`` in the course ``root``;
    * ``autograde``: ``nbgrader autograde`` of ``student``'s ``assignment`` in the private course
      ``root``, in a kernel started with the assignment's ``files`` (its source folder) that
      imports ``preload`` (comma-separated modules) first;
    * ``execute``: run the notebook ``root`` in a fresh kernel, errors allowed, and write it
      back (the feedback page's visible-tests run).

    ``sandbox``: run the kernel in the bubblewrap sandbox.
    """

    kind: str
    root: str
    assignment: str = ""
    student: str = ""
    files: str = ""
    preload: str = ""
    sandbox: bool = True
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown job kind {self.kind!r}: one of {', '.join(KINDS)}")
        if isinstance(self.limits, Mapping):  # as read from a line
            object.__setattr__(self, "limits", Limits(**self.limits))


@dataclasses.dataclass(frozen=True)
class Spare:
    """The grading process took a kernel for the job; ``pid`` is the kernel booting for the
    next job (None when none is), whose memory the grader does not count."""

    pid: int | None = None


@dataclasses.dataclass
class Outcome:
    """How a job ended.

    Attributes:
        success: the job was done (for ``autograde``: nbgrader wrote the graded notebook and the
            test guard reported).
        error: why not, in one line (``stopped (time)`` when the grader killed the run).
        tampering: the test guard's findings (``autograde``): the score must be withheld.
        timed_out_cells: grade ids (or ``cell N``) of the cells interrupted at the cell limit.
        dead_kernel: the kernel died while running the notebook.
        stopped: ``"time"`` or ``"memory"`` when the grader killed the run (set on its side).
    """

    success: bool
    error: str | None = None
    tampering: list[str] = dataclasses.field(default_factory=list)
    timed_out_cells: list[str] = dataclasses.field(default_factory=list)
    dead_kernel: bool = False
    stopped: str | None = None


@dataclasses.dataclass(frozen=True)
class Judgement:
    """Judge the test cells ``cells`` (grade ids) of the source notebook ``source`` with the
    judge ``name`` (a key of :data:`.judge.JUDGES`) on the files the student's kernel left in
    ``kept``; the judgement may take ``timeout`` seconds."""

    name: str
    source: str
    kept: str
    cells: list[str]
    timeout: int


@dataclasses.dataclass
class Verdicts:
    """A judge's reply: ``verdicts`` maps a grade id to ``{"passed", "lines", "error", "score",
    "lost"}`` (see :data:`.judge.JUDGES`); or ``timed_out`` (the judgement ran past its
    timeout); or ``failed``, one line: the judge itself failed (a bug, or a template it cannot
    read), and the score is withheld."""

    verdicts: dict[str, dict] = dataclasses.field(default_factory=dict)
    timed_out: bool = False
    failed: str | None = None


Message = Job | Spare | Outcome | Judgement | Verdicts
MESSAGES = {cls.__name__: cls for cls in (Job, Spare, Outcome, Judgement, Verdicts)}


def send(stream: IO[str], message: Message) -> None:
    """Write ``message`` on ``stream`` as one JSON line, ``{"Job": {...}}``, and flush."""
    stream.write(json.dumps({type(message).__name__: dataclasses.asdict(message)}) + "\n")
    stream.flush()


def receive(line: str) -> Message:
    """The message on ``line`` (see :func:`send`).

    Raises:
        ValueError: not one of this protocol's messages, or a field it does not have.
    """
    try:
        (name, fields), = json.loads(line).items()
        return MESSAGES[name](**fields)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a grading message: {line.strip()[:200]!r} ({exc})") from None
