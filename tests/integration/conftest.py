"""The whole local runtime for the integration tests: DynamoDB Local in memory, the functions, the
stream poller and the HTTP API gateway, on free ports, started once per session and always stopped.

Fixtures: `local_api` (everything, see local.dev.LocalApi), `api` (HTTP client), `token_for(sub,
role="student", ttl_seconds=3600)`, `ddb` (boto3 DynamoDB client), `table_name` (the main table),
`gateway` (for its `stats`), `lambdas` (the function pools), `poll_until(fn, predicate, timeout=10)`,
`lms` (domain steps over HTTP: users with unique ids, courses, enrollments, summaries, problem checks),
`lrs` (Ralph, the local xAPI LRS the event bus delivers statements to).
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.dev import LocalApi, running_api
from local.dynamodb_local import dynamodb_client
from local.gateway import Gateway
from local.lambdas import LambdaService
from local.lrs import DEFAULT_PASSWORD, DEFAULT_USER, RunningLrs, running_lrs
from local.polling import poll_until as _poll_until
from local.ports import free_port
from local.template import table_names
from local.token import mint_token

INTEGRATION_DIR = Path(__file__).parent
REQUEST_TIMEOUT_SECONDS = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test (`-m "not integration"` skips it)."""
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


class ApiClient:
    """requests against the local API: `api.get("/courses/x", token=t)`, `api.post(path, token, json=...)`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._local = threading.local()  # one keep-alive session per thread: Session is not thread-safe

    @property
    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault("Authorization", f"Bearer {token}")
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_SECONDS)
        return self._session.request(method, self.base_url + path, json=json, headers=all_headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, token, json=json, **kwargs)

    def patch(self, path: str, token: str | None = None, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, token, json=json, **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, token, **kwargs)


@pytest.fixture(scope="session")
def lrs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLrs]:
    """Ralph with an empty file-system store for the session."""
    with running_lrs(free_port(), DEFAULT_USER, DEFAULT_PASSWORD, tmp_path_factory.mktemp("lrs-state")) as running:
        yield running


@pytest.fixture(scope="session")
def local_api(tmp_path_factory: pytest.TempPathFactory, lrs: RunningLrs) -> Iterator[LocalApi]:
    # Always a fresh in-memory DynamoDB Local (DDB_ENDPOINT is for `make dev` only): tests own their data.
    with running_api(
        api_port=0,
        ddb_port=free_port(),
        db_path=None,
        state_dir=tmp_path_factory.mktemp("local-state"),
        lrs=lrs,
    ) as api:
        yield api


@pytest.fixture(scope="session")
def api(local_api: LocalApi) -> ApiClient:
    return ApiClient(local_api.url)


@pytest.fixture(scope="session")
def gateway(local_api: LocalApi) -> Gateway:
    return local_api.gateway


@pytest.fixture(scope="session")
def lambdas(local_api: LocalApi) -> LambdaService:
    return local_api.lambdas


@pytest.fixture(scope="session")
def token_for() -> Callable[..., str]:
    """`token_for("alice")`, `token_for("bob", "instructor")`, `token_for("x", ttl_seconds=-3600)`."""
    return mint_token


@pytest.fixture(scope="session")
def ddb(local_api: LocalApi) -> Any:
    return dynamodb_client(local_api.ddb_endpoint)


@pytest.fixture(scope="session")
def table_name(local_api: LocalApi) -> str:
    return table_names(local_api.lambdas.config.stack)["Table"]


@pytest.fixture(scope="session")
def poll_until() -> Callable[..., Any]:
    """`poll_until(fn, predicate, timeout=10)`: call fn until predicate(result) holds; return it."""
    return _poll_until


# ---------------------------------------------------------------------- domain steps for the contract tests

PROBLEM_JSON = "application/problem+json"
SUMMARY_DEADLINE_SECONDS = 15  # summaries are eventually consistent; they catch up well within this


class User:
    """A signed-in caller with a unique `sub`, so tests never share data in the session's database."""

    def __init__(self, label: str, role: str, token_for: Callable[..., str]) -> None:
        self.id = f"{label}-{uuid.uuid4().hex[:12]}"
        self.role = role
        self.token = token_for(self.id, role)


class Lms:
    """The steps a client that only knows API.md takes, over real HTTP, with their expected status checked."""

    def __init__(self, api: ApiClient, token_for: Callable[..., str]) -> None:
        self.api = api
        self._token_for = token_for

    def user(self, label: str = "learner", role: str = "student") -> User:
        return User(label, role, self._token_for)

    def create_course(self, instructor: User, *lessons_per_module: int, **fields: Any) -> dict[str, Any]:
        """A course whose modules hold the given numbers of (required) lessons: `create_course(t, 2, 1)`."""
        modules = [
            {"title": f"Module {m}", "lessons": [{"title": f"Lesson {m}.{n}"} for n in range(1, count + 1)]}
            for m, count in enumerate(lessons_per_module, start=1)
        ]
        body = {"title": f"Course {uuid.uuid4().hex[:8]}", "modules": modules, **fields}
        return self.expect(201, self.api.post("/courses", instructor.token, json=body))

    def enroll(self, learner: User, course_id: str, status: int = 201) -> dict[str, Any]:
        return self.expect(status, self.api.post("/enrollments", learner.token, json={"courseId": course_id}))

    def complete(self, learner: User, lesson_id: str) -> dict[str, Any]:
        response = self.api.post("/progress", learner.token, json={"lessonId": lesson_id, "action": "complete"})
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    def summary(self, reader: User, course_id: str, user_id: str | None = None) -> dict[str, Any]:
        params = {"userId": user_id} if user_id else None
        return self.expect(200, self.api.get(f"/progress/course/{course_id}/summary", reader.token, params=params))

    def wait_for_summary(
        self,
        reader: User,
        course_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        user_id: str | None = None,
        timeout: float = SUMMARY_DEADLINE_SECONDS,
    ) -> dict[str, Any]:
        """Poll the (eventually consistent) summary until `predicate` holds; fail at the deadline."""
        summary: dict[str, Any] = _poll_until(
            lambda: self.summary(reader, course_id, user_id),
            predicate,
            timeout=timeout,
            interval=0.02,
            what=f"summary of {user_id or reader.id} in {course_id}",
        )
        return summary

    @staticmethod
    def lesson_ids(course: dict[str, Any]) -> list[str]:
        """Every lesson id of an outline, in outline order."""
        return [lesson["id"] for module in course["modules"] for lesson in module["lessons"]]

    @staticmethod
    def expect(status: int, response: requests.Response) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    @staticmethod
    def problem(response: requests.Response, status: int) -> dict[str, Any]:
        """An RFC 9457 problem of `status` with no trace of the server's internals."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "Traceback" not in response.text
        assert 'File "' not in response.text
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        assert {"type", "title", "detail"} <= body.keys()
        return body


@pytest.fixture(scope="session")
def lms(api: ApiClient, token_for: Callable[..., str]) -> Lms:
    return Lms(api, token_for)
