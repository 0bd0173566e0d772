//! Field types that several requests share and that need more than serde gives them: a map of
//! `NAME=VALUE` pairs is a JSON object in a request and a repeatable flag on the command line;
//! the standard headers an object is stored with travel from requests to the transfers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Declares a `NAME=VALUE` map: transparent in JSON, a repeatable `--FLAG NAME=VALUE` with the
/// `cli` feature (clap's derive has no map type, so the flag is declared here by hand).
macro_rules! pairs {
    ($(#[doc = $doc:literal])* $name:ident, $flag:literal, $help:literal) => {
        $(#[doc = $doc])*
        #[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub BTreeMap<String, String>);

        impl std::ops::Deref for $name {
            type Target = BTreeMap<String, String>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<BTreeMap<String, String>> for $name {
            fn from(map: BTreeMap<String, String>) -> Self {
                $name(map)
            }
        }

        impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for $name {
            fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
                $name(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <BTreeMap<String, String> as utoipa::PartialSchema>::schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        #[cfg(feature = "cli")]
        impl clap::FromArgMatches for $name {
            fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Ok(matches
                    .get_many::<(String, String)>($flag)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect())
            }
            fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
                self.0.extend(Self::from_arg_matches(matches)?.0);
                Ok(())
            }
        }

        #[cfg(feature = "cli")]
        impl clap::Args for $name {
            fn group_id() -> Option<clap::Id> {
                Some(clap::Id::from(concat!($flag, "-pairs")))
            }
            fn augment_args(cmd: clap::Command) -> clap::Command {
                cmd.arg(
                    clap::Arg::new($flag)
                        .long($flag)
                        .value_name("NAME=VALUE")
                        .action(clap::ArgAction::Append)
                        .value_parser(pair)
                        .help($help),
                )
                .group(clap::ArgGroup::new(concat!($flag, "-pairs")).arg($flag).multiple(true))
            }
            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                Self::augment_args(cmd)
            }
        }
    };
}

pairs! {
    /// User metadata (`x-amz-meta-*`): names and values.
    Metadata, "metadata", "User metadata, NAME=VALUE; repeat for more."
}

pairs! {
    /// An SSE-KMS encryption context: names and values.
    KmsContext, "sse-kms-context", "SSE-KMS encryption context, NAME=VALUE; repeat for more."
}

pairs! {
    /// Object tags: keys and values (at most 10).
    Tags, "tag", "An object tag, NAME=VALUE; repeat for more (at most 10)."
}

/// `NAME=VALUE` as a pair; `NAME=` is an empty value. Text without `=` is refused: it is far
/// more often a forgotten value than a wish to store an empty one. Validation then reports
/// anything else malformed by name.
#[cfg(feature = "cli")]
fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(format!(
            "{text:?} has no value; write NAME=VALUE (NAME= for an empty value)"
        )),
    }
}

/// The standard headers an object is stored with and served back with, besides its type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    /// `Cache-Control`, e.g. `max-age=3600`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`, e.g. `attachment; filename="q1.pdf"`.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`, e.g. `gzip`.
    pub content_encoding: Option<String>,
    /// `Expires`, RFC 3339.
    pub expires: Option<String>,
}

impl ObjectHeaders {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self == &ObjectHeaders::default()
    }

    /// Each header of `self`, else of `other`.
    pub fn or(&self, other: &ObjectHeaders) -> ObjectHeaders {
        ObjectHeaders {
            cache_control: self.cache_control.clone().or_else(|| other.cache_control.clone()),
            content_disposition: self
                .content_disposition
                .clone()
                .or_else(|| other.content_disposition.clone()),
            content_encoding: self.content_encoding.clone().or_else(|| other.content_encoding.clone()),
            expires: self.expires.clone().or_else(|| other.expires.clone()),
        }
    }

    /// `Expires` as the SDK takes it (validated as RFC 3339 before any request).
    pub(crate) fn expires_time(&self) -> Option<aws_sdk_s3::primitives::DateTime> {
        let text = self.expires.as_deref()?;
        aws_sdk_s3::primitives::DateTime::from_str(text, aws_sdk_s3::primitives::DateTimeFormat::DateTimeWithOffset)
            .ok()
    }
}
