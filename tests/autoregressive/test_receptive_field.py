"""Receptive fields: set propagation agrees with autograd; SPEC §4's four answers; blind spot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepgen.autoregressive.masks import precedes
from deepgen.autoregressive.receptive_field import (
    analytic_field,
    autograd_field,
    parse_masks,
    receptive_field,
)
from deepgen.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "masks_and_receptive_fields.md"
SPEC_COMBOS = [["A", "A"], ["A", "B"], ["B", "A"], ["B", "B"]]


@pytest.mark.parametrize("masks", SPEC_COMBOS, ids=lambda m: "/".join(m))
def test_spec_four_combinations_analytic_equals_autograd(masks: list[str]) -> None:
    # SPEC §4: two 3×3 layers, padding 1, 5×5 map, output pixel (row 3, column 4), seed masks.
    rf = receptive_field(5, 5, (3, 4), masks, 3, "seed")
    for seed in range(3):
        assert autograd_field(5, 5, (3, 4), masks, 3, "seed", seed=seed) == rf.field
    # every field pixel comes before 34 in the seed order (rows below, or left in row 3)
    assert rf.violations == []
    assert all(p[0] > 3 or (p[0] == 3 and p[1] <= 4) for p in rf.field)
    # the pixel itself is read only when no layer hides the centre
    assert rf.includes_self == (masks == ["B", "B"])


def test_first_layer_a_excludes_the_pixel_itself_and_so_does_a_last_layer_a() -> None:
    fields = {"/".join(m): receptive_field(5, 5, (3, 4), m) for m in SPEC_COMBOS}
    assert not fields["A/A"].includes_self and not fields["A/B"].includes_self
    # B/A also excludes it: the A layer's outputs read strictly earlier positions only, and a
    # B layer before it cannot bring the centre back (see the docs note).
    assert not fields["B/A"].includes_self
    assert fields["B/B"].includes_self
    # A/A misses 33 (needs the centre offset twice in a row) and 45; the others cover the window
    assert fields["A/A"].to_dict()["blind_spot"] == ["33", "45"]
    assert fields["A/B"].field == fields["B/A"].field
    assert fields["B/B"].field == fields["A/B"].field | {(3, 4)}


@given(
    masks=st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=3),
    k=st.sampled_from([1, 3, 5]),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    data=st.data(),
    conv=st.sampled_from(["seed", "pixelcnn"]),
    gated=st.booleans(),
)
def test_analytic_field_equals_autograd_field(
    masks: list[str], k: int, h: int, w: int, data: st.DataObject, conv: str, gated: bool
) -> None:
    pixel = (data.draw(st.integers(1, h)), data.draw(st.integers(1, w)))
    rf = receptive_field(h, w, pixel, masks, k, conv, gated)
    assert autograd_field(h, w, pixel, masks, k, conv, gated) == rf.field
    assert rf.violations == []  # nothing later than the pixel is ever read
    if gated:  # the horizontal stack's residual carries the centre once the first layer has it
        assert rf.includes_self == (masks[0] == "B")
    else:
        assert rf.includes_self == all(m == "B" for m in masks)


@pytest.mark.parametrize("conv", ["seed", "pixelcnn"])
def test_gated_stacks_have_no_blind_spot_plain_stacks_do(conv: str) -> None:
    masks = ["A", "B", "B"]
    plain_blind = set()
    for r in range(1, 8):
        for c in range(1, 8):
            gated = receptive_field(7, 7, (r, c), masks, 3, conv, gated=True)
            assert gated.blind_spot == []
            plain = receptive_field(7, 7, (r, c), masks, 3, conv)
            assert set(plain.field) <= set(gated.field)
            plain_blind |= set(plain.blind_spot)
    assert plain_blind  # somewhere the plain stack misses a pixel within its reach


def test_plain_pixelcnn_blind_spot_is_up_and_to_the_right() -> None:
    # Two 3×3 layers, raster order: the row above is seen at columns c-2 .. c+1 only, so the
    # pixel two columns to the right in the row above is the blind spot (by hand and autograd).
    rf = receptive_field(7, 7, (4, 4), ["A", "B"], 3, "pixelcnn")
    assert rf.blind_spot == [(3, 6)]
    assert (3, 6) not in autograd_field(7, 7, (4, 4), ["A", "B"], 3, "pixelcnn")
    assert (3, 5) in rf.field and (2, 6) in rf.field


def test_field_grows_to_every_preceding_pixel_for_deep_gated_stacks() -> None:
    rf = receptive_field(5, 5, (5, 5), ["A"] + ["B"] * 4, 3, "pixelcnn", gated=True)
    assert sorted(rf.field) == rf.preceding
    assert rf.preceding_missing == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pixel": (6, 1)}, r"pixel \(6, 1\) is outside the 5×5 image"),
        ({"pixel": (0, 3)}, "outside"),
        ({"masks": ["A", "C"]}, "unknown mask type 'C'"),
        ({"kernels": 4}, "odd"),
        ({"kernels": [3, 5, 3]}, "3 kernel sizes given for 2 layers"),
        ({"convention": "up"}, "unknown mask convention"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    args = {"height": 5, "width": 5, "pixel": (3, 4), "masks": ["A", "B"], "kernels": 3}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        analytic_field(**args)


def test_parse_masks() -> None:
    assert parse_masks("a, B,b") == ["A", "B", "B"]
    with pytest.raises(ConfigError, match="comma-separated"):
        parse_masks("A,,B")


def test_precedes_matches_the_field_direction() -> None:
    # one A layer reads exactly the offsets it calls "earlier": left and the row below (seed)
    rf = receptive_field(5, 5, (3, 3), ["A"], 3, "seed")
    assert sorted(rf.field) == [(3, 2), (4, 2), (4, 3), (4, 4)]
    assert all(precedes(p, (3, 3), "seed") for p in rf.field)


def _doc_grids() -> list[tuple[str, list[str], int, tuple[int, int], bool, str]]:
    """Every grid in the note, marked ``<!-- grid CONVENTION MASKS SIZE ROW,COL [gated] -->``."""
    text = DOC.read_text()
    found = []
    pattern = r"<!-- grid (\S+) (\S+) (\d+) (\d+),(\d+)( gated)? -->\n```text\n(.*?)```"
    for conv, masks, size, r, c, gated, body in re.findall(pattern, text, re.S):
        found.append(
            (conv, masks.split(","), int(size), (int(r), int(c)), bool(gated), body.rstrip("\n"))
        )
    return found


def test_docs_show_the_grids_this_code_computes() -> None:
    grids = _doc_grids()
    spec = {
        "/".join(m)
        for conv, m, n, p, g, _ in grids
        if (conv, n, p, g) == ("seed", 5, (3, 4), False)
    }
    assert spec == {"/".join(m) for m in SPEC_COMBOS}
    assert any(g for *_, g, _ in grids)  # the gated fix is shown too
    for conv, masks, n, pixel, gated, body in grids:
        rf = receptive_field(n, n, pixel, masks, 3, conv, gated)
        assert body == rf.grid(), (conv, masks, gated)
        assert autograd_field(n, n, pixel, masks, 3, conv, gated) == rf.field
