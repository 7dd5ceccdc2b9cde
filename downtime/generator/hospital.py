"""One patient's worth of FHIR resources at a time, with the mess real data has."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta

from . import tables as t


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def after_birth(moment: datetime, born: datetime) -> datetime:
    """`moment`, or the day after birth when it falls before: dates are drawn as "N days ago"
    without the patient's age, and only the listed timestamp messes may predate a birth."""
    return max(moment, born + timedelta(days=1))


class Hospital:
    """Deterministic resource factory: everything comes from one seeded Random."""

    def __init__(self, rng: random.Random, as_of: datetime):
        self.rng, self.as_of = rng, as_of
        self.messes: dict[str, list[str]] = {}

    # -- helpers ----------------------------------------------------------------------------
    def mess(self, name: str, rid: str) -> None:
        self.messes.setdefault(name, []).append(rid)

    def ref(self, rtype: str, rid: str) -> dict:
        """A reference, now and then in absolute form, as exports from several systems mix."""
        if self.rng.random() < 0.1:
            self.mess("reference_forms", f"{rtype}/{rid}")
            return {"reference": f"{t.BASE}{rtype}/{rid}"}
        return {"reference": f"{rtype}/{rid}"}

    def meta(self, moment: datetime | None = None, security: str | None = None) -> dict:
        meta = {"versionId": str(self.rng.randint(1, 4)),
                "lastUpdated": iso(moment or self.as_of - timedelta(hours=self.rng.randint(1,
                                                                                        48)))}
        if security:
            meta["security"] = [{"system": t.CONFIDENTIALITY, "code": security}]
        return meta

    @staticmethod
    def cc(system: str, code: str, display: str) -> dict:
        return {"coding": [{"system": system, "code": code, "display": display}],
                "text": display}

    # -- staff and places -------------------------------------------------------------------
    def practitioner(self, pid: str, role: str) -> dict:
        rng = self.rng
        given = rng.choice(t.GIVEN_F + t.GIVEN_M)
        name = {"family": rng.choice(t.FAMILY), "given": [given]}
        if role == "attending":
            name["prefix"] = ["Dr."]
        return {"resourceType": "Practitioner", "id": pid, "meta": self.meta(),
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                                "value": f"{rng.randint(10**9, 2 * 10**9 - 1)}"}],
                "active": True, "name": [name]}

    def location(self, lid: str, name: str, physical: str, parent: str | None = None,
                 code: str | None = None, kind: str | None = None) -> dict:
        res = {"resourceType": "Location", "id": lid, "meta": self.meta(), "status": "active",
               "name": name, "mode": "instance",
               "physicalType": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                   "code": physical}]}}
        if parent:
            res["partOf"] = {"reference": f"Location/{parent}"}
        if code:
            res["identifier"] = [{"system": f"{t.LOCAL}unit", "value": code}]
        if kind:
            res["type"] = [{"coding": [{"system": f"{t.LOCAL}CodeSystem/unit-kind",
                                        "code": kind}], "text": kind}]
        return res

    # -- the patient ------------------------------------------------------------------------
    def patient(self, pid: str, family: str, given: str, sex: str, birth: str,
                mrn: int) -> dict:
        rng = self.rng
        identifiers = [{"use": "usual", "type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": t.MRN_SYSTEMS[0], "value": f"MRN{mrn:07d}"}]
        if rng.random() < 0.2:
            for system in rng.sample(t.MRN_SYSTEMS[1:], rng.randint(1, 2)):
                identifiers.append({"use": "secondary", "type": identifiers[0]["type"],
                                    "system": system, "value": f"{rng.randint(10**5, 10**6)}"})
            self.mess("multiple_mrns", pid)
        return {"resourceType": "Patient", "id": pid, "meta": self.meta(), "active": True,
                "identifier": identifiers,
                "name": [{"use": "official", "family": family, "given": given.split()}],
                "gender": sex, "birthDate": birth,
                "telecom": [{"system": "phone", "value": f"555-{rng.randint(1000, 9999)}",
                             "use": "home"}],
                "address": [{"line": [f"{rng.randint(1, 999)} Main St"], "city": "Springfield",
                             "state": "IL", "postalCode": f"62{rng.randint(100, 999)}"}]}

    def encounter(self, eid: str, pid: str, start: datetime, klass: str = "IMP",
                  status: str = "in-progress", end: datetime | None = None,
                  attending: str | None = None, bed: str | None = None,
                  earlier_bed: tuple[str, datetime] | None = None, reason: str | None = None,
                  ) -> dict:
        res = {"resourceType": "Encounter", "id": eid, "meta": self.meta(), "status": status,
               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                         "code": klass},
               "subject": self.ref("Patient", pid), "period": {"start": iso(start)}}
        if end:
            res["period"]["end"] = iso(end)
        if attending:
            res["participant"] = [{"type": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "ATND"}]}], "individual": self.ref("Practitioner", attending)}]
        locations = []
        if earlier_bed:
            locations.append({"location": {"reference": f"Location/{earlier_bed[0]}"},
                              "status": "completed",
                              "period": {"start": iso(start), "end": iso(earlier_bed[1])}})
        if bed:
            since = earlier_bed[1] if earlier_bed else start
            locations.append({"location": {"reference": f"Location/{bed}"}, "status": "active",
                              "period": {"start": iso(since)}})
        if locations:
            res["location"] = locations
        if reason:
            res["reasonCode"] = [{"text": reason}]
        return res

    def allergy(self, aid: str, pid: str, kind: str) -> dict:
        rng = self.rng
        res = {"resourceType": "AllergyIntolerance", "id": aid, "meta": self.meta(),
               "clinicalStatus": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                   "code": "active"}]},
               "verificationStatus": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/"
                             "allergyintolerance-verification", "code": "confirmed"}]},
               "patient": self.ref("Patient", pid),
               "recordedDate": iso(self.as_of - timedelta(days=rng.randint(30, 2000)))}
        if kind == "nka":
            code = rng.choice([("716186003", "No known allergy"),
                               ("409137002", "No known drug allergy")])
            res["code"] = self.cc(t.SNOMED, *code)
        elif kind == "free-text":
            res["code"] = {"text": rng.choice(t.FREE_TEXT_ALLERGIES)}
            self.mess("free_text_allergy", aid)
        else:
            system, code, display, reaction, criticality = rng.choice(t.ALLERGENS)
            res["code"] = self.cc(system, code, display)
            res["criticality"] = criticality
            res["category"] = [{"Peanut": "food", "Latex": "environment"}.get(display,
                                                                               "medication")]
            res["reaction"] = [{"manifestation": [{"text": reaction}],
                                "severity": "severe" if criticality == "high" else "mild"}]
        return res

    def condition(self, cid: str, pid: str, problem: tuple, security: str | None = None) -> dict:
        system, code, display = problem
        return {"resourceType": "Condition", "id": cid, "meta": self.meta(security=security),
                "clinicalStatus": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active"}]},
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                    "code": "problem-list-item"}]}],
                "code": self.cc(system, code, display), "subject": self.ref("Patient", pid),
                "onsetDateTime": iso(self.as_of - timedelta(days=self.rng.randint(1, 3000)))}

    def med_request(self, mid: str, pid: str, eid: str, med: tuple, authored: datetime,
                    prescriber: str, status: str = "active") -> dict:
        rxnorm, display, dose, unit, route_code, route, timing, prn = med
        dosage: dict = {"text": f"{display} {route.lower()}"
                                f"{' ' + timing if timing else ''}{' PRN ' + prn if prn else ''}",
                        "route": self.cc(t.SNOMED, route_code, route)}
        if timing:
            freq, period, unit_, times = t.TIMING[timing]
            repeat: dict = {"frequency": freq, "period": period, "periodUnit": unit_}
            if not prn:
                repeat["timeOfDay"] = [f"{x}:00" for x in times]
            dosage["timing"] = {"repeat": repeat, "code": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
                "code": timing}], "text": timing}}
        if prn:
            dosage["asNeededCodeableConcept"] = {"text": prn}
        if dose is not None:
            dosage["doseAndRate"] = [{"doseQuantity": {"value": dose, "unit": unit,
                                                       "system": t.UCUM, "code": unit}}]
        else:
            dosage["doseAndRate"] = [{"rateQuantity": {"value": self.rng.choice([18, 75, 100,
                                                                                 125]),
                                                       "unit": "mL/h", "system": t.UCUM,
                                                       "code": "mL/h"}}]
        return {"resourceType": "MedicationRequest", "id": mid, "meta": self.meta(),
                "status": status, "intent": "order",
                "medicationCodeableConcept": self.cc(t.RXNORM, rxnorm, display),
                "subject": self.ref("Patient", pid), "encounter": {"reference":
                                                                   f"Encounter/{eid}"},
                "authoredOn": iso(authored), "requester": self.ref("Practitioner", prescriber),
                "dosageInstruction": [dosage]}

    def administration(self, aid: str, pid: str, eid: str, order: dict, when: datetime,
                       nurse: str) -> dict:
        dose_rate = order["dosageInstruction"][0]["doseAndRate"][0]
        status = "not-done" if self.rng.random() < 0.03 else "completed"
        res = {"resourceType": "MedicationAdministration", "id": aid, "meta": self.meta(when),
               "status": status, "medicationCodeableConcept": order["medicationCodeableConcept"],
               "subject": self.ref("Patient", pid), "context": {"reference": f"Encounter/{eid}"},
               "effectiveDateTime": iso(when),
               "performer": [{"actor": self.ref("Practitioner", nurse)}],
               "request": {"reference": f"MedicationRequest/{order['id']}"},
               "dosage": {"route": order["dosageInstruction"][0]["route"]}}
        if "doseQuantity" in dose_rate:
            res["dosage"]["dose"] = dose_rate["doseQuantity"]
        return res

    def observation(self, oid: str, pid: str, eid: str, when: datetime, spec: tuple,
                    category: str, value: float | None = None) -> dict:
        code, display, unit, low, high, mean, sd = spec
        if value is None:  # heart and respiratory rates, SpO2: whole numbers, as monitors give
            drawn = self.rng.gauss(mean, sd)
            value = round(drawn) if code in t.WHOLE_NUMBERS else round(drawn, 1)
        value = max(value, 0.1)
        flag = "H" if value > high else "L" if value < low else "N"
        if flag == "H" and value > high + 3 * sd:
            flag = "HH"
        elif flag == "L" and value < low - 3 * sd:
            flag = "LL"
        return {"resourceType": "Observation", "id": oid, "meta": self.meta(when),
                "status": "final",
                "category": [{"coding": [{"system": t.OBS_CAT, "code": category}]}],
                "code": self.cc(t.LOINC, code, display), "subject": self.ref("Patient", pid),
                "encounter": {"reference": f"Encounter/{eid}"}, "effectiveDateTime": iso(when),
                "valueQuantity": {"value": value, "unit": unit, "system": t.UCUM, "code": unit},
                "referenceRange": [{"low": {"value": low, "unit": unit, "system": t.UCUM,
                                            "code": unit},
                                    "high": {"value": high, "unit": unit, "system": t.UCUM,
                                             "code": unit}}],
                "interpretation": [{"coding": [{"system": t.INTERP, "code": flag}]}]}

    def blood_pressure(self, oid: str, pid: str, eid: str, when: datetime) -> dict:
        sys_, dia = round(self.rng.gauss(128, 18)), round(self.rng.gauss(76, 10))

        def part(code: str, display: str, value: int) -> dict:
            return {"code": self.cc(t.LOINC, code, display),
                    "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": t.UCUM,
                                      "code": "mm[Hg]"}}
        return {"resourceType": "Observation", "id": oid, "meta": self.meta(when),
                "status": "final",
                "category": [{"coding": [{"system": t.OBS_CAT, "code": "vital-signs"}]}],
                "code": self.cc(t.LOINC, "85354-9", "Blood pressure panel"),
                "subject": self.ref("Patient", pid),
                "encounter": {"reference": f"Encounter/{eid}"}, "effectiveDateTime": iso(when),
                "component": [part("8480-6", "Systolic blood pressure", sys_),
                              part("8462-4", "Diastolic blood pressure", dia)]}

    def note(self, nid: str, pid: str, eid: str, when: datetime, author: str, kind: tuple,
             text: str, security: str | None = None, pdf: bytes | None = None) -> dict:
        data, content_type = (pdf, "application/pdf") if pdf else (text.encode(), "text/plain")
        return {"resourceType": "DocumentReference", "id": nid, "meta": self.meta(
                    when, security), "status": "current",
                "type": self.cc(t.LOINC, kind[0], kind[1]), "subject": self.ref("Patient", pid),
                "date": iso(when), "author": [self.ref("Practitioner", author)],
                "content": [{"attachment": {"contentType": content_type,
                                            "data": base64.b64encode(data).decode(),
                                            "size": len(data),
                                            "title": kind[1] if not pdf else
                                            "Scanned outside records", "creation": iso(when)}}],
                "context": {"encounter": [{"reference": f"Encounter/{eid}"}]}}

    def flag(self, fid: str, pid: str, kind: str, text: str, since: datetime) -> dict:
        return {"resourceType": "Flag", "id": fid, "meta": self.meta(), "status": "active",
                "category": [{"coding": [{"system": t.FLAG_KIND, "code": kind}]}],
                "code": {"text": text}, "subject": self.ref("Patient", pid),
                "period": {"start": iso(since)}}

    def procedure(self, prid: str, pid: str, when: datetime, proc: tuple) -> dict:
        return {"resourceType": "Procedure", "id": prid, "meta": self.meta(),
                "status": "completed", "code": self.cc(*proc),
                "subject": self.ref("Patient", pid), "performedDateTime": iso(when)}


def tiny_pdf(title: str) -> bytes:
    """A valid one-page PDF (a 'scanned' outside record) built by hand, under 1 KB."""
    stream = f"BT /F1 14 Tf 72 720 Td ({title}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)
