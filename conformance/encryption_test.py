#!/usr/bin/env python3
"""boto3 against server-side encryption (issue 16): SSE-C put/get/head/range/copy/multipart
with SSECustomerKey (botocore encodes the key and adds its MD5), the transfer manager with
SSE-C, SSE-KMS with a key id, context and bucket key, and bucket default encryption.

Run by encryption.sh, which starts a gateway and creates the KMS key named by
GRANARY_KMS_KEY in its keyring. Run: python3 encryption_test.py [-v] [Test.name]
"""

import base64
import hashlib
import io
import json
import os
import sys
import unittest

# s3_common first: it drops AWS_CA_BUNDLE before boto3 is loaded.
from s3_common import ENDPOINT, S3, BucketTestCase
from boto3.s3.transfer import TransferConfig

if not ENDPOINT:
    sys.exit("encryption_test.py: GRANARY_ENDPOINT is not set (run it through encryption.sh)")
KMS_KEY = os.environ.get("GRANARY_KMS_KEY")
if not KMS_KEY:
    sys.exit("encryption_test.py: GRANARY_KMS_KEY is not set (run it through encryption.sh)")

MIB = 1024 * 1024
# Small parts, so that the transfer manager uploads and downloads in several requests.
TRANSFER = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)


def ssec(key: bytes) -> dict:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_source_ssec(key: bytes) -> dict:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def key_md5(key: bytes) -> str:
    return base64.b64encode(hashlib.md5(key).digest()).decode()


