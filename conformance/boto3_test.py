#!/usr/bin/env python3
"""boto3 conformance tests against a running granary.

Needs GRANARY_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment
(boto3.sh starts a server and sets them). Run: python3 boto3_test.py [-v] [Test.name]
"""

import base64
import collections
import concurrent.futures
import datetime
import hashlib
import os
import socket
import sys
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

# s3_common first: it drops AWS_CA_BUNDLE before boto3 is loaded.
from s3_common import (
    CONFIG,
    ENDPOINT,
    S3,
    BucketTestCase,
    ClientErrorTestCase,
    make_client,
    new_bucket,
)
from botocore.config import Config
from botocore.exceptions import ClientError

if not ENDPOINT:
    sys.exit("boto3_test.py: GRANARY_ENDPOINT is not set (run it through boto3.sh)")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class PresignedTest(BucketTestCase):
    tag = "presign"

    def test_presigned_get(self):
        body = os.urandom(100_000)
        S3.put_object(Bucket=self.bucket, Key="dir/get me.bin", Body=body)
        url = S3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": "dir/get me.bin"}, ExpiresIn=300
        )
        with urllib.request.urlopen(url) as resp:
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.read(), body)

    def test_presigned_get_with_response_overrides(self):
        S3.put_object(Bucket=self.bucket, Key="over.txt", Body=b"override me")
        url = S3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": "over.txt",
                "ResponseContentType": "text/x-override",
                "ResponseContentDisposition": 'attachment; filename="o.txt"',
            },
            ExpiresIn=300,
        )
        with urllib.request.urlopen(url) as resp:
            self.assertEqual(resp.read(), b"override me")
            self.assertEqual(resp.headers["Content-Type"], "text/x-override")
            self.assertEqual(resp.headers["Content-Disposition"], 'attachment; filename="o.txt"')

    def test_presigned_put(self):
        body = os.urandom(50_000)
        url = S3.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": "uploaded/ü p.bin"}, ExpiresIn=300
        )
        req = urllib.request.Request(url, data=body, method="PUT")
        with urllib.request.urlopen(req) as resp:
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.headers["ETag"], f'"{md5_hex(body)}"')
        got = S3.get_object(Bucket=self.bucket, Key="uploaded/ü p.bin")
        self.assertEqual(got["Body"].read(), body)

    def test_presigned_put_with_signed_content_type(self):
        url = S3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": "typed.json", "ContentType": "application/json"},
            ExpiresIn=300,
        )
        req = urllib.request.Request(
            url, data=b"{}", method="PUT", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req) as resp:
            self.assertEqual(resp.status, 200)
        head = S3.head_object(Bucket=self.bucket, Key="typed.json")
        self.assertEqual(head["ContentType"], "application/json")

    def test_presigned_tampered_fails(self):
        S3.put_object(Bucket=self.bucket, Key="secret.txt", Body=b"x")
        url = S3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": "secret.txt"}, ExpiresIn=300
        )
        bad = url.replace("X-Amz-Expires=300", "X-Amz-Expires=301")
        self.assertNotEqual(bad, url)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(bad)
        self.assertEqual(cm.exception.code, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", cm.exception.read())


class DeleteObjectsTest(BucketTestCase):
    tag = "delobjs"

    def _put_many(self, keys):
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: S3.put_object(Bucket=self.bucket, Key=k, Body=k.encode()), keys))

    def _all_keys(self):
        keys = []
        for page in S3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def test_delete_objects_verbose(self):
        keys = [f"verbose/{i:04d} é" for i in range(300)]
        self._put_many(keys)
        resp = S3.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": k} for k in keys + ["verbose/never-existed"]]},
        )
        self.assertEqual(resp.get("Errors", []), [])
        self.assertEqual(
            sorted(d["Key"] for d in resp["Deleted"]), sorted(keys + ["verbose/never-existed"])
        )
        self.assertEqual([k for k in self._all_keys() if k.startswith("verbose/")], [])

    def test_delete_objects_quiet(self):
        keys = [f"quiet/{i:04d}" for i in range(1000)]
        self._put_many(keys)
        S3.put_object(Bucket=self.bucket, Key="quiet-keep", Body=b"keep")
        resp = S3.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        self.assertEqual(resp.get("Deleted", []), [], "Quiet=True must not list deleted keys")
        self.assertEqual(resp.get("Errors", []), [])
        self.assertEqual([k for k in self._all_keys() if k.startswith("quiet")], ["quiet-keep"])

    def test_delete_objects_too_many(self):
        self.assertClientError(
            "MalformedXML", 400, S3.delete_objects,
            Bucket=self.bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]},
        )


