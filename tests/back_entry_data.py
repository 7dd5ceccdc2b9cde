"""Synthetic back-entry records of every kind (tests and the Bundle benchmark): deterministic
from a seed, times in one downtime window, pages of a few lines each."""

from __future__ import annotations

import random
import string
from datetime import UTC, date, datetime, timedelta

from reconcile.bundles import ScannedPage
from reconcile.entries import (
    Address,
    Drug,
    Entry,
    Identifier,
    MarAdministration,
    PageLine,
    Person,
    PhysicianOrder,
    ProgressNote,
    Quantity,
    Registration,
    VitalReading,
    VitalsRow,
)

START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
CLERK = Person(name="Dana Reyes (HIM)", initials="DR")
NURSES = [Person(name="Jo Kim, RN", initials="JK", practitioner_id="prac-rn-1"),
          Person(name="Sam Ode, RN", initials="SO")]
DOCTOR = Person(name="Dr. Ana Silva", initials="AS", practitioner_id="prac-md-1")
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# a 1x1 PNG: what the Bundle carries is bytes and a media type, whatever the picture
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


def form_id(rng: random.Random) -> str:
    return "DT-" + "".join(rng.choice(ALPHABET) for _ in range(10))


def line(form: str, page: int, n: int) -> PageLine:
    return PageLine(form_id=form, page=page, line=n)


def common(form: str, page: int, n: int, patient: str, encounter: str, at: datetime,
           writer: Person = NURSES[0]) -> dict:
    return {"source": line(form, page, n), "patient_id": patient, "encounter_id": encounter,
            "written_by": writer, "entered_by": CLERK, "paper_time": at,
            "entered_at": at + timedelta(days=2, minutes=n)}


def one_of_each(patient: str = "pat-000001", encounter: str = "enc-000001",
                seed: int = 1) -> tuple[list[Entry], list[ScannedPage]]:
    """A MAR page (given, held, refused, PRN), an order page (written, verbal, telephone),
    a vitals row, a note, for one EHR patient; and their scanned pages."""
    rng = random.Random(seed)
    mar, orders, vitals, note = (form_id(rng) for _ in range(4))
    t = START + timedelta(hours=1)
    entries: list[Entry] = [
        PhysicianOrder(**common(orders, 1, 1, patient, encounter, t, DOCTOR),
                       drug=Drug(text="Ceftriaxone 1 g IV", rxnorm="1665021"),
                       dose=Quantity(value=1, unit="g"), route="IV", frequency="q24h"),
        PhysicianOrder(**common(orders, 1, 2, patient, encounter, t, NURSES[0]),
                       drug=Drug(text="Morphine 2 mg IV"), dose=Quantity(value=2, unit="mg"),
                       route="IV", frequency="q4h", prn=True, prn_reason="pain > 6",
                       mode="verbal", prescriber=DOCTOR, read_back=True),
        PhysicianOrder(**common(orders, 1, 3, patient, encounter, t, NURSES[1]),
                       drug=Drug(text="Ondansetron 4 mg IV"), dose=Quantity(value=4, unit="mg"),
                       route="IV", frequency="q8h", prn=True, mode="telephone",
                       prescriber=DOCTOR),
        MarAdministration(**common(mar, 1, 1, patient, encounter, t + timedelta(hours=1)),
                          order_id="mr-000001", drug=Drug(text="Metoprolol 25 mg PO"),
                          dose=Quantity(value=25, unit="mg"), route="PO"),
        MarAdministration(**common(mar, 1, 2, patient, encounter, t + timedelta(hours=2)),
                          order_line=line(orders, 1, 1), drug=Drug(text="Ceftriaxone 1 g IV"),
                          dose=Quantity(value=1, unit="g"), route="IV", outcome="held",
                          reason="NPO for procedure"),
        MarAdministration(**common(mar, 1, 3, patient, encounter, t + timedelta(hours=3),
                                   NURSES[1]),
                          order_id="mr-000002", drug=Drug(text="Heparin 5000 units SC"),
                          dose=Quantity(value=5000, unit="[iU]"), route="SC",
                          outcome="refused", reason="patient declined"),
        MarAdministration(**common(mar, 1, 4, patient, encounter, t + timedelta(hours=4)),
                          order_line=line(orders, 1, 2), drug=Drug(text="Morphine 2 mg IV"),
                          dose=Quantity(value=2, unit="mg"), route="IV", prn=True,
                          prn_reason="pain 7/10", performer=NURSES[1]),
        VitalsRow(**common(vitals, 1, 1, patient, encounter, t + timedelta(hours=2)),
                  readings=(VitalReading(measure="heart_rate", value=88, unit="/min"),
                            VitalReading(measure="blood_pressure", value=132, diastolic=84,
                                         unit="mm[Hg]"),
                            VitalReading(measure="temperature", value=37.9, unit="Cel"),
                            VitalReading(measure="spo2", value=95, unit="%"),
                            VitalReading(measure="respiratory_rate", value=18, unit="/min"),
                            VitalReading(measure="pain", value=4, unit="{score}"))),
        ProgressNote(**common(note, 1, 1, patient, encounter, t + timedelta(hours=5), DOCTOR),
                     text="Febrile overnight, started ceftriaxone. Plan: cultures, recheck "
                          "lactate.\nCall if MAP < 65."),
    ]
    pages = [page(f, 1, patient, encounter, kind) for f, kind in
             ((mar, "mar"), (orders, "orders"), (vitals, "vitals"), (note, "note"))]
    return entries, pages


