"""Sweep files: expansion (product, zip, blocks), cell ids, validation with key paths; run --config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from oversight.config import config_from_file
from oversight.errors import ConfigError
from oversight.experiments.sweep import load_sweep

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_product_times_zip_gives_every_combination(write_sweep):
    path = write_sweep({"product": {"protocol": ["direct", "debate"], "seed": [0, 1, 2]},
                        "zip": {"limit": [1, 2], "order": ["fixed", "both"]}})
    sweep = load_sweep(path)
    got = sorted((c.config.protocol, c.config.seed, c.config.limit, c.config.order) for c in sweep.cells)
    want = sorted((p, s, limit, order) for p in ("direct", "debate") for s in (0, 1, 2)
                  for limit, order in ((1, "fixed"), (2, "both")))
    assert got == want
    assert len({c.id for c in sweep.cells}) == 12
    assert all(Path(c.config.out) == sweep.path for c in sweep.cells)


def test_blocks_are_unioned_and_cells_computing_the_same_thing_merge(write_sweep):
    # direct QA has no agents: the debater axis must not multiply it.
    path = write_sweep([{"product": {"protocol": ["direct", "debate"], "debater": ["scripted:echo", "scripted:first"]}},
                        {"product": {"protocol": ["direct"], "rounds": [1, 2]}}])
    cells = load_sweep(path).cells
    by_protocol = {p: [c for c in cells if c.config.protocol == p] for p in ("direct", "debate")}
    assert len(by_protocol["direct"]) == 1 and len(by_protocol["debate"]) == 2
    assert {c.config.debater for c in by_protocol["debate"]} == {"scripted:echo", "scripted:first"}


def test_consultancy_cells_name_the_consultant_model(write_sweep):
    path = write_sweep({"product": {"protocol": ["consultancy"], "debater": ["scripted:echo", "scripted:second"]}})
    cells = load_sweep(path).cells
    assert sorted(c.config.consultant for c in cells) == ["scripted:echo", "scripted:second"]


def test_cell_ids_are_stable_and_editing_adds_cells(write_sweep):
    first = load_sweep(write_sweep({"product": {"protocol": ["direct", "debate"]}}))
    again = load_sweep(write_sweep({"product": {"protocol": ["direct", "debate"]}}))
    assert [c.id for c in first.cells] == [c.id for c in again.cells]
    edited = load_sweep(write_sweep({"product": {"protocol": ["direct", "debate"], "seed": [0, 7]}}))
    assert {c.id for c in first.cells} < {c.id for c in edited.cells}  # seed 0 is the default: same cells
    assert len(edited.cells) == 4


def test_cli_overrides_win_over_the_file(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct"], "limit": [3, 4]}}), {"limit": 1, "seed": None})
    assert [c.config.limit for c in sweep.cells] == [1]  # both cells collapse into one


@pytest.mark.parametrize("sweep, base, message", [
    ({"product": {"protocl": ["direct"]}}, {}, "sweep.product: unknown key(s) protocl"),
    ({"product": {"protocol": ["debate"], "rounds": [0]}}, {}, "sweep.product.rounds[0]: input should be greater"),
    ({"product": {"protocol": ["chess"]}}, {}, "sweep.product.protocol[0]: unknown protocol 'chess'"),
    ({"product": {"protocol": ["direct"]}}, {"task": "nope"}, "base.task: unknown task 'nope'"),
    ({"zip": {"protocol": ["direct", "debate"], "seed": [1]}}, {}, "sweep.zip: group 0 has lists of different lengths"),
    ({"product": {"protocol": ["debate"]}, "zip": {"debater": ["embedded:gpt-9"]}}, {},
     "sweep.zip[0].debater[0]: unknown embedded model 'gpt-9'"),
    ({"product": {"protocol": []}}, {}, "sweep.product: empty list for protocol"),
])
def test_bad_sweep_files_get_one_error_naming_the_key(write_sweep, sweep, base, message):
    with pytest.raises(ConfigError) as info:
        load_sweep(write_sweep(sweep, base))
    assert message in str(info.value) and "grid.yaml" in str(info.value)


def test_unknown_top_level_key_and_bad_yaml(tmp_path, write_sweep):
    path = write_sweep({"product": {"protocol": ["direct"]}}, retries_of_cells=3)
    with pytest.raises(ConfigError, match="retries_of_cells: unknown key; known keys: .*cell_retries"):
        load_sweep(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_sweep(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_sweep(tmp_path / "missing.yaml")


def test_shipped_sweep_files_expand():
    laptop = load_sweep(CONFIGS / "laptop.yaml")
    assert len(laptop.cells) >= 8
    assert {c.config.judge for c in laptop.cells} == {"embedded:smollm2-135m"}
    try:
        study = load_sweep(CONFIGS / "study.yaml")
    except ConfigError as exc:  # tasks of the study still missing from this checkout: named, nothing else
        assert "unknown task" in str(exc) and "sweep[0].product.task" in str(exc)
    else:
        assert len(study.cells) >= 3 * 5 * 9
        assert {c.config.protocol for c in study.cells} >= {"direct", "debate", "consultancy", "direct-article"}


def test_run_config_file_with_overrides_and_key_errors(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"protocol": "debate", "task": "math", "rounds": 2, "limit": 5}))
    config = config_from_file(path, limit=3)
    assert (config.protocol, config.rounds, config.limit) == ("debate", 2, 3)
    path.write_text(yaml.safe_dump({"protocol": "debate", "task": "math", "rounds": 0, "roundz": 1}))
    with pytest.raises(ConfigError) as info:
        config_from_file(path)
    message = str(info.value)
    assert str(path) in message and "rounds: input should be greater than or equal to 1, got 0" in message
    assert "roundz: unknown key; known keys:" in message
