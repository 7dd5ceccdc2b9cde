"""Comparing two charts: patients paired across the sources, a hash per chart section, and
the records of a section that differ paired and compared field by field.

Patients are paired by the hospital MRN, then by resource id, then by name and birth date:
a migration may give every resource a new id, never a new MRN. Records of a section are
paired by id, then by identical content, then by what names them (an allergy by its
substance, a result by its test and time), then by name alone in time order (a shifted
time): what stays unpaired is a record one source has and the other lacks."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable

import orjson

from .result import Difference
from .sections import ALL_SECTIONS, CODE_COLUMNS, IDENTITY, SECTIONS, TIME_COLUMNS, Record
from .words import field_sentence, who

_BY_NAME = {s.name: s for s in SECTIONS}
_IDENTITY_COLUMNS = ("mrn", "family", "given", "name", "birth_date", "sex", "deceased",
                     "deceased_at", "identifier", "type", "merged chart")


def section_hash(records: Iterable[Record]) -> bytes:
    """The SHA-256 of a section's content, whatever order the records came in."""
    lines = sorted(_content(r) for r in records)
    return hashlib.sha256(b"\n".join(lines)).digest()


def _content(record: Record) -> bytes:
    return orjson.dumps(list(record.values.values()))  # as read_digests hashes a row


def match_patients(legacy: dict[str, dict], target: dict[str, dict]
                   ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(legacy id, target id) pairs, the legacy patients with no match, the target's."""
    pairs: list[tuple[str, str]] = []
    left, right = dict(legacy), dict(target)
    keys: tuple[Callable[[dict], object], ...] = (
        lambda p: p.get("mrn") or None, lambda p: p["id"],
        lambda p: (p.get("family", "").upper(), p.get("given", "").upper(),
                   p.get("birth_date")) if p.get("family") else None)
    for key in keys:
        index = _unique(right.values(), key)
        for pid, patient in list(left.items()):
            k = key(patient)
            found = index.get(k) if k is not None else None
            if found is not None and found in right:
                pairs.append((pid, found))
                del left[pid], right[found]
    return pairs, sorted(left), sorted(right)


def _unique(patients: Iterable[dict], key: Callable[[dict], object]) -> dict[object, str]:
    seen: dict[object, list[str]] = defaultdict(list)
    for p in patients:
        k = key(p)
        if k is not None:
            seen[k].append(p["id"])
    return {k: ids[0] for k, ids in seen.items() if len(ids) == 1}


class ChartComparison:
    """One patient's sections compared: the differences found, and how much was compared."""

    def __init__(self, patient: dict, target_gaps: dict[str, str] | None = None) -> None:
        self.patient = patient
        self.target_gaps = target_gaps or {}  # resource id -> why the target did not load it
        self.differences: list[Difference] = []
        self.fields = 0
        self.sections = 0

    def compare(self, legacy: dict[str, list[Record]], target: dict[str, list[Record]],
                sections: Iterable[str] = ALL_SECTIONS) -> None:
        """The `sections` (those whose hash differs; every one for a sampled chart)
        compared record by record and field by field."""
        for name in sections:
            self.section(name, legacy.get(name, []), target.get(name, []))

    def section(self, name: str, legacy: list[Record], target: list[Record]) -> None:
        self.sections += 1
        section = _BY_NAME.get(name)
        label = section.label if section else ("identifier", "merged chart")
        key = section.key if section else ()
        pairs, missing, extra = pair_records(legacy, target, key, label)
        for a, b in pairs:
            self._fields(name, a, b, label)
        for record in missing:
            self._one_side(name, record, label, "missing-record")
        for record in extra:
            self._one_side(name, record, label, "extra-record")

    def _fields(self, name: str, a: Record, b: Record, label: tuple[str, ...]) -> None:
        record = _record_words(name, a, label)
        for column, value in a.values.items():
            self.fields += 1
            other = b.values.get(column)
            if value == other:
                continue
            if column in label[1:]:  # the time that names it is what differs: name it without
                record = _record_words(name, a, label[:1])
            self.differences.append(Difference(
                "field", name, field_sentence(self.patient, name, record, column, value, other),
                self.patient, record, column, value, other, _tags(name, column)))

    def _one_side(self, name: str, record: Record, label: tuple[str, ...], kind: str) -> None:
        words = _record_words(name, record, label) or "a record"
        if kind == "missing-record":
            why = self.target_gaps.get(record.id)
            text = f"{who(self.patient)}: {name}: {words} is in legacy, not in target" + \
                (f" (the target's record did not load: {why})" if why else "")
        else:
            text = f"{who(self.patient)}: {name}: {words} is in target, not in legacy"
        tags = ("identity",) if name == IDENTITY else ()
        self.differences.append(Difference(kind, name, text, self.patient, words,
                                           legacy=record.id if kind == "missing-record"
                                           else None,
                                           target=record.id if kind == "extra-record" else None,
                                           tags=tags))


def _record_words(name: str, record: Record, label: tuple[str, ...]) -> str:
    if name == IDENTITY:
        if record.id == "patient":
            return ""
        return record.label(label) or record.id
    if name == "encounter":
        return "the admission"
    words = record.label(label[:1])
    when = [record.values.get(c) for c in label[1:] if c in TIME_COLUMNS]
    if when and when[0]:
        from .words import time_words

        words += f" of {time_words(str(when[0]))}"
    return words


def _tags(section: str, column: str) -> tuple[str, ...]:
    tags = []
    if section == IDENTITY or column in _IDENTITY_COLUMNS and section == IDENTITY:
        tags.append("identity")
    if column in TIME_COLUMNS:
        tags.append("timestamp")
    if column in CODE_COLUMNS:
        tags.append("code")
    return tuple(tags)


def pair_records(legacy: list[Record], target: list[Record], key: tuple[str, ...],
                 label: tuple[str, ...]
                 ) -> tuple[list[tuple[Record, Record]], list[Record], list[Record]]:
    """Pairs, the legacy records left unpaired, the target's."""
    pairs: list[tuple[Record, Record]] = []
    left, right = list(legacy), list(target)
    ids = {r.id: r for r in right}
    for record in list(left):
        other = ids.get(record.id)
        if other is not None and other in right:
            pairs.append((record, other))
            left.remove(record)
            right.remove(other)
    for pick in (_content, lambda r: _key(r, key) if key else None,
                 lambda r: _key(r, label[:1])):
        _pair_by(left, right, pick, pairs)
    return pairs, left, right


def _key(record: Record, columns: tuple[str, ...]) -> bytes:
    return orjson.dumps([record.values.get(c) for c in columns])


def _pair_by(left: list[Record], right: list[Record], pick: Callable[[Record], object],
             pairs: list[tuple[Record, Record]]) -> None:
    """Pair what has the same `pick`, in the order of their content (times first), where
    both sides hold as many: otherwise which one is which cannot be told."""
    groups: dict[object, tuple[list[Record], list[Record]]] = defaultdict(lambda: ([], []))
    for record in left:
        k = pick(record)
        if k is not None:
            groups[k][0].append(record)
    for record in right:
        k = pick(record)
        if k is not None and k in groups:
            groups[k][1].append(record)
    for a, b in groups.values():
        if not b or (len(a) != len(b) and len(a) > 1 and len(b) > 1):
            continue
        for x, y in zip(sorted(a, key=_content), sorted(b, key=_content), strict=False):
            pairs.append((x, y))
            left.remove(x)
            right.remove(y)
