"""The package surface: a light import, the public names, the bundled data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import selo_metrics
from selo_metrics.data import load_air_slt


def test_import_stays_light():
    # (numba itself imports scipy when it is installed, so scipy is not checked)
    code = ("import sys, selo_metrics; "
            "print(','.join(m for m in ('torch', 'transformers', 'timm', 'cv2', "
            "'skimage', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_public_api():
    for name in ("evaluate", "rsu", "ras", "rda", "rmi", "SeLoResult", "SeLoInputError",
                 "attention_centers", "gt_mask", "gt_regions", "as_polygons"):
        assert name in selo_metrics.__all__ and hasattr(selo_metrics, name)
    assert issubclass(selo_metrics.SeLoInputError, ValueError)


def test_bundled_air_slt_annotations():
    anno = load_air_slt()
    assert len(anno) == 59
    assert sum(len(a["points"]) for a in anno) == 103
    assert {a["jpg_name"] for a in anno} == {f"{i}.jpg" for i in range(22)}


def test_result_repr_and_dict_are_readable():
    import numpy as np

    g = np.zeros((200, 240), np.uint8)
    g[60:120, 80:150] = 230
    res = selo_metrics.evaluate(g, [[(60, 50), (170, 50), (170, 130), (60, 130)]],
                                sample_id="q1")
    text = repr(res)
    assert "q1" in text and "Rmi" in text and "200 x 240" in text
    d = res.to_dict()
    assert d["sample_id"] == "q1" and d["rmi"] == res.rmi and d["shape"] == [200, 240]


def _score_in_child(queue):
    import numpy as np

    g = np.zeros((400, 500), np.uint8)
    g[150:250, 200:300] = 255
    queue.put(selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]]).rmi)


def test_forked_worker_after_parent_used_the_kernels():
    """The kernels' thread pool must not be inherited half-dead by a forked process."""
    import multiprocessing

    import numpy as np
    import pytest

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    g = np.zeros((400, 500), np.uint8)
    g[150:250, 200:300] = 255
    expected = selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]]).rmi
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_score_in_child, args=(queue,))
    proc.start()
    proc.join(60)
    alive = proc.is_alive()
    if alive:
        proc.kill()
    assert not alive, "the forked child hung"
    assert queue.get(timeout=5) == expected


RO_CODE = """
import sys
import numba, numpy as np, selo_metrics
from selo_metrics._kernels import cache_location
g = np.zeros((400, 500), np.uint8)
g[150:250, 200:300] = 255
r = selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]])
kernels = [f for name, m in list(sys.modules.items()) if name.startswith("selo_metrics")
           for f in vars(m).values() if isinstance(f, numba.core.dispatcher.Dispatcher)]
print(selo_metrics.__file__)
print(repr(r.rmi))
print(cache_location())
print(sum(sum(f.stats.cache_hits.values()) for f in kernels))
"""


def _read_only_install(tmp_path):
    """A copy of the package no one may write, and a home directory no one may write."""
    import shutil
    import stat

    site = tmp_path / "site"
    shutil.copytree(Path(selo_metrics.__file__).parent, site / "selo_metrics",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    for p in [*site.rglob("*"), site, home]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) | 0o555
                if p.is_dir() else 0o444)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    return site, home, tmp


