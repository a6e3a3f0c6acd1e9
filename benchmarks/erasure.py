"""Erasing a learner with 50 enrollments (half in capped courses) and 5,000 lesson records: seconds
end to end on the local runtime (DELETE /users/{userId} until GET .../erasure says DONE: the stream
poller, the summarizer's steps, the publisher's voiding events alongside), and the DynamoDB units of
the erasure job, measured in this process against a DynamoDB Local of its own (benchmarks.capacity).

`python -m benchmarks.erasure units` is the in-process half (run.py starts it, like scale's phases).
"""

import json
import os
import sys
import time
import uuid
from typing import Any

import requests

from local.dev import LocalApi
from local.polling import poll_until
from local.token import mint_token

ENROLLMENTS = 50
RECORDS_PER_ENROLLMENT = 100  # 5,000 lesson records
TARGET_SECONDS = 60


def seed(client: Any, table_name: str, user_id: str) -> None:
    """The learner's items as the API and the summarizer store them, written directly (BatchWriteItem):
    courses (every other one capped), enrollments with their references, summaries with what they
    count in the aggregate (and the aggregate shards counting it), lesson records with references.
    `writer` summarizer: the seeding wakes no summarizer; its records are not completed, so the
    publisher announces nothing either (each keeps a completion version, to be voided)."""
    from lms import keys
    from lms.models.enrollments import Enrollment, EnrollmentStatus
    from lms.models.progress import Progress, ProgressStatus
    from lms.repositories.dynamo import Table
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.repositories.progress import ProgressRepository

    table = Table(client, table_name)
    enrollments, records = EnrollmentRepository(table), ProgressRepository(table)
    at = "2026-11-26T10:00:00.000Z"
    tag = uuid.uuid4().hex[:8]
    items: list[dict[str, Any]] = []
    for c in range(ENROLLMENTS):
        course = f"bench{tag}c{c:02d}"
        head = {**keys.course(course), "entity": "COURSE", "id": course, "title": "Bench", "seatsTaken": 1}
        head |= {"instructorIds": [], "lessonCount": 0, "requiredLessonCount": 0, "createdAt": at, "updatedAt": at}
        capped = c % 2 == 0
        items.append(head | ({"capacity": 100, "seatEpoch": "bench"} if capped else {}))
        enrollment = Enrollment(
            id=f"bench{tag}e{c:02d}",
            user_id=user_id,
            course_id=course,
            status=EnrollmentStatus.ACTIVE,
            enrolled_at=at,
            updated_at=at,
            enrolled_by=user_id,
            version=1,
            seat_epoch="bench" if capped else None,  # its seat counted by the capped course's counter
        )
        items.append(enrollments._item(enrollment, 1) | {"writer": "summarizer"})
        ref = {"userId": user_id, "courseId": course, "entity": "ENROLLMENT_REF"}
        items.append({**keys.enrollment_ref(enrollment.id), **ref})
        counted = {"enrolled": 1, "active": 1, "completed": 0, "percent": 40}
        summary = {"entity": "SUMMARY", "userId": user_id, "courseId": course, "percent": 40, "version": 1}
        items.append({**keys.summary(user_id, course), **summary, "counted": counted, "writer": "summarizer"})
        shard = keys.course_aggregate_shard(course, keys.aggregate_shard(user_id))
        aggregate = {"entity": "COURSE_AGGREGATE", "enrolled": 1, "active": 1, "completed": 0, "percentSum": 40}
        items.append({**shard, **aggregate})
        for n in range(RECORDS_PER_ENROLLMENT):
            progress = Progress(
                id=f"bench{tag}p{c:02d}x{n:03d}",
                user_id=user_id,
                course_id=course,
                module_id="m",
                lesson_id=f"l{n:03d}",
                status=ProgressStatus.IN_PROGRESS,
                view_count=3,
                time_spent_seconds=60,
                updated_at=at,
            )
            items.append(records._item(progress, 3, (2,)) | {"writer": "summarizer"})
            ref = {"userId": user_id, "courseId": course, "lessonId": progress.lesson_id, "entity": "PROGRESS_REF"}
            items.append({**keys.progress_ref(progress.id), **ref})
    table.put_all(items, parallel=4)


