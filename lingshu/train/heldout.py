"""What each training stage measures on data it never trained on.

- Caption loss: mean per-token loss on test-split captions, with the real images and with blank
  images of the same size (each image decoded and resized once for both). The gap says how much the
  captions' likelihood depends on the image.
- VQA (instruct and RL stages): greedy answers to the VQA test split, asked and scored exactly as the
  evaluation asks and scores (lingshu.eval: its prompts, the model's chat template, its extractors and
  scorer), against two baselines a model can beat without looking, scored the same way: the majority
  closed answer, and the most frequent training answer for the question's first three words. Question
  types answerable from the image alone (modality, plane, organ) are answered again with blank images
  (the evaluation's blank-image control): if accuracy does not drop, the model answers from question
  priors, not from the image.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path

import torch

from lingshu.data.store import ImageStores
from lingshu.train.chat import Encoded, FittedImages, encode, image_stores
from lingshu.train.datamodule import collate


def _encoded(rows: list[dict], processor, images_of: FittedImages, blank: bool, max_length: int) -> list[Encoded]:
    out = []
    for row in rows:
        images = [images_of.blank(key) if blank else images_of(key) for key in row["images"]]
        encoded = encode(row["conversations"], images, processor, max_length)
        if encoded is None:
            raise ValueError(f"held-out sample {row['id']} does not fit in {max_length} tokens")
        out.append(encoded)
    return out


@torch.no_grad()
def caption_loss(model, processor, rows: list[dict], images_of: FittedImages, blank: bool = False,
                 batch_size: int = 16, max_length: int = 4096) -> float:
    """Token-weighted mean cross-entropy of the assistant tokens."""
    model.eval()
    total, count = 0.0, 0
    pad, image_id = processor.tokenizer.pad_token_id, processor.image_token_id
    for start in range(0, len(rows), batch_size):
        encoded = _encoded(rows[start:start + batch_size], processor, images_of, blank, max_length)
        batch = collate([[e] for e in encoded], pad, image_id, packed=False)
        batch.pop("n_tokens")
        batch = {k: v.to(model.device) for k, v in batch.items()}
        labels = batch.pop("labels")
        logits = model(**batch).logits[:, :-1].float()
        target = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="sum")
        total += float(loss)
        count += int((target != -100).sum())
    return total / max(count, 1)


def _prefix(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", question.lower())[:3])


def vqa_items(rows: list[dict], store: ImageStores, folder: Path) -> list:
    """Curated VQA rows as evaluation items (question, gold answer, answer type), their images exported from
    the stores into `folder` as files, which is what the evaluation's backends read."""
    from lingshu.eval.benchmark import EvalItem

    return [EvalItem(id=r["id"], question=str(r["meta"]["question"]).strip(), answer=str(r["meta"]["answer"]).strip(),
                     images=[store.export(key, folder) for key in r["images"]],
                     answer_type=str(r["meta"].get("answer_type", "")).strip().upper() or None,
                     fields={"question_type": r["meta"].get("question_type")})
            for r in rows]


def baseline_answers(train: list[dict], items: list) -> dict[str, list[str]]:
    """Answers a model could give without the image: the majority closed training answer, and the most
    frequent training answer for the question's first three words."""
    from lingshu.eval.extract import normalise

    answers = Counter(normalise(r["meta"]["answer"]) for r in train)
    closed = Counter(normalise(r["meta"]["answer"]) for r in train if str(r["meta"].get("answer_type", "")).upper() == "CLOSED")
    by_prefix: dict[str, Counter] = {}
    for r in train:
        by_prefix.setdefault(_prefix(r["meta"]["question"]), Counter())[normalise(r["meta"]["answer"])] += 1
    majority = closed.most_common(1)[0][0] if closed else ""
    fallback = Counter({answers.most_common(1)[0][0] if answers else "": 1})
    return {"majority_closed": [majority for _ in items],
            "question_prefix": [(by_prefix.get(_prefix(i.question)) or fallback).most_common(1)[0][0] for i in items]}


HELDOUT = dict(name="heldout_vqa", version=1, group="heldout", loader="", path="", task="vqa")


