"""Engines: the local U²-Net/ONNX engine on real pixels, the hosted engine against a fake HTTP API."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from picr.segmentation.engine import PREPROCESSING, EngineError, HostedEngine, LocalEngine, optimise_model
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]


def disc_photo(size=(480, 360), colour=(200, 30, 30), background=(235, 235, 230)) -> Image.Image:
    photo = Image.new("RGB", size, background)
    w, h = size
    ImageDraw.Draw(photo).ellipse((w * 0.3, h * 0.25, w * 0.7, h * 0.75), fill=colour)
    return photo


# --------------------------------------------------------------------------------------------------
# local engine
# --------------------------------------------------------------------------------------------------


class _NormalizeCalled(Exception):
    def __init__(self, mean, std, size) -> None:
        super().__init__("normalize called")
        self.recipe = (tuple(mean), tuple(std), tuple(size))


class _NormalizeRecorder:
    """Stand-in for a rembg session: ``predict`` calls ``self.normalize(img, mean, std, size)`` with its
    model's constants as literals, so a stand-in whose ``normalize`` raises with its arguments reads them.
    It is its own ``inner_session`` because ``predict`` looks up ``inner_session.run`` first."""

    @property
    def inner_session(self):
        return self

    def run(self, *args, **kwargs):
        raise AssertionError("the session ran the model without calling normalize")

    def normalize(self, img, mean, std, size, *args, **kwargs):
        raise _NormalizeCalled(mean, std, size)


def rembg_recipe(model: str) -> tuple[tuple, tuple, tuple]:
    """(mean, std, size) the installed rembg's session for ``model`` normalises with."""
    from rembg.sessions import sessions

    with pytest.raises(_NormalizeCalled) as called:
        sessions[model].predict(_NormalizeRecorder(), Image.new("RGB", (8, 8)))
    return called.value.recipe


@pytest.mark.parametrize("model", sorted(PREPROCESSING))
def test_preprocessing_constants_are_the_installed_rembgs(model):
    """The constants are copied into picr so the image needs no rembg; a rembg release that changes
    them fails here instead of silently diverging from the weights it publishes."""
    prep = PREPROCESSING[model]
    mean, std, size = rembg_recipe(model)
    assert prep.size == size
    assert prep.mean == pytest.approx(mean, abs=0) and prep.std == pytest.approx(std, abs=0)
    assert prep.scale_by_max


def test_model_input_is_rembgs_normalisation_on_a_real_photo(local_engine):
    """rembg's own ``BaseSession.normalize`` (resize, divide by the brightest value, mean/std per channel)
    and ours give the same tensor; the photo is small enough that our box pre-reduction does not apply."""
    from rembg.sessions.base import BaseSession

    class Inputs:
        def get_inputs(self):
            return [type("Input", (), {"name": "input.1"})()]

    with Image.open(SAMPLES / "teddy_bear.jpg") as opened:
        photo = opened.convert("RGB").resize((400, 300))
    prep = local_engine.preprocessing
    stand_in = type("Session", (), {"inner_session": Inputs()})()
    theirs = BaseSession.normalize(stand_in, photo, prep.mean, prep.std, prep.size)["input.1"]
    ours = local_engine.model_input(photo)
    assert ours.shape == theirs.shape == (1, 3, 320, 320) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5


