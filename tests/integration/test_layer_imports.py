"""The zip functions run on the picr layer, which ships no OpenCV, onnxruntime or rembg (the cutout image
alone has them): every zip handler must import, in its own environment, with those packages absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools.invoke import LANES

REPO = Path(__file__).resolve().parents[2]
CONTAINER_ONLY = ("cv2", "onnxruntime", "rembg", "pymatting", "numba")

IMPORT_EACH_HANDLER = """
import importlib.abc, importlib.util, json, os, sys

class ContainerOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the picr layer)", name=name)
        return None

BLOCKED = set(json.loads(sys.argv[1]))
sys.meta_path.insert(0, ContainerOnly())
imported = {}
for name, function in json.loads(sys.argv[2]).items():
    os.environ.update(function["environment"])
    spec = importlib.util.spec_from_file_location(f"handler_{name}", function["app"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key in function["environment"]:
        os.environ.pop(key)
    imported[name] = sorted(m for m in sys.modules if m == "picr" or m.startswith("picr."))
print(json.dumps(imported))
"""


def test_every_zip_handler_imports_without_opencv_onnxruntime_or_rembg(aws):
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack(parameters=LANES)  # every lane on: every function of the template
    zip_functions = {
        logical_id: {"app": str(function.code_dir / "app.py"), "environment": function.environment}
        for logical_id, function in stack.functions.items()
        if stack.resources[logical_id]["Properties"].get("PackageType") != "Image"
    }
    assert set(zip_functions) == {"IngestFunction", "VariantsFunction", "PublishFunction", "SweepFunction",
                                  "ReviewFunction", "UploadFunction", "ShopFunction", "ExportFunction",
                                  "MailIntakeFunction",
                                  "DriveSyncFunction"}
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("PICR_")},
                   "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "pillow"), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_HANDLER, json.dumps(CONTAINER_ONLY),
                             json.dumps(zip_functions)], capture_output=True, text=True, env=environment,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(imported) == set(zip_functions)
    assert not [module for modules in imported.values() for module in modules
                if module.startswith("picr.segmentation")]


def test_the_check_would_catch_a_handler_that_needs_opencv(tmp_path, aws):
    """The same import check, on a handler that imports the segmentation package, fails as it should."""
    app = tmp_path / "app.py"
    app.write_text("from picr.segmentation.gate import GateThresholds\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "pillow"), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_HANDLER, json.dumps(CONTAINER_ONLY),
                             json.dumps({"Needy": {"app": str(app), "environment": {}}})],
                            capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode != 0 and "not in the picr layer" in result.stderr


HEAVY = ("numpy", "PIL", "jinja2", "pillow_heif", "pydantic", "aws_lambda_powertools.utilities.parser",
         "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.idempotency")
"""What a cold start should load only for a function that needs it (each costs 20-50 ms of one there); no
function needs pydantic or Powertools' parser (picr's records are ``picr.records``)."""
NEEDED_ON_EVERY_EVENT = {
    "IngestFunction": {"numpy", "PIL"},  # decodes, normalises and checks every upload
    "VariantsFunction": {"numpy", "PIL"},  # renders and self-checks every channel
    "PublishFunction": {"PIL", "aws_lambda_powertools.utilities.idempotency"},  # thumbnails; sends once
    "SweepFunction": {"PIL", "aws_lambda_powertools.utilities.idempotency"},  # the digest's previews
    "MailIntakeFunction": {"PIL", "aws_lambda_powertools.utilities.idempotency"},  # attachment sizes; replies
    "ReviewFunction": {"PIL", "aws_lambda_powertools.event_handler"},  # the page's thumbnails
    "ShopFunction": {"PIL", "aws_lambda_powertools.event_handler"},
    "UploadFunction": {"aws_lambda_powertools.event_handler"},
    "DriveSyncFunction": set(),  # copies files; ingest decodes them
    "ExportFunction": {"aws_lambda_powertools.utilities.idempotency"},  # copies bytes into a zip; mails once
}
LOADED_BY_IMPORT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


def test_each_zip_handler_loads_only_the_heavy_packages_its_function_uses(aws):
    """Each handler in a fresh process, as a cold start imports it: Jinja, pillow-heif, numpy and Powertools'
    unused utilities wait for the function that needs them (a timing test would judge the machine instead)."""
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack(parameters=LANES)
    zip_functions = {logical_id: function for logical_id, function in stack.functions.items()
                     if stack.resources[logical_id]["Properties"].get("PackageType") != "Image"}
    assert set(zip_functions) == set(NEEDED_ON_EVERY_EVENT)
    loaded = {}
    for logical_id, function in zip_functions.items():
        environment = {**{k: v for k, v in os.environ.items() if not k.startswith("PICR_")}, **function.environment,
                       "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "pillow"), str(REPO)])}
        result = subprocess.run([sys.executable, "-c", LOADED_BY_IMPORT, str(function.code_dir / "app.py"),
                                 json.dumps(HEAVY)], capture_output=True, text=True, env=environment, timeout=300,
                                check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        loaded[logical_id] = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert loaded == NEEDED_ON_EVERY_EVENT
