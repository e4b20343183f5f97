"""The grading kernel's seccomp filter: refused system calls fail with EPERM, NumPy still runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from course_utils.grading import preflight, sandbox, syscalls

pytestmark = pytest.mark.grading

# Reads 6 bytes of its own memory through process_vm_readv, then runs NumPy.
PROBE = """
import ctypes, os
import numpy as np
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
secret, copy = ctypes.create_string_buffer(b"secret"), ctypes.create_string_buffer(6)
libc = ctypes.CDLL(None, use_errno=True)
read = libc.process_vm_readv(os.getpid(), ctypes.byref(iovec(ctypes.addressof(copy), 6)), 1,
                             ctypes.byref(iovec(ctypes.addressof(secret), 6)), 1, 0)
print(read, os.strerror(ctypes.get_errno()) if read < 0 else copy.raw.decode(),
      int(np.arange(4).sum()))
"""


def _run(tmp_path, with_filter: bool) -> str:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    command = [*sandbox.bwrap_command(tmp_path, tmp_path, seccomp=with_filter), sys.executable,
               str(script)]
    if with_filter:
        bpf = syscalls.write_filter(tmp_path / "seccomp.bpf")
        if bpf is None:
            pytest.skip("libseccomp or its Python binding is not installed")
        command = syscalls.with_filter(bpf, command)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_filter_refuses_what_the_sandbox_alone_allows(tmp_path):
    if preflight.unavailable_reason():
        pytest.skip(preflight.unavailable_reason())
    assert _run(tmp_path, with_filter=False) == "6 secret 6"
    assert _run(tmp_path, with_filter=True) == "-1 Operation not permitted 6"
