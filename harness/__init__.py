"""Experiment harness: pixel scalings x output heads x model families.

Subpackages, in the order a run's data flows through them; each imports only from those
before it (``tests/test_layout.py`` checks it):

- ``core``: pixels (scalings, heads), settings, records, locks, histories: no torch;
- ``data``: image reading, the sources, the (seed, step) stream, seg and style data;
- ``metrics``: SWD, the digit ruler, VGG losses, segmentation metrics, sample grids;
- ``models``: networks one per file, the families (LightningModules) that train them;
- ``report``: a sweep's records -> tables, figures, curves, montage, README;
- ``run``: building and fitting one run, its books, console and TensorBoard; the entry point
  is ``harness.train``;
- ``bench``: the self-benchmark, which nothing above needs.
"""
from harness.run.resolvers import register

register()
