"""Starting and stopping the sandbox: sekmet-fhir behind the toolkit's layer, on 127.0.0.1.

    with start_sandbox(tmp / "sandbox", load=hospital) as sandbox:
        httpx.get(f"{sandbox.base_url}/Patient/pat-000001")
        sandbox.set_fault("429", retry_after=3, match="bulk-status")

Two uvicorn servers run in threads of this process: the FHIR server (sekmet's app wrapped in
layer.ToolkitLayer) and the admin endpoint (admin.py), each on its own port of 127.0.0.1 and
nothing else. Their sockets are bound here, so a port in use is one line and port 0 a free
one. `down` stops the FHIR server (connections refused) and `clear` starts it again on the
same port, with the same data and export jobs. sekmet's simulator (it writes results of its
own after an order) and its traffic log (every request and body into the database) are off.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapshots.errors import oserror_text

from . import cache as db_cache
from .deletions import Deletions
from .errors import SandboxError
from .faults import FaultSet, make_fault
from .layer import ToolkitLayer
from .loader import LoadResult, analyze, build_database, load_into_store

HOST = "127.0.0.1"
DB = "sekmet.db"
INFO = "sandbox.json"  # base and admin URL of the running sandbox, for `downtime sandbox fault`
LOCK = ".lock"
# what the sandbox writes in its folder; anything else there means it is someone else's
OURS = {DB, f"{DB}-wal", f"{DB}-shm", f"{DB}.loading", "bulk", INFO, LOCK}


@dataclass(frozen=True)
class SmartClient:
    """A client registered for SMART Backend Services: its id and public keys (a JWKS holding
    keys of one type: sekmet answers 500 to an ES384 assertion checked against a set that
    also holds an RSA key, so register one client per key type)."""

    client_id: str
    jwks: dict
    scopes: str = "system/*.*"

    @classmethod
    def for_key(cls, client_id: str, public_key: Any, kid: str,
                scopes: str = "system/*.*") -> SmartClient:
        """A client with one public key (RSA: RS384, EC P-384: ES384) as its JWKS."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
        jwk = json.loads((ECAlgorithm if is_ec else RSAAlgorithm).to_jwk(public_key))
        jwk.update(kid=kid, alg="ES384" if is_ec else "RS384", use="sig")
        return cls(client_id, {"keys": [jwk]}, scopes)


@dataclass(frozen=True)
class SmartAuth:
    clients: tuple[SmartClient, ...]
    token_lifetime: int = 300  # seconds an access token lives


@dataclass(frozen=True)
class Tls:
    certfile: Path  # the server's certificate chain (PEM), for 127.0.0.1
    keyfile: Path


@dataclass
class _Listener:
    server: Any
    thread: threading.Thread


def start_sandbox(data_dir: Path, *, port: int = 0, admin_port: int = 0, host: str = HOST,
                  load: Path | None = None, cache_dir: Path | None = None,
                  auth: SmartAuth | None = None, tls: Tls | None = None,
                  export_seconds: float = 0.2,
                  progress: Callable[[str], None] | None = None) -> Sandbox:
    """A running sandbox with its database in `data_dir` (made if missing; a folder of
    anything else is refused). `load`: start afresh with that export (the folder's database
    replaced); `cache_dir`: keep and reuse loaded databases there (cache.py). `port` 0 picks
    a free port. `auth`: SMART Backend Services only; `tls`: HTTPS. `export_seconds`: the
    least time an export job takes (at most 1), so that a client meets a 202 at least once.
    `progress` hears what takes time (a load) as it begins."""
    sandbox = Sandbox(Path(data_dir), port=port, admin_port=admin_port, host=host, auth=auth,
                      tls=tls, export_seconds=export_seconds)
    try:
        sandbox._start(load, cache_dir, progress or (lambda _text: None))
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


