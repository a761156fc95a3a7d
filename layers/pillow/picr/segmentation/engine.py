"""Segmentation engines: something that looks at a photo and says, per pixel, how much is product.

Two engines stand behind one protocol so the cutout, the gate and the review lane never care which ran:

* :class:`LocalEngine` runs a U²-Net ONNX model (rembg's weights) inside the container (no per-image fee).
* :class:`HostedEngine` posts the photo to a remove.bg-style HTTP API and reads the alpha of the PNG it
  returns. Standard library ``urllib`` only, because the Lambda image carries no ``requests``.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
from PIL import Image

from picr.settings import model_home


class EngineError(Exception):
    """The engine could not produce a mask (unknown model, API refused the call, unusable response)."""


@runtime_checkable
class SegmentationEngine(Protocol):
    """Anything that turns an RGB photo into a float32 alpha map (H×W, 0..1, same size as the photo).

    ``input_size`` is the side of the square the engine shrinks every photo to before it looks at it, or
    ``None`` when it sees the photo at full resolution. The cutout uses it to decide whether a second,
    closer look at a small product can add detail.
    """

    name: str
    input_size: int | None

    def predict(self, image: Image.Image) -> np.ndarray: ...


# --------------------------------------------------------------------------------------------------
# Local engine (U²-Net ONNX model, onnxruntime)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocessing:
    """How a U²-Net model wants its photo: resized to ``size`` (width, height), divided by the photo's
    brightest value (``scale_by_max``; else by 255), then ``mean`` subtracted and divided by ``std`` per
    channel. This is rembg's recipe (``BaseSession.normalize``), kept here as data so the container
    needs no rembg at run time; tests/unit/test_engine.py compares it with the installed rembg's."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: tuple[int, int]
    scale_by_max: bool = True


_IMAGENET = Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), size=(320, 320))

PREPROCESSING: dict[str, Preprocessing] = {
    "u2net": _IMAGENET,
    "u2netp": _IMAGENET,
    "silueta": _IMAGENET,
    "u2net_human_seg": _IMAGENET,
}
"""The models the local engine accepts, with their preprocessing. Only the U²-Net family: its first
output is already a 0..1 foreground probability, which the gate reads as is; other rembg models emit
logits or need their own post-processing."""

PROBABILITY_MODELS = frozenset(PREPROCESSING)
OPTIMISED_SUFFIX = ".optimised.onnx"
"""``<model>.optimised.onnx`` beside the weights: the graph onnxruntime builds from them with
:func:`session_options`, saved when the image is built (:func:`optimise_model`)."""


def installed_model(model_name: str, home: Path | None = None) -> Path:
    """The path of ``model_name``'s weights, ``<home>/<model>.onnx``, or :class:`EngineError`.

    ``home`` defaults to the directory the cutout image bakes the weights into (``U2NET_HOME``, see
    :func:`picr.settings.model_home`). Nothing is ever downloaded at run time: on Lambda the file system
    is read-only and a download would cost every cold start, and a missing file means an image built
    with one ``CutoutModel`` was deployed with another, which must fail loudly at start.
    """
    home = model_home() if home is None else home
    path = home / f"{model_name}.onnx"
    if not path.is_file():
        found = sorted(p.name for p in home.glob("*.onnx")) if home.is_dir() else []
        raise EngineError(
            f"the {model_name} model is not installed in {home} (found: {', '.join(found) or 'nothing'}). "
            f"The cutout image bakes the CutoutModel it was built with: run sam build and sam deploy with "
            f"the same CutoutModel."
        )
    return path


