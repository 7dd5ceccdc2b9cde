"""`deleted[]` in a `_since` export's manifest: what sekmet leaves out, made from its history.

Bulk Data says that an export with `_since` lists the resources deleted since then in
`deleted`: NDJSON files of transaction Bundles whose entries are `request.method = DELETE`
with the resource's `Type/id`. sekmet 0.1.1 never does; a deleted resource just vanishes
from the export (the evaluation's bug 1), so an incremental snapshot built from it would keep
a discharged patient's deleted chart forever. sekmet does keep every version, and a deletion
is a version of its own; this module reads them:

- deleted: a resource whose current state is deleted, and whose deletion is at or after
  `_since` and before the job's `transactionTime` (a deletion after it is in the next
  export, whose `_since` is this `transactionTime`). A resource deleted and created again is
  not deleted: its new state is in `output`. One deleted after being created since `_since`
  is listed too (the client may never have had it; a DELETE of what it lacks is harmless).
- the export's scope, as sekmet draws it for `output`: at system level every type (Basic,
  Bundle and Subscription only when `_type` names them); at Patient level what was in a
  patient's compartment, judged on the resource's last version before its deletion (any
  reference to a Patient, through sekmet's own search index rules), and deleted Patients;
  at Group level the same for the Group's members now. `_type` narrows it; `_typeFilter`
  cannot be judged on a deleted resource and does not narrow it.
- one Bundle per deleted resource, so the file's lines are the deletions, in the job's own
  folder (`deleted.ndjson`), served, protected and dropped with the job by sekmet.

The times compared are sekmet's own instants (UTC, milliseconds, `Z`), and `_since` is
brought to that form first (layer.py does it for the kick-off as well).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "deleted.ndjson"
INFRASTRUCTURE = ("Bundle", "Subscription", "Basic")  # as sekmet's export leaves them out


def sekmet_instant(value: str) -> str | None:
    """`value` (any ISO 8601 date or date-time) as sekmet writes instants; None if it is not
    one. A time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Deletions:
    """Adds `deleted` to the manifest of each finished `_since` job, once per job."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._done: dict[str, list[dict]] = {}
        self._lock = threading.Lock()

    def manifest(self, job_id: str, manifest: dict) -> dict:
        job = self.ctx.bulk.jobs.get(job_id)
        if not job or not job.get("since"):
            return manifest
        with self._lock:
            if job_id not in self._done:
                self._done[job_id] = self._write(job)
            return {**manifest, "deleted": self._done[job_id]}

    def _write(self, job: dict) -> list[dict]:
        refs = deleted_refs(self.ctx.store, job)
        if not refs:
            return []
        folder = Path(self.ctx.bulk.root) / job["id"]
        if not folder.is_dir():  # the job was deleted meanwhile
            return []
        with (folder / FILE).open("w") as f:
            for ref in refs:
                bundle = {"resourceType": "Bundle", "type": "transaction",
                          "entry": [{"request": {"method": "DELETE", "url": ref}}]}
                f.write(json.dumps(bundle, separators=(",", ":")) + "\n")
        base = self.ctx.settings.base_url.rstrip("/")
        return [{"type": "Bundle", "url": f"{base}/bulk-files/{job['id']}/{FILE}",
                 "count": len(refs)}]


def deleted_refs(store: Any, job: dict) -> list[str]:
    """`Type/id` of every resource deleted within the job's window and scope."""
    since = sekmet_instant(job["since"])
    if since is None:
        return []
    rows = store.query("SELECT type, id FROM resources WHERE deleted = 1 AND last_updated >= ? "
                       "AND last_updated < ? ORDER BY seq", (since, job["transaction_time"]))
    types = set(job.get("types") or ())
    wanted = [(r[0], r[1]) for r in rows
              if (r[0] in types if types else r[0] not in INFRASTRUCTURE)]
    if job["level"] == "system":
        return [f"{t}/{i}" for t, i in wanted]
    patients = _members(store, job["group"]) if job["level"] == "group" else None
    return [f"{t}/{i}" for t, i in wanted if _in_scope(store, t, i, patients)]


def _members(store: Any, group_id: str) -> set[str]:
    row = store.query("SELECT json FROM resources WHERE type = 'Group' AND id = ? AND "
                      "deleted = 0", (group_id,))
    group = json.loads(row[0][0]) if row else {}
    return {str((m.get("entity") or {}).get("reference", "")).rsplit("/", 1)[-1]
            for m in group.get("member") or [] if "Patient/" in
            str((m.get("entity") or {}).get("reference", ""))}


def _in_scope(store: Any, rtype: str, rid: str, patients: set[str] | None) -> bool:
    """Whether the resource, as it was before its deletion, was in the compartment of a
    patient in scope (any patient when `patients` is None)."""
    if rtype == "Patient":
        return patients is None or rid in patients
    from sekmet.fhir.indexer import extract

    row = store.query("SELECT json FROM versions WHERE type = ? AND id = ? AND deleted = 0 "
                      "ORDER BY version DESC LIMIT 1", (rtype, rid))
    if not row or not row[0][0]:
        return False
    return any(r.rtype == "Patient" and (patients is None or r.rid in patients)
               for r in extract(json.loads(row[0][0])))
