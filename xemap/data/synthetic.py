"""A synthetic contextual referring task: coloured shapes on textured backgrounds.

There is no XeMap-Set here, so ``xemap demo`` trains on this: each scene holds a few
squares, circles and triangles in red, green, blue and yellow on a noisy, striped
"terrain"; types repeat, so the head noun alone is usually ambiguous and the query needs its
context. Three kinds of query, each with the polygons of what it refers to (AIR-SLT
``points`` format, pixel coordinates of the scene):

``one-hop``
    ``"the red square left of the blue circle"``: exactly one object of the head type
    stands in the relation to the (unique) landmark.
``multi-hop``
    ``"the circle above the triangle that is right of the green square"``: the landmark
    is itself found by a relation to a second, unique landmark.
``multi-ref``
    ``"all blue triangles"`` or ``"all squares below the yellow circle"``: two or more
    objects.

Relations compare centres with a margin: ``a`` is *left of* ``b`` when
``a.cx < b.cx - margin`` (``margin`` = the mean of the two radii), *right of*, *above*
(smaller row) and *below* likewise; an object is never related to itself. Everything is
deterministic given the seed (``numpy.random.default_rng``), and :func:`resolve` recomputes
the referents of a parsed query from the objects, which the tests use to check the answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "COLORS",
    "KINDS",
    "RELATIONS",
    "SHAPES",
    "Query",
    "Scene",
    "Shape",
    "make_scene",
    "make_scenes",
    "relation_holds",
    "resolve",
    "write_task",
]

SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 40),
}
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
KINDS: tuple[str, ...] = ("one-hop", "multi-hop", "multi-ref")


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


@dataclass
class Scene:
    """A rendered scene: ``image`` uint8 (H, W, 3), its objects and queries."""

    seed: int
    index: int
    image: np.ndarray
    objects: list[Shape]
    queries: list[Query] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def polygons(self, query: Query) -> list[list[list[float]]]:
        """The AIR-SLT points of what ``query`` refers to."""
        return [self.objects[i].points() for i in query.targets]


def relation_holds(a: Shape, rel: str, b: Shape) -> bool:
    """Whether ``a`` stands in ``rel`` to ``b`` (centres, margin = mean radius).

    Examples
    --------
    >>> a = Shape(0, "square", "red", 10.0, 50.0, 5.0, ())
    >>> b = Shape(1, "circle", "blue", 40.0, 52.0, 5.0, ())
    >>> relation_holds(a, "left of", b), relation_holds(a, "above", b)
    (True, False)
    """
    if a.index == b.index:
        return False
    m = 0.5 * (a.radius + b.radius)
    if rel == "left of":
        return a.cx < b.cx - m
    if rel == "right of":
        return a.cx > b.cx + m
    if rel == "above":
        return a.cy < b.cy - m
    if rel == "below":
        return a.cy > b.cy + m
    raise ValueError(f"unknown relation {rel!r}; expected one of {RELATIONS}")


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


def _noun(head: Sequence[Any], plural: bool = False) -> str:
    color, shape = head
    s = shape + ("s" if plural else "")
    return f"{color} {s}" if color else s


def _text(program: dict[str, Any], top: bool = True) -> str:
    plural = bool(program.get("all"))
    noun = _noun(program["head"], plural)
    base = f"all {noun}" if plural else f"the {noun}"
    if program.get("rel") is None:
        return base
    lm = program["landmark"]
    inner = _text(lm, top=False)
    if lm.get("rel") is not None:  # multi-hop: "the triangle that is right of the green square"
        head = f"the {_noun(lm['head'])}"
        inner = f"{head} that is {lm['rel']} {_text(lm['landmark'], top=False)}"
    return f"{base} {program['rel']} {inner}"


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """An earthy background: smooth noise, stripes (fields / roads) and pixel grain."""
    base = np.array(rng.choice([(110, 100, 80), (90, 110, 80), (120, 115, 105), (80, 90, 95)]))
    img = np.zeros((size, size, 3), dtype=np.float64) + base
    # smooth noise: upsampled coarse random grid
    for cells, amp in ((4, 28.0), (16, 14.0)):
        coarse = rng.normal(0.0, 1.0, (cells + 1, cells + 1, 3))
        idx = np.linspace(0, cells, size)
        i0 = np.floor(idx).astype(int).clip(0, cells - 1)
        f = idx - i0
        rows = coarse[i0] * (1 - f)[:, None, None] + coarse[i0 + 1] * f[:, None, None]
        grid = rows[:, i0] * (1 - f)[None, :, None] + rows[:, i0 + 1] * f[None, :, None]
        img += amp * grid
    # stripes at a random angle
    ang = rng.uniform(0, math.pi)
    period = rng.uniform(size / 10, size / 4)
    yy, xx = np.mgrid[0:size, 0:size]
    phase = (xx * math.cos(ang) + yy * math.sin(ang)) / period * 2 * math.pi
    img += 14.0 * np.sign(np.sin(phase))[..., None]
    img += rng.normal(0.0, 8.0, img.shape)
    return np.clip(img, 0, 255)


def _polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    if shape == "square":
        angles = [rot + math.pi / 4 + k * math.pi / 2 for k in range(4)]
        rr = r
    elif shape == "triangle":
        angles = [rot - math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        rr = r * 1.15
    else:
        angles = [k * 2 * math.pi / 24 for k in range(24)]
        rr = r * 0.85
    return [(round(cx + rr * math.cos(a), 2), round(cy + rr * math.sin(a), 2)) for a in angles]


def _place(
    rng: np.random.Generator, size: int, n: int, radius: tuple[float, float]
) -> list[tuple[float, float, float]]:
    out: list[tuple[float, float, float]] = []
    tries = 0
    while len(out) < n and tries < 2000:
        tries += 1
        r = rng.uniform(*radius) * size
        cx, cy = rng.uniform(r + 2, size - r - 2, 2)
        if all(math.hypot(cx - x, cy - y) > r + q + 0.04 * size for x, y, q in out):
            out.append((float(cx), float(cy), float(r)))
    return out


def _render(rng: np.random.Generator, size: int, objects: list[Shape]) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(_texture(rng, size).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for o in objects:
        jitter = rng.integers(-20, 21, 3)
        color = tuple(int(c) for c in np.clip(np.array(COLORS[o.color]) + jitter, 0, 255))
        draw.polygon(list(o.polygon), fill=color, outline=(20, 20, 20))
    return np.asarray(img, dtype=np.uint8).copy()


def _random_objects(
    rng: np.random.Generator, size: int, n: int, radius: tuple[float, float]
) -> list[Shape]:
    # few distinct types, repeated: the head noun alone is usually ambiguous
    n_types = int(rng.integers(3, 6))
    types = [(str(rng.choice(list(COLORS))), str(rng.choice(SHAPES))) for _ in range(n_types)]
    objects = []
    for i, (cx, cy, r) in enumerate(_place(rng, size, n, radius)):
        color, shape = types[int(rng.integers(len(types)))] if i >= n_types else types[i]
        rot = float(rng.uniform(-0.3, 0.3))
        poly = tuple(_polygon(shape, cx, cy, r, rot))
        objects.append(Shape(i, shape, color, cx, cy, r, poly))
    return objects


def _unique_landmarks(objects: Sequence[Shape]) -> list[tuple[str, str]]:
    counts: dict[tuple[str, str], int] = {}
    for o in objects:
        counts[(o.color, o.shape)] = counts.get((o.color, o.shape), 0) + 1
    return [t for t, c in counts.items() if c == 1]


def _candidate(rng: np.random.Generator, objects: Sequence[Shape], kind: str) -> dict | None:
    rel = str(rng.choice(RELATIONS))
    lms = _unique_landmarks(objects)
    o = objects[int(rng.integers(len(objects)))]
    with_color = bool(rng.random() < 0.7)
    head = [o.color if with_color else None, o.shape]
    if kind == "one-hop":
        if not lms:
            return None
        lm = lms[int(rng.integers(len(lms)))]
        return {
            "head": head,
            "rel": rel,
            "all": False,
            "landmark": {"head": list(lm), "rel": None, "landmark": None, "all": False},
        }
    if kind == "multi-hop":
        if not lms:
            return None
        lm2 = lms[int(rng.integers(len(lms)))]
        p = objects[int(rng.integers(len(objects)))]
        mid = {
            "head": [p.color if rng.random() < 0.5 else None, p.shape],
            "rel": str(rng.choice(RELATIONS)),
            "all": False,
            "landmark": {"head": list(lm2), "rel": None, "landmark": None, "all": False},
        }
        return {"head": head, "rel": rel, "all": False, "landmark": mid}
    # multi-ref: a plain type, or a type in a relation
    if rng.random() < 0.5 or not lms:
        return {"head": [o.color, o.shape], "rel": None, "landmark": None, "all": True}
    lm = lms[int(rng.integers(len(lms)))]
    return {
        "head": head,
        "rel": rel,
        "all": True,
        "landmark": {"head": list(lm), "rel": None, "landmark": None, "all": False},
    }


def _valid(program: dict, objects: Sequence[Shape], kind: str, targets: list[int]) -> bool:
    if kind == "multi-ref":
        return len(targets) >= 2 and len(targets) < len(objects)
    if len(targets) != 1:
        return False
    if kind == "multi-hop":
        mid = resolve(program["landmark"], objects)
        return len(mid) == 1 and mid[0] != targets[0]
    return True


def _needs_context(program: dict, objects: Sequence[Shape], targets: list[int]) -> bool:
    """The head noun alone names more objects than the query does."""
    return len([o for o in objects if _matches(o, program["head"])]) > len(targets)


def make_scene(
    seed: int,
    index: int = 0,
    *,
    size: int = 128,
    n_objects: tuple[int, int] = (6, 9),
    kinds: Sequence[str] = KINDS,
    context_rate: float = 0.8,
    radius: tuple[float, float] = (0.045, 0.075),
) -> Scene:
    """Make one scene and one query of each kind in ``kinds`` (when one can be found).

    Parameters
    ----------
    seed, index : int
        The scene is a pure function of ``(seed, index, size, n_objects, kinds)``.
    size : int, default 128
        Side of the square image in pixels.
    n_objects : (int, int), default (6, 9)
        Inclusive range of the number of objects.
    kinds : sequence of str
        Query kinds to make, among ``KINDS``; a kind for which no valid query is found in
        300 tries is left out (rare), and the scene is redrawn if none at all is found.
    context_rate : float, default 0.8
        Fraction of queries required to need their context (the head noun alone names more
        objects than the query refers to).
    radius : (float, float), default (0.045, 0.075)
        Range of the object radii as fractions of ``size`` (objects are placed without
        overlap, at least ``0.04 * size`` apart; fewer fit when they are large).

    Returns
    -------
    Scene

    Examples
    --------
    >>> s = make_scene(0, 3, size=96)
    >>> s.image.shape, len(s.queries) >= 1
    ((96, 96, 3), True)
    >>> all(sorted(q.targets) == resolve(q.program, s.objects) for q in s.queries)
    True
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown query kind {kind!r}; expected one of {KINDS}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    while True:
        n = int(rng.integers(n_objects[0], n_objects[1] + 1))
        objects = _random_objects(rng, size, n, tuple(radius))
        queries: list[Query] = []
        for kind in kinds:
            want_context = bool(rng.random() < context_rate)
            for _ in range(300):
                prog = _candidate(rng, objects, kind)
                if prog is None:
                    break
                targets = resolve(prog, objects)
                if not _valid(prog, objects, kind, targets):
                    continue
                if want_context and not _needs_context(prog, objects, targets):
                    continue
                queries.append(Query(_text(prog), kind, prog, tuple(sorted(targets))))
                break
        if queries:
            image = _render(rng, size, objects)
            return Scene(int(seed), int(index), image, objects, queries)


