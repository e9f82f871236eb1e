"""The documented dataclass field used by every config section.

Kept apart from lingshu.config so that the model and training config modules can use it while
lingshu.config imports them to build its table of sections.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def doc(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its help text attached (mutable defaults go through default_factory)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


def required(help: str) -> Any:
    """A field with no default: params.yaml must set it (a missing key is an error naming it). For values that
    differ between the instances of one dataclass (the three supervised stages), where no default could be
    the shipped one; the class must be `kw_only` so that such fields can follow defaulted ones."""
    return field(metadata={"help": help})


def nested(schema: type, help: str) -> Any:
    """A sub-section field: a dataclass built with its own defaults."""
    return field(default_factory=schema, metadata={"help": help})
