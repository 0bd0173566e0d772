//! How a job ends: the envelope Camunda's connector runtime puts around a connector.
//!
//! [`run_job`] takes what a job worker receives (variables, task headers, current retries) and
//! returns the [`Outcome`] to report: complete with variables, fail with retries, backoff and
//! error variables, or throw a BPMN error. It follows Camunda's runtime step by step:
//! 1. secrets in the variables are replaced (and every value used is masked in all output);
//! 2. a malformed `retryBackoff` or `jobTimeout` header fails the job at once (retries 0);
//! 3. the operation runs; on success `resultVariable` and `resultExpression` shape the
//!    output variables, which may not exceed 1.5 MiB;
//! 4. on failure the error becomes `{"error": {type, message, code}}`, retries drop by one
//!    (to 0 for input errors, so an incident is raised at once);
//! 5. `errorExpression` is evaluated after success and after failure, with the result (or the
//!    error) in context, also as `response`, and `job.retries`; `bpmnError`, `jobError` and
//!    `ignoreError` results override the outcome.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::feel;
use super::secrets::{replace_secrets, UsedSecrets};
use super::CamundaInput;
use crate::client::{ConnectOptions, Connector};
use crate::config::TimeoutSettings;
use crate::documents::external::ExternalFetch;
use crate::documents::DocumentStore;
use crate::error::{Error, ErrorCode, Result};
use crate::net::EndpointPolicy;

use crate::config::parse_iso8601_duration as parse_duration;

/// Zeebe's safe limit for variables in one command (Camunda's `InlineSizeGuard`).
pub const MAX_VARIABLES_BYTES: usize = 3 * 1024 * 1024 / 2;

/// Camunda's limit on error messages, protecting Zeebe from huge commands.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 6000;

/// What a worker received for one job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct JobRequest {
    /// The job's variables (the element template's input mappings).
    #[serde(default)]
    pub variables: Value,
    /// The task headers: `resultVariable`, `resultExpression`, `errorExpression`,
    /// `retryBackoff`, `jobTimeout`, ...
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The job's remaining retries (the task definition's `retries`, 3 by default).
    #[serde(default = "default_retries")]
    pub retries: i64,
}

fn default_retries() -> i64 {
    3
}

impl JobRequest {
    /// Reads `{"variables": {...}, "headers": {...}, "retries": N}`, as `POST /v1/jobs` takes
    /// it. Unknown members, variables that are not an object, headers that are not strings and
    /// negative retries are `InvalidInput`.
    pub fn from_value(value: Value) -> Result<JobRequest> {
        let Value::Object(mut members) = value else {
            return Err(Error::invalid_input(
                "job",
                "must be a JSON object with variables, headers and retries",
            ));
        };
        if let Some(name) = members
            .keys()
            .find(|k| !matches!(k.as_str(), "variables" | "headers" | "retries"))
        {
            return Err(Error::invalid_input(
                name,
                "is not a job member; a job has variables, headers and retries",
            ));
        }
        let variables = members.remove("variables").unwrap_or(Value::Object(Map::new()));
        let headers = match members.remove("headers") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(h)) => h,
            Some(_) => return Err(Error::invalid_input("headers", "must be an object of strings")),
        };
        let retries = match members.remove("retries") {
            None | Some(Value::Null) => default_retries(),
            Some(v) => v
                .as_i64()
                .filter(|r| *r >= 0)
                .ok_or_else(|| Error::invalid_input("retries", "must be a whole number, 0 or more"))?,
        };
        let request = JobRequest {
            variables,
            headers,
            retries,
        };
        request.check()?;
        Ok(request)
    }

    /// Checks what Zeebe guarantees for a real job: variables are an object and task headers
    /// are strings. A job built by hand that breaks this is a mistake to report.
    pub fn check(&self) -> Result<()> {
        if !self.variables.is_object() {
            return Err(Error::invalid_input("variables", "must be a JSON object"));
        }
        if let Some((name, _)) = self.headers.iter().find(|(_, v)| !v.is_string()) {
            return Err(Error::invalid_input(
                "headers",
                format!("header {name:?} must be a string"),
            ));
        }
        Ok(())
    }
}

