"""tasks/gpqa.py: GPQA from a password-protected zip built here (the real one is gated), read in memory."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from oversight.errors import DataError
from tasks import load_questions
from tasks.gpqa import PASSWORD
from tests.tasks.checks import assert_well_formed

COLUMNS = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3",
           "Explanation", "Record ID", "High-level domain", "Subdomain"]


def gpqa_csv(n: int, **override: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    for i in range(n):
        writer.writerow({"Question": f"Which particle, question {i}, has spin 1/2?", "Correct Answer": f"electron {i}",
                         "Incorrect Answer 1": f"photon {i}", "Incorrect Answer 2": f"gluon {i}",
                         "Incorrect Answer 3": f"W boson {i}", "Explanation": f"Leptons are fermions ({i}).",
                         "Record ID": f"rec{i}", "High-level domain": "Physics", "Subdomain": "Particle",
                         **override})
    return out.getvalue()


def _zipcrypto(data: bytes, password: bytes, check: int) -> bytes:
    """Traditional PKWARE encryption (what the official zip uses; the standard library only decrypts it)."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def crc(value: int, byte: int) -> int:
        return zlib.crc32(bytes([byte]), value ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def update(byte: int) -> None:
        keys[0] = crc(keys[0], byte)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc(keys[2], keys[1] >> 24)

    for byte in password:
        update(byte)
    out = bytearray()
    for byte in bytes(11) + bytes([check]) + data:
        temp = (keys[2] | 2) & 0xFFFF
        out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
        update(byte)
    return bytes(out)


def encrypted_zip(path: Path, members: dict[str, str], password: bytes = PASSWORD) -> Path:
    """A zip whose stored members are encrypted with `password`, like GPQA's dataset.zip."""
    body, central = bytearray(), bytearray()
    for name, text in members.items():
        data, raw_name = text.encode(), name.encode()
        crc = zlib.crc32(data)
        payload = _zipcrypto(data, password, crc >> 24)
        offset = len(body)
        fields = struct.pack("<HHHHHIIIHH", 20, 1, 0, 0, 0x21, crc, len(payload), len(data), len(raw_name), 0)
        body += b"PK\x03\x04" + fields + raw_name + payload
        central += (b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, offset)
                    + raw_name)
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), len(body), 0)
    path.write_bytes(bytes(body + central) + b"PK\x05\x06" + end)
    return path


@pytest.fixture
def dataset_zip(tmp_path: Path) -> Path:
    return encrypted_zip(tmp_path / "dataset.zip", {"dataset/gpqa_main.csv": gpqa_csv(12),
                                                    "dataset/gpqa_diamond.csv": gpqa_csv(4)})


def test_the_fixture_is_really_encrypted(dataset_zip: Path) -> None:
    with zipfile.ZipFile(dataset_zip) as archive:
        with pytest.raises(RuntimeError, match="password required"):
            archive.read("dataset/gpqa_main.csv")
        assert archive.read("dataset/gpqa_main.csv", pwd=PASSWORD).decode() == gpqa_csv(12)


def test_closed_task_reads_the_zip_in_memory(dataset_zip: Path) -> None:
    before = sorted(p.name for p in dataset_zip.parent.rglob("*"))
    qs = load_questions("gpqa", data=dataset_zip)
    assert sorted(p.name for p in dataset_zip.parent.rglob("*")) == before  # no plaintext written anywhere
    assert len(qs) == 12
    assert_well_formed(qs, "gpqa")
    for i, q in enumerate(qs):
        assert q.answers[0] == f"electron {i}" and q.context is None
        assert q.answers[1] == q.meta["options"][1 + int(q.meta["incorrect_column"][-1]) - 1]
        assert q.answers[1] in {f"photon {i}", f"gluon {i}", f"W boson {i}"}
    assert len({q.meta["incorrect_column"] for q in qs}) > 1, "the CRC-32 choice varies across questions"
    assert len(load_questions("gpqa", data=dataset_zip, split="diamond")) == 4


def test_extractive_task_gives_the_explanation_to_the_agents(dataset_zip: Path) -> None:
    closed = load_questions("gpqa", data=dataset_zip, limit=5, seed=1)
    extractive = load_questions("gpqa-extractive", data=dataset_zip, limit=5, seed=1)
    assert_well_formed(extractive, "gpqa-extractive")
    assert [q.answers for q in extractive] == [q.answers for q in closed]  # same pair in both tasks
    assert [q.context for q in extractive] == [f"Leptons are fermions ({q.meta['source_index']})." for q in closed]


def test_a_plain_csv_works_too(tmp_path: Path) -> None:
    path = tmp_path / "gpqa_main.csv"
    path.write_text(gpqa_csv(3))
    assert len(load_questions("gpqa", data=path)) == 3


def test_wrong_password_is_one_clear_error(tmp_path: Path) -> None:
    path = encrypted_zip(tmp_path / "dataset.zip", {"dataset/gpqa_main.csv": gpqa_csv(2)}, password=b"other")
    with pytest.raises(DataError, match=r"cannot decrypt gpqa_main\.csv.*official dataset\.zip"):
        load_questions("gpqa", data=path)


def test_zip_without_the_subset_and_non_zip_files(tmp_path: Path) -> None:
    path = encrypted_zip(tmp_path / "dataset.zip", {"dataset/gpqa_main.csv": gpqa_csv(2)})
    with pytest.raises(DataError, match=r"no gpqa_extended\.csv inside"):
        load_questions("gpqa", data=path, split="extended")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"not a zip file"):
        load_questions("gpqa", data=junk)


def test_missing_cells_name_the_member_and_line(tmp_path: Path) -> None:
    path = encrypted_zip(tmp_path / "dataset.zip", {"dataset/gpqa_main.csv": gpqa_csv(2, **{"Incorrect Answer 2": ""})})
    with pytest.raises(DataError, match=r"dataset\.zip!gpqa_main\.csv:2: field 'Incorrect Answer 2'"):
        load_questions("gpqa", data=path)
    path = encrypted_zip(tmp_path / "d2.zip", {"dataset/gpqa_main.csv": gpqa_csv(2, Explanation=" ")})
    assert len(load_questions("gpqa", data=path)) == 2  # the closed task needs no explanation
    with pytest.raises(DataError, match=r"field 'Explanation'"):
        load_questions("gpqa-extractive", data=path)


def test_without_the_zip_the_error_names_the_hub_and_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OVERSIGHT_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"Idavidrein/gpqa.*--data PATH.*dataset\.zip"):
        load_questions("gpqa")
