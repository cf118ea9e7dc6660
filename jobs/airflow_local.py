"""Local Airflow for users: `airflow standalone` on this project's DAGs.

    python -m tracelake.jobs.airflow_local [--project-dir .] [--port 8080] [--host 127.0.0.1]

AIRFLOW_HOME is `<project>/.airflow` (metadata DB, logs, generated passwords), the DAGs come from
`<project>/dags`, the example DAGs are off, and the task processes start in the project
directory so they read its `tracelake.toml` like the CLI does. The UI listens on loopback only
(`--host 0.0.0.0` to expose it). The tracelake DAGs start unpaused: locally, a DAG that waits for
someone to find its toggle looks broken. When the API server answers, the URL and the login are
printed; Ctrl-C stops everything within a few seconds.
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
DEFAULT_HOST = "127.0.0.1"
USER = "admin"
STARTUP_TIMEOUT_S = 180
# After Ctrl-C: how long Airflow's components get to stop before they are killed.
STOP_GRACE_S = 5.0


def airflow_env(
    project_dir: Path,
    port: int = DEFAULT_PORT,
    base: dict[str, str] | None = None,
    host: str = DEFAULT_HOST,
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
            "AIRFLOW__API__HOST": host,
            # Local mode only: new DAGs start unpaused (the only DAGs here are tracelake's).
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
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
    parser.add_argument("--host", default=DEFAULT_HOST, help="UI bind address (loopback)")
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
    env = airflow_env(project, args.port, host=args.host)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    url = f"http://{shown}:{args.port}"
    print(f"starting Airflow (AIRFLOW_HOME={env['AIRFLOW_HOME']}, DAGs from {project / 'dags'})")
    # Its own session: Ctrl-C reaches only this process, which then stops Airflow's whole
    # process group itself, instead of every component printing its own KeyboardInterrupt.
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "standalone"],
        env=env,
        cwd=project,
        start_new_session=True,
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # then never turns Ctrl-C into KeyboardInterrupt: this command promises that Ctrl-C stops it.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        up = _wait_until_up(url, proc, STARTUP_TIMEOUT_S)
        if not up and proc.poll() is None:
            print(f"Airflow did not answer at {url} within {STARTUP_TIMEOUT_S} s; still waiting")
            # A loaded machine can take minutes: keep waiting, the login is what people need.
            up = _wait_until_up(url, proc, float("inf"))
        if up:
            print(f"\nAirflow is up: {url}\n{login_line(project)}\nCtrl-C stops it.\n", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("stopping Airflow ...", flush=True)
        stop_group(proc)
        print("Airflow stopped.", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_group(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Stop a process group: SIGTERM, then SIGKILL whatever is left after `grace_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its children may not be: one more pass kills them.
        if sig is signal.SIGTERM:
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
