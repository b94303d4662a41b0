"""The course around the notebooks: setup, paths, versions, results, timing and figures.

* :mod:`lorakit.course.bootstrap`: what the Setup cell installs on Colab and Kaggle (standard library only).
* :mod:`lorakit.course.paths`: the repository's folders (data, results, the shipped model).
* :mod:`lorakit.course.env`: library versions for the version cell.
* :mod:`lorakit.course.results`: each notebook's headline numbers.
* :mod:`lorakit.course.readme`: README.md's notebook table, one column filled at a time.
* :mod:`lorakit.course.timing`: wall-clock medians for every speed number.
* :mod:`lorakit.course.plots`: the figures, one module per topic.
"""
