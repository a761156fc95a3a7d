"""Each function's settings: its own PICR_* variables in, validated at cold start, the missing ones named."""

from __future__ import annotations

import pytest

from picr.settings import (
    ConfigError,
    CutoutSettings,
    DriveSyncSettings,
    IngestSettings,
    MailIntakeSettings,
    PublishSettings,
    ReviewSettings,
    SweepSettings,
    UploadSettings,
    VariantsSettings,
)

INGEST = {"PICR_BUCKET": "picr-images", "PICR_JOBS_TABLE": "picr-jobs", "PICR_IDEMPOTENCY_TABLE": "picr-idem",
          "PICR_CUTOUT_QUEUE_URL": "https://q/cutout", "PICR_PUBLISH_QUEUE_URL": "https://q/publish"}
NOTIFY = {"PICR_BUCKET": "picr-images", "PICR_IDEMPOTENCY_TABLE": "picr-idem", "PICR_SENDER": "picr@shop.example",
          "PICR_OWNER_EMAIL": "owner@shop.example"}
EVERY_FUNCTION = [IngestSettings, CutoutSettings, VariantsSettings, PublishSettings, SweepSettings, ReviewSettings,
                  UploadSettings, MailIntakeSettings, DriveSyncSettings]


def test_reads_only_its_own_variables_with_defaults_for_the_rest():
    settings = IngestSettings.from_environment({**INGEST, "PICR_MAX_EDGE": "1600", "HOME": "/root",
                                                "PICR_SENDER": "not ingest's"})
    assert (settings.bucket, settings.jobs_table, settings.max_edge) == ("picr-images", "picr-jobs", 1600)
    assert (settings.drive_folder_id, settings.upload_photos_per_hour) == (None, 60)
    assert not hasattr(settings, "sender")


def test_an_empty_variable_means_unset_as_cloudformation_cannot_omit_one():
    settings = MailIntakeSettings.from_environment({**NOTIFY, "PICR_SNS_TOPIC_ARN": "", "PICR_ALLOWED_SENDERS": ""})
    assert settings.sns_topic_arn is None and settings.allowed_senders is None
    assert settings.recipients == ["owner@shop.example"]


def test_bad_values_are_refused_naming_the_variable():
    with pytest.raises(ConfigError, match="PICR_MAX_EDGE"):
        IngestSettings.from_environment({**INGEST, "PICR_MAX_EDGE": "100000"})
    with pytest.raises(ConfigError, match="PICR_ENGINE"):
        CutoutSettings.from_environment({**INGEST, "PICR_VARIANTS_QUEUE_URL": "https://q/v", "PICR_ENGINE": "magic"})
    with pytest.raises(ConfigError, match="PICR_SNS_TOPIC_ARN"):
        MailIntakeSettings.from_environment({**NOTIFY, "PICR_NOTIFY_CHANNEL": "sns"})


@pytest.mark.parametrize("missing", sorted(INGEST))
def test_a_function_names_each_variable_it_is_missing_at_cold_start(missing):
    environment = {name: value for name, value in INGEST.items() if name != missing}
    with pytest.raises(ConfigError, match=f"IngestSettings: missing environment: {missing}$"):
        IngestSettings.from_environment(environment)
    with pytest.raises(ConfigError, match=missing):  # blank is missing too
        IngestSettings.from_environment({**environment, missing: ""})


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(ConfigError) as refused:
        PublishSettings.from_environment({"PICR_BUCKET": "picr-images"})
    assert str(refused.value) == (
        "PublishSettings: missing environment: PICR_IDEMPOTENCY_TABLE, PICR_JOBS_TABLE, PICR_OWNER_EMAIL, "
        "PICR_REVIEW_SECRET_ARN, PICR_REVIEW_URL, PICR_SENDER")


def test_a_hosted_cutout_engine_needs_its_key():
    cutout = {**INGEST, "PICR_VARIANTS_QUEUE_URL": "https://q/v", "PICR_ENGINE": "hosted"}
    with pytest.raises(ConfigError, match="PICR_HOSTED_SECRET_ARN"):
        CutoutSettings.from_environment(cutout)
    assert CutoutSettings.from_environment({**cutout, "PICR_HOSTED_SECRET_ARN": "arn:key"}).engine == "hosted"


@pytest.mark.parametrize(("memory", "threads"), [
    ("", None),          # off Lambda: onnxruntime's default, one thread per core
    ("1024", 1),         # under one vCPU's worth: still one thread, never none
    ("1769", 1),         # exactly one vCPU's worth
    ("1770", 2),         # a sliver over it: a second thread has CPU time to run on
    ("3008", 2),         # the default: 1.7 vCPUs' worth, two threads
])
def test_the_model_runs_one_thread_per_vcpu_the_memory_buys(memory: str, threads: int | None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    cutout = {**INGEST, "PICR_VARIANTS_QUEUE_URL": "https://q/v", "PICR_MEMORY_MB": memory}
    assert CutoutSettings.from_environment(cutout).inference_threads == threads


def test_the_models_threads_never_outnumber_the_cores_lambda_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 6)   # 8846 MB and more show six cores
    cutout = {**INGEST, "PICR_VARIANTS_QUEUE_URL": "https://q/v"}
    assert CutoutSettings.from_environment({**cutout, "PICR_MEMORY_MB": "10240"}).inference_threads == 6
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert CutoutSettings.from_environment({**cutout, "PICR_MEMORY_MB": "10240"}).inference_threads == 2
    with pytest.raises(ConfigError, match="PICR_MEMORY_MB"):
        CutoutSettings.from_environment({**cutout, "PICR_MEMORY_MB": "64"})


def test_each_function_declares_only_what_it_reads():
    declared = {cls.__name__: cls.variables() for cls in EVERY_FUNCTION}
    assert "PICR_SENDER" not in declared["IngestSettings"] | declared["CutoutSettings"] | declared["ReviewSettings"]
    assert "PICR_JOBS_TABLE" not in declared["MailIntakeSettings"] | declared["DriveSyncSettings"]
    assert "PICR_IDEMPOTENCY_TABLE" not in declared["CutoutSettings"] | declared["VariantsSettings"]
    assert DriveSyncSettings.required_variables() == {"PICR_BUCKET", "PICR_DRIVE_FOLDER_ID", "PICR_DRIVE_SECRET_ARN"}


def test_the_owner_may_always_mail_photos_in():
    assert MailIntakeSettings.from_environment({**NOTIFY, "PICR_OWNER_EMAIL": "Owner@Shop.example"}
                                               ).allowed_sender_list == ["owner@shop.example"]
    listed = MailIntakeSettings.from_environment({**NOTIFY,
                                                  "PICR_ALLOWED_SENDERS": " @Studio.example, owner@shop.example ,"})
    assert listed.allowed_sender_list == ["@studio.example", "owner@shop.example"]
