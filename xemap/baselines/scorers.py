"""Box scorers for the SeLo generators: crop, resize, embed, cosine with a text vector.

A scorer is what :func:`xemap.baselines.selo.selo_map` and
:func:`~xemap.baselines.selo.selo_v2_map` call as ``score_boxes(boxes) -> scores``. Here
it is built from an image-text retrieval model (:class:`ImageTextModel`: anything with
``input_size``, ``encode_images`` and ``encode_texts``): the boxes are cropped from the
scene, resized to the model's input with bicubic interpolation (a = -0.75, no
antialiasing, rounded to uint8: what ``cv2.resize(..., INTER_CUBIC)`` does in the official
code), embedded in batches on the model's device (the GPU when there is one) and compared
with the text embedding by cosine similarity.

:class:`CLIPScorer` is that model for a Hugging Face CLIP checkpoint loaded from a local
directory (no download), with :meth:`CLIPScorer.text_vector` giving the SeLo v1 text vector
(the caption's embedding) or the SeLo v2 one (the caption averaged with 4 random word
shuffles of it, seeded so runs repeat).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "CLIPScorer",
    "ImageTextModel",
    "RetrievalScorer",
    "crop_resize",
    "selo_text_vector",
]

#: CLIP's pixel normalisation (used when the model directory has no preprocessor config)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@runtime_checkable
class ImageTextModel(Protocol):
    """An image-text retrieval model the scorers can use.

    ``encode_images`` takes ``(B, 3, input_size, input_size)`` float RGB pixels in [0, 255]
    on ``device`` and returns ``(B, D)`` embeddings; ``encode_texts`` takes captions and
    returns ``(T, D)`` embeddings (not necessarily normalised).
    """

    input_size: int
    device: torch.device

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor: ...  # pragma: no cover

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...  # pragma: no cover


def _as_rgb(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {arr.dtype} {arr.shape}")
    return arr[:, :, :3]


def crop_resize(
    image: np.ndarray, boxes: np.ndarray, size: int, *, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Crop ``(r0, r1, c0, c1)`` boxes from an RGB image and resize them to ``size``.

    Bicubic (a = -0.75, the kernel of ``cv2.INTER_CUBIC``), no antialiasing, rounded and
    clipped to uint8 values, as the official code's ``cv2.resize`` then JPEG round trip
    (without the JPEG loss).

    Returns
    -------
    torch.Tensor
        ``(N, 3, size, size)`` float32 in [0, 255] on ``device``.

    Examples
    --------
    >>> img = np.zeros((8, 8, 3), np.uint8); img[:4] = 200
    >>> t = crop_resize(img, np.array([[0, 4, 0, 4], [2, 6, 2, 6]]), 2)
    >>> t.shape, t[0].unique().tolist(), t[1, 0, :, 0].tolist()  # cubic overshoot, as cv2
    (torch.Size([2, 3, 2, 2]), [200.0], [219.0, 0.0])
    """
    rgb = _as_rgb(image)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    out = torch.empty((boxes.shape[0], 3, size, size), dtype=torch.float32, device=device)
    for i, (r0, r1, c0, c1) in enumerate(boxes.tolist()):
        crop = torch.from_numpy(np.array(rgb[r0:r1, c0:c1])).to(device)
        crop = crop.permute(2, 0, 1)[None].float()
        if crop.shape[-2:] != (size, size):
            crop = F.interpolate(
                crop, size=(size, size), mode="bicubic", align_corners=False, antialias=False
            )
        out[i] = crop[0].round().clamp(0, 255)
    return out


