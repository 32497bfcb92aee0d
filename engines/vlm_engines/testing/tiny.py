"""Tiny randomly initialised image-text-to-text checkpoints, built offline in about a second.

`build(family, out_dir)` writes a folder that loads back with AutoModelForImageTextToText and
AutoProcessor (or, for Qwen2-VL, whose processor needs torchvision, AutoImageProcessor + AutoTokenizer)
from the local directory only. The weights are random (`torch.manual_seed(0)`): the output is noise, but
every code path (chat template, image placeholders, vision tower, generate) is the real one.

    python -m vlm_engines.testing.tiny llava /tmp/tiny_llava
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

FAMILIES = ("llava", "idefics3", "qwen2_vl", "qwen2_5_vl", "smolvlm")

CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Per family: (extra added tokens, what the chat template writes for one image).
_IDEFICS3_TILES = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
SPECIALS = {
    "llava": (["<image>"], "<image>"),
    "idefics3": (["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *_IDEFICS3_TILES],
                 "<image>"),
    "qwen2_vl": (["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
                 "<|vision_start|><|image_pad|><|vision_end|>"),
}
SPECIALS["qwen2_5_vl"] = SPECIALS["qwen2_vl"]
SPECIALS["smolvlm"] = SPECIALS["idefics3"]
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=4096)

_WORDS = ("invoice total amount due date vendor customer address street city item quantity price tax "
          "subtotal number paid unpaid currency page document table line description name phone email "
          "the a of and to is for with on from by this that").split()


def _corpus(n: int = 400) -> list[str]:
    """English-ish lines plus JSON: every byte of `{}[]":,.-0-9` and common keys get merged tokens."""
    rng = random.Random(0)
    lines = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12)))
        lines.append(words.capitalize() + ".")
        obj = {rng.choice(_WORDS): rng.choice([rng.randint(0, 9999), round(rng.uniform(-100, 100), 2),
                                                rng.choice(_WORDS), None, True, [1, 2, 3]])
               for _ in range(rng.randint(1, 4))}
        lines.append(json.dumps(obj, separators=(",", ":") if i % 2 else (", ", ": ")))
    return lines


def chat_template(image_placeholder: str) -> str:
    """ChatML; a content list may hold {"type": "image"} parts, written as the family's placeholder."""
    return (
        "{%- for message in messages -%}"
        "{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{%- if message['content'] is string -%}{{ message['content'] }}"
        "{%- else -%}{%- for part in message['content'] -%}"
        "{%- if part['type'] == 'image' -%}{{ '" + image_placeholder + "' }}"
        "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
        "{{ '<|im_end|>\\n' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
    )


def tokenizer(family: str):
    """Byte-level BPE (~700 tokens) with ChatML and the family's special tokens as added tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    extra, placeholder = SPECIALS[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=640, special_tokens=CHATML + extra, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None)
    fast.add_special_tokens({"additional_special_tokens": extra})
    fast.chat_template = chat_template(placeholder)
    return fast


def _llava(tok, out: Path):
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, projection_dim=32)
    image_id = tok.convert_tokens_to_ids("<image>")
    config = LlavaConfig(vision_config=vision, text_config=LlamaConfig(vocab_size=len(tok), **TEXT),
                         image_token_index=image_id, image_seq_length=16, vision_feature_layer=-1)
    model = LlavaForConditionalGeneration(config)
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    # 32 px / patch 8 = 16 patches + CLS (the additional token), which "default" drops: 16 <image> per image.
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=8,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=tok.chat_template)
    return model, processor


def _idefics3(tok, out: Path):
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        Idefics3VisionConfig,
        LlamaConfig,
    )

    vision = Idefics3VisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=2)
    config = Idefics3Config(vision_config=vision, text_config=LlamaConfig(vocab_size=len(tok), **TEXT),
                            image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2)
    model = Idefics3ForConditionalGeneration(config)
    # Longest edge 64 split into 32 px tiles (at most 2x2) plus the global image, like SmolVLM at toy scale.
    images = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32})
    # (32 / 8)^2 patches / scale_factor^2 = 4 <image> tokens per tile.
    processor = Idefics3Processor(image_processor=images, tokenizer=tok, image_seq_len=4,
                                  chat_template=tok.chat_template)
    return model, processor


def _qwen(tok, out: Path, v25: bool):
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS["qwen2_vl"][0]}
    text = dict(TEXT, vocab_size=len(tok), bos_token_id=None, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                                "mrope_section": [2, 3, 3]})  # head_dim 16 / 2
    vision = dict(depth=2, hidden_size=64, num_heads=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    if v25:  # window attention in block 0, full attention in block 1
        vision.update(hidden_size=32, out_hidden_size=64, intermediate_size=64, fullatt_block_indexes=[1],
                      window_size=56)
    else:
        vision.update(embed_dim=32)
    config_cls, model_cls = ((Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration) if v25
                             else (Qwen2VLConfig, Qwen2VLForConditionalGeneration))
    config = config_cls(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                        vision_end_token_id=ids["<|vision_end|>"])
    model = model_cls(config)
    # At most 112x112 px = 8x8 patches of 14 px, merged 2x2: up to 16 <|image_pad|> per image.
    images = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=112 * 112, patch_size=14, merge_size=2)
    # Qwen2VLProcessor needs torchvision (its video processor): save the parts instead.
    return model, (images, tok)


def _smolvlm(tok, out: Path):
    from transformers import (
        LlamaConfig,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessorPil,
        SmolVLMVisionConfig,
    )

    vision = SmolVLMVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=2)
    config = SmolVLMConfig(vision_config=vision, text_config=LlamaConfig(vocab_size=len(tok), **TEXT),
                           image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2)
    model = SmolVLMForConditionalGeneration(config)
    images = SmolVLMImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32})
    # SmolVLMProcessor needs torchvision (video) and num2words: write what it would have saved by hand.
    (out / "processor_config.json").write_text(json.dumps({"processor_class": "SmolVLMProcessor",
                                                           "image_seq_len": 4}))
    return model, (images, tok)


def build(family: str, out_dir: Path) -> Path:
    """Write a tiny random `family` checkpoint to out_dir (created) and return it."""
    import torch

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    tok = tokenizer(family)
    builders = {"llava": _llava, "idefics3": _idefics3, "qwen2_vl": lambda t, o: _qwen(t, o, False),
                "qwen2_5_vl": lambda t, o: _qwen(t, o, True), "smolvlm": _smolvlm}
    model, processor = builders[family](tok, out)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    for part in processor if isinstance(processor, tuple) else (processor,):
        part.save_pretrained(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python -m vlm_engines.testing.tiny {{{'|'.join(FAMILIES)}}} OUT_DIR")
    print(build(sys.argv[1], Path(sys.argv[2])))
