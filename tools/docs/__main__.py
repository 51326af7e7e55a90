"""``python -m tools.docs``: rewrites docs/config.md and docs/api.md (see `tools.docs`)."""

import sys

from tools.docs import main

sys.exit(main())
