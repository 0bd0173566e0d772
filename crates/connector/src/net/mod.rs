//! Network plumbing under the S3 client and the document fetcher: the address guard that keeps
//! connections chosen by a process definition out of the operator's own network, and the HTTP
//! client the S3 SDK sends through, with its stall timeout.

pub mod client;
pub mod guard;

pub use guard::{AddressGuard, EndpointPolicy, IpNet, Refusal, ALLOW_SETTING};
