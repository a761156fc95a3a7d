"""Segmentation engines: something that looks at a photo and says, per pixel, how much is product.

Two engines stand behind one protocol so the cutout, the gate and the review lane never care which ran:

* :class:`LocalEngine` runs a rembg U²-Net ONNX model inside the container (no per-image fee).
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
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
from PIL import Image


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
# Local engine (rembg session, ONNX runtime)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocessing:
    """How a rembg session prepares a photo: resize to ``size``, divide by the brightest value, then
    subtract ``mean`` and divide by ``std`` per channel."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: tuple[int, int]


class _NormalizeCalled(Exception):
    def __init__(self, preprocessing: Preprocessing) -> None:
        super().__init__("normalize called")
        self.preprocessing = preprocessing


class _NormalizeRecorder:
    """Stand-in for a session whose ``normalize`` records its arguments and stops ``predict`` there.

    It is also its own ``inner_session``, because ``predict`` looks up ``inner_session.run`` before it
    evaluates the ``normalize`` call that is its argument.
    """

    @property
    def inner_session(self) -> _NormalizeRecorder:
        return self

    def run(self, *args: object, **kwargs: object) -> None:
        raise EngineError("session ran the model without calling normalize")

    def normalize(self, img: Image.Image, mean: tuple, std: tuple, size: tuple, *args: object,
                  **kwargs: object) -> None:
        raise _NormalizeCalled(Preprocessing(tuple(mean), tuple(std), tuple(size)))


def read_preprocessing(session_class: type) -> Preprocessing:
    """The normalisation constants a rembg session class uses.

    rembg keeps them as literals inside each session's ``predict`` (there is no attribute to read), so
    ``predict`` is run against a stand-in whose ``normalize`` records what it was given. That way the
    constants always match the installed rembg and the chosen model instead of being copied here.
    """
    try:
        session_class.predict(_NormalizeRecorder(), Image.new("RGB", (8, 8)))
    except _NormalizeCalled as called:
        return called.preprocessing
    except Exception as exc:  # any other failure means the recipe cannot be read
        raise EngineError(f"{session_class.__name__}.predict does not use BaseSession.normalize") from exc
    raise EngineError(f"{session_class.__name__}.predict never called normalize")


PROBABILITY_MODELS = frozenset({"u2net", "u2netp", "silueta", "u2net_human_seg"})


def installed_model(model_name: str) -> str:
    """The path of ``model_name``'s weights where rembg looks for them, or :class:`EngineError`.

    rembg downloads a missing model on first use. In the cutout image that would fail (the file system is
    read-only) or cost every cold start, and it would hide the real mistake: an image built with one
    ``CutoutModel`` deployed with another. So a function whose model is not installed refuses to start.
    """
    from rembg.sessions import sessions

    session_class = sessions[model_name]
    path = session_class.resolve_existing(f"{model_name}.onnx")
    if path is None:
        home = session_class.legacy_home()
        found = sorted(p.name for p in Path(home).glob("*.onnx")) if Path(home).is_dir() else []
        raise EngineError(
            f"the {model_name} model is not installed in {home} (found: {', '.join(found) or 'nothing'}). "
            f"The cutout image bakes the CutoutModel it was built with: run sam build and sam deploy with "
            f"the same CutoutModel."
        )
    return path


class LocalEngine:
    """A rembg U²-Net model run through its ONNX session, created once per container.

    Only the U²-Net family is accepted (``PROBABILITY_MODELS``): their first output is already a 0..1
    foreground probability, which the gate reads as is. Other rembg models emit logits or need their
    own post-processing.

    The ONNX graph is called directly instead of ``session.predict`` for two reasons: ``predict``
    stretches every prediction to the full 0..1 range (so a frame with nothing in it still comes back
    as a confident mask, which would blind the gate), and it returns an 8-bit PIL mask already
    Lanczos-resized to the photo, which the refinement would immediately convert back.
    Preprocessing follows rembg's own recipe and constants (:func:`read_preprocessing`).
    """

    def __init__(self, model_name: str = "u2netp") -> None:
        if model_name not in PROBABILITY_MODELS:
            raise EngineError(f"model {model_name!r} is not one of {sorted(PROBABILITY_MODELS)}")
        self.weights = installed_model(model_name)
        """The model file: its gate profile must have been measured on exactly this file."""
        import onnxruntime
        import rembg  # heavy import, only the cutout container needs it

        options = onnxruntime.SessionOptions()
        # The memory-pattern planner reserves one block for all of U²-Net's intermediate tensors at
        # once: peak RSS 714 MB with it, 518 MB without, at the same inference time (measured, u2netp).
        options.enable_mem_pattern = False
        session = rembg.new_session(model_name, sess_opts=options)
        self.name = model_name
        self._onnx = session.inner_session
        self._input_name = self._onnx.get_inputs()[0].name
        self.preprocessing = read_preprocessing(type(session))
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
        small /= max(float(small.max()), 1e-6)
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
