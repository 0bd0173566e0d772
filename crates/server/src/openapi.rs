//! The OpenAPI description served at `/openapi.json`, generated from the handlers' annotations
//! and the library's request and result types, so it cannot drift from what is served.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The body of every error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable code: one of the library's (InvalidInput, NoSuchKey, ...) or Unauthorized,
    /// NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType, IncompleteBody.
    code: String,
    /// What went wrong and what to do; for 5xx, where to find the details.
    message: String,
    /// The request's id, also in the `x-request-id` header and the service log.
    request_id: String,
}

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
    paths(
        crate::actions::post_action,
        crate::jobs::post_job,
        crate::documents::create,
        crate::documents::read,
        crate::documents::remove,
        crate::probes::health,
        crate::probes::ready,
        crate::probes::metrics,
        crate::probes::openapi,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The API description.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
