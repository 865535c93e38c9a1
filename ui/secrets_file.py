"""Write Moodle settings into ``.streamlit/secrets.toml`` (git-ignored, mode 0600); values are never read
back into the UI — only whether each one is set."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["SECRETS_PATH", "read_secrets", "update_secrets", "dumps_toml", "is_set"]

SECRETS_PATH = Path(__file__).resolve().parents[1] / ".streamlit" / "secrets.toml"


def read_secrets(path: Path | None = None) -> dict[str, Any]:
    path = path or SECRETS_PATH
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    text = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def dumps_toml(data: Mapping[str, Any]) -> str:
    """TOML for flat keys plus one level of tables (what secrets.toml holds)."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for k, v in data.items():
        if isinstance(v, Mapping):
            lines.append(f"\n[{k}]")
            lines.extend(f"{sk} = {_value(sv)}" for sk, sv in v.items() if not isinstance(sv, Mapping))
    return "\n".join(lines).lstrip("\n") + "\n"


def update_secrets(values: Mapping[str, Any], path: Path | None = None) -> None:
    """Set top-level keys (None/"" = leave unchanged) and write the file with mode 0600."""
    path = path or SECRETS_PATH
    data = read_secrets(path)
    for k, v in values.items():
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        data[k] = v.strip() if isinstance(v, str) else v
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dumps_toml(data))
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def is_set(name: str, path: Path | None = None) -> bool:
    """Whether a secret is configured (environment or secrets file), without returning it."""
    if os.environ.get(name, "").strip():
        return True
    data = read_secrets(path)
    if str(data.get(name, "")).strip():
        return True
    section, _, key = name.lower().partition("_")
    sub = data.get(section)
    return isinstance(sub, Mapping) and bool(str(sub.get(key, "")).strip())
