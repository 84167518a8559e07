"""The exceptions the runtime raises: for model files, and for a text it cannot analyse."""


class ModelError(Exception):
    """A shipped model file is missing, corrupt, or does not match its metadata.

    The message names the file and the command that rebuilds it.
    """


class TextError(ValueError):
    """One text could not be analysed (reading it took longer than its budget); other texts
    of the same batch are unaffected when run on their own."""