def run(api: LocalApi) -> dict[str, Any]:
    """End to end over HTTP, then the units in-process; prints and returns the figures."""
    import botocore.session

    from benchmarks import scale
    from local.template import table_names

    user_id = f"bench-erased-{uuid.uuid4().hex[:8]}"
    session = botocore.session.get_session()
    client = session.create_client(
        "dynamodb", endpoint_url=api.ddb_endpoint, region_name="us-east-1", aws_access_key_id="local",
        aws_secret_access_key="local",
    )  # fmt: skip
    seed(client, table_names(api.lambdas.config.stack)["Table"], user_id)
    token = mint_token(user_id, "student")
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    response = requests.delete(f"{api.url}/users/{user_id}", headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    done = poll_until(
        lambda: requests.get(f"{api.url}/users/{user_id}/erasure", headers=headers, timeout=30).json(),
        lambda body: body["status"] == "DONE",
        timeout=300,
        interval=0.1,
        what="the erasure",
    )
    seconds = time.perf_counter() - start
    figures = {"erasure_seconds": round(seconds, 1), "erasure_erased": done["erased"]}
    records = ENROLLMENTS * RECORDS_PER_ENROLLMENT
    print(f"\nErasing a learner with {ENROLLMENTS} enrollments and {records:,} lesson records")
    print(f"  end to end (DELETE until DONE, local runtime): {seconds:.1f} s (target < {TARGET_SECONDS} s)")
    # On a DynamoDB Local of its own: the local runtime's summarizer would take steps of this erasure too.
    with scale.own_dynamodb() as endpoint:
        figures |= scale.inprocess("units", endpoint, module="benchmarks.erasure")
    print(f"  erased: {json.dumps(done['erased'])}")
    print(
        f"  erasure job: {figures['erasure_rcu']:,.0f} RCU, {figures['erasure_wcu']:,.0f} WCU in "
        f"{figures['erasure_commits']} commits ({figures['erasure_wcu_per_record']} WCU per lesson record); "
        f"the request: {figures['erasure_request_rcu']} RCU, {figures['erasure_request_wcu']} WCU; "
        f"the job alone, in-process without the stream: {figures['erasure_job_seconds_inprocess']} s"
    )
    scale.update_results(figures)
    return figures


def _units() -> dict[str, Any]:
    """The erasure job's units, in this process (the metered session of benchmarks.scale_inprocess)."""
    from benchmarks.scale_inprocess import METER, measure, metered
    from lms import container
    from lms.identity import Identity, Role
    from lms.repositories.erasures import ErasureRepository
    from lms.services.erasure import ErasureJob
    from lms.user_hash import UserHasher

    user_id = f"bench-units-{uuid.uuid4().hex[:8]}"
    table = container.table()
    seed(table.client, table.name, user_id)
    privacy = container.privacy_service()
    admin = Identity(user_id="bench-admin", roles=frozenset({Role.ADMIN}))
    request_rcu, request_wcu = measure(lambda: privacy.request(admin, user_id))
    user_hash = UserHasher(lambda: os.environ["ERASURE_KEY"]).hashes(user_id)[0].value
    job = ErasureJob(ErasureRepository(table, None))
    repository = ErasureRepository(table)
    steps = 0
    started = time.perf_counter()
    METER.reset()
    while (repository.get(user_hash) or {}).get("status") != "DONE":  # the stream's part, not metered
        with metered():
            job.step(user_hash)
        steps += 1
    rcu, wcu = METER.rcu, METER.wcu
    seconds = time.perf_counter() - started
    record = repository.get(user_hash) or {}
    records = ENROLLMENTS * RECORDS_PER_ENROLLMENT
    return {
        "erasure_rcu": round(rcu, 1),
        "erasure_wcu": round(wcu, 1),
        "erasure_commits": int(record.get("step", 0)),
        "erasure_steps": steps,
        "erasure_job_seconds_inprocess": round(seconds, 1),
        "erasure_wcu_per_record": round(wcu / records, 2),
        "erasure_request_rcu": round(request_rcu, 1),
        "erasure_request_wcu": round(request_wcu, 1),
        "erasure_calls": dict(METER.calls),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["units"]:
        figures = _units()
        with open(os.environ["BENCH_RESULT"], "w", encoding="utf-8") as handle:
            json.dump(figures, handle)
