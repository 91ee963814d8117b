"""The real Supervisor around a stand-in worker body, for tests of the arbiter
mechanics only (signals, restarts, murder, recycling) without Redis traffic.

Behaviour comes from the environment:
  FAKE_EVENTS  file that gets one line per event: "<pid> <event> [detail]"
  FAKE_MODE    normal | boot_fail | stuck_once | recycle | crash_once | slow_stop | deaf
  FAKE_MARK    a path used by the *_once modes to act only the first time
The shipped `fastq-worker` never uses this: it always runs the real engine.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType
from typing import Any

from fastq.logging import configure_logging
from fastq.supervisor.childproc import PipeControl
from fastq.supervisor.cli import load_options
from fastq.supervisor.sdnotify import SdNotifier
from fastq.supervisor.supervisor import ChildBody, Supervisor
from fastq.worker.settings import WorkerSettings

MODE = os.environ.get("FAKE_MODE", "normal")
EVENTS = os.environ["FAKE_EVENTS"]
MARK = os.environ.get("FAKE_MARK", EVENTS + ".mark")


def record(*parts: object) -> None:
    line = " ".join(str(p) for p in (os.getpid(), *parts)) + "\n"
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def first_time() -> bool:
    try:
        os.close(os.open(MARK, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def fake_worker(app: Any, settings: WorkerSettings, index: int) -> ChildBody:
    def body(control: PipeControl) -> int:
        state: dict[str, Any] = {"stop": None, "quiet": False}

        def on(name: str) -> Any:
            def handler(signum: int, frame: FrameType | None) -> None:
                record(name)
                if name == "usr1":
                    state["quiet"] = True
                elif name == "term" and MODE == "slow_stop":
                    state["quiet"] = True  # "drains" until a QUIT arrives
                else:
                    state["stop"] = name

            return handler

        signal.signal(signal.SIGTERM, on("term"))
        signal.signal(signal.SIGQUIT, on("quit"))
        signal.signal(signal.SIGINT, on("int"))
        signal.signal(signal.SIGUSR1, on("usr1"))
        record("start", index, settings.concurrency)
        if MODE == "boot_fail" and index == 2:
            raise RuntimeError("this worker cannot start")
        processed = 0
        if MODE == "deaf":  # a hung drain: ignores TERM and never looks for its parent
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while state["stop"] is None:
            if MODE != "deaf" and not control.parent_alive():
                record("orphan")
                return 0
            busy = 0 if state["quiet"] else 1
            control.heartbeat(busy=busy, capacity=settings.concurrency, processed=processed)
            processed += 1
            if MODE == "recycle" and processed == 20:
                control.request_recycle("fake max tasks")
                record("recycle")
                return 0
            if MODE == "stuck_once" and index == 1 and processed == 5 and first_time():
                record("stuck")
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                while True:
                    time.sleep(1)
            if MODE == "crash_once" and index == 1 and processed == 5 and first_time():
                record("crash")
                os._exit(9)
            time.sleep(0.05)
        record("exit", state["stop"])
        return 0

    return body


def main() -> int:
    args = sys.argv[1:]

    def environ() -> dict[str, str]:
        return {"FASTQ_APP": "fake:app", **os.environ}

    options = load_options(args, environ())
    configure_logging(options.log_format, "debug")
    supervisor = Supervisor(
        options,
        object(),
        worker_factory=fake_worker,
        notifier=SdNotifier(),
        reloader=lambda: (load_options(args, environ()), object()),
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
