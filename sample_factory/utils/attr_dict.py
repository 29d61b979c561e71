"""`AttrDict`: a dict whose keys are also attributes (configs loaded from JSON use it)."""

from __future__ import annotations

from typing import Any


class AttrDict(dict):
    """A dict with attribute access, used for configs loaded from `config.json`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def __getstate__(self) -> dict:
        return dict(self)

    def __setstate__(self, state: dict) -> None:
        self.update(state)
