"""The memory check before a run: estimate, the largest size that fits, --max-memory parsing."""

from __future__ import annotations

import pytest

from nst_ort.errors import NstError
from nst_ort.memory import (
    RUN_FIXED_BYTES,
    check_run_fits,
    estimate_run_bytes,
    largest_fitting_long_side,
    parse_size_bytes,
)


def test_estimate_grows_with_pixels_and_engine():
    assert estimate_run_bytes(16, 16) > RUN_FIXED_BYTES
    assert estimate_run_bytes(1024, 768) > estimate_run_bytes(512, 384)
    assert estimate_run_bytes(512, 384, "training") > estimate_run_bytes(512, 384, "portable")


@pytest.mark.parametrize("aspect", [4 / 3, 3 / 4, 1.0, 2.5])
def test_the_largest_fitting_size_fits_and_one_more_does_not(aspect):
    limit = 2 * 2**30
    side = largest_fitting_long_side(aspect, limit)
    width, height = (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
    assert estimate_run_bytes(width, height) <= limit * 1.01
    bigger = side + 40
    width, height = (bigger, round(bigger / aspect)) if aspect >= 1 else (round(bigger * aspect), bigger)
    assert estimate_run_bytes(width, height) > limit


def test_check_refuses_with_the_size_that_fits():
    with pytest.raises(NstError, match=r"a 6000x4500 run needs about \d+\.\d GB of memory, more than the 8.0 GB "
                                       r"allowed by --max-memory: --size \d+ fits \(or raise --max-memory\)"):
        check_run_fits(6000, 4500, "portable", 8 * 2**30)
    assert check_run_fits(256, 192, "portable", 8 * 2**30) == estimate_run_bytes(256, 192)


@pytest.mark.parametrize("text, value", [("2G", 2 * 2**30), ("800M", 800 * 2**20), ("1.5GB", int(1.5 * 2**30)),
                                         ("2GiB", 2 * 2**30), ("4096", 4096), ("64k", 64 * 2**10)])
def test_parse_size(text, value):
    assert parse_size_bytes(text) == value


@pytest.mark.parametrize("text", ["", "G", "two", "-1G", "0"])
def test_parse_size_refuses(text):
    with pytest.raises((ValueError, IndexError)):
        parse_size_bytes(text)
