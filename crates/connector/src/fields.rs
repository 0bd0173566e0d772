//! Field types that several requests share and that need more than serde gives them: a map of
//! `NAME=VALUE` pairs is a JSON object in a request and a repeatable flag on the command line.

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
    /// Object tags: keys and values (at most 10).
    Tags, "tag", "An object tag, NAME=VALUE; repeat for more (at most 10)."
}

/// `NAME=VALUE` as a pair. A pair without `=` is a name with an empty value; validation then
/// reports anything malformed by name.
#[cfg(feature = "cli")]
fn pair(text: &str) -> Result<(String, String), std::convert::Infallible> {
    let (k, v) = text.split_once('=').unwrap_or((text, ""));
    Ok((k.to_string(), v.to_string()))
}
