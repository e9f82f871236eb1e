"""Loaders for benchmark source formats, each the list of layouts it reads; importing this package registers them all."""

from lingshu.eval.loaders import (  # noqa: F401
    image_labels, image_qa, mcq, medbullets, medmcqa, medxpertqa, mmlu, mmmu, omnimedvqa, pmc_vqa, pubmedqa, reports,
    slake, supergpqa, vqa_rad,
)
