"""Figures the notebooks draw, one module per topic, so a notebook cell shows the idea in one call."""
