"""Structural checks of one resource against R4, cheap enough to run on every resource:
element shapes (array, object or primitive, from the R4B models), empty arrays and objects,
nulls, status codes outside their required value set, contained ids, and narratives or names
carrying markup. Each returns what it found as short texts; the caller files the gaps.

The expensive part (walking the whole resource) runs only when a byte search of the
resource's JSON says there may be something to find.
"""

from __future__ import annotations

import base64
import binascii
import re

from .fhirdata import is_valid_id
from .r4model import element_kinds

# Required bindings of `status` for the types the build maps (R4).
STATUS_CODES: dict[str, frozenset[str]] = {
    "Encounter": frozenset({"planned", "arrived", "triaged", "in-progress", "onleave",
                            "finished", "cancelled", "entered-in-error", "unknown"}),
    "MedicationRequest": frozenset({"active", "on-hold", "cancelled", "completed",
                                    "entered-in-error", "stopped", "draft", "unknown"}),
    "MedicationAdministration": frozenset({"in-progress", "not-done", "on-hold", "completed",
                                           "entered-in-error", "stopped", "unknown"}),
    "Observation": frozenset({"registered", "preliminary", "final", "amended", "corrected",
                              "cancelled", "entered-in-error", "unknown"}),
    "Procedure": frozenset({"preparation", "in-progress", "not-done", "on-hold", "stopped",
                            "completed", "entered-in-error", "unknown"}),
    "DocumentReference": frozenset({"current", "superseded", "entered-in-error"}),
    "Flag": frozenset({"active", "inactive", "entered-in-error"}),
}

_UNSAFE_MARKUP = re.compile(r"<\s*/?\s*(script|iframe|object|embed|form)\b|\son\w+\s*=|"
                            r"javascript:", re.IGNORECASE)
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!]")
_XML_ENTITY = re.compile(r"&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);)")


def shape_faults(res: dict, rtype: str) -> list[str]:
    kinds = element_kinds(rtype)
    faults = []
    for key, value in res.items():
        want = kinds.get(key)
        if want is not None and value is not None and not isinstance(value, want):
            faults.append(f"{key} is a JSON {_kind(value)} where R4 has {_name(want)}")
    return faults


def _kind(value: object) -> str:
    return {list: "array", dict: "object", str: "string", bool: "boolean"}.get(
        type(value), "number")


def _name(want: type | tuple[type, ...]) -> str:
    return "an array" if want is list else "an object" if want is dict else "a single value"


def empty_faults(res: dict, body: bytes) -> list[str]:
    """Empty arrays or objects and nulls, which FHIR JSON forbids (paths of the first few).
    `body` is the resource's JSON: the walk runs only if it may hold one."""
    if b"[]" not in body and b"{}" not in body and b"null" not in body:
        return []
    found: list[str] = []
    _walk(res, "", found)
    return found


def _walk(node: object, path: str, found: list[str]) -> None:
    if len(found) >= 5:
        return
    if isinstance(node, dict):
        if not node:
            found.append(f"{path or '(resource)'} is an empty object")
        for key, value in node.items():
            if value is None:
                found.append(f"{path}{'.' if path else ''}{key} is null")
            else:
                _walk(value, f"{path}{'.' if path else ''}{key}", found)
    elif isinstance(node, list):
        if not node:
            found.append(f"{path} is an empty array")
        for i, item in enumerate(node):
            if item is not None:  # null items align primitive arrays with their _extensions
                _walk(item, f"{path}[{i}]", found)


def status_fault(res: dict, rtype: str) -> str | None:
    codes = STATUS_CODES.get(rtype)
    status = res.get("status")
    if codes is None or status is None:
        return None
    if not isinstance(status, str):
        return f"status is a JSON {_kind(status)}, not a code"
    if status not in codes:
        return f"status {status!r} is not an R4 {rtype} status code"
    return None


def contained_faults(res: dict) -> list[str]:
    contained = res.get("contained")
    if not isinstance(contained, list):
        return []
    return [f"contained[{i}] id {str(c.get('id'))[:40]!r}... is not a FHIR id"
            if isinstance(c.get("id"), str) and len(c["id"]) > 40 else
            f"contained[{i}] id {c.get('id')!r} is not a FHIR id"
            for i, c in enumerate(contained)
            if isinstance(c, dict) and not is_valid_id(c.get("id"))]


def narrative_faults(res: dict) -> list[str]:
    """Narrative XHTML that is unsafe (script, event handlers) or not XML (HTML entities).
    The toolkit never renders narratives, but whoever opens the source might."""
    text = res.get("text")
    div = text.get("div") if isinstance(text, dict) else None
    if not isinstance(div, str) or ("<" not in div[5:] and "&" not in div):
        return []
    faults = []
    if _UNSAFE_MARKUP.search(div):
        faults.append("narrative holds script or event-handler markup (not shown)")
    if "&" in div and _XML_ENTITY.search(div):
        faults.append("narrative uses an HTML entity that is not XML (not shown)")
    return faults


def markup_in(value: object) -> bool:
    """Text with tags in it (a name like "Standard <script>"): shown as plain text only."""
    return isinstance(value, str) and "<" in value and bool(_TAG.search(value))


def attachment_faults(attachment: object) -> list[str]:
    """Base64 that does not decode, or a size that does not match the data."""
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        return []
    try:
        data = base64.b64decode(attachment["data"], validate=True)
    except (binascii.Error, ValueError):
        return ["attachment data is not valid base64"]
    size = attachment.get("size")
    if size is not None and size != len(data):
        return [f"attachment size {size} but data is {len(data)} bytes"]
    return []
