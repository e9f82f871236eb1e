"""The YAML files in synth_templates/: caption templates, checklists, VQA templates and LLM prompts.

They are read once per run and checked up front, so a missing key or a misspelt field fails the stage
with the file and key named, before any image is rendered or any paid call is made.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROMPT_FIELDS = {
    "factual": {"short_caption", "facts", "regions"},
    "checklist": {"modality_name", "checklist"},
    "merge": {"factual", "checklist_description"},
    "self_instruct": {"caption"},
    "ocr_answer": set(),
    "cot_write": {"question", "context", "options", "gold", "gold_letter"},
    "cot_judge": {"question", "gold", "reasoning"},
}
LABEL_TYPES = ("modality", "body_part", "plane", "presence")
# form -> fields; a_<field> is the name with its indefinite article ("an MRI", "a CT", "an axial")
FORMS = {"open": {"value"}, "choice": {"value"}, "yes_no": {"value", "a_value"},
         "either": {"first", "second", "a_first", "a_second"}}
VOWEL_SOUNDS = frozenset("aeiou")
LETTERS_NAMED_WITH_A_VOWEL = frozenset("AEFHILMNORSX")  # "an MRI", "an X-ray", "an AP view"; but "a CT", "a PA"


def with_article(name: str) -> str:
    """`name` after "a" or "an", chosen by how it is read: an initialism ("MRI", "X-ray") by its first letter's
    name, a word by its first letter."""
    head = name.split("-")[0].split(" ")[0]
    if len(head) == 1 or head.isupper():  # an initialism, or a letter read by its name
        article = "an" if head[:1].upper() in LETTERS_NAMED_WITH_A_VOWEL else "a"
    else:
        article = "an" if head[:1].lower() in VOWEL_SOUNDS else "a"
    return f"{article} {name}"


class TemplateError(ValueError):
    """A template file that does not have the keys or fields the generators need."""


@dataclass
class Templates:
    names: dict[str, dict[str, str]]
    short_caption: list[str]
    roi_caption: str
    lexicon: dict[str, dict[str, list[str]]]
    aliases: dict[str, dict[str, str]]
    checklists: dict[str, list[str]]
    vqa: dict[str, dict[str, list[str]]]
    prompts: dict[str, str]

    def name(self, kind: str, value: str) -> str:
        """Display name of a label ("ct" -> "CT"); unknown values are shown as they are."""
        return self.names.get(kind, {}).get(value, value)

    @staticmethod
    def fill(template: str, **names: str) -> str:
        """A VQA template with its label names, each also as `a_<field>` (the name with its article)."""
        return template.format(**names, **{f"a_{field}": with_article(name) for field, name in names.items()})

    def checklist(self, modality: str | None) -> list[str]:
        return self.checklists.get(modality or "", self.checklists["default"])


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise TemplateError(f"template file {path} does not exist")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping at the top level")
    return data


def _require(data: dict, key: str, path: Path) -> Any:
    if key not in data:
        raise TemplateError(f"{path}: missing key {key!r}")
    return data[key]


def load_templates(folder: Path) -> Templates:
    captions_path, checklists_path = folder / "captions.yaml", folder / "checklists.yaml"
    vqa_path, prompts_path = folder / "vqa.yaml", folder / "prompts.yaml"
    captions, checklists, vqa, prompts = (_read(p) for p in (captions_path, checklists_path, vqa_path, prompts_path))
    if "default" not in checklists:
        raise TemplateError(f"{checklists_path}: missing the 'default' checklist")
    for label_type in LABEL_TYPES:
        forms = _require(vqa, label_type, vqa_path)
        for form, allowed_fields in FORMS.items():
            if not _require(forms, form, vqa_path):
                raise TemplateError(f"{vqa_path}: {label_type}.{form} has no template")
            for template in forms[form]:
                if _fields(template) - allowed_fields:
                    raise TemplateError(f"{vqa_path}: {label_type}.{form} template {template!r} may only use "
                                        f"{', '.join('{' + f + '}' for f in sorted(allowed_fields))}")
    for name, allowed in PROMPT_FIELDS.items():
        unknown = _fields(_require(prompts, name, prompts_path)) - allowed
        if unknown:
            raise TemplateError(f"{prompts_path}: prompt {name!r} uses unknown field(s) {sorted(unknown)}; "
                                f"allowed: {sorted(allowed)}")
    return Templates(
        names=_require(captions, "names", captions_path),
        short_caption=list(_require(captions, "short_caption", captions_path)),
        roi_caption=_require(captions, "roi_caption", captions_path),
        lexicon=_require(captions, "lexicon", captions_path),
        aliases=captions.get("aliases") or {},
        checklists={k: list(v) for k, v in checklists.items()},
        vqa=vqa,
        prompts=prompts,
    )