/// What the job worker reports back to the engine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Complete the job with these variables.
    #[cfg_attr(feature = "openapi", schema(title = "Complete"))]
    Complete {
        /// Process variables to set.
        // Any JSON object; stated as "any value" because some client generators (openapi-python-client)
        // fail on an inline map inside a union's choice.
        #[cfg_attr(feature = "openapi", schema(value_type = Value))]
        variables: Map<String, Value>,
    },
    /// Fail the job; with `retries` 0 the engine raises an incident.
    #[serde(rename_all = "camelCase")]
    #[cfg_attr(feature = "openapi", schema(title = "Fail"))]
    Fail {
        /// Retries left.
        retries: i64,
        /// How long the engine waits before the next attempt (ISO-8601).
        retry_backoff: String,
        /// The incident message (secrets masked, at most 6000 characters).
        error_message: String,
        /// Variables to set, e.g. `{"error": {...}}`.
        // Any JSON object; stated as "any value" because some client generators (openapi-python-client)
        // fail on an inline map inside a union's choice.
        #[cfg_attr(feature = "openapi", schema(value_type = Value))]
        variables: Map<String, Value>,
    },
    /// Throw a BPMN error, caught by an error boundary event with this code.
    #[serde(rename_all = "camelCase")]
    #[cfg_attr(feature = "openapi", schema(title = "BpmnError"))]
    BpmnError {
        /// The BPMN error code.
        error_code: String,
        /// The error message.
        error_message: String,
        /// Variables to set.
        // Any JSON object; stated as "any value" because some client generators (openapi-python-client)
        // fail on an inline map inside a union's choice.
        #[cfg_attr(feature = "openapi", schema(value_type = Value))]
        variables: Map<String, Value>,
    },
}

/// How jobs' own S3 connections are made: which endpoints they may name, and the operator's
/// timeouts and retries, which a job's variables cannot change.
#[derive(Debug, Clone, Default)]
pub struct JobConnections {
    /// The guard for endpoints a job names, and the operator's own (trusted) endpoints.
    pub endpoints: EndpointPolicy,
    /// The operator's timeouts, applied to every job's connection.
    pub timeouts: Option<TimeoutSettings>,
    /// The operator's attempts per request.
    pub max_attempts: Option<u32>,
    /// The registry jobs' connections share (their clean-up and running uploads), so that one
    /// job's clean-up never aborts another's upload and a service's shutdown waits for all of
    /// it; `None`: each job has its own. Each job waits for its own clean-up when it ends.
    pub cleanup: Option<crate::client::CleanupTasks>,
    /// Where jobs' connections count their S3 side: the front end's metrics.
    pub metrics: Option<crate::telemetry::S3Metrics>,
}

/// Where documents live and how secrets and external documents are resolved for jobs.
pub struct JobEnv<'a> {
    /// Documents read for uploads and written for document downloads.
    pub store: &'a dyn DocumentStore,
    /// Guard and limits for external documents.
    pub external: &'a ExternalFetch,
    /// Secret lookup: `{{secrets.NAME}}` becomes `secrets(NAME)`.
    pub secrets: &'a (dyn Fn(&str) -> Option<String> + Send + Sync),
    /// How the job's own S3 connection is made.
    pub connections: &'a JobConnections,
    /// Called with the job's connection once it is made, so that a caller that cancels the
    /// job can still wait for its clean-up ([`Connector::finish_cleanup`]).
    pub connected: Option<&'a (dyn Fn(&Connector) + Send + Sync)>,
}

/// A header's text, `None` when absent or blank.
fn header<'a>(headers: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_ERROR_MESSAGE_CHARS).collect()
}

/// How the operation itself went.
enum Ran {
    /// It succeeded; `output` holds the variables from `resultVariable`/`resultExpression`.
    Success {
        output: Map<String, Value>,
        response: Value,
    },
    /// It failed, leaving `retries`.
    Failure { error: Error, retries: i64 },
}

/// What an `errorExpression` decided.
#[derive(Debug, PartialEq)]
enum Decision {
    Bpmn {
        code: String,
        message: String,
        variables: Map<String, Value>,
    },
    Job {
        message: String,
        variables: Map<String, Value>,
        retries: i64,
        backoff: String,
    },
    Ignore {
        variables: Map<String, Value>,
    },
}

