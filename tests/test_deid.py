from collections import Counter

from lingshu.data.deid import deidentify


def test_identifiers_are_replaced_and_counted():
    counts = Counter()
    text = ("Mr. John Smith (MRN: 00123456) was seen by Dr. Adams on 03/12/2004 and again on March 3, 2005; "
            "call 555-123-4567 or write to j.smith@example.org. Name: Alice Brown.")
    out = deidentify(text, counts)
    for leaked in ("John", "Smith", "00123456", "Adams", "03/12/2004", "2005", "555-123-4567", "example.org", "Alice"):
        assert leaked not in out
    assert counts == Counter({"name": 3, "record_number": 1, "date": 2, "phone": 1, "email": 1})


def test_scientific_text_is_left_alone():
    text = "Accuracy was 91.2% (95% CI 1.9-3.7, OR 0.43-0.88) in 2004-2006 among 120 patients; p = 0.013."
    counts = Counter()
    assert deidentify(text, counts) == text and not counts
