"""One module per Lambda function: what the function does with one event, over the adapters it is given.

Handlers (``functions/<name>/app.py``) parse the event and call these; the stages call the domain
packages and the adapters in ``picr.aws``.
"""
