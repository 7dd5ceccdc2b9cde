"""The engine's own actions: `gate` (a named sign-off), `rollback` and `go-live` (the
decision). They do no work on the site: the steps around them do (the rollback path's steps
put the site back); these record who decided what, when, and why.

A gate asks the person in its role through `ctx.shared["drill.ask"]` (the runner puts the
terminal's or the TUI's asker there); in an unattended run (nobody to ask) it takes the
sign-off the script pre-approved (`signed_by`).
"Stop the line" at a gate pauses the drill (the gate is asked again: resume or abort) or
aborts it, as the gate's `stop` says; an abort takes the script's rollback path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .api import ActionSpec, DrillContext, StepResult, register

ASK = "drill.ask"  # shared: Callable[[GateRequest], GateAnswer]
GATES = "drill.gates"  # shared: list[GateRecord], in the order they were signed
DECISION = "drill.decision"  # shared: (decision, why), set by go-live and rollback
STEP = "drill.step"  # shared: the id of the step running (the runner sets it)
WHY = "drill.why"  # shared: why the rollback path is being taken (the runner sets it)

Choice = Literal["approve", "stop", "abort"]


@dataclass(frozen=True)
class GateRequest:
    step: str
    role: str
    question: str
    stop: Literal["pause", "abort"]  # what "stop the line" does at this gate
    paused: bool = False  # asked again after a pause: approve resumes, abort aborts


@dataclass(frozen=True)
class GateAnswer:
    choice: Choice
    name: str  # who answered, in their own words


@dataclass(frozen=True)
class GateRecord:
    step: str
    role: str
    name: str
    at: str  # ISO time of the sign-off (or of the abort)
    decision: Literal["approved", "aborted"]
    pre_approved: bool
    question: str
    paused_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "role": self.role, "name": self.name, "at": self.at,
                "decision": self.decision, "pre_approved": self.pre_approved,
                "question": self.question, "paused_seconds": round(self.paused_seconds, 3)}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _gate(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    step = ctx.shared.get(STEP, "gate")
    request = GateRequest(step, str(params["role"]),
                          str(params.get("question") or f"{params['role']}: go on?"),
                          "abort" if params.get("stop") == "abort" else "pause")
    # pre-approval is for unattended runs: with someone there to ask, the gate is asked
    if ASK not in ctx.shared and "signed_by" in params:
        record = _pre_approved(request, params)
    else:
        record = _asked(ctx, request)
    ctx.shared.setdefault(GATES, []).append(record)
    ctx.log(f"gate {step}: {record.decision} by {record.name} ({record.role}) at {record.at}")
    return StepResult(detail=f"{record.decision} by {record.name} ({record.role})",
                      evidence={"signed_by": record.name, "role": record.role,
                                "signed_at": record.at, "decision": record.decision})


def _pre_approved(request: GateRequest, params: Mapping[str, Any]) -> GateRecord:
    aborted = params.get("answer") == "abort"
    return GateRecord(request.step, request.role, str(params["signed_by"]),
                      str(params.get("signed_at") or now_iso()),
                      "aborted" if aborted else "approved", True, request.question)


def _asked(ctx: DrillContext, request: GateRequest) -> GateRecord:
    ask: Callable[[GateRequest], GateAnswer] | None = ctx.shared.get(ASK)
    if ask is None:  # the script check refuses this for a headless run; never guessed
        return GateRecord(request.step, request.role, "(nobody)", now_iso(), "aborted",
                          False, request.question)
    answer = ask(request)
    paused = 0.0
    while answer.choice == "stop" and request.stop == "pause":
        ctx.log(f"gate {request.step}: line stopped by {answer.name} ({request.role}): paused")
        started = time.monotonic()
        answer = ask(replace(request, paused=True))
        paused += time.monotonic() - started
    decision = "approved" if answer.choice == "approve" else "aborted"
    return GateRecord(request.step, request.role, answer.name, now_iso(), decision, False,
                      request.question, paused)


def _rollback(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    why = str(params.get("reason") or ctx.shared.get(WHY) or "the drill's rollback path")
    ctx.shared[DECISION] = ("roll back", why)
    to = params.get("to", "the legacy EHR")
    return StepResult(detail=f"rolled back to {to}: {why}")


def _go_live(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    decided = ctx.shared.get(DECISION)
    if decided and decided[0] == "roll back":
        return StepResult("failed", "go-live after the drill decided to roll back")
    why = str(params.get("reason") or "every gate signed, no rollback criterion tripped")
    ctx.shared[DECISION] = ("go live", why)
    return StepResult(detail=f"live on {params.get('target', 'the new EHR')}: {why}")


GATE_SPEC = register(ActionSpec(
    "gate", _gate, "a named sign-off (role, name, time), asked or pre-approved",
    required=("role",), optional=("question", "signed_by", "signed_at", "answer", "stop")))
ROLLBACK_SPEC = register(ActionSpec(
    "rollback", _rollback, "record the decision to roll back (the path's steps do the work)",
    optional=("to", "reason")))
GO_LIVE_SPEC = register(ActionSpec(
    "go-live", _go_live, "record the decision to go live on the new EHR",
    optional=("target", "reason")))