class CopyObjectTest(BucketTestCase):
    tag = "copy"

    def setUp(self):
        self.body = os.urandom(30_000)
        S3.put_object(
            Bucket=self.bucket, Key="src/original", Body=self.body,
            ContentType="image/x-original", Metadata={"alpha": "1", "beta": "two"},
            CacheControl="no-cache", ContentDisposition="inline",
        )

    def test_copy_directive_copy(self):
        resp = S3.copy_object(
            Bucket=self.bucket, Key="dst/copied", CopySource={"Bucket": self.bucket, "Key": "src/original"},
            MetadataDirective="COPY",
        )
        self.assertEqual(resp["CopyObjectResult"]["ETag"], f'"{md5_hex(self.body)}"')
        head = S3.head_object(Bucket=self.bucket, Key="dst/copied")
        self.assertEqual(head["ContentType"], "image/x-original")
        self.assertEqual(head["Metadata"], {"alpha": "1", "beta": "two"})
        self.assertEqual(head.get("CacheControl"), "no-cache")
        self.assertEqual(head.get("ContentDisposition"), "inline")
        self.assertEqual(head["ContentLength"], len(self.body))
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="dst/copied")["Body"].read(), self.body)

    def test_copy_directive_replace(self):
        S3.copy_object(
            Bucket=self.bucket, Key="dst/replaced", CopySource=f"{self.bucket}/src/original",
            MetadataDirective="REPLACE", ContentType="text/x-replaced", Metadata={"gamma": "3"},
        )
        head = S3.head_object(Bucket=self.bucket, Key="dst/replaced")
        self.assertEqual(head["ContentType"], "text/x-replaced")
        self.assertEqual(head["Metadata"], {"gamma": "3"})
        self.assertIsNone(head.get("CacheControl"), "REPLACE must drop the old Cache-Control")
        self.assertEqual(head["ETag"], f'"{md5_hex(self.body)}"')
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="dst/replaced")["Body"].read(), self.body)

    def test_copy_onto_itself_with_replace(self):
        S3.copy_object(
            Bucket=self.bucket, Key="src/original", CopySource={"Bucket": self.bucket, "Key": "src/original"},
            MetadataDirective="REPLACE", Metadata={"fresh": "yes"}, ContentType="text/plain",
        )
        head = S3.head_object(Bucket=self.bucket, Key="src/original")
        self.assertEqual(head["Metadata"], {"fresh": "yes"})
        self.assertEqual(head["ContentType"], "text/plain")
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="src/original")["Body"].read(), self.body)

    def test_copy_onto_itself_without_change_is_rejected(self):
        self.assertClientError(
            "InvalidRequest", 400, S3.copy_object,
            Bucket=self.bucket, Key="src/original", CopySource={"Bucket": self.bucket, "Key": "src/original"},
        )

    def test_copy_missing_source(self):
        self.assertClientError(
            "NoSuchKey", 404, S3.copy_object,
            Bucket=self.bucket, Key="dst/x", CopySource={"Bucket": self.bucket, "Key": "src/missing"},
        )

    def test_copy_unicode_key(self):
        S3.put_object(Bucket=self.bucket, Key="src/ünï cödé+plus", Body=b"uni")
        S3.copy_object(
            Bucket=self.bucket, Key="dst/ünï cödé+plus", CopySource={"Bucket": self.bucket, "Key": "src/ünï cödé+plus"},
        )
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="dst/ünï cödé+plus")["Body"].read(), b"uni")


