"""Hostile inputs: damaged files, random bytes, random structures as a GT, odd arrays.

Whatever comes in, the readers and the metrics either give a result (finite metrics in
[0, 1]) or raise a :class:`~selo_metrics.SeLoInputError` naming the sample: never another
exception, a hang or a nan. A longer run of the same generators (15,000 damaged files,
5,000 structures) found the bugs these tests now hold down: ``np.load``'s header parser
raising ``tokenize.TokenError`` through ``read_map``, and Pillow's warnings about damaged
metadata escaping the reader.
"""

from __future__ import annotations

import contextlib
import math
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import selo_metrics
from selo_metrics import MapReadError, SeLoInputError, read_map

FORMATS = Path(__file__).parents[1] / "data" / "files" / "formats"
SEEDS = sorted(p for p in FORMATS.iterdir() if p.suffix in (".png", ".jpg", ".tif"))
MAGICS = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"\x93NUMPY"]
FUZZ = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@contextlib.contextmanager
def _deadline(seconds: int = 60):
    """Turn a hang into a failure where the platform can (SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hang(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _npy_seeds() -> list[bytes]:
    import io

    out = []
    for arr in (
        np.random.default_rng(0).random((5, 7)),
        np.random.default_rng(1).integers(0, 256, (5, 7), dtype=np.uint8),
    ):
        buf = io.BytesIO()
        np.save(buf, arr)
        out.append(buf.getvalue())
    return out


SEED_BYTES = [p.read_bytes() for p in SEEDS] + _npy_seeds()


def _read_and_score(path: Path, sample_id: object) -> None:
    """The property: a map scores (finite, in [0, 1]) or a SeLoInputError names the sample."""
    with _deadline(), warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak from the decoders either
        try:
            gray = read_map(path, sample_id=sample_id)
        except MapReadError as err:
            assert err.sample_id == sample_id
            return
        assert isinstance(gray, np.ndarray) and gray.ndim == 2
        h, w = gray.shape
        try:
            r = selo_metrics.evaluate(
                gray, [[(0, 0), (0.6 * w, 0), (0.3 * w, 0.7 * h)]], sample_id=sample_id
            )
        except SeLoInputError as err:
            assert err.sample_id == sample_id
            return
    for v in (r.rsu, r.ras, r.rda, r.rmi):
        assert math.isfinite(v) and 0.0 <= v <= 1.0


@FUZZ
@given(st.sampled_from(range(len(SEED_BYTES))), st.data())
def test_damaged_files_are_read_or_refused(tmp_path_factory, seed, data):
    raw = bytearray(SEED_BYTES[seed])
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    path = tmp_path_factory.mktemp("fuzz") / "m.bin"
    path.write_bytes(bytes(raw))
    _read_and_score(path, "f1")


@FUZZ
@given(st.sampled_from(range(len(SEED_BYTES))), st.floats(0, 1))
def test_truncated_files_are_read_or_refused(tmp_path_factory, seed, where):
    raw = SEED_BYTES[seed]
    path = tmp_path_factory.mktemp("cut") / "m.bin"
    path.write_bytes(raw[: int(where * len(raw))])
    _read_and_score(path, 7)


@FUZZ
@given(st.sampled_from(MAGICS), st.binary(max_size=400))
def test_random_bytes_behind_a_magic_number_are_refused_or_read(tmp_path_factory, magic, tail):
    path = tmp_path_factory.mktemp("rnd") / "m.bin"
    path.write_bytes(magic + tail)
    _read_and_score(path, ("tuple", 1))


# ------------------------------------------------------------------------------------------
# the GT: any nested structure
# ------------------------------------------------------------------------------------------

GRAY = np.zeros((60, 80), np.uint8)
GRAY[20:40, 20:50] = 200

_NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.integers(-100, 200),
    st.floats(-100, 200),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.sampled_from([np.float32(3.5), np.int64(7), 2**63, -(2**62), 1e308, 5e-324]),
)


def _geojson(children):
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["Polygon", "MultiPolygon", "Feature", "FeatureCollection", "Point", None]
            )
        },
        optional={"coordinates": children, "geometry": children, "features": children},
    )


_TREES = st.recursive(
    _NUMBERS, lambda c: st.lists(c, max_size=6) | st.tuples(c, c) | _geojson(c), max_leaves=40
)
_POLYGONISH = st.lists(
    st.lists(st.tuples(st.floats(-50, 150), st.floats(-50, 150)), max_size=7), max_size=3
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        _TREES,
        _POLYGONISH,
        _POLYGONISH.map(lambda ps: [np.array(p, float).reshape(-1, 2) for p in ps]),
    ),
    st.sampled_from(["slm", "paper"]),
)
def test_any_structure_as_a_gt_scores_or_is_refused(obj, convention):
    try:
        polys = selo_metrics.as_polygons(obj, sample_id="z")
    except SeLoInputError as err:
        assert err.sample_id == "z"
    else:
        for p in polys:
            assert p.dtype == np.float64 and p.shape[1:] == (2,) and np.isfinite(p).all()
    try:
        r = selo_metrics.evaluate(GRAY, obj, convention=convention, sample_id="z")
    except SeLoInputError as err:
        assert err.sample_id == "z"
        return
    for v in (r.rsu, r.ras, r.rda, r.rmi):
        assert math.isfinite(v) and 0.0 <= v <= 1.0


# ------------------------------------------------------------------------------------------
# the map: any array
# ------------------------------------------------------------------------------------------

_DTYPES = ["u1", "u2", "i1", "i8", "f2", "f4", "f8", "c8", "?", "m8[s]", "M8[D]", "O", "U2"]


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.sampled_from(_DTYPES),
    st.lists(st.integers(0, 30), max_size=3),
    st.floats(-2, 300) | st.sampled_from([math.nan, math.inf, 1e300]),
    st.integers(0, 2**32 - 1),
)
def test_any_array_as_a_map_scores_or_is_refused(dtype, shape, scale, seed):
    values = np.random.default_rng(seed).random(shape) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the casts below may overflow: that is the point
        arr = values.astype(dtype)
    try:
        r = selo_metrics.evaluate(arr, [[(2, 2), (20, 3), (10, 25)]], sample_id=5)
    except SeLoInputError as err:
        assert err.sample_id == 5
        return
    for v in (r.rsu, r.ras, r.rda, r.rmi):
        assert math.isfinite(v) and 0.0 <= v <= 1.0


def test_the_deadline_guard_fires():
    if not hasattr(signal, "SIGALRM"):
        pytest.skip("no SIGALRM")
    with pytest.raises(TimeoutError), _deadline(1):
        while True:
            pass


# two files the longer fuzzing run wrote, as they were
_NPY_TOKEN_ERROR = bytes.fromhex(
    "934e554d5059010076007b27646573f9ed8c6372273a20277c7531272c2027666f727472616e5f6f"
    "72646572273a2046616c73652c20277368617065273a2028392c203131292c202e20202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020202020200a34ce4161551686d188b6c439127cdf798d32ab52a9c97b3a4f1586e3ab"
    "0a47cce87fbf22f8776beb589c90f70e1c2043fd44296cf699f6888a5336a7d73e5770f41014259b"
    "2556edd0c427b0f2e75d09165975cf0dc16399e3f6e92daa8f469cc69d6c"
)
_TIFF_CORRUPT_EXIF = bytes.fromhex(
    "49492a0082f3aa2c2dc626fc24d2dd514e1bb583d5eb9a4b20e434248be9b808c750d2e79fcdace88dd7f1"
)


def test_a_npy_header_that_stops_the_tokenizer_is_refused(tmp_path):
    """np.load's header parser raised tokenize.TokenError, which escaped read_map."""
    path = tmp_path / "m.npy"
    path.write_bytes(_NPY_TOKEN_ERROR)
    with pytest.raises(MapReadError, match="corrupt or truncated") as info:
        read_map(path, sample_id=3)
    assert info.value.sample_id == 3


def test_damaged_metadata_warnings_stay_inside_the_reader(tmp_path):
    """Pillow's 'Corrupt EXIF data' warning escaped read_map (with -W error: an exception)."""
    path = tmp_path / "m.tif"
    path.write_bytes(_TIFF_CORRUPT_EXIF)
    _read_and_score(path, 4)
