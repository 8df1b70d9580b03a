"""Fixed 2-D sine position embeddings (DETR's normalised form)."""

from __future__ import annotations

import math

import torch

__all__ = ["sine_positions"]


def sine_positions(
    height: int, width: int, dim: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Sine / cosine embeddings of the cell centres of an ``height x width`` grid.

    Coordinates are normalised to (0, 2 pi) so grids of any size share one scale: the
    centre cell of a 1 x 1 grid and of a 9 x 9 grid get the same code. Half of ``dim`` codes
    the row, half the column.

    Parameters
    ----------
    height, width : int
    dim : int
        Embedding width, a multiple of 4.

    Returns
    -------
    torch.Tensor
        ``(height * width, dim)`` float32, row-major (the order of ``flatten(2)``).

    Examples
    --------
    >>> p = sine_positions(2, 3, 8)
    >>> p.shape
    torch.Size([6, 8])
    >>> torch.allclose(sine_positions(1, 1, 8), sine_positions(3, 3, 8)[4:5])
    True
    """
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    quarter = dim // 4
    freqs = 10000.0 ** (-torch.arange(quarter, dtype=torch.float32, device=device) / quarter)
    ys = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) / height * 2 * math.pi
    xs = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) / width * 2 * math.pi
    ey = torch.cat([torch.sin(ys[:, None] * freqs), torch.cos(ys[:, None] * freqs)], -1)
    ex = torch.cat([torch.sin(xs[:, None] * freqs), torch.cos(xs[:, None] * freqs)], -1)
    grid = torch.cat(
        [ey[:, None, :].expand(height, width, -1), ex[None, :, :].expand(height, width, -1)], -1
    )
    return grid.reshape(height * width, dim)
