"""The seccomp filter of a sandboxed grading kernel: system calls it gets refused (EPERM).

A notebook kernel (IPython, NumPy, TensorFlow, Keras) never needs to trace or read another
process, load kernel modules, mount file systems, join or make namespaces, use keyrings, eBPF,
``perf_event_open``, ``userfaultfd`` or ``io_uring``, or set the clock. These calls are where
kernel exploits that escape a container usually start, so the sandbox refuses them with EPERM
(as Docker's default profile does for most of them); system calls of another architecture (the
32-bit ABI on a 64-bit machine) stop the process. The filter is compiled with libseccomp through
its Python binding (``seccomp``, or ``pyseccomp`` from PyPI, installed with the ``grading`` extra)
and bubblewrap installs it (``--seccomp``) just before the kernel starts. Where neither binding nor
libseccomp is available, :func:`write_filter` returns None and the sandbox runs without a filter,
as the README's sandbox section says.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["DENIED", "FD", "write_filter", "with_filter"]

FD = 9  # the file descriptor that holds the filter for bubblewrap's ``--seccomp``

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",  # other processes' memory
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "uselib",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "name_to_handle_at", "open_by_handle_at", "unshare", "setns",
    "add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "lookup_dcookie",
    "clock_settime", "clock_adjtime", "settimeofday", "iopl", "ioperm", "vhangup",
)


def _binding():
    """libseccomp's Python binding, or None."""
    for name in ("seccomp", "pyseccomp"):
        try:
            return __import__(name)
        except (ImportError, OSError):  # OSError: the binding found no libseccomp
            continue
    return None


def write_filter(path: Path) -> Path | None:
    """Compile the filter (BPF) into ``path``; None when libseccomp cannot be used here.

    Args:
        path: the file to write (not readable from inside the sandbox).

    Returns:
        ``path``, or None when no libseccomp binding is installed or libseccomp is missing.
    """
    seccomp = _binding()
    if seccomp is None:
        return None
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    except (OSError, RuntimeError):
        return None
    for name in DENIED:
        try:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):  # not a system call on this architecture
            continue
    with open(path, "wb") as handle:
        rules.export_bpf(handle)
    return path


def with_filter(path: Path, command: list[str]) -> list[str]:
    """``command`` started with the filter file open as file descriptor :data:`FD`."""
    return ["/bin/sh", "-c", f'exec "$@" {FD}<"$0"', str(path), *command]
