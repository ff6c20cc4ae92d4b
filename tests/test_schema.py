"""The option schema: every option declared once reaches every command it applies to, and a
value round-trips flag -> options -> a result's settings and the run folder -> options."""

from __future__ import annotations

import sys
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path

import pytest
import typer

from nst_base.errors import NstError
from nst_ort.cli import app
from nst_ort.jobs.job import Job, Outputs
from nst_ort.options.stylize import StylizeOptions
from nst_ort.options.recipes import recipe_options
from nst_ort.options.schema import PICTURE_COMMANDS, RESUME, SHEET, STYLIZE, UPSCALE, VIDEO, Spec, coerce, from_json, specs, \
    to_json

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (STYLIZE, VIDEO, UPSCALE, SHEET, RESUME)
FILE = str(ROOT / "pyproject.toml")  # an existing file for --init


def sample(spec: Spec) -> tuple[str, object]:
    """A value other than the default, as text for its flag and as the value it must become."""
    special = {"content_layers": ("relu1_1:0.5,relu2_1", (("relu1_1", 0.5), ("relu2_1", 1.0))),
               "style_layers": ("relu1_1,relu3_1:2", (("relu1_1", 1.0), ("relu3_1", 2.0))),
               "style_blend": ("0.7,0.3", (0.7, 0.3)), "max_memory": ("3G", 3 * 2**30),
               "time_budget": ("20m", 1200.0), "init": (FILE, FILE), "provider": ("OtherProvider", "OtherProvider"),
               "tile": ("256", 256), "net": ("vgg19", "vgg19"),
               "until": ("2099-01-01T07:00", datetime(2099, 1, 1, 7, 0).timestamp()),
               "start_at": ("2099-01-01T23:00", datetime(2099, 1, 1, 23, 0).timestamp())}
    if spec.name in special:
        return special[spec.name]
    option = spec.option
    if option.choices:
        value = next(choice for choice in reversed(option.choices) if choice != spec.default)
        return value, value
    if spec.base_kind == "bool":
        return "", not spec.default
    low = option.low if option.low is not None else 0
    value = low + 1 if option.high is None or low + 1 <= option.high else (low + option.high) / 2
    value = int(value) if spec.base_kind == "int" else float(value)
    if value == spec.default:
        value = value + 1 if option.high is None or value + 1 <= option.high else (low + value) / 2
    return str(value), value


def _click_params(command: str) -> dict[str, object]:
    group = typer.main.get_command(app)
    return {param.name: param for param in group.commands[command].params}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_reaches_every_command_it_applies_to(command):
    params = _click_params(command)
    for spec in specs(StylizeOptions):
        if command in spec.option.commands:
            assert spec.name in params, f"{spec.flag} missing from nst {command}"
            assert spec.flag in params[spec.name].opts
            assert spec.option.help in params[spec.name].help
        elif spec.name not in ("size",):  # sheet and upscale have a --size of their own
            assert spec.name not in params, f"nst {command} takes {spec.flag}, which the schema does not give it"


def test_nst_batch_takes_every_stylize_option_as_text_for_grids(tmp_path):
    group = typer.main.get_command(app)
    for spec in specs(StylizeOptions):
        if STYLIZE in spec.option.commands:
            text = sample(spec)[0] or "yes"
            context = group.commands["batch"].make_context("batch", ["-o", str(tmp_path), spec.flag, f"{text};{text}"])
            assert context.params[spec.name] == f"{text};{text}", spec.name  # as written: the grid splits it


def test_every_field_is_declared_and_machine_options_are_the_resumable_ones():
    declared = {spec.name for spec in specs(StylizeOptions)}
    assert declared == {item.name for item in fields(StylizeOptions)}
    for spec in specs(StylizeOptions):
        assert spec.option.help and spec.option.commands or spec.name == "convention"
        assert (RESUME in spec.option.commands) == (not spec.option.picture), spec.name
    assert {spec.name for spec in specs(StylizeOptions) if not spec.option.picture} == {
        "engine", "conv", "provider", "threads", "max_memory", "tile", "gentle", "until", "start_at"}


@pytest.mark.parametrize("spec", [spec for spec in specs(StylizeOptions) if STYLIZE in spec.option.commands],
                         ids=lambda spec: spec.name)
