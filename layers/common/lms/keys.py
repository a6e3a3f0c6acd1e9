"""Every key format of the single table, and nothing else.

| item | pk | sk | gsi1pk | gsi1sk |
| --- | --- | --- | --- | --- |
| course outline head | COURSE#<course> | COURSE |  |  |
| module | COURSE#<course> | MODULE#<module> |  |  |
| lesson | COURSE#<course> | LESSON#<lesson> |  |  |
| lesson reference | LESSON#<lesson> | LESSON |  |  |
| course aggregate shard | COURSE#<course>#AGGREGATE#<0-31> | AGGREGATE |  |  |
| fan-out segment | COURSE#<course>#FANOUT#<n> | FANOUT |  |  |
| enrollment | USER#<user> | ENROLLMENT#<course> | COURSE#<course>#ENROLLMENTS#<n> | USER#<user> |
| enrollment ref | ENROLLMENT#<id> | ENROLLMENT |  |  |
| lesson progress | USER#<user> | PROGRESS#<course>#<lesson> | COURSE#<course>#PROGRESS#<n> | USER#<user>#<lesson> |
| progress ref | PROGRESS#<id> | PROGRESS |  |  |
| learner summary | USER#<user> | SUMMARY#<course> |  |  |
| statements of a deleted enrollment | USER#<user> | STATEMENTS#<enrollment> |  |  |
| erasure guard (while an erasure runs) | USER#<user> | ERASURE |  |  |
| erasure record | ERASURE#<user hash> | ERASURE |  |  |

The enrollment item also carries `gsi2pk`/`gsi2sk` while it is ACTIVE with an `accessEndsAt`
(`access_end_index`): the sparse index of pending access ends, by the minute they end. The scheduler's
checkpoint (`access_checkpoint`) is an item of that index too, so the scheduler reads it with the Query
it may make anyway.

| item | pk | sk | gsi2pk | gsi2sk |
| --- | --- | --- | --- | --- |
| pending access end | USER#<user> | ENROLLMENT#<course> | ACCESS#<minute>#<n> | <accessEndsAt>#<course>#<user> |
| scheduler checkpoint | ACCESS#CHECKPOINT | ACCESS | ACCESS#CHECKPOINT | <minute> |

`<minute>` is `yyyy-mm-ddThh:mm` (UTC); `<n>` the learner's index shard.

`<user>` is the user id as it enters a key (`user_key`): a token's `sub` may be any string of up to
256 characters, so one that is not a plain id (up to 128 of `[A-Za-z0-9._:@|+-]`) is replaced by a
digest. Ids we generate (course, lesson, enrollment, progress) are always plain.

`<n>` is the learner's index shard (`index_shard`, 0 to INDEX_SHARDS - 1): a course's enrollments and
progress records are indexed under INDEX_SHARDS partition keys, so no single index partition takes
every completion of a course.
"""

import base64
import hashlib
import re
from enum import StrEnum

Key = dict[str, str]
GSI1 = "gsi1"
GSI2 = "gsi2"


class Entity(StrEnum):
    """The `entity` attribute of every item; the stream filter selects on it."""

    COURSE = "COURSE"
    MODULE = "MODULE"
    LESSON = "LESSON"
    LESSON_REF = "LESSON_REF"
    COURSE_AGGREGATE = "COURSE_AGGREGATE"
    COURSE_RECOMPUTE = "COURSE_RECOMPUTE"
    ENROLLMENT = "ENROLLMENT"
    ENROLLMENT_REF = "ENROLLMENT_REF"
    PROGRESS = "PROGRESS"
    PROGRESS_REF = "PROGRESS_REF"
    SUMMARY = "SUMMARY"
    ACCESS_CHECKPOINT = "ACCESS_CHECKPOINT"
    ERASURE = "ERASURE"
    ERASURE_GUARD = "ERASURE_GUARD"
    SENT_STATEMENTS = "SENT_STATEMENTS"


class Writer(StrEnum):
    """Who wrote an item last: the stream function ignores its own writes."""

    API = "api"
    SUMMARIZER = "summarizer"
    ERASURE = "erasure"
    SEAT_COUNT = "seats"


def _course_pk(course_id: str) -> str:
    return f"COURSE#{course_id}"


# A plain id enters keys as itself (readable keys); it can never contain the separator `#`, nor the
# `~` that starts a digest, so the mapping stays one-to-one.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:@|+-]{1,128}")


def user_key(user_id: str) -> str:
    """A user id made safe for a key: itself when plain, else `~` and its SHA-256 (43 characters),
    which keeps keys short (a 256-character `sub` can be 1 KiB of UTF-8) and free of `#`."""
    if _PLAIN_ID.fullmatch(user_id):
        return user_id
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).digest()
    return "~" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _user_pk(user_id: str) -> str:
    return f"USER#{user_key(user_id)}"


