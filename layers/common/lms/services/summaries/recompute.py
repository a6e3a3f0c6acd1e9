"""Recomputing learners' summaries from the stream, at a cost that does not grow with the course: a
summary remembers which outline lessons it counts as completed and viewed (bitmaps over the outline
it was computed against), so a change is applied by reading only the records that changed, in their
*current* state (never a stale image), so a duplicate or replayed record changes nothing. A summary
computed against another outline (or none yet) is rebuilt from the learner's records of that course
(one Query of one key range). No summary is computed against an outline older than the one a
learner's summary or enrollment was made against (docs/architecture.md, "Outline versions").

A learner's enrollment is not read when their summary says what it was (`SeenEnrollment`: the
enrollment as the transaction that wrote the summary left it), unless the batch carries a change to
that enrollment, or a write went stale. Why that is exact:

- Who writes an enrollment: the API, which changes its `version` with every change (a deleted
  one's successor is a new item: a new `id`, version 1), and whose writes (writer=api, and every
  removal) wake the summarizer; and the summarizer, only in a transaction that also writes the
  learner's summary, whose recorded enrollment is what that transaction leaves (its `progress`
  being the summary's own).
- So while a summary is at the version a recompute read, and the enrollment at the recorded `id`
  and `version`, the enrollment is what the summary recorded. Every write of a recompute is one
  transaction conditioned on both (the summary's `version`; the enrollment's `id` and `version`,
  or its absence): what commits was computed from the enrollment as it is at commit, exactly as if
  it had been read. A write conditioned on an enrollment that changed meanwhile is cancelled, and
  the learner recomputed with the enrollment read.
- A recompute that writes nothing commits nothing either: it may have used an enrollment that has
  changed since the summary was written, but that change woke the summarizer with a record of its
  own, still to be processed (at least once) or processed already. Processing it reads the
  enrollment, and when the enrollment is not the one the summary records, writes the summary even
  if nothing else changed (`differs`), so a summary never keeps an out-of-date enrollment past the
  processing of the change that made it out of date.
"""

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lms.clock import Clock, utc_now
from lms.errors import ConcurrencyError
from lms.models.progress import Progress
from lms.models.summaries import LearnerState, SeenEnrollment, SummaryWrite
from lms.observability import logger
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import LEARNERS_PER_TRANSACTION, SummaryRepository, WritesRejectedError
from lms.retry import Retry
from lms.services.summaries.reading import Outlines
from lms.services.summaries.rules import (
    LearnerProgress,
    Outline,
    contribution,
    differs,
    enrollment_change,
    summarize,
)

# The summarizer times out after 120 s and starts a fan-out page only with 30 s left (stream
# TIME_RESERVE_MS); a recompute of up to 100 learners fits in that. Learners whose summary changed
# under a write are read and computed again in rounds starting within 15 s (waits of up to 10 ms
# doubling to 200 ms) ...
RECOMPUTE_RETRY = Retry(attempts=5, base=0.01, cap=0.2, budget=15.0)
# ... and in a round, a transaction another one held is sent again (its stale learners taken out),
# tries starting within 2 s: 100 learners make 4 transactions, so a recompute ends within ~25 s.
SAVE_RETRY = Retry(attempts=5, base=0.01, cap=0.2, budget=2.0)
# A recompute's transactions (disjoint learners) are sent together, up to 4 at once: a batch of 100
# learners takes one transaction's latency instead of four. Threads start on first use (never in a
# SnapStart snapshot's init) and are reused by the execution environment.
_saves = ThreadPoolExecutor(max_workers=4, thread_name_prefix="summary-writes")


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    changed: bool
    completed_course: bool


UNCHANGED = RecomputeResult(changed=False, completed_course=False)
# What recomputing one learner came to: its result, or why it failed.
Outcome = RecomputeResult | Exception
# Per learner, the lessons whose records changed, each with its newest stream image (None: read it).
Changes = dict[str, dict[str, Progress | None]]


