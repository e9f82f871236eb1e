"""Secrets out of everything a run writes down: params, tags, text artifacts and stage logs.

A credential reaches a run in three shapes: under a key that names it (`api_key`, `hf_token`), inside a
value whatever its key (`Bearer ...`, a URL's `user:password@`), or as itself (the value of $OPENAI_API_KEY
echoed in a server's error message). Keys are the params' business (tracking.safe_params); this module
masks values and free text, so the same rule serves an MLflow param, a tag, a JSON artifact and a line on
stderr. It masks by value too: the values of environment variables named like credentials are replaced
wherever they appear.
"""

from __future__ import annotations

import io
import os
import re
import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

MASK = "***"
# the last part of a key that names a credential (hf_token, api_key_env, auth_header), not max_new_tokens
SECRET_NAME = re.compile(r"(^|_)(token|secret|password|passwd|api_?key|credentials?|auth|authorization)(_|$)", re.I)
# an HTTP authorisation value
AUTH_VALUE = re.compile(r"\b(?P<scheme>bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]{6,}", re.I)
# a URL's password: scheme://user:password@host keeps scheme://user:***@host
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]+@", re.I)
# key-shaped strings of the providers people paste: OpenAI, Hugging Face, GitHub, AWS, Slack
KEY_SHAPED = re.compile(r"\b(sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}"
                        r"|xox[abpr]-[A-Za-z0-9-]{10,})\b")
MIN_SECRET_LENGTH = 8  # shorter environment values ("1", "true") would mask ordinary text


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of the environment variables whose name says they hold a credential, longest first."""
    environ = os.environ if environ is None else environ
    found = {value for name, value in environ.items()
             if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH}
    return sorted(found, key=len, reverse=True)


def redact(text: str, extra: list[str] = ()) -> str:
    """`text` with every credential it holds masked: secret environment values (and `extra` values),
    authorisation values, URL passwords and key-shaped strings."""
    for value in [*extra, *secret_values()]:
        if value:
            text = text.replace(value, MASK)
    text = AUTH_VALUE.sub(lambda m: f"{m['scheme']} {MASK}", text)
    text = URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    return KEY_SHAPED.sub(MASK, text)


class RedactingStream(io.TextIOBase):
    """A text stream that masks credentials in what is written, then passes it on (a stage's stdout/stderr)."""

    def __init__(self, target: TextIO):
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8")


@contextmanager
def redacted_output() -> Iterator[None]:
    """Mask credentials in everything written to sys.stdout and sys.stderr inside the block; logging
    handlers that write to those streams are pointed at the masking ones for the same time."""
    import logging

    originals = sys.stdout, sys.stderr
    streams = {id(s): RedactingStream(s) for s in originals}
    sys.stdout, sys.stderr = (streams[id(s)] for s in originals)
    handlers = [h for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
                if isinstance(lg, logging.Logger) for h in lg.handlers
                if isinstance(h, logging.StreamHandler) and id(h.stream) in streams]
    for handler in handlers:
        handler.stream = streams[id(handler.stream)]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = originals
        for handler in handlers:
            handler.stream = handler.stream.target
