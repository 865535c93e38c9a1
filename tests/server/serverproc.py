"""A real ``streamlit run app.py`` subprocess on a free port with its own data folder (no browser)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(data: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "COHORTLENS_DATA_DIR": str(data), "COHORTLENS_BOOTSTRAP": "0",
           "COHORTLENS_LANGUAGE": "en", "COHORTLENS_SOURCE": "demo", "COHORTLENS_TIMEZONE": "UTC",
           "COHORTLENS_LLM_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    for k in ("MONGODB_URI", "MOODLE_URL", "GEMINI_API_KEY", "COHORTLENS_ADMIN_PASSWORD",
              "CLUSTER_JOB_SCHEDULE", "CLUSTER_JOB_ENABLED"):
        env.pop(k, None)
    env.update(extra)
    return env


class Server:
    """``streamlit run app.py --server.headless true`` with stdout/stderr in ``data/server.log``."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data, self.env = data, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data / "server.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds until ``/_stcore/health`` answered ``ok``."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2).read() == b"ok":
                    return time.monotonic() - t0
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"no answer on /_stcore/health in {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                timeout: float = 30.0) -> tuple[int, dict[str, str], Any]:
        """(status, headers, parsed JSON body) of one real HTTP request."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, headers, raw = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, headers, raw = err.code, dict(err.headers), err.read()
        return status, headers, json.loads(raw.decode("utf-8"))

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, as a service manager would; returns the exit code (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self._log.close()
                return None
        self._log.close()
        return self.proc.returncode
