"""De-identification of free text: names, dates, record numbers, phone numbers and e-mail addresses.

Rule-based and conservative: full dates are replaced but bare years are kept (they carry scientific
meaning in abstracts); names are caught after titles and name labels. Each replacement kind is counted
so the stage can report how much it changed.
"""

from __future__ import annotations

import re
from collections import Counter

_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[EMAIL]"),
    ("record_number", re.compile(r"\b(?:MRN|medical record(?: number)?|record (?:no\.?|number)|patient id|accession(?: no\.?| number)?)(?:\s*[:#]\s*|\s+)(?=[A-Z0-9-]*\d)[A-Z0-9-]{4,}\b", re.I), "[RECORD]"),
    ("phone", re.compile(r"(?<!\w)(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\w)"), "[PHONE]"),
    ("date", re.compile(rf"(?<![\d.,])(?:\d{{1,2}}/\d{{1,2}}/(?:\d{{4}}|\d{{2}})|\d{{1,2}}-\d{{1,2}}-\d{{4}}|\d{{1,2}}\.\d{{1,2}}\.\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} {_MONTH}\.? \d{{4}})(?![\d.,]\d)"), "[DATE]"),
    ("name", re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.? [A-Z][a-z]+(?: [A-Z][a-z]+)?"), "[NAME]"),
    ("name", re.compile(r"\b(?:[Pp]atient name|[Nn]ame)\s*:\s*[A-Z][a-z]+(?: [A-Z][a-z]+)?"), "Name: [NAME]"),
)


def deidentify(text: str, counts: Counter | None = None) -> str:
    """Text with identifiers replaced by placeholders; `counts` (if given) gains one per replacement."""
    for kind, pattern, placeholder in PATTERNS:
        text, n = pattern.subn(placeholder, text)
        if counts is not None and n:
            counts[kind] += n
    return text