def _as_another_user(tmp_path, site, home, tmp, *, nothing_writable=False):
    """Run RO_CODE as an unprivileged user (nobody when we are root), HOME not writable.

    As root (who may write anywhere), the child drops to nobody with ``setpriv``; the
    interpreter's prefix is bind-mounted where nobody can reach it (in a private mount
    namespace, ``unshare -m``), and with ``nothing_writable`` the temporary directories are
    remounted read-only there, so that no directory at all is writable.
    """
    import shlex
    import shutil
    import site as pysite

    prefix = Path(sys.base_prefix)
    sitepkgs = [Path(p) for p in pysite.getsitepackages() if Path(p).is_dir()]
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp), "LC_ALL": "C.UTF-8",
           "SELO_NUM_THREADS": "2"}
    if os.geteuid() != 0:
        if nothing_writable:
            pytest.skip("making every directory read-only needs root (a mount namespace)")
        env["PYTHONPATH"] = str(site)
        return subprocess.run([sys.executable, "-c", RO_CODE], env=env, capture_output=True,
                              text=True, timeout=600)
    if not (shutil.which("setpriv") and shutil.which("unshare")):
        pytest.skip("dropping root needs setpriv and unshare (util-linux)")
    py = tmp_path / "py"
    py.mkdir(exist_ok=True)
    exe = py / Path(sys.executable).resolve().relative_to(prefix.resolve())
    env["PYTHONPATH"] = ":".join(
        [str(site)] + [str(py / p.resolve().relative_to(prefix.resolve())) for p in sitepkgs])
    mounts = []
    if nothing_writable:  # first: a bind mount of /tmp onto itself would hide later mounts
        for d in ("/tmp", "/var/tmp", str(tmp)):
            if Path(d).is_dir():
                mounts.append(f"mount --bind {d} {d} && mount -o remount,bind,ro {d}")
    mounts.append(f"mount --bind {shlex.quote(str(prefix))} {shlex.quote(str(py))}")
    envs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    script = " && ".join([*mounts, f"cd {shlex.quote(str(site))}",
                          f"exec setpriv --reuid=nobody --regid=nogroup --clear-groups "
                          f"env -i {envs} {shlex.quote(str(exe))} -c {shlex.quote(RO_CODE)}"])
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode().strip()}")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def open_tmp_path():
    """A temporary directory other users can reach (pytest's own is private to us)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="selo-ro-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.slow
def test_read_only_install_runs_for_another_user(open_tmp_path):
    """A root-owned install, run by a user whose HOME is read-only (a Docker image run as
    another user): numba cannot cache next to the sources nor in ~/.cache. The import must
    work, cache in a private directory, and with nothing writable at all, not cache."""
    tmp_path = open_tmp_path
    site, home, tmp = _read_only_install(tmp_path)
    g = np.zeros((400, 500), np.uint8)
    g[150:250, 200:300] = 255
    want = repr(selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270),
                                           (180, 270)]]).rmi)
    runs = [_as_another_user(tmp_path, site, home, tmp) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    (f1, rmi1, where1, hits1), (_, rmi2, where2, hits2) = (r.stdout.split() for r in runs)
    assert f1 == str(site / "selo_metrics" / "__init__.py")
    assert rmi1 == rmi2 == want
    assert where1 == where2 and Path(where1).parent == tmp  # the private per-user directory
    assert int(hits1) == 0 < int(hits2)  # compiled once, then loaded from that cache
    assert not list(site.rglob("*.nbi"))
    bare = _as_another_user(tmp_path, site, home, tmp, nothing_writable=True)
    assert bare.returncode == 0, bare.stderr[-3000:]
    _, rmi3, where3, hits3 = bare.stdout.split()
    assert (rmi3, where3, hits3) == (want, "nowhere", "0")


def test_every_kernel_caches_through_the_fallback_flag():
    """A kernel declared ``cache=True`` would fail the import of a read-only install with
    nothing writable (numba raises); every kernel takes ``cache=CACHE`` instead."""
    root = Path(selo_metrics.__file__).parent.parent
    offenders = [str(p.relative_to(root)) for pkg in ("selo_metrics", "xemap")
                 for p in (root / pkg).rglob("*.py") if "cache=True" in p.read_text()
                 and p.name != "_cache.py"]
    assert offenders == []


def test_cache_dir_must_be_private(tmp_path, monkeypatch):
    """Machine code is loaded from the cache: never from a directory another user can write."""
    from selo_metrics._kernels import _cache

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert not _cache._private(shared)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert not _cache._private(link)
    mine = tmp_path / "mine"
    assert _cache._private(mine) and (mine.stat().st_mode & 0o777) == 0o700
    # an unwritable NUMBA_CACHE_DIR is not kept
    monkeypatch.setattr(_cache, "_KERNEL_DIRS", ())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache, where = _cache.choose_cache_dir(tmp_path, user_dir="/proc/no-such-dir")
    assert cache and where == str(tmp_path / "xdg" / "selo_metrics" / "numba")


def test_the_suite_never_uses_a_stale_kernel_cache(tmp_path):
    """numba keys a cached kernel on its own file: an edit to an inlined helper (borders.py)
    would run old machine code. The root conftest keys the whole cache on every numba source:
    the kernels of this process cache there, and any edit moves to a fresh directory."""
    import importlib.util
    import shutil

    import numba

    from selo_metrics._kernels import box

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("root_conftest", root / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    numba_sources_hash = conftest.numba_sources_hash

    where = os.environ["NUMBA_CACHE_DIR"]
    assert Path(where).name == numba_sources_hash() and numba.config.CACHE_DIR == where
    assert box._box_block.stats.cache_path.startswith(where)
    copy = tmp_path / "copy"
    for pkg in ("selo_metrics", "xemap"):
        shutil.copytree(root / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert numba_sources_hash(copy) == numba_sources_hash()
    borders = copy / "selo_metrics" / "_kernels" / "borders.py"
    borders.write_text(borders.read_text().replace("2 * n - 2 - i", "2 * n - 1 - i"))
    assert numba_sources_hash(copy) != numba_sources_hash()


def test_the_library_never_imports_opencv(tmp_path):
    """OpenCV is a test extra (an oracle), never the library's: not on import, not to read a
    map file, score it, run the compat class or the runner."""
    from PIL import Image

    pytest.importorskip("cv2", reason="OpenCV (a test extra) is not installed: nothing to show")
    g = np.zeros((400, 500), np.uint8)
    g[150:250, 200:300] = 255
    Image.fromarray(g).save(tmp_path / "probmap_0.jpg")
    Image.fromarray(np.dstack([g] * 3)).save(tmp_path / "addmap_0.png")
    code = f"""
