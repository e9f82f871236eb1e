"""Helpers shared by the loaders: safe paths, strict text decoding, file-backed images, record ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, ImageSource, Rejected, Sample, check_sample, user_content
from lingshu.data.sources.json_document import iter_json_document


def rel(path: Path, repo: Path) -> str:
    """Repo-relative POSIX path for provenance (absolute when outside the repo)."""
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def safe_join(base: Path, name: str) -> Path:
    """`base/name`, refusing names that escape `base` (`../../etc/passwd`, absolute paths, symlinks out)."""
    if not name or "\x00" in name:
        raise BadRecord("invalid_path", repr(name))
    candidate = (base / name).resolve()
    if not candidate.is_relative_to(base.resolve()):
        raise BadRecord("path_escape", f"{name!r} resolves outside {base}")
    return candidate


def file_image(path: Path, repo: Path, modality: str | None = None) -> ImageSource:
    def read() -> bytes:
        if not path.is_file():
            raise BadRecord("missing_image", rel(path, repo))
        return path.read_bytes()

    return ImageSource(ref=rel(path, repo), read=read, modality=modality)


def has_invalid_utf8(value: Any) -> bool:
    """True when text decoded with surrogateescape carries bytes that were not valid UTF-8."""
    if isinstance(value, str):
        return any("\udc80" <= ch <= "\udcff" for ch in value)
    if isinstance(value, dict):
        return any(has_invalid_utf8(k) or has_invalid_utf8(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_invalid_utf8(v) for v in value)
    return False


def read_json_items(src: SourceConfig, repo: Path, expected: type) -> Iterator[Any]:
    """The items of a source's JSON document, one at a time (json_document.py): an array's elements or an
    object's (key, value) pairs. When the file cannot be read or parsed, the items before the fault are
    followed by one `Rejected` that names the file and where parsing stopped.

    Strings may hold invalid UTF-8 (decoded with surrogateescape, flagged per record by has_invalid_utf8).
    """
    path = repo / src.path
    try:
        yield from iter_json_document(path, expected)
    except (ValueError, OSError) as exc:
        yield unparseable(src, path, repo, exc)


def parse_json_line(number: int, text: str | None) -> dict:
    """One JSON Lines record as a dict; BadRecord for invalid UTF-8, invalid JSON or a non-object."""
    if text is None:
        raise BadRecord("invalid_utf8", f"line {number}")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRecord("invalid_json", f"line {number}: {exc}") from exc
    if not isinstance(record, dict):
        raise BadRecord("invalid_json", f"line {number} is not an object")
    return record


def iter_lines(path: Path) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, decoded text or None when not UTF-8, raw bytes) for each non-empty line."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n"), raw
            except UnicodeDecodeError:
                yield number, None, raw


def id_of(record: dict, keys: tuple[str, ...], fallback: str) -> str:
    """The record's id: the first of `keys` it has (0 is an id; missing, None and "" are not), else `fallback`.
    An id that is an object, a list or a float is a BadRecord naming the field."""
    for key in keys:
        value = record.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise BadRecord("invalid_field", f"{key}: an id is a string or an integer, not {type(value).__name__}")
        return str(value).strip() or fallback
    return fallback


def text_field(record: dict, key: str, numbers: bool = False) -> str:
    """A field that must hold text (or, with `numbers`, a number such as a count answer), as a string;
    BadRecord naming the field when it is missing, empty or of another type (an object, a list, a bool)."""
    value = record.get(key)
    if value is None or value == "":
        raise BadRecord("missing_field", key)
    allowed = (str, int, float) if numbers else (str,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        kinds = "text or a number" if numbers else "text"
        raise BadRecord("invalid_field", f"{key} must be {kinds}, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise BadRecord("missing_field", key)
    return text


def require(record: dict, *keys: str) -> None:
    missing = [k for k in keys if record.get(k) in (None, "")]
    if missing:
        raise BadRecord("missing_field", ", ".join(missing))


def finish(sample: Sample) -> Sample | Rejected:
    """Schema-check a freshly built sample; a violation becomes a rejected record."""
    try:
        check_sample(sample)
    except BadRecord as bad:
        return Rejected.of(sample, bad.reason, bad.detail, "load")
    return sample


def reject(src: SourceConfig, record_id: str, bad: BadRecord, file: str, record: str) -> Rejected:
    return Rejected(f"{src.name}:{record_id}", src.name, bad.reason, bad.detail, file, record, "load")


def unparseable(src: SourceConfig, path: Path, repo: Path, exc: Exception) -> Rejected:
    """A whole file that cannot be parsed: one rejected record that names it."""
    file = rel(path, repo)
    return Rejected(f"{src.name}:{file}", src.name, "unparseable_file", f"{type(exc).__name__}: {exc}", file, "*", "load")


def qa_turns(question: str, answer: str, n_images: int) -> list[dict[str, str]]:
    """A single-turn conversation; image placeholders come before the text, laid out as the evaluation's."""
    return [{"role": "user", "content": user_content(question.strip(), n_images)},
            {"role": "assistant", "content": answer.strip()}]


MODALITY_ALIASES = {
    "x-ray": "x-ray", "xray": "x-ray", "cr": "x-ray", "dx": "x-ray", "rg": "x-ray", "mg": "x-ray",
    "radiograph": "x-ray", "ct": "ct", "mri": "mri", "mr": "mri", "us": "ultrasound", "ultrasound": "ultrasound",
    "nm": "nuclear", "pt": "pet", "pet": "pet", "oct": "oct", "es": "endoscopy", "xc": "photo", "gm": "microscopy",
    "sm": "histopathology",
}


def normalise_modality(value: str | None) -> str | None:
    """Map DICOM codes and dataset spellings onto the schema's modality names (None when unknown)."""
    if not value:
        return None
    return MODALITY_ALIASES.get(str(value).strip().lower())
