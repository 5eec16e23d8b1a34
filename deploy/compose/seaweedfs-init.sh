#!/bin/sh
# One-shot (the seaweedfs-init service, in the granary image, whose curl signs with
# --aws-sigv4): create the chunk bucket as SeaweedFS's admin identity, or accept that it
# exists, then wait until the gateways' own identity can write and delete an object in it
# (SeaweedFS's first write waits for its volumes to be allocated). Exits 0 only then, so the
# gateways start against a bucket that takes their writes. Granary never creates the bucket.
set -u
: "${S3_ENDPOINT:?S3_ENDPOINT must name the SeaweedFS S3 endpoint}"
: "${CHUNK_BUCKET:?CHUNK_BUCKET must name the chunk bucket}"
: "${ADMIN_ACCESS_KEY:?}" "${ADMIN_SECRET_KEY:?}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"

# curl as an S3 client: signed for us-east-1 (SeaweedFS does not check the region), payload
# unsigned. Prints the HTTP status (000 when nothing answered).
s3() {
    user="$1"
    shift
    curl -sS -o /tmp/s3-answer -w '%{http_code}' --max-time 30 \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user "$user" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" 2>/dev/null
}

created=""
for _ in $(seq 1 90); do
    case "$(s3 "$ADMIN_ACCESS_KEY:$ADMIN_SECRET_KEY" -X PUT "$S3_ENDPOINT/$CHUNK_BUCKET")" in
        200)
            echo "seaweedfs-init: created bucket $CHUNK_BUCKET"
            created=yes
            break
            ;;
        409)
            # BucketAlreadyOwnedByYou: a restart of the stack.
            echo "seaweedfs-init: bucket $CHUNK_BUCKET exists"
            created=yes
            break
            ;;
    esac
    sleep 2
done
if [ -z "$created" ]; then
    echo "seaweedfs-init: could not create bucket $CHUNK_BUCKET at $S3_ENDPOINT" >&2
    cat /tmp/s3-answer >&2 2>/dev/null
    exit 1
fi

# A probe outside the chunk prefix: the gateways' listings never see it.
probe="$S3_ENDPOINT/$CHUNK_BUCKET/seaweedfs-init-probe"
for _ in $(seq 1 60); do
    if [ "$(s3 "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT --data-binary probe "$probe")" = 200 ] \
        && [ "$(s3 "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X DELETE "$probe")" = 204 ]; then
        echo "seaweedfs-init: $AWS_ACCESS_KEY_ID writes and deletes in $CHUNK_BUCKET"
        exit 0
    fi
    sleep 2
done
echo "seaweedfs-init: $AWS_ACCESS_KEY_ID cannot write to $CHUNK_BUCKET (see -s3.config)" >&2
cat /tmp/s3-answer >&2 2>/dev/null
exit 1
