"""The deployment files agree with each other and with the README (issue 18).

`make lint` validates them against their schemas (infra/check_deploy.py);
tests/test_runtime_image.py runs the image's commands. These tests keep the operator's
view consistent: one list of variables, one migrate command, one web command.
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def readme_variables() -> set[str]:
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", section, re.MULTILINE)) | set(
        re.findall(
            r"`([A-Z][A-Z0-9_]+)`",
            "\n".join(row.split("|")[1] for row in section.splitlines() if row.startswith("| `")),
        )
    )


def k8s_documents(path: str) -> list[dict]:
    documents = []
    for file in (ROOT / path).rglob("*.yaml"):
        documents += [d for d in yaml.safe_load_all(file.read_text()) if d]
    return documents


def test_env_example_lists_every_documented_variable():
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "env_example.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    example = (ROOT / ".env.example").read_text()
    missing = {
        name for name in readme_variables() if not re.search(rf"^#? ?{name}=", example, re.M)
    }
    assert not missing


def test_every_variable_the_deployment_sets_is_documented():
    compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())
    names = set(compose["x-app"]["environment"])
    for document in k8s_documents("infra/k8s"):
        if document.get("kind") == "ConfigMap":
            names |= set(document["data"])
    for generator in yaml.safe_load(
        (ROOT / "infra/k8s/overlays/production/kustomization.yaml").read_text()
    ).get("configMapGenerator", []):
        names |= {literal.split("=", 1)[0] for literal in generator.get("literals", [])}
    assert names - readme_variables() == set()


def test_compose_and_kubernetes_migrate_and_run_alike():
    compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())["services"]
    [job] = [d for d in k8s_documents("infra/k8s/migrate") if d.get("kind") == "Job"]
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["command"] == compose["migrate"]["command"]
    )
    deployments = {
        d["metadata"]["name"]: d
        for d in k8s_documents("infra/k8s/base")
        if d.get("kind") == "Deployment"
    }
    assert deployments["beat"]["spec"]["replicas"] == 1
    assert deployments["beat"]["spec"]["strategy"]["type"] == "Recreate"
    web = deployments["web"]["spec"]["template"]["spec"]
    # Open answers get uvicorn's graceful timeout, after the preStop pause, before a kill.
    graceful = int(
        next(d for d in k8s_documents("infra/k8s/base") if d.get("kind") == "ConfigMap")["data"][
            "GRACEFUL_TIMEOUT"
        ]
    )
    pause = int(web["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert web["terminationGracePeriodSeconds"] > graceful + pause
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--timeout-graceful-shutdown ${GRACEFUL_TIMEOUT" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert web["securityContext"]["runAsUser"] == 10001
