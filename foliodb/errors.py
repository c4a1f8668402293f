"""Errors a person can act on; the CLI prints them without a traceback."""


class FolioError(Exception):
    """An expected failure: bad data, a missing prerequisite, a refused operation."""