class RangeAndConditionalTest(BucketTestCase):
    tag = "range"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.body = os.urandom(10_000)
        cls.etag = S3.put_object(Bucket=cls.bucket, Key="obj", Body=cls.body)["ETag"]

    def get(self, **kw):
        return S3.get_object(Bucket=self.bucket, Key="obj", **kw)

    def check_range(self, header, start, end):
        resp = self.get(Range=header)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 206, header)
        self.assertEqual(resp["ContentRange"], f"bytes {start}-{end}/{len(self.body)}", header)
        self.assertEqual(resp["ContentLength"], end - start + 1, header)
        self.assertEqual(resp["Body"].read(), self.body[start:end + 1], header)

    def test_range_first_last(self):
        self.check_range("bytes=0-0", 0, 0)
        self.check_range("bytes=100-199", 100, 199)
        self.check_range("bytes=9999-9999", 9999, 9999)

    def test_range_end_past_size_is_clamped(self):
        self.check_range("bytes=9000-20000", 9000, 9999)

    def test_range_suffix(self):
        self.check_range("bytes=-500", 9500, 9999)
        self.check_range("bytes=-20000", 0, 9999)

    def test_range_open_ended(self):
        self.check_range("bytes=1234-", 1234, 9999)

    def test_range_past_end(self):
        self.assertClientError("InvalidRange", 416, self.get, Range="bytes=10000-10010")
        self.assertClientError("InvalidRange", 416, self.get, Range="bytes=20000-")

    def test_head_range(self):
        resp = S3.head_object(Bucket=self.bucket, Key="obj", Range="bytes=10-19")
        what = f"HEAD with Range: bytes=10-19 answered {resp['ResponseMetadata']}"
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 206, what)
        self.assertEqual(resp["ContentLength"], 10, what)
        self.assertEqual(resp.get("ContentRange"), f"bytes 10-19/{len(self.body)}", what)

    def test_part_number_one_of_single_part_object(self):
        # Real S3 answers a single-part object's partNumber=1 as the range of the whole
        # object: 206 with Content-Range.
        resp = self.get(PartNumber=1)
        what = f"GET ?partNumber=1 answered {resp['ResponseMetadata']}"
        self.assertEqual(resp["Body"].read(), self.body, what)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 206, what)
        self.assertEqual(resp.get("ContentRange"), f"bytes 0-{len(self.body) - 1}/{len(self.body)}", what)

    def test_etag_is_md5(self):
        self.assertEqual(self.etag, f'"{md5_hex(self.body)}"')
        self.assertEqual(S3.head_object(Bucket=self.bucket, Key="obj")["ETag"], self.etag)
        for body in (b"", b"a", os.urandom(1 << 20)):
            etag = S3.put_object(Bucket=self.bucket, Key="md5-check", Body=body)["ETag"]
            self.assertEqual(etag, f'"{md5_hex(body)}"')
            self.assertEqual(S3.head_object(Bucket=self.bucket, Key="md5-check")["ETag"], etag)
            self.assertEqual(S3.get_object(Bucket=self.bucket, Key="md5-check")["Body"].read(), body)

    def test_if_none_match(self):
        self.assertClientError("304", 304, self.get, IfNoneMatch=self.etag)
        self.assertClientError("304", 304, self.get, IfNoneMatch="*")
        self.assertEqual(self.get(IfNoneMatch='"0123456789abcdef0123456789abcdef"')["Body"].read(), self.body)

    def test_if_match(self):
        self.assertClientError("PreconditionFailed", 412, self.get, IfMatch='"0123456789abcdef0123456789abcdef"')
        self.assertEqual(self.get(IfMatch=self.etag)["Body"].read(), self.body)
        self.assertEqual(self.get(IfMatch="*")["Body"].read(), self.body)

    def test_if_modified_since(self):
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertClientError("304", 304, self.get, IfModifiedSince=future)
        self.assertEqual(self.get(IfModifiedSince=past)["Body"].read(), self.body)

    def test_if_unmodified_since(self):
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertClientError("PreconditionFailed", 412, self.get, IfUnmodifiedSince=past)
        self.assertEqual(self.get(IfUnmodifiedSince=future)["Body"].read(), self.body)

    def test_head_conditionals(self):
        with self.assertRaises(ClientError) as cm:
            S3.head_object(Bucket=self.bucket, Key="obj", IfNoneMatch=self.etag)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 304)
        with self.assertRaises(ClientError) as cm:
            S3.head_object(Bucket=self.bucket, Key="obj", IfMatch='"nope"')
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 412)


