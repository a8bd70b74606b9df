"""The umbrella command ``pocnet``: ``pocnet node send ...``, ``pocnet relay serve ...``,
``pocnet keys generate ...``.

Where Node.js is installed, its ``node`` and PoCNet's ``node`` clash on the ``PATH``;
``pocnet node ...`` is the unambiguous way to call the node's tool. This package owns only
the dispatch: it imports none of :mod:`keys`, :mod:`relay` or :mod:`node` statically (the
import-rule test holds it to that), and loads the chosen tool's own entry point by name,
so ``pocnet relay`` never loads the node's code and the other way round. It may import the
standard library only.
"""