def test_a_flag_round_trips_through_options_the_settings_chunk_and_the_run_folder(spec, tmp_path):
    text, value = sample(spec)
    flag = [spec.flag] if spec.base_kind != "bool" else [f"--no-{spec.flag[2:]}" if spec.default else spec.flag]
    args = ["c.png", "s.png", "-o", str(tmp_path / "o.png"), *flag, *([text] if text else [])]
    group = typer.main.get_command(app)
    context = group.commands[STYLIZE].make_context(STYLIZE, args)
    given = {name: context.params[name] for name in (s.name for s in specs(StylizeOptions))
             if context.params.get(name) is not None}
    assert set(given) == {spec.name}
    options = recipe_options("gatys", None, **given)
    assert getattr(options, spec.name) == value
    options.validate()
    job = Job(Path("c.png"), (Path("s.png"),), options, outputs=Outputs(tmp_path / "o.png"))
    assert Job.from_dict(job.to_dict()).options == options  # the run folder keeps every option
    carried = from_json(StylizeOptions, job.settings_record()["options"])  # what the result says
    expected = getattr(options, spec.name) if spec.option.picture else spec.default
    if spec.name == "init":
        expected = Path(FILE).name  # a result names its inputs by file name only
    assert getattr(carried, spec.name) == expected


@pytest.mark.parametrize("spec", list(specs(StylizeOptions)), ids=lambda spec: spec.name)
def test_the_api_takes_every_option_as_a_value_or_as_text(spec):
    text, value = sample(spec)
    options = recipe_options("gatys", None, **{spec.name: value})
    assert getattr(options, spec.name) == value
    if text and spec.base_kind != "str":
        assert coerce(StylizeOptions, {spec.name: text})[spec.name] == value


def test_unknown_options_and_bad_values_are_one_line():
    with pytest.raises(NstError, match="unknown option 'style_wieght'"):
        recipe_options("gatys", None, style_wieght=2)
    with pytest.raises(NstError, match="--max-memory must look like 2G"):
        recipe_options("gatys", None, max_memory="lots")
    with pytest.raises(NstError, match="--size must be a whole number"):
        recipe_options("gatys", None, size="big")
    for name, bad in (("size", 8), ("style_weight", float("nan")), ("net", "vgg11"), ("tile", 5), ("seed", -1)):
        with pytest.raises(NstError, match=f"--{name.replace('_', '-')}"):
            replace(StylizeOptions(), **{name: bad}).validate()


def test_json_refuses_wrong_types_naming_the_setting():
    data = to_json(StylizeOptions())
    assert from_json(StylizeOptions, data) == StylizeOptions()
    for name, bad in (("size", "512"), ("style_layers", [["relu1_1", "x"]]), ("keep_size", 1), ("seed", 1.5)):
        with pytest.raises(ValueError, match=name):
            from_json(StylizeOptions, {**data, name: bad})
    with pytest.raises(ValueError, match="unknown settings"):
        from_json(StylizeOptions, {**data, "colour": "red"})


def test_picture_options_are_what_the_settings_chunk_carries():
    carried = set(to_json(StylizeOptions(), picture_only=True))
    assert carried == {spec.name for spec in specs(StylizeOptions) if spec.option.picture}
    assert PICTURE_COMMANDS == {STYLIZE, VIDEO, SHEET}


def test_resume_takes_machine_options_and_refuses_picture_ones(tiny_models_dir, tmp_path):
    from tests.helpers import nst

    result = nst("resume", tmp_path / "none", "--style-weight", "3", models_dir=tiny_models_dir)
    assert result.returncode == 2 and "No such option" in result.stderr  # not even offered
    from nst_ort.jobs.runner import resume_runner

    with pytest.raises(NstError, match="not a folder"):
        resume_runner(tmp_path / "none", tiny_models_dir, machine={"threads": 1})


def test_the_reference_in_the_docs_is_generated_from_the_schema():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import options_table
        from readme import read_block
    finally:
        sys.path.pop(0)
    assert read_block("options", options_table.PAGE) == options_table.markdown_table(), \
        "run tools/options_table.py"
