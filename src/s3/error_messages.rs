//! S3's standard error messages. s3s answers many errors (and our handlers some) with a bare
//! `<Code>`; aws-cli then prints "Unknown" and s3cmd an empty reason. The edge completes
//! every XML error body with the message S3 gives for its code (texts from S3's error-code
//! table) and the request id, keeping any message a handler wrote.

/// The message S3 sends with `code` when nothing more specific is known.
pub fn standard_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" => "Access Denied",
        "AuthorizationHeaderMalformed" => "The authorization header is malformed.",
        "BadDigest" => "The Content-MD5 or checksum value that you specified did not match what the server received.",
        "BucketAlreadyExists" => "The requested bucket name is not available. Please select a different name and try again.",
        "BucketAlreadyOwnedByYou" => "Your previous request to create the named bucket succeeded and you already own it.",
        "BucketNotEmpty" => "The bucket you tried to delete is not empty.",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed object size.",
        "EntityTooSmall" => "Your proposed upload is smaller than the minimum allowed object size.",
        "IncompleteBody" => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        "InternalError" => "We encountered an internal error. Please try again.",
        "InvalidAccessKeyId" => "The AWS access key ID you provided does not exist in our records.",
        "InvalidArgument" => "Invalid Argument",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidDigest" => "The Content-MD5 you specified is not valid.",
        "InvalidPart" => "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
        "InvalidPartOrder" => "The list of parts was not in ascending order. Parts must be ordered by part number.",
        "InvalidRange" => "The requested range is not satisfiable",
        "InvalidRequest" => "Invalid Request",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "KeyTooLongError" => "Your key is too long.",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema.",
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "MetadataTooLarge" => "Your metadata headers exceed the maximum allowed metadata size.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "MissingSecurityHeader" => "Your request is missing a required header.",
        "NoSuchBucket" => "The specified bucket does not exist.",
        "NoSuchBucketPolicy" => "The bucket policy does not exist.",
        "NoSuchCORSConfiguration" => "The CORS configuration does not exist.",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchLifecycleConfiguration" => "The lifecycle configuration does not exist.",
        "NoSuchTagSet" => "The TagSet does not exist.",
        "NoSuchUpload" => "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.",
        "NoSuchVersion" => "The specified version does not exist.",
        "NoSuchWebsiteConfiguration" => "The specified bucket does not have a website configuration.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented.",
        "ObjectLockConfigurationNotFoundError" => "Object Lock configuration does not exist for this bucket.",
        "NoSuchObjectLockConfiguration" => "The specified object does not have an Object Lock configuration.",
        "PreconditionFailed" => "At least one of the preconditions you specified did not hold.",
        "RequestTimeTooSkewed" => "The difference between the request time and the server's time is too large.",
        "ServerSideEncryptionConfigurationNotFoundError" => "The server side encryption configuration was not found.",
        "ServiceUnavailable" => "Please reduce your request rate.",
        "SignatureDoesNotMatch" => "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        "SlowDown" => "Please reduce your request rate.",
        "XAmzContentSHA256Mismatch" => "The provided 'x-amz-content-sha256' header does not match what was computed.",
        _ => return None,
    })
}

/// The error body `body` with a `<Message>` (the standard one, if it had none) and a
/// `<RequestId>`; `None` when nothing needs adding or `body` is not an S3 error document.
pub fn completed_error_body(body: &[u8], request_id: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let code_start = text.find("<Error><Code>")? + "<Error><Code>".len();
    let code_end = text[code_start..].find("</Code>")? + code_start;
    let after_code = code_end + "</Code>".len();
    let error_end = text[after_code..].find("</Error>")? + after_code;
    let message = if text.contains("<Message>") { None } else { standard_message(&text[code_start..code_end]) };
    // Request ids are ours: upper-case hex, nothing to escape.
    let add_request_id = !text.contains("<RequestId>") && request_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if message.is_none() && !add_request_id {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 200);
    out.push_str(&text[..after_code]);
    if let Some(message) = message {
        // The standard texts hold no `<` or `&`.
        out.push_str("<Message>");
        out.push_str(message);
        out.push_str("</Message>");
    }
    out.push_str(&text[after_code..error_end]);
    if add_request_id {
        out.push_str("<RequestId>");
        out.push_str(request_id);
        out.push_str("</RequestId>");
    }
    out.push_str(&text[error_end..]);
    Some(out.into_bytes())
}

/// A complete S3 error document for an error the edge answers itself (the edge adds the
/// request id like for every other error body).
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{escaped}</Message></Error>").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_errors_get_the_standard_message_and_the_request_id() {
        let bare = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code></Error>";
        let done = String::from_utf8(completed_error_body(bare, "AB12").unwrap()).unwrap();
        assert_eq!(
            done,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message><RequestId>AB12</RequestId></Error>"
        );
        // A handler's own message is kept.
        let own = b"<Error><Code>InvalidArgument</Code><Message>max-keys must be non-negative</Message></Error>";
        let done = String::from_utf8(completed_error_body(own, "AB12").unwrap()).unwrap();
        assert!(done.contains("<Message>max-keys must be non-negative</Message><RequestId>AB12</RequestId>"), "{done}");
        // Unknown codes still get the request id; complete bodies and non-errors are left alone.
        let odd = completed_error_body(b"<Error><Code>Odd</Code></Error>", "X").unwrap();
        assert_eq!(odd, b"<Error><Code>Odd</Code><RequestId>X</RequestId></Error>");
        let complete = b"<Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>R</RequestId></Error>";
        assert_eq!(completed_error_body(complete, "X"), None);
        assert_eq!(completed_error_body(b"<ListBucketResult/>", "X"), None);
        assert_eq!(completed_error_body(&[0xff, 0xfe], "X"), None);
        assert_eq!(completed_error_body(b"</Error><Error><Code>NoSuchKey</Code>", "X"), None, "no end after the code");
    }
}
