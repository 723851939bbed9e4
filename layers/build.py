"""Build one Lambda layer for the Lambda platform: ``python layers/build.py LAYER OUTPUT_DIR``.

Installs ``layers/LAYER/requirements.txt`` as manylinux wheels for CPython 3.12 on x86_64 into
``OUTPUT_DIR/python`` (where Lambda puts layers on ``sys.path``), removes what ``layers/LAYER/prune.txt``
lists, with ``--with-project`` copies the project's package (``src/mlops``) in, and copies
``layers/LAYER/extensions/`` (Lambda extensions' executables, run from ``/opt/extensions``) as it is. The CDK app runs it
as the layer's local bundling; run by hand it prints the layer's unzipped and zipped size. Standard
library only, so it also runs in the Docker bundling image CDK falls back to.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

LAYERS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = LAYERS_DIR.parent
PROJECT_PACKAGE = PROJECT_ROOT / "src" / "mlops"

PYTHON_VERSION = "3.12"  # the CDK app's infra.constants.PYTHON_VERSION (a test holds them equal)
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34): wheels tagged up to manylinux_2_28 run.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
# Never useful in a layer: bytecode of the building interpreter and console scripts pointing at it.
ALWAYS_PRUNED = ("**/__pycache__", "bin")


def pip_command(requirements: Path, target: Path) -> list[str]:
    platform_flags = [flag for platform in PLATFORMS for flag in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-compile",
        "--only-binary=:all:",
        *platform_flags,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]


def requirement_lines(requirements: Path) -> list[str]:
    lines = requirements.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def prune_patterns(layer_dir: Path) -> list[str]:
    prune_file = layer_dir / "prune.txt"
    lines = prune_file.read_text(encoding="utf-8").splitlines() if prune_file.exists() else []
    listed = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [*ALWAYS_PRUNED, *listed]


def prune(site: Path, patterns: list[str]) -> None:
    for pattern in patterns:
        for path in sorted(site.glob(pattern), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def build(layer: str, output_dir: Path, with_project: bool) -> Path:
    layer_dir = LAYERS_DIR / layer
    requirements = layer_dir / "requirements.txt"
    if not requirements.is_file():
        raise SystemExit(f"Layer {layer!r} has no requirements file at {requirements}.")
    site = output_dir / "python"
    site.mkdir(parents=True, exist_ok=True)
    if requirement_lines(requirements):
        subprocess.run(pip_command(requirements, site), check=True)
    extensions = layer_dir / "extensions"
    if extensions.is_dir():
        # copytree keeps the executables' mode bits, which Lambda needs to start them.
        shutil.copytree(extensions, output_dir / "extensions", dirs_exist_ok=True)
    if with_project:
        shutil.copytree(
            PROJECT_PACKAGE,
            site / PROJECT_PACKAGE.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
    prune(site, prune_patterns(layer_dir))
    return site


def unzipped_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def zipped_bytes(root: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.tell()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("layer", help="a folder under layers/ with a requirements.txt")
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--with-project", action="store_true", help="also copy src/mlops into the layer")
    parser.add_argument("--size", action="store_true", help="print the unzipped and zipped size")
    args = parser.parse_args(argv)
    build(args.layer, args.output_dir, args.with_project)
    if args.size:
        mib = 1024 * 1024
        print(
            f"{args.layer}: {unzipped_bytes(args.output_dir) / mib:.1f} MiB unzipped, "
            f"{zipped_bytes(args.output_dir) / mib:.1f} MiB zipped"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
