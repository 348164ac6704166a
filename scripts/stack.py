"""Set up and run the whole assistant: backend, action server, Rasa, web page.

Standard library only, so any Python 3.9+ runs it (make uses the tools venv)
and the end-to-end tests import it to start the same stack on other ports.

    python scripts/stack.py ensure-env     # write .env with random secrets once
    python scripts/stack.py train [--if-needed]
    python scripts/stack.py run            # start everything, Ctrl-C stops it
    python scripts/stack.py exec CMD...    # run CMD with the stack's environment
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA_PY = ROOT / ".venv" / "bin" / "python"
BACKEND_PY = ROOT / "backend" / ".venv" / "bin" / "python"
MODEL_NAME = "dispute-assistant"
TRAINING_INPUTS = ("data", "domain.yml", "config.yml")

# Secrets written to .env on first run. Each is a random value, never committed.
SECRET_NAMES = (
    "RASA_API_TOKEN",  # Rasa HTTP API (--auth-token)
    "ACTION_SERVER_TOKEN",  # Rasa -> action server
    "ASSISTANT_SERVICE_TOKEN",  # action server -> backend
    "STOREFRONT_SERVICE_TOKEN",  # web page -> backend
    "CONSOLE_SERVICE_TOKEN",  # operator console -> backend
    "CHAT_TOKEN_SECRET",  # signs the buyer's chat token
    "WEB_SESSION_SECRET",  # signs the web page's session cookie
    "CONSOLE_SESSION_SECRET",  # signs the operator console's session cookie
    "TELEGRAM_SECRET_TOKEN",  # Telegram -> Rasa: setWebhook's secret_token (docs/channels.md)
    "FACEBOOK_VERIFY_TOKEN",  # Messenger's webhook verification handshake
)

# The messaging channels are off while their tokens are empty (docs/channels.md). Rasa
# refuses a credentials.yml naming an unset ${VAR}, so each one is set, maybe to "".
CHANNEL_DEFAULTS = {
    "TELEGRAM_BOT_TOKEN": "",
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "FACEBOOK_APP_SECRET": "",
    "FACEBOOK_PAGE_ACCESS_TOKEN": "",
    "FACEBOOK_API_URL": "https://graph.facebook.com/v18.0",
    "FACEBOOK_MESSAGING_WINDOW_SECONDS": "86400",
}

DEFAULTS = {
    "HOST": "127.0.0.1",
    "PUBLIC_HOST": "localhost",
    "BACKEND_PORT": "8000",
    "ACTION_PORT": "5055",
    "RASA_PORT": "5005",
    "WEB_PORT": "8080",
    "CONSOLE_PORT": "8090",
    "VAR_DIR": "var",
    "APP_ENV": "development",
}


# The seeded operators and their console passwords (demo data, like the demo buyers).
DEMO_OPERATORS = (("op-marta", "marta-demo-pass"), ("op-jordi", "jordi-demo-pass"))


class StackError(Exception):
    """A failure the user can act on; its message says what to do."""


def load_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def ensure_env_file(path: Path = ROOT / ".env") -> bool:
    """Create `.env` with fresh random secrets, or add the ones it lacks."""
    existing = load_env_file(path)
    missing = [name for name in SECRET_NAMES if not existing.get(name)]
    if not missing:
        return False
    lines = [] if path.exists() else ["# Generated on first run; never commit this file.\n"]
    lines += [f"{name}={secrets.token_urlsafe(32)}\n" for name in missing]
    with path.open("a") as handle:
        handle.writelines(lines)
    path.chmod(0o600)
    return True


def build_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every service gets: defaults < .env < process env < overrides."""
    env = dict(DEFAULTS)
    env.update(load_env_file(ROOT / ".env"))
    env.update({k: v for k, v in os.environ.items()})
    env.update(overrides or {})
    var_dir = Path(env["VAR_DIR"])
    if not var_dir.is_absolute():
        var_dir = ROOT / var_dir
    env["VAR_DIR"] = str(var_dir)
    host, public = env["HOST"], env["PUBLIC_HOST"]
    env.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'backend.db'}")
    env.setdefault("RASA_TRACKER_DB", str(var_dir / "rasa" / "tracker.db"))
    env.setdefault("EVIDENCE_DIR", str(var_dir / "evidence"))
    env.setdefault("OUTBOX_DIR", str(var_dir / "outbox"))
    for name, value in CHANNEL_DEFAULTS.items():
        env.setdefault(name, value)
    env.setdefault("TELEGRAM_SECRET_TOKEN", "")
    env.setdefault("FACEBOOK_VERIFY_TOKEN", "")
    env.setdefault("BACKEND_URL", f"http://{host}:{env['BACKEND_PORT']}")
    env.setdefault("ACTION_SERVER_URL", f"http://{host}:{env['ACTION_PORT']}/webhook")
    env.setdefault("RASA_URL", f"http://{host}:{env['RASA_PORT']}")
    env.setdefault("CONSOLE_URL", f"http://{public}:{env['CONSOLE_PORT']}")
    env.setdefault("PUBLIC_RASA_URL", f"http://{public}:{env['RASA_PORT']}")
    env.setdefault(
        "WEB_ORIGINS",
        f"http://{public}:{env['WEB_PORT']} http://{host}:{env['WEB_PORT']}",
    )
    env.setdefault("MODEL_PATH", str(ROOT / "models" / f"{MODEL_NAME}.tar.gz"))
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Rasa's SQLAlchemy 1.4 prints a banner about 2.0 on every start.
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Nothing may call out to the internet at run time.
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    return env


