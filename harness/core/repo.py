"""Where the repository's own files are: the checkout a result's code comes from, and the
configs every entry point composes."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = str(ROOT / "conf")
