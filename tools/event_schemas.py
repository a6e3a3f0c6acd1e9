"""Write schemas/events/<DetailType>.json, the JSON Schema of each domain event's detail, from the
models in lms.events.models (`make event-schemas`; a unit test fails when they drift apart)."""

import json
from pathlib import Path
from typing import Any

from lms.events.models import DETAIL_MODELS, EVENT_SOURCE, DetailType

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "events"


def detail_schema(detail_type: DetailType) -> dict[str, Any]:
    schema = DETAIL_MODELS[detail_type].model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": detail_type.value,
        "description": f"detail of the {detail_type.value} event (source {EVENT_SOURCE!r}).",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def rendered() -> dict[Path, str]:
    return {SCHEMA_DIR / f"{t.value}.json": json.dumps(detail_schema(t), indent=2) + "\n" for t in DetailType}


def main() -> None:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(SCHEMA_DIR.parent.parent))


if __name__ == "__main__":
    main()
