"""Renderers: a diagnosis (``Diagnosis.to_dict()`` form) as a comment, text, rich blocks or a report.

They all take the plain dict, so they work the same on live flows, on ``flow.metadata`` read back
from a ``.flow`` file, and in the offline scanner.
"""