def page(form: str, n: int, patient: str, encounter: str, kind: str = "",
         data: bytes = PNG) -> ScannedPage:
    return ScannedPage(form_id=form, page=n, media_type="image/png", data=data,
                       patient_id=patient, encounter_id=encounter,
                       scanned_at=START + timedelta(days=1, hours=n), kind=kind)


HOME = Address(line="12 Harbour Rd", city="Millbrook", postal_code="40211")


def registration(mrn: str = "DT900001", number: str = "DTE900001", seed: int = 2,
                 family: str = "Okafor", given: tuple[str, ...] = ("Chidi",),
                 birth: date | None = date(1961, 4, 9), sex: str = "male",
                 address: Address | None = HOME,
                 identifiers: tuple[Identifier, ...] = ()) -> tuple[list[Entry],
                                                                    list[ScannedPage]]:
    """A downtime registration with a vitals row and a note on the new patient."""
    rng = random.Random(seed)
    reg_form, vitals = form_id(rng), form_id(rng)
    t = START + timedelta(hours=3)
    entries: list[Entry] = [
        Registration(**common(reg_form, 1, 1, mrn, number, t, NURSES[1]), family=family,
                     given=given, birth_date=birth, sex=sex, address=address,
                     phone="555-0142", identifiers=identifiers),
        VitalsRow(**common(vitals, 1, 1, mrn, number, t + timedelta(minutes=20)),
                  readings=(VitalReading(measure="heart_rate", value=104, unit="/min"),
                            VitalReading(measure="weight", value=81.5, unit="kg"))),
    ]
    return entries, [page(reg_form, 1, mrn, number, "registration"),
                     page(vitals, 1, mrn, number, "vitals")]