class PutObjectTest(BucketTestCase):
    tag = "put"

    def test_content_md5_ok(self):
        body = b"hello digest"
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        S3.put_object(Bucket=self.bucket, Key="md5-ok", Body=body, ContentMD5=md5)
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="md5-ok")["Body"].read(), body)

    def test_content_md5_mismatch(self):
        wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
        self.assertClientError(
            "BadDigest", 400, S3.put_object, Bucket=self.bucket, Key="md5-bad", Body=b"hello digest", ContentMD5=wrong,
        )
        self.assertClientError("404", 404, S3.head_object, Bucket=self.bucket, Key="md5-bad")

    def test_content_md5_malformed(self):
        self.assertClientError(
            "InvalidDigest", 400, S3.put_object, Bucket=self.bucket, Key="md5-malformed", Body=b"x", ContentMD5="notbase64md5",
        )

    def test_key_too_long(self):
        ok_key = "k" * 1024
        S3.put_object(Bucket=self.bucket, Key=ok_key, Body=b"max")
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key=ok_key)["Body"].read(), b"max")
        self.assertClientError(
            "KeyTooLongError", 400, S3.put_object, Bucket=self.bucket, Key="k" * 1025, Body=b"too long",
        )
        # 1025 bytes in UTF-8 although far fewer characters.
        self.assertClientError(
            "KeyTooLongError", 400, S3.put_object, Bucket=self.bucket, Key="é" * 512 + "x", Body=b"too long",
        )

    def test_metadata_and_headers_round_trip(self):
        expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        S3.put_object(
            Bucket=self.bucket, Key="headers", Body=b"<p>hi</p>", ContentType="text/html",
            ContentEncoding="identity", ContentDisposition="inline", CacheControl="max-age=5",
            Expires=expires, Metadata={"k1": "v1", "mixed-Case": "Value With Spaces"},
        )
        head = S3.head_object(Bucket=self.bucket, Key="headers")
        self.assertEqual(head["ContentType"], "text/html")
        self.assertEqual(head["ContentEncoding"], "identity")
        self.assertEqual(head["ContentDisposition"], "inline")
        self.assertEqual(head["CacheControl"], "max-age=5")
        self.assertEqual(head["Expires"], expires)
        self.assertEqual(head["Metadata"], {"k1": "v1", "mixed-case": "Value With Spaces"})
        self.assertEqual(head["ContentLength"], 9)

    def test_overwrite(self):
        S3.put_object(Bucket=self.bucket, Key="ow", Body=b"first", Metadata={"v": "1"})
        S3.put_object(Bucket=self.bucket, Key="ow", Body=b"second!")
        got = S3.get_object(Bucket=self.bucket, Key="ow")
        self.assertEqual(got["Body"].read(), b"second!")
        self.assertEqual(got["Metadata"], {})

    def test_default_content_type(self):
        # S3 stores binary/octet-stream when a PUT carries no Content-Type.
        S3.put_object(Bucket=self.bucket, Key="untyped", Body=b"no type given")
        head = S3.head_object(Bucket=self.bucket, Key="untyped")
        self.assertEqual(
            head.get("ContentType"), "binary/octet-stream",
            f"HEAD of an object PUT without Content-Type: {head['ResponseMetadata']['HTTPHeaders']}",
        )

    def test_transfer_manager_round_trip(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "src.bin"), os.path.join(d, "dst.bin")
            data = os.urandom(6 * 1024 * 1024 + 11)  # below the 8 MiB multipart threshold
            with open(src, "wb") as f:
                f.write(data)
            S3.upload_file(src, self.bucket, "transfer/six mib.bin", ExtraArgs={"Metadata": {"via": "upload_file"}})
            S3.download_file(self.bucket, "transfer/six mib.bin", dst)
            with open(dst, "rb") as f:
                self.assertEqual(f.read(), data)
            head = S3.head_object(Bucket=self.bucket, Key="transfer/six mib.bin")
            self.assertEqual(head["ETag"], f'"{md5_hex(data)}"')
            self.assertEqual(head["Metadata"], {"via": "upload_file"})

    def test_early_error_keeps_connection_usable(self):
        # botocore sends PutObject with "Expect: 100-continue" and, on an early final
        # response, does not send the body and reuses the connection. The next request on
        # that connection must still be understood (the server has to close the connection
        # or otherwise not swallow the next request as the unsent body).
        one = make_client(CONFIG.merge(Config(max_pool_connections=1)))
        outcomes = []
        for i in range(100):
            try:
                one.put_object(Bucket=self.bucket, Key="early", Body=b"payload", ContentMD5="notbase64md5")
                outcomes.append("malformed digest accepted")
            except ClientError as e:
                if e.response["Error"]["Code"] != "InvalidDigest":
                    outcomes.append(f"first: {e.response['Error']['Code']}")
            try:
                one.put_object(Bucket=self.bucket, Key="after-early", Body=b"fine")
            except Exception as e:  # noqa: BLE001 - report whatever broke
                code = e.response["Error"]["Code"] if isinstance(e, ClientError) else type(e).__name__
                outcomes.append(f"next request on the connection: {code}")
        self.assertEqual(outcomes, [], f"{len(outcomes)} of 100 requests following an early-rejected PUT failed")

    def test_expect_continue_early_reject_on_the_wire(self):
        # What botocore does, on a raw socket: PUT with "Expect: 100-continue", read the
        # early final response (here 403, no signature), do not send the body, and send the
        # next request on the same connection. The server must either close the connection
        # or answer the next request properly; it must not swallow the next request as the
        # body of the rejected one (which shows up as a bare "400 Bad Request").
        host, port = urllib.parse.urlsplit(ENDPOINT).hostname, urllib.parse.urlsplit(ENDPOINT).port
        path = f"/{self.bucket}/wire".encode()
        bad = collections.Counter()
        for _ in range(1000):
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(b"PUT " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             b"Expect: 100-continue\r\n\r\n")
                f = sock.makefile("rb")
                status = f.readline()
                self.assertTrue(status.startswith(b"HTTP/1.1 403"), status)
                length = 0
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                f.read(length)
                try:
                    sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    second = f.readline()
                except OSError:
                    second = b""  # closed: fine
                if second and not second.startswith(b"HTTP/1.1 403"):
                    bad[second.strip().decode(errors="replace")] += 1
        self.assertEqual(
            dict(bad), {},
            "after an early 403 to an Expect: 100-continue PUT whose body was never sent, the next "
            "request on the same connection got these status lines (count of 1000)",
        )

    def test_delete_missing_key_is_204(self):
        resp = S3.delete_object(Bucket=self.bucket, Key="never-was")
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)


