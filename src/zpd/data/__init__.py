"""Offline data tools: score, filter and select training data relative to a model.

Every ``zpd`` data command has an API twin here (imported lazily, so ``import zpd.data`` stays
cheap and torch is loaded only when a model is):

=============================  ===============================================================
``zpd score difficulty``       :func:`score_difficulty` — pass rate per item from k verified samples
``zpd score distance``         :func:`score_distance` — NLL/PPL of prompt and answer, IFD, r-IFD
``zpd filter refinements``     :func:`filter_refinements` — student-side filter of refined pairs
``zpd select``                 :func:`select` — EL2N / forgetting / LESS scores, keep a fraction
``zpd profile``                :func:`profile_results` + :func:`plot_profile` — competence per category
``zpd proxy``                  :func:`proxy_generate`, :class:`ProxyTuningLogitsProcessor`
=============================  ===============================================================

Warm-start a curriculum from a difficulty result: :func:`warm_start` /
:func:`curriculum_features`. Files: JSONL, Parquet or a ``datasets`` directory in; resumable
JSONL out (``zpd.data.io``). What this package is not: the online curriculum (``zpd.core``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataError": "errors", "RowError": "errors", "ResumeError": "errors",
    "FieldSpec": "io", "OnError": "io", "ResultLog": "io", "iter_items": "io",
    "read_results": "io",
    "RunConfig": "pipeline", "RunSummary": "pipeline", "run_file": "pipeline",
    "load_model": "model_io", "LoadedModel": "model_io",
    "DistanceConfig": "distance", "DistanceScorer": "distance", "score_distance": "distance",
    "SamplingConfig": "sampling", "Backend": "sampling",
    "DifficultyConfig": "difficulty", "DifficultyScorer": "difficulty",
    "score_difficulty": "difficulty", "pass_rate_interval": "difficulty", "pass_at_k": "difficulty",
    "load_difficulty": "difficulty", "curriculum_features": "difficulty", "warm_start": "difficulty",
    "load_verifier": "verify",
    "RefinementConfig": "refinements", "RefinementFields": "refinements",
    "RefinementFilter": "refinements", "filter_refinements": "refinements",
    "KeepStrategy": "selection", "keep_indices": "selection", "EL2NScorer": "selection",
    "ForgettingScorer": "selection", "ForgettingTracker": "selection",
    "forgetting_events": "selection",
    "LessConfig": "less", "LessCheckpoint": "less", "LessSelector": "less", "warmup": "less",
    "save_adam_state": "less",
    "SelectMethod": "subset", "TargetSpec": "subset", "select": "subset",
    "competence_profile": "profile", "profile_results": "profile", "plot_profile": "profile",
    "ProxyTuningLogitsProcessor": "proxy", "proxy_generate": "proxy",
    "RayConfig": "ray_backend",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'zpd.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"zpd.data.{module}"), name)
