"""Hypothesis profiles: "ci" (deterministic, small) when the CI environment variable is set, else "dev".

Tests that pin their own ``@settings(max_examples=...)`` keep it; the profile sets the rest.
Select one explicitly with ``pytest --hypothesis-profile=dev``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config):
    # Hypothesis formats a failure with a lazy import that warns on some installs; under
    # filterwarnings=error that turns every falsifying example into a pytest INTERNALERROR.
    config.addinivalue_line("filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")


def pytest_terminal_summary(terminalreporter):
    """Report how many inputs the robustness suite tried (issue 6)."""
    import sys

    module = sys.modules.get("test_robustness")
    tried = getattr(module, "TRIED", None)
    if tried:
        top = ", ".join(f"{k}: {v}" for k, v in tried.most_common(8))
        terminalreporter.write_line(f"robustness fuzzing: {sum(tried.values())} calls over {len(tried)} targets ({top}, ...)")
