//! Camunda 8 compatibility: the job variables of Camunda's own AWS S3 connector
//! (`io.camunda:aws-s3:1`), bound to our core.
//!
//! So far: binding the variables of every element template version to a connection and one
//! of the three operations, with Camunda's validation messages ([`input`]).

pub mod input;

pub use input::{CamundaInput, CamundaOperation, ReturnFormat};