def answered(model, processor, items: list, image_items: list, cfg) -> tuple[dict[str, dict], list[dict]]:
    """The model's scored answers to `items` (by id) and to `image_items` with blank images, each asked and
    scored exactly as `lingshu eval` asks and scores them (its runner, prompts, chat template, scorer)."""
    from lingshu.eval.backends.hf import HFBackend
    from lingshu.eval.benchmark import Benchmark
    from lingshu.eval.controls import control_items
    from lingshu.eval.runner import generate, predictions_file, score_file

    bench = Benchmark(**HELDOUT)
    backend = HFBackend.serving(model, processor, max_new_tokens=cfg.max_new_tokens)
    with tempfile.TemporaryDirectory(prefix="lingshu-heldout-") as tmp:
        folder = Path(tmp)
        real = generate(bench, items, backend, predictions_file(folder, "real"), "strict", cfg.batch_size)
        blank = generate(bench, control_items(image_items, "blank_image", folder), backend,
                         predictions_file(folder, "blank"), "strict", cfg.batch_size)
        return {r["id"]: r for r in score_file(real, "strict")[0]}, score_file(blank, "strict")[0]


def vqa_scores(train: list[dict], items: list, image_items: list, real: dict[str, dict], blank: list[dict]) -> dict:
    """Accuracy overall / closed / open with the baselines on the same questions, and the image-answerable
    questions with real and blank images."""
    from lingshu.eval.benchmark import Benchmark
    from lingshu.eval.runner import build_prompt
    from lingshu.eval.score import score_record

    def mean(records) -> float:
        records = list(records)
        return sum(float(r["correct"]) for r in records) / len(records) if records else 0.0

    bench = Benchmark(**HELDOUT)
    closed = {i.id for i in items if i.answer_type == "CLOSED"}
    out = {"vqa/n": float(len(items)), "vqa/accuracy": mean(real.values()),
           "vqa/closed_accuracy": mean(r for k, r in real.items() if k in closed),
           "vqa/open_accuracy": mean(r for k, r in real.items() if k not in closed)}
    for name, answers in baseline_answers(train, items).items():  # scored like a model's answers
        hits = {item.id: score_record({"kind": build_prompt(bench, item, "strict")[0], "response": answer,
                                       "answer": item.answer, "options": {}}, "strict")
                for item, answer in zip(items, answers)}
        on = [h for k, h in hits.items() if k in closed] if name == "majority_closed" else hits.values()
        out[f"vqa/baseline_{name}"] = mean(on)
    return out | {"vqa_image_types/n": float(len(image_items)),
                  "vqa_image_types/real_images": mean(real[i.id] for i in image_items),
                  "vqa_image_types/blank_images": mean(blank)}


def measure_heldout(model, processor, common, repo: Path, vqa: bool) -> dict:
    """The held-out metrics of one checkpoint, as a flat dict of floats (MLflow-ready names)."""
    from itertools import islice

    from lingshu.train.tables import group_rows

    cfg, store, data_dirs, cache = common.heldout, image_stores(common, repo), common.table_dirs(repo), common.cache_dir(repo)
    metrics: dict[str, float] = {}
    captions = (r for g in cfg.caption_groups for r in group_rows(data_dirs, g, cache, split="test", tasks=["caption"]))
    captions = list(islice(captions, cfg.max_caption_samples or None))
    if captions:
        images_of = FittedImages(store, processor.image_processor, maxsize=len(captions))
        metrics["heldout/caption_loss"] = caption_loss(model, processor, captions, images_of, batch_size=cfg.batch_size)
        metrics["heldout/caption_loss_blank_images"] = caption_loss(model, processor, captions, images_of, blank=True,
                                                                    batch_size=cfg.batch_size)
        metrics["heldout/caption_samples"] = float(len(captions))
    if vqa:
        rows = list(group_rows(data_dirs, cfg.vqa_group, cache, source=cfg.vqa_source, tasks=["vqa"]))
        train = [r for r in rows if r["split"] == "train"]
        items = vqa_items([r for r in rows if r["split"] == "test"][: cfg.max_vqa_samples or None], store,
                          cache / "images")
        wanted = {t.upper() for t in cfg.image_question_types}
        image_items = [i for i in items if str(i.fields.get("question_type") or "").upper() in wanted]
        metrics |= vqa_scores(train, items, image_items, *answered(model, processor, items, image_items, cfg))
    model.train()
    return metrics
