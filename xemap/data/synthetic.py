"""A synthetic contextual referring task where only the query tells the target.

There is no XeMap-Set here, so ``xemap demo`` / ``xemap bench`` train on this: each scene
holds squares, circles and triangles in a few colours (a palette of 2-3 of red, green, blue,
yellow and 2-3 shapes per scene, so colours and shapes repeat) on a noisy, striped "terrain"
(:mod:`xemap.data.scene_render`). Four kinds of query, each with the polygons of what it
refers to (AIR-SLT ``points`` format, pixel coordinates of the scene):

``attribute``
    ``"the red square"``: the only red square, while other squares and other red things
    are in the scene.
``one-hop``
    ``"the red square left of the blue circle"``: exactly one object of the head type
    stands in the relation to the (unique) landmark.
``multi-hop``
    ``"the circle above the triangle that is right of the green square"``: the landmark
    is itself found by a relation to a second, unique landmark.
``multi-ref``
    ``"all blue triangles"`` or ``"all squares below the yellow circle"``: two or more
    objects, never all of them.

**The query is necessary.** Every query comes with distractors a model that ignores the
query would light up as well (:func:`distractors`): a non-target of a target's shape in
another colour, a non-target of a target's colour in another shape, and, for every query
with a relation, a non-target of a target's very type (colour and shape) elsewhere in the
scene, so that only the relation tells them apart. Scenes whose queries lack them are not
made.

Relations compare centres with a margin: ``a`` is *left of* ``b`` when
``a.cx < b.cx - margin`` (``margin`` = the mean of the two radii), *right of*, *above*
(smaller row) and *below* likewise; an object is never related to itself. Everything is
deterministic given the seed (``numpy.random.default_rng``), and :func:`resolve` recomputes
the referents of a parsed query from the objects, which the tests use to check the answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xemap.data.scene_queries import (
    KINDS,
    RELATIONS,
    Query,
    Shape,
    distractors,
    find_query,
    relation_holds,
    required_distractors,
    resolve,
)
from xemap.data.scene_render import COLORS, SHAPES, place, polygon, render

__all__ = [
    "COLORS",
    "KINDS",
    "RELATIONS",
    "SHAPES",
    "Query",
    "Scene",
    "Shape",
    "distractors",
    "make_scene",
    "make_scenes",
    "relation_holds",
    "required_distractors",
    "resolve",
    "samples",
    "write_task",
]


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


def _random_objects(
    rng: np.random.Generator, size: int, n: int, radius: tuple[float, float]
) -> list[Shape]:
    # a palette of 2-3 colours x 2-3 shapes: colours and shapes repeat, types often do
    colors = [str(c) for c in rng.choice(list(COLORS), int(rng.integers(2, 4)), replace=False)]
    shapes = [str(s) for s in rng.choice(SHAPES, int(rng.integers(2, 4)), replace=False)]
    objects = []
    for i, (cx, cy, r) in enumerate(place(rng, size, n, radius)):
        color = colors[int(rng.integers(len(colors)))]
        shape = shapes[int(rng.integers(len(shapes)))]
        poly = tuple(polygon(shape, cx, cy, r, float(rng.uniform(-0.3, 0.3))))
        objects.append(Shape(i, shape, color, cx, cy, r, poly))
    return objects


def make_scene(
    seed: int,
    index: int = 0,
    *,
    size: int = 128,
    n_objects: tuple[int, int] = (6, 9),
    kinds: Sequence[str] = KINDS,
    radius: tuple[float, float] = (0.045, 0.075),
) -> Scene:
    """Make one scene and one query of each kind in ``kinds``.

    Parameters
    ----------
    seed, index : int
        The scene is a pure function of ``(seed, index, size, n_objects, kinds, radius)``.
    size : int, default 128
        Side of the square image in pixels.
    n_objects : (int, int), default (6, 9)
        Inclusive range of the number of objects.
    kinds : sequence of str
        Query kinds to make, among ``KINDS``. Each gets 300 tries on a layout; a layout that
        yields none of them, or (with a single kind) not that one, is drawn again, so a
        scene made for one kind always has its query.
    radius : (float, float), default (0.045, 0.075)
        Range of the object radii as fractions of ``size`` (objects are placed without
        overlap, at least ``0.04 * size`` apart; fewer fit when they are large).

    Returns
    -------
    Scene
        Every query's targets are what :func:`resolve` gives, and it has the distractors
        :func:`required_distractors` names.

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
    if not kinds:
        raise ValueError("kinds is empty")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    while True:
        n = int(rng.integers(n_objects[0], n_objects[1] + 1))
        objects = _random_objects(rng, size, n, tuple(radius))
        found = [find_query(rng, objects, kind) for kind in kinds]
        queries = [q for q in found if q is not None]
        if queries:
            return Scene(int(seed), int(index), render(rng, size, objects), objects, queries)


def make_scenes(
    n: int, *, seed: int = 0, start: int = 0, balanced: bool = False, **kwargs: Any
) -> list[Scene]:
    """``n`` scenes ``make_scene(seed, start + i, **kwargs)``.

    With ``balanced``, scene ``i`` gets exactly one query, of kind
    ``KINDS[(start + i) % len(KINDS)]`` (the held-out sets: kinds in equal shares).

    Examples
    --------
    >>> [len(s.objects) >= 6 for s in make_scenes(2, seed=1, size=64)]
    [True, True]
    >>> [s.queries[0].kind for s in make_scenes(4, seed=1, size=64, balanced=True)]
    ['attribute', 'one-hop', 'multi-hop', 'multi-ref']
    """
    if balanced:
        return [
            make_scene(seed, start + i, kinds=(KINDS[(start + i) % len(KINDS)],), **kwargs)
            for i in range(n)
        ]
    return [make_scene(seed, start + i, **kwargs) for i in range(n)]


def samples(scenes: Iterable[Scene], *, one_per_scene: bool = False) -> list[dict[str, Any]]:
    """Manifest-style samples (image as an array): ``{id, image, query, polygons, kind,
    targets}``.

    With ``one_per_scene`` each scene contributes the query of kind
    ``KINDS[index % len(KINDS)]`` (or its first query when that kind is missing).

    Examples
    --------
    >>> s = samples(make_scenes(4, seed=0, size=64), one_per_scene=True)
    >>> [x["kind"] for x in s]
    ['attribute', 'one-hop', 'multi-hop', 'multi-ref']
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
