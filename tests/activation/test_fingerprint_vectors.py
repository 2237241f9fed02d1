"""The model fingerprint hashes (MIP-1 §7.2.1) against spec/vectors/fingerprint.json.

The vector was computed by spec/vectors/generate.py from the spec's text alone; the runtime's
implementation must give the same hashes, or another implementation's KV and LoRA parts would be
refused (issue #15).
"""

from __future__ import annotations

import json
from pathlib import Path

from memos_client.runtime.activation.fingerprint import (
    canonical_json,
    chat_template_sha256,
    config_sha256,
    tokenizer_sha256,
)

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"


def test_the_runtime_computes_the_spec_s_fingerprint() -> None:
    expected = json.loads((VECTORS / "fingerprint.json").read_text("utf-8"))
    model = VECTORS / "fingerprint"
    config = json.loads((model / "config.json").read_text("utf-8"))
    kept = {k: v for k, v in config.items() if k not in ("_name_or_path", "transformers_version")}
    assert canonical_json(kept).decode() == expected["canonical_config_json"]
    assert config_sha256(config) == expected["config_sha256"]
    assert tokenizer_sha256(model) == expected["tokenizer_sha256"]
    assert chat_template_sha256(model) == expected["chat_template_sha256"]
