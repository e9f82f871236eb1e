"""Loaders for benchmark source formats; importing this package registers them all."""

from lingshu.eval.loaders import mcq_jsonl, medbullets, medxpertqa, mmmu, omnimedvqa, path_vqa, pmc_vqa, pubmedqa, reports, slake, supergpqa, vqa_rad, image_labels  # noqa: F401,E501
