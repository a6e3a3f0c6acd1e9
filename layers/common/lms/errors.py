"""Domain errors. Services raise these; `lms.api` maps each kind to one RFC 9457 problem."""

from typing import Any


class DomainError(Exception):
    """Base of every error a client can cause. `extensions` become extra problem members."""

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BadRequestError(DomainError):
    """The request is malformed (bad cursor, bad header)."""


class InvalidCursorError(BadRequestError):
    def __init__(self) -> None:
        super().__init__("The cursor is invalid, expired or belongs to another query.")


class NotFoundError(DomainError):
    """The resource does not exist, or the caller may not see it."""


class ForbiddenError(DomainError):
    """The caller can see the resource but their role may not do this to it."""


class ConflictError(DomainError):
    """The request conflicts with the current state."""


class AlreadyEnrolledError(ConflictError):
    def __init__(self, enrollment_id: str, status: str) -> None:
        super().__init__(
            f"The learner is already enrolled in this course (status {status}).", enrollmentId=enrollment_id
        )


class CourseFullError(ConflictError):
    def __init__(self, capacity: int) -> None:
        super().__init__(f"The course has reached its capacity of {capacity}.", capacity=capacity)


class VersionMismatchError(ConflictError):
    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"If-Match version {expected} does not match the current version {current}.",
            currentVersion=current,
        )


class ConcurrencyError(DomainError):
    """Contention did not settle within the retry budget; the client may retry."""


class UnprocessableError(DomainError):
    """The request is well-formed but cannot be applied as sent."""


class EnrollmentClosedError(ForbiddenError):
    def __init__(self, opens_at: str | None, closes_at: str | None) -> None:
        super().__init__(
            "This course's enrollment window is closed; its staff may still enroll you.",
            enrollmentOpensAt=opens_at,
            enrollmentClosesAt=closes_at,
        )


class AccessEndedError(ForbiddenError):
    def __init__(self, access_ends_at: str | None) -> None:
        super().__init__("Your access to this course has ended; its staff may extend it.", accessEndsAt=access_ends_at)


class SeatsBeingCountedError(ConflictError):
    """A capacity was just given to a course that had none: no seat is taken until the seats its
    learners hold are counted (docs/architecture.md, "Seats")."""

    def __init__(self, capacity: int | None) -> None:
        super().__init__(
            "This course was just given a capacity, and the seats its learners hold are being counted: "
            "retry in a minute.",
            capacity=capacity,
        )


class ErasureInProgressError(ConflictError):
    """The user's data is being erased (docs/API.md, "Learner data: export and erasure")."""

    def __init__(self) -> None:
        super().__init__("This user's data is being erased: no write by or for them is accepted until that is done.")
