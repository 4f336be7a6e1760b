"""Headless Chromium for the browser tests (the HTML report, the docs site): where it is, whether a test
must have it, and a small DevTools-protocol client to load pages, click and measure them.

The client talks to Chromium over `--remote-debugging-pipe` (JSON messages ending in a NUL byte on file
descriptors 3 and 4): no port to find or share, no websocket library to install — the protocol is the one
Puppeteer and Playwright speak, used here for the few commands the tests need.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium and sets this, so the browser tests run there and a failed install is a failure.
REQUIRE_CHROMIUM = os.environ.get("NNCMP_REQUIRE_CHROMIUM") == "1"
needs_chromium = pytest.mark.skipif(CHROMIUM is None and not REQUIRE_CHROMIUM,
                                    reason="headless Chromium is not installed (Debian: apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]
PLACE_PIPES = ("import os, sys; r, w = map(int, sys.argv[1:3]); os.dup2(r, 3); os.dup2(w, 4); os.close(r); "
               "os.close(w); os.execv(sys.argv[3], sys.argv[3:])")


def _high(fd: int) -> int:
    """A copy of `fd` numbered 10 or more, so that putting one pipe at fd 3 cannot overwrite the other."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium and one page (a tab) driven through the DevTools protocol."""

    def __init__(self, profile: Path, width: int = 1920, height: int = 1080, timeout: float = 60.0):
        assert CHROMIUM, "headless Chromium is not installed (Debian: apt-get install chromium)"
        self.timeout, self._next, self._buffer, self.events = timeout, 0, b"", []
        to_chrome, self._send = (_high(fd) for fd in os.pipe())
        self._receive, from_chrome = (_high(fd) for fd in os.pipe())
        # Chromium reads commands from fd 3 and writes to fd 4: a small Python puts the pipes there and execs
        # it (a POSIX shell's redirections reach only fds 0-9, and subprocess cannot renumber a passed fd).
        cmd = [sys.executable, "-c", PLACE_PIPES, str(to_chrome), str(from_chrome), CHROMIUM, *FLAGS,
               "--remote-debugging-pipe", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               "about:blank"]
        self.process = subprocess.Popen(cmd, pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()  # no Chromium left behind by a start that failed
            raise

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command (to the page's session if `session`) and wait for its answer."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        answer = self._wait(lambda m: m.get("id") == self._next)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def _wait(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read messages until one is `wanted`; keep the page's events on the way."""
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._receive], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout} s")
            chunk = os.read(self._receive, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.poll()})")
            self._buffer += chunk

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _loaded(self, act: Callable[[], object]) -> None:
        """Do `act` (which starts a navigation) and wait until the new document has loaded."""
        self.events.clear()
        act()

        def load(m: dict[str, Any]) -> bool:
            return m.get("method") == "Page.loadEventFired" and m.get("sessionId") == self.session

        if not any(load(m) for m in self.events):  # it may have come while `act` waited for its answer
            self._wait(load)

    def open(self, url: str) -> None:
        self._loaded(lambda: self.call("Page.navigate", session=True, url=url))

    def click(self, element: str) -> None:
        """Click the element a JavaScript expression gives, as a reader would, and wait for the page it opens."""
        self._loaded(lambda: self.evaluate(f"({element}).click()"))

    def exceptions(self) -> list[str]:
        """The uncaught script errors since the last page load."""
        return [e["params"]["exceptionDetails"].get("exception", {}).get("description", str(e["params"]))
                for e in self.events if e.get("method") == "Runtime.exceptionThrown"]

    def failed_loads(self) -> list[str]:
        """The URLs the page (or its scripts) asked for and did not get, since the last page load."""
        urls = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"}
        return [urls.get(e["params"]["requestId"], "?") for e in self.events
                if e.get("method") == "Network.loadingFailed"]

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):  # it may be gone already
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._send)
        os.close(self._receive)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
