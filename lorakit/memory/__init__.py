"""Memory: every byte rule of the course, estimated, measured and paged.

* :mod:`lorakit.memory.bits`: bits per parameter of each storage format (NF4, NF4 + double quantization, ...).
* :mod:`lorakit.memory.estimate`: the training footprint from a config alone (weights, gradients,
  optimizer states, activations), and the smallest GPU that holds it.
* :mod:`lorakit.memory.probe`: the same parts measured on a real model and optimizer.
* :mod:`lorakit.memory.paging`: what paged optimizers do under a memory spike.
"""
