"""Screenshot of the MLflow UI's runs/charts page of a study's experiment.

    .venv/bin/python tools/mlflow_screenshot.py --db results/mlflow.db --out docs/mlflow_runs.png

Starts ``mlflow server`` on 127.0.0.1 (a free port) on the sqlite database, makes sure the
experiment carries the model-training kind and the study view
(:mod:`unlearn_study.reporting.mlflow_view`; a database written before that existed gets the two
experiment tags now), opens :func:`mlflow_view.ui_url` in headless Chromium (Debian's
``chromium``) driven over the DevTools protocol on a pipe, waits until every chart of the
view has drawn, and writes a PNG. Exits non-zero, after writing what the page showed,
when the charts did not appear in time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unlearn_study.reporting import mlflow_view

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]

# localStorage the UI reads on load (useLocalStorage stores KEY_v1): keep the assistant
# panel, which opens itself on a first visit from localhost, closed.
LOCAL_STORAGE = {
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "mlflow.assistant.panelOpen_v1": "false",
    "mlflow.workflowType_v1": '"machine_learning"',
}

HIDE_TOOLBARS = """(() => { const s = document.createElement('style');
  s.textContent = '.modebar-container { display: none !important; }'; document.head.appendChild(s); })()"""

# What the page shows, polled until the charts are drawn.
PROBE = """(() => {
  const text = document.body ? document.body.innerText : "";
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return JSON.stringify({
    plots: plots.length,
    drawn: plots.filter(p => p.querySelector('.scatterlayer .trace, .barlayer .trace')).length,
    loading: document.querySelectorAll('[data-testid*="loading" i], .ant-skeleton, [class*="Skeleton"]').length,
    matching: (text.match(/(\\d+) matching runs/) || [null, null])[1],
    groups: (text.match(/Group(ed)? by/gi) || []).length,
    error: /share key|Error loading/i.test(text) ? text.slice(0, 300) : null,
  });
})()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=5).read()
            return
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def mlflow_server(uri: str, port: int, timeout: float = 120.0):
    """``mlflow server`` on 127.0.0.1:port, stopped on exit; yields its base URL."""
    mlflow = Path(sys.executable).parent / "mlflow"
    with tempfile.TemporaryDirectory(prefix="mlflow-ui-") as cwd, open(Path(cwd) / "server.log", "w+") as log:
        proc = subprocess.Popen(
            [
                str(mlflow) if mlflow.exists() else "mlflow",
                "server",
                "--backend-store-uri",
                uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--artifacts-destination",
                str(Path(cwd) / "artifacts"),
            ],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_http(base + "/health", timeout, proc)
            except Exception:
                log.seek(0)
                sys.stderr.write(log.read()[-3000:])
                raise
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class DevTools:
    """Chromium driven over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, NUL-separated JSON)."""

    def __init__(self, binary: str, user_data_dir: str, width: int, height: int):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # at 10 or above, so that putting them on 3 and 4 in the child overwrites neither
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        # a small exec wrapper puts the pipe ends on fds 3 and 4 (no preexec_fn: mlflow runs threads)
        wrapper = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.close(int(sys.argv[1])); os.close(int(sys.argv[2])); os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                wrapper,
                str(child_in),
                str(child_out),
                binary,
                *CHROMIUM_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={user_data_dir}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(child_in, child_out),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(child_in)
        os.close(child_out)
        self._next_id, self._buffer = 0, b""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            self.session,
        )
        self.call("Page.enable", {}, self.session)

    def _read_message(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict, session: str | None = None, timeout: float = 60.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:  # events are not needed: skip them
            reply = self._read_message(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session)
        return result.get("result", {}).get("value")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url}, self.session)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", {}, timeout=10)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)


# The splitter right of the run list: a tall 3 px "bar" (its classes are generated names).
RESIZE_HANDLE = """(() => {
  const bars = [...document.querySelectorAll('div.bar')].map(b => b.getBoundingClientRect())
    .filter(r => r.height > 200 && r.width < 20 && r.x > 150 && r.x < window.innerWidth / 2);
  return bars.length ? JSON.stringify({x: bars[0].x + bars[0].width / 2, y: bars[0].y + bars[0].height / 2}) : null;
})()"""


