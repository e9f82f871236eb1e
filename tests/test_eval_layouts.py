"""Every layout a benchmark reaches users in: the authors' files, the Hugging Face dataset MedEvalKit loads (hub
parquet/arrow shards and save_to_disk folders, written here with `datasets` itself) and MedEvalKit's local folders.
Each layout is recognised from the files or named by `format:`, gives the items the published files give, and a
file that fits none is an error naming the file, the field and the layouts accepted."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

import lingshu.eval.loaders  # noqa: F401
from lingshu.eval.benchmark import LOADERS, discover
from lingshu.eval.tables import Cell, open_table

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()


def png(colour: tuple) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="PNG")
    return out.getvalue()


def dataset(rows: list[dict], images: tuple[str, ...] = ()):
    """A `datasets.Dataset` of `rows`, the `images` columns typed as the hub's `Image` feature."""
    ds = datasets.Dataset.from_list(rows)
    for column in images:
        ds = ds.cast_column(column, datasets.Image())
    return ds


def hub(folder: Path, split: str, rows: list[dict], images: tuple[str, ...] = ()) -> Path:
    """`rows` as the hub stores a split: data/<split>-00000-of-00001.parquet."""
    (folder / "data").mkdir(parents=True)
    dataset(rows, images).to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


def saved(folder: Path, split: str, rows: list[dict], images: tuple[str, ...] = ()) -> Path:
    """`rows` as `DatasetDict({split: ...}).save_to_disk(folder)` writes them."""
    datasets.DatasetDict({split: dataset(rows, images)}).save_to_disk(str(folder))
    return folder


def records(path: Path) -> list[dict]:
    return [row.record for row in open_table(path, "test").rows()]


def load(name: str, root: Path, path, **changes) -> dict:
    bench = replace(discover()[name], path=str(path), **changes)
    return {item.id: item for item in bench.items(root)}


def same_questions(a: dict, b: dict) -> None:
    assert [(i.question, i.answer, i.options) for i in a.values()] == [(i.question, i.answer, i.options) for i in b.values()]


def colour(path: Path) -> tuple:
    with Image.open(path) as im:
        return im.convert("RGB").getpixel((4, 4))


# --- tables: every form of a split, read the same way -------------------------------------------------------

def test_every_table_form_gives_the_same_rows(tmp_path):
    rows = [{"question": "q1", "answer": "a"}, {"question": "q2", "answer": "b"}]
    (tmp_path / "list.json").write_text(json.dumps(rows))
    (tmp_path / "columns.json").write_text(json.dumps({"question": {"1": "q2", "0": "q1"}, "answer": {"0": "a", "1": "b"}}))
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "table.csv").write_text("question,answer\nq1,a,,\nq2,b\n")
    hub(tmp_path / "hub", "test", rows)
    converted = tmp_path / "converted" / "default" / "test"
    converted.mkdir(parents=True)
    dataset(rows).to_parquet(str(converted / "0000.parquet"))
    with pa.ipc.new_stream(str(tmp_path / "test-00000-of-00001.arrow"), pa.Table.from_pylist(rows).schema) as out:
        out.write_table(pa.Table.from_pylist(rows))
    saved(tmp_path / "dict", "test", rows)
    dataset(rows).save_to_disk(str(tmp_path / "one"))
    for form in ("list.json", "columns.json", "lines.jsonl", "table.csv", "hub", "converted", "test-00000-of-00001.arrow",
                 "dict", "one"):
        assert records(tmp_path / form) == rows, form
    assert [r.where for r in open_table(tmp_path / "lines.jsonl", "test").rows()] == [f"{tmp_path}/lines.jsonl:1",
                                                                                     f"{tmp_path}/lines.jsonl:2"]


def test_shards_of_a_split_are_one_table_and_other_splits_are_not_read(tmp_path):
    (tmp_path / "data").mkdir()
    for shard in range(2):
        dataset([{"q": f"test{shard}-{i}"} for i in range(3)]).to_parquet(str(tmp_path / f"data/test-0000{shard}-of-00002.parquet"))
    dataset([{"q": "train"}]).to_parquet(str(tmp_path / "data/train-00000-of-00001.parquet"))
    rows = list(open_table(tmp_path, "test").rows())
    assert [r.record["q"] for r in rows] == ["test0-0", "test0-1", "test0-2", "test1-0", "test1-1", "test1-2"]
    assert [r.index for r in rows] == list(range(6))


