"""MMMU / MMMU-Pro college-level questions about images (task `mmmu`, family `multimodal`).

Sources: a local JSON Lines file (`mmmu_pro_tool_sample/data.jsonl`, the MMMU repository's 21-question
sample: `question`, `options` (list), `answer` (letter), `image_1` ... `image_7` (paths relative to the
file's folder)), or the hub dataset `MMMU/MMMU_Pro` (config `standard (10 options)`, split `test`;
`options` is a Python-literal string there, images are decoded pictures). Items without a letter
answer among their options (MMMU's open questions) are skipped.

The question text keeps its `<image N>` placeholders; `Question.images` holds the images in that
numbering (`image_1` first), as absolute file paths (local) or PNG `data:` URLs (hub), and everyone —
judge and agents — sees them with the question (`oversight.prompts.attach_images`). Options can be
images themselves (`"<image 3>"`). Only vision models can take these questions: the text-only
backends refuse a request with images with a ConfigError.

**Incorrect option.** One of the other options, picked by `stable_choice(question id, n - 1)`
(CRC-32 of the id). Ids: `mmmu/<split>/<index>`. `meta`: `source_index`, `split`, `source_id`,
`options`, `gold_letter`, `incorrect_letter`, `subject`, `explanation` (hub, when present).
"""

from __future__ import annotations

import ast
import base64
import io
import re
import string
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_hub_split, read_jsonl, stable_choice

LETTERS = string.ascii_uppercase
MAX_IMAGES = 7
_IMAGE_KEY = re.compile(r"^image_(\d+)$")

MMMU_INFO = TaskInfo(
    name="mmmu",
    family="multimodal",
    description="MMMU-Pro questions about images (diagrams, charts, scans): correct vs one other option; "
                "judge and agents need vision",
    hub_id="MMMU/MMMU_Pro",
    hub_config="standard (10 options)",
    folder="mmmu_pro_tool_sample",
    files={"test": "data.jsonl"},
    size="1,730 (MMMU-Pro standard); 21 in the repository sample",
)


def parse_options(value: Any) -> list[str] | None:
    """A list of option strings, from a list or its Python-literal string form (the hub's)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    if not isinstance(value, list) or not all(isinstance(o, (str, int, float)) for o in value):
        return None
    return [str(o).strip() for o in value]


def png_data_url(image: Any) -> str:
    """A decoded hub image (PIL) as a PNG `data:` URL: nothing is written to disk."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_refs(data: dict[str, Any], base: Path | None, where: str) -> tuple[str, ...]:
    """The item's images in `<image N>` order; local paths resolved against `base` and checked to exist and
    relative ones to stay inside `base` (no `../` or symlink out of the data folder)."""
    numbered = sorted((int(m.group(1)), v) for k, v in data.items()
                      if (m := _IMAGE_KEY.match(k)) and v not in (None, ""))
    if [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise DataError(f"{where}: images must be numbered image_1, image_2, ... without gaps, got "
                        f"{[f'image_{n}' for n, _ in numbered]}")
    refs = []
    for n, value in numbered:
        if isinstance(value, str):
            path = (base / value) if base is not None and not Path(value).is_absolute() else Path(value)
            escapes = base is not None and not Path(value).is_absolute() and not path.resolve().is_relative_to(base.resolve())
            if escapes:  # `../` or a symlink out of the folder; absolute paths are the file author's explicit choice
                raise DataError(f"{where}: image_{n} {value!r} resolves to {path.resolve()}, outside the data "
                                f"folder {base.resolve()}; keep images in that folder and give paths relative to it")
            if not path.is_file():
                raise DataError(f"{where}: image_{n} {value!r} not found at {path}")
            refs.append(str(path.resolve()))
        elif hasattr(value, "save"):
            refs.append(png_data_url(value))
        else:
            raise DataError(f"{where}: image_{n} must be a path or an image, got {type(value).__name__}")
    return tuple(refs)


@register("task", "mmmu")
class MMMUTask(Task):
    """MMMU: questions about images, correct option vs one other option."""

    info = MMMU_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        raw = read_jsonl(data) if data is not None else load_hub_split(self.info, split)
        out = []
        for r in raw:
            d = r.data
            options = parse_options(d.get("options"))
            if not isinstance(d.get("question"), str) or not d["question"].strip() or options is None \
                    or len(options) < 2 or not all(options):
                raise DataError(f"{r.where}: needs a non-empty 'question' and at least two non-empty 'options'")
            answer = d.get("answer")
            if not isinstance(answer, str) or answer not in LETTERS[:len(options)]:
                if d.get("question_type") == "open":
                    continue  # MMMU open questions have no options to choose from
                raise DataError(f"{r.where}: 'answer' must be a letter A-{LETTERS[len(options) - 1]}, got {answer!r}")
            images = image_refs(d, data.parent if data is not None else None, r.where)
            if not images:
                raise DataError(f"{r.where}: no image (fields image_1 ... image_{MAX_IMAGES})")
            out.append(Record(len(out), {**d, "options": options, "_images": images}, r.where))
        return out

    def build(self, record: Record, split: str) -> Question:
        d = record.data
        qid = f"mmmu/{split}/{record.index}"
        options, gold = d["options"], LETTERS.index(d["answer"])
        others = [i for i, o in enumerate(options) if i != gold and o != options[gold]]
        if not others:
            raise DataError(f"{record.where}: every other option repeats the correct one")
        wrong = others[stable_choice(qid, len(others))]
        meta = {"source_index": record.index, "split": split, "source_id": d.get("id"), "options": options,
                "gold_letter": LETTERS[gold], "incorrect_letter": LETTERS[wrong], "subject": d.get("subject"),
                "explanation": d.get("explanation") or None}
        return Question(id=qid, task=self.info.name, question=d["question"].strip(),
                        answers=(options[gold], options[wrong]), correct_index=0, meta=meta, images=d["_images"])