class BucketTest(ClientErrorTestCase):
    def test_create_existing(self):
        # In us-east-1 (the gateway's region here) S3 answers 200 to creating a bucket you
        # already own (its legacy behaviour); in other regions 409 BucketAlreadyOwnedByYou
        # (tests/s3/buckets.rs covers that region).
        bucket = new_bucket("exists")
        try:
            resp = S3.create_bucket(Bucket=bucket)
            self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        finally:
            S3.delete_bucket(Bucket=bucket)

    def test_invalid_names(self):
        for name in ("ab", "UpperCase", "under_score", "-leading-dash", "trailing-dash-", "dots..dots",
                     "192.168.5.4", "a" * 64):
            with self.subTest(name=name):
                self.assertClientError("InvalidBucketName", 400, S3.create_bucket, Bucket=name)

    def test_delete_non_empty(self):
        bucket = new_bucket("nonempty")
        S3.put_object(Bucket=bucket, Key="x", Body=b"x")
        self.assertClientError("BucketNotEmpty", 409, S3.delete_bucket, Bucket=bucket)
        S3.delete_object(Bucket=bucket, Key="x")
        S3.delete_bucket(Bucket=bucket)
        self.assertClientError("404", 404, S3.head_bucket, Bucket=bucket)

    def test_missing_bucket(self):
        self.assertClientError("NoSuchBucket", 404, S3.list_objects_v2, Bucket="conf-does-not-exist")
        self.assertClientError("NoSuchBucket", 404, S3.put_object, Bucket="conf-does-not-exist", Key="k", Body=b"")
        self.assertClientError("NoSuchBucket", 404, S3.delete_bucket, Bucket="conf-does-not-exist")

    def test_location_and_list(self):
        bucket = new_bucket("loc")
        try:
            loc = S3.get_bucket_location(Bucket=bucket)
            self.assertIn(loc.get("LocationConstraint"), (None, "us-east-1"))
            names = [b["Name"] for b in S3.list_buckets()["Buckets"]]
            self.assertIn(bucket, names)
        finally:
            S3.delete_bucket(Bucket=bucket)


