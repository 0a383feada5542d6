"""The project-local PostGIS cluster: found, installed when allowed, created, started, stopped.

With no ``REBUILD_DATABASE_URL`` the project runs its own PostgreSQL server from the machine's
binaries, in ``<home>/pg`` (``.rebuild/pg`` by default). It listens on a unix socket in a
directory of its own and on 127.0.0.1 only, on a port derived from the checkout's path, so two
checkouts on one machine never fight over a port or a socket.

PostgreSQL refuses to run as root. When the project runs as root, the server runs as a system
user (``postgres`` by default) and its data, socket and log directories belong to that user; if
that user cannot reach the checkout (a checkout under ``/root``, say), they live under
``/var/lib/rebuild-tracker/<hash of the checkout path>`` instead. ``rebuild db status`` shows where.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from gis.errors import LocalDbError
from gis.settings import Settings

SUPERUSER = "rebuild"
MAIN_DATABASE = "rebuild"
_PORT_BASE = 54330
_PORT_SPAN = 1000
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; leave room for "/.s.PGSQL.NNNNN"

# Written to <datadir>/rebuild.conf at every start, so an existing cluster picks up changes.
# wal_level = minimal: a load into tables emptied in the same transaction (the demo, a restore)
# skips writing the rows to WAL. This local cluster serves one checkout and is never replicated;
# a shared server is configured by its administrator and reached through REBUILD_DATABASE_URL.
_SERVER_CONF = """\
# Written by Rebuild Tracker (gis/localdb.py) at every start: edits here are overwritten.
listen_addresses = '127.0.0.1'
unix_socket_permissions = 0700
logging_collector = off
shared_buffers = 256MB
maintenance_work_mem = 512MB
work_mem = 32MB
wal_level = minimal
max_wal_senders = 0
max_wal_size = 4GB
checkpoint_timeout = 15min
timezone = 'Asia/Shanghai'
"""
_CONF_FILE = "rebuild.conf"


@dataclass(frozen=True)
class Cluster:
    """Where the local cluster lives and how to reach it."""

    home: Path
    datadir: Path
    sockdir: Path
    logfile: Path
    port: int
    bindir: Path
    os_user: str | None  # the system user running the server; None: the current user

    def url(self, database: str = MAIN_DATABASE) -> str:
        """SQLAlchemy URL over the unix socket (trust authentication, socket mode 0700)."""
        url = URL.create(
            "postgresql+psycopg",
            username=SUPERUSER,
            database=database,
            query={"host": str(self.sockdir), "port": str(self.port)},
        )
        return url.render_as_string(hide_password=False)

    def conninfo(self, database: str = MAIN_DATABASE) -> str:
        """libpq connection string (quoted: the socket path may hold spaces)."""
        return make_conninfo(
            host=str(self.sockdir), port=self.port, user=SUPERUSER, dbname=database
        )


# --- finding things --------------------------------------------------------------------------


def _path_hash(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


def find_bindir(settings: Settings) -> Path | None:
    """The newest PostgreSQL server binaries on the machine, or the configured ones."""
    if settings.pg_bindir:
        return settings.pg_bindir if (settings.pg_bindir / "initdb").exists() else None
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    candidates += [p.parent for p in Path("/usr").glob("pgsql-*/bin/initdb")]
    if candidates:
        return max(candidates, key=lambda p: _major_from_path(p))
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _major_from_path(bindir: Path) -> int:
    match = re.search(r"(\d+)", str(bindir.parent.name)) or re.search(r"(\d+)", str(bindir))
    return int(match.group(1)) if match else 0


def server_major(bindir: Path) -> int:
    out = subprocess.run([bindir / "postgres", "--version"], capture_output=True, text=True)
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    if not match:
        raise LocalDbError(f"Could not read the PostgreSQL version from {bindir / 'postgres'}.")
    return int(match.group(1))


def _sharedir(bindir: Path) -> Path:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path("/usr/share/postgresql") / str(server_major(bindir))


def has_postgis(bindir: Path) -> bool:
    return (_sharedir(bindir) / "extension" / "postgis.control").exists()


def _is_root() -> bool:
    return os.geteuid() == 0


def _apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update"], env=env, capture_output=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise LocalDbError(
            f"apt-get could not install {' '.join(packages)}:\n{done.stderr[-2000:]}\n"
            "Install the packages by hand, or set REBUILD_DATABASE_URL to an existing PostGIS."
        )


def ensure_binaries(settings: Settings) -> Path:
    """PostgreSQL server binaries with the PostGIS extension; installs them as root if allowed."""
    can_install = _is_root() and settings.install_packages and shutil.which("apt-get")
    bindir = find_bindir(settings)
    if bindir is None:
        if not can_install:
            raise LocalDbError(
                "PostgreSQL server binaries were not found. On Debian/Ubuntu run "
                "`sudo apt-get install postgresql postgresql-15-postgis-3` (use your release's "
                "PostgreSQL major version), set REBUILD_PG_BINDIR to the folder holding initdb, "
                "or set REBUILD_DATABASE_URL to an existing PostGIS."
            )
        _apt_install("postgresql")
        bindir = find_bindir(settings)
        if bindir is None:
            raise LocalDbError("apt-get installed postgresql but initdb is still not found.")
    if not has_postgis(bindir):
        package = f"postgresql-{server_major(bindir)}-postgis-3"
        if not can_install:
            raise LocalDbError(
                f"PostGIS is missing for the PostgreSQL server in {bindir}. On Debian/Ubuntu run "
                f"`sudo apt-get install {package}`, then run the command again "
                "(or set REBUILD_DATABASE_URL to an existing PostGIS)."
            )
        _apt_install(package)
        if not has_postgis(bindir):
            raise LocalDbError(f"apt-get installed {package} but postgis.control is missing.")
    return bindir


# --- the cluster's places ---------------------------------------------------------------------


def _server_user(settings: Settings) -> str | None:
    if not _is_root():
        return None
    try:
        pwd.getpwnam(settings.pg_os_user)
    except KeyError:
        raise LocalDbError(
            f"Running as root, the local PostgreSQL must run as another user, but the system user "
            f"{settings.pg_os_user!r} does not exist. Create it (`useradd --system "
            f"{settings.pg_os_user}`) or set REBUILD_PG_OS_USER to an existing unprivileged user."
        ) from None
    return settings.pg_os_user


def _as_server_user(cmd: list[str | Path], os_user: str | None) -> list[str]:
    args = [str(c) for c in cmd]
    return ["runuser", "-u", os_user, "--", *args] if os_user else args


def _run(cmd: list[str | Path], os_user: str | None, what: str) -> str:
    done = subprocess.run(_as_server_user(cmd, os_user), capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        raise LocalDbError(f"{what} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def _user_can_reach(path: Path, os_user: str) -> bool:
    probe = subprocess.run(["runuser", "-u", os_user, "--", "test", "-x", str(path)], cwd="/")
    return probe.returncode == 0


def _state_file(settings: Settings) -> Path:
    return settings.home / "cluster.json"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port(home: Path) -> int:
    start = int(_path_hash(home), 16) % _PORT_SPAN
    for step in range(_PORT_SPAN):
        port = _PORT_BASE + (start + step) % _PORT_SPAN
        if _port_free(port):
            return port
    raise LocalDbError(
        f"No free TCP port in {_PORT_BASE}-{_PORT_BASE + _PORT_SPAN - 1} on 127.0.0.1."
    )


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def describe(settings: Settings) -> Cluster:
    """The cluster's places, from the state file if the cluster exists; no side effects."""
    home = settings.home.resolve()
    state = _state_file(settings)
    saved = json.loads(state.read_text()) if state.exists() else {}
    os_user = _server_user(settings)
    if "datadir" in saved:
        base = Path(saved["datadir"]).parent
    elif os_user and not _user_can_reach(_nearest_existing(home), os_user):
        # The server user cannot traverse to the checkout: keep its files where it can.
        base = Path("/var/lib/rebuild-tracker") / _path_hash(home)
    else:
        base = home
    sockdir = base / "run"
    if len(str(sockdir)) > _SOCKET_PATH_MAX - 16:
        # A path too long for a socket: a folder under /tmp with a random name (remembered in
        # cluster.json once the server starts), so nobody can prepare it in advance.
        sockdir = Path(tempfile.gettempdir()) / f"rebuild-{secrets.token_hex(8)}"
    bindir = Path(saved["bindir"]) if saved.get("bindir") else find_bindir(settings)
    return Cluster(
        home=home,
        datadir=Path(saved.get("datadir", base / "pg")),
        sockdir=Path(saved.get("sockdir", sockdir)),
        logfile=Path(saved.get("logfile", base / "log" / "postgresql.log")),
        port=int(saved.get("port", 0)) or _PORT_BASE + int(_path_hash(home), 16) % _PORT_SPAN,
        bindir=bindir or Path("/nonexistent"),
        os_user=os_user,
    )


