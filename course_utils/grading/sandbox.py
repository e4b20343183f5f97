"""Start grading kernels: guarded always, and inside a bubblewrap sandbox by default.

:class:`GuardedKernelManager` starts :mod:`.kernel` (IPython with the test guard's snapshot)
instead of the kernelspec's command. :class:`SandboxedKernelManager` starts the same kernel
under bubblewrap (``bwrap``, 0.8 or later): its own user (nobody), PID, network, IPC and UTS
namespaces, no further user namespaces (``--disable-userns``), no capabilities,
``--die-with-parent``, the system and the Python environment read-only, the ``course_utils``
package (and nothing else of the repository) read-only, Keras's cache read-only, a private
``/tmp`` of at most :data:`TMP_BYTES`, resource limits set by ``prlimit`` (processes, file size,
CPU time, no core files; see :data:`PROCESSES`), a ``pids`` cgroup where the grader may create one
(:mod:`.cgroups`: the process limit then holds for a grader running as root too), a seccomp
filter where libseccomp is available (:mod:`.syscalls`), ELPV's test photos hidden
(:func:`hidden_paths`: the graded experiment is judged on them outside), and one writable folder
holding only the files the kernel's working directory had besides notebooks; the ``.keras``
files the kernel saved there are copied out as it shuts down (:func:`keep_outputs`). It talks
to the grader over unix sockets (jupyter's ``ipc`` transport) in a folder bound into the
sandbox; nothing else is shared. The environment is cleared except for a short allow-list
(:data:`PASSED_ENV`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from . import cgroups, syscalls
from .replay import ANSWERS

__all__ = ["PASSED_ENV", "KEPT_PATTERNS", "GuardedKernelManager", "SandboxedKernelManager",
           "manager_class",
           "bwrap_command", "hidden_paths",
           "copy_assignment_files", "keep_outputs"]

# Environment variables a sandboxed kernel may see (everything else is cleared).
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY",
              "PYTHONWARNINGS", "MPLBACKEND", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
              "TF_NUM_INTEROP_THREADS", "CUDA_VISIBLE_DEVICES", "PYDEVD_DISABLE_FILE_VALIDATION",
              "COURSE_OFFLINE", "COURSE_PROFILE", "COURSE_KERNEL_PRELOAD")
# Read-only folders the kernel may read, when set: Keras's cache and the course's weights/data.
READ_ONLY_ENV = ("KERAS_HOME", "COURSE_WEIGHTS_DIR", "COURSE_DATA_DIR")
# Limits inside the sandbox (README, "The grading sandbox: what student code can and cannot
# do"): /tmp is a tmpfs of TMP_BYTES, and prlimit sets, for the kernel and all it starts, at most
# PROCESSES processes and threads of its user (not enforced when the grader runs as root: the
# kernel's user is root outside; a pids cgroup of PROCESSES then limits the kernel's processes,
# where one can be created), files of at most FILE_BYTES, CPU_SECONDS of CPU time per process,
# and no core dumps.
TMP_BYTES = 512 * 2**20
FILE_BYTES = 512 * 2**20
PROCESSES = 2048
CPU_SECONDS = 3600
# What a kernel's working folder hands to the grader when the kernel shuts down, for the judge
# (.judge) outside the sandbox: the answers to the replay judge's questions, models included
# (.replay), and the Keras models the student saved; pattern -> at most this many files.
KEPT_PATTERNS = {f"{ANSWERS}-*": 64, "*.keras": 4}
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")


def _read_only_paths() -> list[Path]:
    """What a kernel must read: the system, both Python prefixes, the package, Keras's cache."""
    import course_utils

    from ..paths import keras_home

    paths = [Path(p) for p in SYSTEM]
    paths += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent]
    paths.append(Path(course_utils.__file__).resolve().parent)
    paths.append(keras_home().resolve())
    paths += [Path(os.environ[name]).expanduser().resolve() for name in READ_ONLY_ENV[1:]
              if os.environ.get(name)]
    return [p for p in dict.fromkeys(paths) if p.exists()]