/// Runs one job and says how it ends. Never panics on anything in the job.
pub async fn run_job(request: &JobRequest, env: &JobEnv<'_>) -> Outcome {
    let (variables, used) = replace_secrets(&request.variables, env.secrets);
    let headers = &request.headers;
    let backoff = header(headers, "retryBackoff").unwrap_or("PT0S").to_string();

    // Camunda checks these headers before it runs the connector; a bad one is a modelling
    // error, so the job goes straight to an incident.
    for name in ["retryBackoff", "jobTimeout"] {
        if let Some(text) = header(headers, name) {
            if parse_duration(text).is_none() {
                let error = Error::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "Failed to parse the {name} header. Expected an ISO-8601 duration such as PT30S, got: {text}"
                    ),
                );
                return fail(0, "PT0S", &error, &used);
            }
        }
    }

    let ran = match execute(&variables, env).await {
        Ok(result) => match output_variables(&result, headers) {
            Ok(output) => {
                let response = if output.is_empty() {
                    result
                } else {
                    Value::Object(output.clone())
                };
                Ran::Success { output, response }
            }
            Err(error) => Ran::Failure { error, retries: 0 },
        },
        Err(error) => {
            let retries = if error.code == ErrorCode::InvalidInput {
                0
            } else {
                request.retries - 1
            };
            Ran::Failure { error, retries }
        }
    };
    let response = match &ran {
        Ran::Success { response, .. } => response.clone(),
        Ran::Failure { error, .. } => json!({ "error": error_value(error, &used) }),
    };
    let decision = match examine_error_expression(&response, headers, request.retries) {
        Ok(decision) => decision,
        Err(error) => return fail(0, &backoff, &error, &used),
    };
    let outcome = match decision {
        Some(Decision::Bpmn {
            code,
            message,
            variables,
        }) => Outcome::BpmnError {
            error_code: code,
            error_message: truncate(&used.mask(&message)),
            variables: masked(&variables, &used),
        },
        Some(Decision::Job {
            message,
            mut variables,
            retries,
            backoff,
        }) => {
            // As Camunda's JobError: the message is also set as the `error` variable.
            variables.insert("error".into(), Value::String(message.clone()));
            Outcome::Fail {
                retries: retries.max(0),
                retry_backoff: backoff,
                error_message: truncate(&used.mask(&message)),
                variables: masked(&variables, &used),
            }
        }
        Some(Decision::Ignore { variables }) => Outcome::Complete {
            variables: masked(&variables, &used),
        },
        None => match ran {
            Ran::Success { output, .. } => Outcome::Complete {
                variables: masked(&output, &used),
            },
            Ran::Failure { error, retries } => fail(retries, &backoff, &error, &used),
        },
    };
    match outcome_size_error(&outcome) {
        Some(error) => fail(0, &backoff, &error, &used),
        None => outcome,
    }
}

/// Binds the variables and runs the operation.
async fn execute(variables: &Value, env: &JobEnv<'_>) -> Result<Value> {
    let mut input = CamundaInput::from_variables(variables)?;
    let guard = env
        .connections
        .endpoints
        .guard_for(input.connection.endpoint.as_deref());
    if guard.is_some() && input.connection.access_key_id.is_none() {
        // The default chain signs with the service's own identity: sending that (its key id,
        // its session token) to an endpoint the process chose would hand it to whoever runs it.
        return Err(Error::invalid_input(
            "authentication.type",
            "defaultCredentialsChain uses the service's own AWS credentials, so it works only with AWS's endpoints or the endpoint the operator configured; give accessKey and secretKey for this endpoint",
        ));
    }
    input.connection.timeouts = env.connections.timeouts.clone();
    input.connection.max_attempts = env.connections.max_attempts;
    let conn = Connector::connect_with(
        input.connection,
        ConnectOptions {
            guard,
            cleanup: env.connections.cleanup.clone(),
            metrics: env.connections.metrics.clone(),
        },
    )
    .await?;
    if let Some(connected) = env.connected {
        connected(&conn);
    }
    let result = input.operation.execute(&conn, env.store, env.external).await;
    conn.finish_cleanup(crate::transfer::CLEANUP_WAIT).await;
    result
}

/// The error's message as a job reports it. When the store refused the request, the message
/// starts as Camunda's connector words it (the AWS SDK for Java's message, e.g. `The specified
/// key does not exist. (Service: S3, Status Code: 404, Request ID: ...)`), because processes
/// match on that text in their error expressions; our own message follows.
pub fn job_message(error: &Error) -> String {
    match &error.store {
        Some(reply) => format!("{}; {}", reply.java_sdk_message(), error.message),
        None => error.message.clone(),
    }
}

