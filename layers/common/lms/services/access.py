"""Who may do what, as the contract (docs/API.md, "Authentication and roles") states it."""

from lms.errors import ForbiddenError, NotFoundError
from lms.identity import Identity
from lms.models.catalog import Course


def manages_course(identity: Identity, course: Course) -> bool:
    """Admins manage every course; instructors those that list them in `instructorIds`."""
    return identity.is_admin or (identity.is_instructor and identity.user_id in course.instructor_ids)


def is_staff(identity: Identity, course: Course | None) -> bool:
    """Admins, and the instructors of the course when it is known."""
    return identity.is_admin or (course is not None and manages_course(identity, course))


def require_course_manager(identity: Identity, course: Course) -> None:
    if not manages_course(identity, course):
        raise ForbiddenError("Only this course's instructors or an admin may do this.")


def require_visible(identity: Identity, owner_id: str, course: Course | None, what: str) -> None:
    """Owners, course managers and admins see a learner's record; to anyone else it does not exist."""
    if identity.user_id == owner_id or identity.is_admin:
        return
    if course is not None and manages_course(identity, course):
        return
    raise NotFoundError(f"{what} not found.")


def acting_user(identity: Identity, requested_user_id: str | None) -> str:
    """The learner a self-service read is about: the caller, or anyone for an admin."""
    if requested_user_id is None or requested_user_id == identity.user_id:
        return identity.user_id
    if not identity.is_admin:
        raise ForbiddenError("Only an admin may read another user's records.")
    return requested_user_id
