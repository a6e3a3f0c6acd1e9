"""The course catalog: creating outlines, reading them, and editing them (modules and lessons)."""

import re
from typing import Any

import pytest

from tests.conftest import ADMIN, OTHER_INSTRUCTOR, STUDENT, ApiHarness, Reply, assert_problem
from tests.conftest import INSTRUCTOR as OWNER  # becomes an instructor of the courses it creates

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MAX_BODY = 64 * 1024

OUTLINE = {
    "title": "Distributed Systems",
    "description": "Consensus and replication",
    "capacity": 30,
    "modules": [
        {"title": "Basics", "lessons": [{"title": "Clocks"}, {"title": "Reading", "required": False}]},
        {"title": "Consensus", "lessons": [{"title": "Paxos"}, {"title": "Raft", "required": True}]},
        {"title": "Extras"},
    ],
}


# ------------------------------------------------------------------------------------------ helpers
def create_course(
    api: ApiHarness, body: dict[str, Any] | None = None, caller: dict[str, str] = OWNER
) -> dict[str, Any]:
    reply = api.call("create_course", **caller, body=body or OUTLINE)
    assert reply.status == 201, reply.body
    course: dict[str, Any] = reply.body
    return course


def get_course(api: ApiHarness, course_id: str) -> dict[str, Any]:
    reply = api.call("get_course", path={"courseId": course_id})
    assert reply.status == 200, reply.body
    course: dict[str, Any] = reply.body
    return course


def add_module(api: ApiHarness, course_id: str, caller: dict[str, str] = OWNER, **body: Any) -> Reply:
    return api.call("create_module", **caller, path={"courseId": course_id}, body=body or {"title": "New module"})


def add_lesson(api: ApiHarness, course_id: str, module_id: str, caller: dict[str, str] = OWNER, **body: Any) -> Reply:
    path = {"courseId": course_id, "moduleId": module_id}
    return api.call("create_lesson", **caller, path=path, body=body or {"title": "New lesson"})


def delete_lesson(api: ApiHarness, course_id: str, lesson_id: str, caller: dict[str, str] = OWNER) -> Reply:
    return api.call("delete_lesson", **caller, path={"courseId": course_id, "lessonId": lesson_id})


