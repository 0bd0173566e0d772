//! The frame of the OpenAPI description served at `/openapi.json`. Its paths come from the
//! handlers' annotations through the one route list ([`crate::routes`]) and its schemas from the
//! library's request and result types, so it cannot drift from what is served.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "s3-connector", description = "Amazon S3 for process automation: actions, Camunda jobs and Camunda's document API"),
    components(schemas(crate::error::ErrorBody, crate::error::ProblemBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The description's frame: title, version, security scheme and shared schemas. The paths
/// come from the route list ([`crate::routes`]).
pub fn frame() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
