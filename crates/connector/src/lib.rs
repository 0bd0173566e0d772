//! s3-connector: an Amazon S3 connector for process automation.
//!
//! The core library. Front ends (the `s3-connector` CLI, later an HTTP service and a
//! Camunda job worker) parse input into an [`Action`], call [`Action::execute`] with a
//! [`Connector`], and render the [`ActionResult`] or [`Error`]. No front end holds S3 logic.
//!
//! ```no_run
//! # async fn demo() -> s3_connector::Result<()> {
//! use s3_connector::{Action, ConnectionSettings, Connector, Streams};
//! let conn = Connector::connect(ConnectionSettings::layered(None, ConnectionSettings::default())?).await?;
//! let action = Action::from_json(serde_json::json!({"action": "listBuckets"}))?;
//! let result = action.execute(&conn, Streams::default()).await?;
//! println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
//! # Ok(()) }
//! ```

pub mod actions;
pub mod camunda;
pub mod client;
pub mod cluster;
pub mod compat;
pub mod config;
pub mod documents;
pub mod encryption;
pub mod error;
pub mod fields;
pub(crate) mod listing;
pub mod net;
pub mod s3;
pub mod stored;
pub(crate) mod tagging;
pub mod telemetry;
pub mod transfer;
pub mod uri;
pub mod validate;

pub use actions::{Action, ActionResult, Streams, ACTION_NAMES};
pub use client::{CleanupTasks, ConnectOptions, Connector};
pub use config::{ChecksumMode, ConnectionSettings, Secret, TimeoutSettings, TransferSettings};
pub use error::{Error, ErrorCode, Missing, Result, StoreReply, ALL_ERROR_CODES};
