"""The small drug class table of the allergy-against-order reminder (snapshots.allergy_check).

Five groups whose members commonly cross-react, with their ingredient names (what the text
fallback matches), the words that name the group itself in an allergy ("sulfa", "PCN"), and
the RxNorm ingredient codes (RxCUI) known here. No package on PyPI gives this offline in a
form fit for it, so it is a table, kept short on purpose; docs/allergy-check.md lists its
sources and what it leaves out. It is a reminder for the nurse and pharmacist during
downtime, not a pharmacy system.
"""

from __future__ import annotations

from dataclasses import dataclass

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True)
class DrugClass:
    key: str
    name: str  # "penicillins"
    member: str  # "a penicillin"
    ingredients: tuple[str, ...]  # lower case, as RxNorm names the ingredient
    names_class: tuple[str, ...]  # words an allergy uses for the whole group


CLASSES: tuple[DrugClass, ...] = (
    DrugClass("penicillins", "penicillins", "a penicillin", (
        "penicillin g", "penicillin v", "benzylpenicillin", "phenoxymethylpenicillin",
        "amoxicillin", "ampicillin", "bacampicillin", "piperacillin", "ticarcillin",
        "carbenicillin", "mezlocillin", "nafcillin", "oxacillin", "cloxacillin",
        "dicloxacillin", "flucloxacillin", "methicillin", "mecillinam", "pivmecillinam",
        "temocillin"), ("penicillin", "penicillins", "pcn")),
    DrugClass("cephalosporins", "cephalosporins", "a cephalosporin", (
        "cefazolin", "cephalexin", "cefalexin", "cefadroxil", "cephalothin", "cephradine",
        "cefuroxime", "cefoxitin", "cefotetan", "cefaclor", "cefprozil", "ceftriaxone",
        "cefotaxime", "ceftazidime", "cefdinir", "cefixime", "cefpodoxime", "ceftibuten",
        "ceftaroline", "cefepime", "ceftolozane", "ceftobiprole", "cefiderocol"),
        ("cephalosporin", "cephalosporins")),
    DrugClass("sulfonamides", "sulfonamide antibiotics", "a sulfonamide antibiotic", (
        "sulfamethoxazole", "sulfadiazine", "sulfisoxazole", "sulfacetamide", "sulfadoxine",
        "sulfasalazine", "sulfamethizole"), ("sulfa", "sulpha", "sulfas", "sulfonamide",
                                              "sulfonamides", "sulphonamide", "sulphonamides")),
    DrugClass("nsaids", "NSAIDs", "an NSAID", (
        "aspirin", "acetylsalicylic acid", "ibuprofen", "naproxen", "ketorolac", "diclofenac",
        "indomethacin", "meloxicam", "piroxicam", "ketoprofen", "flurbiprofen", "etodolac",
        "nabumetone", "sulindac", "diflunisal", "mefenamic acid", "oxaprozin", "celecoxib"),
        ("nsaid", "nsaids")),
    DrugClass("opioids", "opioids", "an opioid", (
        "morphine", "codeine", "hydromorphone", "hydrocodone", "oxycodone", "oxymorphone",
        "fentanyl", "sufentanil", "remifentanil", "alfentanil", "meperidine", "pethidine",
        "methadone", "tramadol", "tapentadol", "buprenorphine", "levorphanol"),
        ("opioid", "opioids", "opiate", "opiates", "narcotic", "narcotics")),
)
BY_KEY = {c.key: c for c in CLASSES}

# Groups that are not the same class but whose cross-reactivity a prescriber weighs: an
# allergy to the first, an order of the second, and what is known of the risk.
RELATED: dict[tuple[str, str], str] = {
    ("penicillins", "cephalosporins"): "penicillin allergy and a cephalosporin: cross-reactivity "
                                       "is low (about 1-2%), mostly through similar side chains",
    ("cephalosporins", "penicillins"): "cephalosporin allergy and a penicillin: cross-reactivity "
                                       "is low, mostly through similar side chains",
}

# RxNorm ingredient (IN) and multiple-ingredient (MIN) codes -> the ingredients, where a
# source here gives the code (docs/allergy-check.md: CPIC's drug table and the HL7 FHIR R4
# examples). Any other RxNorm code (a clinical drug, SCD) is matched by its name.
RXNORM_INGREDIENTS: dict[str, tuple[str, ...]] = {
    "7980": ("penicillin g",),
    "10169": ("sulfacetamide",), "10171": ("sulfadiazine",), "10207": ("sulfisoxazole",),
    "9524": ("sulfasalazine",), "10831": ("sulfamethoxazole", "trimethoprim"),
    "1191": ("aspirin",), "3355": ("diclofenac",), "4502": ("flurbiprofen",),
    "140587": ("celecoxib",),
    "2670": ("codeine",), "7052": ("morphine",), "7804": ("oxycodone",), "4337": ("fentanyl",),
    "6813": ("methadone",), "10689": ("tramadol",), "480": ("alfentanil",),
}

# ingredient -> its class key, and the longest ingredient name in words (for matching)
CLASS_OF: dict[str, str] = {i: c.key for c in CLASSES for i in c.ingredients}
NAMED_CLASS: dict[str, str] = {w: c.key for c in CLASSES for w in c.names_class}
LONGEST = max(len(i.split()) for i in CLASS_OF)
