"""Adapters over AWS: the images bucket, the jobs table, the stage queues, the upload page's records, secrets.

Each takes its boto3 client as an argument (the tests pass moto ones); nothing else in the package calls
boto3.
"""