def make_scenes(
    n: int, *, seed: int = 0, start: int = 0, balanced: bool = False, **kwargs: Any
) -> list[Scene]:
    """``n`` scenes ``make_scene(seed, start + i, **kwargs)``.

    With ``balanced``, scene ``i`` gets exactly one query, of kind ``KINDS[(start + i) % 3]``
    (the held-out sets: kinds in equal thirds).

    Examples
    --------
    >>> [len(s.objects) >= 6 for s in make_scenes(2, seed=1, size=64)]
    [True, True]
    >>> [s.queries[0].kind for s in make_scenes(3, seed=1, size=64, balanced=True)]
    ['one-hop', 'multi-hop', 'multi-ref']
    """
    if balanced:
        return [
            make_scene(seed, start + i, kinds=(KINDS[(start + i) % len(KINDS)],), **kwargs)
            for i in range(n)
        ]
    return [make_scene(seed, start + i, **kwargs) for i in range(n)]


def samples(scenes: Iterable[Scene], *, one_per_scene: bool = False) -> list[dict[str, Any]]:
    """Manifest-style samples (image as an array): ``{id, image, query, polygons, kind}``.

    With ``one_per_scene`` each scene contributes the query of kind ``KINDS[index % 3]``
    (or its first query when that kind is missing), so kinds are balanced.

    Examples
    --------
    >>> s = samples(make_scenes(3, seed=0, size=64), one_per_scene=True)
    >>> [x["kind"] for x in s]
    ['one-hop', 'multi-hop', 'multi-ref']
    """
    out = []
    for sc in scenes:
        qs = sc.queries
        if one_per_scene:
            want = KINDS[sc.index % len(KINDS)]
            qs = [next((q for q in sc.queries if q.kind == want), sc.queries[0])]
        for q in qs:
            out.append(
                {
                    "id": f"s{sc.seed}_{sc.index}_{q.kind}",
                    "image": sc.image,
                    "query": q.text,
                    "polygons": sc.polygons(q),
                    "kind": q.kind,
                    "targets": list(q.targets),
                }
            )
    return out


