"""``make demo`` runs the whole product on embedded defaults (its own PostgreSQL, a file-system broker), and
Ctrl-C or SIGTERM stops every child process and the PostgreSQL server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen_to_ctrl_c() -> None:
    # A shell's background job starts with Ctrl-C ignored, and its children inherit that; a terminal's
    # foreground process does not ignore it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def postgres_processes_of(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(folder) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_demo_serves_the_dashboard_and_a_stop_signal_stops_everything(postgres_folder, stop_signal):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    env["COLDCHAIN_DATA_DIR"] = str(postgres_folder)  # embedded defaults: PostgreSQL, file-system broker
    port, simulator_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port), "--simulator-port", str(simulator_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=listen_to_ctrl_c,
    )
    output = []
    try:
        for line in demo.stdout:
            output.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(output)
        password = re.search(r"Log in as 'demo' with password '([^']+)'", text).group(1)
        session = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                login = session.get(f"http://127.0.0.1:{port}/login/", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, text
                time.sleep(0.3)
        assert login.status_code == 200
        answer = session.post(
            f"http://127.0.0.1:{port}/login/",
            data={
                "username": "demo",
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"http://127.0.0.1:{port}/login/"},
            timeout=10,
        )
        assert answer.status_code == 200 and "Overview" in answer.text
        assert f"Database: embedded PostgreSQL in {postgres_folder / 'postgres'}" in text
        server = postgres_processes_of(postgres_folder / "postgres")
        assert server, "no PostgreSQL server runs in the demo's data folder"
        # The first sync brings the T&D account's RTR500B remote units, one of them reading volts.
        deadline = time.monotonic() + 90
        while True:
            overview = session.get(f"http://127.0.0.1:{port}/", timeout=10).text
            if "Cold room B" in overview and "Channel 1 (V)" in overview:
                break
            assert time.monotonic() < deadline, "the demo shows no RTR500B remote unit"
            time.sleep(1)

        # The excursion report is built by the demo's worker, on the embedded broker (issue 16).
        base = f"http://127.0.0.1:{port}"
        today = time.strftime("%Y-%m-%d", time.gmtime())
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        asked = session.post(
            f"{base}/excursions/report/",
            data={"start": today, "end": tomorrow, "format": "csv"},
            headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/"},
            allow_redirects=False,
            timeout=30,
        )
        assert asked.status_code == 302, asked.text[:2000]
        deadline = time.monotonic() + 180
        while True:
            poll = session.get(base + asked.headers["Location"], headers={"HX-Request": "true"}, timeout=30)
            if poll.status_code == 286 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert poll.status_code == 286 and "Download excursion-report-" in poll.text, poll.text
    finally:
        children = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(demo.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        demo.send_signal(stop_signal)  # SIGINT: what Ctrl-C sends
        demo.wait(timeout=60)
    assert len(children) == 4, "simulators, web server, worker and beat"
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        ), f"child {pid} outlived the demo"
    assert demo.returncode == 0
    assert not postgres_processes_of(postgres_folder / "postgres"), "the demo's PostgreSQL outlived it"
    assert (postgres_folder / "postgres" / "PG_VERSION").exists(), "the data folder stays for the next demo"
