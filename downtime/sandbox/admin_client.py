"""Talking to a running sandbox's admin endpoint (admin.py) from another process: what
`downtime sandbox fault` and `status` do. httpx only: no [sandbox] extra needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from snapshots.errors import oserror_text

from .errors import SandboxError

INFO = "sandbox.json"  # as server.py writes it


def default_data_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path("downtime") / "sandbox"


def admin_url_of(data_dir: Path) -> str:
    """The admin URL the sandbox running on `data_dir` wrote there."""
    path = Path(data_dir) / INFO
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise SandboxError(f"{data_dir}: no sandbox is running there (no {INFO}); start one "
                           "with `downtime sandbox serve`, or give --admin URL") from None
    except OSError as e:
        raise SandboxError(oserror_text(e, "cannot read", path)) from None
    except ValueError:
        raise SandboxError(f"{path}: not the sandbox's JSON") from None
    url = info.get("admin_url") if isinstance(info, dict) else None
    if not isinstance(url, str) or not url.startswith("http://127.0.0.1:"):
        raise SandboxError(f"{path}: holds no admin URL on 127.0.0.1")
    return url


def _call(method: str, url: str, body: dict | None = None) -> dict:
    try:
        answer = httpx.request(method, url, json=body, timeout=30)
    except httpx.HTTPError as e:
        raise SandboxError(f"{url}: no sandbox answers there ({type(e).__name__}); is "
                           "`downtime sandbox serve` running?") from None
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code != 200:
        raise SandboxError(str(data.get("error") or f"{url}: HTTP {answer.status_code}"))
    return data


def set_fault(admin_url: str, kind: str, params: dict[str, Any]) -> dict:
    return _call("PUT", f"{admin_url}/faults/{kind}", params)["fault"]


def clear(admin_url: str, kind: str | None = None) -> list[str]:
    return _call("DELETE", f"{admin_url}/faults" + (f"/{kind}" if kind else ""))["cleared"]


def status(admin_url: str) -> dict:
    return _call("GET", f"{admin_url}/status")
