"""A JupyterLab server and a headless Chromium driven by Selenium, for tests/browser.

The server is the one ``make lab`` starts (this virtualenv's ``jupyter lab``), bound to 127.0.0.1
with a random token, on a temporary copy of the course so that running and saving notebooks
leaves the repository untouched. The browser is Debian's ``chromium`` with its own
``chromedriver`` (same package version, so the driver always matches the browser); nothing here
downloads a browser or a driver.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The flags that work headless as root in a container; every profile is a fresh folder.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000"]

# User settings for this run only: no news or update checks (they would reach the network and
# pop a toast over the screenshots). Everything else is JupyterLab's default.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def strict() -> bool:
    """True in CI (``CI`` set) or with ``COURSE_STRICT=1``: a missing browser fails, never skips."""
    return any(os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
               for name in ("CI", "COURSE_STRICT"))


def find_browser() -> tuple[str | None, str | None]:
    """Return the paths of Chromium and chromedriver, None where missing (``CHROMIUM`` and
    ``CHROMEDRIVER`` override the names looked up on ``PATH``)."""
    found = [shutil.which(os.environ.get(variable) or name)
             for variable, name in (("CHROMIUM", "chromium"), ("CHROMEDRIVER", "chromedriver"))]
    return found[0], found[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running ``jupyter lab`` (start with :meth:`start`, always :meth:`stop`)."""

    def __init__(self, root: Path, env: dict[str, str], log: Path):
        self.root, self.env, self.log_path = root, env, log
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> None:
        state = self.root.parent / "jupyter"
        settings = state / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(self.env,
                   JUPYTER_CONFIG_DIR=str(state / "config"),  # not the user's ~/.jupyter
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1",
                   "--port", str(self.port), "--ServerApp.port_retries=0",
                   f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root}"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log = self.log_path.open("w")
        # its own process group, so that stop() can end the server and anything it started;
        # cwd = the course root, as with `make lab` (nbgrader's Validate reads nbgrader_config.py
        # from the server's working folder)
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n"
                                   + self.log_tail())
            try:
                self.api("GET", "status")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the server's REST API; return the decoded JSON (None for an empty answer)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def url(self, path: str, workspace: str) -> str:
        """The address that opens ``path`` in a workspace of its own (no tabs restored)."""
        return f"{self.base}/lab/workspaces/{workspace}/tree/{path}?token={self.token}"

    def shutdown_kernels(self) -> None:
        """End every kernel session; a server that is gone has none (its log says why)."""
        try:
            for session in self.api("GET", "sessions"):
                self.api("DELETE", f"sessions/{session['id']}")
        except (OSError, urllib.error.URLError):
            pass

    def stop(self) -> None:
        """Shut down kernels and server; SIGTERM then SIGKILL the process group if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self.api("POST", "shutdown")  # stops its kernels too
                self.process.wait(30)
            except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.log.close()


def start_chromium(chromium: str, chromedriver: str, profile: Path, log: Path) -> Any:
    """A headless Chromium through Debian's chromedriver (explicit paths: no Selenium Manager)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=chromedriver, log_output=str(log))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(30)
    return driver


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.5) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # the page may be re-rendering: try again
            last_error = error
        time.sleep(poll)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
