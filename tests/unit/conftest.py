"""Fixtures of the unit tests that drive the handlers (tests/conftest.py has the shared ones)."""

import pytest

from tests.conftest import ApiHarness, Course, SteppingClock, create_course, enroll


@pytest.fixture
def stepping_clock(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> SteppingClock:
    """The progress handlers' service, wired with a SteppingClock."""
    from lms import container

    clock = SteppingClock()
    api.wire(monkeypatch, "progress", container.progress_service(clock=clock), "record_progress", "update_progress")
    return clock


@pytest.fixture
def course(api: ApiHarness, stepping_clock: SteppingClock) -> Course:
    """The OUTLINE course taught by INSTRUCTOR, with STUDENT enrolled."""
    created = create_course(api)
    enroll(api, created.id)
    return created