def hidden_paths(visible: list[Path] | None = None) -> list[Path]:
    """What a kernel must not read although it lies inside a read-only folder it sees: the ELPV
    package's images and labels, the ``test`` split of every ELPV folder built in the data
    folder with split seed 0 (the graded experiment's hidden test photos, which the judge reads
    outside) and every ELPV folder built with another seed (its train split holds them).

    Args:
        visible: the folders the sandbox shows (default :func:`_read_only_paths`); a path
            outside them is not visible anyway and is left out.
    """
    import json

    from ..data import elpv
    from ..data.datasets import MANIFEST
    from ..errors import DataError
    from ..paths import data_dir, package_file

    visible = _read_only_paths() if visible is None else visible
    found = []
    for folder in sorted(data_dir().resolve().glob("course-datasets/elpv-*")):
        try:
            seed = json.loads((folder / MANIFEST).read_text())["seed"]
        except (OSError, ValueError, KeyError, TypeError):  # half-built or foreign: all of it
            seed = None
        found.append(folder / "test" if seed == 0 else folder)
    try:
        found.append(package_file(elpv.PACKAGE, elpv.PIP_NAME, elpv.LABELS, DataError).parent)
    except DataError:  # not installed: nothing to hide
        pass
    found = [p.resolve() for p in found if p.is_dir()]
    return [p for p in found if any(p.is_relative_to(v) for v in visible)]


def bwrap_command(work: Path, runtime: Path, env: dict[str, str] | None = None,
                  seccomp: bool = False) -> list[str]:
    """The ``bwrap`` arguments that put a kernel in the sandbox (the kernel command follows).

    Args:
        work: the kernel's one writable folder and working directory.
        runtime: the folder holding the connection file and the ipc sockets.
        env: the environment the allow-listed variables are taken from (default: this
            process's).
        seccomp: install the seccomp filter that file descriptor :data:`.syscalls.FD` holds
            (:func:`.syscalls.with_filter` opens it).
    """
    from ..paths import keras_home

    env = os.environ if env is None else env
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--unshare-user",
            "--disable-userns", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    if seccomp:
        args += ["--seccomp", str(syscalls.FD)]
    visible = _read_only_paths()
    for path in visible:
        args += ["--ro-bind", str(path), str(path)]
    for path in hidden_paths(visible):  # an empty, read-only folder in its place
        args += ["--tmpfs", str(path), "--remount-ro", str(path)]
    for path in (work, runtime):
        args += ["--bind", str(path), str(path)]
    args += ["--chdir", str(work), "--clearenv",
             "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "--setenv", "HOME", str(work), "--setenv", "TMPDIR", "/tmp",
             "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
             "--setenv", "KERAS_HOME", str(keras_home().resolve())]
    for name in (*PASSED_ENV, *READ_ONLY_ENV[1:]):
        if env.get(name):
            args += ["--setenv", name, env[name]]
    return [*args, "--", "prlimit", f"--nproc={PROCESSES}", f"--fsize={FILE_BYTES}",
            f"--cpu={CPU_SECONDS}", "--core=0", "--"]


def _not_plain(folder: str, names: list[str]) -> list[str]:
    """``copytree`` filter: skip sockets, pipes and devices (only files and folders are copied)."""
    return [n for n in names if not (Path(folder, n).is_file() or Path(folder, n).is_dir())]


def copy_assignment_files(source: Path, work: Path) -> None:
    """Copy the files a kernel may see from ``source`` into ``work`` (made if missing).

    Never a notebook, a hidden file, a socket or a device, and never ``work`` itself when it lies
    inside ``source``; links are copied as the files they point to.
    """
    work.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.suffix == ".ipynb" or item.name.startswith(".") \
                or work.resolve().is_relative_to(item.resolve()):
            continue
        if item.is_dir():
            shutil.copytree(item, work / item.name, symlinks=False, ignore=_not_plain)
        elif item.is_file():  # a socket or a device is neither: not copied
            shutil.copy(item, work / item.name)


