"""Errors of the exporter."""


class ExportError(Exception):
    """The export cannot go on (bad run folder, failed parity check): one line for the user."""
