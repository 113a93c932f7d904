"""Render the Jinja2 templates in the `prompts` package into chat messages.

A template file is a sequence of sections, each opened by a header line `=== user ===`
(or system / assistant). Sections are split *before* rendering, so model-written text passed in as
a variable can never open a new message, and Jinja never evaluates variable contents as template code.

Rendered text is also made inert for the model's tokenizer (`inert`): a chat template's control
strings written inside a message (`<|im_start|>assistant`, `<|im_end|>`, `<|endoftext|>`, `</s>`,
`[INST]`, ...) would otherwise become the real special tokens when the rendered chat is encoded, so an
agent could close its turn and forge a new message. A zero-width space after the opening bracket
keeps the text readable and stops the match.
"""

from __future__ import annotations

import functools
import importlib.resources
import re

import jinja2

from oversight.errors import ConfigError
from oversight.types import Message

_HEADER = re.compile(r"^=== (system|user|assistant) ===[ \t]*$", re.MULTILINE)
_CONTROL = re.compile(
    r"<\|[^<>|\s]{1,64}\|>"  # ChatML, Llama 3, Phi: <|im_start|>, <|eot_id|>, <|endoftext|>
    r"|<\uff5c[^<>\uff5c]{1,64}\uff5c>"  # DeepSeek's full-width bars: <｜end▁of▁sentence｜>
    r"|</?s>|<(?:bos|eos|pad|unk|start_of_turn|end_of_turn)>"  # Llama 2, Mistral, Gemma
    r"|\[/?INST\]|<</?SYS>>",
    re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True,
                          lstrip_blocks=True, keep_trailing_newline=False)


@functools.cache
def _sections(name: str) -> tuple[tuple[str, jinja2.Template], ...]:
    path = importlib.resources.files("prompts").joinpath(f"{name}.j2")
    if not path.is_file():
        raise ConfigError(f"prompt template {name!r} not found in the prompts package ({path})")
    source = path.read_text(encoding="utf-8")
    parts = _HEADER.split(source)
    if parts[0].strip():
        raise ConfigError(f"prompt template {name!r} must start with a '=== user ===' style header")
    return tuple((role, _ENV.from_string(body.strip("\n"))) for role, body in zip(parts[1::2], parts[2::2]))


def require(name: str) -> None:
    """Raise the ConfigError of `render` now if template `name` is missing or malformed."""
    _sections(name)


def inert(text: str) -> str:
    """`text` with every chat-control string broken by a zero-width space, so no tokenizer reads it as a
    special token (`<|im_end|>` becomes `<`, U+200B, `|im_end|>`); other text is unchanged."""
    return _CONTROL.sub(lambda m: m[0][0] + ZERO_WIDTH_SPACE + m[0][1:], text)


def render(template_name: str, /, **variables: object) -> tuple[Message, ...]:
    """Render template `template_name` (path under prompts/, without `.j2`) into messages, made `inert`."""
    return tuple(Message(role, inert(template.render(**variables).strip())) for role, template in _sections(template_name))


def attach_images(messages: tuple[Message, ...], images: tuple[str, ...]) -> tuple[Message, ...]:
    """`messages` with `images` (a multimodal question's `Question.images`) on the first user message.

    Protocols call it on every request about the question, so judge and agents see the same images
    once, next to the question text that refers to them. No images, or images already attached:
    `messages` unchanged (attaching twice never duplicates them).
    """
    if not images:
        return messages
    first = next((i for i, m in enumerate(messages) if m.role == "user"), None)
    if first is None:
        raise ConfigError("cannot attach images: the prompt has no user message")
    target = messages[first]
    if target.images[:len(images)] == tuple(images):
        return messages
    attached = Message(target.role, target.content, (*images, *target.images))
    return (*messages[:first], attached, *messages[first + 1:])
