"""The duty officer's web console (``node console``, or the daemon's ``[console]``).

Owns the officer accounts' hashing, sessions (rules; rows in the node's store), CSRF, login
throttling, roles and their rights, the bind policy, the inbox board (pure ordering and
deadlines), the PDF export (fpdf2, with its font choice), the statistics charts (SVG) and
the aiohttp application with its Jinja2 templates and static files. It calls the same
store and exchange functions as the CLI: no second business logic. It may import
``keys``, ``node.storage``, ``node.exchange``, ``node.trust``, ``node.evidence``,
``node.reports``, ``node.forms``, ``node.errors``, ``node.config``, ``aiohttp.web``,
``jinja2``, ``aiohttp_jinja2`` and ``fpdf``; never ``node.cli`` or ``node.daemon`` (which
compose it).
"""
