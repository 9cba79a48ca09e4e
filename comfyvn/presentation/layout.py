"""Where characters stand: the named positions and the group auto-layout.

Every named position has one horizontal alignment (``xalign``: 0.0 = sprite at the left edge,
1.0 = at the right edge, as Ren'Py's ``xalign``). ``offscreen`` is on stage but not drawn (no xalign).

A character shown without a position is *auto-placed*. The auto-placed characters fill the slots
of the layout for the number of visible characters (explicitly placed ones included):

====  ==========================================================
1     center
2     left, right
3     far_left, center, far_right
4     far_left, center_left, center_right, far_right
5     far_left, left, center, right, far_right
====  ==========================================================

Each explicitly placed character first claims the free slot nearest its own xalign (ties: the
leftmost), in entry order; the auto-placed characters then take the remaining slots left to right,
in the order they entered the stage, so a newcomer always joins at the right and nobody swaps places.
Three use the outer slots rather than left/center/right: three sprites at 0.3/0.5/0.7 would
overlap by a third of their width.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_VISIBLE = 5

POSITIONS: dict[str, float | None] = {
    "far_left": 0.1,
    "left": 0.3,
    "center_left": 0.4,
    "center": 0.5,
    "center_right": 0.6,
    "right": 0.7,
    "far_right": 0.9,
    "offscreen": None,
}

LAYOUTS: dict[int, tuple[str, ...]] = {
    1: ("center",),
    2: ("left", "right"),
    3: ("far_left", "center", "far_right"),
    4: ("far_left", "center_left", "center_right", "far_right"),
    5: ("far_left", "left", "center", "right", "far_right"),
}


def place(visible: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """The position name of each visible character.

    ``visible`` lists ``(id, explicit position or None)`` in entry order, at most ``MAX_VISIBLE``
    of them and none ``offscreen``. Explicit positions are kept; the others get layout slots.
    """
    if not visible:
        return {}
    if len(visible) > MAX_VISIBLE:
        raise ValueError(f"at most {MAX_VISIBLE} visible characters can be laid out, got {len(visible)}")
    free = list(LAYOUTS[len(visible)])
    placed: dict[str, str] = {}
    for who, position in visible:
        if position is None:
            continue
        if position not in POSITIONS or POSITIONS[position] is None:
            raise ValueError(f"{position!r} is not a visible position")
        placed[who] = position
        want = POSITIONS[position]
        # distances rounded so that float noise never breaks a tie (0.5-0.3 vs 0.7-0.5)
        nearest = min(range(len(free)), key=lambda i: (round(abs(POSITIONS[free[i]] - want), 6), i))  # type: ignore[operator]
        free.pop(nearest)
    autos = [who for who, position in visible if position is None]
    for who, slot in zip(autos, free):  # free stays in left-to-right order
        placed[who] = slot
    return placed
