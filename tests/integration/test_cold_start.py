"""Each handler reads its own settings when Lambda loads it: a variable its function needs that the
deployment does not give stops the function at cold start, with the variable named."""

from __future__ import annotations

import pytest

from picr.settings import ConfigError


@pytest.mark.parametrize(("function", "variable"), [
    ("VariantsFunction", "PICR_PUBLISH_QUEUE_URL"),
    ("PublishFunction", "PICR_REVIEW_SECRET_ARN"),
    ("ReviewFunction", "PICR_JOBS_TABLE"),
    ("UploadFunction", "PICR_UPLOAD_SECRET_ARN"),
    ("ShopFunction", "PICR_OWNER_SECRET_ARN"),
    ("ExportFunction", "PICR_REVIEW_SECRET_ARN"),
])
def test_a_handler_missing_a_variable_fails_to_load_naming_it(stack, function, variable):
    loaded = stack.functions[function]
    del loaded.environment[variable]
    with pytest.raises(ConfigError, match=f"missing environment: {variable}$"):
        stack.handler_of(loaded)


def test_every_handler_loads_in_the_environment_the_template_gives_it(stack):
    for logical_id, function in stack.functions.items():
        if logical_id != "CutoutFunction":  # loads the model: see tests/integration/test_container.py
            assert callable(stack.handler_of(function)), logical_id
