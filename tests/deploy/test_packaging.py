"""The pinned requirements, the Dockerfile and docker-compose.yml agree with the code and each other."""

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS_ENV = {f"PADDLE_SERVE_{name.upper()}" for name in Settings.model_fields}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _third_party_imports(*folders: str) -> set[str]:
    names: set[str] = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"app", "models", "training", "__future__"}


def _compose_api() -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["api"]
    return service


def test_serving_pins_are_the_constraints_pins() -> None:
    serve, constraints = _pins(REPO / "requirements/serve.txt"), _pins(REPO / "requirements/constraints.txt")
    assert {name: constraints.get(name) for name in serve} == serve


def test_every_declared_dependency_is_pinned_within_its_bounds() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    serve, constraints = _pins(REPO / "requirements/serve.txt"), _pins(REPO / "requirements/constraints.txt")
    extras = [dep for group in ("train", "dev") for dep in project["optional-dependencies"][group]]
    for pins, deps in ((serve, project["dependencies"]), (constraints, extras)):
        for requirement in map(Requirement, deps):
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is declared in pyproject.toml but not pinned: run scripts/lock.sh"
            assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_image_installs_every_package_the_service_imports() -> None:
    serve = _pins(REPO / "requirements/serve.txt")
    owners = importlib.metadata.packages_distributions()
    for module in sorted(_third_party_imports("app", "models")):
        dists = {canonicalize_name(d) for d in owners.get(module, [module])}
        assert dists & set(serve), f"app/ or models/ imports {module}, which requirements/serve.txt lacks"


def test_dockerfile_installs_deps_before_code_and_runs_unprivileged() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#") and line[0].isupper()]
    assert instructions[0] == "FROM python:3.11-slim"
    order = [i for i, line in enumerate(instructions) if line.startswith(("COPY", "USER", "CMD"))]
    copies = [instructions[i] for i in order]
    assert copies[0].startswith("COPY requirements/serve.txt") and copies[-1].startswith("CMD")
    user = next(line for line in instructions if line.startswith("USER")).split()[1]
    assert user.split(":")[0] not in {"0", "root"}
    cmd = [line for line in instructions if line.startswith("CMD")][-1]  # the last: not HEALTHCHECK's
    assert json.loads(cmd.removeprefix("CMD ")) == ["python", "-m", "app"]  # exec form: SIGTERM reaches it
    healthcheck = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    assert "/readyz" in lines[healthcheck + 1]
    assert {m for m in re.findall(r"PADDLE_SERVE_\w+", "\n".join(lines))} <= SETTINGS_ENV


def test_dockerignore_admits_only_what_the_image_copies() -> None:
    rules = [r for r in (REPO / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "*"
    assert {r for r in rules if r.startswith("!")} == {"!requirements/serve.txt", "!app/", "!models/"}


def test_compose_runs_the_api_locked_down() -> None:
    api = _compose_api()
    assert api["read_only"] is True
    assert api["cap_drop"] == ["ALL"] and "cap_add" not in api and not api.get("privileged")
    assert api["security_opt"] == ["no-new-privileges:true"]
    assert [t.split(":")[0] for t in api["tmpfs"]] == ["/tmp"]
    assert "user" not in api or api["user"].split(":")[0] not in {"0", "root"}


def test_compose_healthcheck_restart_limits_and_settings() -> None:
    api = _compose_api()
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert api["restart"] == "unless-stopped"
    assert set(api["deploy"]["resources"]["limits"]) == {"cpus", "memory"}
    assert api["ports"] == ["${PADDLE_SERVE_HOST_PORT:-8000}:8000"]
    assert set(api["environment"]) <= SETTINGS_ENV


def test_k8s_settings_are_real_settings() -> None:
    deployment = yaml.safe_load((REPO / "deploy/k8s/deployment.yaml").read_text())
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {item["name"] for item in env} <= SETTINGS_ENV


def test_the_compose_tokens_overlay_reads_the_tokens_from_git_ignored_secret_files() -> None:
    overlay = yaml.safe_load((REPO / "deploy/compose.tokens.yml").read_text())
    api = overlay["services"]["api"]
    assert set(api["environment"]) == {"PADDLE_SERVE_ADMIN_TOKEN_FILE", "PADDLE_SERVE_API_TOKENS_FILE"}
    assert set(api["environment"]) <= SETTINGS_ENV
    for name in api["secrets"]:
        assert f"/run/secrets/{name}" in api["environment"].values()
        assert overlay["secrets"][name]["file"].startswith("${PADDLE_SERVE_SECRETS_DIR:-./secrets}/")
    assert "/secrets/" in (REPO / ".gitignore").read_text().splitlines()
