"""Activation memory (KV snapshots) and parameter memory (LoRA adapters) for a causal LM.

Modules, one job each:

- ``fingerprint``: the MIP model fingerprint of a local model directory (MIP-1 §7.2).
- ``model_adapter``: a transformers causal LM behind the :class:`CausalLM` protocol.
- ``prompt``: how memory text and a question become token ids (shared by every path).
- ``snapshot_file``: the on-disk activation format (safetensors) — write, open, validate.
- ``snapshots``: build, check (stale/foreign/too long), inject and combine snapshots.
- ``generation``: greedy generation over an injected or prefilled memory prefix, with TTFT.
- ``lora``: train, export, install and check LoRA adapters (parameter memory, MIP-1 §7.3).
- ``local_parts``: build snapshots/adapters for an installed cube or a source dir, register them.
- ``executor``: run a scheduler plan with a model (``memos generate``).
- ``lifecycle_policy``: promote hot memories to a snapshot, drop stale and idle snapshots.

Nothing here imports torch/transformers at package import time; the CLI stays fast.
"""
