"""pydantic for picr's models (settings, queue messages, channel configs), imported after Powertools' batch
utility.

When ``aws_lambda_powertools.utilities.batch`` is first imported it checks whether pydantic is already loaded
and, if so, builds its parser models for every event source (SQS, Kinesis, Kafka, DynamoDB Streams ...) for
its type hints: ~0.23 G instructions, about 45 ms of every SQS consumer's cold start, for models picr never
uses (the import-order dependence is upstream's: aws-powertools/powertools-lambda-python#998). picr's modules
take pydantic's names from here, so Powertools' batch module is always imported first;
``tests/integration/test_layer_imports.py`` holds every handler to it. A function that never runs a batch
pays ~10 ms for the import (less when it has the event handler, which shares most of its modules).
"""

from __future__ import annotations

import aws_lambda_powertools.utilities.batch  # noqa: F401  (before pydantic: see above)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = ["BaseModel", "ConfigDict", "Field", "TypeAdapter", "ValidationError", "field_validator",
           "model_validator"]