class SummaryRecomputer:
    def __init__(
        self,
        outlines: Outlines,
        progress: ProgressRepository,
        summaries: SummaryRepository,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._outlines = outlines
        self._progress = progress
        self._summaries = summaries
        self._now = clock

    def recompute_learners(
        self,
        course_id: str,
        changed: Changes,
        cause: str,
        *,
        fresh: bool = False,
        enrollments_changed: Collection[str] = (),
    ) -> dict[str, Outcome]:
        """Bring these learners' summaries up to date with the lessons named for each (with the
        newest stream image of its record, or None), or with everything for a learner whose summary
        must be rebuilt. Reads are batched, writes grouped into transactions; a learner whose write
        went stale is recomputed alone. `fresh`: check the outline against the course head first
        (an outline change's fan-out). `enrollments_changed`: learners whose enrollment changed
        (read it, rather than take it from their summary)."""
        outline = self._outlines.get(course_id, fresh=fresh)
        if outline is None:
            return dict.fromkeys(changed, UNCHANGED)
        outcomes: dict[str, Outcome] = {}
        pending = dict(changed)
        to_read = set(enrollments_changed) & set(pending)
        for _ in RECOMPUTE_RETRY.tries():
            states = self._read_states(course_id, list(pending), to_read)
            newest = max((state.newest_outline for state in states.values()), default=0)
            if newest > outline.version:
                # Made against a newer outline than the cached one: reload before computing anything.
                outline = self._outlines.get(course_id, at_least=newest) or outline
            writes: list[SummaryWrite] = []
            for user_id, state in self._with_records(outline, states, pending).items():
                if state.stored is None and state.enrollment is None:
                    # Neither enrolled nor summarised: nothing to count, and nothing to write (an
                    # erased learner's late records must not bring a summary back; the read path
                    # computes an unenrolled learner's summary itself).
                    outcomes[user_id] = UNCHANGED
                    continue
                if state.newest_outline > outline.version:
                    outcomes[user_id] = ConcurrencyError(f"outline of {course_id} behind {user_id}'s summary")
                    continue
                write = self._recompute(user_id, outline, state)
                if write is None:
                    outcomes[user_id] = UNCHANGED
                else:
                    writes.append(write)
            groups = [
                writes[start : start + LEARNERS_PER_TRANSACTION]
                for start in range(0, len(writes), LEARNERS_PER_TRANSACTION)
            ]
            saved = (
                _saves.map(lambda group: self._save(course_id, group, cause, outcomes), groups)
                if len(groups) > 1
                else [self._save(course_id, group, cause, outcomes) for group in groups]
            )
            stale: set[str] = set().union(*saved)
            pending = {user_id: pending[user_id] for user_id in stale}
            to_read = stale  # the summary or the enrollment changed under the write: read both
            if not pending:
                return outcomes
        for user_id in pending:
            outcomes[user_id] = ConcurrencyError(f"summary of {user_id} in {course_id} kept changing")
        return outcomes

    def _read_states(self, course_id: str, user_ids: list[str], enrollments: set[str]) -> dict[str, LearnerState]:
        """The learners' summaries, and their enrollments: read for the learners in `enrollments` and
        those whose summary does not say what it was (none yet, or written before summaries said),
        taken from the summary for the others (see the module's docstring)."""
        states = self._summaries.read_learners(course_id, user_ids, {}, enrollments=enrollments)
        unknown = [
            user_id
            for user_id, state in states.items()
            if not state.enrollment_read and (state.stored is None or not state.stored.knows_enrollment)
        ]
        if unknown:
            for user_id, read in self._summaries.read_learners(course_id, [], {}, enrollments=unknown).items():
                states[user_id].enrollment = read.enrollment
                states[user_id].enrolled_on_outline = read.enrolled_on_outline
                states[user_id].enrollment_read = True
        for user_id, state in states.items():
            if not state.enrollment_read and state.stored is not None and state.stored.enrollment is not None:
                seen = state.stored.enrollment
                state.enrollment = seen.enrollment(user_id, course_id, state.stored.enrollment_progress)
                state.enrolled_on_outline = seen.outline
        return states

    def _with_records(
        self, outline: Outline, states: dict[str, LearnerState], changed: Changes
    ) -> dict[str, LearnerState]:
        """The changed records a summary cannot take from the stream, added to the learners' states:
        an image is used as is only when it is newer than every record the summary reflects, which
        holds for records delivered in order; a duplicate or a replay is read again from the table."""
        to_read: dict[str, set[str]] = {}
        for user_id, state in states.items():
            marks = state.stored.marks if state.stored else None
            if marks is None or marks.outline != outline.version:
                continue  # rebuilt from every record
            for lesson_id, image in changed[user_id].items():
                if image is not None and marks.applied_through is not None and image.updated_at > marks.applied_through:
                    state.records[lesson_id] = image
                else:
                    to_read.setdefault(user_id, set()).add(lesson_id)
        if to_read:
            for user_id, read in self._summaries.read_learners(outline.course.id, [], to_read).items():
                states[user_id].records.update(read.records)
        return states

    def _recompute(self, user_id: str, outline: Outline, state: LearnerState) -> SummaryWrite | None:
        """The learner's new summary, or None when it would not change."""
        stored = state.stored
        if stored is not None and stored.marks is not None and stored.marks.outline == outline.version:
            progress = LearnerProgress.from_marks(outline, stored.marks, stored.summary).apply(
                outline, state.records.values()
            )
        else:  # first summary, or computed against another outline: rebuild from the course's records
            records = self._progress.for_course(user_id, outline.course.id)
            progress = LearnerProgress().apply(outline, records.values())
        summary = summarize(user_id, outline, progress, stored.summary if stored else None)
        change = enrollment_change(state.enrollment, summary, progress)
        seen = SeenEnrollment.of(change.completed or change.current, state.enrolled_on_outline) if change else None
        write = SummaryWrite(summary, stored, contribution(change), progress.marks(outline), change, seen)
        if stored is not None and not differs(stored, write, state.enrollment):
            return None
        return SummaryWrite(
            summary.model_copy(update={"updated_at": self._now()}), stored, write.counted, write.marks, change, seen
        )

    def _save(self, course_id: str, writes: list[SummaryWrite], cause: str, outcomes: dict[str, Outcome]) -> set[str]:
        """Store one transaction's worth of writes; returns the learners to recompute. Only what
        conflicted is retried: stale writes leave the group, the rest is sent again."""
        stale: set[str] = set()
        for _ in SAVE_RETRY.tries():
            try:
                self._summaries.save(course_id, writes, self._now())
            except WritesRejectedError as rejected:
                stale |= rejected.stale
                writes = [write for write in writes if write.summary.user_id not in rejected.stale]
                if not writes:
                    return stale
                continue
            for write in writes:
                completed = bool(write.enrollment and write.enrollment.completed)
                outcomes[write.summary.user_id] = RecomputeResult(changed=True, completed_course=completed)
            # One line per transaction, not per learner: a batch of 100 learners logs 4.
            logger.info(
                "learner summaries recomputed",
                extra={"userIds": [write.summary.user_id for write in writes], "courseId": course_id, "cause": cause},
            )
            return stale
        return stale | {write.summary.user_id for write in writes}
