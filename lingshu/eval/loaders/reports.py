"""Radiology report generation (IU-Xray, MIMIC-CXR, CheXpert Plus): one study per record, findings + impression.

The layout is MedEvalKit's `test.json` (a list of {id, image, findings, impression}, `image` a file name
or a list of them, images in `images/`), which is also how the repo ships IU-Xray
(data/sources/iu_xray/medevalkit_IU_XRAY_test.json). A CSV (or JSON lines / parquet) with a study id,
findings, impression and image paths is read the same way; `options.columns` maps other column names
(e.g. CheXpert Plus's section_findings / section_impression / path_to_image), and several images in
one cell are a list, or separated by ";". Rows sharing a study id are one study with all their images.

The gold answer is "Findings: {findings} Impression: {impression}", the format the report prompt asks
for. Studies whose findings and impression are both empty are dropped and counted. The image folder
(`options.image_dir`, relative to the data file) is needed only when records name images; if it is
missing the error names it (MedEvalKit's IU-Xray path instead crashes while "downloading" into it).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, folder, image, read_records, relative, report_skipped

DEFAULT_COLUMNS = {"id": ["id", "study_id", "study"], "images": ["image", "images", "image_path", "image_paths"],
                   "findings": ["findings"], "impression": ["impression"]}


def report_text(findings: str, impression: str) -> str:
    return f"Findings: {findings.strip()} Impression: {impression.strip()}"


def image_names(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        return image_names(ast.literal_eval(text))
    return [part.strip() for part in text.split(";") if part.strip()]


def _get(record: dict, names: list[str]):
    return next((record[n] for n in names if n in record and record[n] is not None), None)


@register("report_records")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root)
    columns = {key: [bench.options["columns"][key]] if key in bench.options.get("columns", {}) else names
               for key, names in DEFAULT_COLUMNS.items()}
    image_dir = relative(path.parent, bench.options.get("image_dir", "images"))
    studies: dict[str, dict] = {}
    records = read_records(path)
    for number, record in enumerate(records):
        found = _get(record, columns["id"])
        study_id = str(number if found is None else found)
        study = studies.setdefault(study_id, {"findings": str(_get(record, columns["findings"]) or ""),
                                              "impression": str(_get(record, columns["impression"]) or ""),
                                              "images": []})
        study["images"] += image_names(_get(record, columns["images"]))
    skipped = Counter()
    for study_id, study in studies.items():
        if not study["findings"].strip() and not study["impression"].strip():
            skipped["findings and impression both empty"] += 1
            continue
        if study["images"]:
            folder(bench, image_dir, "image folder", "options.image_dir")
        yield EvalItem(id=study_id, question="", answer=report_text(study["findings"], study["impression"]),
                       images=[image(bench, image_dir / name) for name in study["images"]],
                       fields={"n_images": len(study["images"])})
    report_skipped(bench, skipped, len(studies))
