"""Reference tables for the demo hospital: units, names, problems, medications, labs, vitals."""

from __future__ import annotations

BASE = "https://ehr.example.org/fhir/"
LOCAL = "https://hospital.example.org/fhir/"
MRN_SYSTEMS = (f"{LOCAL}mrn", "https://northclinic.example.org/fhir/mrn",
               "https://eastcampus.example.org/fhir/mrn")
SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LEGACY_STATUS = f"{LOCAL}StructureDefinition/legacy-medication-status"
FLAG_KIND = f"{LOCAL}CodeSystem/flag-kind"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
UNKNOWN_SYSTEM = "http://local.legacy-lab.example/codes"

# (code, name, kind, share of the census, beds per room, age range)
UNITS = [
    ("ICU", "ICU", "icu", 0.12, 1, (25, 90)),
    ("4W", "4 West Med-Surg", "med-surg", 0.22, 2, (25, 95)),
    ("5E", "5 East Med-Surg", "med-surg", 0.20, 2, (25, 95)),
    ("CCU", "Cardiac Care Unit", "cardiac", 0.14, 1, (40, 95)),
    ("MAT", "Maternity", "maternity", 0.12, 1, (18, 45)),
    ("PED", "Pediatrics", "pediatrics", 0.10, 2, (0, 17)),
    ("BH", "Behavioral Health", "behavioral-health", 0.10, 2, (18, 80)),
]

FAMILY = ("Johnson,Williams,Brown,Jones,Garcia,Miller,Davis,Rodriguez,Martinez,Hernandez,"
          "Lopez,Gonzalez,Wilson,Anderson,Thomas,Taylor,Moore,Jackson,Martin,Lee,Perez,Thompson,"
          "White,Harris,Sanchez,Clark,Ramirez,Lewis,Robinson,Walker,Young,Allen,King,Wright,"
          "Scott,Torres,Nguyen,Hill,Flores,Green,Adams,Nelson,Baker,Hall,Rivera,Campbell,"
          "Mitchell,Carter,Roberts,Okafor,Kowalski,Haddad,Novak,Sato,Müller,Łukasiewicz,O'Brien,"
          "Da Silva,Patel,Cohen,Ivanova,Abebe,Bergström,Chowdhury,Dubois,Eriksen,Fitzgerald,"
          "Gallagher,Hoffmann,Ibrahim,Jovanović,Kaminski,Larsen,Mendoza,Nakamura,Oyelaran,"
          "Papadopoulos,Quintero,Rahman,Schneider,Tanaka,Ueda,Vasquez,Weber,Xu,Yilmaz,Zhang,"
          "Achebe,Bianchi,Castillo,Demir,Espinoza,Fernandes,Greenberg,Horvat,Iqbal,Jensen,"
          "Keller,Lindqvist,Moreau,Nair,Ortega,Pereira,Quinn,Rossi,Suzuki,Tran,Ulrich,Varga,"
          "Wojcik,Yamamoto,Zimmermann").split(",")
GIVEN_F = ("Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa "
           "Nancy Betty Sandra Margaret Ashley Emily Donna Michelle Carol Amanda Lucía Zoë "
           "Grace Chloé Aisha Mei").split()
GIVEN_M = ("James Robert John Michael David William Richard Joseph Thomas Charles Christopher "
           "Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua José Minh Omar "
           "Björn Kwame").split()

PROBLEMS = [  # (system, code, display)
    (SNOMED, "385093006", "Community-acquired pneumonia"), (SNOMED, "44054006",
                                                              "Diabetes mellitus type 2"),
    (SNOMED, "38341003", "Hypertensive disorder"), (SNOMED, "42343007",
                                                    "Congestive heart failure"),
    (SNOMED, "49436004", "Atrial fibrillation"), (SNOMED, "13645005",
                                                  "Chronic obstructive lung disease"),
    (SNOMED, "709044004", "Chronic kidney disease"), (SNOMED, "22298006",
                                                      "Myocardial infarction"),
    (ICD10, "N39.0", "Urinary tract infection"), (ICD10, "K35.80", "Acute appendicitis"),
    (SNOMED, "91302008", "Sepsis"), (SNOMED, "230690007", "Cerebrovascular accident"),
]
BH_PROBLEMS = [(SNOMED, "35489007", "Major depressive disorder"),
               (SNOMED, "58214004", "Schizophrenia"), (SNOMED, "13746004", "Bipolar disorder")]

