"""Checkers for the notebooks' exercises: each says what is wrong, not just that something is.

One module per notebook (``nb01``, ``nb03``, ...). A checker raises ``AssertionError`` with a
message a learner can act on, and prints a one-line confirmation when the answer is right.
"""
