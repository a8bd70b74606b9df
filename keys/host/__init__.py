"""Where the pure core meets the machine: files, terminals, environment variables.

Owns private key files written atomically with mode 0600 (``files``), where a passphrase
comes from (``passphrase``) and what every PoCNet command shares: exit codes, error printing,
``--json`` output (``command``). May import the pure modules of :mod:`keys` and the standard
library's ``os``/``sys``/``getpass``; never :mod:`keys.cli`. The pure modules never import
this package.
"""
