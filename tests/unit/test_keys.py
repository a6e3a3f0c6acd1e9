"""User ids enter keys safely: any `sub` a token may carry, never able to reach another user's keys."""

import pytest

from lms import keys

PLAIN = ["student-1", "01JD0000000000000000000000", "auth0|abc", "ann@example.com", "x" * 128]
UNUSUAL = ["CN=Ann,OU=Staff", "José", "a#b", "has space", "x" * 129, "u" * 256, "~abc", "ユーザー" * 64, "\x00"]


@pytest.mark.parametrize("user_id", PLAIN)
def test_a_plain_user_id_enters_keys_as_itself(user_id: str) -> None:
    """Plain ids keep keys readable: only an id that could break a key is replaced by a digest."""
    assert keys.user_key(user_id) == user_id
    assert keys.enrollment(user_id, "c1") == {"pk": f"USER#{user_id}", "sk": "ENROLLMENT#c1"}


@pytest.mark.parametrize("user_id", UNUSUAL)
def test_any_other_user_id_enters_keys_as_a_short_digest_without_the_separator(user_id: str) -> None:
    encoded = keys.user_key(user_id)
    assert encoded.startswith("~")
    assert len(encoded) == 44
    assert "#" not in encoded
    assert encoded == keys.user_key(user_id)  # stable


def test_distinct_user_ids_never_share_a_key() -> None:
    encoded = [keys.user_key(user_id) for user_id in PLAIN + UNUSUAL]
    assert len(set(encoded)) == len(encoded)


def test_a_crafted_sub_cannot_reach_into_another_learners_prefix() -> None:
    """Unencoded, `a#b`'s course progress (USER#a#b#<lesson>) would fall under learner `a`'s prefix."""
    crafted = keys.progress_index("a#b", "c1", "lesson-1")["gsi1sk"]
    assert not crafted.startswith(keys.course_progress_learner_prefix("a"))
