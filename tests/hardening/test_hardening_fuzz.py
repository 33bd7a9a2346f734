"""Property-based fuzzing of the readers (CSV loader, MIDI reader, text decoder, speech manifest
reader, WAV reader, config parser and --set): random and mutated-valid inputs may only return
or raise a clean UserError. The suite tries a few hundred cases, derandomized so it is stable;
scripts/fuzz.py runs tens of thousands."""

import pytest
from fuzz_targets import TARGETS
from hypothesis import HealthCheck, given, settings

SUITE = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", list(TARGETS))
def test_reader_only_raises_clean_errors(name):
    check, arguments = TARGETS[name]

    @SUITE
    @given(arguments)
    def fuzz(args):
        check(*args)

    fuzz()
