"""docker-compose.yml and the Dockerfile cannot drift from the shop's code (issue 17).

Docker is not available here, so: the compose file is checked against the Compose
Specification's JSON schema (vendored in tests/data), and every service must run the
entry point and environment that ``make demo`` runs on the host
(``examples/shop/services.py``), apart from placement (Redis address, bind addresses).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from examples.shop.services import ENTRY_MODULES, PLACEMENT, SERVICES
from fastq.devredis import free_port

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def _dockerfile_entrypoint() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    (line,) = [x for x in lines if x.startswith("ENTRYPOINT ")]
    return list(json.loads(line.removeprefix("ENTRYPOINT ")))


def _validator() -> jsonschema.protocols.Validator:
    jsonschema.Draft201909Validator.check_schema(SCHEMA)
    return jsonschema.Draft201909Validator(SCHEMA)


def test_the_compose_file_follows_the_compose_specification() -> None:
    errors = [e.message for e in _validator().iter_errors(_compose())]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "api", "commandx"), ["x"]),  # unknown key
        (("services", "redis", "ports"), 6379),  # wrong type
        (("services", "worker", "depends_on"), {"redis": {"condition": 1}}),
    ],
)
def test_the_schema_check_rejects_a_broken_compose_file(path: tuple[str, ...], value: Any) -> None:
    doc = _compose()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(_validator().iter_errors(doc))


def test_every_shop_service_runs_in_compose_with_the_hosts_command_and_environment() -> None:
    services = _compose()["services"]
    image_entrypoint = _dockerfile_entrypoint()
    for name, svc in SERVICES.items():
        compose = services[name]
        argv = [*compose.get("entrypoint", image_entrypoint), *compose.get("command", [])]
        assert tuple(argv) == svc.argv, name
        env = {k: str(v) for k, v in compose["environment"].items() if k not in PLACEMENT}
        assert env == svc.env, name
        assert compose["environment"]["FASTQ_REDIS_URL"] == "redis://redis:6379/0"


def test_the_host_runs_the_same_main_as_each_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for script, module in ENTRY_MODULES.items():
        if script in scripts:
            target = scripts[script]
        else:
            (ep,) = importlib.metadata.entry_points(group="console_scripts", name=script)
            target = ep.value
        target_module, func = target.split(":")
        spec = importlib.util.find_spec(f"{module}.__main__")
        assert spec is not None and spec.origin is not None, module
        source = Path(spec.origin).read_text()
        # `python -m <module>` calls the console script's function.
        uses = f"from {target_module} import {func}" in source or (
            target_module == f"{module}.main" and f"{module}.{func}()" in source
        )
        assert uses, (script, target, spec.origin)


def test_the_image_builds_a_wheel_then_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = ["FROM " + s for s in text.split("\nFROM ")[1:]]
    assert len(stages) == 2 and " AS build" in stages[0].splitlines()[0]
    assert "pip wheel" in stages[0] and "--from=build /wheels" in stages[1]
    users = [x.split()[1] for x in stages[1].splitlines() if x.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "\nHEALTHCHECK " in stages[1]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_prometheus_profile_config_is_valid() -> None:
    compose = _compose()["services"]["prometheus"]
    assert compose["profiles"] == ["monitoring"]
    host_path = compose["volumes"][0].split(":")[0]
    p = subprocess.run(
        ["promtool", "check", "config", str(ROOT / host_path)], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_metrics_service_command_serves_metrics_when_run_on_the_host(redis_url: str) -> None:
    compose = _compose()["services"]["metrics"]
    argv = [*compose["entrypoint"], *compose["command"]]
    assert argv[:2] == ["fastq", "metrics"] and compose["profiles"] == ["monitoring"]
    port = free_port()
    args = argv[2:]
    args[args.index("--host") + 1] = "127.0.0.1"  # placement: loopback here
    args[args.index("--port") + 1] = str(port)
    env = dict(os.environ, FASTQ_REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", ENTRY_MODULES["fastq"], "metrics", *args], env=env, cwd=ROOT
    )
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "fastq_queue_metrics_up 1.0" in body, body[:500]  # it reached the Redis
    finally:
        proc.terminate()
        proc.wait(20)