class Sandbox:
    def __init__(self, data_dir: Path, *, port: int, admin_port: int, host: str,
                 auth: SmartAuth | None, tls: Tls | None, export_seconds: float = 0.2) -> None:
        if host != HOST:
            raise SandboxError(f"the sandbox listens on {HOST} only, not {host}: it stands in "
                               "for an EHR's test environment and is never reachable from "
                               "another machine")
        _check_auth(auth)
        if tls is not None:
            for path in (tls.certfile, tls.keyfile):
                if not Path(path).is_file():
                    raise SandboxError(f"{path}: no such TLS certificate or key file")
        if not 0 <= export_seconds <= 1:
            raise SandboxError(f"export_seconds must be from 0 to 1, not {export_seconds:g}")
        self.data_dir, self.auth, self.tls = data_dir, auth, tls
        self.export_seconds = export_seconds
        self._wanted = (port, admin_port)
        self.port = self.admin_port = 0
        self.faults = FaultSet()
        self.loaded: LoadResult | None = None
        self._ctx: Any = None
        self._app: Any = None
        self._fhir: _Listener | None = None
        self._admin: _Listener | None = None
        self._lock_file: Any = None
        self._state = threading.Lock()
        self._down_timer: threading.Timer | None = None
        self._live: Any = None
        self.is_down = False

    # --- what a client needs -----------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/auth/token"

    @property
    def admin_url(self) -> str:
        return f"http://{HOST}:{self.admin_port}"

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- starting and stopping ---------------------------------------------------------------

    def _start(self, load: Path | None, cache_dir: Path | None,
               progress: Callable[[str], None]) -> None:
        self._prepare_folder()
        # bound first: a port in use is told before a load of minutes, not after
        fhir_socket = _bind(self._wanted[0])
        try:
            admin_socket = _bind(self._wanted[1])
        except SandboxError:
            fhir_socket.close()
            raise
        self.port, self.admin_port = fhir_socket.getsockname()[1], admin_socket.getsockname()[1]
        try:
            if load is not None:
                self.loaded = self._fresh_database(Path(load), cache_dir, progress)
            self._app = self._make_app()
        except BaseException:
            fhir_socket.close()
            admin_socket.close()
            raise
        self._fhir = _serve(self._app, fhir_socket, self.tls, "fhir")
        from .admin import admin_app

        self._admin = _serve(admin_app(self), admin_socket, None, "admin")
        self._write_info()

    def _prepare_folder(self) -> None:
        folder = self.data_dir
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            others = sorted(p.name for p in folder.iterdir() if p.name not in OURS)
        except OSError as e:
            raise SandboxError(oserror_text(e, "cannot use as the sandbox's folder", folder)) \
                from None
        if others:
            raise SandboxError(f"{folder}: holds files the sandbox did not write "
                               f"({', '.join(others[:3])}{'...' if len(others) > 3 else ''}): "
                               "give it a folder of its own (empty or new)")
        self._lock_file = open(folder / LOCK, "a")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            raise SandboxError(f"{folder}: another sandbox is running on this folder (its "
                               f"URLs are in {folder / INFO})") from None

    def _fresh_database(self, source: Path, cache_dir: Path | None,
                        progress: Callable[[str], None]) -> LoadResult:
        from .loader import export_files

        files = export_files(source)  # not an export: say so before deleting anything
        for name in (DB, f"{DB}-wal", f"{DB}-shm"):
            (self.data_dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.data_dir / "bulk", ignore_errors=True)
        db_path = self.data_dir / DB
        key = db_cache.export_key(source) if cache_dir is not None else None
        if key is not None:
            started = time.perf_counter()
            if db_cache.fetch(cache_dir, key, db_path):
                return LoadResult(source, _counts(db_path), time.perf_counter() - started,
                                  cached=True)
        progress(f"loading {source} ({len(files)} files) ...")
        result = build_database(db_path, source)
        if key is not None:
            db_cache.keep(cache_dir, key, db_path)
        return result

    def _make_app(self) -> Any:
        from sekmet.config import Settings
        from sekmet.main import create_app

        settings = Settings.model_validate(_sekmet_settings(self))
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        app = create_app(settings)
        if not handlers:  # create_app calls logging.basicConfig(INFO): not in our process
            for handler in root.handlers[:]:
                root.removeHandler(handler)
            root.setLevel(level)
        self._ctx = app.state.ctx
        return ToolkitLayer(app, self.faults, Deletions(self._ctx))

    def _write_info(self) -> None:
        info = {"base_url": self.base_url, "admin_url": self.admin_url, "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = self.data_dir / INFO
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f, indent=2)

    def stop(self) -> None:
        """Stop everything (the live stream, both servers); the data stays in the folder."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._down_timer is not None:
            self._down_timer.cancel()
        for listener in (self._fhir, self._admin):
            if listener is not None:
                _shut(listener)
        self._fhir = self._admin = None
        if self._ctx is not None:
            with self._ctx.store.lock:
                self._ctx.store.conn.close()
            self._ctx = None
        if self._lock_file is not None:
            (self.data_dir / INFO).unlink(missing_ok=True)
            self._lock_file.close()
            self._lock_file = None

    # --- data ------------------------------------------------------------------------------

    def load(self, folder: Path) -> LoadResult:
        """PUT an export's resources into the running sandbox (one transaction, ANALYZE)."""
        result = load_into_store(self._ctx.store, Path(folder))
        return result

    def analyze(self) -> None:
        analyze(self._ctx.store)

    def counts(self) -> dict[str, int]:
        """Resources held, by type (deleted ones not counted)."""
        return self._ctx.store.counts()

    @property
    def store(self) -> Any:
        """sekmet's Store (for the live stream and tests that write the way the EHR would)."""
        return self._ctx.store

    def offer_match(self, offer: bool = True) -> None:
        """Answer `Patient/$match` from now on (match.py: sekmet has none of its own), or
        (False) no longer."""
        from .match import offer_match

        offer_match(self._ctx.service, offer)

    # --- faults ----------------------------------------------------------------------------

    def set_fault(self, kind: str, **params: Any) -> dict:
        """Put a fault in force (faults.py); `down` stops the server now."""
        fault = make_fault(kind, params)
        if kind == "down":
            self.down(fault.seconds)
        else:
            self.faults.set(fault)
        return fault.describe()

    def clear_faults(self, kind: str | None = None) -> list[str]:
        """Clear one kind of fault, or all (a `down` server is started again)."""
        cleared = [] if kind == "down" else self.faults.clear(kind)
        if kind in (None, "down") and self.is_down:
            self.up()
            cleared.append("down")
        return cleared

    def down(self, seconds: float = 0) -> None:
        """Stop the FHIR server (connections refused); up again after `seconds` if > 0."""
        with self._state:
            if self._fhir is not None:
                _shut(self._fhir)
                self._fhir = None
            self.is_down = True
            if self._down_timer is not None:
                self._down_timer.cancel()
            self._down_timer = None
            if seconds:
                self._down_timer = threading.Timer(seconds, self.up)
                self._down_timer.daemon = True
                self._down_timer.start()

    def up(self) -> None:
        with self._state:
            if not self.is_down:
                return
            self._fhir = _serve(self._app, _bind(self.port), self.tls, "fhir")
            self.is_down = False

    def status(self) -> dict:
        return {"base_url": self.base_url, "admin_url": self.admin_url, "up": not self.is_down,
                "faults": ([{"kind": "down"}] if self.is_down else []) + self.faults.describe(),
                "live": self._live.describe() if self._live is not None else None}

    # --- the live stream ---------------------------------------------------------------------

    def start_live(self, rate: float, seed: int = 1) -> Any:
        """Write a hospital's day of changes at `rate` events per hour per inpatient
        (downtime.generator.live), until stop_live() or stop()."""
        from .live import LiveDriver

        if self._live is not None:
            self._live.stop()
        self._live = LiveDriver(self, rate, seed)
        self._live.start()
        return self._live

    def stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _sekmet_settings(sandbox: Sandbox) -> dict:
    data = sandbox.data_dir
    auth: dict = {"types": ["none"]}
    if sandbox.auth is not None:
        auth = {"types": ["smart"], "token_lifetime": sandbox.auth.token_lifetime,
                "smart_clients": [{"client_id": c.client_id, "jwks": c.jwks, "scopes": c.scopes}
                                  for c in sandbox.auth.clients]}
    return {
        "base_url": sandbox.base_url,  # every absolute URL it answers is built from this
        "host": HOST, "port": sandbox.port,  # sekmet's own default is 0.0.0.0
        "data_dir": str(data),  # export files go to data/bulk/<job>/
        "db_path": str(data / DB),
        "server_auth": auth,
        # the simulator answers an order with results of its own after 2 s; its delay is
        # also the sleep at the end of every export job (min(1 s, delay)), which is all it
        # does with the simulator off
        "simulator": {"enabled": False, "delay_seconds": sandbox.export_seconds},
        "log_inbound": False,  # else every request and its body is kept in the database
        "validation": {"inbound": "strict"},  # fhir.resources structure, on REST writes
        "own_private_key_path": str(data / "no-such-key.pem"),  # sekmet as a client: unused
    }


