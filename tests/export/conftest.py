import pytest

from tests.export.tiny import TinyRuns, tiny_runs


@pytest.fixture(scope="session")
def tiny() -> TinyRuns:
    """Tiny trainer-shaped runs exported to ONNX, built once per test session."""
    return tiny_runs()
