"""`python -m engine.locale extract|update|merge FILE…|compile|check`: see `maintain`."""

from __future__ import annotations

import sys

from engine.locale.maintain import main

sys.exit(main(sys.argv[1:]))
