"""The deployment files say what docs/deployment.md promises.

No Docker engine or systemd runs here: what these tests check is what can be
checked without one, the settings that make a stop clean (exec form, PID 1,
TERM to the worker only, a grace longer than the worker's) and that every
file parses.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def test_compose_runs_the_worker_as_pid_1_from_a_built_image_with_healthchecks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert isinstance(worker["command"], list), "exec form: no shell between docker stop and the worker"
    assert all(v.endswith(":ro") for v in worker["volumes"]), "the checkout is never written to"
    assert "healthcheck" in compose["services"]["redis"]
    assert compose["services"]["resque-web"]["image"] == "ruby:3.3"


def test_the_dockerfile_installs_pyresque_and_runs_it_in_exec_form():
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["pyresque"]' in text and 'CMD ["work", "--requeue-on-term"]' in text
    assert 'HEALTHCHECK' in text and '"pyresque", "health"' in text
    assert "rm -rf /src" in text


def test_the_systemd_unit_terms_only_the_worker_and_waits_longer_than_it():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "pyresque-worker@.service")
    service = unit["Service"]
    assert service["KillMode"] == "mixed" and service["KillSignal"] == "SIGTERM"
    assert "RESQUE_TERM_TIMEOUT=25" in service["Environment"] and int(service["TimeoutStopSec"]) > 25
    assert service["ExecStart"].endswith("pyresque work --requeue-on-term")


def test_kubernetes_grace_is_longer_than_the_workers_and_liveness_uses_health():
    deployment = yaml.safe_load((DEPLOY / "kubernetes.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert pod["terminationGracePeriodSeconds"] > float(env["RESQUE_TERM_TIMEOUT"])
    assert container["livenessProbe"]["exec"]["command"][:2] == ["pyresque", "health"]
