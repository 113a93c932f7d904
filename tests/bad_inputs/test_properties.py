"""Property-based tests: whatever a user writes into a config or a question file, the harness either
accepts it faithfully or answers with one of its own errors (ConfigError / DataError), never a crash.

Configs: `make_config` (the flags), `config_from_file` (YAML text), and the YAML round trip of valid
configs. Custom tasks (`--task file:PATH`, tasks/custom.py): generated JSONL and CSV rows, `--fields`
text, and arbitrary bytes.
"""

from __future__ import annotations

import csv
import io
import json
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from oversight.config import RunConfig, config_from_file, make_config
from oversight.errors import ConfigError, DataError
from tasks.base import load_questions
from tasks.custom import PARTS, parse_fields

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = sorted(RunConfig.model_fields)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=8), scalars, max_size=3))
keys = st.one_of(st.sampled_from(FIELDS), st.text(string.ascii_lowercase + "_", min_size=1, max_size=12))


def accepted_or_config_error(build: Any) -> RunConfig | None:
    try:
        return build()
    except ConfigError as exc:
        assert str(exc).strip() and "Traceback" not in str(exc)
        return None


@SETTINGS
@given(st.dictionaries(keys, values, max_size=6))
def test_make_config_accepts_or_names_the_bad_field(extra: dict[str, Any]) -> None:
    settings_ = {"protocol": "debate", "task": "math", **extra}
    try:
        config = make_config(**settings_)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("invalid run configuration: ")
        named = [k for k in extra if f"--{k.replace('_', '-')}" in message]
        assert named or "best_of_n" in message or "word_limits" in message, message
        return
    assert set(extra) <= set(FIELDS)
    assert config.run_id == make_config(**config.model_dump()).run_id  # stable: a rerun resumes the same folder


@SETTINGS
@given(st.text(max_size=200))
def test_any_yaml_text_gives_a_config_or_one_config_error(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("yaml") / "run.yaml"
    path.write_text(text, encoding="utf-8")
    accepted_or_config_error(lambda: config_from_file(path))


@SETTINGS
@given(st.dictionaries(keys, values, max_size=6))
def test_yaml_mappings_give_a_config_or_a_config_error_naming_the_file(tmp_path_factory: Any,
                                                                      extra: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("yaml") / "run.yaml"
    path.write_text(yaml.safe_dump({"protocol": "debate", "task": "math", **extra}), encoding="utf-8")
    try:
        config_from_file(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(rounds=st.integers(1, 20), seed=st.integers(-5, 10**9), limit=st.one_of(st.none(), st.integers(1, 10**6)),
       temperature=st.floats(0, 2), order=st.sampled_from(["random", "both", "fixed"]),
       judge=st.text(string.ascii_letters + string.digits + ":/._-?=&", min_size=1, max_size=30))
def test_valid_configs_round_trip_through_yaml(tmp_path_factory: Any, **fields: Any) -> None:
    config = make_config(protocol="debate", task="math", **fields)
    path = tmp_path_factory.mktemp("yaml") / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump()), encoding="utf-8")
    again = config_from_file(path)
    assert again == config and again.run_id == config.run_id


# ------------------------------------------------------------------------------- custom tasks

cells = st.one_of(st.none(), st.integers(-100, 100), st.booleans(), st.text(max_size=15),
                  st.sampled_from(["", "  ", "same", "Same "]))
rows = st.lists(st.fixed_dictionaries({"question": cells, "correct": cells, "incorrect": cells}), min_size=0,
                max_size=6)


def clean(value: Any) -> str:
    return "" if value is None else (value if isinstance(value, str) else str(value)).strip()


def load_or_error(path: Path, fields: dict[str, str] | None = None) -> list[Any] | None:
    try:
        return load_questions(f"file:{path}", fields=fields)
    except (DataError, ConfigError) as exc:
        assert str(exc).strip()
        return None


def check_faithful(questions: list[Any] | None, items: list[dict[str, Any]]) -> None:
    """Every row kept as written (trimmed), or the whole file refused when some row is unusable."""
    usable = all(clean(r["question"]) and clean(r["correct"]) and clean(r["incorrect"])
                 and clean(r["correct"]) != clean(r["incorrect"]) for r in items)
    if not items or not usable:
        assert questions is None
        return
    assert questions is not None and len(questions) == len(items)
    for question, item in zip(questions, items):
        assert question.question == clean(item["question"])
        assert question.answers == (clean(item["correct"]), clean(item["incorrect"]))
        assert question.correct_index == 0


@SETTINGS
@given(rows)
def test_jsonl_rows_load_faithfully_or_fail_with_one_data_error(tmp_path_factory: Any,
                                                               items: list[dict[str, Any]]) -> None:
    path = tmp_path_factory.mktemp("custom") / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    check_faithful(load_or_error(path), items)


@SETTINGS
@given(rows.filter(lambda items: all(isinstance(v, str) for r in items for v in r.values())))
def test_csv_rows_load_faithfully_or_fail_with_one_data_error(tmp_path_factory: Any,
                                                             items: list[dict[str, Any]]) -> None:
    assume(all("\r" not in v and "\x00" not in v for r in items for v in r.values()))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["question", "correct", "incorrect"])
    writer.writeheader()
    writer.writerows(items)
    path = tmp_path_factory.mktemp("custom") / "items.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    blank = [r for r in items if not any(v.strip() for v in r.values())]  # CSV readers skip blank rows
    check_faithful(load_or_error(path), [r for r in items if r not in blank])


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["items.jsonl", "items.csv"]))
def test_arbitrary_bytes_never_crash_the_loader(tmp_path_factory: Any, data: bytes, name: str) -> None:
    path = tmp_path_factory.mktemp("custom") / name
    path.write_bytes(data)
    load_or_error(path)


@SETTINGS
@given(st.text(max_size=60))
def test_fields_text_parses_or_gives_a_config_error(text: str) -> None:
    try:
        fields = parse_fields(text)
    except ConfigError as exc:
        assert "--fields" in str(exc)
        return
    assert fields is None or all(k and v for k, v in fields.items())


@SETTINGS
@given(st.dictionaries(st.sampled_from(PARTS), st.text(string.ascii_letters + "_", min_size=1, max_size=10),
                       min_size=1))
def test_fields_round_trip(mapping: dict[str, str]) -> None:
    assert parse_fields(",".join(f"{k}={v}" for k, v in mapping.items())) == mapping
