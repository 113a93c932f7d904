"""Every bad input gets one clear message, exit code 2, and leaves nothing half-done.

Table-driven: each case runs `oversight run ...` or `oversight sweep ...` as a subprocess on a file of
`corpus/` (one file per bad input; the commands run in that folder) and checks that
- the exit code is 2 and stderr holds exactly one `error:` message (or the option parser's one usage error) and no traceback;
- the message names the input (file and line, key or flag) and says what is wrong, and how to fix
  it where the fix is not obvious;
- no run folder was created (`--out` stays absent), and an existing run folder is left byte for byte.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
SCRIPTED = ["--judge", "scripted:echo", "--debater", "scripted:echo"]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    message: tuple[str, ...]
    """Regexes the message must match (whitespace collapsed)."""
    env: dict[str, str | None] = field(default_factory=dict)
    """Environment changes (None: unset)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NO_KEY = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None}
CASES = [
    # run configs (YAML) and flags
    Case("malformed YAML", ("run", "--config", "run_malformed.yaml", *SCRIPTED),
         (r"run_malformed\.yaml: not valid YAML at line 5, column 1",)),
    Case("unknown key", ("run", "--config", "run_unknown_key.yaml", *SCRIPTED),
         (r"run_unknown_key\.yaml", r"roundz: unknown key; known keys: .*\brounds\b", r"fix the file")),
    Case("wrong type", ("run", "--config", "run_wrong_type.yaml", *SCRIPTED),
         (r"run_wrong_type\.yaml", r"rounds: input should be a valid integer.*got 'three'",)),
    Case("not a mapping", ("run", "--config", "run_not_mapping.yaml", *SCRIPTED),
         (r"run_not_mapping\.yaml: expected a mapping of keys to values .*got a list",)),
    Case("non-UTF-8 config", ("run", "--config", "run_not_utf8.yaml", *SCRIPTED),
         (r"run_not_utf8\.yaml", r"UTF-8")),
    Case("flag out of range", ("run", "debate", "--rounds", "0", *SCRIPTED),
         (r"--rounds: input should be greater than or equal to 1, got 0",)),
    Case("flag of the wrong type", ("run", "debate", "--rounds", "three", *SCRIPTED),
         (r"Invalid value for '--rounds': Input should be a valid integer",)),
    Case("thinking budget over the turn's", ("run", "debate", "--max-tokens", "64", "--thinking-tokens", "100",
                                             *SCRIPTED), (r"thinking_tokens \(--thinking-tokens\) 100 .*at most max_tokens \(--max-tokens\) 64",)),
    Case("unknown flag", ("run", "debate", "--roundz", "2", *SCRIPTED), (r"No such option: --roundz",)),
    Case("unknown protocol", ("run", "debat", *SCRIPTED), (r"unknown protocol 'debat'", r"debate")),
    Case("unknown task", ("run", "debate", "--task", "maths", *SCRIPTED), (r"unknown task 'maths'", r"\bmath\b")),
    Case("unknown backend", ("run", "direct", "--judge", "nonsense:model"), (r"nonsense",)),
    # sweep files
    Case("sweep: malformed YAML", ("sweep", "sweep_malformed.yaml"),
         (r"sweep_malformed\.yaml: not valid YAML at line 8",)),
    Case("sweep: unknown key", ("sweep", "sweep_unknown_key.yaml"),
         (r"sweep_unknown_key\.yaml: base: unknown key\(s\) roundz; known keys: .*\brounds\b",)),
    Case("sweep: wrong type", ("sweep", "sweep_wrong_type.yaml"),
         (r"sweep_wrong_type\.yaml: sweep\[0\]\.product\.rounds\[1\]: input should be a valid integer.*'many'",)),
    Case("sweep: empty dataset", ("sweep", "sweep_empty_dataset.yaml"), (r"no items in empty\.jsonl",)),
    Case("sweep: missing data file", ("sweep", "sweep_missing_data.yaml"), (r"no_such_file\.jsonl",)),
    # data files
    Case("missing data file", ("run", "debate", "--task", "file:no_such_file.jsonl", *SCRIPTED),
         (r"--task file:no_such_file\.jsonl: no such file",)),
    Case("missing data folder", ("run", "debate", "--task", "math", "--data", "no_such_folder", *SCRIPTED),
         (r"--data 'no_such_folder': no such file or folder",)),
    Case("empty dataset (custom)", ("run", "debate", "--task", "file:empty.jsonl", *SCRIPTED),
         (r"no items in empty\.jsonl",)),
    Case("empty dataset (mmlu)", ("run", "debate", "--task", "mmlu", "--data", "empty.jsonl", *SCRIPTED),
         (r"task 'mmlu': no items in empty\.jsonl",)),
    Case("identical answers", ("run", "debate", "--task", "file:identical_answers.jsonl", *SCRIPTED),
         (r"identical_answers\.jsonl:1: the two answers are the same text \('neither'\)",)),
    Case("non-UTF-8 JSONL", ("run", "debate", "--task", "file:not_utf8.jsonl", *SCRIPTED),
         (r"not_utf8\.jsonl: line 1: not UTF-8 text \(byte \d+\); expected a UTF-8 JSON Lines file",)),
    Case("non-UTF-8 CSV", ("run", "debate", "--task", "file:not_utf8.csv", *SCRIPTED),
         (r"not_utf8\.csv: not UTF-8 text \(byte \d+\); expected a UTF-8 CSV file",)),
    Case("JSONL with one broken line", ("run", "debate", "--task", "file:broken_line.jsonl", *SCRIPTED),
         (r"broken_line\.jsonl: line 2: malformed JSON \(.*\); expected one JSON object per line",)),
    Case("image escaping the data folder (custom)", ("run", "debate", "--task", "file:image_escape.jsonl", *SCRIPTED),
         (r"image_escape\.jsonl:1: image '(\.\./)+etc/hostname' resolves to /etc/hostname",
          r"outside the data file's folder .*corpus; keep images in that folder")),
    Case("image escaping the data folder (mmmu)", ("run", "debate", "--task", "mmmu", "--data", "mmmu_escape/data.jsonl",
                                                   *SCRIPTED),
         (r"mmmu_escape/data\.jsonl:1: image_1 '(\.\./)+etc/hostname' resolves to /etc/hostname",
          r"outside the data folder .*mmmu_escape")),
    # model servers
    Case("missing API key", ("run", "direct", "--task", "math", "--limit", "2", "--judge", "openai:gpt-4o-mini"),
         (r"no API key", r"set \$OPENAI_API_KEY"), env=NO_KEY),
    Case("unreachable server", ("run", "direct", "--task", "math", "--limit", "2", "--judge",
                                "openai:gpt-4o-mini?max_attempts=2&backoff=0.01", "--base-url", "http://127.0.0.1:PORT/v1"),
         (r"127\.0\.0\.1:\d+/v1/chat/completions .* failed after 2 attempts: connection failed",
          r"check that the server is up", r"rerun the same command to resume"),
         env={"OPENAI_API_KEY": "test-key"}),
]


