import sys

from keys.cli.main import main

sys.exit(main())
