"""How functions are packaged: Lambda layers built for the Lambda platform, and the one ML image.

Layers are built by ``layers/build.py`` as CDK local bundling, so ``cdk synth`` builds them on this
machine with pip (manylinux wheels) and needs no Docker. The ML image is a Docker image asset: synthesis
only stages its build context, ``cdk deploy`` builds and pushes it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constants import ML_IMAGE, PROJECT_LAYER, PYTHON_VERSION, StageConfig
from mlops.definition.description import FUNCTIONS, FunctionSpec, project_root

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
LAYER_BUILD_SCRIPT = "layers/build.py"
ML_DOCKERFILE = f"layers/{ML_IMAGE}/Dockerfile"
# CDK's Docker fallback for layer bundling, used only where local bundling cannot run.
BUNDLING_IMAGE = f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"

# Build contexts are the project root cut down to what each build reads (Docker ignore syntax), so a
# change to any of those files changes the asset's hash and nothing else does.
_ALWAYS_IGNORED = ("**/__pycache__", "**/*.pyc")


def layer_asset_excludes(layer: str) -> list[str]:
    kept = [LAYER_BUILD_SCRIPT, f"layers/{layer}"]
    if layer == PROJECT_LAYER:
        kept.append("src/mlops")
    return ["*", *(f"!{path}" for path in kept), *_ALWAYS_IGNORED]


def image_asset_excludes() -> list[str]:
    kept = [f"layers/{ML_IMAGE}", "src/mlops", "functions"]
    return ["*", *(f"!{path}" for path in kept), *_ALWAYS_IGNORED]


def layer_build_args(layer: str, output_dir: str) -> list[str]:
    args = [LAYER_BUILD_SCRIPT, layer, output_dir]
    return [*args, "--with-project"] if layer == PROJECT_LAYER else args


@jsii.implements(ILocalBundling)
class LocalLayerBuild:
    """Runs ``layers/build.py`` with this interpreter's pip: the layer's wheels are downloaded for the
    Lambda platform, whatever the building machine is."""

    def __init__(self, layer: str) -> None:
        self.layer = layer

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        subprocess.run(
            [sys.executable, *layer_build_args(self.layer, output_dir)], check=True, cwd=project_root()
        )
        return True


class Packaging(Construct):
    """The layers zip functions use and the image the image functions (and SageMaker jobs) run."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self.layers: dict[str, lambda_.LayerVersion] = {}
        for spec in FUNCTIONS:
            if spec.packaging == "zip":
                for layer in spec.layers:
                    if layer not in self.layers:
                        self.layers[layer] = self._layer(layer)
        self.image = ecr_assets.DockerImageAsset(
            self,
            "MlImage",
            directory=str(project_root()),
            file=ML_DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=image_asset_excludes(),
            ignore_mode=IgnoreMode.DOCKER,
        )

    def _layer(self, layer: str) -> lambda_.LayerVersion:
        root = project_root()
        if not (root / "layers" / layer / "requirements.txt").is_file():
            raise FileNotFoundError(
                f"Layer {layer!r} is used by a zip function but layers/{layer}/requirements.txt is missing."
            )
        code = lambda_.Code.from_asset(
            str(root),
            exclude=layer_asset_excludes(layer),
            ignore_mode=IgnoreMode.DOCKER,
            asset_hash_type=AssetHashType.SOURCE,
            bundling=BundlingOptions(
                image=DockerImage.from_registry(BUNDLING_IMAGE),
                command=["python", *layer_build_args(layer, "/asset-output")],
                local=LocalLayerBuild(layer),
            ),
        )
        return lambda_.LayerVersion(
            self,
            f"{layer.capitalize()}Layer",
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"{layer} layer for python{PYTHON_VERSION} on x86_64, built from layers/{layer}",
            removal_policy=self._stage.removal_policy,
        )

    def function_layers(self, spec: FunctionSpec) -> list[lambda_.ILayerVersion]:
        return [self.layers[layer] for layer in spec.layers]

    def image_code(self, spec: FunctionSpec) -> lambda_.DockerImageCode:
        """The ML image with the function's handler as its command."""
        return lambda_.DockerImageCode.from_ecr(
            self.image.repository,
            tag_or_digest=self.image.image_tag,
            cmd=[f"functions.{spec.name}.{spec.handler}"],
        )
