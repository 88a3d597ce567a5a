"""The mutant zoo: deliberately broken implementations, each killed by the contract it names.

Every mutant has a docstring saying what is broken and a class attribute ``targets`` with the id of
the contract that must catch it. ``layers.py`` holds layer-level and Sequential-level mutants.
"""
