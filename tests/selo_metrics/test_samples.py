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


def test_an_air_slt_entry_without_points_is_named(tmp_path):
    anno = load_air_slt()[:4]
    del anno[2]["points"]
    (tmp_path / "anno.json").write_text(json.dumps(anno))
    with pytest.raises(ManifestError) as info:
        load_samples(tmp_path / "anno.json", tmp_path)
    message = str(info.value)
    assert "entry 2" in message and "'points'" in message, message
    assert "unknown key" not in message and "caption" not in message, message


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_geojson_nested_2000_deep_is_a_manifest_error(tmp_path, suffix):
    poly = '{"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 0]]]}'
    deep = '{"type": "GeometryCollection", "geometries": [' * 2000 + poly + "]}" * 2000
    item = '{"id": "deep", "map": "a.png", "polygons": ' + deep + "}"
    path = tmp_path / f"m{suffix}"
    path.write_text(f"[{item}]" if suffix == ".json" else f'{{"id": 1, "map": "b.png", '
                    f'"polygons": []}}\n{item}\n')
    with pytest.raises(ManifestError, match="nested too deeply") as info:
        load_samples(path)
    if suffix == ".jsonl":
        assert "line 2" in str(info.value)


@pytest.mark.parametrize(("data", "what"), [
    ("x".encode("utf-16"), "UTF-16"),
    ("é".encode("latin-1") + b"[]", "not UTF-8"),
    (b"[" * 100_000, "nested too deeply"),
    (b"[" + b"1" * 4400 + b"]", "digits"),
], ids=["utf-16", "latin-1", "deep", "4400 digits"])
def test_annotation_files_that_json_cannot_take(tmp_path, data, what):
    (tmp_path / "x.json").write_bytes(data)
    with pytest.raises(ManifestError, match=what):
        load_samples(tmp_path / "x.json")


def test_jsonl_lines_end_at_newlines_only(tmp_path):
    """U+2028, U+0085 and a lone CR inside a JSON string are text, not line breaks (Python's
    str.splitlines takes them for ones)."""
    queries = ["north\u2028lake", "x\x85y", "a\rb", "ok"]
    lines = [json.dumps({"id": i, "map": "a.png", "polygons": [[[0, 0], [9, 0], [9, 9]]],
                         "query": q}, ensure_ascii=False) for i, q in enumerate(queries)]
    (tmp_path / "m.jsonl").write_text("\n".join(lines[:3]) + "\r\n" + lines[3] + "\n",
                                      encoding="utf-8")
    assert [s.query for s in load_samples(tmp_path / "m.jsonl")] == queries
