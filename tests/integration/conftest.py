"""Fixtures of the review lane's tests: the stack with the review function's URL, and a job held a day ago."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.held_jobs import REVIEW_HOST, seed_held_job


@pytest.fixture
def review_stack(aws):
    from tools.embedded_stack import EmbeddedStack

    return EmbeddedStack(function_urls={"ReviewFunction": f"https://{REVIEW_HOST}/"})


@pytest.fixture
def held(review_stack, clock):
    return seed_held_job(review_stack, held_at=clock.at(-timedelta(hours=25)))