class RetrievalScorer:
    """``score_boxes`` for one image and one text vector: cosine of box and text embeddings.

    Parameters
    ----------
    model : ImageTextModel
        The retrieval model.
    image : numpy.ndarray
        ``(H, W, 3)`` uint8 RGB scene.
    text_vector : torch.Tensor
        ``(D,)`` text embedding.
    batch_size : int, optional
        Boxes embedded per forward pass (default 64).

    Attributes
    ----------
    timings : dict
        Seconds spent cropping and resizing (``cut``) and embedding and comparing (``sim``),
        accumulated over calls.
    """

    def __init__(self, model: ImageTextModel, image, text_vector, *, batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.image = _as_rgb(image)
        self.text = F.normalize(torch.as_tensor(text_vector).reshape(-1).float(), dim=0)
        self.batch_size = int(batch_size)
        self.timings = {"cut": 0.0, "sim": 0.0}

    def __call__(self, boxes: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        device = self.model.device
        text = self.text.to(device)
        scores = []
        for start in range(0, boxes.shape[0], self.batch_size):
            t0 = time.perf_counter()
            pixels = crop_resize(
                self.image,
                boxes[start : start + self.batch_size],
                self.model.input_size,
                device=device,
            )
            t1 = time.perf_counter()
            with torch.no_grad():
                emb = F.normalize(self.model.encode_images(pixels).float(), dim=-1)
                scores.append((emb @ text).cpu().numpy().astype(np.float64))
            self.timings["cut"] += t1 - t0
            self.timings["sim"] += time.perf_counter() - t1
        return np.concatenate(scores) if scores else np.zeros(0)


def selo_text_vector(
    model: ImageTextModel, caption: str, *, version: int = 2, shuffles: int = 4, seed: int = 0
) -> torch.Tensor:
    """The text vector of SeLo v1 (the caption's embedding) or v2 (with word shuffles).

    SeLo v2 adds the embeddings of ``shuffles`` random word orders of the caption (words
    split on whitespace, shuffled as ``numpy.random.shuffle`` after ``numpy.random.seed(seed)``)
    to the caption's and divides by ``shuffles + 1``, as ``generate_selo_v2.py`` does.
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 or 2, got {version}")
    texts = [caption]
    if version == 2:
        rng = np.random.RandomState(seed)
        for _ in range(shuffles):
            words = caption.split()
            rng.shuffle(words)
            texts.append(" ".join(words))
    with torch.no_grad():
        emb = model.encode_texts(texts).float()
    return emb.mean(dim=0) if version == 2 else emb[0]


def _features(out) -> torch.Tensor:
    """``get_*_features`` return a tensor (transformers 4) or an output with ``pooler_output``."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class CLIPScorer:
    """A Hugging Face CLIP model as an :class:`ImageTextModel`, with SeLo text vectors.

    Parameters
    ----------
    model : transformers.CLIPModel
        The model (moved to ``device`` and put in eval mode).
    tokenizer : transformers tokenizer
        Its tokenizer.
    device : str or torch.device, optional
        Default: ``"cuda"`` when available, else ``"cpu"``.
    mean, std : sequence of float, optional
        Pixel normalisation (CLIP's by default).
    max_length : int, optional
        Caption token limit (default: the text model's ``max_position_embeddings``).

    Examples
    --------
    Build one with :meth:`from_pretrained` on a local directory, then

    >>> # clip = CLIPScorer.from_pretrained("path/to/clip")
    >>> # scorer = clip.scorer(image, "two tennis courts next to a road", version=2)
    >>> # selo_v2_map(*image.shape[:2], scorer)
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        device: str | torch.device | None = None,
        mean: Sequence[float] = CLIP_MEAN,
        std: Sequence[float] = CLIP_STD,
        max_length: int | None = None,
    ):
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.input_size = int(model.config.vision_config.image_size)
        self.max_length = int(max_length or model.config.text_config.max_position_embeddings)
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, *, device: str | torch.device | None = None
    ) -> CLIPScorer:
        """Load a CLIP model, its tokenizer and pixel statistics from a local directory.

        Nothing is downloaded (``local_files_only=True``); a missing directory or file
        raises.
        """
        from transformers import AutoTokenizer, CLIPModel

        path = Path(model_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"CLIP model directory not found: {path}")
        model = CLIPModel.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        mean, std = CLIP_MEAN, CLIP_STD
        pre = path / "preprocessor_config.json"
        if pre.exists():
            import json

            cfg = json.loads(pre.read_text())
            mean = cfg.get("image_mean", mean)
            std = cfg.get("image_std", std)
        return cls(model, tokenizer, device=device, mean=mean, std=std)

    def pixel_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalise ``(B, 3, S, S)`` [0, 255] pixels for the vision tower."""
        return (pixels - self._mean.to(pixels.device)) / self._std.to(pixels.device)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` image embeddings of ``(B, 3, S, S)`` pixels in [0, 255]."""
        return _features(self.model.get_image_features(pixel_values=self.pixel_input(pixels)))

    def tokenize(self, texts: Sequence[str]) -> dict:
        """Padded, truncated token tensors on the model's device."""
        tok = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {
            k: v.to(self.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")
        }

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``(T, D)`` text embeddings."""
        return _features(self.model.get_text_features(**self.tokenize(texts)))

    def text_vector(self, caption: str, *, version: int = 2, seed: int = 0) -> torch.Tensor:
        """The SeLo v1 or v2 text vector of a caption (see :func:`selo_text_vector`)."""
        return selo_text_vector(self, caption, version=version, seed=seed)

    def scorer(
        self,
        image,
        caption: str,
        *,
        version: int = 2,
        seed: int = 0,
        batch_size: int = 64,
    ) -> RetrievalScorer:
        """``score_boxes`` for one scene and one caption."""
        vec = self.text_vector(caption, version=version, seed=seed)
        return RetrievalScorer(self, image, vec, batch_size=batch_size)
