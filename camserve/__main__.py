"""``python -m camserve``: the same as the ``camserve`` command."""

import sys

from camserve.cli import main

sys.exit(main())