def keep_outputs(work: Path, into: Path) -> list[str]:
    """Copy the files in ``work`` matching :data:`KEPT_PATTERNS` into ``into`` (made when needed).

    Only regular files of at most :data:`FILE_BYTES`, never a link, a pipe or a device, and at
    most the pattern's number of files (a file counts for the first pattern it matches):
    ``work`` is the student's. Returns the names copied.
    """
    import stat

    copied: list[str] = []
    chosen: list[Path] = []
    for pattern, most in KEPT_PATTERNS.items():
        chosen += [p for p in sorted(work.glob(pattern)) if p not in chosen][:most]
    for path in chosen:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # a link, or gone
            continue
        with os.fdopen(fd, "rb") as source:
            info = os.fstat(source.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > FILE_BYTES:
                continue
            into.mkdir(parents=True, exist_ok=True)
            with open(into / path.name, "wb") as target:
                shutil.copyfileobj(source, target)
        copied.append(path.name)
    return copied


class GuardedKernelManager(AsyncKernelManager):
    """Start :mod:`course_utils.grading.kernel` (the guarded IPython kernel), unsandboxed.

    When ``keep`` names a folder, the models the kernel saved in its working folder are copied
    there as it shuts down (:func:`keep_outputs`), for the judge.
    """

    keep: str | None = None
    _work: Path | None = None

    async def _async_pre_start_kernel(self, **kw):
        self._work = Path(kw.get("cwd") or os.getcwd())
        return await super()._async_pre_start_kernel(**kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        if self.keep and self._work is not None and not restart:
            keep_outputs(self._work, Path(self.keep))
        await super()._async_cleanup_resources(restart=restart)

    cleanup_resources = _async_cleanup_resources  # AsyncKernelManager binds the base's otherwise

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The guarded kernel's command line (the kernelspec's ``argv`` is not used)."""
        return [sys.executable, "-m", "course_utils.grading.kernel", "-f",
                os.path.realpath(self.connection_file), *(extra_arguments or [])]


class SandboxedKernelManager(GuardedKernelManager):
    """Start the guarded kernel inside bubblewrap (see the module docstring)."""

    boxes: str | None = None  # the folder sandboxes are made in (None: the system's temporary
    # folder); a grading process sets it once (.child.serve)
    _box: Path | None = None
    _runtime: Path | None = None
    _env: dict[str, str] | None = None
    _cgroup: Path | None = None
    _filter: Path | None = None

    async def _async_pre_start_kernel(self, **kw):
        source = Path(kw.pop("cwd", None) or os.getcwd())
        self._box = Path(tempfile.mkdtemp(prefix="sandbox-", dir=self.boxes)).resolve()
        work = self._box / "work"
        # The sockets' paths must stay under 107 characters (sockaddr_un): a short folder.
        self._runtime = Path(tempfile.mkdtemp(prefix="ck-", dir="/tmp" if Path("/tmp").is_dir()
                                              else None))
        runtime = self._runtime
        copy_assignment_files(source, work)
        self._cgroup = cgroups.make(PROCESSES)
        self._filter = syscalls.write_filter(self._box / "seccomp.bpf")  # outside work: unseen
        self.transport = "ipc"
        self.ip = str(runtime / "kernel")
        self.connection_file = str(runtime / "kernel.json")
        self.kernel_spec.interrupt_mode = "message"  # bwrap does not pass SIGINT on
        kw["cwd"] = str(work)
        kw["env"] = self._env = {k: v for k, v in (kw.get("env") or os.environ).items()
                                 if k != "JPY_PARENT_PID"}
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """``bwrap`` with the sandbox's arguments, then the guarded kernel's command line."""
        assert self._box is not None, "pre_start_kernel sets up the sandbox folders first"
        command = [*bwrap_command(self._box / "work", self._runtime, self._env,
                                  seccomp=self._filter is not None),
                   *super().format_kernel_cmd(extra_arguments)]
        if self._filter is not None:
            command = syscalls.with_filter(self._filter, command)
        return command if self._cgroup is None else cgroups.join_command(self._cgroup, command)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._box is not None and not restart:
            if self._cgroup is not None:
                cgroups.remove(self._cgroup)  # and whatever the kernel left running in it
                self._cgroup = None
            shutil.rmtree(self._box, ignore_errors=True)
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._box = self._runtime = None

    cleanup_resources = _async_cleanup_resources  # AsyncKernelManager binds the base's otherwise


def manager_class(sandboxed: bool) -> type[GuardedKernelManager]:
    """The kernel manager for a grading kernel: in the bubblewrap sandbox or, when the instructor
    asked for none (``--no-sandbox``), guarded only."""
    return SandboxedKernelManager if sandboxed else GuardedKernelManager
