"""The demo hospital: a synthetic hospital as FHIR R4 Bulk Data NDJSON, deterministic from a
seed, with the mess real data has (docs/demo-hospital.md lists each mess and where it is).

    summary = generate(out_dir, patients=150, seed=1, as_of=None)
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from snapshots.errors import ToolkitError, oserror_text

from . import tables as t
from .hospital import Hospital, iso
from .stays import Staff, _name, inpatient_stay, outpatient

# The files a generation writes: one per resource type. Only these are ever replaced in --out.
GENERATED_TYPES = ("AllergyIntolerance", "Condition", "DocumentReference", "Encounter", "Flag",
                   "Location", "MedicationAdministration", "MedicationRequest", "Observation",
                   "Patient", "Practitioner", "Procedure")


class GenerateError(ToolkitError):
    """The output folder cannot be used (one line, for the user)."""

    reason = "generate"


@dataclass
class GenerationSummary:
    out_dir: Path
    patients: int
    inpatients: int
    resources: dict[str, int] = field(default_factory=dict)
    units: list[str] = field(default_factory=list)
    messes: dict[str, list[str]] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)  # files of an earlier run overwritten


# Beside the files it wrote, the generator leaves what it wrote (names, sizes, SHA-256): a
# later run replaces exactly those files, and only while they are as it left them. Anything
# else named like an export (a real Bulk Data export put in the same folder, a generated file
# edited since) is never deleted.
MARKER = ".downtime-generated.json"


class _Writer:
    """One open NDJSON file per resource type, written (and hashed) as resources stream."""

    def __init__(self, out: Path):
        self.out, self.files, self.counts, self.hashes = out, {}, {}, {}

    def __call__(self, resource: dict) -> None:
        rtype = resource["resourceType"]
        f = self.files.get(rtype)
        if f is None:
            f = self.files[rtype] = open(self.out / f"{rtype}.ndjson", "wb")
            self.counts[rtype], self.hashes[rtype] = 0, hashlib.sha256()
        line = orjson.dumps(resource) + b"\n"
        f.write(line)
        self.hashes[rtype].update(line)
        self.counts[rtype] += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def mark(self, seed: int, as_of: datetime) -> None:
        """Write the marker: what this run wrote, to be replaced by the next run only."""
        files = {f"{rtype}.ndjson": {"sha256": h.hexdigest(),
                                     "bytes": (self.out / f"{rtype}.ndjson").stat().st_size}
                 for rtype, h in sorted(self.hashes.items())}
        body = {"written_by": "downtime generate", "seed": seed,
                "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "files": files}
        (self.out / MARKER).write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))


def _unit_sizes(patients: int) -> list[int]:
    sizes = [max(1, round(patients * u[3])) for u in t.UNITS]
    sizes[1] += patients - sum(sizes)  # 4 West takes the rounding
    if sizes[1] < 2:
        sizes = [patients] + [0] * (len(t.UNITS) - 1)
    return sizes


def generate(out_dir: Path, patients: int = 150, seed: int = 1,
             as_of: datetime | None = None) -> GenerationSummary:
    out = Path(out_dir)
    replaced = _prepare(out)
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(seed)
    h = Hospital(rng, as_of)
    emit = _Writer(out)
    try:
        staff = _staff(h, emit, patients)
        beds = _places(h, emit, patients)
        _patients(h, emit, patients, beds, staff)
        for i in range(max(3, patients // 3)):
            outpatient(h, emit, i)
    finally:
        emit.close()
    emit.mark(seed, as_of)
    return GenerationSummary(out, patients + max(3, patients // 3), patients,
                             dict(sorted(emit.counts.items())), [u[0] for u in t.UNITS],
                             {k: v for k, v in sorted(h.messes.items())}, replaced)


def _prepare(out: Path) -> list[str]:
    """Make the folder ready; return the files of an earlier generation it will replace.

    Nothing the generator did not write, or that changed since it wrote it, is ever deleted:
    a folder holding such FHIR files (which a build would read along with the hospital) is
    refused rather than mixed or wiped."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenerateError(oserror_text(e, "cannot create the folder", out)) from None
    written = _earlier_generation(out)
    foreign = sorted(p.name for p in out.iterdir() if p.name.endswith(
        (".ndjson", ".ndjson.gz", ".json")) and p.name != MARKER and not
        _as_written(p, written.get(p.name)))
    if foreign:
        raise GenerateError(f"{out}: holds FHIR files `downtime generate` did not write, or "
                            f"that changed since ({', '.join(foreign[:3])}"
                            f"{'...' if len(foreign) > 3 else ''}); nothing was deleted: choose "
                            "an empty or new folder")
    replaced = sorted(name for name in written if (out / name).exists())
    for name in replaced:
        (out / name).unlink()
    (out / MARKER).unlink(missing_ok=True)
    probe = out / ".downtime-generate-probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise GenerateError(oserror_text(e, "cannot write there", out)) from None
    return replaced


