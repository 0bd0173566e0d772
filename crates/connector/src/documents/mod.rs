//! Documents: Camunda-compatible document references and the stores that hold documents.
//!
//! Processes pass documents between steps as references ([`DocumentReference`]). A
//! `camunda` reference points into a [`DocumentStore`]; `inline` and `external` references
//! carry their content or its URL. Stores share one trait and one conformance suite
//! (`tests/document_stores.rs`).

pub mod local;
pub mod memory;
pub mod reference;
pub mod s3;
pub mod store;

pub use local::LocalStore;
pub use memory::MemoryStore;
pub use reference::{CamundaReference, DocumentMetadata, DocumentReference, ExternalDocument, InlineDocument};
pub use s3::S3Store;
pub use store::{DocumentReader, DocumentStore};
