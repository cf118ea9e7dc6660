"""Local Airflow for users: `airflow standalone` on this project's DAGs.

    python -m tracelake.jobs.airflow_local [--project-dir .] [--port 8080]

AIRFLOW_HOME is `<project>/.airflow` (metadata DB, logs, generated passwords), the DAGs come from
`<project>/dags`, the example DAGs are off, and the task processes start in the project
directory so they read its `tracelake.toml` like the CLI does. When the API server answers, the
URL and the login are printed; Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .errors import ConfigError

DEFAULT_PORT = 8080
USER = "admin"
STARTUP_TIMEOUT_S = 180


def airflow_env(
    project_dir: Path, port: int = DEFAULT_PORT, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment `airflow standalone` runs with (pure: no side effects)."""
    project_dir = project_dir.resolve()
    home = project_dir / ".airflow"
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(project_dir / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            # Parse new DAG files quickly while someone is editing them.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        }
    )
    # `airflow standalone` starts its components as `airflow ...` subprocesses: the venv's
    # bin folder must be on PATH even when nobody activated the venv (make airflow).
    venv_bin = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if venv_bin not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([venv_bin, path]) if path else venv_bin
    return env


def passwords_file(project_dir: Path) -> Path:
    return project_dir.resolve() / ".airflow" / "simple_auth_manager_passwords.json.generated"


def login_line(project_dir: Path) -> str:
    path = passwords_file(project_dir)
    try:
        passwords = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return f"login: user {USER}, password in {path} once Airflow has written it"
    return f"login: user {USER}, password {passwords.get(USER, '?')}"


def _wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                return True
        except OSError:
            time.sleep(2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracelake airflow", description=__doc__.split("\n")[0])
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    project = args.project_dir.resolve()
    try:
        if not (project / "dags").is_dir():
            raise ConfigError(
                f"no dags/ folder in {project}; run this from the tracelake project directory "
                "or pass --project-dir"
            )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    env = airflow_env(project, args.port)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    url = f"http://localhost:{args.port}"
    print(f"starting Airflow (AIRFLOW_HOME={env['AIRFLOW_HOME']}, DAGs from {project / 'dags'})")
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, cwd=project)
    try:
        if _wait_until_up(url, proc, STARTUP_TIMEOUT_S):
            print(f"\nAirflow is up: {url}\n{login_line(project)}\nCtrl-C stops it.\n", flush=True)
        elif proc.poll() is None:
            print(f"Airflow did not answer at {url} within {STARTUP_TIMEOUT_S} s; still waiting")
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
