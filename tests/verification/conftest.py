"""Tiny random models for the verification tests, built from configs and saved to a folder."""

from __future__ import annotations

import json
import string

import pytest


def clip_tokenizer(folder):
    from transformers import CLIPTokenizer

    tokens = ["<|startoftext|>", "<|endoftext|>", "!", "!</w>", "-", "-</w>"]
    tokens += list(string.ascii_lowercase) + [c + "</w>" for c in string.ascii_lowercase]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=64, pad_token="!"), len(tokens)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = tmp_path_factory.mktemp("clip")
    tokenizer, vocab = clip_tokenizer(folder)
    import torch

    torch.manual_seed(0)
    config = CLIPConfig(text_config={"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                         "num_attention_heads": 4, "max_position_embeddings": 64, "bos_token_id": 0,
                                         "eos_token_id": 1, "pad_token_id": 2},
                        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                           "num_attention_heads": 4, "image_size": 32, "patch_size": 8}, projection_dim=32)
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(folder)
    return folder


