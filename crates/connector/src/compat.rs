//! The compatibility mode: known quirks of S3-compatible stores, tolerated where aws-cli and
//! s5cmd tolerate them. Each quirk is fixed in the store's answer before the SDK reads it, so the
//! rest of the connector never sees it. The list is in docs/stores.md.
//!
//! On by default for custom endpoints, off for AWS (`compat` setting).
//!
//! Quirks:
//! - **`rclone serve s3` names CreateMultipartUpload's answer `<InitiateMultipartUpload>`**
//!   instead of `<InitiateMultipartUploadResult>`. The SDK refuses the root element, so no
//!   multipart upload to rclone could start; botocore and s5cmd read the body by element names
//!   and do not notice. The answer is renamed back.

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::{Bytes, BytesMut};

/// The most of an answer the fix-up holds to rewrite it: CreateMultipartUpload answers are a
/// few hundred bytes. A longer one is passed on unchanged.
const MAX_FIXED_BODY: usize = 64 * 1024;

/// The interceptor that applies the fix-ups.
#[derive(Debug, Default)]
pub struct CompatFixes;

impl Intercept for CompatFixes {
    fn name(&self) -> &'static str {
        "s3-connector compatibility fixes"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string());
        if operation.as_deref() != Some("CreateMultipartUpload") || !context.response().status().is_success() {
            return Ok(());
        }
        let body = context.response_mut().body_mut();
        let original = std::mem::replace(body, SdkBody::taken());
        *body = SdkBody::from_body_1_x(Rewritten {
            inner: original,
            seen: BytesMut::new(),
            passthrough: false,
            done: false,
        });
        Ok(())
    }
}

/// rclone's `<InitiateMultipartUpload>` root (and its closing tag) renamed to S3's.
pub fn fix_initiate_multipart_upload(xml: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    let open = "<InitiateMultipartUpload";
    let at = text.find(open)?;
    let after = text[at + open.len()..].chars().next()?;
    if !(after == '>' || after.is_whitespace()) {
        // Already `<InitiateMultipartUploadResult`: nothing to fix.
        return None;
    }
    let fixed = format!(
        "{}<InitiateMultipartUploadResult{}",
        &text[..at],
        &text[at + open.len()..]
    )
    .replace("</InitiateMultipartUpload>", "</InitiateMultipartUploadResult>");
    Some(fixed.into_bytes())
}

/// A body read whole, then passed on fixed. Only small bodies are held; a large one passes as it
/// arrived.
struct Rewritten {
    inner: SdkBody,
    seen: BytesMut,
    /// Set once the body proved too large to be the answer we fix: frames pass unchanged.
    passthrough: bool,
    done: bool,
}

impl http_body::Body for Rewritten {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if self.passthrough => return Poll::Ready(Some(Ok(http_body::Frame::data(data)))),
                    Ok(data) => {
                        if self.seen.len() + data.len() > MAX_FIXED_BODY {
                            // Not the small answer we know: pass everything on unchanged.
                            self.passthrough = true;
                            let mut all = std::mem::take(&mut self.seen);
                            all.extend_from_slice(&data);
                            return Poll::Ready(Some(Ok(http_body::Frame::data(all.freeze()))));
                        }
                        self.seen.extend_from_slice(&data);
                    }
                    // Trailers carry nothing the fix-up needs.
                    Err(_) => {}
                },
                Poll::Ready(None) => {
                    self.done = true;
                    if self.passthrough {
                        return Poll::Ready(None);
                    }
                    let seen = std::mem::take(&mut self.seen).freeze();
                    let out = match fix_initiate_multipart_upload(&seen) {
                        Some(fixed) => {
                            tracing::debug!("compat: renamed rclone's <InitiateMultipartUpload> root");
                            Bytes::from(fixed)
                        }
                        None => seen,
                    };
                    return Poll::Ready(Some(Ok(http_body::Frame::data(out))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rclones_root_element_is_renamed_and_s3s_is_left_alone() {
        let rclone = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUpload>"#;
        let fixed = String::from_utf8(fix_initiate_multipart_upload(rclone).expect("fixed")).expect("utf8");
        assert!(fixed.contains("<InitiateMultipartUploadResult xmlns="), "{fixed}");
        assert!(fixed.ends_with("</InitiateMultipartUploadResult>"), "{fixed}");
        assert!(fixed.contains("<UploadId>u1</UploadId>"));
        let s3 = br#"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(fix_initiate_multipart_upload(s3), None);
        assert_eq!(fix_initiate_multipart_upload(b"not xml \xff"), None);
    }
}