def _check_auth(auth: SmartAuth | None) -> None:
    if auth is None:
        return
    if not auth.clients:
        raise SandboxError("SMART Backend Services needs at least one client")
    for client in auth.clients:
        keys = client.jwks.get("keys") if isinstance(client.jwks, dict) else None
        if not isinstance(keys, list) or not keys:
            raise SandboxError(f"SMART client {client.client_id!r}: its jwks has no keys")
        kinds = {k.get("kty") for k in keys if isinstance(k, dict)}
        if len(kinds) != 1:
            raise SandboxError(f"SMART client {client.client_id!r}: its jwks mixes key types "
                               f"({', '.join(sorted(map(str, kinds)))}); sekmet fails on such "
                               "a set: register one client per key type")


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise SandboxError(f"{HOST}:{port} is in use: choose another port, or 0 for a "
                               "free one") from None
        raise SandboxError(f"{HOST}:{port}: cannot listen there ({e.strerror})") from None
    sock.listen(128)
    return sock


def _serve(app: Any, sock: socket.socket, tls: Tls | None, name: str) -> _Listener:
    import uvicorn

    config = uvicorn.Config(app, host=HOST, port=sock.getsockname()[1], log_level="warning",
                            access_log=False, timeout_graceful_shutdown=3,
                            ssl_certfile=str(tls.certfile) if tls else None,
                            ssl_keyfile=str(tls.keyfile) if tls else None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"sandbox-{name}")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise SandboxError(f"the sandbox's {name} server on {HOST}:"
                               f"{sock.getsockname()[1]} did not start")
        time.sleep(0.01)
    return _Listener(server, thread)


def _shut(listener: _Listener) -> None:
    listener.server.should_exit = True
    listener.thread.join(timeout=10)


def _counts(db_path: Path) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT type, COUNT(*) FROM resources WHERE deleted = 0 "
                            "GROUP BY type ORDER BY type").fetchall()
    finally:
        conn.close()
    return dict(rows)


__all__ = ["Sandbox", "SmartAuth", "SmartClient", "Tls", "start_sandbox"]
