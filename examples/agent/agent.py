"""A small agent loop: a local transformers model answers with memory it reaches over MCP.

For each question the agent asks the memory server (`memos mcp`, started as a subprocess
through the MCP SDK's stdio client) for `plan_context`, puts the returned context in its prompt,
generates an answer, and remembers the exchange with `add_messages`.

    python examples/agent/agent.py --model PATH/TO/MODEL "What is my cat called?"
    python examples/agent/agent.py --model PATH --remember "Luna is my cat." "Who is Luna?"

--model is a local Hugging Face causal LM directory (any size: the test uses a tiny one with
random weights, which wires everything up and answers nonsense). --trace FILE writes what the
agent did (tools called, prompts, answers) as JSON. MEMOS_HOME chooses the memory store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

SYSTEM = "You are a helpful assistant. Use the memories below when they answer the question."


def build_prompt(context: str, question: str) -> str:
    """The prompt: instructions, the planned memories, the question."""
    memories = context or "(no relevant memories)"
    return f"{SYSTEM}\n\nMemories:\n{memories}\n\nQuestion: {question}\nAnswer:"


class LocalModel:
    """A causal LM from a local directory, greedy decoding."""

    def __init__(self, path: Path, max_new_tokens: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path)
        self.model.eval()
        self.max_new_tokens = max_new_tokens

    def generate(self, prompt: str) -> str:
        """The model's continuation of ``prompt``."""
        inputs = self.tokenizer(prompt, return_tensors="pt")
        with self.torch.no_grad():
            output = self.model.generate(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or 0,
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new_tokens, skip_special_tokens=True)).strip()


async def call(client: Client, trace: list[dict[str, Any]], tool: str, **arguments: Any) -> Any:
    """Call an MCP tool, record it, fail loudly on a tool error."""
    result = await client.call_tool(tool, arguments)
    trace.append({"tool": tool, "arguments": arguments, "is_error": result.is_error})
    if result.is_error:
        text = " ".join(getattr(part, "text", "") for part in result.content)
        raise SystemExit(f"error: {tool} failed: {text}")
    return result.structured_content


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Answer every question; return the trace."""
    model = LocalModel(args.model, args.max_new_tokens)
    # The SDK passes the server only a few variables by default: hand on MEMOS_HOME and the rest.
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "memos_client", "mcp"], env=dict(os.environ)
    )
    trace: list[dict[str, Any]] = []
    async with Client(server, read_timeout_seconds=120) as client:
        for fact in args.remember:
            await call(client, trace, "add_memory", text=fact, cube=args.cube)
        for question in args.questions:
            plan = await call(
                client, trace, "plan_context", query=question, budget_tokens=args.budget
            )
            prompt = build_prompt(plan["context"], question)
            answer = model.generate(prompt)
            trace.append({"question": question, "prompt": prompt, "answer": answer})
            print(f"Q: {question}\nA: {answer}\n")  # noqa: T201  (the example talks to its user)
            await call(
                client,
                trace,
                "add_messages",
                messages=[
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer or "(no answer)"},
                ],
                cube=args.cube,
            )
    return trace


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="+", help="Questions to answer.")
    parser.add_argument("--model", type=Path, required=True, help="A local causal LM directory.")
    parser.add_argument("--remember", action="append", default=[], help="A fact to add first.")
    parser.add_argument("--cube", default="local/agent", help="Where the agent remembers.")
    parser.add_argument("--budget", type=int, default=256, help="Prompt tokens for memories.")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--trace", type=Path, help="Write what happened here (JSON).")
    args = parser.parse_args()
    trace = asyncio.run(run(args))
    if args.trace is not None:
        args.trace.write_text(json.dumps(trace, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
