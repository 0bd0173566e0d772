//! Reading an object's tags, which `getObjectTagging` returns and a multipart copy carries
//! over (UploadPartCopy does not). Below the actions and the transfers, which both need it.

use crate::client::Connector;
use crate::error::{Error, Missing, Result};
use crate::fields::Tags;

/// The tags of `bucket/key` (of `version_id`, when given), and the version the store says
/// they are of.
pub(crate) async fn read(
    conn: &Connector,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<(Option<String>, Tags)> {
    let out = conn
        .client()
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await
        .map_err(|e| Error::from_sdk(e, &format!("GetObjectTagging s3://{bucket}/{key}"), Missing::Key))?;
    let tags = out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    Ok((out.version_id().map(str::to_string), tags))
}