def titles(course: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The outline as (module title, [lesson titles]) in the order the API returns it."""
    return [(m["title"], [lesson["title"] for lesson in m["lessons"]]) for m in course["modules"]]


def lesson_ids(course: dict[str, Any]) -> list[str]:
    return [lesson["id"] for module in course["modules"] for lesson in module["lessons"]]


def stored_course_count(dynamodb: Any) -> int:
    items = dynamodb.scan(TableName="lms-dev")["Items"]
    return sum(1 for item in items if item.get("entity", {}).get("S") == "COURSE")


# ------------------------------------------------------------------------------------ create course
def test_instructor_creates_course_and_gets_full_outline_in_order(api: ApiHarness) -> None:
    """Given an outline with modules and lessons, when an instructor posts it, then the 201 body is the
    outline in order, with positions, required flags, counts and timestamps, and GET returns the same."""
    course = create_course(api)

    assert course["title"] == "Distributed Systems"
    assert course["description"] == "Consensus and replication"
    assert course["capacity"] == 30
    assert course["instructorIds"] == ["inst-1"]
    assert titles(course) == [("Basics", ["Clocks", "Reading"]), ("Consensus", ["Paxos", "Raft"]), ("Extras", [])]
    assert [m["position"] for m in course["modules"]] == [1, 2, 3]
    assert [[lesson["position"] for lesson in m["lessons"]] for m in course["modules"]] == [[1, 2], [1, 2], []]
    assert [lesson["required"] for m in course["modules"] for lesson in m["lessons"]] == [True, False, True, True]
    assert (course["lessonCount"], course["requiredLessonCount"]) == (4, 3)
    assert TIMESTAMP.match(course["createdAt"])
    assert course["updatedAt"] == course["createdAt"]
    all_ids = [course["id"], *(m["id"] for m in course["modules"]), *lesson_ids(course)]
    assert len(set(all_ids)) == len(all_ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in all_ids)
    assert get_course(api, course["id"]) == course


def test_large_outline_is_stored_completely_and_read_back_in_outline_order(api: ApiHarness) -> None:
    """More items than one batch write holds: every module and lesson comes back, sorted by position."""
    modules = [{"title": f"M{m}", "lessons": [{"title": f"M{m}L{n}"} for n in range(1, 13)]} for m in range(1, 5)]
    course = create_course(api, {"title": "Big", "modules": modules})

    expected = [(f"M{m}", [f"M{m}L{n}" for n in range(1, 13)]) for m in range(1, 5)]
    assert titles(get_course(api, course["id"])) == expected
    assert (course["lessonCount"], course["requiredLessonCount"]) == (48, 48)


def test_the_largest_outline_one_request_may_carry_is_stored_completely(api: ApiHarness) -> None:
    """500 lessons over 100 modules (1,100 items, written as parallel batches): all of it comes back."""
    modules = [{"title": f"M{m}", "lessons": [{"title": f"L{m}.{n}"} for n in range(5)]} for m in range(100)]
    course = create_course(api, {"title": "MOOC", "modules": modules})

    stored = get_course(api, course["id"])
    assert titles(stored) == [(f"M{m}", [f"L{m}.{n}" for n in range(5)]) for m in range(100)]
    assert (stored["lessonCount"], len(lesson_ids(stored))) == (500, 500)


@pytest.mark.parametrize(
    "modules",
    [
        pytest.param([{"title": "M", "lessons": [{"title": "L"}] * 101}] * 5, id="501-lessons"),
        pytest.param([{"title": "M", "lessons": [{"title": "L"}] * 20}] * 100, id="2000-lessons"),
    ],
)
def test_an_outline_over_500_lessons_is_422_and_stores_nothing(
    api: ApiHarness, dynamodb: Any, modules: list[dict[str, Any]]
) -> None:
    problem = assert_problem(api.call("create_course", **OWNER, body={"title": "T", "modules": modules}), 422)

    assert [(e["field"], "at most 500" in e["message"]) for e in problem["errors"]] == [("modules", True)]
    assert stored_course_count(dynamodb) == 0


def test_a_course_may_be_taught_by_any_user_id_a_token_may_carry(api: ApiHarness) -> None:
    course = create_course(api, {"title": "T", "instructorIds": ["CN=Ann,OU=Staff", "José"]}, caller=ADMIN)
    teacher = {"user": "José", "roles": "instructor"}

    assert add_module(api, course["id"], teacher).status == 201


def test_minimal_course_has_null_optionals_and_zero_counts(api: ApiHarness) -> None:
    course = create_course(api, {"title": "  Padded title  "})

    assert course["title"] == "Padded title"
    assert course["description"] is None
    assert course["capacity"] is None
    assert course["modules"] == []
    assert (course["lessonCount"], course["requiredLessonCount"]) == (0, 0)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ([], ["inst-1"]),
        (["inst-2"], ["inst-2", "inst-1"]),
        (["inst-2", "inst-1"], ["inst-2", "inst-1"]),
        (["inst-1", "inst-1"], ["inst-1"]),
    ],
)
def test_instructor_creating_a_course_is_in_instructor_ids_exactly_once(
    api: ApiHarness, listed: list[str], expected: list[str]
) -> None:
    course = create_course(api, {"title": "T", "instructorIds": listed})
    assert course["instructorIds"] == expected


@pytest.mark.parametrize(("listed", "expected"), [([], []), (["inst-2"], ["inst-2"])])
def test_admin_creating_a_course_is_not_added_to_instructor_ids(
    api: ApiHarness, listed: list[str], expected: list[str]
) -> None:
    course = create_course(api, {"title": "T", "instructorIds": listed}, caller=ADMIN)
    assert course["instructorIds"] == expected


def test_user_with_student_and_instructor_roles_may_create_a_course(api: ApiHarness) -> None:
    course = create_course(api, {"title": "T"}, caller={"user": "both", "roles": "student,instructor"})
    assert course["instructorIds"] == ["both"]


def test_student_may_not_create_a_course_and_nothing_is_stored(api: ApiHarness, dynamodb: Any) -> None:
    assert_problem(api.call("create_course", **STUDENT, body=OUTLINE), 403)
    assert stored_course_count(dynamodb) == 0


# ------------------------------------------------------------------------------- create validation
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"title": "T", "price": 3}, "price", id="unknown-field"),
        pytest.param({"title": "T", "capacity": "5"}, "capacity", id="capacity-as-string"),
        pytest.param({"title": "T", "capacity": 0}, "capacity", id="capacity-zero"),
        pytest.param({"title": "T", "capacity": 2.5}, "capacity", id="capacity-fraction"),
        pytest.param({"title": ""}, "title", id="empty-title"),
        pytest.param({"title": "   "}, "title", id="blank-title"),
        pytest.param({"title": 7}, "title", id="title-as-number"),
        pytest.param({"description": "no title"}, "title", id="missing-title"),
        pytest.param({"title": "T", "instructorIds": "inst-2"}, "instructorIds", id="instructor-ids-not-list"),
        pytest.param({"title": "T", "instructorIds": ["u" * 257]}, "instructorIds.0", id="instructor-id-too-long"),
        pytest.param({"title": "T", "instructorIds": [""]}, "instructorIds.0", id="instructor-id-empty"),
        pytest.param({"title": "T", "modules": [{"lessons": []}]}, "modules.0.title", id="module-without-title"),
        pytest.param(
            {"title": "T", "modules": [{"title": "M", "lessons": [{"title": "L", "required": "yes"}]}]},
            "modules.0.lessons.0.required",
            id="lesson-required-as-string",
        ),
        pytest.param(
            {"title": "T", "modules": [{"title": "M", "lessons": [{"title": "L", "video": "x"}]}]},
            "modules.0.lessons.0.video",
            id="lesson-unknown-field",
        ),
    ],
)
def test_invalid_course_body_is_422_naming_the_field_and_stores_nothing(
    api: ApiHarness, dynamodb: Any, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.call("create_course", **OWNER, body=body), 422)

    assert {"location": "body", "field": field}.items() <= problem["errors"][0].items()
    assert all({"location", "field", "message"} <= entry.keys() for entry in problem["errors"])
    assert stored_course_count(dynamodb) == 0


def test_every_bad_field_gets_its_own_error_entry(api: ApiHarness) -> None:
    problem = assert_problem(api.call("create_course", **OWNER, body={"title": "", "capacity": "5", "x": 1}), 422)
    assert sorted(entry["field"] for entry in problem["errors"]) == ["capacity", "title", "x"]


@pytest.mark.parametrize("raw_body", ["{bad json", '{"title": "T",}', "title=T"])
def test_body_that_is_not_json_is_400(api: ApiHarness, dynamodb: Any, raw_body: str) -> None:
    assert_problem(api.call("create_course", **OWNER, raw_body=raw_body), 400)
    assert stored_course_count(dynamodb) == 0


@pytest.mark.parametrize(("size", "status"), [(MAX_BODY, 422), (MAX_BODY + 1, 413), (MAX_BODY * 2, 413)])
def test_body_larger_than_64_kib_is_413(api: ApiHarness, size: int, status: int) -> None:
    """A body of exactly 64 KiB still reaches validation (here 422 for its unknown field); one byte more is 413."""
    prefix = '{"title": "T", "padding": "'
    raw_body = prefix + "x" * (size - len(prefix) - 2) + '"}'
    assert len(raw_body.encode()) == size

    assert_problem(api.call("create_course", **OWNER, raw_body=raw_body), status)


# --------------------------------------------------------------------------------------- get course
@pytest.mark.parametrize("caller", [STUDENT, OTHER_INSTRUCTOR, ADMIN], ids=["student", "other-instructor", "admin"])
def test_any_signed_in_user_may_read_a_course_outline(api: ApiHarness, caller: dict[str, str]) -> None:
    course = create_course(api)
    reply = api.call("get_course", **caller, path={"courseId": course["id"]})
    assert reply.status == 200
    assert reply.body == course


def test_unknown_course_is_404(api: ApiHarness) -> None:
    assert_problem(api.call("get_course", path={"courseId": "01unknowncourse"}), 404)


# ------------------------------------------------------------------------------------------ modules
def test_appended_modules_get_increasing_positions_and_show_last_in_the_outline(api: ApiHarness) -> None:
    course = create_course(api)  # three modules

    first = add_module(api, course["id"], title="Fourth")
    second = add_module(api, course["id"], title="Fifth")

    assert first.status == second.status == 201
    assert first.body == {"id": first.body["id"], "courseId": course["id"], "title": "Fourth", "position": 4}
    assert second.body["position"] == 5
    outline = get_course(api, course["id"])
    assert [m["title"] for m in outline["modules"]] == ["Basics", "Consensus", "Extras", "Fourth", "Fifth"]
    assert outline["modules"][3] == {"id": first.body["id"], "title": "Fourth", "position": 4, "lessons": []}
    assert outline["lessonCount"] == course["lessonCount"]


def test_first_module_of_an_empty_course_is_at_position_1(api: ApiHarness) -> None:
    course = create_course(api, {"title": "Empty"})
    assert add_module(api, course["id"]).body["position"] == 1


@pytest.mark.parametrize(
    ("caller", "status"),
    [(STUDENT, 403), (OTHER_INSTRUCTOR, 403), (ADMIN, 201), ({"user": "listed", "roles": "student"}, 403)],
    ids=["student", "instructor-not-listed", "admin", "listed-but-not-an-instructor"],
)
def test_only_course_instructors_and_admins_may_append_modules(
    api: ApiHarness, caller: dict[str, str], status: int
) -> None:
    course = create_course(api, {**OUTLINE, "instructorIds": ["listed"]})

    reply = add_module(api, course["id"], caller=caller)

    assert reply.status == status
    expected_modules = len(course["modules"]) + (1 if status == 201 else 0)
    assert len(get_course(api, course["id"])["modules"]) == expected_modules


@pytest.mark.parametrize("caller", [OWNER, ADMIN], ids=["instructor", "admin"])
def test_appending_a_module_to_an_unknown_course_is_404(api: ApiHarness, caller: dict[str, str]) -> None:
    assert_problem(add_module(api, "01unknowncourse", caller=caller), 404)


@pytest.mark.parametrize(
    ("body", "field"), [({"title": ""}, "title"), ({"title": "M", "position": 1}, "position"), ({}, "title")]
)
def test_invalid_module_body_is_422_and_appends_nothing(api: ApiHarness, body: dict[str, Any], field: str) -> None:
    course = create_course(api)
    reply = api.call("create_module", **OWNER, path={"courseId": course["id"]}, body=body)

    assert assert_problem(reply, 422)["errors"][0]["field"] == field
    assert get_course(api, course["id"])["modules"] == course["modules"]


# ------------------------------------------------------------------------------------------ lessons
def test_appended_lesson_is_required_by_default_and_counted(api: ApiHarness) -> None:
    course = create_course(api)
    module = course["modules"][0]  # two lessons

    reply = add_lesson(api, course["id"], module["id"], title="Vector clocks")

    assert reply.status == 201
    assert reply.body == {
        "id": reply.body["id"],
        "courseId": course["id"],
        "moduleId": module["id"],
        "title": "Vector clocks",
        "position": 3,
        "required": True,
    }
    outline = get_course(api, course["id"])
    assert (outline["lessonCount"], outline["requiredLessonCount"]) == (5, 4)
    assert titles(outline)[0] == ("Basics", ["Clocks", "Reading", "Vector clocks"])
    assert outline["modules"][0]["lessons"][-1] == {k: reply.body[k] for k in ("id", "title", "position", "required")}


def test_appended_optional_lesson_counts_only_towards_lesson_count(api: ApiHarness) -> None:
    course = create_course(api)

    reply = add_lesson(api, course["id"], course["modules"][1]["id"], title="Bonus", required=False)

    assert (reply.status, reply.body["required"]) == (201, False)
    outline = get_course(api, course["id"])
    assert (outline["lessonCount"], outline["requiredLessonCount"]) == (5, 3)


def test_lessons_appended_to_a_new_module_start_at_position_1(api: ApiHarness) -> None:
    course = create_course(api, {"title": "Empty"})
    module_id = add_module(api, course["id"]).body["id"]

    positions = [add_lesson(api, course["id"], module_id, title=f"L{n}").body["position"] for n in range(3)]

    assert positions == [1, 2, 3]
    assert titles(get_course(api, course["id"])) == [("New module", ["L0", "L1", "L2"])]


def test_lesson_for_an_unknown_module_or_a_module_of_another_course_is_404(api: ApiHarness) -> None:
    course = create_course(api)
    other = create_course(api)

    assert_problem(add_lesson(api, course["id"], "01unknownmodule"), 404)
    assert_problem(add_lesson(api, course["id"], other["modules"][0]["id"]), 404)
    assert get_course(api, course["id"]) == course
    assert get_course(api, other["id"]) == other


def test_lesson_for_an_unknown_course_is_404(api: ApiHarness) -> None:
    course = create_course(api)
    assert_problem(add_lesson(api, "01unknowncourse", course["modules"][0]["id"], caller=ADMIN), 404)


@pytest.mark.parametrize(
    ("caller", "status"), [(STUDENT, 403), (OTHER_INSTRUCTOR, 403), (ADMIN, 201)], ids=["student", "other", "admin"]
)
def test_only_course_instructors_and_admins_may_append_lessons(
    api: ApiHarness, caller: dict[str, str], status: int
) -> None:
    course = create_course(api)

    reply = add_lesson(api, course["id"], course["modules"][0]["id"], caller=caller)

    assert reply.status == status
    assert get_course(api, course["id"])["lessonCount"] == course["lessonCount"] + (status == 201)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"title": "L", "required": "false"}, "required"), ({"title": ""}, "title"), ({"title": "L", "x": 1}, "x")],
)
def test_invalid_lesson_body_is_422_and_appends_nothing(api: ApiHarness, body: dict[str, Any], field: str) -> None:
    course = create_course(api)
    reply = add_lesson(api, course["id"], course["modules"][0]["id"], **body)

    assert assert_problem(reply, 422)["errors"][0]["field"] == field
    assert get_course(api, course["id"]) == course


# ----------------------------------------------------------------------------------- delete lessons
@pytest.mark.parametrize(("index", "counts"), [(0, (3, 2)), (1, (3, 3))], ids=["required-lesson", "optional-lesson"])
def test_deleting_a_lesson_removes_it_and_uncounts_it(api: ApiHarness, index: int, counts: tuple[int, int]) -> None:
    course = create_course(api)  # 4 lessons, 3 required; lesson 1 is optional
    lesson_id = lesson_ids(course)[index]

    reply = delete_lesson(api, course["id"], lesson_id)

    assert (reply.status, reply.body) == (204, None)
    outline = get_course(api, course["id"])
    assert (outline["lessonCount"], outline["requiredLessonCount"]) == counts
    assert lesson_id not in lesson_ids(outline)
    assert lesson_ids(outline) == [i for i in lesson_ids(course) if i != lesson_id]


def test_deleting_a_lesson_twice_is_404_and_counts_move_once(api: ApiHarness) -> None:
    course = create_course(api)
    lesson_id = lesson_ids(course)[0]
    assert delete_lesson(api, course["id"], lesson_id).status == 204

    assert_problem(delete_lesson(api, course["id"], lesson_id), 404)
    outline = get_course(api, course["id"])
    assert (outline["lessonCount"], outline["requiredLessonCount"]) == (3, 2)


def test_a_lesson_cannot_be_deleted_through_another_course(api: ApiHarness) -> None:
    """A lesson is addressed within its own course: another course's id does not reach it."""
    course = create_course(api)
    other = create_course(api)
    lesson_id = lesson_ids(course)[0]

    assert_problem(delete_lesson(api, other["id"], lesson_id), 404)
    assert get_course(api, course["id"]) == course
    assert get_course(api, other["id"]) == other


def test_deleting_a_lesson_of_an_unknown_course_is_404(api: ApiHarness) -> None:
    assert_problem(delete_lesson(api, "01unknowncourse", "01unknownlesson", caller=ADMIN), 404)


@pytest.mark.parametrize(
    ("caller", "status"), [(STUDENT, 403), (OTHER_INSTRUCTOR, 403), (ADMIN, 204)], ids=["student", "other", "admin"]
)
def test_only_course_instructors_and_admins_may_delete_lessons(
    api: ApiHarness, caller: dict[str, str], status: int
) -> None:
    course = create_course(api)
    lesson_id = lesson_ids(course)[0]

    reply = delete_lesson(api, course["id"], lesson_id, caller=caller)

    assert reply.status == status
    assert (lesson_id in lesson_ids(get_course(api, course["id"]))) is (status != 204)


def test_a_co_instructor_listed_at_creation_may_edit_the_outline(api: ApiHarness) -> None:
    course = create_course(api, {**OUTLINE, "instructorIds": ["inst-2"]})

    assert add_module(api, course["id"], caller=OTHER_INSTRUCTOR).status == 201
    assert add_lesson(api, course["id"], course["modules"][0]["id"], caller=OTHER_INSTRUCTOR).status == 201
    assert delete_lesson(api, course["id"], lesson_ids(course)[0], caller=OTHER_INSTRUCTOR).status == 204
