"""Weight variants: transformed copies of a model's weights with their own cache identity.

A variant (e.g. ``int8-dynamic``) names how to load the base weights (dtype, device) and the transform
applied to them; :func:`variant_identity` gives the transformed model its own identity, so its
embeddings are cached apart from the base model's.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass

from probedrift.core.errors import ProbedriftError, check_choice
from probedrift.inputs.models import LoadedModel, load


@dataclass(frozen=True)
class Variant:
    """A transformed copy of a model's weights with its own cache identity (e.g. int8 quantisation)."""

    name: str
    dtype: str  # the dtype the base weights are loaded in before the transform
    device: str  # where the transformed model runs
    transform: object  # LoadedModel -> LoadedModel
    doc: str = ""


def quantize_int8(model: LoadedModel) -> LoadedModel:
    """A copy of a float32 CPU model with every ``nn.Linear`` int8-quantised.

    ``torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)``: weights are stored
    as int8 (per-tensor scale), activations are quantised on the fly per batch, and the matmuls run
    in int8 on CPU. Everything else (embeddings, norms) stays float32 and is shared with the original
    rather than copied.
    """
    import torch  # optional heavy dependency: only building the variant needs it

    if model.dtype != torch.float32 or torch.device(model.device).type != "cpu":
        raise ProbedriftError(
            f"int8 dynamic quantisation needs the float32 model on CPU, got {model.dtype} on {model.device}",
            "load the model with dtype='float32', device='cpu'",
        )
    net = model.model
    # Sharing the non-Linear parameters (the 262k-row embedding of gemma above all) makes the copy
    # cheap; quantize_dynamic replaces the Linear modules and never writes to the others.
    memo = {id(t): t for m in net.modules() if not isinstance(m, torch.nn.Linear)
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))}
    net_copy = copy.deepcopy(net, memo)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        quantized = torch.ao.quantization.quantize_dynamic(net_copy, {torch.nn.Linear}, dtype=torch.qint8,
                                                           inplace=True)
    identity = variant_identity(model.identity, "int8-dynamic")
    return dataclasses.replace(model, model=quantized, spec=dataclasses.replace(model.spec, identity=identity),
                               variant="int8-dynamic")


#: Weight variants by name: how to load the base and transform it.
VARIANTS: dict[str, Variant] = {
    "int8-dynamic": Variant("int8-dynamic", "float32", "cpu", quantize_int8,
                            "int8 dynamic quantisation of every nn.Linear (torch.ao, CPU kernels)"),
}


def variant_identity(identity: str, variant: str) -> str:
    """A model identity with a weight variant's suffix (``+int8-dynamic-<quantisation engine>``)."""
    if not variant:
        return identity
    check_choice("model variant", variant, VARIANTS)
    if variant == "int8-dynamic":
        import torch  # heavy to import (seconds); only model work needs it

        return f"{identity}+int8-dynamic-{torch.backends.quantized.engine}"
    return f"{identity}+{variant}"


def load_variant(name: str, *, dtype: str = "auto", device: str = "auto", variant: str = "", **kw) -> LoadedModel:
    """:func:`load`, then the weight ``variant``'s transform (which fixes its own dtype and device)."""
    if not variant:
        return load(name, dtype=dtype, device=device, **kw)
    check_choice("model variant", variant, VARIANTS)
    v = VARIANTS[variant]
    return v.transform(load(name, dtype=v.dtype, device=v.device, **kw))
