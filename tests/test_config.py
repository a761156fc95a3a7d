"""The one configuration model: PICR_* variables in, validated settings out, clear errors otherwise."""

from __future__ import annotations

import pytest

from picr.settings import ConfigError, load_settings

BASE = {"PICR_BUCKET": "picr-images", "PICR_JOBS_TABLE": "picr-jobs"}


def test_reads_only_picr_variables_with_defaults_for_the_rest():
    settings = load_settings({**BASE, "PICR_MAX_EDGE": "1600", "HOME": "/root", "PICR_UNKNOWN": "x"})
    assert (settings.bucket, settings.jobs_table, settings.max_edge) == ("picr-images", "picr-jobs", 1600)
    assert (settings.engine, settings.notify_channel, settings.link_expiry_days) == ("local", "ses", 7)


def test_an_empty_variable_means_unset_as_cloudformation_cannot_omit_one():
    settings = load_settings({**BASE, "PICR_SNS_TOPIC_ARN": "", "PICR_OWNER_EMAIL": "owner@shop.example"})
    assert settings.sns_topic_arn is None
    assert settings.recipients == ["owner@shop.example"]


def test_bad_values_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match="max_edge"):
        load_settings({**BASE, "PICR_MAX_EDGE": "100000"})
    with pytest.raises(ConfigError, match="engine"):
        load_settings({**BASE, "PICR_ENGINE": "magic"})
    with pytest.raises(ConfigError, match="bucket"):
        load_settings({"PICR_JOBS_TABLE": "picr-jobs"})


def test_a_stage_names_the_variables_it_is_missing_at_cold_start():
    settings = load_settings(BASE)
    with pytest.raises(ConfigError, match="PICR_CUTOUT_QUEUE_URL, PICR_SENDER"):
        settings.require("cutout_queue_url", "sender")
    settings.require("bucket")  # present: no error


def test_the_owner_may_always_mail_photos_in():
    assert load_settings({**BASE, "PICR_OWNER_EMAIL": "Owner@Shop.example"}).allowed_sender_list == [
        "owner@shop.example"]
    listed = load_settings({**BASE, "PICR_OWNER_EMAIL": "owner@shop.example",
                            "PICR_ALLOWED_SENDERS": " @Studio.example, owner@shop.example ,"})
    assert listed.allowed_sender_list == ["@studio.example", "owner@shop.example"]
