"""Set up and run the whole assistant: backend, action server, Rasa, web page.

Standard library only, so any Python 3.9+ runs it (make uses the tools venv)
and the end-to-end tests import it to start the same stack on other ports.

    python scripts/stack.py ensure-env     # write .env with random secrets once
    python scripts/stack.py train [--if-needed]
    python scripts/stack.py run            # start everything, Ctrl-C stops it
    python scripts/stack.py run-cluster    # the same as replicas behind HAProxy (docs/scaling.md)
    python scripts/stack.py exec CMD...    # run CMD with the stack's environment
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
import urllib.parse
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
    "CHANNEL_IDENTITY_SECRET",  # Rasa signs a verified Telegram/Messenger user; backend checks
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
    # The web chat's settings for several Rasa servers (extensions/socketio.py): off here,
    # set by run-cluster.
    "SOCKETIO_REDIS_URL": "",
    "SOCKETIO_REDIS_CHANNEL": "",
    "SOCKETIO_SESSION_COOKIE": "",
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
    # In production the REST channel needs this bearer token (credentials.yml); empty: open,
    # as development and the tests use it.
    "REST_CHANNEL_TOKEN": "",
    # Sanic refuses larger bodies (413) before reading them, chunked or not: a chat message
    # is at most a few KB, a Telegram or Messenger update a few tens.
    "SANIC_REQUEST_MAX_SIZE": str(256 * 1024),
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


def ensure_env_file(path: Path = ROOT / ".env", names: tuple[str, ...] = SECRET_NAMES) -> bool:
    """Create `.env` with fresh random secrets, or add the ones it lacks. The file is
    created readable by its owner only, before any secret is written to it."""
    existing = load_env_file(path)
    missing = [name for name in names if not existing.get(name)]
    if not missing:
        return False
    lines = [] if path.exists() else ["# Generated on first run; never commit this file.\n"]
    lines += [f"{name}={secrets.token_urlsafe(32)}\n" for name in missing]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)  # an older file made with looser rights
    with os.fdopen(fd, "a") as handle:
        handle.writelines(lines)
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
    env.setdefault("CHANNEL_IDENTITY_SECRET", "")
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
        str(RASA_PY),
        "-m",
        "rasa",
        "train",
        "--out",
        str(model.parent),
        "--fixed-model-name",
        MODEL_NAME,
    ]
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
    port_var: str | None  # None: listens on no port (the cluster's schedulers)
    command: Callable[[Mapping[str, str]], list[str]]
    health: Callable[[Mapping[str, str]], str] | None  # None: healthy while it runs
    startup_seconds: float = 60.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    more_port_vars: tuple[str, ...] = ()  # other ports it listens on (the load balancer)

    def log_path(self, env: Mapping[str, str]) -> Path:
        return Path(env["VAR_DIR"]) / "log" / f"{self.name}.log"


def _rasa_command(
    env: Mapping[str, str], port_var: str = "RASA_PORT", endpoints: Path = ROOT / "endpoints.yml"
) -> list[str]:
    return [
        str(RASA_PY),
        "-m",
        "extensions.server",
        "run",
        "--enable-api",  # its token comes from RASA_API_TOKEN (extensions/server.py)
        "--interface",
        env["HOST"],
        "--port",
        env[port_var],
        "--model",
        env["MODEL_PATH"],
        "--credentials",
        str(ROOT / "credentials.yml"),
        "--endpoints",
        str(endpoints),
        "--cors",
        *env["WEB_ORIGINS"].split(),
    ]


def _module_command(
    python: Path, port_var: str, *module: str
) -> Callable[[Mapping[str, str]], list[str]]:
    """`python -m <module...> --host HOST --port <port_var>`: how most services start."""
    return lambda e: [str(python), "-m", *module, "--host", e["HOST"], "--port", e[port_var]]


SERVICES = (
    Service(
        "backend",
        "BACKEND_PORT",
        _module_command(BACKEND_PY, "BACKEND_PORT", "dispute_backend", "serve"),
        lambda e: f"{e['BACKEND_URL']}/health",
    ),
    Service(
        "actions",
        "ACTION_PORT",
        _module_command(RASA_PY, "ACTION_PORT", "actions.server"),
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
        _module_command(BACKEND_PY, "WEB_PORT", "storefront"),
        lambda e: f"http://{e['HOST']}:{e['WEB_PORT']}/health",
    ),
    Service(
        "console",
        "CONSOLE_PORT",
        _module_command(BACKEND_PY, "CONSOLE_PORT", "console"),
        lambda e: f"http://{e['HOST']}:{e['CONSOLE_PORT']}/health",
    ),
)


def run_backend_python(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """backend/.venv's Python run with `args` in the stack's environment, output captured."""
    return subprocess.run(
        [str(BACKEND_PY), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
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
        self.services = [dataclasses.replace(s, process=None) for s in services]

    def check_ports(self) -> None:
        for service in self.services:
            port_vars = (service.port_var, *service.more_port_vars) if service.port_var else ()
            for port_var in port_vars:
                port = int(self.env[port_var])
                if not port_is_free(self.env["HOST"], port):
                    raise StackError(
                        f"port {port} ({service.name}, {port_var}) is already in use by "
                        f"{port_owner(port)}.\n  Stop that process, or choose another port, "
                        f"e.g. `{port_var}={port + 100} make run`."
                    )

    def prepare_backend(self) -> None:
        Path(self.env["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        # The demo data (operators with known passwords, seller keys) never goes into
        # production; the backend's seed command refuses it there too.
        production = self.env.get("APP_ENV") == "production"
        for step in (["migrate"],) if production else (["migrate"], ["seed"]):
            result = run_backend_python(self.env, "-m", "dispute_backend", *step)
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
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

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
        if service.health is None:
            time.sleep(1.0)  # long enough for a broken configuration to show
            assert service.process is not None
            if service.process.poll() is not None:
                raise StackError(self._failure(service, "exited during start-up"))
            return
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
    if env.get("APP_ENV") != "production":
        print("\n  Demo operators (console sign-in; see docs/handoff.md):")
        for operator_id, password in DEMO_OPERATORS:
            print(f"    {operator_id:<10} password {password}")
    print("\nPress Ctrl-C to stop everything.\n", flush=True)


def run(env: dict[str, str]) -> int:
    stack = Stack(env)

    def serve() -> None:
        stack.start()
        print_banner(env)
        while True:
            dead = stack.dead_service()
            if dead is not None:
                raise StackError(stack._failure(dead, "stopped unexpectedly"))
            time.sleep(1)

    return serve_until_stopped(
        stack,
        stack.prepare_backend,
        "backend, action server, Rasa server, web page, console",
        serve,
    )


def serve_until_stopped(
    stack: Stack, prepare: Callable[[], None], services: str, serve: Callable[[], None]
) -> int:
    """`make run`'s and `make run-cluster`'s frame: check the ports, `prepare`, train if
    needed, then `serve` until Ctrl-C (or SIGTERM), and stop every service whatever
    happened."""
    stack.check_ports()
    prepare()
    train(stack.env, if_needed=True)

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Explicitly, since a shell starting us in the background ignores SIGINT.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print(f"starting: {services}...", flush=True)
        serve()
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not interrupt the clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("all services stopped.")
    return 0


# --- the cluster: `make run-cluster` (docs/scaling.md) ------------------------------

CLUSTER_DIR = ROOT / "cluster"
# Written to .env by run-cluster (and `ensure-env --cluster`) only: the PostgreSQL roles'
# passwords, and the superuser's of cluster/compose.yaml's own PostgreSQL.
CLUSTER_SECRET_NAMES = ("BACKEND_DB_PASSWORD", "RASA_DB_PASSWORD", "POSTGRES_ADMIN_PASSWORD")
RASA_REPLICAS = ACTION_REPLICAS = 2

CLUSTER_DEFAULTS = {
    # The load balancer listens on the usual ports (RASA_PORT, ACTION_PORT, BACKEND_PORT);
    # the replicas behind it on these.
    "RASA_1_PORT": "5006",
    "RASA_2_PORT": "5007",
    "ACTION_1_PORT": "5056",
    "ACTION_2_PORT": "5057",
    "BACKEND_1_PORT": "8001",
    "HAPROXY_STATS_PORT": "8404",
    "HAPROXY_PATH": "/usr/sbin/haproxy",
    "BACKEND_WORKERS": "2",  # uvicorn worker processes of the backend node
    "SCHEDULERS": "2",  # scheduler processes; each due item is applied by one of them
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    # A role allowed to create roles and databases, for the set-up only (scripts/cluster_db.py).
    "POSTGRES_ADMIN_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "BACKEND_DB_NAME": "disputes",
    "BACKEND_DB_USER": "disputes",
    "RASA_DB_NAME": "rasa_tracker",
    "RASA_DB_USER": "rasa",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_LOCK_DB": "1",  # Rasa's conversation locks (extensions/lock_store.py)
    "RASA_LOCK_STORE": "extensions.lock_store.OrderedRedisLockStore",
    "REDIS_KEY_PREFIX": "disputes",
    "SOCKETIO_REDIS_DB": "2",  # the web chat's rooms shared by the Rasa servers
    # Longer than the load balancer keeps an idle connection to a server (10 s), so that a
    # server never closes one just as the balancer sends a request on it (Sanic reads it).
    "SANIC_KEEP_ALIVE_TIMEOUT": "75",
}


def build_cluster_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """build_environment, for the cluster: defaults < CLUSTER_DEFAULTS < .env < process env
    < overrides, then the addresses the load balancer and the services need."""
    given = dict(CLUSTER_DEFAULTS)
    given.update(load_env_file(ROOT / ".env"))
    given.update(os.environ)
    given.update(overrides or {})
    user, password = given["BACKEND_DB_USER"], given.get("BACKEND_DB_PASSWORD", "")
    host, port = given["POSTGRES_HOST"], given["POSTGRES_PORT"]
    # The cluster's backend is on PostgreSQL whatever DATABASE_URL says for `make run`.
    given["DATABASE_URL"] = (
        f"postgresql+psycopg://{urllib.parse.quote(user)}:{urllib.parse.quote(password)}"
        f"@{host}:{port}/{given['BACKEND_DB_NAME']}"
    )
    redis = f"redis://{given['REDIS_HOST']}:{given['REDIS_PORT']}"
    given.setdefault("SOCKETIO_REDIS_URL", f"{redis}/{given['SOCKETIO_REDIS_DB']}")
    given.setdefault("SOCKETIO_REDIS_CHANNEL", f"{given['REDIS_KEY_PREFIX']}-socketio")
    given.setdefault("SOCKETIO_SESSION_COOKIE", "io")  # the name cluster/haproxy.cfg reads
    env = build_environment(given)
    env["LB_HOST"] = env["HOST"]
    env.setdefault("HAPROXY_ADMIN_SOCKET", str(Path(env["VAR_DIR"]) / "haproxy.sock"))
    for n in range(1, RASA_REPLICAS + 1):
        env[f"RASA_{n}_ADDR"] = f"{env['HOST']}:{env[f'RASA_{n}_PORT']}"
    for n in range(1, ACTION_REPLICAS + 1):
        env[f"ACTION_{n}_ADDR"] = f"{env['HOST']}:{env[f'ACTION_{n}_PORT']}"
    env["BACKEND_1_ADDR"] = f"{env['HOST']}:{env['BACKEND_1_PORT']}"
    return env


def _rasa_replica(n: int) -> Service:
    port_var = f"RASA_{n}_PORT"
    return Service(
        f"rasa-{n}",
        port_var,
        lambda e: _rasa_command(e, port_var, CLUSTER_DIR / "endpoints.yml"),
        lambda e: f"http://{e['HOST']}:{e[port_var]}/status?token={e['RASA_API_TOKEN']}",
        startup_seconds=240.0,  # two models load at once
    )


def _action_replica(n: int) -> Service:
    port_var = f"ACTION_{n}_PORT"
    return Service(
        f"actions-{n}",
        port_var,
        _module_command(RASA_PY, port_var, "actions.server"),
        lambda e: f"http://{e['HOST']}:{e[port_var]}/health",
    )


def _backend_node(env: Mapping[str, str]) -> list[str]:
    # uvicorn's own supervisor (it replaces a worker that dies or hangs); the app factory
    # sets up the workers' logging and log redaction (dispute_backend/serve.py). The
    # hand-written `serve` stays `make run`'s: see its docstring for why.
    return [
        str(BACKEND_PY),
        "-m",
        "uvicorn",
        "dispute_backend.serve:worker_app",
        "--factory",
        "--host",
        env["HOST"],
        "--port",
        env["BACKEND_1_PORT"],
        "--workers",
        env["BACKEND_WORKERS"],
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--timeout-keep-alive",
        env["SANIC_KEEP_ALIVE_TIMEOUT"],
        "--no-access-log",  # the load balancer logs every request
    ]


def cluster_services(env: Mapping[str, str]) -> tuple[Service, ...]:
    haproxy = Service(
        "haproxy",
        "HAPROXY_STATS_PORT",
        lambda e: [e["HAPROXY_PATH"], "-db", "-f", str(CLUSTER_DIR / "haproxy.cfg")],
        lambda e: f"http://{e['HOST']}:{e['HAPROXY_STATS_PORT']}/health",
        more_port_vars=("RASA_PORT", "ACTION_PORT", "BACKEND_PORT"),
    )
    backend = Service(
        "backend-1",
        "BACKEND_1_PORT",
        _backend_node,
        lambda e: f"http://{e['HOST']}:{e['BACKEND_1_PORT']}/health",
    )
    schedulers = [
        Service(
            f"scheduler-{n}",
            None,
            lambda e: [str(BACKEND_PY), "-m", "dispute_backend", "scheduler"],
            None,
        )
        for n in range(1, int(env["SCHEDULERS"]) + 1)
    ]
    by_name = {service.name: service for service in SERVICES}
    return (
        haproxy,
        backend,
        *schedulers,
        *(_action_replica(n) for n in range(1, ACTION_REPLICAS + 1)),
        *(_rasa_replica(n) for n in range(1, RASA_REPLICAS + 1)),
        by_name["web"],
        by_name["console"],
    )


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def prepare_cluster(stack: Stack) -> None:
    """What the cluster needs before it starts: Redis, HAProxy, and its PostgreSQL roles
    and databases (made here if missing), migrated and seeded."""
    env = stack.env
    if not redis_answers(env["REDIS_HOST"], int(env["REDIS_PORT"])):
        raise StackError(
            f"Redis does not answer at {env['REDIS_HOST']}:{env['REDIS_PORT']}.\n"
            "  Start it (apt-get install redis-server), or set REDIS_HOST / REDIS_PORT."
        )
    if not os.access(env["HAPROXY_PATH"], os.X_OK):
        raise StackError(f"no HAProxy at {env['HAPROXY_PATH']}: run scripts/ensure-haproxy")
    result = run_backend_python(env, str(ROOT / "scripts" / "cluster_db.py"), "ensure")
    if result.returncode != 0:
        raise StackError(
            f"{result.stderr.strip()}\n  Is PostgreSQL running at "
            f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}? POSTGRES_ADMIN_URL names a role "
            "that may create roles and databases."
        )
    if result.stdout.strip():
        print(result.stdout.strip())
    stack.prepare_backend()


def wait_for_balancer(env: Mapping[str, str], seconds: float = 60.0) -> None:
    """Until the load balancer has seen a server of each kind up (its checks need 2 s)."""
    urls = [
        f"http://{env['HOST']}:{env['RASA_PORT']}/",
        f"http://{env['HOST']}:{env['ACTION_PORT']}/health",
        f"{env['BACKEND_URL']}/health",
    ]
    deadline = time.monotonic() + seconds
    for url in urls:
        while not http_ok(url):
            if time.monotonic() > deadline:
                raise StackError(f"the load balancer does not answer {url} in time")
            time.sleep(0.3)


def print_cluster_banner(env: Mapping[str, str], stack: Stack) -> None:
    host = env["HOST"]
    print("\nThe cluster behind the load balancer (HAProxy):")
    for service in stack.services:
        if service.name.startswith(("rasa-", "actions-", "backend-")):
            assert service.port_var is not None
            print(f"    {service.name:<12} {host}:{env[service.port_var]}")
    print(f"    {env['BACKEND_WORKERS']} backend workers, {env['SCHEDULERS']} schedulers")
    print(
        f"    PostgreSQL   {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']} "
        f"(databases {env['BACKEND_DB_NAME']}, {env['RASA_DB_NAME']})"
    )
    print(
        f"    Redis        {env['REDIS_HOST']}:{env['REDIS_PORT']} "
        f"(locks: db {env['REDIS_LOCK_DB']}, web chat rooms: db {env['SOCKETIO_REDIS_DB']})"
    )
    print(f"    Balancer     http://{host}:{env['HAPROXY_STATS_PORT']}/stats", flush=True)


def supervise_cluster(stack: Stack) -> None:
    """Replace a service that dies, as an orchestrator would; until Ctrl-C."""
    while True:
        dead = stack.dead_service()
        if dead is not None:
            print(f"{dead.name} stopped unexpectedly; starting it again", flush=True)
            stack.start_service(dead.name)
            print(f"{dead.name} is back", flush=True)
        time.sleep(1)


def run_cluster(env: dict[str, str]) -> int:
    stack = Stack(env, cluster_services(env))

    def serve() -> None:
        stack.start()
        wait_for_balancer(env)
        print_cluster_banner(env, stack)
        print_banner(env)
        supervise_cluster(stack)

    return serve_until_stopped(
        stack,
        lambda: prepare_cluster(stack),
        "HAProxy, backend, schedulers, 2 action servers, 2 Rasa servers, web page, console",
        serve,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    env_parser = sub.add_parser("ensure-env", help="write .env with random secrets if missing")
    env_parser.add_argument("--cluster", action="store_true", help="the cluster's too")
    train_parser = sub.add_parser("train", help="train the Rasa model")
    train_parser.add_argument("--if-needed", action="store_true")
    sub.add_parser("run", help="start the whole stack until Ctrl-C")
    sub.add_parser("run-cluster", help="the same, as replicas behind a load balancer")
    exec_parser = sub.add_parser("exec", help="run a command in the stack's environment")
    exec_parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "ensure-env":
            names = SECRET_NAMES + CLUSTER_SECRET_NAMES if args.cluster else SECRET_NAMES
            if ensure_env_file(names=names):
                print(".env: written with new random secrets")
            return 0
        if args.command == "run-cluster":
            if ensure_env_file(names=SECRET_NAMES + CLUSTER_SECRET_NAMES):
                print(".env: written with new random secrets")
            return run_cluster(build_cluster_environment())
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
