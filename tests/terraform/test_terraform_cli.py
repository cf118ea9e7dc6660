"""terraform fmt / validate / test, where a binary and the AWS provider are on the machine.

Knobs are TL_* variables (tests/conftest.py clears TRACELAKE_* ones): TL_TERRAFORM (binary),
TL_TERRAFORM_TESTS=1 (also run `terraform test`; `make terraform-test` sets it).

Nothing is downloaded: the provider comes from a local filesystem mirror
(TL_TF_PLUGIN_DIR, default /opt/tf-plugins, laid out as
registry.terraform.io/hashicorp/aws/<version>/<os_arch>/). The tree is copied to a temporary
directory first, so no .terraform or lock file lands in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from terraform.tfconfig import TERRAFORM

pytestmark = pytest.mark.slow

PLUGIN_DIR = Path(os.environ.get("TL_TF_PLUGIN_DIR", "/opt/tf-plugins"))
BINARY = os.environ.get("TL_TERRAFORM") or shutil.which("terraform") or shutil.which("tofu")
TESTED_MODULES = sorted(p.parent.parent for p in TERRAFORM.glob("modules/*/tests/*.tftest.hcl"))


def provider_available() -> bool:
    return any(PLUGIN_DIR.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*"))


needs_binary = pytest.mark.skipif(BINARY is None, reason="no terraform or tofu binary on PATH")
needs_provider = pytest.mark.skipif(
    BINARY is None or not provider_available(),
    reason=f"no terraform binary or no AWS provider mirror in {PLUGIN_DIR}",
)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BINARY, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("tf")
    shutil.copytree(TERRAFORM, root / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    config = root / "cli.tfrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{PLUGIN_DIR}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
    )
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    return root / "terraform", env


@needs_binary
def test_fmt_check(workspace):
    tree, env = workspace
    proc = run(["fmt", "-check", "-recursive", "-diff", "-no-color"], tree, env)
    assert proc.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{proc.stdout}"


def init_then(tree: Path, directory: str, env: dict[str, str], command: list[str]) -> str | None:
    """Initialise one configuration offline and run a command in it; an error text or None."""
    cwd = tree / directory
    env = {**env, "TF_DATA_DIR": str(cwd / ".terraform")}
    init = run(["init", "-backend=false", "-no-color"], cwd, env)
    if init.returncode != 0:
        return f"{directory}: init failed\n{init.stdout}\n{init.stderr}"
    proc = run([*command, "-no-color"], cwd, env)
    if proc.returncode != 0:
        return f"{directory}: {' '.join(command)} failed\n{proc.stdout}\n{proc.stderr}"
    return None


def run_all(tree: Path, env: dict[str, str], jobs: list[tuple[str, list[str]]]) -> None:
    # In parallel: each job waits mostly on the provider's start-up.
    with ThreadPoolExecutor(max_workers=2) as pool:
        errors = list(pool.map(lambda job: init_then(tree, job[0], env, job[1]), jobs))
    problems = [e for e in errors if e]
    assert not problems, "\n\n".join(problems)


@needs_provider
def test_validate_environments(workspace):
    """Both environments, and through the stack every module, against the provider schema."""
    tree, env = workspace
    run_all(tree, env, [(f"environments/{name}", ["validate"]) for name in ("dev", "prod")])


@needs_provider
@pytest.mark.skipif(
    os.environ.get("TL_TERRAFORM_TESTS") != "1",
    reason="terraform test takes minutes on 2 cores: `make terraform-test` runs it",
)
def test_module_terraform_tests(workspace):
    """`terraform test` of every module with tests: validation blocks refuse bad inputs (mocked
    provider); the iam policies are rendered by the real provider offline and checked."""
    tree, env = workspace
    assert len(TESTED_MODULES) >= 4
    run_all(tree, env, [(str(p.relative_to(TERRAFORM)), ["test"]) for p in TESTED_MODULES])
