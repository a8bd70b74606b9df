"""``python -m relay``: the relay command."""

import sys

from relay.cli.main import main

sys.exit(main())
