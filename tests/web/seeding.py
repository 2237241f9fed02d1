"""Real bundles for the marketplace tests: packed by ``memos pack`` and published over HTTP.

``CubeSpec`` describes a cube version; :func:`publish_cube` writes its source directory (memories,
a real safetensors KV snapshot, a real PEFT LoRA adapter), packs and signs it with the client's
packer, uploads its blobs and publishes its envelope through the registry's HTTP API. The same
functions work with FastAPI's ``TestClient`` and with an ``httpx.Client`` on a real server.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from safetensors.numpy import save_file

from memos_client.authoring.packer import pack
from mip.container import open_bundle
from mip.dsse import sign
from mip.keys import SigningKey
from mip.tensors import token_ids_digest
from registry_server.db.session import create_db_engine, init_schema
from registry_server.services.auth import commit_bootstrap_token

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


class HttpClient(Protocol):
    """What both ``TestClient`` and ``httpx.Client`` offer."""

    def put(self, url: str, **kwargs: Any) -> httpx.Response: ...
    def post(self, url: str, **kwargs: Any) -> httpx.Response: ...
    def get(self, url: str, **kwargs: Any) -> httpx.Response: ...


def fingerprint(
    model_id: str, layers: int = 2, kv_heads: int = 2, head_dim: int = 8
) -> dict[str, Any]:
    """A model fingerprint (MIP-1 §7.2) of a small made-up model."""
    seed = hashlib.sha256(model_id.encode()).hexdigest()
    return {
        "model_id": model_id,
        "revision": "main",
        "architecture": "LlamaForCausalLM",
        "config_sha256": seed,
        "tokenizer_sha256": hashlib.sha256(seed.encode()).hexdigest(),
        "dtype": "float32",
        "num_layers": layers,
        "num_attention_heads": kv_heads * 2,
        "num_kv_heads": kv_heads,
        "head_dim": head_dim,
        "hidden_size": kv_heads * 2 * head_dim,
        "vocab_size": 1000,
    }


@dataclass
class CubeSpec:
    """One version of a cube to publish."""

    name: str
    version: str
    description: str = ""
    license: str | None = "CC-BY-4.0"
    keywords: list[str] = field(default_factory=list)
    memories: list[dict[str, Any]] = field(default_factory=list)
    dependencies: dict[str, str] = field(default_factory=dict)
    activation_model: str | None = None
    adapter_model: str | None = None
    sensitivity: str = "public"
    ttl_seconds: int | None = None
    readme: str | None = None
    homepage: str | None = None
    repository: str | None = None
    #: Yank this version right after publishing it, with this reason.
    yank_reason: str | None = None


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \uXXXX for the rest).
    return json.dumps(value)


def write_source(root: Path, spec: CubeSpec) -> Path:
    """The cube source directory ``memos pack`` reads."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "[cube]",
        f"name = {_toml_string(spec.name)}",
        f"version = {_toml_string(spec.version)}",
        f"description = {_toml_string(spec.description)}",
        f"keywords = [{', '.join(_toml_string(k) for k in spec.keywords)}]",
        'authors = [{ name = "Marketplace Tests" }]',
        'created = "2026-01-02T03:04:05Z"',
    ]
    if spec.license:
        lines.append(f"license = {_toml_string(spec.license)}")
    for key in ("homepage", "repository"):
        if getattr(spec, key):
            lines.append(f"{key} = {_toml_string(getattr(spec, key))}")
    lines.append("[dependencies]")
    lines += [f"{_toml_string(k)} = {_toml_string(v)}" for k, v in spec.dependencies.items()]
    lines += ["[governance]", f"sensitivity = {_toml_string(spec.sensitivity)}"]
    if spec.ttl_seconds:
        lines.append(f"ttl_seconds = {spec.ttl_seconds}")
    (root / "memcube.toml").write_text("\n".join(lines) + "\n", "utf-8")
    if spec.readme is not None:
        (root / "README.md").write_text(spec.readme, "utf-8")
    if spec.memories:
        (root / "memories").mkdir(exist_ok=True)
        with open(root / "memories" / "notes.jsonl", "w", encoding="utf-8") as handle:
            for memory in spec.memories:
                handle.write(json.dumps(memory) + "\n")
    if spec.activation_model:
        _write_activation(root / "activations" / "kv-prefix.safetensors", spec.activation_model)
    if spec.adapter_model:
        _write_adapter(root / "adapters" / "style-lora", spec.adapter_model)
    return root


