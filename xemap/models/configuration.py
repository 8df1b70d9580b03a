"""`ReferringConfig`: the JSON round trip every model family's config shares (no torch)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ReferringConfig"]


class ReferringConfig:
    """Mixin for a family's config dataclass: JSON round trip and the shared fields' checks.

    A family config is a ``@dataclass`` subclassing this mixin. It must have the fields
    ``image_size`` (int), ``image_mean`` / ``image_std`` (3 floats), ``max_text_len`` (int)
    and ``trainable`` (tuple of part names), and a classmethod ``tiny(**overrides)``.
    Tuples become lists in `to_dict`; `from_dict` refuses unknown keys.
    """

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (tuples become lists, nested dataclasses dicts)."""
        out = dataclasses.asdict(self)  # type: ignore[call-overload]

        def plain(v: Any) -> Any:
            if isinstance(v, tuple | list):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        return {k: plain(v) for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Build from `to_dict` output; unknown keys raise ``ValueError``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a {cls.__name__} is built from a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
        return cls(**data)

    def replace(self, **overrides: Any) -> Any:
        """A validated copy with some fields changed (unknown names raise ``ValueError``)."""
        return type(self).from_dict({**self.to_dict(), **overrides})

    def to_json_string(self) -> str:
        """The config as an indented JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write the config as JSON to ``path``."""
        Path(path).write_text(self.to_json_string() + "\n")

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> Any:
        """Read a config written by `to_json_file` (a ``"family"`` key is ignored)."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"config file {p} does not exist")
        data = json.loads(p.read_text())
        if isinstance(data, dict):
            data.pop("family", None)
        return cls.from_dict(data)

    def check_input_format(self) -> None:
        """Check the shared input fields; raise ``ValueError`` naming the bad one."""
        if int(self.image_size) < 32:  # type: ignore[attr-defined]
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")  # type: ignore[attr-defined]
        if len(self.image_mean) != 3 or len(self.image_std) != 3:  # type: ignore[attr-defined]
            raise ValueError("image_mean and image_std must have 3 values (RGB)")
        if min(self.image_std) <= 0:  # type: ignore[attr-defined]
            raise ValueError(f"image_std must be positive, got {self.image_std}")  # type: ignore[attr-defined]
        if int(self.max_text_len) < 2:  # type: ignore[attr-defined]
            raise ValueError(f"max_text_len must be >= 2, got {self.max_text_len}")  # type: ignore[attr-defined]
