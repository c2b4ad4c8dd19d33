"""Fuzzing the request path: raw bytes → WSGI environ → the WSGI door.

``python -m fuzz --seconds N`` runs atheris (libFuzzer, coverage-guided) when it is installed
(``pip install atheris``), else the built-in coverage-guided mutation fuzzer of
:mod:`fuzz.builtin`. Seeds are the requests of ``tests/corpus``. Inputs that break an
invariant (see :mod:`fuzz.target`) are written to ``--artifacts`` and the exit status is 1.
"""