def write_task(
    out_dir: str | Path, scenes: Sequence[Scene], *, one_per_scene: bool = False
) -> dict[str, Path]:
    """Write scenes as PNGs plus a JSONL manifest and an AIR-SLT ``anno.json``.

    Returns the paths: ``{"images": DIR, "manifest": .../manifest.jsonl,
    "anno": .../anno.json}``. The anno's entry ``idx`` is the manifest's line ``idx``
    (``xemap predict`` writes it as ``probmap_{idx}.png``).

    Examples
    --------
    >>> import tempfile
    >>> d = write_task(tempfile.mkdtemp(), make_scenes(2, seed=0, size=64))
    >>> sorted(d)
    ['anno', 'images', 'manifest']
    """
    from PIL import Image

    out = Path(out_dir)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows, anno = [], []
    for sc in scenes:
        name = f"scene_{sc.seed}_{sc.index:05d}.png"
        Image.fromarray(sc.image).save(img_dir / name)
        for s in samples([sc], one_per_scene=one_per_scene):
            rows.append({**{k: v for k, v in s.items() if k != "image"}, "image": f"images/{name}"})
            anno.append(
                {
                    "caption": s["query"],
                    "jpg_name": name,
                    "points": s["polygons"],
                    "kind": s["kind"],
                }
            )
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    anno_path = out / "anno.json"
    anno_path.write_text(json.dumps(anno))
    return {"images": img_dir, "manifest": manifest, "anno": anno_path}
