"""``python -m harness.bench``: see ``harness.bench.cli``."""
from harness.bench.cli import main

raise SystemExit(main())
