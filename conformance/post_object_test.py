#!/usr/bin/env python3
"""Browser uploads (POST Object) with boto3's generate_presigned_post against a running granary.

The form boto3 signs is sent as a browser sends it: multipart/form-data over plain HTTP, no
Authorization header, redirects not followed. What it stored is read back with boto3.
Needs GRANARY_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment
(post_object.sh starts a server and sets them). Run: python3 post_object_test.py [-v] [Test.name]
"""

import hashlib
import http.client
import sys
import unittest
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

# s3_common first: it drops AWS_CA_BUNDLE before boto3 is loaded.
from s3_common import ENDPOINT, S3, BucketTestCase

if not ENDPOINT:
    sys.exit("post_object_test.py: GRANARY_ENDPOINT is not set (run it through post_object.sh)")


def post_form(url, fields, filename, content, extra_fields=()):
    """POSTs the form (fields, then the file) to url; returns (status, headers, body)."""
    boundary = "----granary" + uuid.uuid4().hex
    parts = []
    for name, value in list(fields.items()) + list(extra_fields):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    body = b"".join(parts) + content + f"\r\n--{boundary}--\r\n".encode()
    target = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(target.netloc, timeout=30)
    try:
        conn.request("POST", target.path or "/", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def xml_field(body, name):
    """The text of the first element called name (any namespace) in an XML document."""
    for el in ET.fromstring(body).iter():
        if el.tag.split("}")[-1] == name:
            return el.text
    return None


class PresignedPostTest(BucketTestCase):
    tag = "post"

    def presigned(self, key, fields=None, conditions=None, expires=600):
        return S3.generate_presigned_post(self.bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)

    def test_filename_is_substituted_and_201_answers_a_post_response(self):
        post = self.presigned(
            "post/${filename}",
            fields={"success_action_status": "201"},
            conditions=[{"success_action_status": "201"}, ["content-length-range", 1, 1024]],
        )
        status, headers, body = post_form(post["url"], post["fields"], "hello.txt", b"hello, form")
        self.assertEqual(status, 201, body)
        self.assertEqual(xml_field(body, "Key"), "post/hello.txt")
        self.assertEqual(xml_field(body, "Bucket"), self.bucket)
        etag = '"%s"' % hashlib.md5(b"hello, form").hexdigest()
        self.assertEqual(xml_field(body, "ETag"), etag)
        self.assertEqual(headers.get("etag"), etag)
        got = S3.get_object(Bucket=self.bucket, Key="post/hello.txt")
        self.assertEqual(got["Body"].read(), b"hello, form")
        self.assertClientError("404", 404, S3.head_object, Bucket=self.bucket, Key="post/${filename}")

    def test_fields_are_stored_with_the_object(self):
        tagging = "<Tagging><TagSet><Tag><Key>source</Key><Value>browser</Value></Tag></TagSet></Tagging>"
        fields = {
            "Content-Type": "text/plain",
            "Cache-Control": "no-cache",
            "x-amz-meta-owner": "conformance",
            "tagging": tagging,
        }
        conditions = [{k: v} for k, v in fields.items()]
        post = self.presigned("meta.txt", fields=fields, conditions=conditions)
        status, _, body = post_form(post["url"], post["fields"], "meta.txt", b"text")
        self.assertEqual(status, 204, body)
        head = S3.head_object(Bucket=self.bucket, Key="meta.txt")
        self.assertEqual(head["ContentType"], "text/plain")
        self.assertEqual(head["CacheControl"], "no-cache")
        self.assertEqual(head["Metadata"], {"owner": "conformance"})
        tags = S3.get_object_tagging(Bucket=self.bucket, Key="meta.txt")["TagSet"]
        self.assertEqual(tags, [{"Key": "source", "Value": "browser"}])

    def test_redirect_answers_303_with_bucket_key_and_etag(self):
        redirect = "https://app.example/uploaded"
        post = self.presigned("r/${filename}", fields={"success_action_redirect": redirect},
                              conditions=[{"success_action_redirect": redirect}])
        status, headers, body = post_form(post["url"], post["fields"], "r.bin", b"r")
        self.assertEqual(status, 303, body)
        location = urllib.parse.urlsplit(headers["location"])
        self.assertEqual(f"{location.scheme}://{location.netloc}{location.path}", redirect)
        query = dict(urllib.parse.parse_qsl(location.query))
        self.assertEqual(query, {"bucket": self.bucket, "key": "r/r.bin", "etag": '"%s"' % hashlib.md5(b"r").hexdigest()})

    def test_policy_violations_are_refused(self):
        post = self.presigned("big", conditions=[["content-length-range", 1, 10]])
        status, _, body = post_form(post["url"], post["fields"], "big", b"x" * 11)
        self.assertEqual((status, xml_field(body, "Code")), (400, "EntityTooLarge"), body)

        # The key is changed after signing: the policy's condition on it fails.
        post = self.presigned("uploads/${filename}")
        fields = dict(post["fields"], key="elsewhere/${filename}")
        status, _, body = post_form(post["url"], fields, "x", b"x")
        self.assertEqual((status, xml_field(body, "Code")), (403, "AccessDenied"), body)
        self.assertTrue(xml_field(body, "Message").startswith("Invalid according to Policy: Policy Condition failed:"), body)

        post = self.presigned("extra")
        status, _, body = post_form(post["url"], post["fields"], "x", b"x", extra_fields=[("x-amz-meta-sneaky", "1")])
        self.assertEqual((status, xml_field(body, "Code")), (403, "AccessDenied"), body)
        self.assertEqual(xml_field(body, "Message"), "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky")
        for key in ["big", "elsewhere/x", "extra"]:
            self.assertClientError("404", 404, S3.head_object, Bucket=self.bucket, Key=key)


if __name__ == "__main__":
    unittest.main()
