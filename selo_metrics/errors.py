"""The package's exception: every bad input raises :class:`SeLoInputError`."""

from __future__ import annotations

__all__ = ["SeLoInputError"]


class SeLoInputError(ValueError):
    """A map or a ground truth that the SeLo metrics cannot score.

    A ``ValueError`` subclass, so ``except ValueError`` catches it too. The message names
    the problem and, where known, the sample id and the polygon index; both are also kept
    as attributes for batch runners.

    Parameters
    ----------
    problem : str
        What is wrong, in words.
    sample_id : object, optional
        The caller's id of the sample (``evaluate(..., sample_id=...)``).
    polygon : int, optional
        Index of the offending polygon in the caller's list.

    Examples
    --------
    >>> err = SeLoInputError("polygon has zero area", sample_id="s7", polygon=2)
    >>> str(err)
    "sample 's7': polygon 2: polygon has zero area"
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, problem: str, *, sample_id: object = None, polygon: int | None = None):
        self.problem = problem
        self.sample_id = sample_id
        self.polygon = polygon
        parts = []
        if sample_id is not None:
            parts.append(f"sample {sample_id!r}")
        if polygon is not None:
            parts.append(f"polygon {polygon}")
        parts.append(problem)
        super().__init__(": ".join(parts))

    def with_sample(self, sample_id: object) -> SeLoInputError:
        """Return the same error with ``sample_id`` filled in (if it was not set).

        Examples
        --------
        >>> SeLoInputError("empty map").with_sample(3).sample_id
        3
        """
        if self.sample_id is not None or sample_id is None:
            return self
        return SeLoInputError(self.problem, sample_id=sample_id, polygon=self.polygon)
