"""Sans-IO building blocks.

Nothing in this package performs I/O, reads a clock or draws random numbers by itself:
time arrives as ``now`` (float seconds, monotonic) and randomness as an ``rng`` object
(anything with ``random()``, ``randrange()`` ...) passed by the caller. A test in
``tests/test_layers.py`` enforces it.
"""
