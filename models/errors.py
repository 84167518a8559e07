"""The one exception the runtime raises for model files."""


class ModelError(Exception):
    """A shipped model file is missing, corrupt, or does not match its metadata.

    The message names the file and the command that rebuilds it.
    """
