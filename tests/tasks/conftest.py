"""Fixtures for the task tests: the shared benchmark data (../shared/data beside the checkout, or
$OVERSIGHT_DATA_DIR) and the GSM8K test split loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
os.environ.setdefault("OVERSIGHT_DATA_DIR", str(DEFAULT_DATA_DIR))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["OVERSIGHT_DATA_DIR"])
    if not (path / "gsm8k" / "test.jsonl").is_file():
        pytest.fail(f"benchmark data not found: {path}/gsm8k/test.jsonl (set OVERSIGHT_DATA_DIR, or put the "
                    "shared data at ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def gsm8k_test(data_dir: Path):
    from tasks import load_questions

    return load_questions("math-prose", data=data_dir / "gsm8k" / "test.jsonl")
