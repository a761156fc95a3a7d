"""Cutting the product out: the segmentation engines, edge refinement, the gate that holds doubtful cutouts.

Container only: OpenCV and onnxruntime are in the cutout image, not in the zip functions' layer, so
nothing a zip function imports may import this package.
"""
