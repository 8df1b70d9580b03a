"""The queries of the synthetic referring task: objects, relations, programs, distractors.

A query is a *program* ``{"head": [color|None, shape], "rel": str|None, "landmark":
program|None, "all": bool}``; :func:`resolve` gives the objects it refers to, :func:`text`
its words, :func:`distractors` the non-targets a query-blind model would also light up, and
:func:`find_query` draws a valid query of a kind for a layout (see :mod:`xemap.data.synthetic`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "RELATIONS",
    "Query",
    "Shape",
    "distractors",
    "find_query",
    "relation_holds",
    "required_distractors",
    "resolve",
    "text",
]

RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
KINDS: tuple[str, ...] = ("attribute", "one-hop", "multi-hop", "multi-ref")


@dataclass(frozen=True)
class Shape:
    """One object of a scene: its type, centre ``(cx, cy)`` (x = column), radius, polygon."""

    index: int
    shape: str
    color: str
    cx: float
    cy: float
    radius: float
    polygon: tuple[tuple[float, float], ...]

    def points(self) -> list[list[float]]:
        """The polygon as AIR-SLT points: a list of ``[x, y]``."""
        return [[x, y] for x, y in self.polygon]


@dataclass(frozen=True)
class Query:
    """A referring query, its kind, its structured form and the indices it refers to.

    ``program`` is the parsed query: ``{"head": [color|None, shape], "rel": str|None,
    "landmark": program|None, "all": bool}`` (a landmark program has the same keys).
    """

    text: str
    kind: str
    program: dict[str, Any]
    targets: tuple[int, ...]


def relation_holds(a: Shape, rel: str, b: Shape) -> bool:
    """Whether ``a`` stands in ``rel`` to ``b`` (centres, margin = mean radius).

    Examples
    --------
    >>> a = Shape(0, "square", "red", 10.0, 50.0, 5.0, ())
    >>> b = Shape(1, "circle", "blue", 40.0, 52.0, 5.0, ())
    >>> relation_holds(a, "left of", b), relation_holds(a, "above", b)
    (True, False)
    """
    return a.index != b.index and _gap(a, rel, b) > 0


def _gap(a: Shape, rel: str, b: Shape) -> float:
    """By how much ``a`` is in ``rel`` to ``b`` beyond the margin (negative: it is not)."""
    m = 0.5 * (a.radius + b.radius)
    if rel == "left of":
        return b.cx - m - a.cx
    if rel == "right of":
        return a.cx - b.cx - m
    if rel == "above":
        return b.cy - m - a.cy
    if rel == "below":
        return a.cy - b.cy - m
    raise ValueError(f"unknown relation {rel!r}; expected one of {RELATIONS}")


def _clear(program: dict[str, Any], objects: Sequence[Shape]) -> bool:
    """No object of a head type lies within a quarter radius of a relation's boundary
    (so no answer hangs on a fraction of a pixel)."""
    if program.get("rel") is None:
        return True
    (b,) = [objects[i] for i in resolve(program["landmark"], objects)]
    for o in objects:
        if _matches(o, program["head"]) and o.index != b.index:
            if abs(_gap(o, program["rel"], b)) < 0.125 * (o.radius + b.radius):
                return False
    return _clear(program["landmark"], objects)


def _matches(o: Shape, head: Sequence[Any]) -> bool:
    color, shape = head
    return o.shape == shape and (color is None or o.color == color)


def resolve(program: dict[str, Any], objects: Sequence[Shape]) -> list[int]:
    """The indices of the objects a query program refers to (all that satisfy it).

    A landmark must resolve to exactly one object, otherwise nothing satisfies.

    Examples
    --------
    >>> objs = [Shape(0, "square", "red", 10, 10, 4, ()), Shape(1, "square", "red", 90, 10, 4, ()),
    ...         Shape(2, "circle", "blue", 50, 10, 4, ())]
    >>> prog = {"head": ["red", "square"], "rel": "left of", "all": False,
    ...         "landmark": {"head": ["blue", "circle"], "rel": None, "landmark": None}}
    >>> resolve(prog, objs)
    [0]
    """
    heads = [o for o in objects if _matches(o, program["head"])]
    if program.get("rel") is None:
        return [o.index for o in heads]
    lm = resolve(program["landmark"], objects)
    if len(lm) != 1:
        return []
    b = objects[lm[0]]
    return [o.index for o in heads if relation_holds(o, program["rel"], b)]


def distractors(targets: Iterable[int], objects: Sequence[Shape]) -> dict[str, list[int]]:
    """The non-targets a query-blind model would light up too, by what they share.

    ``"shape"``: a target's shape in another colour; ``"color"``: a target's colour in
    another shape; ``"type"``: a target's colour *and* shape (the same type elsewhere).

    Examples
    --------
    >>> objs = [Shape(0, "square", "red", 10, 10, 4, ()), Shape(1, "square", "blue", 30, 10, 4, ()),
    ...         Shape(2, "circle", "red", 50, 10, 4, ()), Shape(3, "square", "red", 70, 10, 4, ())]
    >>> distractors([0], objs)
    {'shape': [1], 'color': [2], 'type': [3]}
    """
    tset = set(targets)
    tobj = [o for o in objects if o.index in tset]
    rest = [o for o in objects if o.index not in tset]
    return {
        "shape": [
            o.index for o in rest if any(o.shape == t.shape and o.color != t.color for t in tobj)
        ],
        "color": [
            o.index for o in rest if any(o.color == t.color and o.shape != t.shape for t in tobj)
        ],
        "type": [
            o.index for o in rest if any(o.color == t.color and o.shape == t.shape for t in tobj)
        ],
    }


def required_distractors(program: dict[str, Any]) -> tuple[str, ...]:
    """The :func:`distractors` groups every query of this form is guaranteed to have.

    ``shape`` and ``color`` always; ``type`` too when the query has a relation (without
    one, every object of the named type is a target, so there can be none).

    Examples
    --------
    >>> required_distractors({"head": ["red", "square"], "rel": None, "landmark": None})
    ('shape', 'color')
    """
    return ("shape", "color") if program.get("rel") is None else ("shape", "color", "type")


def _noun(head: Sequence[Any], plural: bool = False) -> str:
    color, shape = head
    s = shape + ("s" if plural else "")
    return f"{color} {s}" if color else s


def text(program: dict[str, Any]) -> str:
    """The words of a query program.

    Examples
    --------
    >>> lm = {"head": ["blue", "circle"], "rel": None, "landmark": None}
    >>> text({"head": [None, "square"], "rel": "left of", "landmark": lm, "all": True})
    'all squares left of the blue circle'
    """
    plural = bool(program.get("all"))
    noun = _noun(program["head"], plural)
    base = f"all {noun}" if plural else f"the {noun}"
    if program.get("rel") is None:
        return base
    lm = program["landmark"]
    inner = text(lm)
    if lm.get("rel") is not None:  # multi-hop: "the triangle that is right of the green square"
        inner = f"the {_noun(lm['head'])} that is {lm['rel']} {text(lm['landmark'])}"
    return f"{base} {program['rel']} {inner}"


def _plain(o: Shape) -> dict[str, Any]:
    return {"head": [o.color, o.shape], "rel": None, "landmark": None, "all": False}


def _pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))] if items else None


def _related(
    rng: np.random.Generator,
    head_of: Shape,
    landmark: dict,
    anchor: Shape,
    color_rate: float,
    plural: bool = False,
) -> dict[str, Any] | None:
    """``head_of``'s type (its colour with probability ``color_rate``) in a relation that
    ``head_of`` really has to ``anchor`` (the object ``landmark`` resolves to)."""
    rels = [r for r in RELATIONS if relation_holds(head_of, r, anchor)]
    if not rels:
        return None
    color = head_of.color if rng.random() < color_rate else None
    return {
        "head": [color, head_of.shape],
        "rel": _pick(rng, rels),
        "all": plural,
        "landmark": landmark,
    }


def _candidate(
    rng: np.random.Generator, objects: Sequence[Shape], kind: str, plain: bool
) -> dict | None:
    """A query program of ``kind`` built around randomly chosen objects (checked later)."""
    counts: dict[tuple[str, str], int] = {}
    for o in objects:
        counts[(o.color, o.shape)] = counts.get((o.color, o.shape), 0) + 1
    unique = [o for o in objects if counts[(o.color, o.shape)] == 1]
    o = _pick(rng, objects)
    if kind == "attribute":
        return _plain(o)
    if kind == "multi-ref" and plain:
        return {**_plain(o), "all": True}
    lm = _pick(rng, unique)
    if lm is None:
        return None
    others = [x for x in objects if x.index != lm.index]
    if kind in ("one-hop", "multi-ref"):
        return _related(rng, _pick(rng, others), _plain(lm), lm, 0.7, kind == "multi-ref")
    mid_obj = _pick(rng, others)  # multi-hop: the landmark found through a second one
    mid = _related(rng, mid_obj, _plain(lm), lm, 0.5)
    rest = [x for x in others if x.index != mid_obj.index]
    if mid is None or not rest:
        return None
    return _related(rng, _pick(rng, rest), mid, mid_obj, 0.7)


def _valid(program: dict, objects: Sequence[Shape], kind: str, targets: list[int]) -> bool:
    if kind == "multi-ref":
        if not 2 <= len(targets) < len(objects):
            return False
    elif len(targets) != 1:
        return False
    if kind == "attribute" and program["head"][0] is None:
        return False
    if kind == "multi-hop":
        mid = resolve(program["landmark"], objects)
        if len(mid) != 1 or mid[0] == targets[0]:
            return False
    found = distractors(targets, objects)
    return all(found[k] for k in required_distractors(program)) and _clear(program, objects)


def find_query(
    rng: np.random.Generator, objects: Sequence[Shape], kind: str, tries: int = 300
) -> Query | None:
    """A valid query of ``kind`` about ``objects``, or None when ``tries`` candidates fail.

    Valid: its targets are what :func:`resolve` gives (one, or for ``multi-ref`` two or
    more but not all), a multi-hop landmark is not the target, an ``attribute`` query
    names a colour, and it has the :func:`required_distractors`. A ``multi-ref`` query is
    plain (``"all blue triangles"``) or relational with even odds, drawn once per call.

    Examples
    --------
    >>> objs = [Shape(0, "square", "red", 10, 10, 4, ()), Shape(1, "square", "blue", 30, 10, 4, ()),
    ...         Shape(2, "circle", "red", 50, 10, 4, ())]
    >>> find_query(np.random.default_rng(0), objs, "attribute").text
    'the red square'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown query kind {kind!r}; expected one of {KINDS}")
    plain = bool(rng.random() < 0.5)
    for _ in range(tries):
        prog = _candidate(rng, objects, kind, plain)
        if prog is None:
            continue
        targets = resolve(prog, objects)
        if _valid(prog, objects, kind, targets):
            return Query(text(prog), kind, prog, tuple(sorted(targets)))
    return None
