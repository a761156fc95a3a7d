"""The owner's edits as the fix page sends them: what is accepted, and everything that is refused whole."""

from __future__ import annotations

import json

import pytest

from picr.pages.edits import DEFAULT_LIMITS, EditRefused, Stroke, Tap, edits_to_json, parse_edits

SIZE = (2000, 1500)


def test_a_tap_and_strokes_read_back_as_they_were_sent():
    raw = [{"tap": [1000, 700]}, {"keep": [[10, 20], [30.6, 40]], "r": 12.4}, {"remove": [[1999, 1499]], "r": 2}]
    edits = parse_edits(raw, SIZE)
    assert edits == [Tap(1000, 700), Stroke("keep", ((10, 20), (30, 40)), 12), Stroke("remove", ((1999, 1499),), 2)]
    assert parse_edits(json.loads(json.dumps(edits_to_json(edits))), SIZE) == edits
    assert parse_edits([], SIZE) == []


def _stroke(points, radius=10, mode="keep"):
    return {mode: points, "r": radius}


OUT_OF_BOUNDS = {
    "not a list": {"tap": [1, 1]},
    "tap right of the photo": [{"tap": [2000, 10]}],
    "tap below the photo": [{"tap": [10, 1500]}],
    "negative coordinate": [_stroke([[10, 10], [-1, 10]])],
    "not a number": [{"tap": ["10", 10]}],
    "a boolean is not a number": [{"tap": [True, 10]}],
    "infinite": [{"tap": [float("inf"), 10]}],
    "not a pair": [{"tap": [10, 10, 10]}],
    "unknown edit": [{"paint": [[1, 1]], "r": 5}],
    "two modes in one stroke": [{"keep": [[1, 1]], "remove": [[1, 1]], "r": 5}],
    "extra field": [{"tap": [1, 1], "r": 4}],
    "no points": [_stroke([])],
    "too many points in a stroke": [_stroke([[i % 2000, 5] for i in range(DEFAULT_LIMITS.max_points_per_stroke + 1)])],
    "too many points in all": [_stroke([[i % 50, 5] for i in range(250)]) for _ in range(9)],
    "too many edits": [{"tap": [1, 1]}] * 3 + [_stroke([[1, 1]])] * (DEFAULT_LIMITS.max_edits - 2),
    "too many taps": [{"tap": [1, 1]}] * (DEFAULT_LIMITS.max_taps + 1),
    "stroke too long": [_stroke([[0, 0], [1999, 0]] * 3 + [[0, 0]])],
    "radius too small": [_stroke([[1, 1]], radius=1)],
    "radius too large": [_stroke([[1, 1]], radius=201)],
    "radius not a number": [_stroke([[1, 1]], radius="5")],
}


@pytest.mark.parametrize("case", sorted(OUT_OF_BOUNDS))
def test_edits_out_of_bounds_are_refused_whole(case):
    with pytest.raises(EditRefused):
        parse_edits(OUT_OF_BOUNDS[case], SIZE)


def test_the_limits_themselves_are_accepted():
    longest = [[0, 0], [1999, 0], [0, 0], [1999, 0], [1000, 0]]   # 4 long edges minus a little
    assert parse_edits([_stroke(longest, radius=200)], SIZE)[0].radius == 200
    full = [_stroke([[i % 2000, 5] for i in range(DEFAULT_LIMITS.max_points_per_stroke)])] * 8
    assert len(parse_edits(full, SIZE)) == 8
    assert len(parse_edits([{"tap": [0, 0]}] * DEFAULT_LIMITS.max_taps, SIZE)) == DEFAULT_LIMITS.max_taps
