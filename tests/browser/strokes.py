"""Digits drawn as mouse strokes, in canvas fractions (0..1 across, 0..1 down), and a drawing helper."""

from __future__ import annotations

import itertools
import math
from typing import Any

Point = tuple[float, float]


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 36) -> list[Point]:
    # Start at the top and go round once, a little past the start so the loop closes.
    return [
        (cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n))
        for i in range(n + 2)
    ]


# Each digit is a list of strokes; each stroke a polyline drawn with the mouse button held.
DIGIT_STROKES: dict[int, list[list[Point]]] = {
    1: [[(0.52, 0.18), (0.50, 0.50), (0.48, 0.82)]],
    7: [[(0.28, 0.22), (0.72, 0.22), (0.60, 0.45), (0.45, 0.82)]],
    0: [_ellipse(0.5, 0.5, 0.22, 0.32)],
    # from the canvas's top edge to its bottom edge: the round pen runs past both
    4: [[(0.62, 0.01), (0.15, 0.66), (0.88, 0.66)], [(0.70, 0.30), (0.70, 0.99)]],
}


def draw_digit(page: Any, digit: int, selector: str = "#digit-canvas", steps: int = 2) -> None:
    """Draw `digit` on the canvas with real mouse events (down, moves, up)."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"

    def at(p: Point) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    for stroke in DIGIT_STROKES[digit]:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=steps)
        page.mouse.up()


class Finger:
    """Touch input through one DevTools session: raw touch events, as a phone's touchscreen sends them.

    Real touches catch what mouse events cannot: until the canvas cancelled its touch events, Chromium
    turned a stroke into a gesture and dropped the click of the next tap on a button.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def _touch(self, kind: str, points: list[dict[str, float]]) -> None:
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def _box(self, selector: str) -> dict[str, float]:
        box = self.page.locator(selector).bounding_box()
        assert box is not None, f"{selector} is not visible"
        return dict(box)

    def tap(self, selector: str) -> None:
        """Touch the middle of an element and lift the finger."""
        box = self._box(selector)
        self._touch("touchStart", [{"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}])
        self._touch("touchEnd", [])

    def draw_digit(self, digit: int, selector: str = "#digit-canvas") -> None:
        """Draw `digit` with the finger: touch start, moves (with midpoints), end, per stroke."""
        box = self._box(selector)
        for stroke in DIGIT_STROKES[digit]:
            points = [
                {"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]} for x, y in stroke
            ]
            self._touch("touchStart", [points[0]])
            for a, b in itertools.pairwise(points):
                for t in (0.5, 1.0):
                    self._touch("touchMove", [{k: a[k] + t * (b[k] - a[k]) for k in ("x", "y")}])
            self._touch("touchEnd", [])
