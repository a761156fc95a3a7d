"""picr: a shop owner's phone photo in, catalogue-ready channel images out, and never a doubtful cutout.

``stages/`` holds what each Lambda function does; the domain lives in ``image/``, ``segmentation/``,
``intake/``, ``notify/``, ``links/`` and ``pages/``; ``aws/`` holds the adapters.
"""
