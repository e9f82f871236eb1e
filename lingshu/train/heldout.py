"""What each training stage measures on data it never trained on.

- Caption loss: mean per-token loss on test-split captions, with the real images and with blank
  images of the same size. The gap says how much the captions' likelihood depends on the image.
- VQA (instruct stage): greedy answers to the VQA test split, exact match after normalisation,
  against two baselines a model can beat without looking: the majority closed answer, and the most
  frequent training answer for the question's first three words. Question types answerable from the
  image alone (modality, plane, organ) are answered again with blank images: if accuracy does not
  drop, the model answers from question priors, not from the image.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from pathlib import Path

import torch

from lingshu.train.chat import Encoded, encode, left_padded, load_images
from lingshu.train.datamodule import collate


def normalise_answer(text: str) -> str:
    text = text.lower().strip()
    text = text.translate(str.maketrans("", "", string.punctuation))
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def _encoded(rows: list[dict], processor, store: Path, blank: bool, max_length: int, prompt_only: bool) -> list[Encoded]:
    out = []
    for row in rows:
        turns = [t for t in row["conversations"] if t["role"] == "user"] if prompt_only else row["conversations"]
        images = load_images(list(row["images"]), store, blank=blank)
        encoded = encode(turns, images, processor, max_length, generation_prompt=prompt_only)
        if encoded is None:
            raise ValueError(f"held-out sample {row['id']} does not fit in {max_length} tokens")
        out.append(encoded)
    return out


@torch.no_grad()
def caption_loss(model, processor, rows: list[dict], store: Path, blank: bool = False, batch_size: int = 16,
                 max_length: int = 4096) -> float:
    """Token-weighted mean cross-entropy of the assistant tokens."""
    model.eval()
    total, count = 0.0, 0
    pad, image_id = processor.tokenizer.pad_token_id, processor.image_token_id
    for start in range(0, len(rows), batch_size):
        encoded = _encoded(rows[start:start + batch_size], processor, store, blank, max_length, prompt_only=False)
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


@torch.no_grad()
def answer(model, processor, rows: list[dict], store: Path, blank: bool = False, batch_size: int = 16,
           max_new_tokens: int = 12, max_length: int = 4096) -> list[str]:
    """Greedy answers to each row's user turn (left-padded batches)."""
    model.eval()
    pad = processor.tokenizer.pad_token_id
    answers: list[str] = []
    for start in range(0, len(rows), batch_size):
        encoded = _encoded(rows[start:start + batch_size], processor, store, blank, max_length, prompt_only=True)
        kwargs = {k: v.to(model.device) for k, v in left_padded(encoded, pad, processor.image_token_id).items()}
        width = kwargs["input_ids"].shape[1]
        out = model.generate(**kwargs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
        answers += processor.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [a.strip() for a in answers]


def _prefix(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", question.lower())[:3])


def vqa_scores(train: list[dict], test: list[dict], predictions: list[str]) -> dict:
    """Accuracy overall / closed / open, and the two no-image baselines, on the same questions."""
    gold = [normalise_answer(r["meta"]["answer"]) for r in test]
    closed = [str(r["meta"].get("answer_type", "")).upper() == "CLOSED" for r in test]
    train_answers = Counter(normalise_answer(r["meta"]["answer"]) for r in train)
    train_closed = Counter(normalise_answer(r["meta"]["answer"]) for r in train
                           if str(r["meta"].get("answer_type", "")).upper() == "CLOSED")
    by_prefix: dict[str, Counter] = {}
    for r in train:
        by_prefix.setdefault(_prefix(r["meta"]["question"]), Counter())[normalise_answer(r["meta"]["answer"])] += 1
    majority_closed = train_closed.most_common(1)[0][0] if train_closed else ""
    fallback = train_answers.most_common(1)[0][0] if train_answers else ""
    prefix_guess = [(by_prefix.get(_prefix(r["meta"]["question"])) or Counter({fallback: 1})).most_common(1)[0][0]
                    for r in test]
    hits = [normalise_answer(p) == g for p, g in zip(predictions, gold)]

    def mean(values: list[bool]) -> float:
        return sum(values) / len(values) if values else 0.0

    return {
        "n": len(test),
        "accuracy": mean(hits),
        "closed_accuracy": mean([h for h, c in zip(hits, closed) if c]),
        "open_accuracy": mean([h for h, c in zip(hits, closed) if not c]),
        "baseline_majority_closed": mean([g == majority_closed for g, c in zip(gold, closed) if c]),
        "baseline_question_prefix": mean([p == g for p, g in zip(prefix_guess, gold)]),
    }


def image_typed(test: list[dict], types: list[str]) -> list[int]:
    """Indices of the questions whose type can be answered from the image alone."""
    wanted = {t.upper() for t in types}
    return [i for i, r in enumerate(test) if str(r["meta"].get("question_type", "")).upper() in wanted]


def image_type_accuracy(test: list[dict], real: list[str], blank: list[str], picked: list[int]) -> dict:
    """Accuracy on the picked (image-answerable) questions with real images vs blank ones (`blank` in pick order)."""
    gold = [normalise_answer(test[i]["meta"]["answer"]) for i in picked]

    def acc(preds: list[str]) -> float:
        return sum(normalise_answer(preds[k]) == g for k, g in enumerate(gold)) / len(gold) if gold else 0.0

    return {"n": len(picked), "real_images": acc([real[i] for i in picked]), "blank_images": acc(blank)}


def measure_heldout(model, processor, common, repo: Path, vqa: bool) -> dict:
    """The held-out metrics of one checkpoint, as a flat dict of floats (MLflow-ready names)."""
    from lingshu.train.mixture import read_group

    cfg, store, data_dirs = common.heldout, common.images(repo), common.table_dirs(repo)
    metrics: dict[str, float] = {}
    captions = [r for g in cfg.caption_groups for r in read_group(data_dirs, g) if r["split"] == "test" and r["task"] == "caption"]
    if cfg.max_caption_samples:
        captions = captions[: cfg.max_caption_samples]
    if captions:
        metrics["heldout/caption_loss"] = caption_loss(model, processor, captions, store, batch_size=cfg.batch_size)
        metrics["heldout/caption_loss_blank_images"] = caption_loss(model, processor, captions, store, blank=True,
                                                                    batch_size=cfg.batch_size)
        metrics["heldout/caption_samples"] = float(len(captions))
    if vqa:
        rows = [r for r in read_group(data_dirs, cfg.vqa_group) if r["source"] == cfg.vqa_source and r["task"] == "vqa"]
        train = [r for r in rows if r["split"] == "train"]
        test = [r for r in rows if r["split"] == "test"][: cfg.max_vqa_samples or None]
        predictions = answer(model, processor, test, store, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens)
        picked = image_typed(test, cfg.image_question_types)
        blank = answer(model, processor, [test[i] for i in picked], store, blank=True, batch_size=cfg.batch_size,
                       max_new_tokens=cfg.max_new_tokens)
        metrics |= {f"vqa/{k}": float(v) for k, v in vqa_scores(train, test, predictions).items()}
        metrics |= {f"vqa_image_types/{k}": float(v) for k, v in
                    image_type_accuracy(test, predictions, blank, picked).items()}
    model.train()
    return metrics
