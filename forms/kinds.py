"""What a print job can ask for: the kinds of form, which are per patient and which per unit,
their titles, and the unit code meaning every unit. Kept free of the layout code, so the
command line can check a request without loading WeasyPrint."""

PATIENT_KINDS = ("facesheet", "mar", "orders", "note", "vitals", "labels", "medlist")
UNIT_KINDS = ("census", "medlist", "registration", "packet")
KINDS = ("census", "facesheet", "mar", "medlist", "orders", "note", "vitals", "registration",
         "labels", "packet")
TITLES = {"census": "Unit census", "facesheet": "Face sheet", "mar": "Downtime MAR",
          "medlist": "Medication list", "orders": "Physician orders",
          "note": "Progress note", "vitals": "Vitals flowsheet",
          "registration": "Downtime registration", "labels": "Patient labels"}
ALL_UNITS = "ALL"  # `--unit ALL`: every unit's packet, from the house snapshot
