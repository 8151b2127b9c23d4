"""Errors raised at the library's boundary."""


class MdmOtError(ValueError):
    """Bad input at a public boundary: the message says what was wrong and what is allowed."""
