"""Studies: the experiments the notebooks report, built on the methods (which never import these).

* :mod:`lorakit.studies.ablations`: notebook 02's LoRA ablations (rank, targets, alpha, steps, seeds).
* :mod:`lorakit.studies.qlora_vs_lora`: notebook 04's QLoRA-vs-LoRA comparison.
* :mod:`lorakit.studies.nf4_merge`: notebook 04's merges of a QLoRA adapter, and what survives re-quantizing to NF4.
* :mod:`lorakit.studies.estimate_heldout`: notebook 04's memory estimator on shapes it was not fitted to.
* :mod:`lorakit.studies.adapters`: notebook 05's task adapters: training, scoring, combining.
* :mod:`lorakit.studies.merge_sweep`: notebook 05's merge weights and densities chosen on validation.
* :mod:`lorakit.studies.two_task_merge`: notebook 05's two-task merges (task arithmetic, RegMean) and interference on each task's inputs.
* :mod:`lorakit.studies.qalora_compare`: notebook 06's QLoRA vs QA-LoRA on one model.
* :mod:`lorakit.studies.qalora_sweep`: notebook 06's sweep over bits and group sizes.
* :mod:`lorakit.studies.longlora`: notebook 07's LongLoRA variants (full attention, S²-Attn, LoRA+).
"""
