"""picr-drive-sync: every few minutes, the watched Drive folder → ``inbox/`` and finished sets → Drive.

Off until configured: the template creates this function only with a folder id, and the run does nothing
(and says so) while the Drive secret still holds its deploy-time placeholder instead of a service-account
key. The key is read from Secrets Manager on every run (the owner may have just stored it), never kept in the
environment.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from picr.aws.bucket import ImageBucket
from picr.aws.inbox import Inbox
from picr.aws.secrets import Secrets
from picr.intake.drive import DriveFolder, drive_session, service_account_info
from picr.runtime import logger, metrics
from picr.settings import DriveSyncSettings
from picr.stages.drive_sync import DriveSyncContext, sync

SAFETY_MARGIN_MS = 20_000
"""Stop taking new work with 20 s left: one more photo (download up to 40 MB, one S3 write) and the
state save fit in that, so a run is never cut off between a copy and the state that records it."""

settings = DriveSyncSettings.from_environment()
s3 = boto3.client("s3")
secrets = Secrets(boto3.client("secretsmanager"))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, lambda_context: LambdaContext) -> dict:
    info = service_account_info(secrets.text(settings.drive_secret_arn, fresh=True))  # a key put since is used now
    if info is None:
        logger.warning("drive lane not configured: the Drive secret holds no service-account key")
        metrics.add_metric(name="DriveNotConfigured", unit="Count", value=1)
        return {"status": "not_configured"}
    context = DriveSyncContext(
        drive=DriveFolder(drive_session(info), settings.drive_folder_id),
        inbox=Inbox(s3, settings.bucket),
        bucket=ImageBucket(s3, settings.bucket),
        s3=s3,
    )
    report = sync(context, should_continue=lambda: lambda_context.get_remaining_time_in_millis() > SAFETY_MARGIN_MS)
    logger.info("drive sync", extra={"scheduled_at": event.time, **report.__dict__})
    metrics.add_metric(name="DrivePhotosTaken", unit="Count", value=len(report.taken))
    metrics.add_metric(name="DriveSetsMirrored", unit="Count", value=len(report.mirrored))
    return {"status": "complete" if report.complete else "partial", "taken": report.taken,
            "mirrored": report.mirrored, "skipped": report.skipped}
