"""Gemini wiring without network: a fake client; the pipeline uses it only with a key, and caches."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

import jobs.llm
from jobs.clock import utcnow
from jobs.llm import LLMError, make_gemini_llm, make_llm
from jobs.pipeline import run_course

REPLY = json.dumps({"name": "Nhóm chăm chỉ", "summary": "Học đều mỗi tuần.",
                    "characteristics": ["Xem bài giảng thường xuyên"], "recommendations": ["Duy trì nhịp học"]},
                   ensure_ascii=False)


class FakeModels:
    def __init__(self, reply=REPLY, error=None):
        self.reply, self.error, self.calls = reply, error, []

    def generate_content(self, *, model, contents, config):
        self.calls.append({"model": model, "contents": contents, "config": config})
        if self.error:
            raise self.error
        return SimpleNamespace(text=self.reply)


def test_make_gemini_llm_sends_json_request():
    models = FakeModels()
    keys = []
    fn = make_gemini_llm("test-key-" + "x" * 10, "gemini-2.5-flash",
                         client_factory=lambda key: keys.append(key) or SimpleNamespace(models=models))
    assert fn("prompt text") == REPLY and fn("again") == REPLY
    assert len(keys) == 1  # one client, created lazily
    call = models.calls[0]
    assert call["model"] == "gemini-2.5-flash" and call["contents"] == "prompt text"
    cfg = call["config"]
    mime = getattr(cfg, "response_mime_type", None) or cfg["response_mime_type"]
    temp = getattr(cfg, "temperature", None) if not isinstance(cfg, dict) else cfg["temperature"]
    assert mime == "application/json" and temp == 0.2


def test_errors_never_carry_the_key(caplog):
    key = "test-key-" + "s3cr3tvalue99"
    models = FakeModels(error=RuntimeError(f"403 for https://x.googleapis.com/v1?key={key} ({key})"))
    fn = make_gemini_llm(key, client_factory=lambda k: SimpleNamespace(models=models))
    with caplog.at_level(logging.DEBUG), pytest.raises(LLMError) as exc:
        fn("p")
    assert key not in str(exc.value) and key not in caplog.text
    with pytest.raises(ValueError):
        make_gemini_llm("")


def test_make_llm_needs_key_and_switch(config):
    assert make_llm(config) is None
    assert make_llm(replace(config, gemini_api_key="test-key-abc123", llm_enabled=False)) is None
    assert callable(make_llm(replace(config, gemini_api_key="test-key-abc123")))


def test_pipeline_uses_gemini_when_configured_and_caches(store, config, small_site, monkeypatch):
    calls = []

    def fake_factory(api_key, model="gemini-2.5-flash", **kw):
        def llm(prompt):
            calls.append(prompt)
            return REPLY
        return llm

    monkeypatch.setattr(jobs.llm, "make_gemini_llm", fake_factory)
    cfg = replace(config, gemini_api_key="test-key-" + "abc123456")
    as_of = utcnow() - timedelta(days=1)
    first = run_course(202, source="demo", store=store, as_of=as_of, config=cfg)
    run = store.runs.get(first["run_id"])
    big = [c for c in run["clusters"] if c["size"] >= 5]
    assert calls and big and all(c["profile"]["source"] == "llm" for c in big)
    # a cluster of fewer than 5 students is never sent (its mean is nearly one person's figures)
    assert all(c["profile"]["source"] == "rules" for c in run["clusters"] if c["size"] < 5)
    assert len(calls) == 2 * len(big)  # one profile per language (vi and en are both stored)
    assert sum("Write in English" in c for c in calls) == len(big)
    assert all(set(c["profiles"]) == {"vi", "en"} for c in run["clusters"])
    n = len(calls)
    run_course(202, source="demo", store=store, as_of=as_of, config=cfg)
    assert len(calls) == n  # identical statistics: every profile came from store.llm_cache
    assert "abc123456" not in json.dumps(run, default=str)
