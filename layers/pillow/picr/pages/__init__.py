"""The two public web pages, served by Function URLs: the review page and the upload page."""