/// `{type, message, code}`: the error as processes see it. `type` names Camunda's exception
/// class for the kind of failure, `code` is our stable code.
fn error_value(error: &Error, used: &UsedSecrets) -> Value {
    let kind = if error.code == ErrorCode::InvalidInput {
        "io.camunda.connector.api.error.ConnectorInputException"
    } else {
        "io.camunda.connector.api.error.ConnectorException"
    };
    json!({
        "type": kind,
        "message": truncate(&used.mask(&job_message(error))),
        "code": error.code.as_str(),
    })
}

fn fail(retries: i64, backoff: &str, error: &Error, used: &UsedSecrets) -> Outcome {
    let mut variables = Map::new();
    variables.insert("error".into(), error_value(error, used));
    Outcome::Fail {
        retries: retries.max(0),
        retry_backoff: backoff.to_string(),
        error_message: truncate(&used.mask(&job_message(error))),
        variables,
    }
}

fn masked(variables: &Map<String, Value>, used: &UsedSecrets) -> Map<String, Value> {
    match used.mask_value(&Value::Object(variables.clone())) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Variables over Zeebe's limit cannot be sent: Camunda raises an incident instead.
fn outcome_size_error(outcome: &Outcome) -> Option<Error> {
    let variables = match outcome {
        Outcome::Complete { variables } | Outcome::BpmnError { variables, .. } | Outcome::Fail { variables, .. } => {
            variables
        }
    };
    if variables.is_empty() {
        return None;
    }
    let size = serde_json::to_vec(variables).map(|v| v.len()).unwrap_or(usize::MAX);
    (size > MAX_VARIABLES_BYTES).then(|| {
        Error::new(
            ErrorCode::InvalidInput,
            format!(
                "Output variables payload ({size} bytes) exceeds the 1.5 MB safe variable size limit for Zeebe job completion. To handle large payloads, enable the 'Create document' option where available."
            ),
        )
    })
}

/// The FEEL scope of result and error expressions: the value's own members (when it is an
/// object), then `response` holding the whole value, then `extra`.
fn scope_of(value: &Value, extra: Option<(&str, Value)>) -> Map<String, Value> {
    let mut scope = value.as_object().cloned().unwrap_or_default();
    scope.insert("response".into(), value.clone());
    if let Some((name, v)) = extra {
        scope.insert(name.into(), v);
    }
    scope
}

fn expression_error(which: &str, expression: &str, problem: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::InvalidInput,
        format!("{which} '{}' failed: {problem}", feel::strip(expression)),
    )
}

/// `resultVariable` stores the whole result; `resultExpression` maps it to a context whose
/// entries become variables.
fn output_variables(result: &Value, headers: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    if let Some(name) = header(headers, "resultVariable") {
        out.insert(name.to_string(), result.clone());
    }
    if let Some(expression) = header(headers, "resultExpression") {
        let value = feel::evaluate(expression, &scope_of(result, None))
            .map_err(|e| expression_error("Result expression", expression, e))?;
        match value {
            Value::Null => {}
            Value::Object(map) => out.extend(map),
            other => {
                return Err(expression_error(
                    "Result expression",
                    expression,
                    format!("it must return a context (a JSON object), but returned {other}"),
                ));
            }
        }
    }
    Ok(out)
}

