"""Downtime registration forms: each takes the next downtime MRN and encounter number of the
snapshot's pool that the (encrypted) registry has not seen issued, across print runs; an
exhausted pool is a clear error."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry, read_registry
from forms.render import FormError
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot

NOW = AS_OF + timedelta(minutes=5)


def _text(pdf) -> str:
    return " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())


def test_each_registration_form_gets_its_own_downtime_mrn(tmp_path):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    seen = []
    for run in range(3):  # three print runs, each with its own registry object (new process)
        registry = FormRegistry(tmp_path / "registry", [keys.escrow.recipient,
                                                        keys.unit.recipient])
        out = tmp_path / f"reg{run}.pdf"
        result = run_print_job(snap, PrintRequest("registration", "4W", pdf_path=out),
                               registry, now=NOW, identities=[keys.unit.secret])
        text = _text(out)
        (mrn, encounter), = [(f.patient_id, f.encounter_id) for f in result.forms]
        assert mrn in text and encounter in text
        seen.append((mrn, encounter))
    assert seen == [("DT4W00000", "DE4W00000"), ("DT4W00001", "DE4W00001"),
                    ("DT4W00002", "DE4W00002")]
    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    with pytest.raises(FormError, match="all 3 pre-allocated downtime MRNs are already issued"):
        run_print_job(snap, PrintRequest("registration", "4W", pdf_path=tmp_path / "x.pdf"),
                      registry, now=NOW, identities=[keys.unit.secret])
    assert not (tmp_path / "x.pdf").exists()
    issued = [r.patient_id for r in read_registry(tmp_path / "registry", [keys.escrow.secret])
              if r.kind == "registration" and r.event == "issued"]
    assert sorted(issued) == ["DT4W00000", "DT4W00001", "DT4W00002"]  # each exactly once


def test_a_failed_registration_print_does_not_free_its_number(tmp_path):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    with pytest.raises(FormError, match="cannot write PDF"):
        run_print_job(snap, PrintRequest("registration", "4W",
                                         pdf_path=tmp_path / "missing" / "r.pdf"),
                      registry, now=NOW, identities=[keys.unit.secret])
    result = run_print_job(snap, PrintRequest("registration", "4W",
                                              pdf_path=tmp_path / "r.pdf"),
                           registry, now=NOW, identities=[keys.unit.secret])
    # the first number may be on a page someone picked up from a jammed printer
    assert result.forms[0].patient_id == "DT4W00001"


def test_registration_without_the_registry_identity_is_refused(tmp_path):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    with pytest.raises(FormError, match="needs the registry's identity"):
        run_print_job(snap, PrintRequest("registration", "4W", pdf_path=tmp_path / "r.pdf"),
                      registry, now=NOW)
