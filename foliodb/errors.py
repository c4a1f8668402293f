"""Errors a person can act on; the CLI prints them without a traceback."""


class FolioError(Exception):
    """An expected failure: bad data, a missing prerequisite, a refused operation."""


class BadArgument(FolioError):
    """A value given by the caller is not acceptable (the CLI exits 2 naming the option).

    Raised by the library where the rule lives, so a command does not check it a second time.
    """

    def __init__(self, message: str, param_hint: str | None = None):
        super().__init__(message)
        self.param_hint = param_hint


SHOWN_CHARACTERS = 40  # a value longer than this is shortened in messages


def shown(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A value as a message quotes it: repr, and only its first ``limit`` characters (with the
    length) when it is longer, so a 10,000-character cell does not become a 10 kB message."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def odd_character(value: str) -> str | None:
    """What makes a value unreadable as plain ASCII text, for a message: the first control
    character (NUL, a line break from a quoted multi-line cell, …) or non-ASCII character."""
    for position, char in enumerate(value, start=1):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            names = {0: "NUL", 9: "a tab", 10: "a line break", 13: "a carriage return"}
            name = names.get(code, "a control character")
            return f"{name} (U+{code:04X}) at character {position}"
        if code > 0x7E:
            return f"the non-ASCII character {char!r} (U+{code:04X}) at character {position}"
    return None
