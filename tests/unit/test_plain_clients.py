"""The clients from ``mlops.aws`` are plain botocore clients: boto3's injected S3 transfer methods
(``upload_file``, ``download_file``, ...) are not on them, though their type stubs list them. Transfers
go through ``S3Transfer(client)``. mypy cannot see the difference, so this test reads the code."""

from __future__ import annotations

import re
from pathlib import Path

from mlops.definition.description import project_root

INJECTED = re.compile(r"\.(upload_file|download_file|upload_fileobj|download_fileobj)\(")


def test_no_code_calls_boto3s_injected_transfer_methods_on_a_plain_client() -> None:
    root = project_root()
    offenders = []
    for folder in ("src", "functions", "bench", "infra"):
        for path in sorted((root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                for match in INJECTED.finditer(line):
                    if "S3Transfer(" in line[: match.start()]:
                        continue
                    offenders.append(f"{Path(path).relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_factorys_s3_client_lacks_them_and_s3transfer_works_with_it() -> None:
    from boto3.s3.transfer import S3Transfer

    from mlops import aws

    client = aws.s3()
    assert not hasattr(client, "upload_file")
    assert hasattr(S3Transfer(client), "upload_file")