def _save(cluster: Cluster) -> None:
    keep = ("bindir", "datadir", "sockdir", "logfile")
    state = {k: str(v) for k, v in asdict(cluster).items() if k in keep}
    state["port"] = cluster.port
    (cluster.home / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")


def prepare_socket_dir(path: Path, os_user: str | None) -> None:
    """The socket folder: created with mode 0700 for the server user; an existing one must be a
    real folder (not a link) of that user, or it is refused (someone else's folder in /tmp
    would let them see or replace the socket)."""
    owner = pwd.getpwnam(os_user).pw_uid if os_user else os.geteuid()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (owner, os.geteuid()):
            raise LocalDbError(
                f"The socket folder {path} already exists and is not ours (a link, or owned by "
                f"uid {info.st_uid}). Remove it; or stop the cluster (`rebuild db down`) and "
                "delete cluster.json in REBUILD_HOME, so that a new random name is chosen."
            ) from None
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
    os.chmod(path, 0o700)  # a real folder of ours: checked above, or just made
    if os_user:
        os.chown(path, owner, pwd.getpwnam(os_user).pw_gid, follow_symlinks=False)


def _prepare_dir(path: Path, os_user: str | None, mode: int = 0o700) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if os_user:
        shutil.chown(path, os_user, os_user)


def _initdb(cluster: Cluster) -> None:
    home, user, datadir = cluster.home, cluster.os_user, cluster.datadir
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    datadir.parent.chmod(0o755)
    if datadir.exists():
        shutil.rmtree(datadir)  # left by an initdb that failed: it holds no PG_VERSION, no data
    _prepare_dir(datadir, user)
    password = secrets.token_urlsafe(18)
    pwfile = home / "pg-password"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    fd, tmp_name = tempfile.mkstemp(prefix="rebuild-initdb-")
    tmp_pw = Path(tmp_name)
    os.write(fd, (password + "\n").encode())
    os.close(fd)
    if user:
        shutil.chown(tmp_pw, user, user)
    try:
        _run(
            [
                cluster.bindir / "initdb",
                "-D", datadir,
                "-U", SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={tmp_pw}",
                "-E", "UTF8",
                "--locale=C.UTF-8",
            ],
            user,
            "initdb",
        )  # fmt: skip
    finally:
        tmp_pw.unlink(missing_ok=True)
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write(f"\ninclude_if_exists = '{_CONF_FILE}'\n")


def is_initialised(cluster: Cluster) -> bool:
    return (cluster.datadir / "PG_VERSION").exists()


def is_running(cluster: Cluster) -> bool:
    if not cluster.bindir.exists():
        return False
    probe = subprocess.run(
        [cluster.bindir / "pg_isready", "-q", "-h", cluster.sockdir, "-p", str(cluster.port)],
        capture_output=True,
    )
    return probe.returncode == 0


def _start(cluster: Cluster) -> Cluster:
    user = cluster.os_user
    if not _port_free(cluster.port):
        cluster = Cluster(**{**asdict(cluster), "port": _pick_port(cluster.home)})
    prepare_socket_dir(cluster.sockdir, user)
    _prepare_dir(cluster.logfile.parent, user, mode=0o755)
    _run(
        [
            cluster.bindir / "pg_ctl", "start", "-w", "-t", "60",
            "-D", cluster.datadir,
            "-l", cluster.logfile,
            "-o", f"-p {cluster.port} -k '{cluster.sockdir}'",  # pg_ctl passes -o to a shell
        ],
        user,
        f"Starting PostgreSQL (log: {cluster.logfile})",
    )  # fmt: skip
    _save(cluster)
    return cluster


def _write_conf(cluster: Cluster) -> bool:
    """Write the server settings; returns whether they changed."""
    path = cluster.datadir / _CONF_FILE
    if path.exists() and path.read_text() == _SERVER_CONF:
        return False
    path.write_text(_SERVER_CONF)
    if cluster.os_user:
        shutil.chown(path, cluster.os_user, cluster.os_user)
    return True


@contextmanager
def _exclusive(home: Path) -> Iterator[None]:
    """One `up` at a time per checkout (`make run` and `make test` may start together)."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(settings: Settings) -> Cluster:
    """Make sure the local cluster exists, runs, and has the main database with PostGIS."""
    bindir = ensure_binaries(settings)
    with _exclusive(settings.home):
        return _up(settings, bindir)


def _up(settings: Settings, bindir: Path) -> Cluster:
    cluster = describe(settings)
    if cluster.bindir != bindir and not is_initialised(cluster):
        cluster = Cluster(**{**asdict(cluster), "bindir": bindir})
    if not is_initialised(cluster):
        cluster = Cluster(**{**asdict(cluster), "port": _pick_port(cluster.home)})
        _initdb(cluster)
        _save(cluster)
    changed = _write_conf(cluster)
    if changed and is_running(cluster):
        _run(
            [cluster.bindir / "pg_ctl", "stop", "-w", "-m", "fast", "-D", cluster.datadir],
            cluster.os_user,
            "Stopping PostgreSQL to apply new settings",
        )
    if not is_running(cluster):
        cluster = _start(cluster)
    ensure_database(cluster, MAIN_DATABASE)
    return cluster


def down(settings: Settings) -> bool:
    """Stop the local cluster; returns whether a server was running."""
    cluster = describe(settings)
    if not is_initialised(cluster) or not is_running(cluster):
        return False
    _run(
        [cluster.bindir / "pg_ctl", "stop", "-w", "-m", "fast", "-D", cluster.datadir],
        cluster.os_user,
        "Stopping PostgreSQL",
    )
    return True


def status(settings: Settings) -> dict[str, object]:
    """What a person needs to see about the local cluster."""
    cluster = describe(settings)
    running = is_initialised(cluster) and is_running(cluster)
    return {
        "datadir": str(cluster.datadir.resolve() if cluster.datadir.exists() else cluster.datadir),
        "initialised": is_initialised(cluster),
        "running": running,
        "port": cluster.port,
        "socket_dir": str(cluster.sockdir),
        "server_user": cluster.os_user or pwd.getpwuid(os.geteuid()).pw_name,
        "log": str(cluster.logfile),
        "url": cluster.url() if running else None,
    }


# --- databases inside the cluster -------------------------------------------------------------


def _connect(cluster: Cluster, database: str = "postgres") -> psycopg.Connection:
    deadline = time.monotonic() + 10
    while True:
        try:
            return psycopg.connect(cluster.conninfo(database), autocommit=True)
        except psycopg.OperationalError:
            # Right after `pg_ctl start -w` the server accepts connections; this loop only covers
            # the rare case of a server still finishing crash recovery.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def ensure_database(cluster: Cluster, name: str) -> str:
    """Create database ``name`` with PostGIS if it does not exist; return its URL."""
    with _connect(cluster) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with _connect(cluster, name) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return cluster.url(name)


def drop_database(cluster: Cluster, name: str) -> None:
    with _connect(cluster) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
