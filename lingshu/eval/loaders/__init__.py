"""Loaders for benchmark source formats; importing this package registers them all."""

from lingshu.eval.loaders import mcq_jsonl, pubmedqa, vqa_rad  # noqa: F401
