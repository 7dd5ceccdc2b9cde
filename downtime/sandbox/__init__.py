"""`downtime sandbox`: a FHIR R4 server on 127.0.0.1 standing in for the hospital's EHR, for
demos, tests, benchmarks and drills (docs/sandbox.md). It is sekmet-fhir (a server nobody
here wrote) behind a small layer of the toolkit's own (layer.py: faults, `deleted[]` in
`_since` exports, gzip), loaded with a generated hospital (loader.py) and, if asked, fed a
hospital's day of changes (live.py).

    from downtime.sandbox import start_sandbox
    with start_sandbox(folder, load=hospital) as sandbox:
        ... sandbox.base_url, sandbox.admin_url, sandbox.set_fault("5xx", share=0.5) ...

It needs the `[sandbox]` extra (a web framework and server a workstation does not carry);
without it `start_sandbox` raises SandboxMissing, one line saying what to install. The
admin client (admin_client.py) needs only httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import LoadError, SandboxError, SandboxMissing

if TYPE_CHECKING:
    from .server import Sandbox, SmartAuth, SmartClient, Tls


def require_extra() -> None:
    """SandboxMissing unless sekmet-fhir, uvicorn and starlette can be imported."""
    import importlib

    for module, package in (("sekmet", "sekmet-fhir"), ("uvicorn", "uvicorn"),
                            ("starlette", "starlette")):
        try:
            importlib.import_module(module)
        except ImportError:
            raise SandboxMissing(package) from None


def start_sandbox(data_dir: Any, **options: Any) -> Sandbox:
    """See server.start_sandbox."""
    require_extra()
    from .server import start_sandbox as start

    return start(data_dir, **options)


def __getattr__(name: str) -> Any:  # Sandbox, SmartAuth, SmartClient, Tls: with the extra
    if name in ("Sandbox", "SmartAuth", "SmartClient", "Tls"):
        require_extra()
        from . import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = ["LoadError", "Sandbox", "SandboxError", "SandboxMissing", "SmartAuth",
           "SmartClient", "Tls", "require_extra", "start_sandbox"]
