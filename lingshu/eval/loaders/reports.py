"""Radiology report generation (IU-Xray, MIMIC-CXR, CheXpert Plus): one study per record, findings + impression.

`medevalkit` is MedEvalKit's `test.json` (a list of {id, image, findings, impression}, `image` a file name
or a list of them, images in `images/`), which is also how the repo ships IU-Xray
(data/sources/iu_xray/medevalkit_IU_XRAY_test.json). `table` is a CSV (or JSON lines, parquet, arrow)
with a study id, findings, impression and image paths; `options.columns` maps other column names (e.g.
CheXpert Plus's section_findings / section_impression / path_to_image), and several images in one cell
are a list, or separated by ";". Rows sharing a study id are one study with all their images. MedEvalKit
names no hub dataset for these benchmarks; the authors' own releases (IU-Xray's XML reports, MIMIC-CXR's
free-text report files) need section parsing and are not read.

The gold answer is "Findings: {findings} Impression: {impression}", the format the report prompt asks
for. Studies whose findings and impression are both empty are dropped and counted. The image folder
(`options.image_dir`, relative to the data file) is needed only when a chosen study names images; if it
is missing the error names it (MedEvalKit's IU-Xray path instead crashes while "downloading" into it).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout
from lingshu.eval.loaders.common import data_folder, folder, image_files, relative, report_skipped
from lingshu.eval.tables import HF_KINDS, open_table

TABLE_KINDS = ("csv", "jsonl", "json", *HF_KINDS)

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


def _columns(bench: Benchmark) -> dict[str, list[str]]:
    return {key: [bench.options["columns"][key]] if key in bench.options.get("columns", {}) else names
            for key, names in DEFAULT_COLUMNS.items()}


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    columns = _columns(bench)
    image_dir = relative(data_folder(path), bench.options.get("image_dir", "images"))
    studies: dict[str, dict] = {}
    for row in open_table(path, bench.split).rows():
        record = row.record
        found = _get(record, columns["id"])
        study_id = str(row.index if found is None else found)
        study = studies.setdefault(study_id, {"findings": str(_get(record, columns["findings"]) or ""),
                                              "impression": str(_get(record, columns["impression"]) or ""),
                                              "images": []})
        study["images"] += image_names(_get(record, columns["images"]))
    skipped = Counter()
    for study_id, study in studies.items():
        if not study["findings"].strip() and not study["impression"].strip():
            skipped["findings and impression both empty"] += 1
            continue
        yield EvalItem(id=study_id, question="", answer=report_text(study["findings"], study["impression"]),
                       fields={"n_images": len(study["images"])}, fetch=_images(bench, image_dir, study["images"]))
    report_skipped(bench, skipped, len(studies))


def _images(bench: Benchmark, image_dir: Path, names: list[str]):
    """A study's `fetch`: its images, the folder named by `options.image_dir` checked first when it names any."""
    def fetch() -> list[Path]:
        if names:
            folder(bench, image_dir, "image folder", "options.image_dir")
        return image_files(bench, [image_dir / name for name in names])()
    return fetch


def recognise_table(bench: Benchmark, path: Path) -> str | None:
    """A table whose columns (as `options.columns` maps them) hold findings or an impression."""
    try:
        table = open_table(path, bench.split)
        columns = set(table.columns())
    except ValueError as exc:
        return str(exc)
    if table.kind not in TABLE_KINDS:
        return f"it is {table.kind}, this layout is {' or '.join(TABLE_KINDS)}"
    wanted = [n for key in ("findings", "impression") for n in _columns(bench)[key]]
    if not columns & set(wanted):
        return f"no column {' or '.join(wanted)} (its columns: {', '.join(sorted(columns))})"
    return None


register("reports", [
    Layout("medevalkit", "MedEvalKit's test.json, a JSON list of {id, image, findings, impression} (+ images/)", read,
           fields=("findings", "impression"), kinds=("json",)),
    Layout("table", "a CSV, JSON lines, parquet or arrow table of study id, findings, impression, image paths "
                    "(other names mapped by options.columns)", read, recognise=recognise_table),
])
