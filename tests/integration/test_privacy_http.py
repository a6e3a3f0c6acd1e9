"""Learner data over HTTP on DynamoDB Local, with the stream poller, the local bus and Ralph: a
learner in four courses (completed, active, dropped, suspended) exports everything, is erased, and
then no table holds their id, every aggregate equals a recount, a freed seat is taken again, the
learner enrolls from zero, and Ralph holds a voiding statement for every statement sent about them.
An erasure whose summarizer environment is killed midway finishes."""

import json
import os
import signal
from typing import Any

import requests

from local.dev import LocalApi
from local.lrs import RunningLrs
from local.polling import poll_until
from local.template import table_names
from tests.integration.conftest import Lms, User

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
DEADLINE_SECONDS = 60


def lrs_statements(lrs: RunningLrs, **params: str) -> list[dict[str, Any]]:
    url: str | None = f"{lrs.xapi_url}/statements"
    query: dict[str, str] | None = {"limit": "100", **params}
    found: list[dict[str, Any]] = []
    while url:
        response = requests.get(
            url, params=query, auth=(lrs.user, lrs.password), headers={"X-Experience-API-Version": "1.0.3"}, timeout=10
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["statements"]
        more = body.get("more")
        url, query = (f"http://{lrs.host}:{lrs.port}{more}" if more else None), None
    return found


def about(lrs: RunningLrs, user_id: str) -> list[dict[str, Any]]:
    agent = {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": user_id}}
    return lrs_statements(lrs, agent=json.dumps(agent))


def voided_ids(lrs: RunningLrs) -> set[str]:
    """The statements voided in the LRS (Ralph's file store does not filter on `verb`: read them all)."""
    return {
        s["object"]["id"]
        for s in lrs_statements(lrs)
        if s["verb"]["id"] == VOIDED and s["object"]["objectType"] == "StatementRef"
    }


def scan_all(local_api: LocalApi, ddb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name in table_names(local_api.lambdas.config.stack).values():
        kwargs: dict[str, Any] = {"TableName": name}
        while True:
            page = ddb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def erasure_done(lms: Lms, learner: User, timeout: float = DEADLINE_SECONDS) -> dict[str, Any]:
    path = f"/users/{learner.id}/erasure"
    done: dict[str, Any] = poll_until(
        lambda: lms.expect(200, lms.api.get(path, learner.token)),
        lambda body: body["status"] == "DONE",
        timeout=timeout,
        interval=0.2,
        what=f"the erasure of {learner.id}",
    )
    return done


def recount(items: list[dict[str, Any]], course_id: str) -> dict[str, Any]:
    """The aggregate recounted from the stored enrollments and summaries of the course."""
    enrollments = [i for i in items if i.get("entity", {}).get("S") == "ENROLLMENT" and i["courseId"]["S"] == course_id]
    summaries = {
        i["userId"]["S"]: int(i["percent"]["N"])
        for i in items
        if i.get("entity", {}).get("S") == "SUMMARY" and i["courseId"]["S"] == course_id
    }
    percents = [summaries.get(e["userId"]["S"], 0) for e in enrollments]
    return {
        "enrolled": len(enrollments),
        "active": sum(e["status"]["S"] == "ACTIVE" for e in enrollments),
        "completed": sum(e["status"]["S"] == "COMPLETED" for e in enrollments),
        "averagePercent": round(sum(percents) / len(percents), 2) if percents else 0,
    }


def export_pages(lms: Lms, user: User, limit: int) -> list[dict[str, Any]]:
    """The user's export, page after page through the cursor."""
    items: list[dict[str, Any]] = []
    params = {"limit": str(limit)}
    while True:
        page = lms.expect(200, lms.api.get(f"/users/{user.id}/export", user.token, params=params))
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["nextCursor"] is None:
            return items
        params = {"limit": str(limit), "cursor": page["nextCursor"]}


def aggregate_of(lms: Lms, teacher: User, course_id: str) -> dict[str, Any]:
    aggregate = lms.summary(teacher, course_id)
    return {name: aggregate[name] for name in ("enrolled", "active", "completed", "averagePercent")}


def test_an_erased_learner_is_found_nowhere_and_every_aggregate_seat_and_statement_follows(
    lms: Lms, local_api: LocalApi, lrs: RunningLrs, ddb: Any
) -> None:
    teacher = lms.user("teacher", "instructor")
    learner, classmate, newcomer = lms.user(), lms.user("classmate"), lms.user("newcomer")
    courses = {
        "COMPLETED": lms.create_course(teacher, 2, capacity=2),
        "ACTIVE": lms.create_course(teacher, 2),
        "DROPPED": lms.create_course(teacher, 2),
        "SUSPENDED": lms.create_course(teacher, 2, capacity=5),
    }
    enrollments = {}
    for status, course in courses.items():
        lessons = lms.lesson_ids(course)
        enrollments[status] = lms.enroll(learner, course["id"])
        lms.enroll(classmate, course["id"])
        lms.complete(classmate, lessons[0])
        for lesson in lessons if status == "COMPLETED" else lessons[:1]:
            lms.complete(learner, lesson)
    lms.wait_for_summary(learner, courses["COMPLETED"]["id"], lambda s: s["percent"] == 100)
    drop = {"status": "DROPPED"}
    lms.expect(200, lms.api.patch(f"/enrollments/{enrollments['DROPPED']['id']}", learner.token, json=drop))
    suspend = {"status": "SUSPENDED"}
    lms.expect(200, lms.api.patch(f"/enrollments/{enrollments['SUSPENDED']['id']}", teacher.token, json=suspend))
    lms.problem(lms.api.post("/enrollments", newcomer.token, json={"courseId": courses["COMPLETED"]["id"]}), 409)
    # 4 registered, 5 lessons and 1 course completed: every statement about the learner reached Ralph.
    sent = poll_until(lambda: about(lrs, learner.id), lambda found: len(found) >= 10, timeout=DEADLINE_SECONDS)
    exported = export_pages(lms, learner, limit=3)
    assert sorted(item["kind"] for item in exported) == ["enrollment"] * 4 + ["progress"] * 5 + ["summary"] * 4

    erasure = lms.expect(202, lms.api.delete(f"/users/{learner.id}", learner.token))
    assert erasure["status"] in ("PENDING", "IN_PROGRESS")
    done = erasure_done(lms, learner)
    assert done["erased"]["enrollments"] == 4
    assert done["erased"]["progress"] == 5
    assert done["erased"]["summaries"] == 4
    assert done["erased"]["statementsVoided"] >= len(sent)

    # No item of any table holds the id; the erasure record is there, with the hash.
    items = scan_all(local_api, ddb)
    assert [item for item in items if learner.id in json.dumps(item)] == []
    assert [i for i in items if i.get("entity", {}).get("S") == "ERASURE" and i.get("userHash")]
    # Every aggregate equals a recount (the classmate's contributions settle through the stream).
    for course in courses.values():
        poll_until(
            lambda course=course: aggregate_of(lms, teacher, course["id"]),
            lambda aggregate, course=course: aggregate == recount(scan_all(local_api, ddb), course["id"]),
            timeout=DEADLINE_SECONDS,
            what="the aggregate to equal a recount",
        )
        assert lms.summary(teacher, course["id"])["enrolled"] == 1
        listed = lms.expect(200, lms.api.get(f"/enrollments/course/{course['id']}", teacher.token))
        assert [e["userId"] for e in listed["items"]] == [classmate.id]
    # The freed seat is taken again; the learner enrolls again and starts from nothing.
    lms.enroll(newcomer, courses["COMPLETED"]["id"])
    again = lms.enroll(learner, courses["ACTIVE"]["id"])
    assert again["id"] != enrollments["ACTIVE"]["id"]
    assert again["progress"]["percent"] == 0
    assert lms.summary(learner, courses["ACTIVE"]["id"])["completedLessons"] == 0
    # Ralph holds a voiding statement for every statement sent about the learner.
    sent_ids = {statement["id"] for statement in sent}
    poll_until(lambda: voided_ids(lrs), lambda ids: sent_ids <= ids, timeout=DEADLINE_SECONDS, what="voiding")
    # The bus carried one LearnerErased, which does not name the learner.
    lines = local_api.bus.events_path.read_text(encoding="utf-8").splitlines()
    erased = [json.loads(line) for line in lines if '"LearnerErased"' in line]
    mine = [e for e in erased if e["detail"]["requestedAt"] == erasure["requestedAt"]]
    assert len(mine) == 1
    assert learner.id not in json.dumps(mine)
    voiding = [json.loads(line) for line in lines if '"StatementVoided"' in line]
    assert not [e for e in voiding if learner.id in json.dumps(e)]


def test_an_erasure_whose_summarizer_is_killed_midway_finishes(
    lms: Lms, local_api: LocalApi, ddb: Any, table_name: str
) -> None:
    """A learner with 1,500 lesson records (written to the table as the API writes them): the
    erasure takes several steps; its summarizer environments are killed once it has started, and it
    still ends DONE with every record counted once."""
    from lms.models.progress import Progress, ProgressStatus
    from lms.repositories.dynamo import Table
    from lms.repositories.progress import ProgressRepository

    teacher = lms.user("teacher", "instructor")
    learner = lms.user()
    course = lms.create_course(teacher, 1)
    lms.enroll(learner, course["id"])
    table = Table(ddb, table_name)
    at = "2026-11-26T10:00:00.000Z"
    records = [
        ProgressRepository(table)._item(
            Progress(
                id=f"{learner.id}-p{n:04d}",
                user_id=learner.id,
                course_id=course["id"],
                module_id="m",
                lesson_id=f"gone{n:04d}",
                status=ProgressStatus.COMPLETED,
                view_count=1,
                time_spent_seconds=0,
                updated_at=at,
            ),
            1,
            (1,),
        )
        for n in range(1500)
    ]
    table.put_all(records)
    lms.expect(202, lms.api.delete(f"/users/{learner.id}", learner.token))
    path = f"/users/{learner.id}/erasure"
    poll_until(
        lambda: lms.expect(200, lms.api.get(path, learner.token)),
        lambda body: body["erased"]["progress"] > 0,
        timeout=DEADLINE_SECONDS,
        interval=0.01,
        what="the erasure to start on the records",
    )
    pool = local_api.lambdas.pool("SummarizeProgressFunction")
    for pid in pool.worker_pids():
        os.kill(pid, signal.SIGKILL)
    done = erasure_done(lms, learner, timeout=120)
    assert done["erased"]["progress"] == 1500
    assert done["erased"]["enrollments"] == 1
    assert [item for item in scan_all(local_api, ddb) if learner.id in json.dumps(item)] == []
