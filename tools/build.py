"""``make build``: build the picr layer and every zip function for Lambda arm64, then prove the output.

``sam build`` of the whole template would also build the cutout's container image, which needs a Docker
engine. Every ``PackageType: Image`` function is passed to ``--exclude`` instead, so this runs anywhere
Python 3.13 and pip can reach a package index; the output template still lists the image function
unbuilt, so deploying still means a full ``sam build`` on a machine with Docker (see the README).

The checks are the ones a broken layer would fail silently at run time: each zip function has its
``app.py``; the layer has ``python/picr`` with every file of the source package as a real file, the
templates of the emails and pages included (a link there would be dropped by a zip, or kept as a dangling
one); every shared object is an aarch64 ELF (an x86_64 wheel imports fine here and crashes on
Graviton); and function plus layer stay under Lambda's 250 MB unzipped limit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from samcli.yamlhelper import yaml_parse

REPO = Path(__file__).resolve().parents[1]
ELF_MAGIC = b"\x7fELF"
ELF_MACHINE_AARCH64 = 183  # e_machine of an AArch64 ELF (EM_AARCH64)
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # a function's code plus all its layers, unzipped
LAYER_SITE = "python"  # where a Python layer's importable packages live inside /opt
PACKAGE = "picr"


@dataclass(frozen=True)
class ZipFunction:
    logical_id: str
    layers: tuple[str, ...]


@dataclass(frozen=True)
class BuildPlan:
    """What the template asks ``sam build`` for: zip functions and layers to build, images to skip."""

    zip_functions: tuple[ZipFunction, ...]
    layers: tuple[str, ...]
    image_functions: tuple[str, ...]


def read_plan(template: Path) -> BuildPlan:
    """Classify the template's functions and layers, so no logical id is hard-coded here."""
    resources = yaml_parse(template.read_text())["Resources"]
    zip_functions: list[ZipFunction] = []
    image_functions: list[str] = []
    layers: list[str] = []
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            layers.append(logical_id)
        elif resource["Type"] == "AWS::Serverless::Function":
            if properties.get("PackageType") == "Image":
                image_functions.append(logical_id)
            else:
                used = tuple(ref["Ref"] for ref in properties.get("Layers", []) if isinstance(ref, dict))
                zip_functions.append(ZipFunction(logical_id, used))
    return BuildPlan(tuple(zip_functions), tuple(layers), tuple(image_functions))


def sam_build_command(template: Path, build_dir: Path, cache_dir: Path, plan: BuildPlan) -> list[str]:
    """``sam build`` for arm64 in-process (no ``--use-container``), cached, image functions excluded."""
    command = [
        sys.executable, "-m", "samcli", "build",
        "--template-file", str(template),
        "--build-dir", str(build_dir),
        "--cached", "--cache-dir", str(cache_dir),
    ]
    for logical_id in plan.image_functions:
        command += ["--exclude", logical_id]
    return command


def build_environment() -> dict[str, str]:
    """The builders look up ``python3.13`` on PATH and the layer Makefile runs ``$(PYTHON) -m pip``:
    both must be this interpreter (3.13, with pip), whatever else the caller's PATH holds."""
    environment = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([bin_dir, environment.get("PATH", "")])
    environment["PYTHON"] = sys.executable
    environment["SAM_CLI_TELEMETRY"] = "0"
    return environment


