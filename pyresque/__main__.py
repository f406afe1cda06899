"""``python -m pyresque``: the CLI."""

import sys

from pyresque.cli import main

sys.exit(main())
