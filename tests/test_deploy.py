"""The deployment files parse and agree with the gateway: the image runs the README's command (which
the CLI accepts), as a non-root user, with the default policy baked in; the compose file has PostgreSQL,
Redis, two replicas and a load balancer in front of both; the Kubernetes Deployment probes /readyz and
/healthz, mounts its policies from a ConfigMap that loads, and takes its secrets from a Secret. (No Docker
engine here: the image itself is not built.)"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from gateway.policy import load_policy_dir

REPO = Path(__file__).resolve().parents[1]


def dockerfile() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        m = re.match(r"^(ENTRYPOINT|CMD|USER|COPY)\s+(.*)$", line.strip())
        if m:
            out.setdefault(m.group(1), []).append(m.group(2).strip())
    return out


def image_command() -> list[str]:
    d = dockerfile()
    return json.loads(d["ENTRYPOINT"][-1]) + json.loads(d["CMD"][-1])


def test_the_image_runs_the_readme_command_as_a_non_root_user() -> None:
    cmd = image_command()
    readme = (REPO / "README.md").read_text()
    assert " ".join(shlex.quote(c) for c in cmd) in readme  # the same command, word for word
    from gateway.cli import build_parser

    args = build_parser().parse_args(cmd[1:])
    assert args.command == "serve" and args.host == "0.0.0.0" and args.policies == "/etc/open-router/policies"
    d = dockerfile()
    assert d["USER"][-1] not in ("root", "0")
    assert any("policies/default.policy /etc/open-router/policies/" in c for c in d["COPY"])


def test_the_installed_package_carries_its_grammar_and_migrations(tmp_path: Path) -> None:
    """The image installs with `pip install .` (not editable): the wheel must hold the non-Python files."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    versions = sorted(p.name for p in (REPO / "gateway" / "migrations" / "versions").glob("*.py"))
    assert "dsl/grammar.lark" in names and "gateway/migrations/script.py.mako" in names
    assert all(f"gateway/migrations/versions/{v}" in names for v in versions)


def test_compose_has_two_replicas_behind_a_load_balancer_with_postgres_and_redis() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    gateways = [n for n, s in services.items() if "build" in s or s.get("image", "").startswith("open-router")]
    assert len(gateways) == 2
    for n in gateways:
        env = services[n]["environment"]
        assert env["OPEN_ROUTER_DB"].startswith("postgresql://") and "@postgres:" in env["OPEN_ROUTER_DB"]
        assert env["OPEN_ROUTER_REDIS"].startswith("redis://redis:")
        assert "${POSTGRES_PASSWORD" in env["OPEN_ROUTER_DB"]  # from the environment, never written here
        assert any(v.endswith(":/etc/open-router/policies:ro") for v in services[n]["volumes"])
    assert services["postgres"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")
    lb = services["lb"]
    conf = (REPO / "deploy" / Path(lb["volumes"][0].split(":")[0]).name).read_text()
    assert all(re.search(rf"server {n}:8080", conf) for n in gateways)
    assert "proxy_buffering off" in conf


def test_the_kubernetes_example() -> None:
    docs = list(yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "open-router.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "Secret", "Deployment", "Service"}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["envFrom"][0]["secretRef"]["name"] == by_kind["Secret"]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/open-router/policies")
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert vol["configMap"]["name"] == by_kind["ConfigMap"]["metadata"]["name"]
    from gateway.cli import build_parser

    args = build_parser().parse_args(["serve", *c["args"]])
    assert float(args.drain_timeout) < pod["terminationGracePeriodSeconds"]
    assert args.policies == mount["mountPath"]


def test_the_configmap_policy_loads(tmp_path: Path) -> None:
    docs = yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "open-router.yaml").read_text())
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    for name, text in cm["data"].items():
        (tmp_path / name).write_text(text)
    loaded = load_policy_dir(tmp_path)
    assert loaded.version == load_policy_dir(REPO / "policies").version  # the default policy, as shipped
