"""Text stays text: names from Moodle, uploads or the LLM shown in markdown-rendering places.

Streamlit renders markdown (images, links, ``:color[...]``, LaTeX) in ``st.markdown``, captions,
alerts, subheaders and widget labels. :func:`md` backslash-escapes every ASCII punctuation character
(CommonMark shows an escaped character literally) and folds line breaks, so a course named
``![x](https://host/x.png)`` is shown as those characters and nothing is loaded.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["md"]

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def md(value: Any) -> str:
    """``value`` as plain text inside markdown."""
    text = "" if value is None else str(value)
    text = re.sub(r"[\r\n\t]+", " ", text)
    return _PUNCT.sub(r"\\\1", text)
