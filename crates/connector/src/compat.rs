//! The compatibility mode: known quirks of S3-compatible stores, tolerated where aws-cli and
//! s5cmd tolerate them. Each quirk is fixed in the store's answer before the SDK reads it, so the
//! rest of the connector never sees it. The list is in docs/stores.md.
//!
//! On by default for custom endpoints, off for AWS (`compat` setting).
//!
//! Quirks, each an answer whose root element is not the one S3 sends (the SDK refuses the whole
//! answer; botocore and s5cmd read bodies by element names and do not notice), renamed back:
//! - **`rclone serve s3` names CreateMultipartUpload's answer `<InitiateMultipartUpload>`**
//!   instead of `<InitiateMultipartUploadResult>`, so no multipart upload to rclone could start.
//! - **moto names GetBucketVersioning's answer `<GetBucketVersioningResponse>`** instead of
//!   `<VersioningConfiguration>`, so a bucket's versioning could be neither read nor confirmed.

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

/// The most of an answer the fix-up holds to rewrite it: the answers fixed are a few hundred
/// bytes. A longer one is passed on unchanged.
const MAX_FIXED_BODY: usize = 64 * 1024;

/// An answer a store names with another root element than S3's.
#[derive(Debug, PartialEq, Eq)]
pub struct Misnamed {
    /// The operation (the SDK's name for it) whose answer it is.
    pub operation: &'static str,
    /// The root element the store sends.
    pub store_root: &'static str,
    /// The root element S3 sends, which the SDK reads.
    pub s3_root: &'static str,
    /// The store known to send it, for the log.
    pub store: &'static str,
}

/// The misnamed answers fixed, one row a quirk.
pub const MISNAMED: &[Misnamed] = &[
    Misnamed {
        operation: "CreateMultipartUpload",
        store_root: "InitiateMultipartUpload",
        s3_root: "InitiateMultipartUploadResult",
        store: "rclone serve s3",
    },
    Misnamed {
        operation: "GetBucketVersioning",
        store_root: "GetBucketVersioningResponse",
        s3_root: "VersioningConfiguration",
        store: "moto",
    },
];

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
        let operation = cfg.load::<Metadata>().map(|m| m.name());
        let Some(fix) = MISNAMED.iter().find(|m| Some(m.operation) == operation) else {
            return Ok(());
        };
        if !context.response().status().is_success() {
            return Ok(());
        }
        let body = context.response_mut().body_mut();
        let original = std::mem::replace(body, SdkBody::taken());
        *body = SdkBody::from_body_1_x(Rewritten {
            fix,
            inner: original,
            seen: BytesMut::new(),
            passthrough: false,
            done: false,
        });
        Ok(())
    }
}

/// `xml` with its root element renamed from `fix.store_root` to `fix.s3_root`; `None` when its
/// root is another (already S3's, or an error) or it is not text.
pub fn rename_root(xml: &[u8], fix: &Misnamed) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    // The root is the first element: past the declaration (`<?xml`) and any comment.
    let mut at = 0;
    let root = loop {
        let next = at + text[at..].find('<')?;
        match text[next + 1..].chars().next()? {
            '?' | '!' => at = next + 1,
            _ => break next,
        }
    };
    let name = &text[root + 1..];
    let after = name.strip_prefix(fix.store_root)?.chars().next()?;
    if !(after == '>' || after == '/' || after.is_whitespace()) {
        // A longer name that starts the same, e.g. S3's own `InitiateMultipartUploadResult`.
        return None;
    }
    let close = format!("</{}>", fix.store_root);
    let rest = &text[root + 1 + fix.store_root.len()..];
    let fixed = format!(
        "{}<{}{}",
        &text[..root],
        fix.s3_root,
        rest.replace(&close, &format!("</{}>", fix.s3_root))
    );
    Some(fixed.into_bytes())
}

/// A body read whole, then passed on fixed. Only small bodies are held; a large one passes as it
/// arrived.
struct Rewritten {
    fix: &'static Misnamed,
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
                    let out = match rename_root(&seen, self.fix) {
                        Some(fixed) => {
                            tracing::debug!(
                                "compat: renamed {}'s <{}> root of {} to <{}>",
                                self.fix.store,
                                self.fix.store_root,
                                self.fix.operation,
                                self.fix.s3_root
                            );
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

    fn fix(operation: &str) -> &'static Misnamed {
        MISNAMED.iter().find(|m| m.operation == operation).expect("a row")
    }

    #[test]
    fn rclones_root_element_is_renamed_and_s3s_is_left_alone() {
        let fix = fix("CreateMultipartUpload");
        let rclone = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUpload>"#;
        let fixed = String::from_utf8(rename_root(rclone, fix).expect("fixed")).expect("utf8");
        assert!(fixed.starts_with("<?xml version=\"1.0\""), "{fixed}");
        assert!(fixed.contains("<InitiateMultipartUploadResult xmlns="), "{fixed}");
        assert!(fixed.ends_with("</InitiateMultipartUploadResult>"), "{fixed}");
        assert!(fixed.contains("<UploadId>u1</UploadId>"));
        let s3 = br#"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(rename_root(s3, fix), None);
        assert_eq!(rename_root(b"not xml \xff", fix), None);
    }

    #[test]
    fn motos_versioning_answer_is_renamed_whether_empty_or_not() {
        let fix = fix("GetBucketVersioning");
        let empty = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        let fixed = String::from_utf8(rename_root(empty, fix).expect("fixed")).expect("utf8");
        assert!(
            fixed.ends_with("<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"),
            "{fixed}"
        );
        let on = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        let fixed = String::from_utf8(rename_root(on, fix).expect("fixed")).expect("utf8");
        assert!(fixed.contains("<VersioningConfiguration xmlns="), "{fixed}");
        assert!(
            fixed.ends_with("<Status>Enabled</Status></VersioningConfiguration>"),
            "{fixed}"
        );
        // Only the root is renamed: an element of that name inside another root is left.
        let s3 = br#"<VersioningConfiguration><GetBucketVersioningResponse/></VersioningConfiguration>"#;
        assert_eq!(rename_root(s3, fix), None);
        let error = br#"<?xml version="1.0"?><Error><Code>NoSuchBucket</Code></Error>"#;
        assert_eq!(rename_root(error, fix), None);
    }
}
