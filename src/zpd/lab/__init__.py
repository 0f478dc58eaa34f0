"""The lab: zpd's embedded default experiment, small enough to run on a laptop CPU.

Read it top to bottom like nanoGPT:

1. ``tasks``     synthetic digit-string tasks with checkable answers and difficulty knobs
                 (op, output format, digits, carries), verifiers and shortcut checks;
2. ``tokenizer`` a char-level tokenizer that Hugging Face loads as ``PreTrainedTokenizerFast``;
3. ``model``     a tiny GPT (Hugging Face GPT-2 layout) with batched KV-cache sampling;
4. ``pretrain``  the base model on a configurable base distribution (with label noise);
5. ``rl``        GRPO whose prompts a ``zpd.Curriculum`` picks;
6. ``experiments`` / ``report`` / ``demo``: policies compared on one pool, one HTML report.

What it is not: a training framework. It uses the core only through ``import zpd`` and keeps each
step readable rather than general. Submodules import torch; ``import zpd.lab`` alone does not.
"""