def elf_machine(path: Path) -> int | None:
    """The ELF ``e_machine`` field (little-endian), or None when the file is not an ELF object."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or not header.startswith(ELF_MAGIC):
        return None
    return int.from_bytes(header[18:20], "little")


def tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def package_files(root: Path) -> dict[str, Path]:
    """Relative path -> file for a package tree, following symlinked directories, skipping bytecode."""
    files: dict[str, Path] = {}
    for directory, subdirs, names in os.walk(root, followlinks=True):
        subdirs[:] = [name for name in subdirs if name != "__pycache__"]
        for name in names:
            path = Path(directory, name)
            files[path.relative_to(root).as_posix()] = path
    return files


def verify_layer(layer_dir: Path, package_source: Path) -> list[str]:
    """Problems with one built picr layer (an empty list means it is fit to deploy)."""
    site = layer_dir / LAYER_SITE
    problems: list[str] = []
    built_package = site / PACKAGE
    if not (built_package / "__init__.py").is_file():
        return [f"{built_package}/__init__.py is missing"]
    built = package_files(built_package)
    for relative, source in package_files(package_source).items():
        target = built_package / relative
        if relative not in built or target.is_symlink() or not target.is_file():
            problems.append(f"{PACKAGE}/{relative} is not a real file in the layer")
        elif target.read_bytes() != source.read_bytes():
            problems.append(f"{PACKAGE}/{relative} differs from its source")
    templates = built_package / "templates"
    if templates.is_symlink() or not any(path.is_file() for path in templates.glob("*")):
        problems.append(f"{templates} holds no real template files")
    if not any(path.relative_to(site).parts[0] == "PIL" for path in shared_objects(site)):
        problems.append("python/PIL has no compiled extensions")
    return problems + foreign_binaries(layer_dir)


def shared_objects(root: Path) -> list[Path]:
    return [path for path in root.rglob("*.so*") if path.is_file()]


def foreign_binaries(root: Path) -> list[str]:
    """Every compiled extension under ``root`` that is not aarch64 (it would crash on Graviton)."""
    problems = []
    for path in shared_objects(root):
        machine = elf_machine(path)
        if machine is not None and machine != ELF_MACHINE_AARCH64:
            problems.append(f"{root.name}/{path.relative_to(root)} is not aarch64 (ELF machine {machine})")
    return problems


def verify_build(build_dir: Path, plan: BuildPlan, package_source: Path) -> list[str]:
    """Problems with the whole build: every zip function, every layer, the unzipped size limit."""
    problems: list[str] = []
    for layer in plan.layers:
        problems += verify_layer(build_dir / layer, package_source)
    for function in plan.zip_functions:
        code_dir = build_dir / function.logical_id
        if not (code_dir / "app.py").is_file():
            problems.append(f"{function.logical_id}: app.py is missing")
            continue
        problems += foreign_binaries(code_dir)
        unzipped = tree_size(code_dir) + sum(tree_size(build_dir / layer) for layer in function.layers)
        if unzipped >= UNZIPPED_LIMIT_BYTES:
            problems.append(f"{function.logical_id}: {unzipped / 2**20:.0f} MB unzipped with its layers")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--build-dir", type=Path, default=REPO / ".aws-sam" / "build")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".aws-sam" / "cache")
    parser.add_argument("--package-source", type=Path, default=REPO / "layers" / "pillow" / PACKAGE,
                        help="the picr package the layer must carry")
    args = parser.parse_args(argv)

    template = args.template.resolve()
    plan = read_plan(template)
    started = time.monotonic()
    result = subprocess.run(
        sam_build_command(template, args.build_dir.resolve(), args.cache_dir.resolve(), plan),
        cwd=template.parent, env=build_environment(), check=False,
    )
    if result.returncode != 0:
        print(f"sam build failed (exit {result.returncode})", file=sys.stderr)
        return result.returncode
    problems = verify_build(args.build_dir, plan, args.package_source)
    for problem in problems:
        print(f"BUILD CHECK FAILED: {problem}", file=sys.stderr)
    if problems:
        return 1
    for layer in plan.layers:
        print(f"{layer}: {tree_size(args.build_dir / layer) / 2**20:.1f} MB unzipped")
    print(f"built {len(plan.zip_functions)} zip functions and {len(plan.layers)} layer(s) in "
          f"{time.monotonic() - started:.0f} s; skipped image functions: {', '.join(plan.image_functions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
