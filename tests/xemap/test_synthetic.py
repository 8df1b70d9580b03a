"""The synthetic referring task: determinism, geometry, answers re-derived from the text, and
the distractors that make the query necessary."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from xemap.data import KINDS, make_scene, make_scenes, read_anno, read_manifest, write_task
from xemap.data.synthetic import COLORS, SHAPES, distractors, samples

NOUN = rf"(?:({'|'.join(COLORS)}) )?({'|'.join(SHAPES)})"
REL = r"(left of|right of|above|below)"


def _is(o, color, shape):
    return o.shape == shape and (color is None or o.color == color)


def _rel(a, rel, b):
    """Relation re-implemented here, from the polygons' vertex means (not the stored centres)."""
    if a is b:
        return False
    ax, ay = np.mean(a.polygon, axis=0)
    bx, by = np.mean(b.polygon, axis=0)
    m = 0.5 * (a.radius + b.radius)
    return {
        "left of": ax < bx - m,
        "right of": ax > bx + m,
        "above": ay < by - m,
        "below": ay > by + m,
    }[rel]


def _unique(objs, color, shape):
    found = [o for o in objs if _is(o, color, shape)]
    assert len(found) == 1, f"landmark {color} {shape} is not unique"
    return found[0]


def referents(text, objs):
    """Parse a query's text with regexes of its own and return the referred objects."""
    if m := re.fullmatch(rf"all {NOUN}s", text):
        return [o for o in objs if _is(o, m[1], m[2])]
    if m := re.fullmatch(rf"all {NOUN}s {REL} the {NOUN}", text):
        lm = _unique(objs, m[4], m[5])
        return [o for o in objs if _is(o, m[1], m[2]) and _rel(o, m[3], lm)]
    if m := re.fullmatch(rf"the {NOUN} {REL} the {NOUN} that is {REL} the {NOUN}", text):
        lm2 = _unique(objs, m[7], m[8])
        mids = [o for o in objs if _is(o, m[4], m[5]) and _rel(o, m[6], lm2)]
        assert len(mids) == 1, text
        return [o for o in objs if _is(o, m[1], m[2]) and _rel(o, m[3], mids[0])]
    if m := re.fullmatch(rf"the {NOUN} {REL} the {NOUN}", text):
        lm = _unique(objs, m[4], m[5])
        return [o for o in objs if _is(o, m[1], m[2]) and _rel(o, m[3], lm)]
    if m := re.fullmatch(rf"the {NOUN}", text):
        assert m[1] is not None, f"an attribute query names a colour: {text!r}"
        return [o for o in objs if _is(o, m[1], m[2])]
    raise AssertionError(f"unparsed query {text!r}")


SCENES = make_scenes(60, seed=3, size=128)
SMALL = make_scenes(120, seed=4, size=64, n_objects=(5, 8), radius=(0.06, 0.095))


def test_deterministic_by_seed():
    a, b = make_scene(11, 4), make_scene(11, 4)
    np.testing.assert_array_equal(a.image, b.image)
    assert [q.text for q in a.queries] == [q.text for q in b.queries]
    assert [o.polygon for o in a.objects] == [o.polygon for o in b.objects]
    c = make_scene(12, 4)
    assert not np.array_equal(a.image, c.image)


def test_images_and_polygons_inside_scene():
    for sc in SCENES:
        assert sc.image.shape == (128, 128, 3) and sc.image.dtype == np.uint8
        for q in sc.queries:
            for poly in sc.polygons(q):
                arr = np.asarray(poly)
                assert arr.shape[1] == 2 and len(arr) >= 3
                assert arr.min() >= 0 and arr.max() <= 128


def test_referred_objects_really_satisfy_the_query():
    n = 0
    for sc in SCENES + SMALL:
        for q in sc.queries:
            got = sorted(o.index for o in referents(q.text, sc.objects))
            assert got == sorted(q.targets), (sc.index, q.text)
            if q.kind == "multi-ref":
                assert 2 <= len(got) < len(sc.objects) and q.text.startswith("all ")
            else:
                assert len(got) == 1 and q.text.startswith("the ")
            assert ("that is" in q.text) == (q.kind == "multi-hop")
            n += 1
    assert n >= 500


def _blind_lights(q, objs):
    """What a model that ignores the query would light as well: per target, the non-targets
    sharing its shape only, its colour only, or both (computed here from the objects)."""
    tgt = [objs[i] for i in q.targets]
    rest = [o for o in objs if o.index not in q.targets]
    return {
        "shape": {o.index for o in rest for t in tgt if o.shape == t.shape and o.color != t.color},
        "color": {o.index for o in rest for t in tgt if o.color == t.color and o.shape != t.shape},
        "type": {o.index for o in rest for t in tgt if (o.color, o.shape) == (t.color, t.shape)},
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_query_has_distractors_a_blind_model_would_light(kind):
    relational = plain = 0
    for sc in SCENES + SMALL:
        for q in (q for q in sc.queries if q.kind == kind):
            found = _blind_lights(q, sc.objects)
            assert found["shape"] and found["color"], (kind, q.text)
            has_relation = re.search(REL, q.text) is not None
            if has_relation:  # only the relation tells the target from its twin
                assert found["type"], (kind, q.text)
                relational += 1
            else:
                plain += 1
            assert {k: set(v) for k, v in distractors(q.targets, sc.objects).items()} == found
    assert relational + plain >= 40
    if kind in ("one-hop", "multi-hop"):
        assert plain == 0
    if kind == "attribute":
        assert relational == 0
    if kind == "multi-ref":  # both forms, plain ("all red squares") and with a relation
        assert relational >= 10 and plain >= 10


def test_attribute_query_names_the_only_object_of_its_type():
    n = 0
    for sc in SCENES + SMALL:
        for q in (q for q in sc.queries if q.kind == "attribute"):
            (t,) = q.targets
            same = [
                o
                for o in sc.objects
                if (o.color, o.shape) == (sc.objects[t].color, sc.objects[t].shape)
            ]
            assert len(same) == 1
            n += 1
    assert n >= 100


def test_all_kinds_are_made():
    kinds = [q.kind for sc in SCENES + SMALL for q in sc.queries]
    assert {k: kinds.count(k) >= 80 for k in KINDS} == dict.fromkeys(KINDS, True)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        make_scene(0, kinds=("two-hop",))


def test_balanced_scenes_one_query_each_kind_in_turn():
    ev = make_scenes(12, seed=5, size=96, balanced=True)
    assert [len(sc.queries) for sc in ev] == [1] * 12
    assert [sc.queries[0].kind for sc in ev] == list(KINDS) * 3
    assert [x["kind"] for x in samples(ev, one_per_scene=True)] == list(KINDS) * 3


def test_write_task_roundtrip(tmp_path):
    scenes = make_scenes(3, seed=0, size=64)
    paths = write_task(tmp_path, scenes)
    man = read_manifest(paths["manifest"])
    anno = read_anno(paths["anno"], images=paths["images"])
    assert len(man) == len(anno) == sum(len(s.queries) for s in scenes)
    assert [m["query"] for m in man] == [a["query"] for a in anno]
    assert [m["image"] for m in man] == [a["image"] for a in anno]
    raw = json.loads(paths["anno"].read_text())
    assert set(raw[0]) >= {"caption", "jpg_name", "points"}
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(man[0]["image"])), scenes[0].image)
