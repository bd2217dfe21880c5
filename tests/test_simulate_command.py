"""``manage.py simulate`` serves all five simulators on one port and prints how to reach them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from vendors.simulators import SLUGS

ROOT = Path(__file__).resolve().parent.parent


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "simulate", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "coldchain.settings"},
    )


def test_it_prints_one_line_per_vendor_and_serves_them_all():
    process = start("--seed", "3")
    try:
        lines = [json.loads(process.stdout.readline()) for _ in SLUGS]
        assert [line["vendor"] for line in lines] == list(SLUGS)
        by_vendor = {line["vendor"]: line for line in lines}
        assert set(by_vendor["tandd"]["credentials"]) == {"api_key", "login_id", "login_pass"}
        assert set(by_vendor["thingsee"]["credentials"]) == {"client_id", "client_secret"}
        assert set(by_vendor["trackgps"]["credentials"]) == {"email", "password"}
        assert set(by_vendor["trackunit"]["credentials"]) == {"token"}
        assert set(by_vendor["thermotrack"]["credentials"]) == {"api_key"}
        base = by_vendor["thermotrack"]["base_url"]
        answer = requests.post(
            f"{base}/API/post_api.php",
            data={"method": "equip_list", "format": "json", **by_vendor["thermotrack"]["credentials"]},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["equipments"]
        unit = requests.get(f"{by_vendor['trackunit']['base_url']}/Unit", auth=("API", "wrong"), timeout=10)
        assert unit.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_its_faults_can_be_changed_while_it_runs():
    process = start("--vendors", "trackunit", "--faults", "error_rate=1")
    try:
        line = json.loads(process.stdout.readline())
        base, token = line["base_url"], line["credentials"]["token"]
        assert requests.get(f"{base}/Unit", auth=("API", token), timeout=10).status_code in (500, 503)
        control = base.rsplit("/", 1)[0] + "/_control/trackunit/faults"
        assert requests.post(control, json={"error_rate": 0}, timeout=10).json()["error_rate"] == 0
        assert requests.get(f"{base}/Unit", auth=("API", token), timeout=10).status_code == 200
        assert requests.post(control, json={"nonsense": 1}, timeout=10).status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_it_refuses_an_unknown_fault_clearly():
    process = start("--faults", "meteor_strike=1")
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "unknown fault 'meteor_strike'" in err
    assert "Traceback" not in err