def session_options(onnxruntime: ModuleType, threads: int | None = None) -> object:
    """onnxruntime session options for the cutout, chosen by peak RSS and speed measured in fresh
    processes (u2netp, the 2000 px bench photo, x86_64; see the README):

    * no memory-pattern planner: it reserves one block for all of U²-Net's intermediate tensors at once
      (cutout peak 699 MB with it, 505 MB without, same speed);
    * the memory arena stays on: without it (or shrinking it after each run) every inference faults its
      ~250 MB of tensors in afresh, 25-30 % slower, for a peak no lower than the one chosen here;
    * graph optimisation "extended", not "all": "all" adds the NCHWc layout, whose reordered copies of
      the tensors raise the inference's peak by ~80 MB (cutout 480 MB against 399 MB) for ~20 % faster
      inference on x86_64. ``make bench`` times the bare inference with these options and with
      onnxruntime's defaults, so the price stays visible;
    * ``threads`` intra-op threads when given (``CutoutSettings.inference_threads``: as many as the function's
      vCPUs), else onnxruntime's default of one per core. The same graph, the same answer.
    """
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.enable_mem_pattern = False
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    return options


def optimise_model(model_name: str, home: Path) -> Path:
    """Save the graph a session with :func:`session_options` builds from ``model_name``'s weights as
    ``<home>/<model>.optimised.onnx``. The cutout image does this once when it is built (same onnxruntime,
    same platform), so a cold start loads that graph instead of optimising the weights again (measured:
    a third less CPU for the session, ~70 ms on the development machine)."""
    import onnxruntime

    target = home / f"{model_name}{OPTIMISED_SUFFIX}"
    options = session_options(onnxruntime)
    options.optimized_model_filepath = str(target)
    onnxruntime.InferenceSession(str(installed_model(model_name, home)), sess_options=options,
                                 providers=["CPUExecutionProvider"])
    return target


