"""Gemini as a ``prompt -> JSON text`` function for ``analytics.describe_clusters``.

google-genai is imported only when the function is first called, so jobs/ imports and runs without it
(and without network). The API key is never logged; errors are re-raised with the key redacted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from jobs.errors import redact

__all__ = ["make_gemini_llm", "make_llm", "LLMError"]

log = logging.getLogger(__name__)


class LLMError(RuntimeError):
    """The LLM call failed (message redacted). Profiles fall back to the rules."""


def make_gemini_llm(api_key: str, model: str = "gemini-2.5-flash", *, temperature: float = 0.2,
                    client_factory: Callable[[str], Any] | None = None) -> Callable[[str], str]:
    """A function that sends a prompt to Gemini and returns the JSON text of the answer.

    ``client_factory(api_key)`` builds the client (default ``google.genai.Client(api_key=...)``);
    tests pass a fake one. The client is created once, on first use.
    """
    if not api_key:
        raise ValueError("a Gemini API key is required")
    state: dict[str, Any] = {}
    lock = threading.Lock()

    def _client() -> Any:
        with lock:
            if "client" not in state:
                if client_factory is not None:
                    state["client"] = client_factory(api_key)
                else:
                    from google import genai

                    state["client"] = genai.Client(api_key=api_key)
            return state["client"]

    def call(prompt: str) -> str:
        try:
            client = _client()
            try:
                from google.genai import types

                config: Any = types.GenerateContentConfig(response_mime_type="application/json",
                                                          temperature=temperature)
            except ImportError:  # a fake client in tests without google-genai
                config = {"response_mime_type": "application/json", "temperature": temperature}
            response = client.models.generate_content(model=model, contents=prompt, config=config)
            text = getattr(response, "text", None)
            if not text:
                raise LLMError("the model returned no text")
            return str(text)
        except LLMError:
            raise
        except Exception as exc:  # network, quota, auth: never leak the key
            message = redact(f"{exc.__class__.__name__}: {exc}", [api_key])
            log.warning("Gemini call failed: %s", message)
            raise LLMError(message) from None

    call.__name__ = f"gemini[{model}]"
    return call


def make_llm(config: Any) -> Callable[[str], str] | None:
    """The configured LLM, or None when there is no key or the LLM is switched off."""
    if not getattr(config, "gemini_api_key", None) or not getattr(config, "llm_enabled", True):
        return None
    return make_gemini_llm(config.gemini_api_key, getattr(config, "gemini_model", "gemini-2.5-flash"))
