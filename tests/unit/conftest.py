"""Fixtures of the unit tests that drive the handlers (tests/conftest.py has the shared ones)."""

import pytest

from tests.conftest import ApiHarness, Course, SteppingClock, create_course, enroll


@pytest.fixture
def stepping_clock(monkeypatch: pytest.MonkeyPatch) -> SteppingClock:
    clock = SteppingClock()
    monkeypatch.setattr("lms.services.progress.utc_now", clock)
    return clock


@pytest.fixture
def course(api: ApiHarness, stepping_clock: SteppingClock) -> Course:
    """The OUTLINE course taught by INSTRUCTOR, with STUDENT enrolled."""
    created = create_course(api)
    enroll(api, created.id)
    return created