def oversight(args: tuple[str, ...], out: Path, env: dict[str, str | None] | None = None,
              cwd: Path = CORPUS) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "400", "PYTHONPATH": str(ROOT)}
    for key, value in (env or {}).items():
        full.pop(key, None) if value is None else full.__setitem__(key, value)
    args = tuple(a.replace("PORT", str(free_port())) for a in args)
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args, "--out", str(out)], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120, check=False)


def check_clear_error(result: subprocess.CompletedProcess[str], patterns: tuple[str, ...]) -> str:
    message = " ".join(result.stderr.split())
    assert result.returncode == 2, f"exit code {result.returncode}: {result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    # One message, not a cascade: the CLI's "error:" line, or the usage-error box of the option parser.
    headers = re.findall(r"^error:|─ Error ─", result.stderr, re.MULTILINE)
    assert len(headers) == 1, result.stderr[-3000:]
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    return message


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gets_one_clear_error_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    check_clear_error(oversight(case.args, out, case.env), case.message)
    assert not out.exists(), sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def test_an_existing_run_folder_is_left_unchanged(tmp_path: Path) -> None:
    """A finished run, then the same command after its data file broke: exit 2, the folder byte for byte."""
    data = tmp_path / "items.jsonl"
    shutil.copy(CORPUS / "broken_line.jsonl", data)
    lines = data.read_text(encoding="utf-8").splitlines()
    data.write_text(lines[0] + "\n" + lines[2] + "\n", encoding="utf-8")
    args = ("run", "debate", "--task", f"file:{data}", "--rounds", "1", "--name", "mine", *SCRIPTED)
    out = tmp_path / "out"
    assert oversight(args, out, cwd=tmp_path).returncode == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    data.write_text(data.read_text(encoding="utf-8") + '{"question": "5 + 5?", "correct": \n', encoding="utf-8")
    check_clear_error(oversight(args, out, cwd=tmp_path), (r"items\.jsonl: line 3: malformed JSON",))
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_model_without_a_chat_template(tmp_path: Path, smollm2_dir: str) -> None:
    """SmolLM2 with its chat template removed, served by the hf backend."""
    import json

    model = tmp_path / "no-template"
    model.mkdir()
    for item in Path(smollm2_dir).iterdir():
        if item.name in ("chat_template.jinja", "chat_template.json"):
            continue
        if item.name == "tokenizer_config.json":
            config = json.loads(item.read_text(encoding="utf-8"))
            config.pop("chat_template", None)
            (model / item.name).write_text(json.dumps(config), encoding="utf-8")
        else:
            (model / item.name).symlink_to(item)
    out = tmp_path / "out"
    result = oversight(("run", "direct", "--task", "math", "--limit", "1", "--judge", f"hf:{model}"), out)
    check_clear_error(result, (rf"the tokenizer of model '{re.escape(str(model))}' has no chat template",
                               r"use an instruct/chat model"))
    assert not out.exists()  # the failed first call leaves no run folder behind