def test_the_runtime_cuts_a_photo_without_importing_rembg_or_numpys_masked_arrays():
    """The cutout container ships no rembg (nor pymatting, numba, scipy, scikit-image): the engine and the
    whole cutout must not need them. Nor ``numpy.ma``, which ``np.percentile`` imports on first use (50-100 ms
    of the first job after a cold start): the gate's signals, which the extra looks feed, must not need it."""
    script = (
        "import sys; from PIL import Image\n"
        "from picr.segmentation.engine import LocalEngine; from picr.segmentation.cutout import make_cutout\n"
        "result = make_cutout(Image.open(sys.argv[1]), LocalEngine('u2netp'))\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'rembg', 'pymatting', 'numba', 'scipy', 'skimage'})\n"
        "print(result.rgba.mode, heavy, result.passes >= 3, 'numpy.ma' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "pillow")}
    done = subprocess.run([sys.executable, "-c", script, str(SAMPLES / "teddy_bear.jpg")], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == ["RGBA", "[]", "True", "False"]


@pytest.fixture(scope="module")
def local_engine():
    return LocalEngine("u2netp")


def test_local_engine_finds_a_disc_on_paper(local_engine):
    photo = disc_photo()
    alpha = local_engine.predict(photo)
    assert alpha.shape == (360, 480) and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert alpha[180, 240] > 0.9          # disc centre
    assert alpha[20, 20] < 0.1            # paper corner
    assert local_engine.name == "u2netp" and local_engine.input_size == 320


def test_a_one_thread_session_gives_the_same_answer_on_one_thread(local_engine):
    """On one vCPU the function opens its session with one intra-op thread: the same graph and the same
    answer, computed on the calling thread alone."""
    engine = LocalEngine("u2netp", threads=1)
    tensor = engine.model_input(disc_photo())
    # onnxruntime's own record of the options the session was opened with
    assert engine._onnx.get_session_options().intra_op_num_threads == 1
    assert local_engine._onnx.get_session_options().intra_op_num_threads == 0   # 0: one per core
    assert np.abs(engine.infer(tensor) - local_engine.infer(tensor)).max() < 1e-4


def test_local_engine_model_input_follows_rembg_normalisation(local_engine):
    tensor = local_engine.model_input(Image.new("RGB", (120, 90), (255, 255, 255)))
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    # white / max = 1, then (1 - mean) / std per channel
    assert tensor[0, :, 0, 0] == pytest.approx([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])


def test_the_optimised_graph_saved_beside_the_weights_is_loaded_and_answers_the_same(tmp_path, local_engine):
    """The image saves the optimised graph when it is built; the engine must load that one, and it must be
    the same model."""
    (tmp_path / "u2netp.onnx").symlink_to(REPO / "models" / "u2netp.onnx")
    saved = optimise_model("u2netp", tmp_path)
    assert saved == tmp_path / "u2netp.optimised.onnx" and saved.stat().st_size > 0
    engine = LocalEngine("u2netp", home=tmp_path)
    assert engine.graph == saved and local_engine.graph == REPO / "models" / "u2netp.onnx"
    tensor = engine.model_input(disc_photo())
    assert np.abs(engine.infer(tensor) - local_engine.infer(tensor)).max() < 1e-4


@pytest.mark.parametrize("model", ["no-such-model", "birefnet-general"])
def test_models_outside_the_u2net_family_are_refused_before_any_download(model):
    with pytest.raises(EngineError, match="not one of"):
        LocalEngine(model)


def test_a_model_missing_from_the_image_is_refused_at_start(tmp_path, monkeypatch):
    """An image baked with u2netp but deployed with PICR_MODEL=u2net (CutoutModel differing between sam build
    and sam deploy) must fail its cold start with a message, not download 176 MB or crash later."""
    (tmp_path / "u2netp.onnx").symlink_to(REPO / "models" / "u2netp.onnx")
    with pytest.raises(EngineError, match=r"u2net model is not installed .*found: u2netp\.onnx.*same CutoutModel"):
        LocalEngine("u2net", home=tmp_path)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))  # where the image bakes it, the template's variable
    assert LocalEngine("u2netp").name == "u2netp"  # the baked one starts
    with pytest.raises(EngineError, match="found: nothing"):
        LocalEngine("u2netp", home=tmp_path / "absent")


# --------------------------------------------------------------------------------------------------
# hosted engine against a fake remove.bg
# --------------------------------------------------------------------------------------------------