class AclTest(BucketTestCase):
    """ACLs as S3 stores and shows them: canned ACLs, x-amz-grant-* headers and
    AccessControlPolicy documents on buckets and objects, one form at a time; a copy gets the
    request's ACL, not its source's."""

    tag = "acl"
    ALL_USERS_URI = "http://acs.amazonaws.com/groups/global/AllUsers"
    ALL_USERS = f'uri="{ALL_USERS_URI}"'

    def grants(self, resp):
        """The grants of a Get*Acl answer, the owner's named "owner" (with its display name
        checked), groups by URI."""
        owner = resp["Owner"]
        self.assertTrue(owner.get("ID") and owner.get("DisplayName"), resp)
        out = set()
        for g in resp["Grants"]:
            grantee = g["Grantee"]
            if grantee["Type"] == "CanonicalUser":
                self.assertTrue(grantee.get("DisplayName"), resp)
                who = "owner" if grantee["ID"] == owner["ID"] else grantee["ID"]
            else:
                self.assertEqual(grantee["Type"], "Group", resp)
                who = grantee["URI"]
            out.add((who, g["Permission"]))
        return out

    def test_bucket_acl(self):
        get = lambda: self.grants(S3.get_bucket_acl(Bucket=self.bucket))
        self.assertEqual(get(), {("owner", "FULL_CONTROL")})
        S3.put_bucket_acl(Bucket=self.bucket, ACL="public-read")
        self.assertEqual(get(), {("owner", "FULL_CONTROL"), (self.ALL_USERS_URI, "READ")})
        S3.put_bucket_acl(Bucket=self.bucket, GrantReadACP=self.ALL_USERS)
        self.assertEqual(get(), {(self.ALL_USERS_URI, "READ_ACP")}, "exactly the header grants")
        owner = S3.get_bucket_acl(Bucket=self.bucket)["Owner"]
        document = {
            "Owner": {"ID": owner["ID"]},
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"}],
        }
        S3.put_bucket_acl(Bucket=self.bucket, AccessControlPolicy=document)
        self.assertEqual(get(), {("owner", "FULL_CONTROL")})
        self.assertClientError(
            "InvalidRequest", 400, S3.put_bucket_acl, Bucket=self.bucket, ACL="private", GrantRead=self.ALL_USERS,
        )
        self.assertClientError("MissingSecurityHeader", 400, S3.put_bucket_acl, Bucket=self.bucket)
        self.assertEqual(get(), {("owner", "FULL_CONTROL")}, "nothing refused was stored")

    def test_object_acl(self):
        get = lambda key: self.grants(S3.get_object_acl(Bucket=self.bucket, Key=key))
        S3.put_object(Bucket=self.bucket, Key="acl-obj", Body=b"x", ACL="public-read")
        self.assertEqual(get("acl-obj"), {("owner", "FULL_CONTROL"), (self.ALL_USERS_URI, "READ")})
        S3.put_object_acl(Bucket=self.bucket, Key="acl-obj", ACL="private")
        self.assertEqual(get("acl-obj"), {("owner", "FULL_CONTROL")})
        S3.put_object_acl(Bucket=self.bucket, Key="acl-obj", GrantRead=self.ALL_USERS)
        self.assertEqual(get("acl-obj"), {(self.ALL_USERS_URI, "READ")})
        self.assertClientError("NoSuchKey", 404, S3.get_object_acl, Bucket=self.bucket, Key="no-such-obj")
        self.assertClientError(
            "InvalidArgument", 400, S3.put_object, Bucket=self.bucket, Key="acl-bad", Body=b"x",
            GrantRead='id="no-such-user"',
        )

    def test_copies_get_the_requests_acl(self):
        S3.put_object(Bucket=self.bucket, Key="acl-src", Body=b"x", ACL="public-read")
        S3.copy_object(Bucket=self.bucket, Key="acl-copy", CopySource={"Bucket": self.bucket, "Key": "acl-src"})
        self.assertEqual(self.grants(S3.get_object_acl(Bucket=self.bucket, Key="acl-copy")), {("owner", "FULL_CONTROL")})
        S3.copy_object(
            Bucket=self.bucket, Key="acl-copy2", CopySource={"Bucket": self.bucket, "Key": "acl-src"},
            GrantRead=self.ALL_USERS,
        )
        self.assertEqual(self.grants(S3.get_object_acl(Bucket=self.bucket, Key="acl-copy2")), {(self.ALL_USERS_URI, "READ")})

    def test_create_bucket_acl(self):
        name = f"conf-aclgrant-{uuid.uuid4().hex[:8]}"
        try:
            S3.create_bucket(Bucket=name, GrantRead=self.ALL_USERS)
            self.assertEqual(self.grants(S3.get_bucket_acl(Bucket=name)), {(self.ALL_USERS_URI, "READ")})
        finally:
            try:
                S3.delete_bucket(Bucket=name)
            except ClientError:
                pass