def course(course_id: str) -> Key:
    return {"pk": _course_pk(course_id), "sk": "COURSE"}


def course_partition(course_id: str) -> str:
    """The partition holding a course's outline (head, modules, lessons)."""
    return _course_pk(course_id)


def module(course_id: str, module_id: str) -> Key:
    return {"pk": _course_pk(course_id), "sk": f"MODULE#{module_id}"}


def lesson(course_id: str, lesson_id: str) -> Key:
    return {"pk": _course_pk(course_id), "sk": f"LESSON#{lesson_id}"}


def lesson_ref(lesson_id: str) -> Key:
    return {"pk": f"LESSON#{lesson_id}", "sk": "LESSON"}


def enrollment(user_id: str, course_id: str) -> Key:
    return {"pk": _user_pk(user_id), "sk": f"ENROLLMENT#{course_id}"}


def enrollment_index(user_id: str, course_id: str) -> Key:
    return {"gsi1pk": course_enrollments_shard(course_id, user_id), "gsi1sk": _user_pk(user_id)}


# Index shards per course-wide `gsi1` key: 16 x 1,000 WCU/s per partition (docs/performance.md).
# Changing it moves learners between shards: existing items would need re-keying.
INDEX_SHARDS = 16


def index_shard(user_id: str) -> int:
    """The learner's shard: stable across processes and releases (not Python's salted hash()), so
    all of one learner's items in a course share one index partition."""
    return _spread(user_id) % INDEX_SHARDS


def _spread(user_id: str) -> int:
    return hashlib.sha256(user_key(user_id).encode("utf-8")).digest()[0]


def _course_index_partitions(course_id: str, name: str) -> list[str]:
    """Every shard of a course-wide index key, in listing order."""
    return [f"{_course_pk(course_id)}#{name}#{shard}" for shard in range(INDEX_SHARDS)]


def course_enrollments_shard(course_id: str, user_id: str) -> str:
    return f"{_course_pk(course_id)}#ENROLLMENTS#{index_shard(user_id)}"


def course_enrollments_partitions(course_id: str) -> list[str]:
    """Every `gsi1` partition holding a course's enrollments, in listing order."""
    return _course_index_partitions(course_id, "ENROLLMENTS")


def user_partition(user_id: str) -> str:
    return _user_pk(user_id)


ENROLLMENT_PREFIX = "ENROLLMENT#"
PROGRESS_PREFIX = "PROGRESS#"
SUMMARY_PREFIX = "SUMMARY#"
STATEMENTS_PREFIX = "STATEMENTS#"


def enrollment_ref(enrollment_id: str) -> Key:
    return {"pk": f"ENROLLMENT#{enrollment_id}", "sk": "ENROLLMENT"}


def progress(user_id: str, course_id: str, lesson_id: str) -> Key:
    """A learner's records of one course are one key range (`course_progress_prefix`): rebuilding a
    course's summary reads that course's records only, whatever the learner did elsewhere."""
    return {"pk": _user_pk(user_id), "sk": f"{course_progress_prefix(course_id)}{lesson_id}"}


def course_progress_prefix(course_id: str) -> str:
    return f"{PROGRESS_PREFIX}{course_id}#"


def progress_index(user_id: str, course_id: str, lesson_id: str) -> Key:
    return {"gsi1pk": course_progress_shard(course_id, user_id), "gsi1sk": f"{_user_pk(user_id)}#{lesson_id}"}


def course_progress_shard(course_id: str, user_id: str) -> str:
    return f"{_course_pk(course_id)}#PROGRESS#{index_shard(user_id)}"


def course_progress_partitions(course_id: str, user_id: str | None = None) -> list[str]:
    """Every `gsi1` partition holding a course's progress records, in listing order; with `user_id`,
    the one that holds that learner's."""
    if user_id is None:
        return _course_index_partitions(course_id, "PROGRESS")
    return [course_progress_shard(course_id, user_id)]


def course_progress_learner_prefix(user_id: str) -> str:
    return f"{_user_pk(user_id)}#"


def progress_ref(progress_id: str) -> Key:
    return {"pk": f"PROGRESS#{progress_id}", "sk": "PROGRESS"}


def summary(user_id: str, course_id: str) -> Key:
    return {"pk": _user_pk(user_id), "sk": f"{SUMMARY_PREFIX}{course_id}"}


# --- Summaries at scale: items spread over their own partitions so no single item caps a course.
# | course aggregate shard | COURSE#<course>#AGGREGATE#<n> | AGGREGATE |
# | course fan-out segment | COURSE#<course>#FANOUT#<n> | FANOUT |
# 32 shards of 1,000 WCU/s, 2 WCU per transactional write: 16,000 unbatched completions/s per course.
AGGREGATE_SHARDS = 32


