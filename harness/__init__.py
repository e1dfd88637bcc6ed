"""Experiment harness: pixel scalings x output heads x model families."""
