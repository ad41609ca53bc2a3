"""The paper's headline numbers, in one place: every module that quotes, tests or compares against one
of them imports it from here.

Paper: Sahoo, Jain, Chaudhary and Chadha, "I Can't Believe It's Not Robust: Catastrophic Collapse of
Safety Classifiers under Embedding Drift", arXiv:2603.01297 (ICLR 2026 workshop ICBINB). "Abstract"
below is the arXiv abstract; "Table 1/2", "Fig. 2/3" are the paper's, as read by the third-party notes
the study relies on for everything beyond the abstract.
"""

from __future__ import annotations

__all__ = [
    "AUC_AT_SIGMA",
    "AUC_CLEAN",
    "CLIFF_DROP",
    "CLIFF_SIGMA_RANGE",
    "CONFIDENCE_DROP",
    "ECE_CLEAN",
    "ECE_DRIFTED",
    "HIGH_CONFIDENCE",
    "PAPER_WIDTHS",
    "SEPARABILITY_CHANGE",
    "SIGMA",
    "SIGMA_ANGLE_DEG",
    "SILENT_FAILURE_RATE",
    "SILENT_FAILURE_SHARE",
]

#: Abstract: "normalized perturbations of magnitude σ = 0.02 ... reduce classifier performance".
SIGMA = 0.02
#: Abstract: σ = 0.02 corresponds to "≈ 1° angular drift on the embedding sphere".
SIGMA_ANGLE_DEG = 1.0
#: Abstract: performance falls "from 85% to 50% ROC-AUC" at σ = 0.02 (clean AUC 0.85, drifted 0.50).
AUC_CLEAN = 0.85
AUC_AT_SIGMA = 0.50
#: The study's cliff criterion, an AUC fall of 20 points (not a paper figure): the abstract's "85% → 50%"
#: is a fall of 35 points; 20 points still ends above chance for any clean AUC ≥ 0.70.
CLIFF_DROP = 0.20
#: Fig. 2 (as summarised by third-party notes): the failure cliff lies between σ ≈ 0.01 and 0.028.
CLIFF_SIGMA_RANGE = (0.01, 0.028)
#: Abstract: "mean confidence only drops 14%" (0.85 → 0.73, Fig. 3).
CONFIDENCE_DROP = 0.14
#: Abstract: "72% of misclassifications occur with high confidence" (the silent-failure share).
SILENT_FAILURE_SHARE = 0.72
#: Fig. 3 (third-party notes): "silent failure rate" 38.4%, read as confident errors over all test texts.
SILENT_FAILURE_RATE = 0.384
#: Abstract / main table (third-party notes): ECE rises "from 1.2% to 22.6%" between σ = 0 and checkpoint 1.
ECE_CLEAN = 0.012
ECE_DRIFTED = 0.226
#: Widths at which the paper's per-dimension σ is read as an angle: the width the paper states (Table 1:
#: 896) and the hidden sizes of the Qwen3 models it names (public configs: Qwen3-0.6B 1,024, Qwen3-4B 2,560).
PAPER_WIDTHS = {"the paper's stated width": 896, "Qwen3-0.6B": 1024, "Qwen3-4B": 2560}
#: Table 1: "high confidence" is max-class probability ≥ τ = 0.8.
HIGH_CONFIDENCE = 0.8
#: Abstract: "instruction-tuned models exhibit 20% worse class separability than base models"
#: (Table 2: silhouette −19%, Fisher ratio −26%), as a relative change instruct vs base.
SEPARABILITY_CHANGE = -0.20
