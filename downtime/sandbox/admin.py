"""The sandbox's admin endpoint: the toolkit's, on its own port of 127.0.0.1, never sekmet's.

    GET    /status            {"base_url", "admin_url", "up", "faults": [...], "live"}
    PUT    /faults/{kind}     body: the fault's parameters as JSON (faults.py); 200 {"fault"}
    DELETE /faults            clear every fault (a stopped server is started again)
    DELETE /faults/{kind}     clear one
A fault that cannot be had is 400 {"error": "<one line>"}. It has no authentication: it
listens on loopback only, as the sandbox does, and holds no data.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .errors import SandboxError


def admin_app(sandbox: Any) -> Starlette:
    def status(_request: Request) -> JSONResponse:
        return JSONResponse(sandbox.status())

    async def set_fault(request: Request) -> JSONResponse:
        try:
            raw = await request.body()
            params = (await request.json()) if raw.strip() else {}
        except ValueError:
            return JSONResponse({"error": "the fault's parameters are not JSON"}, 400)
        if not isinstance(params, dict):
            return JSONResponse({"error": "the fault's parameters must be a JSON object"}, 400)
        try:
            # `down` waits for the FHIR server's thread to end: not on this event loop
            fault = await run_in_threadpool(sandbox.set_fault, request.path_params["kind"],
                                            **params)
        except SandboxError as e:
            return JSONResponse({"error": str(e)}, 400)
        return JSONResponse({"fault": fault})

    def clear(request: Request) -> JSONResponse:  # sync: starlette runs it in a thread
        try:
            cleared = sandbox.clear_faults(request.path_params.get("kind"))
        except SandboxError as e:
            return JSONResponse({"error": str(e)}, 400)
        return JSONResponse({"cleared": cleared})

    return Starlette(routes=[
        Route("/status", status, methods=["GET"]),
        Route("/faults/{kind}", set_fault, methods=["PUT", "POST"]),
        Route("/faults/{kind}", clear, methods=["DELETE"]),
        Route("/faults", clear, methods=["DELETE"]),
    ])
