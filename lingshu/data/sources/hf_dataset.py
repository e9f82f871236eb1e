"""Hugging Face Hub datasets by name, when the machine is online (or the dataset is in the local cache).

`path` is the dataset name; `options` may give `split`, `config`, and `columns` to rename the dataset's
columns onto the flat row fields understood by `row_to_sample` (image, caption, question, answer,
modality, body_part). With HF_HUB_OFFLINE=1 and no cached copy, the error says so and names the source.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, ImageSource, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import id_of, reject
from lingshu.data.sources.image_folder import row_to_sample


def _png_reader(image) -> ImageSource:
    def read() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    return ImageSource(ref="hub-image", read=read)


@register("hf_dataset", options=("split", "config", "columns"))
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    import datasets

    split = src.options.get("split", "train")
    try:
        dataset = datasets.load_dataset(src.path, src.options.get("config"), split=split)
    except Exception as exc:
        raise RuntimeError(
            f"source {src.name!r}: could not load Hugging Face dataset {src.path!r} (split {split!r}); "
            f"offline machines need it in the local cache: {exc}"
        ) from exc
    columns = dict(src.options.get("columns", {}))
    for index, row in enumerate(dataset):
        flat = {columns.get(k, k): v for k, v in row.items()}
        image = flat.pop("image", None)
        source = _png_reader(image) if image is not None else None
        file, record = f"hf://{src.path}/{split}", f"index={index}"
        try:
            record_id = id_of(flat, ("id",), str(index))
        except BadRecord as bad:
            yield reject(src, str(index), bad, file, record)
            continue
        yield row_to_sample(flat, source, src, record_id, file, record)
