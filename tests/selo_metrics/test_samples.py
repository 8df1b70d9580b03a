"""Test sets: AIR-SLT anno.json + maps directory, and the JSON / JSONL manifest."""

from __future__ import annotations

import json

import pytest

from selo_metrics import ManifestError, load_samples
from selo_metrics.data import load_air_slt
from selo_metrics.samples import write_manifest


def test_air_slt_layout_prefers_jpg_then_png(tmp_path):
    anno = load_air_slt()[:3]
    (tmp_path / "anno.json").write_text(json.dumps(anno))
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "probmap_1.png").write_bytes(b"")
    (maps / "probmap_2.png").write_bytes(b"")
    (maps / "probmap_2.jpg").write_bytes(b"")
    samples = load_samples(tmp_path / "anno.json", maps)
    assert [s.id for s in samples] == ["0", "1", "2"]
    assert [s.map.rsplit("/", 1)[1] for s in samples] == [
        "probmap_0.jpg", "probmap_1.png", "probmap_2.jpg"]
    assert samples[1].polygons == anno[1]["points"] and samples[1].query == anno[1]["caption"]
    with pytest.raises(ManifestError, match="give the maps directory"):
        load_samples(tmp_path / "anno.json")


def test_manifest_json_jsonl_and_geojson(tmp_path):
    geo = {"type": "Polygon", "coordinates": [[[0, 0], [40, 0], [40, 30], [0, 30], [0, 0]]]}
    (tmp_path / "gt.geojson").write_text(json.dumps(geo))
    items = [
        {"id": "a", "map": "a.png", "polygons": [[[0, 0], [9, 0], [9, 9]]], "query": "q",
         "attributes": {"multi_hop": True, "source": "DIOR"}},
        {"id": 2, "map": "sub/b.jpg", "geojson": "gt.geojson"},
    ]
    (tmp_path / "m.json").write_text(json.dumps({"samples": items}))
    write_manifest(items, tmp_path / "m.jsonl")
    for name in ("m.json", "m.jsonl"):
        a, b = load_samples(tmp_path / name)
        assert (a.index, a.id, a.attributes) == (0, "a", {"multi_hop": True, "source": "DIOR"})
        assert b.id == "2" and b.map == str(tmp_path / "sub" / "b.jpg")
        assert b.load_polygons() == geo
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert load_samples(tmp_path / "m.jsonl", other)[0].map == str(other / "a.png")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"map": "a.png", "polygons": []}], "'id'"),
        ([{"id": "a", "polygons": []}], "'map'"),
        ([{"id": "a", "map": "a.png"}], "exactly one of 'polygons' and 'geojson'"),
        ([{"id": "a", "map": "a.png", "polygons": [], "polygon": []}], "unknown key"),
        ([{"id": "a", "map": "a.png", "polygons": []}] * 2, "duplicate id 'a'"),
        ([{"id": "a", "map": "a.png", "polygons": [], "attributes": {"rmi": 1}}], "reserved"),
        ([{"id": "a", "map": "a.png", "polygons": [], "attributes": {"x": [1]}}], "scalar"),
        ([3], "expected an object"),
    ],
)
def test_manifest_problems_name_the_line(tmp_path, items, message):
    path = write_manifest(items, tmp_path / "bad.jsonl")
    with pytest.raises(ManifestError, match=message) as info:
        load_samples(path)
    assert "bad.jsonl, line" in str(info.value)


def test_unreadable_annotation_files(tmp_path):
    with pytest.raises(ManifestError, match="cannot be read"):
        load_samples(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_samples(tmp_path / "x.json")
    (tmp_path / "y.jsonl").write_text('{"id": 1}\n{broken\n')
    with pytest.raises(ManifestError, match="line 2: not valid JSON"):
        load_samples(tmp_path / "y.jsonl")
    (tmp_path / "z.json").write_text('{"a": 1}')
    with pytest.raises(ManifestError, match="expected a JSON list"):
        load_samples(tmp_path / "z.json")
