"""The ``node`` subcommands, grouped by what the officer is doing."""