def png_with_alpha(size, alpha_value=255, mode="RGBA") -> bytes:
    image = Image.new(mode, size, (10, 20, 30, alpha_value) if mode == "RGBA" else (10, 20, 30))
    if mode == "RGBA":
        ImageDraw.Draw(image).rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=(10, 20, 30, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class FakeApi:
    """A remove.bg-like server on 127.0.0.1 answering from a script of (status, body, headers)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
                api.requests.append({
                    "key": self.headers["X-Api-Key"],
                    "fields": {name: part.get_content() for name, part in parts.items() if name != "image_file"},
                    "image": parts["image_file"].get_content() if "image_file" in parts else None,
                })
                status, payload, headers = api.script.pop(0) if len(api.script) > 1 else api.script[0]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1.0/removebg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def rotating_keys():
    calls = []

    def provider():
        calls.append(1)
        return f"key-{len(calls)}"

    return provider, calls


def test_hosted_engine_posts_remove_bg_form_and_reads_alpha():
    photo = disc_photo((200, 100))
    provider, calls = rotating_keys()
    # the API answers at half resolution (size=auto may do that): left half transparent
    with FakeApi([(200, png_with_alpha((100, 50)), {"Content-Type": "image/png"})]) as api:
        alpha = HostedEngine(api.url, provider, timeout_s=5).predict(photo)
    assert alpha.shape == (100, 200) and alpha.dtype == np.float32
    assert alpha[50, 20] == 0.0 and alpha[50, 180] == 1.0
    request = api.requests[0]
    assert request["key"] == "key-1" and len(calls) == 1
    assert request["fields"] == {"size": "auto", "format": "png"}
    assert Image.open(io.BytesIO(request["image"])).size == (200, 100)


def test_hosted_engine_retries_429_and_5xx_then_succeeds_with_a_fresh_key():
    provider, _ = rotating_keys()
    script = [(429, b'{"errors":[{"title":"Rate limit exceeded"}]}', {"Retry-After": "0"}),
              (503, b"busy", {}),
              (200, png_with_alpha((20, 10)), {"Content-Type": "image/png"})]
    with FakeApi(script) as api:
        alpha = HostedEngine(api.url, provider, timeout_s=5, retries=2, backoff_s=0.01).predict(disc_photo((20, 10)))
    assert len(api.requests) == 3
    assert [r["key"] for r in api.requests] == ["key-1", "key-2", "key-3"]   # provider asked at every call
    assert alpha.shape == (10, 20)


def test_hosted_engine_does_not_retry_a_client_error():
    provider, _ = rotating_keys()
    refusal = (402, b'{"errors":[{"title":"Insufficient credits"}]}', {})
    with FakeApi([refusal]) as api, pytest.raises(EngineError, match="402 Insufficient credits"):
        HostedEngine(api.url, provider, retries=3, backoff_s=0.01).predict(disc_photo((20, 10)))
    assert len(api.requests) == 1


def test_hosted_engine_gives_up_after_its_retries():
    provider, _ = rotating_keys()
    with FakeApi([(500, b"oops", {})]) as api, pytest.raises(EngineError, match="after 3 attempts"):
        HostedEngine(api.url, provider, retries=2, backoff_s=0.01).predict(disc_photo((20, 10)))
    assert len(api.requests) == 3


def test_hosted_engine_refuses_a_response_without_transparency():
    provider, _ = rotating_keys()
    opaque = (200, png_with_alpha((20, 10), mode="RGB"), {"Content-Type": "image/png"})
    with FakeApi([opaque]) as api, pytest.raises(EngineError, match="without transparency"):
        HostedEngine(api.url, provider).predict(disc_photo((20, 10)))


def test_hosted_engine_unreachable_is_an_engine_error():
    provider, calls = rotating_keys()
    with FakeApi([(200, b"", {})]) as api:
        url = api.url
    # server is shut down: connection refused on every attempt
    with pytest.raises(EngineError, match="after 2 attempts"):
        HostedEngine(url, provider, timeout_s=1, retries=1, backoff_s=0.01).predict(disc_photo((20, 10)))
    assert len(calls) == 2
