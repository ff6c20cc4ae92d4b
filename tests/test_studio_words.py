"""What the studio's page says: every Advanced option in a group, every recipe explained,
estimates in words with their warnings, a sweep's sheet, and a run's own inputs only."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from nst_ort.options.recipes import RECIPES
from nst_ort.studio.words import EVERYDAY, GROUPS, OTHER, RECIPE_WORDS, duration, group_of, in_words

pytest.importorskip("starlette")

from nst_ort.studio.app import option_schema  # noqa: E402


def test_every_advanced_option_sits_in_a_group_that_explains_it():
    advanced = [row["name"] for row in option_schema() if not row["everyday"]]
    assert advanced and all(group_of(name) is not OTHER for name in advanced), \
        [name for name in advanced if group_of(name) is OTHER]
    named = [name for group in GROUPS for name in group.options]
    assert len(named) == len(set(named)), "an option in two groups"
    assert all(group.explains for group in GROUPS)


def test_every_recipe_is_explained():
    assert set(RECIPE_WORDS) == set(RECIPES)


@pytest.mark.parametrize("seconds, words", [(40, "40 seconds"), (250, "4 minutes"), (7800, "2 hours 10 minutes"),
                                            (7200, "2 hours")])
def test_durations_read_as_people_say_them(seconds, words):
    assert duration(seconds) == words


def estimate(seconds: float, peak_gb: float) -> dict:
    return {"seconds": seconds, "wh": 1.0, "peak_bytes": int(peak_gb * 2**30), "threads": 2, "levels": [],
            "summary": "with --flags"}


def test_an_estimate_in_words_warns_of_hours_and_of_most_of_the_memory():
    quick = in_words(estimate(300, 1.0), free_bytes=8 * 2**30)
    assert quick["words"].startswith("About 5 minutes on this computer") and quick["warnings"] == []
    assert "--" not in quick["words"]
    slow = in_words(estimate(3 * 3600, 7.0), free_bytes=8 * 2**30)
    assert len(slow["warnings"]) == 2 and "3 hours" in slow["warnings"][0] and "8.0 GB" in slow["warnings"][1]
    sweep = in_words(estimate(1200, 1.0), free_bytes=None, runs=4)
    assert sweep["words"].startswith("4 pictures: about 80 minutes in all") and "hours" not in sweep["words"]
    assert "This takes 80 minutes" in sweep["warnings"][0]


def test_a_sweep_sheet_labels_each_picture_and_refuses_a_run_with_none(tmp_path):
    from nst_ort.studio.fields import FieldError
    from nst_ort.studio.sheets import cell_label, sweep_sheet
    from nst_ort.studio.workspace import RunRecord, Workspace

    workspace = Workspace(tmp_path)
    ids = []
    for weight in ("1", "5"):
        run_id, folder = workspace.new_folder()
        record = RunRecord(run_id, "photo.png", ["1_a.png"], {"style_weight": weight}, titles={"1_a.png": "The Wave"})
        workspace.save(record)
        Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / "result.png")
        ids.append(run_id)
    assert cell_label(workspace.load(ids[1])) == "The Wave, strength 5"
    sheet = Image.open(io.BytesIO(sweep_sheet(workspace, ids, columns=2)))
    assert sheet.width > 2 * 256 and sheet.getpixel((sheet.width // 4, 128)) == (200, 10, 10)
    (workspace.folder(ids[0]) / "result.png").unlink()
    with pytest.raises(FieldError, match="has no picture yet"):
        sweep_sheet(workspace, ids, columns=2)


def test_only_a_runs_own_inputs_are_served(tmp_path):
    from nst_ort.studio.workspace import RunRecord, Workspace

    workspace = Workspace(tmp_path)
    run_id, folder = workspace.new_folder()
    workspace.save(RunRecord(run_id, "photo.png", ["1_a.png"], {}, masks=["mask1_m.png"]))
    assert workspace.input_file(run_id, "mask1_m.png") == folder / "inputs" / "mask1_m.png"
    for name in ("../studio.json", "record.json", "result.png", "inputs/photo.png", ""):
        with pytest.raises(KeyError):
            workspace.input_file(run_id, name)


def test_the_everyday_options_are_named_in_words_and_every_option_has_a_label():
    rows = {row["name"]: row for row in option_schema()}
    everyday = {name for name, row in rows.items() if row["everyday"]}
    assert everyday <= set(EVERYDAY), everyday - set(EVERYDAY)
    assert rows["style_weight"]["label"] == "Strength of the painting"
    assert all(row["label"] and "--" not in row["help"] for row in rows.values())


@pytest.mark.parametrize("sent, title", [("tubingen_old-town.jpg", "Tubingen old town"), ("IMG_2034.JPG", "IMG 2034"),
                                         ("Tübingen am Neckar.png", "Tübingen am Neckar")])
def test_a_file_name_reads_as_a_title(sent, title):
    from nst_ort.studio.words import file_title

    assert file_title(sent) == title


def test_messages_for_the_page_carry_no_folder_of_the_studio(tmp_path):
    from nst_ort.studio.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    run = workspace.runs / "0123456789ab"
    message = f"{run / 'result.png'} was made from {run / 'inputs' / 'mask1_m.png'}; see {workspace.root / 'server.json'}"
    assert workspace.without_paths(message) == "result.png was made from mask1_m.png; see the studio's workspace/server.json"


def test_the_command_lines_flags_become_words():
    from nst_ort.studio.words import without_flags

    assert without_flags("--size must be between 16 and 8192") == "size must be between 16 and 8192"
    assert without_flags("adam/sgd: rate times this every --lr-decay-steps") == "adam/sgd: rate times this every lr decay steps"
    assert without_flags("2--3 and a-b--c stay") == "2--3 and a-b--c stay"
