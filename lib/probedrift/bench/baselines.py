"""What ``probedrift.inputs.embed.extract`` is compared with: sentence-transformers and a one-text causal-LM loop."""

from __future__ import annotations

import numpy as np


def compare_embeddings(a: np.ndarray, b: np.ndarray) -> dict:
    """Max abs difference, the same relative to max |b|, and min / mean per-row cosine of a vs b."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
    diff = float(np.abs(a - b).max())
    return {
        "max_abs_diff": diff,
        "max_rel_diff": diff / max(float(np.abs(b).max()), 1e-300),
        "min_cosine": float(cos.min()),
        "mean_cosine": float(cos.mean()),
    }


def embeddings_agree(cmp: dict, dtype: str = "float32") -> bool:
    """Whether a :func:`compare_embeddings` result is a match: in float32 min cosine ≥ 0.9999 and max
    relative difference ≤ 1e-3; in bfloat16, whose rounding changes with the batch a text lands in,
    min cosine ≥ 0.99."""
    if dtype == "float32":
        return cmp["min_cosine"] >= 0.9999 and cmp["max_rel_diff"] <= 1e-3
    return cmp["min_cosine"] >= 0.99


def sentence_transformer(path: str, max_length: int, device: str = "cpu", dtype: str = "float32"):
    """sentence-transformers over the converted model at ``path``, plain mean pooling of raw text.

    The library's defaults for a causal LM are last-token pooling and, for chat models, a
    chat-template wrapper; both are replaced so that it computes what ``extract`` computes.
    """
    import torch  # heavy to import (seconds); only model work needs it
    from sentence_transformers import SentenceTransformer  # optional, benchmark only
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer  # optional, benchmark only

    tr = Transformer(
        path,
        modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        module_output_name="token_embeddings",
    )
    st = SentenceTransformer(modules=[tr, Pooling(tr.get_embedding_dimension(), pooling_mode="mean")], device=device)
    if dtype != "float32":
        st.to(getattr(torch, dtype))
    st.max_seq_length = max_length
    return st


def load_causal_lm(path: str, dtype: str = "float32", device: str = "cpu"):
    """The converted model at ``path`` with its LM head, in ``dtype`` on ``device``, in eval mode."""
    import torch  # heavy to import (seconds); only model work needs it
    from transformers import AutoModelForCausalLM  # heavy to import (seconds); only model work needs it

    return AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).to(device).eval()


def naive_embed(lm, tokenizer, texts: list[str], max_length: int, layers: tuple[int, ...],
                device: str = "cpu") -> dict[int, np.ndarray]:
    """One text at a time through the causal LM (LM head included), mean of the requested hidden states."""
    import torch  # heavy to import (seconds); only model work needs it

    out: dict[int, list] = {layer: [] for layer in layers}
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).to(device)
            hs = lm(**enc, output_hidden_states=True).hidden_states
            for layer in layers:
                out[layer].append(hs[layer][0].mean(0).float().cpu().numpy())
    return {layer: np.stack(v) for layer, v in out.items()}
