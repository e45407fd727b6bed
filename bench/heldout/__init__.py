"""An evaluation corpus for the detectors, written apart from them (issue 16).

Written before reading ``processor/detectors.py`` or ``processor/corpus/generate.py``, from Faker's
locales (values) and general knowledge of API payloads (shapes, field names in eight languages). Two
splits: ``dev`` (tuning allowed) and ``untouched`` (a different seed, other Faker locales where Faker
has them, the other half of every field-name list, the other half of the document-type words):
scored, never tuned on. Labels are the generator's own; ``labels.py`` maps them to the processor's
type names.
"""
