"""``python -m tools.backfill_listing`` on moto: jobs opened before the shop page existed (no ``listing``, no
``created_at``) join the page's list at the time they were opened, found without a Scan, and a second run
changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from picr.aws.jobs import CURRENT, JobStore
from picr.job import Status
from tests.support.shop_jobs import seed_shop
from tools.backfill_listing import backfill, main

OLD = 12


def old_jobs(stack, jobs: JobStore, clock) -> list[str]:
    """Jobs as an older release wrote them: the current item and its history, without listing or created_at,
    opened an hour or more before the listed ones, in every settled and working state."""
    states = [Status.DONE, Status.NEEDS_REVIEW, Status.REJECTED, Status.INGESTED]
    made = []
    for index in range(OLD):
        job_id, opened = f"{0xa0 + index:020x}", clock.iso(timedelta(hours=-2, minutes=index))
        moved = clock.iso(timedelta(hours=-2, minutes=index, seconds=30))
        status = states[index % len(states)]
        current = {"job_id": {"S": job_id}, "ts": {"S": CURRENT}, "current_status": {"S": status.value},
                   "updated_at": {"S": moved}, "product": {"S": f"Old product {index}"},
                   "source_key": {"S": f"inbox/old-{index}.jpg"}, "source_file": {"S": f"old-{index}.jpg"}}
        stack.dynamodb.put_item(TableName=jobs._table, Item=current)
        for at, state in ((opened, Status.INGESTED), (moved, status)):
            stack.dynamodb.put_item(TableName=jobs._table, Item={
                "job_id": {"S": job_id}, "ts": {"S": f"{at}#{state.value}"}, "status": {"S": state.value},
                "at": {"S": at}})
        made.append((job_id, opened))
    return made


def listed(jobs: JobStore) -> list[str]:
    page, cursor = jobs.newest(limit=100)
    assert cursor is None
    return [job.job_id for job in page]


def test_old_jobs_join_the_list_where_they_were_opened_and_a_second_run_changes_nothing(stack, job_store, clock):
    new = seed_shop(stack, clock, 20)
    old = old_jobs(stack, job_store, clock)
    assert listed(job_store) == [job.job_id for job in reversed(new)]  # the old ones are missing
    dynamodb_calls: list[str] = []
    stack.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: dynamodb_calls.append(model.name))
    done = backfill(job_store)
    assert (done.listed, done.already) == (OLD, 0)
    assert "Scan" not in dynamodb_calls and "Query" in dynamodb_calls
    assert listed(job_store) == [job.job_id for job in reversed(new)] + [job_id for job_id, _ in reversed(old)]
    assert [job_store.get(job_id).created_at for job_id, _ in old] == [opened for _, opened in old]
    assert job_store.get(new[0].job_id).created_at == new[0].created_at  # a listed job keeps its own time
    again = backfill(job_store)
    assert (again.listed, again.already) == (0, 0)


def test_a_job_listed_meanwhile_is_counted_not_written_again(stack, job_store, clock):
    (job_id, opened), *_ = old_jobs(stack, job_store, clock)
    assert job_store.add_listing(job_id, created_at=opened)
    assert not job_store.add_listing(job_id, created_at=clock.iso())  # the second write is refused
    assert job_store.get(job_id).created_at == opened
    assert backfill(job_store, dry_run=True).listed == OLD - 1


def test_the_command_backfills_the_deployed_stacks_table(stack, job_store, clock, capsys):
    old_jobs(stack, job_store, clock)
    import boto3

    cloudformation = boto3.client("cloudformation", region_name="eu-west-2")
    cloudformation.create_stack(StackName="picr", TemplateBody=json.dumps({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"JobsTableName": {"Value": job_store._table}}}))
    assert main(["--stack", "picr", "--region", "eu-west-2", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == f"{OLD} jobs would be listed; 0 were listed meanwhile"
    assert main(["--stack", "picr", "--region", "eu-west-2"]) == 0
    assert capsys.readouterr().out.strip() == f"{OLD} jobs listed on the shop page; 0 were listed meanwhile"
    assert len(listed(job_store)) == OLD
