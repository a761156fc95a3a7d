"""Telling people: the emails (built from ``picr/templates/``), sending them through SES or SNS, and
delivering each at most once."""
