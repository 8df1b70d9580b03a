"""A script written for the official ``SLM`` class, run as is and with one import changed.

The script below is the official ``evaluate_selo.py`` loop (evaluate -> append_metric ->
get_the_mean_metric) over the shared file conformance cases (``../shared/conformance/files``:
JPEG / PNG maps, gray and colour). It runs twice, each time in a fresh process, first with
``from SLM import SLM`` (the official class, loaded from ``../shared/reference/slm``, needs
OpenCV, scipy, scikit-image), then with ``from selo_metrics.compat import SLM``, and the two
printed means and times are compared. Both sides are timed twice in their process (a cold
first pass, then a warm one), since the official code has no JIT and ours compiles once per
machine (cached on disk).

    python benchmarks/bench_compat.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SELO_SHARED", ROOT.parent / "shared"))

SCRIPT = '''
import json, logging, sys, time
{import_line}
logging.disable(logging.INFO)  # the same log lines on both sides; keep the timing clean
cases = json.load(open(sys.argv[1]))
root = sys.argv[2]
times = []
for rep in range(2):
    slm_metric = SLM()
    t0 = time.perf_counter()
    for idx, item in enumerate(cases):
        metrics = slm_metric.evaluate(root + "/" + item["map"], region_list=item["polygons"])
        slm_metric.append_metric(metrics)
    means = slm_metric.get_the_mean_metric()
    times.append(time.perf_counter() - t0)
print(json.dumps({{"means": {{k: float(v) for k, v in means.items()}}, "times": times}}))
'''


def run(import_line: str, extra_path: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "evaluate_selo.py"
        script.write_text(SCRIPT.format(import_line=import_line))
        cases = SHARED / "conformance" / "files"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([extra_path, str(ROOT)]))
        out = subprocess.run([sys.executable, str(script), str(cases / "cases.json"),
                              str(cases)], capture_output=True, text=True, env=env, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ref = SHARED / "reference" / "slm"
    cases = json.loads((SHARED / "conformance" / "files" / "cases.json").read_text())
    official = run("from SLM import SLM", str(ref))
    ours = run("from selo_metrics.compat import SLM", "")
    diff = max(abs(official["means"][k] - ours["means"][k]) for k in official["means"])
    print(f"{len(cases)} map files (the shared file conformance cases)\n")
    print("| class | first pass | second pass |\n|---|---|---|")
    for name, r in (("official SLM", official), ("selo_metrics.compat.SLM", ours)):
        print(f"| {name} | {r['times'][0]:.2f} s | {r['times'][1]:.2f} s |")
    print(f"\nspeed-up, second pass: {official['times'][1] / ours['times'][1]:.1f}x; "
          f"first pass: {official['times'][0] / ours['times'][0]:.1f}x")
    print(f"means: largest difference {diff:.2e}")
    for k, v in ours["means"].items():
        print(f"  {k}: {v:.6f} (official {official['means'][k]:.6f})")


if __name__ == "__main__":
    main()
