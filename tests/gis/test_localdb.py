"""The project-local PostGIS: provisioning, idempotent restarts, two checkouts side by side."""

import os
import shutil
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from gis import localdb
from gis.errors import LocalDbError
from gis.settings import Settings


def test_up_is_idempotent_and_reports_status(settings: Settings, cluster: localdb.Cluster) -> None:
    again = localdb.up(settings)
    assert again.port == cluster.port
    assert again.sockdir == cluster.sockdir
    info = localdb.status(settings)
    assert info["running"] is True
    assert info["initialised"] is True
    assert info["url"] == cluster.url()


def test_server_listens_on_socket_and_loopback_only(cluster: localdb.Cluster) -> None:
    with psycopg.connect(cluster.conninfo()) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    assert listen == "127.0.0.1"
    assert wal_level == "minimal"  # from rebuild.conf, written at every start
    assert version.startswith("3.")
    assert (cluster.sockdir / f".s.PGSQL.{cluster.port}").is_socket()
    assert stat.S_IMODE(cluster.sockdir.stat().st_mode) == 0o700


def test_server_does_not_run_as_root(cluster: localdb.Cluster) -> None:
    with psycopg.connect(cluster.conninfo()) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    owner = Path(f"/proc/{pid}").stat().st_uid
    assert owner != 0
    if os.geteuid() != 0:
        assert owner == os.geteuid()


def test_second_checkout_gets_its_own_port_and_socket(
    tmp_path: Path, cluster: localdb.Cluster
) -> None:
    other_home = tmp_path / "other checkout" / ".rebuild"  # a space in the path, too
    other_settings = Settings(home=other_home, database_url=None)
    with ThreadPoolExecutor(2) as pool:  # `make run` and `make test` starting together
        other, twin = pool.map(localdb.up, [other_settings, other_settings])
    assert other == twin
    try:
        assert other.port != cluster.port
        assert other.sockdir != cluster.sockdir
        with psycopg.connect(other.conninfo()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert localdb.is_running(cluster), "starting a second cluster disturbed the first"
    finally:
        assert localdb.down(other_settings) is True
    assert localdb.status(other_settings)["running"] is False
    (other.datadir / "rebuild.conf").write_text("wal_level = replica\n")  # an outdated file
    restarted = localdb.up(other_settings)
    try:
        assert restarted.port == other.port
        with psycopg.connect(restarted.conninfo()) as conn:
            assert conn.execute("SHOW wal_level").fetchone()[0] == "minimal"
    finally:
        localdb.down(other_settings)
        if restarted.datadir.parent != other_home:  # relocated out of an unreachable tmp dir
            shutil.rmtree(restarted.datadir.parent)


def test_database_create_and_drop(cluster: localdb.Cluster) -> None:
    name = f"rebuild_test_{os.getpid()}_scratch"
    url = localdb.ensure_database(cluster, name)
    assert name in url
    with psycopg.connect(cluster.conninfo(name)) as conn:
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname='postgis'").fetchone()
    localdb.drop_database(cluster, name)
    with psycopg.connect(cluster.conninfo("postgres")) as conn:
        gone = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert gone is None


def _fake_server(tmp_path: Path) -> Path:
    """PostgreSQL binaries without a PostGIS extension folder."""
    bindir = tmp_path / "pg" / "bin"
    share = tmp_path / "pg" / "share"
    (share / "extension").mkdir(parents=True)
    bindir.mkdir(parents=True)
    scripts = {
        "initdb": "exit 0",
        "postgres": 'echo "postgres (PostgreSQL) 15.18"',
        "pg_config": f'echo "{share}"',
    }
    for name, body in scripts.items():
        path = bindir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bindir


def test_missing_postgis_names_the_package(tmp_path: Path) -> None:
    bindir = _fake_server(tmp_path)
    settings = Settings(pg_bindir=bindir, install_packages=False, home=tmp_path / "home")
    with pytest.raises(LocalDbError) as caught:
        localdb.ensure_binaries(settings)
    assert "apt-get install postgresql-15-postgis-3" in str(caught.value)


def test_missing_server_names_the_packages(tmp_path: Path) -> None:
    settings = Settings(pg_bindir=tmp_path / "nowhere", install_packages=False)
    with pytest.raises(LocalDbError) as caught:
        localdb.ensure_binaries(settings)
    assert "apt-get install postgresql" in str(caught.value)
    assert "REBUILD_DATABASE_URL" in str(caught.value)


def test_a_socket_folder_under_tmp_has_an_unpredictable_name() -> None:
    reachable = Path(tempfile.mkdtemp())
    reachable.chmod(0o755)  # the server user (as root: postgres) can reach it: no relocation
    try:
        deep = reachable / ("long-folder-name-" * 8) / ".rebuild"  # too long for a socket path
        settings = Settings(home=deep, database_url=None)
        first, second = localdb.describe(settings).sockdir, localdb.describe(settings).sockdir
        assert first.parent == second.parent == Path(tempfile.gettempdir())
        assert first != second  # random until the cluster starts and cluster.json remembers it
    finally:
        shutil.rmtree(reachable)


def test_a_socket_folder_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534) if os.geteuid() == 0 else None
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    if os.geteuid() == 0:
        with pytest.raises(LocalDbError, match="not ours"):
            localdb.prepare_socket_dir(theirs, None)
    with pytest.raises(LocalDbError, match="not ours"):
        localdb.prepare_socket_dir(link, None)
    ours = tmp_path / "ours"
    localdb.prepare_socket_dir(ours, None)
    localdb.prepare_socket_dir(ours, None)  # ours again at the next start: fine
    assert stat.S_IMODE(ours.stat().st_mode) == 0o700
