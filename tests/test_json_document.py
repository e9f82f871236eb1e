"""JSON-document sources are parsed item by item: the same items as json.loads, in bounded memory, and a
document that breaks off keeps what came before it and rejects the rest with the file named."""

import json
import random
import tracemalloc
from collections import Counter

import pytest

from lingshu.config import SourceConfig
from lingshu.data.schema import Rejected, Sample
from lingshu.data.sources import json_document, load_source
from lingshu.data.sources.json_document import JSONDocumentError, iter_json_document


def _records(n: int, seed: int = 0) -> list[dict]:
    """Records whose items cross any window boundary: long strings, multi-byte characters, numbers, nesting."""
    rng = random.Random(seed)
    words = ["CT", "Lunge", "肺", "über", "naïve", "x-ray", "\u2028", 'quote"d', "back\\slash", "🙂"]
    return [{"id": i, "text": " ".join(rng.choices(words, k=rng.randint(0, 60))), "score": rng.random() * 10 ** rng.randint(-3, 9),
             "tags": [rng.randint(-10**6, 10**6) for _ in range(rng.randint(0, 5))], "ok": rng.random() < 0.5, "none": None}
            for i in range(n)]


@pytest.fixture
def small_windows(monkeypatch):
    monkeypatch.setattr(json_document, "CHUNK", 7)  # every item spans several reads


@pytest.mark.parametrize("indent", [None, 2])
def test_items_equal_json_loads_for_arrays_and_objects(tmp_path, small_windows, indent):
    records = _records(200)
    array, mapping = tmp_path / "array.json", tmp_path / "object.json"
    array.write_text(json.dumps(records, indent=indent, ensure_ascii=False))
    mapping.write_text(json.dumps({f"k{r['id']}": r for r in records}, indent=indent))
    assert list(iter_json_document(array, list)) == json.loads(array.read_text())
    assert list(iter_json_document(mapping, dict)) == list(json.loads(mapping.read_text()).items())


@pytest.mark.parametrize("text, expected", [("[]", []), (" [ ] \n", []), ("{}", []), ("[1,2.5e3,-0]", [1, 2500.0, 0]),
                                            ('{"a": 1}', [("a", 1)]), ('{"a": 1, "a": 2}', [("a", 1), ("a", 2)])])
def test_edge_documents(tmp_path, small_windows, text, expected):
    path = tmp_path / "doc.json"
    path.write_text(text)
    assert list(iter_json_document(path, dict if text.strip().startswith("{") else list)) == expected


def test_invalid_utf8_survives_as_surrogates_as_with_the_whole_file_decode(tmp_path, small_windows):
    raw = b'[{"q": "ok"}, {"q": "bad \xff\xfe byte"}, {"q": "\xe8\x82\xba split"}]'
    path = tmp_path / "doc.json"
    path.write_bytes(raw)
    assert list(iter_json_document(path, list)) == json.loads(raw.decode("utf-8", errors="surrogateescape"))


@pytest.mark.parametrize("text, container, items, where", [
    ('[{"a": 1}, {"a": 2}, {"a": ', list, 2, 27),  # truncated: the two complete records come first
    ('[1, 2 3]', list, 2, 6),                        # a missing comma
    ('[1, 2] [3]', list, 2, 7),                      # extra data
    ('{"a": 1, 2: 3}', dict, 1, 9),                  # a key that is not a string
    ('{"a": 1, "b" 2}', dict, 1, 13),                # a missing colon
    ('{"a": 1}', list, 0, 0),                        # not the expected container
    ('', list, 0, 0),
])
def test_a_broken_document_yields_what_came_before_then_names_where_it_broke(tmp_path, small_windows, text, container,
                                                                            items, where):
    path = tmp_path / "doc.json"
    path.write_text(text)
    got = []
    with pytest.raises(JSONDocumentError) as caught:
        for item in iter_json_document(path, container):
            got.append(item)
    assert len(got) == items
    assert caught.value.offset == where


def test_memory_is_bounded_by_the_window_not_the_document(tmp_path, monkeypatch):
    monkeypatch.setattr(json_document, "CHUNK", 1 << 16)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(_records(20_000)))
    size = path.stat().st_size
    assert size > 64 * json_document.CHUNK
    tracemalloc.start()
    count = sum(1 for _ in iter_json_document(path, list))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 20_000
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte document"


def test_a_truncated_source_keeps_the_records_before_and_rejects_the_rest_naming_the_file(tmp_path):
    records = [{"id": f"r{i}", "findings": f"Finding {i}.", "impression": "Normal."} for i in range(5)]
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(records)[:-40])  # cut inside the last record
    out = list(load_source(SourceConfig(name="iu", format="iu_xray_json", path=str(path), group="medical_text",
                                        licence="test"), tmp_path))
    assert [s.id for s in out if isinstance(s, Sample)] == [f"iu:r{i}" for i in range(4)]
    rejected = [s for s in out if isinstance(s, Rejected)]
    assert len(rejected) == 1 and rejected[0].reason == "unparseable_file"
    assert "reports.json" in rejected[0].id and "at character" in rejected[0].detail


def test_a_repeated_pubmedqa_key_is_no_longer_silently_dropped(tmp_path):
    record = {"QUESTION": "Does it work?", "CONTEXTS": ["A study."], "final_decision": "yes", "LONG_ANSWER": "Yes."}
    path = tmp_path / "pqal.json"
    path.write_text('{"1": %s, "2": %s, "1": %s}' % (json.dumps(record), json.dumps(record), json.dumps(record)))
    out = list(load_source(SourceConfig(name="pq", format="pubmedqa_json", path=str(path), group="medical_text",
                                        licence="test"), tmp_path))
    assert Counter(s.id for s in out) == {"pq:1": 2, "pq:2": 1}  # the curator rejects the second pq:1 as duplicate_id
