"""Signs what the browser test's page uses, with boto3 (as a web app's backend would).

    python3 presign.py BUCKET PAGE_ORIGIN > plan.json

Reads GRANARY_ENDPOINT and the credentials from the environment (conformance/lib.sh) and
prints one JSON document for browser_test.mjs:
  bucket               BUCKET
  put_key, put_url     presigned PUT of a fresh key
  get_url              presigned GET of that key
  post                 a presigned POST (url, fields) for the key `uploads/${filename}`,
                       answering 201 with a PostResponse document
  form_post            the same for `uploads/form/${filename}`, answering with a 303 to
                       PAGE_ORIGIN/uploaded.html (success_action_redirect)
The POST policies also hold a `starts-with $key uploads/` condition, so a form cannot
write anywhere else.
"""

import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from s3_common import S3  # noqa: E402  (drops AWS_CA_BUNDLE before boto3 loads)

EXPIRES_SECONDS = 600


def main() -> None:
    if S3 is None:
        sys.exit("GRANARY_ENDPOINT is not set: run conformance/browser.sh")
    bucket, page_origin = sys.argv[1], sys.argv[2]
    put_key = f"put/{uuid.uuid4().hex[:8]}.txt"
    params = {"Bucket": bucket, "Key": put_key}
    plan = {
        "bucket": bucket,
        "put_key": put_key,
        "put_url": S3.generate_presigned_url("put_object", Params=params, ExpiresIn=EXPIRES_SECONDS),
        "get_url": S3.generate_presigned_url("get_object", Params=params, ExpiresIn=EXPIRES_SECONDS),
        "post": S3.generate_presigned_post(
            bucket,
            "uploads/${filename}",
            Fields={"success_action_status": "201"},
            Conditions=[["starts-with", "$key", "uploads/"], {"success_action_status": "201"}],
            ExpiresIn=EXPIRES_SECONDS,
        ),
        "form_post": S3.generate_presigned_post(
            bucket,
            "uploads/form/${filename}",
            Fields={"success_action_redirect": f"{page_origin}/uploaded.html"},
            Conditions=[
                ["starts-with", "$key", "uploads/"],
                {"success_action_redirect": f"{page_origin}/uploaded.html"},
            ],
            ExpiresIn=EXPIRES_SECONDS,
        ),
    }
    json.dump(plan, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
