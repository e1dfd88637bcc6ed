"""A sweep's records -> its report: cells and their statistics, paired differences, steps to
quality, tables, figures, curves, the montage and the README. ``python -m harness.report``."""
