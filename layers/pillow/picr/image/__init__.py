"""Image work on real pixels: reading an upload into one working photo, its quality, the channel rules,
rendering and watermarking the channel images, checking each encoded file, thumbnails, the manifest."""
