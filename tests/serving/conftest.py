"""A real `vllm serve` of the embedded SmolLM2 (float32), started once per session for the slow tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def vllm_server(smollm2_dir):
    pytest.importorskip("vllm")
    from oversight.models.serve import ManagedServer

    # float32 like the `vllm_judge` fixture, so the two can be compared tightly; a small KV cache.
    with ManagedServer("embedded:smollm2-135m", served_name="smollm2", dtype="float32", max_model_len=2048) as server:
        print(f"vllm serve ready in {server.startup_seconds:.1f} s")
        yield server