# --- training --------------------------------------------------------------


def _training_files() -> Iterator[Path]:
    for name in TRAINING_INPUTS:
        path = ROOT / name
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            yield path


def training_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in _training_files():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_is_current(env: Mapping[str, str]) -> bool:
    model = Path(env["MODEL_PATH"])
    stamp = model.with_suffix(".fingerprint")
    return model.exists() and stamp.exists() and stamp.read_text() == training_fingerprint()


def train(env: Mapping[str, str], if_needed: bool = False) -> None:
    if if_needed and model_is_current(env):
        print("model: up to date, not retraining")
        return
    model = Path(env["MODEL_PATH"])
    fingerprint = training_fingerprint()
    print("model: training (data/, domain.yml or config.yml changed)...", flush=True)
    started = time.monotonic()
    command = [
        str(RASA_PY), "-m", "rasa", "train",
        "--out", str(model.parent), "--fixed-model-name", MODEL_NAME,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=dict(env), check=False)
    if result.returncode != 0:
        raise StackError("training failed; see the output above")
    model.with_suffix(".fingerprint").write_text(fingerprint)
    print(f"model: trained in {time.monotonic() - started:.0f} s -> {model}")


# --- ports -----------------------------------------------------------------


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def port_owner(port: int) -> str:
    """Describe the process listening on `port`, as well as /proc lets us."""
    inodes = _listening_inodes(port)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
                    return f"pid {proc.name}: {cmdline.decode(errors='replace').strip()[:160]}"
        except OSError:
            continue
    return "another process (not visible to this user)"


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# --- services --------------------------------------------------------------


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Service:
    name: str
    port_var: str
    command: Callable[[Mapping[str, str]], list[str]]
    health: Callable[[Mapping[str, str]], str]
    startup_seconds: float = 60.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def log_path(self, env: Mapping[str, str]) -> Path:
        return Path(env["VAR_DIR"]) / "log" / f"{self.name}.log"


def _rasa_command(env: Mapping[str, str]) -> list[str]:
    return [
        str(ROOT / ".venv" / "bin" / "rasa"), "run",
        "--enable-api", "--auth-token", env["RASA_API_TOKEN"],
        "--interface", env["HOST"], "--port", env["RASA_PORT"],
        "--model", env["MODEL_PATH"],
        "--credentials", str(ROOT / "credentials.yml"),
        "--endpoints", str(ROOT / "endpoints.yml"),
        "--cors", *env["WEB_ORIGINS"].split(),
    ]  # fmt: skip


