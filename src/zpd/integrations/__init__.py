"""Thin shims that connect a zpd curriculum to the trainers people already run.

One module per host, each imported on its own so that only that host needs to be installed:

* ``zpd.integrations.torch`` — ``CurriculumSampler``, a ``torch.utils.data.Sampler`` for any loop;
* ``zpd.integrations.trl`` — ``ZPDGRPOTrainer``, TRL's ``GRPOTrainer`` on a curriculum;
* ``zpd.integrations.verl`` — ``ZPDCurriculumSampler`` for verl 0.7.x (``data.sampler``);
* ``zpd.integrations.ray`` — the curriculum as a named Ray actor shared by rollout workers;
* ``zpd.integrations.toy`` — a toy verifiable task and a tiny local model for examples and tests.

This package imports no host at import time; see docs/integrations.md.
"""