def widen_run_list(browser: DevTools, by: int) -> bool:
    """Drag the splitter between the run list and the charts ``by`` pixels to the right
    (the list is 295 px wide and not part of any stored view), so that run names are readable."""
    found = browser.evaluate(RESIZE_HANDLE)
    if not found or by <= 0:
        return False
    x, y = json.loads(found)["x"], json.loads(found)["y"]
    mouse = {"button": "left", "clickCount": 1}
    browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, browser.session)
    browser.call("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y, **mouse}, browser.session)
    for i in range(1, 11):
        browser.call(
            "Input.dispatchMouseEvent",
            {"type": "mouseMoved", "x": x + by * i / 10, "y": y, "buttons": 1},
            browser.session,
        )
    browser.call("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x + by, "y": y, **mouse}, browser.session)
    # and away, so that the splitter is not drawn highlighted
    browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 5, "y": 5}, browser.session)
    return True


def find_chromium(name: str | None) -> str:
    for candidate in [name] if name else ["chromium", "chromium-browser", "google-chrome"]:
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit("no Chromium found: apt-get install -y --no-install-recommends chromium")


def pick_experiment(client, name: str | None):
    if name:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise SystemExit(f"no experiment {name!r} in the store")
        return experiment
    # the experiment with the most runs (the store also holds MLflow's empty "Default")
    experiments = client.search_experiments()
    counted = [(len(client.search_runs([e.experiment_id], max_results=1000)), e) for e in experiments]
    return max(counted, key=lambda c: c[0])[1]


def wait_for_charts(browser: DevTools, expected: int, timeout: float) -> dict:
    """Poll until ``expected`` charts have drawn traces and stayed so for two polls."""
    deadline, last, stable = time.monotonic() + timeout, None, 0
    status = {}
    while time.monotonic() < deadline:
        status = json.loads(browser.evaluate(PROBE) or "{}")
        if status.get("error"):
            raise RuntimeError(f"the UI reports: {status['error']}")
        key = (status.get("plots"), status.get("drawn"))
        ready = status.get("drawn", 0) >= expected and not status.get("loading")
        stable = stable + 1 if ready and key == last else 0
        if stable >= 2:
            return status
        last = key
        time.sleep(1.0)
    raise TimeoutError(f"charts not drawn within {timeout:.0f} s: {status}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="sqlite tracking database (e.g. results/mlflow.db)")
    ap.add_argument("--out", required=True, type=Path, help="PNG to write")
    ap.add_argument("--experiment", help="experiment name (default: the one with the most runs)")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the charts")
    ap.add_argument("--chromium", help="browser binary (default: chromium on PATH)")
    ap.add_argument(
        "--widen-run-list",
        type=int,
        default=200,
        metavar="PX",
        help="drag the run list wider by PX so that run names are readable (0: leave it)",
    )
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = ap.parse_args(argv)

    db = Path(args.db).resolve()
    if not db.is_file():
        raise SystemExit(f"{db}: no such database")
    uri = f"sqlite:///{db}"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = pick_experiment(client, args.experiment)
    view = mlflow_view.DEFAULT_VIEW
    if not client.search_runs([experiment.experiment_id], filter_string=view.search_filter, max_results=1):
        raise SystemExit(f"experiment {experiment.name!r} has no runs matching {view.search_filter!r}: nothing to draw")
    for key, value in mlflow_view.tags_to_set(experiment.tags).items():
        client.set_experiment_tag(experiment.experiment_id, key, value)
    chromium = find_chromium(args.chromium)
    started = time.monotonic()
    with (
        mlflow_server(uri, args.port or free_port()) as base,
        tempfile.TemporaryDirectory(prefix="chromium-") as profile,
    ):
        url = mlflow_view.ui_url(base, experiment.experiment_id)
        browser = DevTools(chromium, profile, args.width, args.height)
        try:
            browser.navigate(base + "/health")  # same origin, no app: set localStorage first
            deadline = time.monotonic() + 30
            while browser.evaluate("document.readyState") != "complete" and time.monotonic() < deadline:
                time.sleep(0.2)
            browser.evaluate(
                ";".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)})" for k, v in LOCAL_STORAGE.items())
            )
            browser.navigate(url)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            try:
                status = wait_for_charts(browser, len(view.metrics), args.timeout)
            except (TimeoutError, RuntimeError) as e:
                browser.screenshot(args.out)
                print(f"{args.out}: written, but {e}", file=sys.stderr)
                return 1
            if widen_run_list(browser, args.widen_run_list):
                status = wait_for_charts(browser, len(view.metrics), args.timeout)
            # headless Chromium shows every chart's plotly tool bar (hover bar) at once: hide them
            browser.evaluate(HIDE_TOOLBARS)
            time.sleep(1.0)  # a frame to settle
            browser.screenshot(args.out)
        finally:
            browser.close()
    print(
        f"{args.out}: {url} ({status['drawn']} charts drawn, {status['matching']} matching runs, "
        f"{time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
