"""POST /courses/{courseId}/modules: append a module (course instructors, admins)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.catalog import ModuleCreate, ModuleCreated
from lms.observability import logger, metrics, tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post("/courses/<courseId>/modules", status_code=201, summary="Append a module", tags=["Catalog"])
@tracer.capture_method
def create_module(courseId: str, body: ModuleCreate) -> ModuleCreated:  # noqa: N803
    return catalog.add_module(app.identity, courseId, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
