"""How to reach the EHR's FHIR server: the `[source]` table of the config, typed.

    [source]
    url = "https://ehr.example.org/fhir/R4"  # the FHIR base URL (https, or http on loopback)
    mode = "bulk"                 # "bulk" ($export) or "search" (REST searches)
    export_level = "group"        # bulk: "system", "patient" or "group" (Epic: group only)
    group_id = "downtime-inpatients"
    auth = "smart"                # "none", "bearer" or "smart" (SMART Backend Services)
    token_file = "/etc/downtime/ehr-token"   # bearer: the token, from a file ...
    token_env = "EHR_TOKEN"       # ... or from this environment variable; never in the config
    client_id = "downtime-builder"           # smart
    private_key = "keys/ehr-client.pem"      # smart: RSA (RS384) or P-384 EC (ES384), PEM
    kid = "downtime-2026"         # smart: the key's id in the JWKS the EHR holds
    token_url = ""                # smart: default from [url]/.well-known/smart-configuration
    scope = "system/*.read"
    ca_bundle = "/etc/ssl/certs/hospital-ca.pem"  # a site CA (TLS is always verified)
    client_cert = ""              # optional client certificate (PEM) and its key
    client_key = ""
    timeout_seconds = 30          # per request (connect, read)
    retries = 5                   # of a request that failed in a way worth retrying
    page_size = 500               # search: _count
    batch_patients = 50           # search: patients per `patient=a,b,c` query (at most)
    search_windows = true         # search: send the build's windows as date filters (off for
                                  # a server that filters dates slowly: the sandbox's sekmet)
    export_deadline_minutes = 30  # bulk: a job not complete by then is cancelled, and failed

Paths are resolved against the config's folder by downtime/config.py before they get here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import ToolkitError

MODES = ("bulk", "search")
LEVELS = ("system", "patient", "group")
AUTHS = ("none", "bearer", "smart")


class SourceSettingsError(ToolkitError):
    reason = "config"


@dataclass(frozen=True)
class TlsSettings:
    ca_bundle: Path | None = None  # None: the system's trust store (certifi's)
    client_cert: Path | None = None
    client_key: Path | None = None


@dataclass(frozen=True)
class AuthSettings:
    kind: str = "none"
    token_file: Path | None = None
    token_env: str | None = None
    client_id: str = ""
    private_key: Path | None = None
    kid: str = ""
    token_url: str = ""
    scope: str = "system/*.read"

    def bearer_token(self) -> str:
        """The static token, read now (a rotated file is picked up by the next run)."""
        if self.token_file is not None:
            try:
                token = self.token_file.read_text().strip()
            except OSError as e:
                raise SourceSettingsError(f"{self.token_file}: cannot read the bearer token "
                                          f"({e.strerror})") from None
            if not token:
                raise SourceSettingsError(f"{self.token_file}: the bearer token file is empty")
            return token
        token = os.environ.get(self.token_env or "", "").strip()
        if not token:
            raise SourceSettingsError(f"[source] token_env: ${self.token_env} is not set (the "
                                      "bearer token comes from there)")
        return token


@dataclass(frozen=True)
class ClientSettings:
    url: str = ""
    mode: str = "bulk"
    export_level: str = "system"
    group_id: str = ""
    types: tuple[str, ...] = ()
    auth: AuthSettings = field(default_factory=AuthSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    timeout_seconds: float = 30
    retries: int = 5
    page_size: int = 500
    batch_patients: int = 50
    search_windows: bool = True
    export_deadline_minutes: float = 30

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @classmethod
    def from_table(cls, table: dict[str, Any], base: Path, where: str) -> ClientSettings:
        """The `[source]` table, checked: SourceSettingsError naming `where` and the key."""
        known = {"url", "mode", "export_level", "group_id", "types", "auth", "token_file",
                 "token_env", "client_id", "private_key", "kid", "token_url", "scope",
                 "ca_bundle", "client_cert", "client_key", "timeout_seconds", "retries",
                 "page_size", "batch_patients", "search_windows", "export_deadline_minutes"}
        unknown = set(table) - known
        if unknown:
            raise SourceSettingsError(f"{where}: unknown key(s) in [source]: "
                                      f"{', '.join(sorted(unknown))}")
        get = _Getter(table, where)
        url = get.text("url", "")
        if url:
            check_url(url, f"{where}: [source] url")
        auth = AuthSettings(kind=get.choice("auth", AUTHS, "none"),
                            token_file=get.path("token_file", base),
                            token_env=get.text("token_env", "") or None,
                            client_id=get.text("client_id", ""),
                            private_key=get.path("private_key", base),
                            kid=get.text("kid", ""), token_url=get.text("token_url", ""),
                            scope=get.text("scope", "system/*.read"))
        settings = cls(url=url, mode=get.choice("mode", MODES, "bulk"),
                       export_level=get.choice("export_level", LEVELS, "system"),
                       group_id=get.text("group_id", ""), types=get.codes("types"),
                       auth=auth,
                       tls=TlsSettings(get.path("ca_bundle", base), get.path("client_cert", base),
                                       get.path("client_key", base)),
                       timeout_seconds=get.number("timeout_seconds", 30),
                       retries=int(get.number("retries", 5, whole=True, floor=0)),
                       page_size=int(get.number("page_size", 500, whole=True)),
                       batch_patients=int(get.number("batch_patients", 50, whole=True)),
                       search_windows=get.flag("search_windows", True),
                       export_deadline_minutes=get.number("export_deadline_minutes", 30))
        settings.check(where)
        return settings

    def check(self, where: str = "[source]") -> None:
        """What makes sense together: a group for a group export, a token source for bearer,
        a client id and key for SMART, a client key only with a client certificate."""
        if self.export_level == "group" and self.mode == "bulk" and not self.group_id:
            raise SourceSettingsError(f"{where}: export_level \"group\" needs group_id")
        if self.auth.kind == "bearer" and not (self.auth.token_file or self.auth.token_env):
            raise SourceSettingsError(f"{where}: auth \"bearer\" needs token_file or token_env "
                                      "(the token itself never goes in the config)")
        if self.auth.kind == "smart" and not (self.auth.client_id and self.auth.private_key):
            raise SourceSettingsError(f"{where}: auth \"smart\" needs client_id and "
                                      "private_key")
        if self.tls.client_key and not self.tls.client_cert:
            raise SourceSettingsError(f"{where}: client_key without client_cert")


def check_url(url: str, where: str) -> None:
    """A FHIR base URL the client may use: https anywhere; plain http only on loopback (the
    sandbox), as patient data must not cross a network in the clear."""
    parts = urlparse(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SourceSettingsError(f"{where}: {url!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SourceSettingsError(f"{where}: {url!r} is plain http to another host: patient "
                                  "data would cross the network unencrypted (use https)")


class _Getter:
    def __init__(self, table: dict[str, Any], where: str) -> None:
        self.table, self.where = table, where

    def _fail(self, key: str, what: str) -> SourceSettingsError:
        return SourceSettingsError(f"{self.where}: [source] {key} must be {what}, not "
                                   f"{self.table[key]!r:.40}")

    def text(self, key: str, default: str) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "text")
        return value.strip()

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.table.get(key, default)
        if value not in choices:
            raise self._fail(key, " or ".join(f'"{c}"' for c in choices))
        return value

    def path(self, key: str, base: Path) -> Path | None:
        value = self.text(key, "")
        return base / value if value else None

    def codes(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of resource types")
        return tuple(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def number(self, key: str, default: float, whole: bool = False, floor: float = 1) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value) or value < floor or (whole and value != int(value)):
            raise self._fail(key, f"a {'whole ' if whole else ''}number, {floor:g} or more")
        return value
