"""Benchmark loaders on small fixtures in each benchmark's published format (tests/fixtures/eval/<name>/)."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

import lingshu.eval.loaders  # noqa: F401
from lingshu.eval.benchmark import discover, select

FIXTURES = Path(__file__).parent / "fixtures" / "eval"

NEW = {"slake": "slake/test.json", "slake_zh": "slake/test.json", "path_vqa": "path_vqa", "pmc_vqa": "pmc_vqa/test_2.csv",
       "omnimedvqa": "omnimedvqa", "mmmu_med": "mmmu", "medxpertqa_mm": "medxpertqa/MM/test.jsonl",
       "medxpertqa_text": "medxpertqa/Text/test.jsonl", "medbullets_op4": "medbullets/medbullets_op4.csv",
       "medbullets_op5": "medbullets/medbullets_op5.csv", "supergpqa_medicine": "supergpqa/SuperGPQA-all.jsonl",
       "iu_xray": "iu_xray/test.json", "mimic_cxr": "mimic_cxr/test.csv", "chexpert_plus": "chexpert_plus/test.json"}
# benchmarks that write embedded images next to their data: loaded from a copy, never inside the repo
EMBEDDED = {"path_vqa": "path_vqa", "mmmu_med": "mmmu"}


# the real IU-Xray YAML points into data/benchmarks for its images; the fixture keeps them beside the JSON
FIXTURE_OPTIONS = {"iu_xray": {"image_dir": "images"}}


def load(name: str, tmp_path: Path | None = None, **changes):
    changes.setdefault("options", FIXTURE_OPTIONS.get(name, discover()[name].options))
    bench = replace(discover()[name], path=NEW[name], **changes)
    root = FIXTURES
    if name in EMBEDDED:
        shutil.copytree(FIXTURES / EMBEDDED[name], tmp_path / EMBEDDED[name])
        root = tmp_path
    return bench, {item.id: item for item in bench.items(root)}


def colour(path: Path) -> tuple:
    with Image.open(path) as im:
        return im.convert("RGB").getpixel((4, 4))


def test_yaml_groups_and_every_breakdown_field_is_filled(tmp_path):
    benches = discover()
    assert {b.name for b in select(["multimodal_qa"])} == {"vqa_rad", "slake", "path_vqa", "pmc_vqa", "omnimedvqa",
                                                          "mmmu_med", "medxpertqa_mm"}
    assert {b.name for b in select(["multimodal_qa_zh"])} == {"slake_zh"}
    assert {b.name for b in select(["text_qa"])} == {"pubmedqa", "medqa", "mmlu_medical", "medmcqa", "medbullets_op4",
                                                     "medbullets_op5", "medxpertqa_text", "supergpqa_medicine"}
    assert {b.name for b in select(["report_generation"])} == {"iu_xray", "mimic_cxr", "chexpert_plus"}
    for name in NEW:
        bench = benches[name]
        assert bench.path.startswith("data/"), name
        items = list(load(name, tmp_path / name)[1].values())
        assert items, name
        for item in items:
            assert all(item.fields.get(key) not in (None, "") for key in bench.breakdown), (name, item.id)
            assert all(p.is_file() for p in item.images), (name, item.id)
            if bench.task == "mcq":
                assert item.answer in item.options, (name, item.id)


def test_slake_english_and_chinese_are_separate_benchmarks():
    _, en = load("slake")
    _, zh = load("slake_zh")
    assert sorted(en) == ["11934", "11935", "11940"] and sorted(zh) == ["11936", "11941"]
    item = en["11935"]
    assert item.question == "Does the picture contain liver?" and item.answer == "Yes" and item.answer_type == "CLOSED"
    assert item.images == [FIXTURES / "slake/imgs/xmlab1/source.jpg"]
    assert item.fields == {"answer_type": "CLOSED", "content_type": "Organ", "modality": "MRI", "location": "Abdomen"}
    assert zh["11941"].answer == "肺" and zh["11941"].images[0].name == "source.jpg"
    assert en["11940"].images[0].parent.name == "xmlab2"


def test_path_vqa_writes_embedded_images_once_and_marks_yes_no_closed(tmp_path):
    _, items = load("path_vqa", tmp_path)
    assert sorted(items) == ["test-0", "test-1", "test-2"], "only the test shard is read"
    assert items["test-0"].answer == "in the canals of hering" and items["test-0"].answer_type == "OPEN"
    assert items["test-1"].answer_type == "CLOSED" and items["test-2"].answer == "no"
    assert items["test-0"].images == items["test-1"].images, "identical bytes are one cached file"
    cached = items["test-0"].images[0]
    assert cached.parent == tmp_path / ".cache/eval_images/path_vqa" and cached.suffix == ".png" and colour(cached) == (220, 0, 0)
    assert items["test-2"].images[0].suffix == ".jpg"
    assert len(list(cached.parent.iterdir())) == 2
    stamp = cached.stat().st_mtime_ns
    replace(discover()["path_vqa"], path="path_vqa").items(tmp_path)
    assert cached.stat().st_mtime_ns == stamp, "a second load reuses the cache"


def test_pmc_vqa_strips_choice_letters_and_reads_the_answer_letter():
    _, items = load("pmc_vqa")
    assert sorted(items) == ["0", "1"]
    assert items["0"].options == {"A": "CT", "B": "MRI", "C": "X-ray", "D": "Ultrasound"} and items["0"].answer == "A"
    assert items["1"].answer == "C" and items["1"].options["C"] == "H&E"
    assert items["1"].images == [FIXTURES / "pmc_vqa/figures/PMC3400426_F1.jpg"]
    # MedEvalKit asks with the cells as written, stray spaces and all
    assert items["0"].verbatim == {"question": "What is the imaging modality used?",
                                   "choices": {"A": "A:CT", "B": " B:MRI", "C": " C:X-ray", "D": " D:Ultrasound"}}


def test_pmc_vqa_version_1_columns_answer_label(tmp_path):
    (tmp_path / "figures").mkdir()
    shutil.copy(FIXTURES / "pmc_vqa/figures/PMC3400426_F1.jpg", tmp_path / "figures")
    (tmp_path / "test.csv").write_text(
        "Figure_path,Question,Answer,Choice A,Choice B,Choice C,Choice D,Answer_label\n"
        "PMC3400426_F1.jpg,What is the uptake pattern?,Focal uptake pattern,A:Diffuse uptake pattern,"
        "B:Focal uptake pattern,C:No uptake pattern,D:Cannot determine from the information given,B\n")
    items = replace(discover()["pmc_vqa"], path="test.csv").items(tmp_path)
    assert [(i.id, i.answer, i.options["B"]) for i in items] == [("1", "B", "Focal uptake pattern")]


def test_omnimedvqa_answer_is_the_letter_of_gt_answer_and_unmatched_ones_are_counted(caplog):
    with caplog.at_level(logging.WARNING, logger="lingshu.eval.loaders"):
        _, items = load("omnimedvqa")
    assert sorted(items) == ["ACRIMA_0000", "ACRIMA_0001", "Chest CT Scan_0000"]
    assert items["ACRIMA_0000"].options == {"A": "No", "B": "Yes"} and items["ACRIMA_0000"].answer == "B"
    assert items["ACRIMA_0001"].answer == "C" and len(items["ACRIMA_0001"].options) == 4
    ct = items["Chest CT Scan_0000"]
    assert ct.answer == "B" and ct.images == [FIXTURES / "omnimedvqa/Images/Chest CT Scan/000108 (3).png"]
    assert ct.fields == {"question_type": "Disease Diagnosis", "modality_type": "CT", "dataset": "Chest CT Scan"}
    assert "omnimedvqa: skipped 1 of 4" in caplog.text and "gt_answer equals none of the options" in caplog.text


def test_mmmu_keeps_images_in_order_and_skips_open_questions(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="lingshu.eval.loaders"):
        bench, items = load("mmmu_med", tmp_path)
    assert bench.split == "validation"
    assert sorted(items) == ["validation_Basic_Medical_Science_1", "validation_Clinical_Medicine_1",
                             "validation_Diagnostics_and_Laboratory_Medicine_1", "validation_Pharmacy_1",
                             "validation_Public_Health_1"]
    item = items["validation_Basic_Medical_Science_1"]
    assert item.question.startswith("<image 1> shows a section") and "<image 2>" in item.question
    assert item.options == {"A": "Nerve", "B": "Muscle", "C": "Bone", "D": "Cartilage"} and item.answer == "B"
    assert [colour(p) for p in item.images] == [(0, 200, 0), (230, 230, 0)], "image_1 then image_2"
    assert item.fields["subject"] == "Basic_Medical_Science" and item.fields["subfield"] == "Anatomy"
    assert items["validation_Clinical_Medicine_1"].options["C"] == "Sinus rhythm"
    assert "skipped 1 of 6 validation records: open question" in caplog.text


def test_mmmu_test_split_hidden_answers_are_skipped_and_counted_not_a_crash(tmp_path, caplog):
    bench = discover()["mmmu_med"]
    with caplog.at_level(logging.WARNING, logger="lingshu.eval.loaders"):
        _, items = load("mmmu_med", tmp_path, split="test", options={**bench.options, "subjects": ["Clinical_Medicine"]})
    assert items == {}
    assert "mmmu_med: skipped 2 of 2 test records: answer hidden ('?')" in caplog.text


def test_medxpertqa_mm_and_text():
    _, mm = load("medxpertqa_mm")
    assert sorted(mm) == ["MM-2000", "MM-2001"]
    item = mm["MM-2000"]
    assert item.answer == "D" and item.options["D"] == "Abdominal ultrasound of the right upper quadrant"
    assert item.question.endswith("Which is the best next step?") and "Answer Choices" not in item.question
    assert item.verbatim["question"].startswith(item.question) and item.verbatim["question"].endswith("(E) MRCP")
    assert item.images == [FIXTURES / "medxpertqa/images/MM-2000-a.jpeg"]
    assert [p.name for p in mm["MM-2001"].images] == ["MM-2001-a.jpeg", "MM-2001-b.jpeg"]
    assert mm["MM-2001"].fields == {"medical_task": "Basic Medicine", "body_system": "Cardiovascular",
                                    "question_type": "Understanding"}
    _, text = load("medxpertqa_text")
    assert list(text) == ["Text-1"] and text["Text-1"].answer == "J" and len(text["Text-1"].options) == 10
    assert text["Text-1"].images == [] and text["Text-1"].question == "A 30-year-old with status epilepticus. Which drug first?"


def test_medbullets_op4_and_op5():
    _, op4 = load("medbullets_op4")
    _, op5 = load("medbullets_op5")
    assert sorted(op4) == sorted(op5) == ["1", "2"]
    assert list(op4["1"].options) == ["A", "B", "C", "D"] and op4["1"].answer == "C"
    assert op4["1"].options["C"] == "Purkinje fibers > atria > ventricles > AV node"
    assert list(op5["1"].options) == ["A", "B", "C", "D", "E"] and op5["1"].answer == "D"
    assert op5["2"].options["C"] == "Intentional contamination" and op5["2"].answer == "C"
    assert op4["2"].question == "A 9-year-old girl presents with repeat sepsis.\nWhich is the most appropriate underlying explanation?"


def test_supergpqa_keeps_medicine_and_field_subfield_land_in_their_own_keys():
    _, items = load("supergpqa_medicine")
    assert sorted(items) == ["0a1b2c", "1b2c3d", "3d4e5f"], "the Engineering question is dropped"
    item = items["0a1b2c"]
    assert item.answer == "B" and item.options["B"] == "Phenylalanine hydroxylase"
    assert item.fields["field"] == "Basic Medicine"
    assert item.fields["subfield"] == "Human Anatomy and Histology-Embryology"
    assert item.fields["difficulty"] == "easy"
    assert items["1b2c3d"].answer == "G" and len(items["1b2c3d"].options) == 10
    assert items["1b2c3d"].fields == {"discipline": "Medicine", "field": "Clinical Medicine",
                                      "subfield": "Internal Medicine", "difficulty": "middle"}


def test_iu_xray_reports_drop_empty_studies(caplog):
    with caplog.at_level(logging.WARNING, logger="lingshu.eval.loaders"):
        bench, items = load("iu_xray")
    assert bench.task == "report" and sorted(items) == ["open_i_1", "open_i_2"]
    assert items["open_i_1"].answer == ("Findings: The cardiac silhouette and mediastinum size are within normal "
                                        "limits. There is no pulmonary edema. Impression: Normal chest x-XXXX.")
    assert [p.name for p in items["open_i_1"].images] == ["CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png"]
    assert items["open_i_2"].answer == "Findings:  Impression: No acute pulmonary findings."
    assert "iu_xray: skipped 1 of 3 test records: findings and impression both empty" in caplog.text


def test_iu_xray_real_reports_name_the_missing_image_folder(repo, tmp_path):
    bench = discover()["iu_xray"]
    with pytest.raises(FileNotFoundError, match="image folder.*data/benchmarks/iu_xray/images"):
        bench.items(repo)
    # the folder is required only when records name images: the same 296 reports without them load
    records = json.loads((repo / bench.path).read_text())
    (tmp_path / "reports.json").write_text(json.dumps([{**r, "image": []} for r in records]))
    items = replace(bench, path="reports.json").items(tmp_path)
    assert len(items) == 296 and items[0].id == "open_i_1020" and items[0].images == []
    assert items[0].answer == ("Findings: Lung volumes are low. No focal infiltrates. Heart size normal. "
                               "Impression: Hypoinflation with no visible active cardiopulmonary disease.")


def test_mimic_cxr_csv_with_study_ids_and_image_paths(caplog):
    with caplog.at_level(logging.WARNING, logger="lingshu.eval.loaders"):
        _, items = load("mimic_cxr")
    assert sorted(items) == ["50414267", "53189527"]
    assert [p.name for p in items["50414267"].images] == ["02aa804e.jpg", "174413ec.jpg"]
    assert items["50414267"].answer == ("Findings: There is no focal consolidation, pleural effusion or pneumothorax. "
                                        "Impression: No acute cardiopulmonary process.")
    assert items["53189527"].answer == "Findings: Heart size is normal. Impression: "
    assert "mimic_cxr: skipped 1 of 3" in caplog.text


def test_chexpert_plus_json_with_one_image_per_study(caplog):
    with caplog.at_level(logging.WARNING, logger="lingshu.eval.loaders"):
        _, items = load("chexpert_plus")
    assert list(items) == ["0"]
    assert items["0"].answer == "Findings: Lines and tubes are unchanged. Impression: 1. Stable cardiomegaly."
    assert items["0"].images == [FIXTURES / "chexpert_plus/images/valid/patient64541/study1/view1_frontal.jpg"]
    assert "chexpert_plus: skipped 1 of 2" in caplog.text


def test_report_columns_can_be_renamed_and_rows_of_one_study_merge(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(FIXTURES / "chexpert_plus/images/valid/patient64541/study1/view1_frontal.jpg", tmp_path / "images" / name)
    (tmp_path / "plus.csv").write_text("study,path_to_image,section_findings,section_impression\n"
                                       "s1,a.jpg,Clear lungs.,Normal.\ns1,b.jpg,Clear lungs.,Normal.\n")
    columns = {"id": "study", "images": "path_to_image", "findings": "section_findings", "impression": "section_impression"}
    bench = replace(discover()["chexpert_plus"], path="plus.csv", options={"image_dir": "images", "columns": columns})
    [item] = bench.items(tmp_path)
    assert item.id == "s1" and [p.name for p in item.images] == ["a.jpg", "b.jpg"]
    assert item.answer == "Findings: Clear lungs. Impression: Normal."


@pytest.mark.parametrize("name", sorted(NEW))
def test_absent_data_is_a_file_not_found_error_naming_the_path(name, tmp_path):
    bench = discover()[name]
    with pytest.raises(FileNotFoundError) as error:
        bench.items(tmp_path)
    assert str(tmp_path / bench.path) in str(error.value) and name in str(error.value)


def test_a_missing_image_is_named(tmp_path):
    shutil.copytree(FIXTURES / "slake", tmp_path / "slake")
    (tmp_path / "slake/imgs/xmlab2/source.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="xmlab2/source.jpg"):
        replace(discover()["slake"], path="slake/test.json").items(tmp_path)
