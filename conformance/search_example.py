"""Search a Granary bucket from Python: the README's example, run by conformance/search.sh.

    python3 search_example.py http://127.0.0.1:9000 BUCKET 'QUERY'

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; requests are signed with
botocore's S3 SigV4 signer (any SigV4 signer works).
"""
import json
import os
import sys
import urllib.parse
import urllib.request

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def granary_get(endpoint, path, **params):
    # Percent-encode values in full (a space as %20, not +): SigV4 signs them that way.
    query = urllib.parse.urlencode(params, quote_via=lambda s, *_: urllib.parse.quote(s, safe=""))
    url = f"{endpoint}{path}?{query}"
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(request.headers))) as response:
        return json.load(response)


if __name__ == "__main__":
    endpoint, bucket, query = sys.argv[1:4]
    page = granary_get(endpoint, "/_granary/search", bucket=bucket, q=query)
    for hit in page["objects"]:
        print(hit["key"], hit["size"], hit["content_type"], hit["last_modified"])
    print("suggestions:", granary_get(endpoint, "/_granary/search/suggest", bucket=bucket, prefix="photos/")["suggestions"])