class ListingTest(BucketTestCase):
    """2,500 keys: flat/ (1,500 keys and 10 sub-prefixes of 50), p{0..3}/s{0..5}/ (480), top-level (20)."""

    tag = "list"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        keys = [f"flat/k{i:05d}" for i in range(1500)]
        keys += [f"flat/d{j}/k{i:03d}" for j in range(10) for i in range(50)]
        keys += [f"p{a}/s{b}/k{i:02d}" for a in range(4) for b in range(6) for i in range(20)]
        keys += [f"top{i:02d}" for i in range(20)]
        assert len(keys) == 2500
        cls.keys = sorted(keys)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: S3.put_object(Bucket=cls.bucket, Key=k, Body=k.encode()), keys))

    def paginate(self, op, **kw):
        """All pages of op; returns (keys, prefixes, pages)."""
        keys, prefixes, pages = [], [], 0
        for page in S3.get_paginator(op).paginate(Bucket=self.bucket, **kw):
            pages += 1
            keys += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return keys, prefixes, pages

    def expected(self, prefix="", delimiter=None):
        keys, prefixes = [], []
        for k in self.keys:
            if not k.startswith(prefix):
                continue
            rest = k[len(prefix):]
            if delimiter and delimiter in rest:
                p = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if p not in prefixes:
                    prefixes.append(p)
            else:
                keys.append(k)
        return keys, prefixes

    def check(self, op, prefix="", delimiter=None, page_size=1000, min_pages=1):
        kw = {"PaginationConfig": {"PageSize": page_size}}
        if prefix:
            kw["Prefix"] = prefix
        if delimiter:
            kw["Delimiter"] = delimiter
        keys, prefixes, pages = self.paginate(op, **kw)
        want_keys, want_prefixes = self.expected(prefix, delimiter)
        what = f"{op} prefix={prefix!r} delimiter={delimiter!r} page_size={page_size}"
        self.assertEqual(len(keys), len(set(keys)), f"{what}: a key was returned twice")
        self.assertEqual(len(prefixes), len(set(prefixes)), f"{what}: a common prefix was returned twice")
        self.assertEqual(keys, want_keys, f"{what}: keys")
        self.assertEqual(sorted(prefixes), want_prefixes, f"{what}: common prefixes")
        self.assertGreaterEqual(pages, min_pages, f"{what}: pages")

    def test_v2_all_keys(self):
        self.check("list_objects_v2", min_pages=3)

    def test_v1_all_keys(self):
        self.check("list_objects", min_pages=3)

    def test_v2_root_delimiter(self):
        self.check("list_objects_v2", delimiter="/")

    def test_v1_root_delimiter(self):
        self.check("list_objects", delimiter="/")

    def test_v2_prefix_delimiter_crossing_pages(self):
        self.check("list_objects_v2", prefix="flat/", delimiter="/", min_pages=2)

    def test_v1_prefix_delimiter_crossing_pages(self):
        self.check("list_objects", prefix="flat/", delimiter="/", min_pages=2)

    def test_small_pages_with_delimiter(self):
        self.check("list_objects_v2", delimiter="/", page_size=3, min_pages=9)
        self.check("list_objects", delimiter="/", page_size=3, min_pages=9)
        self.check("list_objects_v2", prefix="p2/", delimiter="/", page_size=4, min_pages=2)
        self.check("list_objects", prefix="p2/", delimiter="/", page_size=4, min_pages=2)

    def test_non_slash_delimiter(self):
        self.check("list_objects_v2", prefix="p1/", delimiter="k")
        self.check("list_objects", delimiter="0")

    def test_v2_page_shape(self):
        resp = S3.list_objects_v2(Bucket=self.bucket, MaxKeys=1000)
        self.assertEqual(resp["KeyCount"], 1000)
        self.assertTrue(resp["IsTruncated"])
        self.assertIn("NextContinuationToken", resp)
        self.assertEqual(resp["MaxKeys"], 1000)
        resp = S3.list_objects_v2(Bucket=self.bucket, StartAfter="p3/s5/k18")
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["p3/s5/k19"] + [f"top{i:02d}" for i in range(20)])
        self.assertFalse(resp["IsTruncated"])
        resp = S3.list_objects_v2(Bucket=self.bucket, Prefix="top", MaxKeys=5, FetchOwner=True)
        self.assertEqual(resp["KeyCount"], 5)
        self.assertIn("Owner", resp["Contents"][0])
        obj = resp["Contents"][0]
        self.assertEqual(obj["Size"], len(b"top00"))
        self.assertEqual(obj["ETag"], f'"{md5_hex(b"top00")}"')

    def test_v1_page_shape(self):
        resp = S3.list_objects(Bucket=self.bucket, Prefix="flat/", Delimiter="/", MaxKeys=5)
        self.assertTrue(resp["IsTruncated"])
        self.assertEqual(len(resp.get("Contents", [])) + len(resp.get("CommonPrefixes", [])), 5)
        self.assertIn("NextMarker", resp, "v1 with a delimiter must return NextMarker when truncated")
        resp = S3.list_objects(Bucket=self.bucket, Marker="p3/s5/k18")
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["p3/s5/k19"] + [f"top{i:02d}" for i in range(20)])

    def test_max_keys_zero(self):
        resp = S3.list_objects_v2(Bucket=self.bucket, MaxKeys=0)
        self.assertEqual(resp["KeyCount"], 0)
        self.assertEqual(resp.get("Contents", []), [])


