"""The ways a photo comes in besides a plain S3 upload: email (with its sender checks), a watched Google
Drive folder, the upload page; what they write into ``inbox/`` and the names they derive."""
