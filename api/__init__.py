"""CohortLens JSON API (version 1), served beside the dashboard by ``app.py`` (``st.App`` routes).

Thin over the store's repositories and the job path of Run now; see :mod:`api.routes` and
``GET /api/openapi.json``.
"""

from api.routes import API_VERSION, api_routes

__all__ = ["API_VERSION", "api_routes"]