class SseCTest(BucketTestCase):
    tag = "ssec"
    abort_uploads = True

    key = os.urandom(32)
    other = os.urandom(32)

    def status_of(self, fn, **kwargs):
        """The HTTP status of a call that must fail."""
        try:
            fn(**kwargs)
        except S3.exceptions.ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"]
        self.fail(f"{fn.__name__} succeeded: {kwargs.get('Key')}")

    def test_put_get_head_range(self):
        body = os.urandom(2 * MIB + 7)
        out = S3.put_object(Bucket=self.bucket, Key="obj", Body=body, **ssec(self.key))
        self.assertEqual(out["SSECustomerAlgorithm"], "AES256")
        self.assertEqual(out["SSECustomerKeyMD5"], key_md5(self.key))
        self.assertNotIn("ServerSideEncryption", out)
        self.assertClientError("InvalidRequest", 400, S3.get_object, Bucket=self.bucket, Key="obj")
        self.assertClientError("AccessDenied", 403, S3.get_object, Bucket=self.bucket, Key="obj", **ssec(self.other))
        self.assertEqual(self.status_of(S3.head_object, Bucket=self.bucket, Key="obj"), 400)
        self.assertEqual(self.status_of(S3.head_object, Bucket=self.bucket, Key="obj", **ssec(self.other)), 403)
        got = S3.get_object(Bucket=self.bucket, Key="obj", **ssec(self.key))
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(got["SSECustomerKeyMD5"], key_md5(self.key))
        part = S3.get_object(Bucket=self.bucket, Key="obj", Range="bytes=1048570-1048600", **ssec(self.key))
        self.assertEqual(part["Body"].read(), body[1048570:1048601])
        self.assertEqual(part["ContentRange"], f"bytes 1048570-1048600/{len(body)}")
        head = S3.head_object(Bucket=self.bucket, Key="obj", **ssec(self.key))
        self.assertEqual((head["ContentLength"], head["SSECustomerAlgorithm"]), (len(body), "AES256"))
        # A key with an MD5 that is not its own (given an MD5, botocore sends the key as it is:
        # base64 text).
        self.assertClientError(
            "InvalidArgument", 400, S3.get_object, Bucket=self.bucket, Key="obj", SSECustomerAlgorithm="AES256",
            SSECustomerKey=base64.b64encode(self.key).decode(), SSECustomerKeyMD5=key_md5(self.other),
        )
        # A key of the wrong length.
        self.assertClientError("InvalidArgument", 400, S3.put_object, Bucket=self.bucket, Key="short", Body=b"x", **ssec(b"k" * 16))
        # SSE-C together with another mode.
        self.assertClientError(
            "InvalidArgument", 400, S3.put_object, Bucket=self.bucket, Key="both", Body=b"x",
            ServerSideEncryption="AES256", **ssec(self.key),
        )

    def test_copy_between_modes(self):
        body = os.urandom(300_000)
        S3.put_object(Bucket=self.bucket, Key="src", Body=body, **ssec(self.key))
        src = {"Bucket": self.bucket, "Key": "src"}
        self.assertClientError("InvalidRequest", 400, S3.copy_object, Bucket=self.bucket, Key="x", CopySource=src)
        self.assertClientError(
            "AccessDenied", 403, S3.copy_object, Bucket=self.bucket, Key="x", CopySource=src, **copy_source_ssec(self.other)
        )
        out = S3.copy_object(Bucket=self.bucket, Key="to-ssec", CopySource=src, **copy_source_ssec(self.key), **ssec(self.other))
        self.assertEqual(out["SSECustomerKeyMD5"], key_md5(self.other))
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="to-ssec", **ssec(self.other))["Body"].read(), body)
        self.assertClientError("AccessDenied", 403, S3.get_object, Bucket=self.bucket, Key="to-ssec", **ssec(self.key))
        out = S3.copy_object(Bucket=self.bucket, Key="to-s3", CopySource=src, ServerSideEncryption="AES256", **copy_source_ssec(self.key))
        self.assertEqual(out["ServerSideEncryption"], "AES256")
        got = S3.get_object(Bucket=self.bucket, Key="to-s3")
        self.assertEqual((got["ServerSideEncryption"], got["Body"].read()), ("AES256", body))
        S3.copy_object(Bucket=self.bucket, Key="to-plain", CopySource=src, **copy_source_ssec(self.key))
        got = S3.get_object(Bucket=self.bucket, Key="to-plain")
        self.assertNotIn("ServerSideEncryption", got)
        self.assertEqual(got["Body"].read(), body)
        # And back: a plain object copied under a customer key needs it afterwards.
        S3.copy_object(Bucket=self.bucket, Key="back-to-ssec", CopySource={"Bucket": self.bucket, "Key": "to-plain"}, **ssec(self.key))
        self.assertClientError("InvalidRequest", 400, S3.get_object, Bucket=self.bucket, Key="back-to-ssec")
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="back-to-ssec", **ssec(self.key))["Body"].read(), body)

    def test_multipart_and_part_copy(self):
        part1, part2 = os.urandom(5 * MIB), os.urandom(MIB + 3)
        S3.put_object(Bucket=self.bucket, Key="copy-src", Body=part2, **ssec(self.other))
        up = S3.create_multipart_upload(Bucket=self.bucket, Key="mp", **ssec(self.key))
        uid = up["UploadId"]
        self.assertEqual(up["SSECustomerKeyMD5"], key_md5(self.key))
        self.assertEqual(
            self.status_of(S3.upload_part, Bucket=self.bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1), 400
        )
        self.assertEqual(
            self.status_of(S3.upload_part, Bucket=self.bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1, **ssec(self.other)),
            403,
        )
        p1 = S3.upload_part(Bucket=self.bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1, **ssec(self.key))
        p2 = S3.upload_part_copy(
            Bucket=self.bucket, Key="mp", UploadId=uid, PartNumber=2,
            CopySource={"Bucket": self.bucket, "Key": "copy-src"}, **copy_source_ssec(self.other), **ssec(self.key),
        )
        parts = [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]
        S3.complete_multipart_upload(Bucket=self.bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts}, **ssec(self.key))
        self.assertClientError("InvalidRequest", 400, S3.get_object, Bucket=self.bucket, Key="mp")
        whole = part1 + part2
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="mp", **ssec(self.key))["Body"].read(), whole)
        across = S3.get_object(Bucket=self.bucket, Key="mp", Range=f"bytes={5 * MIB - 5}-{5 * MIB + 4}", **ssec(self.key))
        self.assertEqual(across["Body"].read(), whole[5 * MIB - 5:5 * MIB + 5])
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="mp", PartNumber=2, **ssec(self.key))["Body"].read(), part2)

    def test_transfer_manager(self):
        body = os.urandom(12 * MIB + 1)
        S3.upload_fileobj(io.BytesIO(body), self.bucket, "tm.bin", ExtraArgs=ssec(self.key), Config=TRANSFER)
        head = S3.head_object(Bucket=self.bucket, Key="tm.bin", **ssec(self.key))
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
        out = io.BytesIO()
        S3.download_fileobj(self.bucket, "tm.bin", out, ExtraArgs=ssec(self.key), Config=TRANSFER)
        self.assertEqual(out.getvalue(), body)
        with self.assertRaises(S3.exceptions.ClientError):
            S3.download_fileobj(self.bucket, "tm.bin", io.BytesIO(), Config=TRANSFER)


