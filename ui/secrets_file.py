"""Write Moodle settings into ``.streamlit/secrets.toml`` (git-ignored, mode 0600); values are never read
back into the UI — only whether each one is set."""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["SECRETS_PATH", "SecretsFileError", "read_secrets", "update_secrets", "dumps_toml", "is_set"]

SECRETS_PATH = Path(__file__).resolve().parents[1] / ".streamlit" / "secrets.toml"


class SecretsFileError(ValueError):
    """The secrets file cannot be read or a value cannot be written safely; nothing was changed."""


def _path(path: Path | None) -> Path:
    """The secrets file: an explicit path, else ``COHORTLENS_SECRETS_FILE`` (as jobs.config reads it),
    else ``.streamlit/secrets.toml`` beside the app."""
    if path is not None:
        return path
    env = os.environ.get("COHORTLENS_SECRETS_FILE", "").strip()
    return Path(env) if env else SECRETS_PATH


def read_secrets(path: Path | None = None, *, strict: bool = False) -> dict[str, Any]:
    """The parsed file ({} when absent). A broken file is {} for readers, an error with ``strict``."""
    path = _path(path)
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        if strict:
            raise SecretsFileError(f"{path.name} cannot be read ({type(exc).__name__}: {exc}); "
                                   "fix or remove it, nothing was changed") from None
        return {}


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        return _string(v)
    raise SecretsFileError(f"cannot write a {type(v).__name__} value to the secrets file")


def dumps_toml(data: Mapping[str, Any]) -> str:
    """TOML for flat keys plus one level of tables (what secrets.toml holds); round-trips with tomllib."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for k, v in data.items():
        if isinstance(v, Mapping):
            lines.append(f"\n[{k}]")
            for sk, sv in v.items():
                if isinstance(sv, Mapping):
                    raise SecretsFileError(f"nested table {k}.{sk} is not supported in the secrets file")
                lines.append(f"{sk} = {_value(sv)}")
    text = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(text)  # never write a file that does not parse back
    return text


def update_secrets(values: Mapping[str, Any], path: Path | None = None) -> None:
    """Set top-level keys (None/"" = leave unchanged) and write the file atomically with mode 0600.

    Refuses (``SecretsFileError``) rather than overwrite a file it cannot parse, so no other secret
    (Gemini key, cookie key) is ever lost."""
    path = _path(path)
    data = read_secrets(path, strict=True)
    for k, v in values.items():
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        data[k] = v.strip() if isinstance(v, str) else v
    text = dumps_toml(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