def _write_activation(path: Path, model_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    model = fingerprint(model_id)
    tokens = 5
    token_ids = list(range(1, tokens + 1))
    shape = (model["num_kv_heads"], tokens, model["head_dim"])
    rng = np.random.default_rng(0)
    tensors = {
        f"layers.{i}.{which}": rng.standard_normal(shape).astype(np.float32)
        for i in range(model["num_layers"])
        for which in ("key", "value")
    }
    tensors["token_ids"] = np.array(token_ids, dtype=np.int64)
    metadata = {
        "kind": "activation",
        "model": model,
        "dtype": "F32",
        "num_layers": model["num_layers"],
        "num_kv_heads": model["num_kv_heads"],
        "head_dim": model["head_dim"],
        "num_tokens": tokens,
        "token_ids_sha256": token_ids_digest(token_ids),
        "sources": [],
    }
    save_file(tensors, str(path), metadata={"memcube.activation": json.dumps(metadata)})


def _write_adapter(directory: Path, model_id: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    model = fingerprint(model_id)
    rank, hidden = 4, model["hidden_size"]
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 8,
        "target_modules": ["q_proj", "v_proj"],
    }
    (directory / "adapter_config.json").write_text(json.dumps(config), "utf-8")
    rng = np.random.default_rng(1)
    prefix = "base_model.model.model.layers.0.self_attn"
    tensors = {
        f"{prefix}.{module}.lora_A.weight": rng.standard_normal((rank, hidden)).astype(np.float32)
        for module in ("q_proj", "v_proj")
    } | {
        f"{prefix}.{module}.lora_B.weight": np.zeros((hidden, rank), dtype=np.float32)
        for module in ("q_proj", "v_proj")
    }
    metadata = {"base_model": model, "sources": []}
    save_file(
        tensors,
        str(directory / "adapter_model.safetensors"),
        metadata={"memcube.parameter": json.dumps(metadata)},
    )


def create_token(database_url: str, namespace: str) -> str:
    """An all-action token for ``namespace`` (creating account and namespace), as the admin CLI."""
    engine = create_db_engine(database_url, 1)
    try:
        init_schema(engine)
        secret = commit_bootstrap_token(engine, namespace, None, 30)
    finally:
        engine.dispose()
    return secret


def publish_cube(
    client: HttpClient, token: str, key: SigningKey, spec: CubeSpec, workdir: Path
) -> dict[str, Any]:
    """Pack, sign, upload and publish ``spec``; return the publish answer."""
    slug = f"{spec.name.replace('/', '-')}-{spec.version}"
    source = write_source(workdir / slug, spec)
    result = pack(source, workdir / f"{slug}.memcube", [key])
    headers = {"authorization": f"Bearer {token}"}
    with open_bundle(result.path) as bundle:
        for digest in {part.digest for part in bundle.manifest.parts}:
            data = bundle.open_blob(digest).read()
            _put_blob(client, headers, digest, data)
        envelope = json.loads(bundle.envelope.to_json())
    return _post_version(client, headers, key, envelope)


def publish_manifest(
    client: HttpClient,
    token: str,
    key: SigningKey,
    document: dict[str, Any],
    blobs: list[bytes],
) -> dict[str, Any]:
    """Sign and publish a manifest built by hand (values ``memos pack`` would never write).

    ``blobs`` are uploaded first; the parts of ``document`` refer to them by digest.
    """
    headers = {"authorization": f"Bearer {token}"}
    for data in blobs:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _put_blob(client, headers, digest, data)
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    envelope = json.loads(sign(payload, [key]).to_json())
    return _post_version(client, headers, key, envelope)


def _put_blob(client: HttpClient, headers: dict[str, str], digest: str, data: bytes) -> None:
    answer = client.put(
        f"/v1/blobs/{digest}",
        content=data,
        headers={**headers, "content-type": "application/octet-stream"},
    )
    assert answer.status_code in (200, 201), answer.text


def _post_version(
    client: HttpClient, headers: dict[str, str], key: SigningKey, envelope: Any
) -> dict[str, Any]:
    answer = client.post(
        "/v1/versions",
        json={"envelope": envelope, "public_key_pem": key.public_key.to_pem().decode()},
        headers=headers,
    )
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


def yank(client: HttpClient, token: str, name: str, version: str, reason: str) -> None:
    """Yank a published version."""
    answer = client.post(
        f"/v1/cubes/{name}/versions/{version}/yank",
        json={"reason": reason},
        headers={"authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text


#: The handbook's card: Markdown structure, and every kind of markup a card must not carry out.
HANDBOOK_README = f"""# The MemOS handbook

Memory types, their **lifecycle** and the *scheduler*, as [MemOS](https://memos.example/docs)
describes them.

## Contents

| part | what |
|---|---|
| memories | the handbook's text |
| kv-prefix | a KV snapshot |

```python
memos install acme/handbook
```

Raw markup stays text: {HOSTILE}
[a script link](javascript:alert(1)) and [a relative link](docs/intro.md) are not links;
![a tracking pixel](https://tracker.example/pixel.png) is never loaded.
"""


def marketplace_specs() -> list[CubeSpec]:
    """The cubes every web test sees: a handbook with two versions, hostile text, tensors."""
    handbook_v1 = [
        {
            "id": "kv-cache",
            "text": "Activation memory is a KV cache of a model over memory text.",
            "tags": ["kv"],
        },
        {"id": "lora", "text": "Parameter memory is a LoRA adapter.", "tags": ["lora"]},
        {"id": "old-note", "text": "This note is removed in 1.1.0.", "tags": []},
    ]
    handbook_v2 = [
        {
            "id": "kv-cache",
            "text": "Activation memory is a precomputed KV cache of a model over memory text.",
            "tags": ["kv"],
        },
        {"id": "lora", "text": "Parameter memory is a LoRA adapter.", "tags": ["lora"]},
        {"id": "new-note", "text": f"A memory with markup: {HOSTILE}", "tags": ["new"]},
    ]
    handbook = CubeSpec(
        "acme/handbook",
        "1.0.0",
        description="The MemOS handbook: memory types and lifecycle.",
        keywords=["memos", "handbook"],
        memories=handbook_v1,
        activation_model="acme/tiny-llama",
    )
    return [
        handbook,
        # 1.1.0: what 1.0.0 is, with new memories, an adapter, a dependency, a TTL and a card.
        replace(
            handbook,
            version="1.1.0",
            description="The MemOS handbook: memory types, lifecycle and the scheduler.",
            memories=handbook_v2,
            adapter_model="acme/tiny-llama",
            dependencies={"acme/glossary": ">=1.0,<2"},
            ttl_seconds=86400,
            readme=HANDBOOK_README,
            homepage="https://memos.example/handbook",
            repository="https://git.example/acme/handbook",
        ),
        CubeSpec(
            "acme/glossary",
            "1.0.0",
            description="Terms used across acme cubes.",
            license="MIT",
            keywords=["glossary"],
            memories=[{"id": "term-1", "text": "MemCube: a unit of memory."}],
        ),
        *recipes_specs(),
        CubeSpec(
            "evil/hostile",
            "0.1.0",
            description=f"Hostile description {HOSTILE}",
            license="Apache-2.0",
            keywords=["hostile"],
            memories=[{"id": "x", "text": HOSTILE}],
            sensitivity="internal",
        ),
    ]


def recipes_specs() -> list[CubeSpec]:
    """Three versions, the middle one yanked: comparisons must skip it."""
    memories = [
        {"id": f"r{i}", "text": f"Recipe {i}: fold the egg whites gently."} for i in range(8)
    ]
    return [
        CubeSpec("acme/recipes", "1.0.0", "Recipes.", keywords=["food"], memories=memories[:6]),
        CubeSpec(
            "acme/recipes",
            "1.1.0",
            "Recipes.",
            keywords=["food"],
            memories=memories[:7],
            yank_reason="the oven temperatures of this version are wrong by 20 degrees: "
            "use 1.2.0, which corrects them, or 1.0.0 if you depend on the old layout",
        ),
        CubeSpec(
            "acme/recipes", "1.2.0", "Recipes, corrected.", keywords=["food"], memories=memories
        ),
    ]


def seed_marketplace(
    client: HttpClient,
    tokens: dict[str, str],
    key: SigningKey,
    workdir: Path,
    *,
    download: bool = True,
) -> None:
    """Publish :func:`marketplace_specs`, yank the hostile cube, download the handbook twice."""
    for spec in marketplace_specs():
        token = tokens[spec.name.split("/")[0]]
        publish_cube(client, token, key, spec, workdir)
        if spec.yank_reason:
            yank(client, token, spec.name, spec.version, spec.yank_reason)
    yank(client, tokens["evil"], "evil/hostile", "0.1.0", "bad <b>reason</b>")
    for _ in range(2 if download else 0):
        answer = client.get("/v1/cubes/acme/handbook/versions/1.1.0/envelope")
        assert answer.status_code == 200, answer.text
