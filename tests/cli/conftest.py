"""The CLI tests read the analysis tests' scripted run folders (made once per session)."""

from tests.analysis.conftest import scripted_runs  # noqa: F401