def aggregate_shard(user_id: str) -> int:
    """The shard a learner's contributions go to: stable, spread like the learners (`index_shard`'s
    digest), so no shard takes more than its share of a course's learners."""
    return _spread(user_id) % AGGREGATE_SHARDS


def course_aggregate_shard(course_id: str, shard: int) -> Key:
    return {"pk": f"{_course_pk(course_id)}#AGGREGATE#{shard}", "sk": "AGGREGATE"}


def course_aggregate_shards(course_id: str) -> list[Key]:
    """Every item holding part of the course aggregate."""
    return [course_aggregate_shard(course_id, n) for n in range(AGGREGATE_SHARDS)]


def course_fanout_segment(course_id: str, segment: int) -> Key:
    return {"pk": f"{_course_pk(course_id)}#FANOUT#{segment}", "sk": "FANOUT"}


# --- Access periods: the sparse index `gsi2` of enrollments whose access is still to end, by minute.
# A minute's pending ends are spread over ACCESS_SHARDS partition keys by the learner's digest
# (`index_shard`), so 100,000 ends in one minute put about 6,250 on each and no index partition is hot.
ACCESS_SHARDS = INDEX_SHARDS
_ACCESS = "ACCESS#"
ACCESS_INDEX_ATTRIBUTES = ("gsi2pk", "gsi2sk")


def minute_of(timestamp: str) -> str:
    """`2026-12-06T10:31` of `2026-12-06T10:31:46.123Z` (clock.utc_now's form: fixed width)."""
    return timestamp[:16]


def access_end_index(user_id: str, course_id: str, ends_at: str, now: str) -> Key:
    """Where a pending access end is indexed: the minute it ends, or the current one when it has
    already passed (staff may set an end in the past), so the next scheduler run finds it."""
    minute = minute_of(max(ends_at, now))
    return {
        "gsi2pk": f"{_ACCESS}{minute}#{index_shard(user_id)}",
        "gsi2sk": f"{ends_at}#{course_id}#{user_key(user_id)}",
    }


def access_end_partitions(minute: str) -> list[str]:
    """Every `gsi2` partition holding the access ends of one minute."""
    return [f"{_ACCESS}{minute}#{shard}" for shard in range(ACCESS_SHARDS)]


def access_ends_through(now: str) -> str:
    """The highest `gsi2sk` of an access end due at `now` (`~` sorts after every id character)."""
    return f"{now}#~"


ACCESS_CHECKPOINT_PARTITION = f"{_ACCESS}CHECKPOINT"


def access_checkpoint() -> Key:
    return {"pk": ACCESS_CHECKPOINT_PARTITION, "sk": "ACCESS"}


# --- Seat counts: a course given a capacity after it took enrollments counts the seats its learners
# hold once no enrollment made before can still commit (docs/architecture.md, "Seats"). Its head is in
# `gsi2` under one partition, by when the count may start; the minute's scheduled run starts it.
SEAT_COUNT_PARTITION = "SEATS"


def seat_count_index(course_id: str, due: str) -> Key:
    return {"gsi2pk": SEAT_COUNT_PARTITION, "gsi2sk": f"{due}#{course_id}"}


def seat_counts_through(now: str) -> str:
    """The highest `gsi2sk` of a seat count due at `now`."""
    return f"{now}#~"


def course_of_seat_count(sort_key: str) -> str:
    return sort_key.split("#", 1)[1]


# --- Learner data erasure (docs/privacy.md).
# | erasure guard | USER#<user> | ERASURE |: exists while the user's erasure is not DONE; writes for the
#   user check it (or the `erasing` mark it puts on each enrollment) and are refused.
# | erasure record | ERASURE#<user hash> | ERASURE |: keyed by a keyed hash (HMAC-SHA256) of the user id,
#   so `GET /users/{userId}/erasure` is one lookup and the finished record never holds the id.
ERASURE_SORT_KEY = "ERASURE"
IDEMPOTENCY_PREFIX = "USER#"


def erasure_guard(user_id: str) -> Key:
    return {"pk": _user_pk(user_id), "sk": ERASURE_SORT_KEY}


def erasure(user_hash: str) -> Key:
    return {"pk": f"ERASURE#{user_hash}", "sk": ERASURE_SORT_KEY}


def idempotency_partition(user_id: str) -> str:
    """The idempotency table's partition of the records made for a learner (its `id`; each record's
    `sk` is Powertools' hash of the function and the request): found by one Query, never a Scan."""
    return f"{IDEMPOTENCY_PREFIX}{user_key(user_id)}"


def sent_statements(user_id: str, enrollment_id: str) -> Key:
    """The ids of the xAPI statements sent about an enrollment that was deleted: kept in the learner's
    partition so that an erasure still voids them (docs/privacy.md)."""
    return {"pk": _user_pk(user_id), "sk": f"{STATEMENTS_PREFIX}{enrollment_id}"}
