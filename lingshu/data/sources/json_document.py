"""The top-level items of a JSON document, parsed one at a time: a source file larger than memory can be read.

Several sources ship as one JSON document (VQA-RAD and IU-Xray as an array of records, PubMedQA as an object
keyed by PMID). `json.loads` holds the whole text and every parsed record at once, and every curation read
task walks its source's whole stream. Here the file is decoded through a window (`CHUNK` bytes at a time,
grown only while one item is larger than it) and each item is parsed by the standard library's decoder
as soon as the window holds it, so memory is bounded by the largest item, not the document.

Differences from `json.loads`, both deliberate: an object's repeated keys are all yielded (the loader's id
rules reject the later ones, instead of the parser silently keeping only the last), and the items before a
syntax error have been yielded when `JSONDocumentError` is raised, naming the character where parsing
stopped. A syntax error inside an item is found only once the window reaches the end of the file.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any, BinaryIO, Iterator

CHUNK = 1 << 20  # bytes read at a time
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_AFTER_VALUE = frozenset(" \t\n\r,:]}")
CLOSING = {list: "]", dict: "}"}


class JSONDocumentError(ValueError):
    """A document that is not the expected JSON container; `offset` is the character where parsing stopped."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} (at character {offset})")
        self.offset = offset


class _Window:
    """The undecoded rest of a file, as text from `pos`; `start` is the document offset of `text[0]`."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")  # has_invalid_utf8 flags it
        self.text, self.pos, self.start, self.eof = "", 0, 0, False

    def offset(self) -> int:
        return self.start + self.pos

    def read_more(self, at_least: int = 0) -> None:
        data = self.handle.read(max(CHUNK, at_least))
        self.eof = not data
        self.start += self.pos
        self.text = self.text[self.pos:] + self.utf8.decode(data, final=self.eof)
        self.pos = 0

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file), not consumed."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos:self.pos + 1]
            self.read_more()

    def take(self, allowed: str, what: str) -> str:
        found = self.peek()
        if not found or found not in allowed:
            raise JSONDocumentError(f"expected {what}, found {found or 'the end of the file'!r}", self.offset())
        self.pos += 1
        return found

    def value(self) -> Any:
        """The next JSON value. A number cut by the window's end parses as a shorter number ("2.5" of "2.5e3"),
        so a value counts as parsed only when what follows it can follow a value, or at the end of the file."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
                if self.eof or (end < len(self.text) and self.text[end] in _AFTER_VALUE):
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise JSONDocumentError(exc.msg, self.start + exc.pos) from None
            self.read_more(at_least=len(self.text) - self.pos)  # doubles the window for an item larger than it


def iter_json_document(path: Path, expected: type) -> Iterator[Any]:
    """The elements of a top-level array (`expected=list`) or the (key, value) pairs of a top-level object
    (`expected=dict`), in document order. JSONDocumentError for anything else, after the items before it."""
    if expected not in CLOSING:
        raise TypeError(f"expected must be list or dict, not {expected!r}")
    closing = CLOSING[expected]
    with path.open("rb") as handle:
        window = _Window(handle)
        window.take("[" if expected is list else "{", f"a JSON {expected.__name__} at the top level")
        if window.peek() == closing:
            window.pos += 1
        else:
            while True:
                if expected is dict:
                    window.peek()
                    at = window.offset()
                    key = window.value()
                    if not isinstance(key, str):
                        raise JSONDocumentError("an object key must be a string", at)
                    window.take(":", "':' after an object key")
                    yield key, window.value()
                else:
                    yield window.value()
                if window.take("," + closing, f"',' or {closing!r}") == closing:
                    break
        if window.peek():
            raise JSONDocumentError("extra data after the document", window.offset())
