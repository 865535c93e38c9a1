"""Dashboard helpers: auth, i18n, cached loaders, pure plotly figures, shaping and shared widgets."""

__all__ = [
    "auth",
    "bootstrap",
    "common",
    "figures",
    "i18n",
    "loaders",
    "resources",
    "secrets_file",
    "shaping",
    "users_admin",
    "widgets",
]