class EncodingTypeTest(BucketTestCase):
    tag = "enc"
    KEYS = [
        "plain.txt",
        "with space/file name.txt",
        "ünïcödé/日本語 ファイル.txt",
        "a+b=c&d.txt",
        "percent%20literal.txt",
        "emoji 🎉/x",
        "tab\there",
        "quote\"s'<&>.xml",
        "ctrl\x01char",
    ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for k in cls.KEYS:
            S3.put_object(Bucket=cls.bucket, Key=k, Body=k.encode())

    # Without an EncodingType parameter botocore asks for encoding-type=url itself and
    # decodes the answer; with an explicit one it hands back the encoded strings.
    def test_boto3_auto_encoding_round_trips(self):
        for op in ("list_objects_v2", "list_objects"):
            with self.subTest(op=op):
                resp = getattr(S3, op)(Bucket=self.bucket)
                keys = [o["Key"] for o in resp["Contents"]]
                self.assertEqual(keys, sorted(self.KEYS, key=lambda k: k.encode()))

    def test_explicit_encoding_type(self):
        unq = urllib.parse.unquote_plus
        for op in ("list_objects_v2", "list_objects"):
            with self.subTest(op=op):
                resp = getattr(S3, op)(Bucket=self.bucket, EncodingType="url")
                self.assertEqual(resp.get("EncodingType"), "url")
                keys = [unq(o["Key"]) for o in resp["Contents"]]
                self.assertEqual(keys, sorted(self.KEYS, key=lambda k: k.encode()))

    def test_delimiter_prefixes(self):
        want = sorted(["with space/", "ünïcödé/", "emoji 🎉/"], key=lambda k: k.encode())
        resp = S3.list_objects_v2(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in resp["CommonPrefixes"]], want)
        resp = S3.list_objects_v2(Bucket=self.bucket, EncodingType="url", Delimiter="/")
        self.assertEqual([urllib.parse.unquote_plus(p["Prefix"]) for p in resp["CommonPrefixes"]], want)
        resp = S3.list_objects_v2(Bucket=self.bucket, Prefix="ünïcödé/", Delimiter="/")
        self.assertEqual(resp["Prefix"], "ünïcödé/")
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["ünïcödé/日本語 ファイル.txt"])
        resp = S3.list_objects(Bucket=self.bucket, Prefix="emoji 🎉/", Delimiter="/")
        # S3 url-encodes Prefix in v1 answers too, but botocore decodes it only for v2.
        self.assertEqual(urllib.parse.unquote_plus(resp["Prefix"]), "emoji 🎉/")
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["emoji 🎉/x"])

    def test_raw_xml_is_encoded(self):
        url = S3.generate_presigned_url(
            "list_objects_v2", Params={"Bucket": self.bucket, "EncodingType": "url"}, ExpiresIn=300
        )
        with urllib.request.urlopen(url) as resp:
            root = ET.fromstring(resp.read())
        ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
        raw = [e.text for e in root.findall("s3:Contents/s3:Key", ns)]
        self.assertEqual(len(raw), len(self.KEYS), raw)
        for r in raw:
            self.assertRegex(r, r"^[A-Za-z0-9._~\-/%+*]*$", "an encoded key must be plain ASCII")
        self.assertEqual(
            sorted(urllib.parse.unquote_plus(r) for r in raw),
            sorted(self.KEYS),
            "url-decoded keys (decoding '+' as a space, as SDKs do) must be the original keys",
        )

    def test_keys_fetchable(self):
        for k in self.KEYS:
            with self.subTest(key=k):
                self.assertEqual(S3.get_object(Bucket=self.bucket, Key=k)["Body"].read(), k.encode())


if __name__ == "__main__":
    unittest.main(verbosity=int(os.environ.get("BOTO3_TEST_VERBOSITY", "2")))
