"""Fault injection against real relay processes (issue 13): the database stopped and
started under load, the disk full, a process killed. Each test prints one summary line
(``FAULT-SUMMARY ...``) that docs/reliability.md quotes."""
