"""Plumbing shared by the boto3 conformance scripts (boto3_test.py, multipart_boto3.py).

Import it before anything else from boto3: it drops AWS_CA_BUNDLE (the gateway is plain
HTTP) and builds the client S3 from GRANARY_ENDPOINT, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY. S3 is None while GRANARY_ENDPOINT is unset; the scripts check that
themselves and exit with a hint naming the shell script that runs them.
"""

import os
import unittest
import uuid

os.environ.pop("AWS_CA_BUNDLE", None)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ENDPOINT = os.environ.get("GRANARY_ENDPOINT")

CONFIG = Config(
    region_name="us-east-1",
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    retries={"max_attempts": 1, "mode": "standard"},
    max_pool_connections=32,
)


def make_client(config=CONFIG):
    """An S3 client for the running granary, with the root credentials from the environment."""
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


S3 = make_client() if ENDPOINT else None


def new_bucket(tag: str, prefix: str = "conf") -> str:
    """Creates a bucket named PREFIX-TAG-<random>."""
    name = f"{prefix}-{tag}-{uuid.uuid4().hex[:8]}"
    S3.create_bucket(Bucket=name)
    return name


def empty_and_delete(bucket: str, abort_uploads: bool = False) -> None:
    """Deletes every object of bucket (after aborting its multipart uploads, if asked), then the bucket."""
    if abort_uploads:
        for page in S3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for u in page.get("Uploads", []):
                S3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    keys = []
    for page in S3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        S3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True},
        )
    S3.delete_bucket(Bucket=bucket)


class ClientErrorTestCase(unittest.TestCase):
    """A TestCase with assertClientError."""

    def assertClientError(self, code, status, fn, *args, **kwargs):
        """fn(*args, **kwargs) must raise ClientError with this code and HTTP status."""
        try:
            resp = fn(*args, **kwargs)
        except ClientError as e:
            err = e.response.get("Error", {})
            got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            self.assertEqual((err.get("Code"), got_status), (code, status), f"wrong error: {e.response}")
            return e
        meta = resp.get("ResponseMetadata", {}) if isinstance(resp, dict) else {}
        self.fail(
            f"expected error {code} ({status}), but {getattr(fn, '__name__', fn)} succeeded: "
            f"HTTP {meta.get('HTTPStatusCode')} {meta.get('HTTPHeaders')}"
        )


class BucketTestCase(ClientErrorTestCase):
    """Each test class gets its own bucket, self.bucket (new_bucket(tag, bucket_prefix)),
    emptied and deleted after its tests (aborting open uploads first if abort_uploads)."""

    tag = "t"
    bucket_prefix = "conf"
    abort_uploads = False

    @classmethod
    def setUpClass(cls):
        cls.bucket = new_bucket(cls.tag, cls.bucket_prefix)

    @classmethod
    def tearDownClass(cls):
        empty_and_delete(cls.bucket, abort_uploads=cls.abort_uploads)
