"""Modality labels for images whose metadata names none: a small classifier trained on the labelled ones.

The paper uses a BiomedCLIP-based classifier; the embedded default cannot download its weights, so this
trains a logistic regression on cheap image features (grayscale thumbnail, histogram, aspect ratio,
colourfulness) of the images that do carry a modality, and measures its accuracy on a held-out part of
them before labelling anything. Predictions are marked `modality_source = "classifier"`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from lingshu.config import ModalityConfig


@dataclass
class ModalityClassifier:
    cfg: ModalityConfig
    model: object | None = None
    metrics: dict = field(default_factory=dict)

    def fit(self, features: np.ndarray, labels: list[str]) -> dict:
        """Fit on labelled images, measuring held-out accuracy first; returns the metrics it logged."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        counts = Counter(labels)
        self.metrics = {"labelled_images": len(labels), "classes": dict(sorted(counts.items()))}
        if len(counts) < 2:
            self.metrics["heldout_accuracy"] = None
            return self.metrics
        labels_arr = np.array(labels)
        usable = np.array([counts[label] >= 2 for label in labels])
        train_idx, test_idx = train_test_split(
            np.flatnonzero(usable), test_size=self.cfg.holdout_fraction, random_state=self.cfg.seed,
            stratify=labels_arr[usable],
        )
        train_idx = np.concatenate([train_idx, np.flatnonzero(~usable)])

        def new_model():
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5, random_state=self.cfg.seed))

        probe = new_model().fit(features[train_idx], labels_arr[train_idx])
        predicted = probe.predict(features[test_idx])
        majority = Counter(labels_arr[train_idx]).most_common(1)[0][0]
        self.metrics |= {
            "heldout_images": int(len(test_idx)),
            "heldout_accuracy": float((predicted == labels_arr[test_idx]).mean()),
            "heldout_majority_baseline": float((labels_arr[test_idx] == majority).mean()),
        }
        self.model = new_model().fit(features, labels_arr)
        return self.metrics

    def predict(self, features: np.ndarray) -> list[tuple[str, float]]:
        if self.model is None or len(features) == 0:
            return []
        proba = self.model.predict_proba(features)
        classes = self.model.classes_
        return [(str(classes[i]), float(p[i])) for p, i in zip(proba, proba.argmax(axis=1))]