class SseKmsTest(BucketTestCase):
    tag = "ssekms"

    def test_put_get_with_key_context_and_bucket_key(self):
        body = os.urandom(1_500_000)
        context = base64.b64encode(json.dumps({"app": "boto3"}).encode()).decode()
        out = S3.put_object(
            Bucket=self.bucket, Key="kms", Body=body, ServerSideEncryption="aws:kms",
            SSEKMSKeyId=KMS_KEY, SSEKMSEncryptionContext=context, BucketKeyEnabled=True,
        )
        self.assertEqual(out["ServerSideEncryption"], "aws:kms")
        self.assertIn(KMS_KEY, out["SSEKMSKeyId"])
        self.assertTrue(out["BucketKeyEnabled"])
        self.assertEqual(json.loads(base64.b64decode(out["SSEKMSEncryptionContext"])), {"app": "boto3"})
        got = S3.get_object(Bucket=self.bucket, Key="kms")
        self.assertEqual((got["ServerSideEncryption"], got["Body"].read()), ("aws:kms", body))
        self.assertIn(KMS_KEY, got["SSEKMSKeyId"])
        arn = f"arn:aws:kms:us-east-1:000000000000:key/{KMS_KEY}"
        S3.put_object(Bucket=self.bucket, Key="by-arn", Body=b"arn", ServerSideEncryption="aws:kms", SSEKMSKeyId=arn)
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="by-arn")["Body"].read(), b"arn")

    def test_refusals(self):
        self.assertClientError(
            "KMS.NotFoundException", 400, S3.put_object, Bucket=self.bucket, Key="x", Body=b"x",
            ServerSideEncryption="aws:kms", SSEKMSKeyId="boto3-no-such-key",
        )
        self.assertClientError("InvalidArgument", 400, S3.put_object, Bucket=self.bucket, Key="x", Body=b"x", SSEKMSKeyId=KMS_KEY)
        self.assertClientError(
            "InvalidArgument", 400, S3.put_object, Bucket=self.bucket, Key="x", Body=b"x",
            ServerSideEncryption="AES256", SSEKMSKeyId=KMS_KEY,
        )
        self.assertClientError(
            "InvalidArgument", 400, S3.put_object, Bucket=self.bucket, Key="x", Body=b"x",
            ServerSideEncryption="aws:kms", SSEKMSEncryptionContext=base64.b64encode(b"not json").decode(),
        )
        self.assertClientError("NoSuchKey", 404, S3.get_object, Bucket=self.bucket, Key="x")

    def test_multipart_with_the_transfer_manager(self):
        body = os.urandom(11 * MIB)
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY}
        S3.upload_fileobj(io.BytesIO(body), self.bucket, "tm-kms", ExtraArgs=extra, Config=TRANSFER)
        head = S3.head_object(Bucket=self.bucket, Key="tm-kms")
        self.assertEqual(head["ServerSideEncryption"], "aws:kms")
        self.assertIn(KMS_KEY, head["SSEKMSKeyId"])
        out = io.BytesIO()
        S3.download_fileobj(self.bucket, "tm-kms", out, Config=TRANSFER)
        self.assertEqual(out.getvalue(), body)

    def test_bucket_default_encryption(self):
        self.assertClientError("ServerSideEncryptionConfigurationNotFoundError", 404, S3.get_bucket_encryption, Bucket=self.bucket)
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}, "BucketKeyEnabled": True}
        S3.put_bucket_encryption(Bucket=self.bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
        got = S3.get_bucket_encryption(Bucket=self.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.assertEqual(got["ApplyServerSideEncryptionByDefault"], rule["ApplyServerSideEncryptionByDefault"])
        self.assertTrue(got["BucketKeyEnabled"])
        out = S3.put_object(Bucket=self.bucket, Key="defaulted", Body=b"default")
        self.assertEqual(out["ServerSideEncryption"], "aws:kms")
        self.assertIn(KMS_KEY, out["SSEKMSKeyId"])
        # A copy without headers into the bucket takes the default too.
        S3.put_bucket_encryption(
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        )
        out = S3.copy_object(Bucket=self.bucket, Key="copied", CopySource={"Bucket": self.bucket, "Key": "defaulted"})
        self.assertEqual(out["ServerSideEncryption"], "AES256")
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="copied")["Body"].read(), b"default")
        S3.delete_bucket_encryption(Bucket=self.bucket)
        self.assertClientError("ServerSideEncryptionConfigurationNotFoundError", 404, S3.get_bucket_encryption, Bucket=self.bucket)
        self.assertNotIn("ServerSideEncryption", S3.put_object(Bucket=self.bucket, Key="after", Body=b"a"))
        self.assertClientError(
            "MalformedXML", 400, S3.put_bucket_encryption, Bucket=self.bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "ROT13"}}]},
        )


if __name__ == "__main__":
    unittest.main()
