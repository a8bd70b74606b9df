"""``python -m pocnet``: the umbrella command."""

import sys

from pocnet.cli import main

sys.exit(main())