ALLERGENS = [  # (system, code, display, reaction, criticality)
    (RXNORM, "7980", "Penicillin G", "Hives", "high"), (RXNORM, "10831", "Sulfamethoxazole",
                                                        "Rash", "low"),
    (RXNORM, "1191", "Aspirin", "Angioedema", "high"), (SNOMED, "111088007", "Latex",
                                                        "Contact dermatitis", "low"),
    (SNOMED, "91935009", "Peanut", "Anaphylaxis", "high"), (RXNORM, "2670", "Codeine",
                                                            "Nausea", "low"),
    (RXNORM, "6754", "Morphine", "Pruritus", "low"), (RXNORM, "4053", "Erythromycin",
                                                      "Diarrhea", "low"),
]
FREE_TEXT_ALLERGIES = ["Strawberries — mouth itching", "Adhesive tape",
                       "IV contrast dye (patient report)"]

# (rxnorm, display, dose value, unit, route SNOMED code, route text, timing code, prn reason)
MEDICATIONS = [
    ("866514", "Metoprolol tartrate 25 mg tablet", 25, "mg", "26643006", "Oral", "BID", None),
    ("197361", "Amlodipine 5 mg tablet", 5, "mg", "26643006", "Oral", "QD", None),
    ("860975", "Metformin 500 mg tablet", 500, "mg", "26643006", "Oral", "BID", None),
    ("1361615", "Enoxaparin 40 mg/0.4 mL injection", 40, "mg", "34206005", "Subcutaneous",
     "QD", None),
    ("311040", "Insulin lispro 100 units/mL", 4, "U", "34206005", "Subcutaneous", "TID", None),
    ("1659149", "Piperacillin-tazobactam 3.375 g IV", 3.375, "g", "47625008", "Intravenous",
     "Q6H", None),
    ("198211", "Pantoprazole 40 mg tablet", 40, "mg", "26643006", "Oral", "QD", None),
    ("310798", "Furosemide 40 mg tablet", 40, "mg", "26643006", "Oral", "BID", None),
    ("313782", "Acetaminophen 325 mg tablet", 650, "mg", "26643006", "Oral", "Q4H", "pain"),
    ("1049221", "Oxycodone 5 mg tablet", 5, "mg", "26643006", "Oral", "Q4H", "severe pain"),
    ("312086", "Ondansetron 4 mg/2 mL injection", 4, "mg", "47625008", "Intravenous", "Q6H",
     "nausea"),
    ("1807627", "Sodium chloride 0.9% 1000 mL", None, None, "47625008", "Intravenous", None,
     None),
    ("1361574", "Heparin 25,000 units in D5W 250 mL", None, None, "47625008", "Intravenous",
     None, None),
    ("197591", "Lorazepam 1 mg tablet", 1, "mg", "26643006", "Oral", "Q6H", "anxiety"),
]
TIMING = {"QD": (1, 1, "d", ["09:00"]), "BID": (2, 1, "d", ["09:00", "21:00"]),
          "TID": (3, 1, "d", ["09:00", "14:00", "21:00"]),
          "Q4H": (1, 4, "h", ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]),
          "Q6H": (1, 6, "h", ["00:00", "06:00", "12:00", "18:00"])}

# (loinc, display, unit, low, high, typical mean, sd)
VITALS = [("8867-4", "Heart rate", "/min", 60, 100, 82, 14),
          ("8310-5", "Body temperature", "Cel", 36.1, 37.8, 37.0, 0.5),
          ("9279-1", "Respiratory rate", "/min", 12, 20, 17, 3),
          ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 92, 100,
           96, 2)]
# measured in whole numbers by monitors and recorded so by nurses (not 66.4 /min)
WHOLE_NUMBERS = frozenset({"8867-4", "9279-1", "59408-5"})
LABS = [("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145, 139, 4),
        ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 4.2, 0.5),
        ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 1.1, 0.4),
        ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 140, 125, 35),
        ("6690-2", "Leukocytes [#/volume] in Blood", "10*3/uL", 4.5, 11, 9, 3),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12, 17.5, 12.5, 1.8),
        ("777-3", "Platelets [#/volume] in Blood", "10*3/uL", 150, 400, 240, 70)]

NOTE_TYPES = [("11506-3", "Progress note"), ("34117-2", "History and physical note"),
              ("28570-0", "Procedure note"), ("34746-8", "Nursing note")]
PROCEDURES = [(SNOMED, "40701008", "Echocardiography"), (SNOMED, "399208008",
                                                          "Chest X-ray"),
              (SNOMED, "80146002", "Appendectomy"), (SNOMED, "430193006",
                                                     "Medication reconciliation"),
              (SNOMED, "18629005", "Administration of drug")]
CODE_STATUS = ["Full code"] * 7 + ["DNR/DNI", "DNR — comfort care"]
ISOLATION = ["Contact isolation (MRSA)", "Droplet isolation", "Airborne isolation (TB rule-out)"]
