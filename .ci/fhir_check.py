"""Validates a Knotwork clinician report with a maintained FHIR library.

Usage: python fhir_check.py BUNDLE.json

Parses the bundle with fhir.resources (pydantic models generated from the
FHIR specification: cardinalities, types, required elements, primitive
formats) and checks what the report promises: a collection Bundle, one
pseudonymous Patient, pain Observations coded LOINC 72514-3 with a body site
and a 0-10 integer, completed Procedures, every subject pointing at the
Patient. fhir.resources ships R5 and R4B models; R4B is R4 with a few
resources added, and the resources used here are the same in both.
"""

import sys

from fhir.resources.R4B.bundle import Bundle


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        bundle = Bundle.model_validate_json(f.read())
    assert bundle.type == "collection", bundle.type
    resources = [e.resource for e in bundle.entry or []]
    kinds = [r.get_resource_type() for r in resources]
    patients = [r for r in resources if r.get_resource_type() == "Patient"]
    assert len(patients) == 1, kinds
    patient = f"Patient/{patients[0].id}"
    assert not patients[0].name and not patients[0].birthDate, "patient must be pseudonymous"
    observations = [r for r in resources if r.get_resource_type() == "Observation"]
    procedures = [r for r in resources if r.get_resource_type() == "Procedure"]
    assert observations and procedures, kinds
    for o in observations:
        codes = {(c.system, c.code) for c in o.code.coding}
        assert ("http://loinc.org", "72514-3") in codes, codes
        assert o.status == "final"
        assert o.bodySite is not None and o.bodySite.text
        assert isinstance(o.valueInteger, int) and 0 <= o.valueInteger <= 10
        assert o.subject.reference == patient
    for p in procedures:
        assert p.status == "completed"
        assert p.subject.reference == patient
        assert p.performedPeriod is not None and p.performedPeriod.start
    print(
        f"FHIR bundle valid: {len(observations)} Observation(s), "
        f"{len(procedures)} Procedure(s), 1 Patient"
    )


if __name__ == "__main__":
    main(sys.argv[1])