import sys, json, numpy as np, selo_metrics
from selo_metrics.compat import SLM
square = [[(180, 130), (320, 130), (320, 270), (180, 270)]]
path = {str(tmp_path / "probmap_0.jpg")!r}
selo_metrics.evaluate(selo_metrics.read_map(path), square)
slm = SLM()
slm.set_visual_options(True, {str(tmp_path / "addmap_0.png")!r})
slm.evaluate(path, square)
with open({str(tmp_path / "anno.json")!r}, "w") as f:
    json.dump([{{"jpg_name": "0.jpg", "points": square, "caption": "q"}}], f)
import os; os.rename(path, {str(tmp_path / "0.jpg")!r})
samples = selo_metrics.load_samples({str(tmp_path / "anno.json")!r}, {str(tmp_path)!r})
selo_metrics.score_samples(samples, {str(tmp_path / "run")!r}, workers=1)
print("cv2" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "img_circle.jpg").exists() and (tmp_path / "run" / "summary.json").exists()


def _pytest_with_shared(tmp_path, shared, require, *args):
    env = dict(os.environ, SELO_SHARED=str(shared), SELO_REQUIRE_SHARED=require)
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(root), *args], capture_output=True, text=True,
                          cwd=root, env=env, timeout=900)


def test_ci_fails_where_the_shared_material_would_be_skipped(tmp_path):
    """CI (.ci/run) sets SELO_REQUIRE_SHARED=1: without ../shared the run stops with a clear
    message; a test that skips for want of the official code fails instead of skipping."""
    from tests.conftest import SHARED

    assert "SELO_REQUIRE_SHARED=1" in (Path(__file__).parents[2] / ".ci" / "run").read_text()
    target = ["tests/selo_metrics/test_compat.py", "-k", "official_class_itself"]
    run = _pytest_with_shared(tmp_path, tmp_path / "nowhere", "1", *target)
    assert run.returncode == 4 and "SELO_REQUIRE_SHARED=1 but" in run.stderr, run.stderr[-2000:]
    if not (SHARED / "conformance").is_dir():
        pytest.skip(f"{SHARED} (../shared) is not present")
    partial = tmp_path / "shared"  # the conformance sets, but not the official code
    partial.mkdir()
    (partial / "conformance").symlink_to(SHARED / "conformance")
    run = _pytest_with_shared(tmp_path, partial, "0", *target)
    assert "1 skipped" in run.stdout, run.stdout[-2000:]
    run = _pytest_with_shared(tmp_path, partial, "1", *target)
    assert run.returncode == 1 and "1 failed" in run.stdout, run.stdout[-2000:]
    assert "skipped where ../shared and the test extras are required" in run.stdout
