"""Signed links in emails and on the upload page: the token format, review decisions, downloads, upload
links. A link's token is its only credential."""
