"""On a shared CPU, what nobody waits on gives way to the patient's path: the consoles and the
background queues' workers run at a lower priority than the webhooks, the handlers' own process,
connects and the clinical probe."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lifeline.redis_server import free_port
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DISPATCH
from tests.e2e.stack import BIN

COMMANDS = {
    "webhooks": (["web", "--serve", "webhooks"], 0),
    "floor": (["web", "--serve", "floor"], 0),
    "console": (["web", "--serve", "console"], 10),
    "worker-calls": (["worker", "--queues", "calls"], 0),
    "worker-callbacks": (["worker", "--queues", "callbacks"], 0),
    "worker-health": (["worker", "--queues", "health"], 0),
    "worker-clinical": (["worker", "--queues", "clinical"], 0),
    "worker-replay": (["worker", "--queues", "replay,housekeeping"], 10),
    "worker-simulations": (["worker", "--queues", "simulations"], 10),
}


def test_each_process_runs_at_the_priority_of_what_waits_on_it(
    redis_url: str, tmp_path: Path
) -> None:
    processes = {}
    try:
        for name, (arguments, _) in COMMANDS.items():
            port = free_port()
            env = {
                "PATH": os.environ.get("PATH", ""),
                "REDIS_URL": redis_url,
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
                "CLINICAL_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
                "PORT": str(port),
            }
            with (tmp_path / f"{name}.log").open("ab") as log:
                processes[name] = subprocess.Popen(
                    [str(BIN / "lifeline"), *arguments],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        # A process sets its priority before it does anything else: once it is serving (a
        # worker listening on its queues, a web process answering), it keeps the one it has.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        for name, process in processes.items():
            said = tmp_path / f"{name}.log"
            deadline = time.monotonic() + 30
            while not serving(name, said):
                assert process.poll() is None, said.read_text()
                assert time.monotonic() < deadline, said.read_text()
                time.sleep(0.1)
            expected = ours + COMMANDS[name][1]
            assert os.getpriority(os.PRIO_PROCESS, process.pid) == expected, name
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(10)


def serving(name: str, log: Path) -> bool:
    said = log.read_text(errors="replace")
    return ("Listening on" in said) if name.startswith("worker") else ("Uvicorn running" in said)