/// Evaluates `errorExpression` against the response or the error; `None` means it changes
/// nothing (no expression, null, `{}`, or a `bpmnError` without a code).
fn examine_error_expression(response: &Value, headers: &Map<String, Value>, retries: i64) -> Result<Option<Decision>> {
    let Some(expression) = header(headers, "errorExpression") else {
        return Ok(None);
    };
    let scope = scope_of(response, Some(("job", json!({ "retries": retries }))));
    let value = feel::evaluate(expression, &scope).map_err(|e| expression_error("Error expression", expression, e))?;
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) if map.is_empty() => return Ok(None),
        Value::Object(map) => map,
        other => {
            return Err(expression_error(
                "Error expression",
                expression,
                format!("it must return a context (a JSON object) or null, but returned {other}"),
            ));
        }
    };
    let text = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_string);
    let variables = |name: &str| -> Result<Map<String, Value>> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(v)) => Ok(v.clone()),
            Some(other) => Err(expression_error(
                "Error expression",
                expression,
                format!("'{name}' must be a context, but is {other}"),
            )),
        }
    };
    match map.get("errorType").and_then(Value::as_str) {
        Some("bpmnError") => {
            // Like jobError and ignoreError: variables that are not a context are a mistake to
            // report, not to drop silently.
            let variables = variables("variables")?;
            Ok(text("errorCode").map(|code| Decision::Bpmn {
                code,
                message: text("errorMessage").unwrap_or_default(),
                variables,
            }))
        }
        Some("jobError") => {
            let retries = match map.get("retries") {
                None | Some(Value::Null) => 0,
                Some(v) => v.as_f64().map(|f| f as i64).ok_or_else(|| {
                    expression_error(
                        "Error expression",
                        expression,
                        format!("'retries' must be a number, but is {v}"),
                    )
                })?,
            };
            let backoff = match text("retryBackoff") {
                None => "PT0S".to_string(),
                Some(b) if parse_duration(&b).is_some() => b,
                Some(b) => {
                    return Err(expression_error(
                        "Error expression",
                        expression,
                        format!("'retryBackoff' must be a duration, but is {b}"),
                    ));
                }
            };
            Ok(Some(Decision::Job {
                message: text("errorMessage").unwrap_or_default(),
                variables: variables("variables")?,
                retries,
                backoff,
            }))
        }
        Some("ignoreError") => Ok(Some(Decision::Ignore {
            variables: variables("variables")?,
        })),
        _ => Err(expression_error(
            "Error expression",
            expression,
            "it must return null or the result of bpmnError(...), jobError(...) or ignoreError(...)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_masked_then_cut_at_6000_characters() {
        let (_, used) = replace_secrets(&json!("{{secrets.K}}"), &|_| Some("hunter2".into()));
        let long = format!("key hunter2 {}", "é".repeat(7000));
        let out = fail(2, "PT5S", &Error::new(ErrorCode::ServiceError, long), &used);
        let Outcome::Fail {
            error_message,
            variables,
            retries,
            ..
        } = out
        else {
            panic!("not a failure")
        };
        assert_eq!(retries, 2);
        assert_eq!(error_message.chars().count(), MAX_ERROR_MESSAGE_CHARS);
        assert!(error_message.starts_with("key *** "), "{}", &error_message[..20]);
        assert_eq!(variables["error"]["message"], json!(error_message));
        assert_eq!(variables["error"]["code"], "ServiceError");
    }

    fn headers(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()
    }

    #[test]
    fn result_variable_and_expression_both_apply() {
        let result = json!({"bucket": "b", "key": "k", "link": "u"});
        let out = output_variables(
            &result,
            &headers(&[
                ("resultVariable", "s3"),
                ("resultExpression", "={fileKey: key, again: response.bucket}"),
            ]),
        )
        .expect("maps");
        assert_eq!(Value::Object(out), json!({"s3": result, "fileKey": "k", "again": "b"}));
        let err = output_variables(&result, &headers(&[("resultExpression", "=key")])).expect_err("not a context");
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("must return a context"), "{}", err.message);
    }

    #[test]
    fn error_expression_decisions() {
        let error = json!({"error": {"type": "t", "message": "gone", "code": "NoSuchKey"}});
        let h = |e: &str| headers(&[("errorExpression", e)]);
        let d = examine_error_expression(
            &error,
            &h(r#"=if error.code = "NoSuchKey" then bpmnError("NOT_FOUND", error.message) else null"#),
            3,
        );
        assert_eq!(
            d.expect("evaluates"),
            Some(Decision::Bpmn {
                code: "NOT_FOUND".into(),
                message: "gone".into(),
                variables: Map::new()
            })
        );
        let d = examine_error_expression(
            &error,
            &h(r#"=jobError("again", {n: job.retries}, 2, duration("PT5S"))"#),
            3,
        );
        assert_eq!(
            d.expect("evaluates"),
            Some(Decision::Job {
                message: "again".into(),
                variables: json!({"n": 3}).as_object().cloned().unwrap_or_default(),
                retries: 2,
                backoff: "PT5S".into()
            })
        );
        for nothing in ["=null", "={}", "=bpmnError(null, \"x\")", "  "] {
            assert_eq!(
                examine_error_expression(&error, &h(nothing), 3).expect("evaluates"),
                None,
                "{nothing}"
            );
        }
        assert!(examine_error_expression(&error, &h("={a: 1}"), 3).is_err());
        assert!(examine_error_expression(&error, &h(r#"=bpmnError("C", "m", "not a context")"#), 3).is_err());
        assert!(examine_error_expression(&error, &h("=1 +"), 3).is_err());
    }
}