def _earlier_generation(out: Path) -> dict[str, dict]:
    """name -> {sha256, bytes} of the files an earlier run wrote here (its marker)."""
    try:
        marker = orjson.loads((out / MARKER).read_bytes())
        files = marker["files"]
        return {str(k): v for k, v in files.items() if isinstance(v, dict)} \
            if marker.get("written_by") == "downtime generate" and isinstance(files, dict) \
            else {}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return {}


def _as_written(path: Path, written: dict | None) -> bool:
    """The file is one an earlier run wrote, unchanged (size, then SHA-256)."""
    if written is None or path.stat().st_size != written.get("bytes"):
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == written.get("sha256")


def _staff(h: Hospital, emit: _Writer, patients: int) -> Staff:
    attendings = [f"prac-md-{k}" for k in range(max(8, patients // 12))]
    nurses = [f"prac-rn-{k}" for k in range(max(10, patients // 4))]
    for pid in attendings:
        emit(h.practitioner(pid, "attending"))
    for pid in nurses + [f"prac-rph-{k}" for k in range(4)]:
        emit(h.practitioner(pid, "nurse"))
    return Staff(attendings, nurses)


def _places(h: Hospital, emit: _Writer, patients: int) -> dict[str, list[str]]:
    """Units, rooms and beds with a little spare capacity; unit code -> free bed ids."""
    beds: dict[str, list[str]] = {}
    for (code, name, kind, _, per_room, _), size in zip(t.UNITS, _unit_sizes(patients),
                                                        strict=True):
        unit_id = f"unit-{code}"
        emit(h.location(unit_id, name, "wa", code=code, kind=kind))
        beds[code] = []
        rooms = math.ceil((size * 1.15 + 2) / per_room)
        for r in range(rooms):
            room = f"{code}-{r + 1:03d}"
            emit(h.location(f"room-{room}", room, "ro", parent=unit_id))
            for b in "AB"[:per_room]:
                bed = f"{room}-{b}"
                emit(h.location(f"bed-{bed}", bed, "bd", parent=f"room-{room}"))
                beds[code].append(f"bed-{bed}")
    return beds


def _patients(h: Hospital, emit: _Writer, patients: int, beds: dict[str, list[str]],
              staff: Staff) -> None:
    units = [u for u, size in zip(t.UNITS, _unit_sizes(patients), strict=True)
             for _ in range(size)]
    h.rng.shuffle(units)
    west = next(u for u in t.UNITS if u[0] == "4W")
    used: dict[str, set[str]] = {}  # family names per unit: alike names only where meant
    for i in range(patients):
        unit = units[i]
        if i in (10, 11) and patients > 11:  # two alike names on one unit
            unit = west
            name = ("Smith", "John" if i == 10 else "Jon", "male")
            h.mess("alike_names", f"pat-{i:06d}")
        else:
            name = _fresh_name(h, unit, used.setdefault(unit[0], set()))
        bed = beds[unit[0]].pop(0)
        earlier = None
        if i == 7 and patients > 7:
            other = next(u for u in t.UNITS if u[0] == ("ICU" if unit[0] != "ICU" else "CCU"))
            earlier = beds[other[0]].pop()  # the bed left behind in the earlier unit
        pid = inpatient_stay(h, emit, i, unit, bed, staff, earlier, name)
        if i == 3:
            _merged_chart(h, emit, pid)
        if i == 0:
            broken = h.allergy("al-orphan", pid, "coded")
            del broken["patient"]
            h.mess("missing_required", broken["id"])
            emit(broken)


def _fresh_name(h: Hospital, unit: tuple, used: set[str]) -> tuple[str, str, str]:
    for _ in range(30):
        family, given, sex = _name(h, unit[2])
        if family not in used:
            break
    used.add(family)
    return family, given, sex


def _merged_chart(h: Hospital, emit: _Writer, survivor: str) -> None:
    """An older duplicate chart, merged into the survivor; one allergy still points at it."""
    old = "pat-merged-old"
    record = h.patient(old, "Doe", "Jane", "female", "1961-02-03", 9_999_999)
    record["active"] = False
    record["link"] = [{"other": {"reference": f"Patient/{survivor}"}, "type": "replaced-by"}]
    emit(record)
    h.mess("merged_chart", old)
    h.mess("merged_chart", survivor)
    allergy = h.allergy("al-merged", old, "coded")
    allergy["recordedDate"] = iso(h.as_of - timedelta(days=900))
    emit(allergy)
    h.mess("merged_chart", allergy["id"])


__all__ = ["GENERATED_TYPES", "GenerateError", "GenerationSummary", "generate"]
