"""``python -m harness.report <sweep dir>``: see ``harness.report.cli``."""
from harness.report.cli import main

raise SystemExit(main())
