"""The minimum password policy, shared by the Settings page, first start and ``python -m jobs users``."""

from __future__ import annotations

__all__ = ["MIN_LENGTH", "password_problem", "check_password_policy"]

MIN_LENGTH = 10
_COMMON = {"password", "passw0rd", "123456789", "1234567890", "qwertyuiop", "cohortlens", "iloveyou",
           "admin12345", "administrator", "letmein123", "welcome123", "password123", "moodle1234"}


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is refused (English, one line), or None when it is acceptable.

    At least 10 characters, not one repeated character, not only digits, not a well-known password,
    and not the user name (nor containing it)."""
    pw = str(password or "")
    if len(pw) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters are needed"
    if len(set(pw)) < 4:
        return "use more different characters"
    if pw.isdigit():
        return "use letters too, not only digits"
    if pw.lower() in _COMMON:
        return "this is a well-known password"
    name = str(username or "").strip().lower()
    if name and len(name) >= 3 and name in pw.lower():
        return "the password must not contain the user name"
    return None


def check_password_policy(password: str, username: str = "") -> None:
    """Raise ValueError("password too weak: ...") when the policy refuses ``password``."""
    problem = password_problem(password, username)
    if problem:
        raise ValueError(f"password too weak: {problem}")
