"""What the service asks a vision-language model: instructions built from the domain's JSON schema (its
field names and descriptions) and the caller's prompt, and, for models whose backend takes a finished
prompt (Triton's vLLM backend), that prompt rendered with the checkpoint's own chat template."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_FIELDS = 120  # listed fields; the rest is in the schema the decoder follows anyway


def instructions(domain: str, schema: dict[str, Any] | None, caller_prompt: str, kind: str, pages: int) -> str:
    """The instruction text for one request. `kind` is "image" or "document"; `schema` None means free
    text (document.markdown), answered page by page."""
    what = f"this {kind}" if pages <= 1 else f"these {pages} pages of one {kind}"
    if schema is None:
        text = (f"Convert {what} to Markdown: keep the reading order, turn titles into headings and tables "
                "into Markdown tables. Answer with the Markdown only.")
    else:
        described = schema.get("description") or schema.get("title") or domain
        lines = [f"Extract {described.strip().rstrip('.')} from {what} (domain {domain}).",
                 "Answer with one JSON object that follows the JSON schema you are constrained to. "
                 "Use null for a value that is not in the document; never guess.", "Fields:"]
        lines += [f"- {path}: {desc}" if desc else f"- {path}" for path, desc in fields(schema)][:MAX_FIELDS]
        text = "\n".join(lines)
    if caller_prompt:
        text += "\n\n" + caller_prompt.strip()
    return text


def fields(schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """(dotted field path, description) of every property, following $refs into $defs, to depth 3."""
    defs = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        for _ in range(8):
            ref = node.get("$ref", "")
            if not ref.startswith("#/$defs/"):
                break
            node = {**defs.get(ref.rsplit("/", 1)[1], {}), **{k: v for k, v in node.items() if k != "$ref"}}
        variants = [v for v in node.get("anyOf", []) if v.get("type") != "null"]
        return resolve(variants[0]) if len(variants) == 1 and "properties" not in node else node

    def walk(node: dict[str, Any], path: str, level: int, out: list[tuple[str, str]]) -> None:
        node = resolve(node)
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]", level, out)
            return
        for name, prop in (node.get("properties") or {}).items():
            full = f"{path}.{name}" if path else name
            out.append((full, (prop.get("description") or resolve(prop).get("description") or "").strip()))
            if level < 3:
                walk(prop, full, level + 1, out)

    out: list[tuple[str, str]] = []
    walk(schema, prefix, depth, out)
    return out


@dataclass(frozen=True)
class ChatTemplate:
    """A checkpoint's chat template (jinja, as transformers renders it) and its special tokens."""

    source: str
    tokens: dict[str, str]

    @classmethod
    def load(cls, directory: str) -> ChatTemplate | None:
        if not directory:
            return None
        root = Path(directory)
        template = ""
        if (root / "chat_template.jinja").is_file():
            template = (root / "chat_template.jinja").read_text()
        for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
            if template or not (root / name).is_file():
                continue
            value = json.loads((root / name).read_text()).get("chat_template")
            template = value if isinstance(value, str) else ""
        if not template:
            raise ValueError(f"{directory} has no chat template (chat_template.jinja or tokenizer_config.json)")
        tokens: dict[str, str] = {}
        if (root / "tokenizer_config.json").is_file():
            config = json.loads((root / "tokenizer_config.json").read_text())
            for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
                value = config.get(key)
                value = value.get("content") if isinstance(value, dict) else value
                if isinstance(value, str):
                    tokens[key] = value
        return cls(template, tokens)

    def render(self, text: str, images: int) -> str:
        """One user turn with `images` image placeholders before the text, ready for the assistant's answer."""
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.filters["tojson"] = lambda value, **kw: json.dumps(value, ensure_ascii=False, **kw)
        content = [{"type": "image"} for _ in range(images)] + [{"type": "text", "text": text}]
        messages = [{"role": "user", "content": content}]
        return env.from_string(self.source).render(messages=messages, add_generation_prompt=True, **self.tokens)


def _raise(message: str) -> None:
    raise ValueError(f"chat template: {message}")
