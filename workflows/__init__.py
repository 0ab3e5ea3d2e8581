"""Bundled workflow templates (YAML) and the template format's reference (`README.md`)."""

from pathlib import Path

BUNDLED_DIR = Path(__file__).parent


def bundled_templates() -> list[Path]:
    """The YAML templates shipped with Planflow, in name order."""
    return sorted(BUNDLED_DIR.glob("*.yaml"))
