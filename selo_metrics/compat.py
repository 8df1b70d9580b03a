"""``SLM``: a drop-in for the official evaluation class, on this library's kernels.

Scripts written for the official ``SLM`` class (``evaluations/SLM.py`` of
SemanticLocalizationMetrics, and the copies of it in other repositories) change one import::

    from evaluations.SLM import SLM          # before
    from selo_metrics.compat import SLM      # after

and keep everything else: ``evaluate(prob_path, region_list)`` returns the same dict, with the
same keys in the same order, the very same values (bit for bit, with the same numpy on the
same machine), and logs the same lines; ``append_metric`` / ``get_the_mean_metric`` average a
test set; ``rsu``, ``ras``, ``rda``, ``rmi``, ``read_gray_to_prob`` and ``generate_mask_by_points``
keep their signatures; changing a parameter attribute (``slm.rda_eta = 0.6``) changes the
result exactly as it does in the official class.

What differs, on purpose:

* **Errors instead of nan or a crash.** Where the official class returns nan (no polygon, an
  empty GT mask) or crashes (a missing file: a ``TypeError``), this class raises
  :class:`~selo_metrics.SeLoInputError` (a ``ValueError``) naming the file and the problem.
  Scripts that filter nans themselves can ask for ``SLM(nan_on_degenerate=True)``: a map
  that cannot be scored then gives nan for all four metrics and a warning in the log, and
  the script goes on. A file that cannot be read always raises.
* **Files are read without OpenCV**, pixel for pixel as ``cv2.imread(path,
  IMREAD_GRAYSCALE)`` (:func:`selo_metrics.read_map`).
* **The visual option** (``set_visual_options(True, addmap_path)``) prints the same lines
  and draws the same marks as the official class (the GT circles, thickness 3; a circle of
  radius ``6 * rank`` and the rank's number at each attention centre, in the official
  colours) on the full-size addmap, into ``./img_circle.jpg`` (JPEG quality 95), with
  Pillow instead of OpenCV: circles agree with ``cv2.circle`` to a pixel of thickness, the
  numbers are Pillow's font, not OpenCV's Hershey glyphs. An addmap that cannot be read
  raises :class:`~selo_metrics.MapReadError` (the official code crashes in OpenCV).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import SeLoInputError
from .io import MapReadError, read_map
from .metrics import SeLoResult, evaluate
from .raster import gt_mask

__all__ = ["SLM"]

_KEYS = ("↑ Rsu [0 ~ 1]", "↑ Rda [0 ~ 1]", "↓ Ras [0 ~ 1]", "↑ Rmi [0 ~ 1]")


class SLM:
    """The official ``SLM`` evaluation class, exact and fast, with errors instead of nan.

    Parameters
    ----------
    nan_on_degenerate : bool
        ``False`` (default): a map or GT that cannot be scored raises
        :class:`~selo_metrics.SeLoInputError`. ``True``: :meth:`evaluate` returns nan for
        all four metrics (logged as a warning), like scripts that filter nans expect.

    Attributes
    ----------
    rsu_beta, rsu_eps, ras_expand_factor, ras_filter_times, ras_scala_beta, rda_eta,
    rmi_wsu, rmi_was, rmi_wda
        The official parameters, with the official defaults; read at every call.
    all_metrics : dict
        The values appended by :meth:`append_metric`, by key.
    last_result : SeLoResult or None
        The full result (intermediates included) of the last :meth:`evaluate`.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from PIL import Image
    >>> g = np.zeros((400, 400), np.uint8); g[150:250, 150:250] = 255
    >>> path = str(pathlib.Path(tempfile.mkdtemp()) / "probmap_0.jpg")
    >>> Image.fromarray(g).save(path)
    >>> slm = SLM()
    >>> m = slm.evaluate(path, region_list=[[[140, 140], [260, 140], [260, 260], [140, 260]]])
    >>> list(m)
    ['↑ Rsu [0 ~ 1]', '↑ Rda [0 ~ 1]', '↓ Ras [0 ~ 1]', '↑ Rmi [0 ~ 1]']
    >>> slm.append_metric(m)
    >>> round(float(slm.get_the_mean_metric()["↑ Rmi [0 ~ 1]"]), 4)
    0.9987
    """

    def __init__(self, *, nan_on_degenerate: bool = False) -> None:
        # as the official class does: scripts rely on seeing its INFO lines
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
        self.logger = logging.getLogger()
        self.nan_on_degenerate = nan_on_degenerate

        self.rsu_beta = 0.707
        self.rsu_eps = 1e-7
        self.ras_expand_factor = 1.5
        self.ras_filter_times = 5
        self.ras_scala_beta = 3
        self.rda_eta = 0.5
        self.rmi_wsu = 0.4
        self.rmi_was = 0.35
        self.rmi_wda = 0.25

        self.visual_ras = False
        self.src_addmap_path: str | None = None
        self.all_metrics = self._format_output_dict()
        self.last_result: SeLoResult | None = None

    # -- the official helpers ------------------------------------------------------------
    def _format_output_dict(self, *params: Any) -> dict[str, Any]:
        if len(params) == 0:
            values: Sequence[Any] = [[] for _ in range(4)]
        elif len(params) == 4:
            values = params
        else:
            raise NotImplementedError
        return dict(zip(_KEYS, values, strict=True))

    def _params(self) -> dict[str, Any]:
        return {
            "rsu_alpha": self.rsu_beta,
            "rsu_eps": self.rsu_eps,
            "expand_factor": self.ras_expand_factor,
            "box_passes": int(self.ras_filter_times),
            "ras_beta": self.ras_scala_beta,
            "rda_eta": self.rda_eta,
            "w_su": self.rmi_wsu,
            "w_as": self.rmi_was,
            "w_da": self.rmi_wda,
        }

    def _evaluate(self, prob: Any, region_list: Any, sample: Any = None) -> SeLoResult:
        return evaluate(prob, region_list, convention="slm", sample_id=sample, **self._params())

    def logging_acc(self, metrics_dict: dict[str, Any], prob_path: str | None = None,
                    ave: bool = False) -> int:
        """Log the metrics in the official format."""
        if not ave:
            self.logger.info(f"Eval {prob_path}")
        else:
            self.logger.info("+++++++++++++++Average++++++++++++++")
        self.logger.info("+++++++ Calc the SLM METRICS +++++++")
        for metric, value in metrics_dict.items():
            self.logger.info(f"++++     {metric}:{value:.4f}   ++++")
        self.logger.info("++++++++++++++++++++++++++++++++++++\n")
        return 0

    def set_visual_options(self, visual_ras: bool, src_addmap_path: str | None) -> bool:
        """Turn the overlay of :meth:`ras` / :meth:`evaluate` on or off (``./img_circle.jpg``)."""
        self.visual_ras = visual_ras
        self.src_addmap_path = src_addmap_path
        return True

    def read_gray_to_prob(self, probmap_path: str) -> np.ndarray:
        """The map file as probabilities, ``gray / 255.0`` (OpenCV's gray decoding)."""
        return read_map(probmap_path, sample_id=probmap_path) / 255.0

    def generate_mask_by_points(self, prob: np.ndarray, points_list: Any) -> np.ndarray:
        """The GT mask (float64, 0 and 1) of the polygons, as ``cv2.fillPoly`` draws it."""
        return gt_mask(points_list, np.shape(prob)).astype(np.float64)

    # -- the metrics -----------------------------------------------------------------------
    def rsu(self, prob: np.ndarray, mask: np.ndarray) -> float:
        """Rsu of a probability map and a 0/1 mask (the official formula).

        Raises
        ------
        SeLoInputError
            The mask is empty (the official code returns nan) or the shapes differ.
        """
        prob = np.asarray(prob, dtype=np.float64)
        mask = np.asarray(mask)
        if prob.shape != mask.shape or prob.ndim != 2:
            raise SeLoInputError(f"prob {prob.shape} and mask {mask.shape} must be 2-D and "
                                 "of the same shape")
        all_mask = np.sum(mask)
        if all_mask <= 0:
            raise SeLoInputError("the GT mask is empty: Rsu is undefined (the official code "
                                 "returns nan)")
        all_mask_value = np.sum(np.multiply(prob, mask))
        all_value = np.sum(prob)
        h, w = mask.shape
        left = all_mask_value / (all_value - all_mask_value + self.rsu_eps)
        right = (h * w - all_mask) / all_mask
        return -np.exp(-1 * self.rsu_beta * left * right) + 1

    def ras(self, region_lists: Any, prob: np.ndarray, visual: bool = True,
            src_img: str | None = None) -> float:
        """Ras of a probability map against the regions; with ``src_img`` (an addmap path),
        the official printout and ``./img_circle.jpg``."""
        result = self._evaluate(prob, region_lists)
        if visual and src_img is not None:
            self._visual(src_img, result)
        return np.float64(result.ras)

    def rda(self, region_lists: Any, prob: np.ndarray) -> float:
        """Rda of a probability map against the regions."""
        return np.float64(self._evaluate(prob, region_lists).rda)

    def rmi(self, rsu: float, rda: float, ras: float) -> float:
        """The weighted mean, with the instance's weights."""
        return self.rmi_wsu * rsu + self.rmi_was * (1 - ras) + self.rmi_wda * rda

    def _visual(self, src_img: str, result: SeLoResult) -> None:
        """The official ``ras``'s visual branch: print, draw on the addmap, write, print."""
        image = _read_color(src_img)
        regions = [tuple(int(v) for v in r) for r in result.regions]
        centres = [[int(v) for v in c] for c in result.attention_centers]
        print("centers_and_radius: ", regions)
        print("prob_centers: ", centres)
        print("offsets: ", _official_offsets(regions, centres))
        _draw_official_marks(image, regions, centres)
        image.save("./img_circle.jpg", quality=95)
        print(centres)

    def evaluate(self, prob_path: str, region_list: Any) -> dict[str, Any]:
        """Score one map file against its regions: the official dict, logged.

        Returns
        -------
        dict
            ``{"↑ Rsu [0 ~ 1]", "↑ Rda [0 ~ 1]", "↓ Ras [0 ~ 1]", "↑ Rmi [0 ~ 1]"}`` in this
            order, numpy floats as in the official class.

        Raises
        ------
        MapReadError
            The file is missing or cannot be decoded (the official code crashes).
        SeLoInputError
            The map or regions cannot be scored (the official code returns nan or crashes),
            unless ``nan_on_degenerate``.
        """
        gray = read_map(prob_path, sample_id=prob_path)
        try:
            result = self._evaluate(gray, region_list, sample=prob_path)
        except SeLoInputError as exc:
            if not self.nan_on_degenerate:
                raise
            self.logger.warning(f"Eval {prob_path}: cannot be scored, nan: {exc}")
            self.last_result = None
            metrics = self._format_output_dict(*([np.float64(math.nan)] * 4))
            self.logging_acc(metrics, prob_path)
            return metrics
        self.last_result = result
        if self.visual_ras and self.src_addmap_path is not None:
            self._visual(self.src_addmap_path, result)
        rsu, rda, ras = np.float64(result.rsu), np.float64(result.rda), np.float64(result.ras)
        metrics = self._format_output_dict(rsu, rda, ras, self.rmi(rsu, rda, ras))
        self.logging_acc(metrics, prob_path)
        return metrics

    def append_metric(self, metric: dict[str, Any]) -> None:
        """Append one :meth:`evaluate` dict to the running lists."""
        for k in metric:
            self.all_metrics[k].append(metric[k])

    def get_the_mean_metric(self) -> dict[str, Any]:
        """The mean of every metric appended so far (``np.mean``, as the official), logged."""
        mean_metric = {k: np.mean(v) for k, v in self.all_metrics.items()}
        self.logging_acc(mean_metric, ave=True)
        return mean_metric


def _official_offsets(regions: list[tuple[int, int, int]], centres: list[list[int]]) -> list:
    """The official ``offsets`` list, with its types (``np.float64`` means, ``int`` radii)."""
    if not centres:
        return [regions[0][2]]
    offsets: list = []
    for x, y, r in regions:
        dises = [np.linalg.norm(np.array([x, y] - np.array(p))) for p in centres]
        dises = [d for d in dises if d <= r]
        offsets.append(np.mean(dises) if dises else r)
    return offsets


def _read_color(path: str) -> Any:
    """The addmap as an RGB Pillow image, EXIF orientation applied (as ``cv2.imread``)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, ValueError) as exc:
        raise MapReadError(f"addmap {path} cannot be read: {exc}", path=path) from None


def _draw_official_marks(image: Any, regions: list, centres: list) -> None:
    """``cv2.circle(img, (x, y), r, 2, 3)`` per region; per centre (rank ``i``, from 1)
    ``cv2.circle(img, c, 6 i, 1, 4)`` and ``cv2.putText(img, str(i), c, HERSHEY_COMPLEX, 6,
    (0, 0, 0), 25)``. OpenCV's scalar colours 2 and 1 are BGR (2, 0, 0) and (1, 0, 0)."""
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(image)

    def ring(x: int, y: int, r: int, thickness: int, rgb: tuple[int, int, int]) -> None:
        # OpenCV centres the thickness on the radius; Pillow draws it inwards
        outer = r + thickness // 2
        draw.ellipse([x - outer, y - outer, x + outer, y + outer], outline=rgb,
                     width=thickness + 1)

    for x, y, r in regions:
        ring(x, y, r, 3, (0, 0, 2))
    try:  # digits about as tall as OpenCV's Hershey at scale 6 (121 px above the baseline)
        font = ImageFont.load_default(size=150)
    except (TypeError, ImportError, OSError):  # pragma: no cover - Pillow without FreeType
        font = ImageFont.load_default()
    for rank, (x, y) in enumerate(centres, start=1):
        ring(x, y, 6 * rank, 4, (0, 0, 1))
        # Hershey digits start a little right of the origin and do not reach below it
        draw.text((x + 16, y - 10), str(rank), fill=(0, 0, 0), font=font, anchor="ls",
                  stroke_width=12, stroke_fill=(0, 0, 0))