def test_table_errors_name_the_file_and_what_is_accepted(tmp_path):
    with pytest.raises(ValueError, match=r"no 'test' split here: .*save_to_disk.*test-\*\.parquet"):
        open_table(tmp_path, "test")
    saved(tmp_path / "dict", "train", [{"q": "x"}])
    with pytest.raises(ValueError, match=r"dict: a save_to_disk dataset without a 'test' split \(it has \['train'\]\)"):
        open_table(tmp_path / "dict", "test")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(ValueError, match=r"data\.txt: a \.txt file; tables are read from \.json, \.jsonl, \.csv"):
        open_table(tmp_path / "data.txt", "test")
    (tmp_path / "bad.jsonl").write_text('{"q": 1}\n{"q": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a JSON record"):
        records(tmp_path / "bad.jsonl")
    (tmp_path / "scalar.json").write_text('"text"')
    with pytest.raises(ValueError, match=r"scalar\.json: expected a JSON list of records or a pandas column table"):
        records(tmp_path / "scalar.json")


def test_image_cells_are_read_only_when_asked(tmp_path, monkeypatch):
    hub(tmp_path, "test", [{"image": {"bytes": png((i, 0, 0)), "path": None}, "q": str(i)} for i in range(5)], ("image",))
    reads = []
    original = Cell.read
    monkeypatch.setattr(Cell, "read", lambda cell: reads.append(cell.row) or original(cell))
    rows = list(open_table(tmp_path, "test").rows())
    assert [r.record["q"] for r in rows] == ["0", "1", "2", "3", "4"] and reads == []
    assert Image.open(io.BytesIO(rows[3].record["image"].read()["bytes"])).getpixel((1, 1)) == (3, 0, 0)
    assert reads == [3]


# --- choosing a layout ----------------------------------------------------------------------------------------

def test_every_loader_names_its_layouts_once_and_every_yaml_uses_a_loader():
    for name, layouts in LOADERS.items():
        names = [layout.name for layout in layouts]
        assert len(names) == len(set(names)) and names, name
    for bench in discover().values():
        assert bench.loader in LOADERS, bench.name
        assert not bench.format or bench.format in [layout.name for layout in LOADERS[bench.loader]], bench.name


def test_files_in_no_layout_are_named_with_every_layout_and_its_missing_field(tmp_path):
    rows = json.loads((FIXTURES / "slake/test.json").read_text())
    (tmp_path / "test.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "q_lang"} for r in rows]))
    with pytest.raises(ValueError) as error:
        load("slake", tmp_path, "test.json")
    message = str(error.value)
    assert f"{tmp_path}/test.json is in none of the layouts loader 'slake' reads" in message
    assert "published: Slake1.0's test.json" in message and "no field 'q_lang'" in message
    assert "hf: " in message and "it is json, this layout is parquet or arrow" in message and "`format:`" in message


def test_a_named_format_is_checked_against_the_files(tmp_path):
    shutil.copytree(FIXTURES / "slake", tmp_path / "slake")
    with pytest.raises(ValueError, match=r"is not in layout 'hf' .* which `format:` in .*slake\.yaml names: it is json"):
        load("slake", tmp_path, "slake/test.json", format="hf")
    with pytest.raises(ValueError, match=r"format 'xml' is not one of the layouts loader 'slake' reads: published, hf"):
        load("slake", tmp_path, "slake/test.json", format="xml")
    assert sorted(load("slake", tmp_path, "slake/test.json", format="published")) == ["11934", "11935", "11940"]


# --- per benchmark ----------------------------------------------------------------------------------------------

def test_vqa_rad_from_the_hub_dataset_medevalkit_loads(tmp_path):
    rows = [{"image": {"bytes": png((10, 20, 30)), "path": None}, "question": "is there a fracture?", "answer": "no"},
            {"image": {"bytes": png((40, 50, 60)), "path": None}, "question": "which organ is shown?", "answer": "liver"}]
    saved(tmp_path / "vqa-rad", "test", rows, ("image",))
    items = load("vqa_rad", tmp_path, "vqa-rad")
    assert sorted(items) == ["test-0", "test-1"]
    assert items["test-0"].answer_type == "CLOSED" and items["test-1"].answer_type == "OPEN"
    assert colour(items["test-1"].images[0]) == (40, 50, 60)
    with pytest.raises(ValueError, match=r"options.question_types.*needs the field question_type.*vqa-rad \(layout hf"):
        load("vqa_rad_image_types", tmp_path, "vqa-rad")


def test_slake_as_parquet_gives_the_published_items(tmp_path):
    shutil.copytree(FIXTURES / "slake/imgs", tmp_path / "imgs")
    hub(tmp_path, "test", json.loads((FIXTURES / "slake/test.json").read_text()))
    published = load("slake", FIXTURES, "slake/test.json")
    items = load("slake", tmp_path, ".")
    assert list(items) == list(published) and [i.fields for i in items.values()] == [i.fields for i in published.values()]
    assert items["11940"].images == [tmp_path / "imgs/xmlab2/source.jpg"]
    same_questions(load("slake_zh", tmp_path, "."), load("slake_zh", FIXTURES, "slake/test.json"))


def test_path_vqa_save_to_disk_gives_the_hub_shards_items(tmp_path):
    rows = [{k: v for k, v in r.items()} for r in records(FIXTURES / "path_vqa")]
    rows = [r | {"image": r["image"].read()} for r in rows]
    saved(tmp_path / "saved", "test", rows, ("image",))
    shutil.copytree(FIXTURES / "path_vqa", tmp_path / "hub")
    same_questions(load("path_vqa", tmp_path, "saved"), load("path_vqa", tmp_path, "hub"))
    assert [colour(i.images[0]) for i in load("path_vqa", tmp_path, "saved").values()][0] == (220, 0, 0)


def test_pmc_vqa_falls_back_to_images_and_reads_parquet(tmp_path):
    shutil.copytree(FIXTURES / "pmc_vqa/figures", tmp_path / "images")  # MedEvalKit's download unzips into images/
    shutil.copy(FIXTURES / "pmc_vqa/test_2.csv", tmp_path)
    items = load("pmc_vqa", tmp_path, "test_2.csv")
    assert items["1"].images == [tmp_path / "images/PMC3400426_F1.jpg"] and items["1"].answer == "C"
    hub(tmp_path / "hf", "test", records(tmp_path / "test_2.csv"))
    shutil.copytree(FIXTURES / "pmc_vqa/figures", tmp_path / "hf/figures")
    same_questions(load("pmc_vqa", tmp_path, "hf"), items)
    (tmp_path / "images/PMC3400426_F1.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"image PMC3400426_F1\.jpg not found in .*/figures, .*/images"):
        load("pmc_vqa", tmp_path, "test_2.csv")


def test_mmmu_from_save_to_disk_folders_per_subject(tmp_path):
    bench = discover()["mmmu_med"]
    for subject in bench.options["subjects"]:
        shard = next((FIXTURES / "mmmu" / subject).glob("validation-*.parquet"))
        datasets.Dataset.from_parquet(str(shard)).save_to_disk(str(tmp_path / "saved" / subject))
    shutil.copytree(FIXTURES / "mmmu", tmp_path / "hub")
    items = load("mmmu_med", tmp_path, "saved")
    same_questions(items, load("mmmu_med", tmp_path, "hub"))
    assert [colour(p) for p in items["validation_Basic_Medical_Science_1"].images] == [(0, 200, 0), (230, 230, 0)]


def test_medxpertqa_github_and_realidx_copies_and_hf(tmp_path):
    hub_rows = records(FIXTURES / "medxpertqa/MM/test.jsonl")
    github = [r | {"options": [{"letter": k, "content": v} for k, v in r["options"].items()], "label": [r["label"]],
                   "images": [{"image_path": name} for name in r["images"]]} for r in hub_rows]
    realidx = [{"realidx": r["id"], "answer_idx": r["label"], "options": list(r["options"].values())}
               | {k: r[k] for k in ("question", "images", "medical_task", "body_system", "question_type")} for r in hub_rows]
    shutil.copytree(FIXTURES / "medxpertqa/images", tmp_path / "images")
    (tmp_path / "input").mkdir()
    for name, rows in (("github", github), ("realidx", realidx)):
        (tmp_path / f"input/{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    saved(tmp_path / "saved", "test", hub_rows)
    published = load("medxpertqa_mm", FIXTURES, "medxpertqa/MM/test.jsonl")
    for path in ("input/github.jsonl", "input/realidx.jsonl", "saved"):
        items = load("medxpertqa_mm", tmp_path, path)
        same_questions(items, published)
        assert list(items) == list(published) and [len(i.images) for i in items.values()] == [1, 2], path
    text = load("medxpertqa_text", FIXTURES, "medxpertqa/Text/test.jsonl")
    saved(tmp_path / "text", "test", records(FIXTURES / "medxpertqa/Text/test.jsonl"))
    same_questions(load("medxpertqa_text", tmp_path, "text"), text)


def test_medbullets_json_release_and_the_hub_copies(tmp_path):
    pandas = pytest.importorskip("pandas")
    for n in (4, 5):
        pandas.DataFrame(records(FIXTURES / f"medbullets/medbullets_op{n}.csv")).to_json(tmp_path / f"medbullets_op{n}.json")
    op4, op5 = (load(f"medbullets_op{n}", FIXTURES, f"medbullets/medbullets_op{n}.csv") for n in (4, 5))
    same_questions(load("medbullets_op4", tmp_path, "medbullets_op4.json"), op4)
    same_questions(load("medbullets_op5", tmp_path, "medbullets_op5.json"), op5)
    rows4 = records(FIXTURES / "medbullets/medbullets_op4.csv")
    hub(tmp_path / "op4", "train", [{"question": r["question"], "answer_idx": r["answer_idx"],
                                     "options": {k: r[f"op{k.lower()}"] for k in "ABCD"}} for r in rows4])
    saved(tmp_path / "op5", "train", [{k: r[k] for k in ("question", "opa", "opb", "opc", "opd", "ope", "answer_idx")}
                                      for r in records(FIXTURES / "medbullets/medbullets_op5.csv")])
    hf4, hf5 = load("medbullets_op4", tmp_path, "op4"), load("medbullets_op5", tmp_path, "op5")
    same_questions(hf4, op4)
    same_questions(hf5, op5)
    assert list(hf4) == list(op4) == ["1", "2"]


def test_supergpqa_from_the_hub_parquet_conversion(tmp_path):
    rows = records(FIXTURES / "supergpqa/SuperGPQA-all.jsonl")
    (tmp_path / "default/train").mkdir(parents=True)
    dataset(rows).to_parquet(str(tmp_path / "default/train/0000.parquet"))
    items = load("supergpqa_medicine", tmp_path, ".")
    same_questions(items, load("supergpqa_medicine", FIXTURES, "supergpqa/SuperGPQA-all.jsonl"))
    assert items["1b2c3d"].fields["subfield"] == "Internal Medicine"


def medqa_rows() -> list[dict]:
    """Three questions in the authors' MedQA schema."""
    return [{"question": f"Question {i}?", "answer": f"text {i}", "options": {k: f"text {j}" for j, k in enumerate("ABCD")},
             "meta_info": "step1" if i else "step2&3", "answer_idx": "ABCD"[i]} for i in range(3)]


def test_medqa_published_and_hf(tmp_path):
    (tmp_path / "phrases_no_exclude_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in medqa_rows()))
    hub(tmp_path / "hf", "test", medqa_rows())
    published = load("medqa", tmp_path, "phrases_no_exclude_test.jsonl")
    assert list(published) == ["0", "1", "2"] and published["2"].answer == "C" and published["0"].fields["meta_info"] == "step2&3"
    same_questions(load("medqa", tmp_path, "hf"), published)


def test_medmcqa_counts_cop_from_1_in_the_release_and_from_0_on_the_hub(tmp_path):
    rows = [{"id": f"q{i}", "question": f"Q{i}?", "opa": "w", "opb": "x", "opc": "y", "opd": "z", "choice_type": "single",
             "exp": "", "subject_name": "Anatomy", "topic_name": None} for i in range(4)]
    (tmp_path / "dev.json").write_text("".join(json.dumps(r | {"cop": i + 1}) + "\n" for i, r in enumerate(rows)))
    hub(tmp_path / "hf", "validation", [r | {"cop": i} for i, r in enumerate(rows)])
    published = load("medmcqa", tmp_path, "dev.json")
    assert [i.answer for i in published.values()] == ["A", "B", "C", "D"]
    hf = load("medmcqa", tmp_path, "hf")
    same_questions(hf, published)
    assert list(hf) == list(published) and hf["q3"].fields == published["q3"].fields == {
        "choice_type": "single", "exp": "", "subject_name": "Anatomy"}
    (tmp_path / "dev.json").write_text(json.dumps(rows[0] | {"cop": 1}) + "\n" + json.dumps(rows[1] | {"cop": 5}) + "\n")
    with pytest.raises(ValueError, match=r"dev\.json:2: field 'cop' is 5, not an option index \(counted from 1; 4 options\)"):
        load("medmcqa", tmp_path, "dev.json")


def test_mmlu_hub_subject_folders_and_the_authors_csvs(tmp_path):
    subjects = ["anatomy", "medical_genetics"]
    for subject in subjects:
        rows = [{"question": f"{subject} {i}?", "subject": subject, "choices": ["w", "x", "y", "z"], "answer": i}
                for i in range(2)]
        hub(tmp_path / "hf" / subject, "test", rows)
        (tmp_path / "data/test").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"data/test/{subject}_test.csv").write_text(
            "".join(f'"{r["question"]}",w,x,y,z,{"ABCD"[r["answer"]]}\n' for r in rows))
    options = {"subjects": subjects}
    hf = load("mmlu_medical", tmp_path, "hf", options=options)
    assert list(hf) == ["anatomy-0", "anatomy-1", "medical_genetics-0", "medical_genetics-1"]
    assert [i.answer for i in hf.values()] == ["A", "B", "A", "B"] and hf["medical_genetics-1"].fields == {"subject": "medical_genetics"}
    assert load("mmlu_medical", tmp_path, "data", options=options) == hf
    with pytest.raises(ValueError) as error:
        load("mmlu_medical", tmp_path, "hf/anatomy", options=options)
    assert "hf: cais/mmlu" in str(error.value) and "no subject folder anatomy, medical_genetics" in str(error.value)
    assert "published: " in str(error.value) and "no test/anatomy_test.csv, test/medical_genetics_test.csv" in str(error.value)


def test_pubmedqa_from_the_dataset_medevalkit_loads(tmp_path):
    rows = [{"id": "25429730", "data": {"Question": "Is X safe?", "Context": ["c1", "c2"], "Correct Option": "B",
                                         "Correct Answer": "no", "Options": {"A": "yes", "B": "no", "C": "maybe"}}}]
    saved(tmp_path / "pubmedqa", "test", rows)
    [item] = load("pubmedqa", tmp_path, "pubmedqa").values()
    assert (item.id, item.question, item.context, item.answer, item.options["C"]) == ("25429730", "Is X safe?", "c1\nc2", "B", "maybe")


REPORT_FIXTURES = {"iu_xray": "iu_xray/test.json", "mimic_cxr": "mimic_cxr/test.csv", "chexpert_plus": "chexpert_plus/test.json"}


@pytest.mark.parametrize("name", sorted(REPORT_FIXTURES))
def test_reports_in_medevalkits_json_and_as_tables(name, tmp_path):
    shutil.copytree(FIXTURES / name / "images", tmp_path / "images")
    rows = records(FIXTURES / REPORT_FIXTURES[name])
    options = {"image_dir": "images"}
    (tmp_path / "test.json").write_text(json.dumps(rows))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    hub(tmp_path / "hf", "test", rows)
    bench = replace(discover()[name], options=options)
    expected = {i.id: i for i in replace(bench, path=REPORT_FIXTURES[name], options=options).items(FIXTURES)}
    assert expected
    for path, layout in (("test.json", "medevalkit"), ("test.jsonl", "table"), ("hf", "table")):
        assert replace(bench, path=path).layout(tmp_path).name == layout
        items = load(name, tmp_path, path, options={"image_dir": "images" if path != "hf" else "../images"})
        assert [(i.id, i.answer, [p.name for p in i.images]) for i in items.values()] == \
               [(i.id, i.answer, [p.name for p in i.images]) for i in expected.values()], path


# --- records that cannot be read name their file, line and field ------------------------------------------------

@pytest.mark.parametrize("change,message", [
    (lambda r: {k: v for k, v in r.items() if k != "label"}, r"test\.jsonl:2: no usable answer: expected a letter in answer_idx, label"),
    (lambda r: r | {"label": "F"}, r"test\.jsonl:2: field 'label' is 'F', not one of the option letters A, B, C, D, E"),
    (lambda r: r | {"options": 7}, r"test\.jsonl:2: field 'options' is a int; expected a dict"),
    (lambda r: {k: v for k, v in r.items() if k != "question"}, r"test\.jsonl:2: field 'question' is missing \(fields: "),
])
def test_a_bad_medxpertqa_record_is_named(tmp_path, change, message):
    rows = records(FIXTURES / "medxpertqa/MM/test.jsonl")
    (tmp_path / "MM").mkdir()
    (tmp_path / "MM/test.jsonl").write_text("".join(json.dumps(change(r) if i == 1 else r) + "\n" for i, r in enumerate(rows)))
    with pytest.raises(ValueError, match=message):
        load("medxpertqa_mm", tmp_path, "MM/test.jsonl")


def test_a_medbullets_csv_without_answers_is_refused_naming_the_field(tmp_path):
    text = (FIXTURES / "medbullets/medbullets_op4.csv").read_text().replace("answer_idx", "key", 1)
    (tmp_path / "op4.csv").write_text(text)
    with pytest.raises(ValueError, match=r"op4\.csv is in none of the layouts loader 'medbullets' reads:\n  - published: .*no field 'answer_idx'"):
        load("medbullets_op4", tmp_path, "op4.csv")


# --- --limit reads only what it keeps --------------------------------------------------------------------------

def test_limit_writes_the_images_of_the_chosen_items_only_and_keeps_the_hashed_sample(tmp_path):
    from lingshu.eval.benchmark import sample

    rows = [{"image": {"bytes": png((i, 2 * i, 0)), "path": None}, "question": f"q{i}", "answer": "yes"} for i in range(30)]
    hub(tmp_path / "pv", "test", rows, ("image",))
    bench = replace(discover()["path_vqa"], path="pv")
    chosen = bench.items(tmp_path, limit=4)
    cache = tmp_path / ".cache/eval_images/path_vqa"
    assert len(chosen) == 4 and len(list(cache.iterdir())) == 4, "only the 4 chosen images are written"
    everything = bench.items(tmp_path)
    assert [i.id for i in chosen] == [i.id for i in sample(everything, 4)]
    assert [colour(i.images[0]) for i in chosen] == [colour(i.images[0]) for i in sample(everything, 4)]


def test_limit_never_looks_at_the_images_of_unchosen_items(tmp_path):
    from lingshu.eval.benchmark import sample

    shutil.copytree(FIXTURES / "slake", tmp_path / "slake")
    bench = replace(discover()["slake"], path="slake/test.json")
    ids = [i.id for i in bench.items(tmp_path)]
    [kept] = [i.id for i in sample(bench.items(tmp_path), 1)]
    image = {"11934": "xmlab1", "11935": "xmlab1", "11940": "xmlab2"}
    other = next(folder for folder in ("xmlab1", "xmlab2") if folder != image[kept])
    shutil.rmtree(tmp_path / "slake/imgs" / other)
    assert [i.id for i in bench.items(tmp_path, limit=1)] == [kept] and kept in ids
    with pytest.raises(FileNotFoundError, match=other):
        bench.items(tmp_path)


def test_data_option_points_a_benchmark_at_a_copy_in_another_layout(tmp_path):
    from lingshu.eval.benchmark import select
    from lingshu.eval.command import with_data_paths

    hub(tmp_path / "medqa_hf", "test", medqa_rows())
    [medqa, pubmedqa] = with_data_paths(select(["medqa", "pubmedqa"]), ["medqa=medqa_hf"])
    assert medqa.path == "medqa_hf" and pubmedqa.path == discover()["pubmedqa"].path
    assert medqa.layout(tmp_path).name == "hf" and len(medqa.items(tmp_path)) == 3
    with pytest.raises(SystemExit, match="--data names vqa_rad, which --benchmarks does not select"):
        with_data_paths(select(["medqa"]), ["vqa_rad=x"])
    with pytest.raises(SystemExit, match="expected NAME=PATH"):
        with_data_paths(select(["medqa"]), ["medqa"])


def test_a_yaml_names_its_format(tmp_path):
    from lingshu.eval.benchmark import read_benchmark

    hub(tmp_path / "medqa_hf", "test", medqa_rows())
    (tmp_path / "medqa_hub.yaml").write_text("name: medqa_hub\nversion: 1\ngroup: text_qa\nloader: mcq\npath: medqa_hf\n"
                                             "format: hf\ntask: mcq\n")
    bench = read_benchmark(tmp_path / "medqa_hub.yaml")
    assert bench.format == "hf" and [i.answer for i in bench.items(tmp_path)] == ["A", "B", "C"]
    with pytest.raises(ValueError, match=r"medqa_hub\.yaml: format 'hf' is not one of the layouts loader 'omnimedvqa' reads: published"):
        replace(bench, loader="omnimedvqa").items(tmp_path)
    with pytest.raises(ValueError, match=r"medqa_hf is not in layout 'hf' .*medqa_hub\.yaml names: no field 'qid', 'img_name', 'q_lang'"):
        replace(bench, loader="slake").items(tmp_path)
