"""Course outlines: the course head, its modules and lessons, and lesson references.

The head's `outlineVersion` counts the outline's changes (a module or lesson added, a lesson removed),
moved in the same write as the change: summaries say which version they were computed against."""

import json
from dataclasses import dataclass
from typing import Any

from lms import keys
from lms.keys import Entity, Writer
from lms.models.catalog import Course, Lesson, LessonCreated, LessonRef, Module, ModuleCreated
from lms.repositories.dynamo import (
    Action,
    ConditionFailedError,
    Item,
    Table,
    TransactionCancelledError,
    delete_action,
    put_action,
    update_action,
    values,
)

# Batches written at once: a full outline (500 lessons, 100 modules: 44 batches) takes a few
# rounds instead of 44 round trips; within botocore's default pool of 10 connections.
_PARALLEL_BATCHES = 8


def _lesson_items(course_id: str, module_id: str, lesson: Lesson, now: str) -> list[Item]:
    common = {"id": lesson.id, "courseId": course_id, "moduleId": module_id, "required": lesson.required}
    return [
        {
            **keys.lesson(course_id, lesson.id),
            **common,
            "entity": Entity.LESSON,
            "writer": Writer.API,
            "title": lesson.title,
            "position": lesson.position,
            "createdAt": now,
        },
        {**keys.lesson_ref(lesson.id), **common, "entity": Entity.LESSON_REF},
    ]


# --- The seat counter (docs/architecture.md, "Seats"): actions of the transactions that move seats.
# A seat is taken from the counter whose epoch the enrollment will carry, and not while that counter
# is still counting the seats held before it began.
_COUNTING = "seatEpoch = :epoch AND attribute_not_exists(seatCount)"


def take_seats(course_id: str, epoch: str, seats: int = 1, capacity: int | None = None) -> Action:
    """One seat under the stored capacity; or `seats` seats at once, if they fit under `capacity` as
    read, still the stored one (a condition cannot add, so the room is computed here; a capacity
    changed meanwhile refuses it)."""
    if capacity is None:
        condition, room = f"{_COUNTING} AND seatsTaken < #capacity", {}
    else:
        condition = f"{_COUNTING} AND #capacity = :capacity AND seatsTaken <= :room"
        room = {"capacity": capacity, "room": capacity - seats}
    return update_action(
        keys.course(course_id),
        "ADD seatsTaken :seats",
        condition=condition,
        expression_values=values(seats=seats, epoch=epoch, **room),
        names={"#capacity": "capacity"},
    )


def free_seat(course_id: str, epoch: str) -> Action:
    """A seat the counter of `epoch` counted, given back (refused if the counter was since removed)."""
    return update_action(
        keys.course(course_id),
        "ADD seatsTaken :minus",
        condition="seatEpoch = :epoch",
        expression_values=values(minus=-1, epoch=epoch),
    )


def seat_mark_as_read(marker: str | None) -> tuple[str, dict[str, str]]:
    """The condition that an enrollment's seat mark is still `marker` (None: none), and its value."""
    return ("attribute_not_exists(seatEpoch)", {}) if marker is None else ("seatEpoch = :mark", {"mark": marker})


@dataclass(frozen=True, slots=True)
class SeatCountStart:
    """A seat counter to start, should the course have none: its epoch, and when the count of the
    seats already held may begin."""

    epoch: str
    due: str


@dataclass(frozen=True, slots=True)
class SeatCountCursor:
    """How far a seat count is through the course's enrollment index (`seatCount` on the head): the
    shard it reads and the last key read there. Stored as a string, so that each step's write is
    conditioned on the cursor it started from."""

    shard: int
    after: dict[str, str] | None = None

    def encode(self) -> str:
        return json.dumps({"shard": self.shard, "after": self.after}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, encoded: str) -> "SeatCountCursor":
        fields = json.loads(encoded)
        return cls(int(fields["shard"]), fields["after"])


@dataclass(frozen=True, slots=True)
class VersionedCourse:
    course: Course
    outline_version: int


def _versioned(item: Item) -> VersionedCourse:
    return VersionedCourse(Course.model_validate(item), int(item.get("outlineVersion", 0)))


def lesson_ref_of(item: Item) -> LessonRef:
    """A lesson reference item (keys.lesson_ref) as the value services use."""
    return LessonRef(item["id"], item["courseId"], item["moduleId"], bool(item["required"]))


class CourseRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, course: Course) -> None:
        """Write modules and lessons first and the course head last, so a course only becomes
        visible once its whole outline is stored."""
        items: list[Item] = []
        for module in course.modules:
            items.append(
                {
                    **keys.module(course.id, module.id),
                    "entity": Entity.MODULE,
                    "writer": Writer.API,
                    "id": module.id,
                    "courseId": course.id,
                    "title": module.title,
                    "position": module.position,
                    "lastLessonPosition": len(module.lessons),
                }
            )
            for lesson in module.lessons:
                items.extend(_lesson_items(course.id, module.id, lesson, course.created_at))
        head = course.model_dump(by_alias=True, exclude={"modules"}, exclude_none=True)
        head.update(keys.course(course.id), entity=Entity.COURSE, writer=Writer.API)
        head.update(lastModulePosition=len(course.modules), outlineVersion=1)
        if course.capacity is not None:
            # Only a capped course counts seats: an uncapped one takes enrollments without writing its
            # head (a course's counts come from the sharded aggregate). A capacity given later starts
            # a counter that counts the seats held first (docs/architecture.md, "Seats"). The first
            # counter's epoch is the course's id; any later one gets a new id.
            head.update(seatsTaken=0, seatEpoch=course.id)
        # put_all raises on the first failure; the head is then never written.
        self._table.put_all(items, parallel=_PARALLEL_BATCHES)
        self._table.put(head, condition="attribute_not_exists(pk)")

    def update_settings(
        self, course_id: str, changes: dict[str, Any], now: str, *, instructor: str | None, seat_count: SeatCountStart
    ) -> bool:
        """Apply `changes` (stored names; None removes) in one conditional write; False when a
        condition failed: the course is gone, `instructor` (None: an admin) does not teach it, or the
        window would be inverted by a stored bound. A capacity given to a course that has none starts
        its seat counter at 0, with `seat_count`'s epoch, as a count to make (docs/architecture.md,
        "Seats"); one cleared removes the counter, which enrollments stop keeping."""
        if changes.get("capacity") is None:
            return self._update_settings(course_id, changes, now, instructor)
        # Mostly the course counts its seats already, and only the capacity moves.
        return self._update_settings(course_id, changes, now, instructor, counted=True) or self._update_settings(
            course_id, changes, now, instructor, counted=False, seat_count=seat_count
        )

    def _update_settings(
        self,
        course_id: str,
        changes: dict[str, Any],
        now: str,
        instructor: str | None,
        *,
        counted: bool | None = None,
        seat_count: SeatCountStart | None = None,
    ) -> bool:
        """`counted`: whether the course must count seats already (None: either)."""
        names = {f"#f{n}": name for n, name in enumerate(changes)}
        sets = [f"#f{n} = :f{n}" for n, value in enumerate(changes.values()) if value is not None]
        removes = [f"#f{n}" for n, value in enumerate(changes.values()) if value is None]
        expression_values = {f"f{n}": value for n, value in enumerate(changes.values()) if value is not None}
        conditions = ["attribute_exists(pk)"]
        if instructor is not None:
            conditions.append("contains(instructorIds, :me)")
            expression_values["me"] = instructor
        if counted is not None:
            names["#capacity"] = "capacity"
            conditions.append("attribute_exists(#capacity)" if counted else "attribute_not_exists(#capacity)")
        if seat_count is not None:
            sets += ["seatsTaken = :zero", "seatEpoch = :epoch", "seatCount = :count"]
            sets += [f"{name} = :{name}" for name in keys.seat_count_index(course_id, seat_count.due)]
            expression_values |= {"zero": 0, "epoch": seat_count.epoch, "count": SeatCountCursor(0).encode()}
            expression_values |= keys.seat_count_index(course_id, seat_count.due)
        elif "capacity" in changes and changes["capacity"] is None:
            # Uncapped, the course stops counting: the counter would go stale, so it goes.
            removes += ["seatsTaken", "seatEpoch", "seatCount", *keys.ACCESS_INDEX_ATTRIBUTES]
        opens, closes = changes.get("enrollmentOpensAt"), changes.get("enrollmentClosesAt")
        if opens is not None and "enrollmentClosesAt" not in changes:
            conditions.append("(attribute_not_exists(enrollmentClosesAt) OR enrollmentClosesAt >= :opens)")
            expression_values["opens"] = opens
        if closes is not None and "enrollmentOpensAt" not in changes:
            conditions.append("(attribute_not_exists(enrollmentOpensAt) OR enrollmentOpensAt <= :closes)")
            expression_values["closes"] = closes
        expression_values["now"] = now
        expression = "SET " + ", ".join([*sets, "updatedAt = :now"])
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self._table.update(
                keys.course(course_id),
                expression,
                condition=" AND ".join(conditions),
                expression_values=values(**expression_values),
                names=names,
            )
        except ConditionFailedError:
            return False
        return True

    def get_head(self, course_id: str, *, consistent: bool = True) -> Course | None:
        found = self.get_versioned_head(course_id, consistent=consistent)
        return found.course if found else None

    def get_versioned_head(self, course_id: str, *, consistent: bool = True) -> VersionedCourse | None:
        item = self._table.get(keys.course(course_id), consistent=consistent)
        return _versioned(item) if item else None

    def get_outline(self, course_id: str) -> Course | None:
        found = self.get_versioned_outline(course_id)
        return found.course if found else None

    def get_versioned_outline(self, course_id: str) -> VersionedCourse | None:
        items = self._table.query_all(
            key_condition="pk = :pk", expression_values=values(pk=keys.course_partition(course_id))
        )
        by_entity: dict[str, list[Item]] = {}
        for item in items:
            by_entity.setdefault(item["entity"], []).append(item)
        heads = by_entity.get(Entity.COURSE, [])
        if not heads:
            return None
        lessons_by_module: dict[str, list[Lesson]] = {}
        for item in by_entity.get(Entity.LESSON, []):
            lessons_by_module.setdefault(item["moduleId"], []).append(Lesson.model_validate(item))
        modules = [
            Module.model_validate(
                {**item, "lessons": sorted(lessons_by_module.get(item["id"], []), key=lambda x: x.position)}
            )
            for item in by_entity.get(Entity.MODULE, [])
        ]
        modules.sort(key=lambda m: m.position)
        return _versioned({**heads[0], "modules": modules})

    def append_module(self, course_id: str, module_id: str, title: str, now: str) -> ModuleCreated | None:
        """Take the next module position from the course head's counter, then store the module."""
        position = self._next_position(keys.course(course_id), "lastModulePosition", now, outline_change=True)
        if position is None:
            return None
        module = ModuleCreated(id=module_id, course_id=course_id, title=title, position=position)
        item = {
            **keys.module(course_id, module_id),
            **module.model_dump(by_alias=True),
            "entity": Entity.MODULE,
            "writer": Writer.API,
            "lastLessonPosition": 0,
        }
        self._table.put(item)
        return module

    def append_lesson(self, course_id: str, module_id: str, lesson: Lesson, now: str) -> LessonCreated | None:
        """Append a lesson to a module and count it on the course head, atomically."""
        position = self._next_position(keys.module(course_id, module_id), "lastLessonPosition", now)
        if position is None:
            return None
        placed = lesson.model_copy(update={"position": position})
        lesson_item, ref_item = _lesson_items(course_id, module_id, placed, now)
        self._table.transact(
            {
                "lesson": put_action(lesson_item),
                "ref": put_action(ref_item),
                "course": update_action(
                    keys.course(course_id),
                    "ADD lessonCount :one, requiredLessonCount :req, outlineVersion :one SET updatedAt = :now",
                    condition="attribute_exists(pk)",
                    expression_values=values(one=1, req=int(lesson.required), now=now),
                ),
            }
        )
        return LessonCreated(
            id=placed.id,
            course_id=course_id,
            module_id=module_id,
            title=placed.title,
            position=position,
            required=placed.required,
        )

    def _next_position(
        self, key: dict[str, str], counter: str, now: str, *, outline_change: bool = False
    ) -> int | None:
        version = ", outlineVersion :one" if outline_change else ""
        try:
            updated = self._table.update(
                key,
                f"ADD {counter} :one{version} SET updatedAt = :now",
                condition="attribute_exists(pk)",
                expression_values=values(one=1, now=now),
            )
        except ConditionFailedError:
            return None
        return int(updated[counter])

    def delete_lesson(self, course_id: str, lesson_id: str, now: str) -> bool:
        """Remove a lesson and uncount it; False when the course has no such lesson."""
        item = self._table.get(keys.lesson(course_id, lesson_id))
        if not item:
            return False
        required = bool(item["required"])
        try:
            self._table.transact(
                {
                    "lesson": delete_action(keys.lesson(course_id, lesson_id), condition="attribute_exists(pk)"),
                    "ref": delete_action(keys.lesson_ref(lesson_id)),
                    "course": update_action(
                        keys.course(course_id),
                        "ADD lessonCount :minus, requiredLessonCount :req, outlineVersion :one SET updatedAt = :now",
                        expression_values=values(minus=-1, req=-int(required), one=1, now=now),
                    ),
                }
            )
        except TransactionCancelledError:
            return False  # deleted concurrently
        return True
