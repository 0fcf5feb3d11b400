"""Experiments that reproduce the roadmap's trade-offs: ``hld lab NAME``.

Each module here is one experiment (see ``hld.runtime.commands`` for the contract).
"""
