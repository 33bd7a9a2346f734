"""Core's shared rule for held-out splits (music's test_fraction and nlp's split use it)."""

from rnnsuite.core import held_out_fraction


def test_held_out_fraction_follows_the_user_then_the_separate_validation_set():
    assert held_out_fraction(0.2, 0.1, separate_valid=True) == 0.2    # asked for: kept
    assert held_out_fraction(0.0, 0.1, separate_valid=False) == 0.0
    assert held_out_fraction(-1, 0.1, separate_valid=False) == 0.1    # auto: the default
    assert held_out_fraction(-1, 0.1, separate_valid=True) == 0.0     # auto with --valid: none