SERVICES = (
    Service(
        "backend",
        "BACKEND_PORT",
        lambda e: [
            str(BACKEND_PY),
            "-m",
            "dispute_backend",
            "serve",
            "--host",
            e["HOST"],
            "--port",
            e["BACKEND_PORT"],
        ],  # fmt: skip
        lambda e: f"{e['BACKEND_URL']}/health",
    ),
    Service(
        "actions",
        "ACTION_PORT",
        lambda e: [
            str(RASA_PY),
            "-m",
            "actions.server",
            "--host",
            e["HOST"],
            "--port",
            e["ACTION_PORT"],
        ],  # fmt: skip
        lambda e: f"http://{e['HOST']}:{e['ACTION_PORT']}/health",
    ),
    Service(
        "rasa",
        "RASA_PORT",
        _rasa_command,
        lambda e: f"{e['RASA_URL']}/status?token={e['RASA_API_TOKEN']}",
        startup_seconds=180.0,
    ),
    Service(
        "web",
        "WEB_PORT",
        lambda e: [
            str(BACKEND_PY),
            "-m",
            "storefront",
            "--host",
            e["HOST"],
            "--port",
            e["WEB_PORT"],
        ],  # fmt: skip
        lambda e: f"http://{e['HOST']}:{e['WEB_PORT']}/health",
    ),
    Service(
        "console",
        "CONSOLE_PORT",
        lambda e: [
            str(BACKEND_PY),
            "-m",
            "console",
            "--host",
            e["HOST"],
            "--port",
            e["CONSOLE_PORT"],
        ],  # fmt: skip
        lambda e: f"http://{e['HOST']}:{e['CONSOLE_PORT']}/health",
    ),
)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Stack:
    """The five services, started in order and stopped together."""

    def __init__(self, env: Mapping[str, str], services: tuple[Service, ...] = SERVICES):
        self.env = dict(env)
        self.services = [
            Service(s.name, s.port_var, s.command, s.health, s.startup_seconds) for s in services
        ]

    def check_ports(self) -> None:
        for service in self.services:
            port = int(self.env[service.port_var])
            if not port_is_free(self.env["HOST"], port):
                raise StackError(
                    f"port {port} ({service.name}, {service.port_var}) is already in use by "
                    f"{port_owner(port)}.\n  Stop that process, or choose another port, "
                    f"e.g. `{service.port_var}={port + 100} make run`."
                )

    def prepare_backend(self) -> None:
        Path(self.env["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        for step in (["migrate"], ["seed"]):
            result = subprocess.run(
                [str(BACKEND_PY), "-m", "dispute_backend", *step],
                cwd=ROOT, env=self.env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise StackError(
                    f"backend `{step[0]}` failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
                )
            if result.stdout.strip():
                print(f"backend: {result.stdout.strip()}")

    def start(self) -> None:
        Path(self.env["VAR_DIR"], "log").mkdir(parents=True, exist_ok=True)
        Path(self.env["RASA_TRACKER_DB"]).parent.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            self._spawn(service)
        for service in self.services:
            self._wait_healthy(service)

    def _spawn(self, service: Service) -> None:
        with service.log_path(self.env).open("ab") as log:
            service.process = subprocess.Popen(
                service.command(self.env),
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def stop_service(self, name: str) -> None:
        """Stop one service (tests use it to simulate an outage)."""
        process = self.service(name).process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def start_service(self, name: str) -> None:
        service = self.service(name)
        self._spawn(service)
        self._wait_healthy(service)

    def _wait_healthy(self, service: Service) -> None:
        deadline = time.monotonic() + service.startup_seconds
        url = service.health(self.env)
        while time.monotonic() < deadline:
            assert service.process is not None
            if service.process.poll() is not None:
                raise StackError(self._failure(service, "exited during start-up"))
            if http_ok(url):
                return
            time.sleep(0.3)
        raise StackError(self._failure(service, f"did not answer {url.split('?')[0]} in time"))

    def _failure(self, service: Service, what: str) -> str:
        log = service.log_path(self.env)
        return f"{service.name} {what}. End of {log}:\n{tail(log)}"

    def dead_service(self) -> Service | None:
        for service in self.services:
            if service.process is not None and service.process.poll() is not None:
                return service
        return None

    def stop(self, grace: float = 10.0) -> None:
        running = [s for s in self.services if s.process and s.process.poll() is None]
        for service in running:
            assert service.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in running:
            assert service.process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The whole group, so no worker or child outlives the stack.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


def demo_buyers(env: Mapping[str, str]) -> list[dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 (our own backend's http URL)
        f"{env['BACKEND_URL']}/api/v1/storefront/buyers",
        headers={"Authorization": f"Bearer {env['STOREFRONT_SERVICE_TOKEN']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            buyers: list[dict[str, object]] = json.load(response)
            return buyers
    except (urllib.error.URLError, OSError, ValueError):
        return []


def print_banner(env: Mapping[str, str]) -> None:
    public, host = env["PUBLIC_HOST"], env["HOST"]
    print("\nThe dispute assistant is running:\n")
    print(f"  Web chat (My Orders)  http://{public}:{env['WEB_PORT']}/")
    print(f"  Rasa server           http://{host}:{env['RASA_PORT']}/")
    print(f"  Action server         http://{host}:{env['ACTION_PORT']}/health")
    print(f"  Dispute backend       http://{host}:{env['BACKEND_PORT']}/docs")
    print(f"  Operator console      {env['CONSOLE_URL']}/")
    print(f"  Logs                  {Path(env['VAR_DIR']) / 'log'}/")
    buyers = demo_buyers(env)
    if buyers:
        print("\n  Demo buyers (pick one on the page):")
        for buyer in buyers:
            print(f"    {buyer.get('id')!s:<10} {buyer.get('name')!s:<18} {buyer.get('email')}")
    print("\n  Demo operators (console sign-in; see docs/handoff.md):")
    for operator_id, password in DEMO_OPERATORS:
        print(f"    {operator_id:<10} password {password}")
    print("\nPress Ctrl-C to stop everything.\n", flush=True)


def run(env: dict[str, str]) -> int:
    stack = Stack(env)
    stack.check_ports()
    stack.prepare_backend()
    train(env, if_needed=True)

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Explicitly, since a shell starting us in the background ignores SIGINT.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print("starting: backend, action server, Rasa server, web page, console...", flush=True)
        stack.start()
        print_banner(env)
        while True:
            dead = stack.dead_service()
            if dead is not None:
                raise StackError(stack._failure(dead, "stopped unexpectedly"))
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not interrupt the clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("all services stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ensure-env", help="write .env with random secrets if missing")
    train_parser = sub.add_parser("train", help="train the Rasa model")
    train_parser.add_argument("--if-needed", action="store_true")
    sub.add_parser("run", help="start the whole stack until Ctrl-C")
    exec_parser = sub.add_parser("exec", help="run a command in the stack's environment")
    exec_parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "ensure-env":
            if ensure_env_file():
                print(".env: written with new random secrets")
            return 0
        env = build_environment()
        if args.command == "exec":
            return subprocess.run(args.argv, cwd=ROOT, env=env, check=False).returncode
        if args.command == "train":
            train(env, if_needed=args.if_needed)
            return 0
        return run(env)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