def many(n_entries: int, patients: int, seed: int = 7, lines_per_page: int = 12,
         page_bytes: int = 0) -> tuple[list[Entry], list[ScannedPage]]:
    """`n_entries` entries over `patients` EHR patients (MAR rows half, vitals a quarter,
    orders and notes the rest), with a scanned page per `lines_per_page` lines
    (`page_bytes` of image each, PNG-sized when 0)."""
    rng = random.Random(seed)
    entries: list[Entry] = []
    pages: list[ScannedPage] = []
    per_patient = max(1, n_entries // patients)
    data = PNG if not page_bytes else bytes(rng.getrandbits(8) for _ in range(page_bytes))
    for p in range(patients):
        pid, enc = f"pat-{p:06d}", f"enc-{p:06d}"
        forms: dict[str, tuple[str, int, int]] = {}
        for i in range(per_patient if p < patients - 1 else n_entries - len(entries)):
            kind = rng.choices(("mar", "vitals", "order", "note"), (50, 25, 15, 10))[0]
            form, pg, ln = forms.get(kind) or (form_id(rng), 1, 0)
            ln += 1
            if ln > lines_per_page:
                pg, ln = pg + 1, 1
            if ln == 1:
                pages.append(page(form, pg, pid, enc, kind, data))
            forms[kind] = (form, pg, ln)
            at = START + timedelta(minutes=10 * i + rng.randrange(10))
            entries.append(_random_entry(kind, common(form, pg, ln, pid, enc, at,
                                                      rng.choice(NURSES)), rng))
    return entries, pages


def _random_entry(kind: str, base: dict, rng: random.Random) -> Entry:
    dose = Quantity(value=rng.choice((1, 2, 5, 25, 500)), unit=rng.choice(("mg", "g", "mL")))
    drug = Drug(text=rng.choice(("Metoprolol", "Heparin", "Insulin lispro", "Cefazolin")),
                rxnorm=rng.choice((None, "866924")))
    if kind == "mar":
        outcome = rng.choices(("given", "held", "refused"), (90, 6, 4))[0]
        return MarAdministration(**base, order_id=f"mr-{rng.randrange(10**6):06d}", drug=drug,
                                 dose=dose, route=rng.choice(("PO", "IV", "SC")),
                                 outcome=outcome, reason=None if outcome == "given" else
                                 "held per parameters", prn=rng.random() < 0.1,
                                 prn_reason="pain")
    if kind == "vitals":
        return VitalsRow(**base, readings=(
            VitalReading(measure="heart_rate", value=rng.randrange(55, 120), unit="/min"),
            VitalReading(measure="blood_pressure", value=rng.randrange(95, 170),
                         diastolic=rng.randrange(50, 100), unit="mm[Hg]"),
            VitalReading(measure="temperature", value=round(rng.uniform(36, 39.5), 1),
                         unit="Cel"),
            VitalReading(measure="spo2", value=rng.randrange(88, 100), unit="%")))
    if kind == "order":
        mode = rng.choices(("written", "verbal", "telephone"), (80, 10, 10))[0]
        return PhysicianOrder(**base, drug=drug, dose=dose, route="IV", frequency="q8h",
                              mode=mode, prescriber=DOCTOR, read_back=mode != "written")
    words = "".join(rng.choice(string.ascii_lowercase + "     ") for _ in range(400))
    return ProgressNote(**base, text="Progress: " + words)


HOME_ROAD = Address(line="12 Harbour Road", city="Millbrook", postal_code="40211")


def ehr_patient(pid: str, family: str, given: str, born: str, sex: str = "male",
                street: str = "12 Harbour Rd", postal: str = "40211",
                identifiers: tuple[tuple[str, str], ...] = ()) -> dict:
    return {"resourceType": "Patient", "id": pid,
            "identifier": [{"system": s, "value": v} for s, v in identifiers],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": sex, "birthDate": born,
            "address": [{"line": [street], "city": "Millbrook", "postalCode": postal}]}


# the EHR's patients for matching: the true one, and the lookalikes around it
EHR_LOOKALIKES = [
    ehr_patient("p-smith", "Smith", "Jonathan", "1970-03-04",
                identifiers=(("urn:oid:2.16.840.1.113883.4.1", "123-45-6789"),)),
    ehr_patient("p-garcia-1950", "Garcia", "Maria", "1950-01-01", "female", "4 Elm St", "40100"),
    ehr_patient("p-twin-a", "Okafor", "Amara", "2001-05-06", "female"),
    ehr_patient("p-twin-b", "Okafor", "Adaeze", "2001-05-06", "female"),
    ehr_patient("p-other", "Nguyen", "Linh", "1988-11-30", "female", "9 Pine Ave", "40999"),
]


def registered(family: str, given: str, born: date | None, sex: str = "male",
               address: Address | None = HOME_ROAD, identifiers: tuple = ()) -> Registration:
    """A registration written with these demographics (the street spelt out in full)."""
    [reg, *_], _ = registration(family=family, given=(given,), birth=born, sex=sex,
                                address=address, identifiers=identifiers)
    assert isinstance(reg, Registration)
    return reg
