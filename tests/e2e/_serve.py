"""The dashboard as an st.App with the sign-in routes (ui.web), for the browser tests:
``python -m uvicorn tests.e2e._serve:app`` from the repository root."""

from pathlib import Path

import streamlit as st

from ui import web

app = st.App(Path(__file__).resolve().parents[2] / "app.py", routes=web.routes())