class LocalEngine:
    """A U²-Net model run through onnxruntime, created once per container.

    The session is opened on the baked weights directly (rembg is only used when the image is built,
    to fetch and verify them): importing rembg costs 1.4 s and ~190 MB at cold start for what is a
    resize, four constants and one ``run`` call. When the image saved the optimised graph beside the
    weights, that graph is loaded as it is.

    The ONNX graph's raw output is used instead of rembg's ``predict`` for two reasons: ``predict``
    stretches every prediction to the full 0..1 range (so a frame with nothing in it still comes back
    as a confident mask, which would blind the gate), and it returns an 8-bit PIL mask already
    Lanczos-resized to the photo, which the refinement would immediately convert back.
    """

    def __init__(self, model_name: str = "u2netp", home: Path | None = None, threads: int | None = None) -> None:
        if model_name not in PREPROCESSING:
            raise EngineError(f"model {model_name!r} is not one of {sorted(PROBABILITY_MODELS)}")
        weights = installed_model(model_name, home)
        self.weights = weights
        """The model file: its gate profile must have been measured on exactly this file."""
        import onnxruntime  # only the cutout container has it

        options = session_options(onnxruntime, threads)
        optimised = weights.with_name(f"{model_name}{OPTIMISED_SUFFIX}")
        if optimised.is_file():
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.graph = optimised if optimised.is_file() else weights
        self.name = model_name
        self.preprocessing = PREPROCESSING[model_name]
        self._onnx = onnxruntime.InferenceSession(str(self.graph), sess_options=options,
                                                  providers=["CPUExecutionProvider"])
        self._input_name = self._onnx.get_inputs()[0].name
        width, height = self.preprocessing.size
        self.input_size: int | None = max(width, height)

    def model_input(self, image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
        """The 1×3×H×W float32 tensor the model expects, from an RGB photo (``size`` (width, height)
        overrides the model's own input size, for a graph whose input size has been relaxed).

        Lanczos like rembg (thin parts such as drum stands survive it better than an area filter);
        ``reducing_gap`` first box-reduces by a whole factor, which makes it 3× faster on a 2000 px
        photo and changes the model's answer by less than a percent.
        """
        prep = self.preprocessing
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        small = np.asarray(rgb.resize(size or prep.size, Image.Resampling.LANCZOS, reducing_gap=1.5), np.float32)
        small /= max(float(small.max()), 1e-6) if prep.scale_by_max else 255.0
        small -= np.asarray(prep.mean, np.float32)
        small /= np.asarray(prep.std, np.float32)
        return np.ascontiguousarray(small.transpose(2, 0, 1)[np.newaxis])

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Bare ONNX inference: the model's own 0..1 foreground probability at model resolution."""
        outputs = self._onnx.run(None, {self._input_name: tensor})
        return np.clip(outputs[0][0, 0], 0.0, 1.0).astype(np.float32)

    def predict(self, image: Image.Image) -> np.ndarray:
        probability = self.infer(self.model_input(image))
        return cv2.resize(probability, image.size, interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------------------------------
# Hosted engine (remove.bg-style HTTP API)
# --------------------------------------------------------------------------------------------------

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def _multipart(fields: dict[str, str], file_field: str, filename: str, content_type: str,
               payload: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type header value."""
    boundary = f"picr-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for key, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{key}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts.append(payload)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _error_detail(body: bytes) -> str:
    """The first error title from a remove.bg-style JSON error body, else a short raw excerpt."""
    try:
        errors = json.loads(body)["errors"]
        return str(errors[0].get("title", errors[0]))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return body[:200].decode("utf-8", "replace")


class HostedEngine:
    """A hosted background-removal API with remove.bg's request and response shape.

    The API key is fetched by calling ``api_key_provider`` on every request (the handler passes a
    cached secret reader, ``picr.aws.secrets``), so a rotated key is picked up without a redeploy.
    429 and 5xx answers and network failures are retried with exponential backoff (``Retry-After`` is
    honoured when the server sends one, capped at ``max_backoff_s``); other 4xx answers mean the
    request itself is wrong and fail at once.
    """

    input_size: int | None = None

    def __init__(self, url: str, api_key_provider: Callable[[], str], timeout_s: float = 30, retries: int = 2,
                 backoff_s: float = 1.0, max_backoff_s: float = 8.0) -> None:
        self.name = "hosted"
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._api_key_provider = api_key_provider

    def predict(self, image: Image.Image) -> np.ndarray:
        upload = io.BytesIO()
        # JPEG q95 is a fifth of the PNG's size and visually lossless for segmentation.
        image.convert("RGB").save(upload, "JPEG", quality=95)
        body, content_type = _multipart({"size": "auto", "format": "png"}, "image_file", "photo.jpg",
                                        "image/jpeg", upload.getvalue())
        response = self._post(body, content_type)
        return self._alpha_from_png(response, image.size)

    def _post(self, body: bytes, content_type: str) -> bytes:
        last_error = "no attempt made"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.url, data=body, method="POST",
                headers={"X-Api-Key": self._api_key_provider(), "Content-Type": content_type,
                         "Accept": "image/png"},
            )
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc.read())
                if exc.code not in RETRYABLE_STATUS:
                    message = f"background-removal API refused the photo: HTTP {exc.code} {detail}"
                    raise EngineError(message) from exc
                last_error = f"HTTP {exc.code} {detail}"
                header = exc.headers.get("Retry-After") if exc.headers else None
                retry_after = float(header) if header and header.strip().isdigit() else None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.retries:
                delay = retry_after if retry_after is not None else self.backoff_s * 2**attempt
                time.sleep(min(delay, self.max_backoff_s))
        raise EngineError(f"background-removal API failed after {self.retries + 1} attempts: {last_error}")

    @staticmethod
    def _alpha_from_png(payload: bytes, size: tuple[int, int]) -> np.ndarray:
        try:
            result = Image.open(io.BytesIO(payload))
            result.load()
        except Exception as exc:  # Pillow raises many types for a bad payload
            raise EngineError("background-removal API returned something that is not an image") from exc
        if "A" not in result.getbands() and "transparency" not in result.info:
            raise EngineError(f"background-removal API returned a {result.mode} image without transparency")
        alpha = np.asarray(result.convert("RGBA").getchannel("A"), np.float32) / 255.0
        if result.size != size:  # size=auto may answer at a lower resolution than the upload
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
        return alpha
