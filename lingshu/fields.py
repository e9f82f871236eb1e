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


def nested(schema: type, help: str) -> Any:
    """A sub-section field: a dataclass built with its own defaults."""
    return field(default_factory=schema, metadata={"help": help})
