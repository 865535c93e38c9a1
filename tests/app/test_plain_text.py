"""Text stays text: a course, cluster or LLM text written as markdown is shown literally."""

from __future__ import annotations

from tests.app.conftest import PAGES, Creds, login, new_app

EVIL = "![x](http://127.0.0.1:9/x.png) [click](http://127.0.0.1:9/) :red[big] $x^2$"


def test_md_escapes_every_markdown_construct():
    import re

    from ui.plain import md

    out = md(EVIL + "\n# h <b>b</b> **s** `c`")
    assert "\n" not in out
    # every markdown-active character is preceded by a backslash (CommonMark shows it literally)
    assert re.search(r"(?<!\\)[!\[\]()*_`#<>$:]", out.replace("\\\\", "")) is None, out


def test_names_on_overview_jobs_and_clusters_are_plain(populated):
    populated.courses.upsert({"id": 101, "fullname": EVIL})
    run = populated.runs.latest(101)
    evil = {"name": EVIL, "summary": EVIL, "recommendations": [EVIL], "source": "llm"}
    populated.runs.update(run["run_id"], {"clusters": [{**run["clusters"][0], "name": EVIL, "profile": evil,
                                                        "profiles": {"en": evil, "vi": evil}},
                                                       *run["clusters"][1:]]})
    try:
        at = login(new_app(), "admin", Creds.admin)
        texts = []
        for page in ("overview", "jobs", "clusters"):
            at.switch_page(PAGES[page]).run()
            assert not at.exception, at.exception
            texts += [m.value for m in at.markdown] + [s.value for s in at.subheader] + [b.label for b in at.button]
        shown = [x for x in texts if "127" in x]
        assert len(shown) >= 4, texts  # overview subheaders, Run now label, cluster name, summary, advice
        assert all("\\!\\[x\\]\\(http\\:" in x and "x.png" not in x for x in shown), shown
    finally:
        populated.courses.upsert({"id": 101, "fullname": "Demo course 101"})
        populated.runs.update(run["run_id"], {"clusters": run["clusters"]})
