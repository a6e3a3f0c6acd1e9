"""Course outlines: the course head, its modules and lessons, and lesson references."""

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lms import keys
from lms.keys import Entity, Writer
from lms.models.catalog import Course, Lesson, LessonCreated, Module, ModuleCreated
from lms.repositories.dynamo import Item, Table, is_condition_failure, serialize, values

_BATCH_WRITE_SIZE = 25
# Batches written at once: a full outline (500 lessons, 100 modules: 44 batches) takes a few
# rounds instead of 44 round trips; within botocore's default pool of 10 connections.
_PARALLEL_BATCHES = 8
_UNPROCESSED_BACKOFF_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class LessonRef:
    """Where a lesson lives, found from its id alone."""

    lesson_id: str
    course_id: str
    module_id: str
    required: bool


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
        head.update(lastModulePosition=len(course.modules), seatsTaken=0)
        self._batch_put_all(items)
        self._table.client.put_item(
            TableName=self._table.name, Item=serialize(head), ConditionExpression="attribute_not_exists(pk)"
        )

    def _batch_put_all(self, items: list[Item]) -> None:
        batches = [items[start : start + _BATCH_WRITE_SIZE] for start in range(0, len(items), _BATCH_WRITE_SIZE)]
        if len(batches) <= 1:
            for batch in batches:
                self._batch_put(batch)
            return
        from concurrent.futures import ThreadPoolExecutor  # only course creation writes in parallel

        with ThreadPoolExecutor(max_workers=_PARALLEL_BATCHES) as pool:
            # list() re-raises the first failure; the head is then never written.
            list(pool.map(self._batch_put, batches))

    def _batch_put(self, items: list[Item]) -> None:
        pending: dict[str, Any] = {self._table.name: [{"PutRequest": {"Item": serialize(i)}} for i in items]}
        attempt = 0
        while pending:
            if attempt:
                # Unprocessed items mean throttling: back off before asking again, as AWS advises.
                time.sleep(min(_UNPROCESSED_BACKOFF_SECONDS * 2**attempt, 1.0))
            response = self._table.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            attempt += 1

    def get_head(self, course_id: str) -> Course | None:
        item = self._table.get(keys.course(course_id))
        return Course.model_validate(item) if item else None

    def get_outline(self, course_id: str) -> Course | None:
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
        return Course.model_validate({**heads[0], "modules": modules})

    def append_module(self, course_id: str, module_id: str, title: str, now: str) -> ModuleCreated | None:
        """Take the next module position from the course head's counter, then store the module."""
        position = self._next_position(keys.course(course_id), "lastModulePosition", now)
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
        self._table.client.put_item(TableName=self._table.name, Item=serialize(item))
        return module

    def append_lesson(self, course_id: str, module_id: str, lesson: Lesson, now: str) -> LessonCreated | None:
        """Append a lesson to a module and count it on the course head, atomically."""
        position = self._next_position(keys.module(course_id, module_id), "lastLessonPosition", now)
        if position is None:
            return None
        placed = lesson.model_copy(update={"position": position})
        lesson_item, ref_item = _lesson_items(course_id, module_id, placed, now)
        self._table.transact(
            [
                {"Put": {"Item": serialize(lesson_item)}},
                {"Put": {"Item": serialize(ref_item)}},
                {
                    "Update": {
                        "Key": serialize(keys.course(course_id)),
                        "UpdateExpression": "ADD lessonCount :one, requiredLessonCount :req SET updatedAt = :now",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": values(one=1, req=int(lesson.required), now=now),
                    }
                },
            ]
        )
        return LessonCreated(
            id=placed.id,
            course_id=course_id,
            module_id=module_id,
            title=placed.title,
            position=position,
            required=placed.required,
        )

    def _next_position(self, key: dict[str, str], counter: str, now: str) -> int | None:
        try:
            response = self._table.client.update_item(
                TableName=self._table.name,
                Key=serialize(key),
                UpdateExpression=f"ADD {counter} :one SET updatedAt = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values(one=1, now=now),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return int(response["Attributes"][counter]["N"])

    def get_lesson_ref(self, lesson_id: str) -> LessonRef | None:
        item = self._table.get(keys.lesson_ref(lesson_id))
        if not item:
            return None
        return LessonRef(
            lesson_id=lesson_id,
            course_id=item["courseId"],
            module_id=item["moduleId"],
            required=item["required"],
        )

    def delete_lesson(self, course_id: str, lesson_id: str, now: str) -> bool:
        """Remove a lesson and uncount it; False when the course has no such lesson."""
        item = self._table.get(keys.lesson(course_id, lesson_id))
        if not item:
            return False
        required = bool(item["required"])
        try:
            self._table.transact(
                [
                    {
                        "Delete": {
                            "Key": serialize(keys.lesson(course_id, lesson_id)),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Delete": {"Key": serialize(keys.lesson_ref(lesson_id))}},
                    {
                        "Update": {
                            "Key": serialize(keys.course(course_id)),
                            "UpdateExpression": "ADD lessonCount :minus, requiredLessonCount :req SET updatedAt = :now",
                            "ExpressionAttributeValues": values(minus=-1, req=-int(required), now=now),
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False  # deleted concurrently
            raise
        return True
