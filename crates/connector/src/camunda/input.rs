//! Binding Camunda's job variables (`io.camunda:aws-s3:1`, element template versions 1-8) to a
//! connection and one of the three Camunda operations.
//!
//! The rules are those of `../shared/docs/CAMUNDA-CONTRACT.md` section 1: unknown fields are
//! ignored; `awsCredential` (template v6+) overrides inline `authentication` and keeps
//! `configuration.endpoint`; its region is the default, which `configuration.region` (template
//! v8's "regionOverride") overrides, and one of the two is required; a blank endpoint means none;
//! `asFile` missing means false and counts only when `documentReturnFormat` is absent. Every
//! violation is collected and reported at once, one line per property, in Camunda's format.

use serde_json::Value;

use crate::actions::{Action, CatalogEntry, CATALOG};
use crate::config::{ConnectionSettings, Secret};
use crate::documents::DocumentReference;
use crate::error::{Error, Result};

/// The three Camunda operations, with their inputs.
#[derive(Debug, Clone)]
pub enum CamundaOperation {
    /// `uploadObject`: put a document; the key falls back to the document's file name.
    Upload {
        /// Bucket.
        bucket: String,
        /// Key, when given.
        key: Option<String>,
        /// The document to upload.
        document: DocumentReference,
    },
    /// `downloadObject`: get an object as a document, text, JSON or (legacy) by content type.
    Download {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// How to return the content.
        format: ReturnFormat,
    },
    /// `deleteObject`: delete an object; a missing key succeeds.
    Delete {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// One of our own actions ([`job_actions`]), from `action` holding its request fields.
    Native(Box<Action>),
}

/// Our actions a job may run besides Camunda's three, named by `actionDiscriminator` with the
/// request fields under `action`: the catalog's actions whose [`ActionRequest::NOT_FOR_JOBS`]
/// is unset. `getObject` and `putObject` are not among them: their `file` would read or write
/// files on the worker's machine at a process modeller's choice; jobs move content through
/// documents (`uploadObject`, `downloadObject`).
///
/// [`ActionRequest::NOT_FOR_JOBS`]: crate::actions::ActionRequest::NOT_FOR_JOBS
pub fn job_actions() -> impl Iterator<Item = &'static CatalogEntry> {
    CATALOG.iter().filter(|e| e.for_jobs())
}

/// Whether `name` is one of [`job_actions`].
pub fn is_job_action(name: &str) -> bool {
    job_actions().any(|e| e.name == name)
}

/// How `downloadObject` returns the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnFormat {
    /// A document reference from the configured store (v5+ `DOCUMENT`, or legacy `asFile`).
    Document,
    /// The content as a string, decoded with this charset (v5+ `TEXT`).
    Text {
        /// Charset label, e.g. `UTF-8`, `ISO-8859-1`.
        encoding: String,
    },
    /// The content parsed as JSON (v5+ `JSON`).
    Json,
    /// Templates v1-v4 without `asFile`: by content type (text, JSON, else base64).
    ByContentType,
}

/// Job variables bound to a connection and an operation.
#[derive(Debug, Clone)]
pub struct CamundaInput {
    /// Where and how to connect.
    pub connection: ConnectionSettings,
    /// What to do.
    pub operation: CamundaOperation,
}

/// Collects violations in Camunda's format.
#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn add(&mut self, property: &str, message: &str) {
        self.0.push(format!(
            " - Property: {property}: Validation failed. Original message: {message}"
        ));
    }

    fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            crate::error::ErrorCode::InvalidInput,
            format!(
                "Found constraints violated while validating input:\n{}",
                self.0.join("\n")
            ),
        ))
    }
}

/// The value at a dotted path, e.g. `action.bucket`.
fn at<'a>(vars: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(vars, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

/// A string (numbers and booleans are taken as their text, as Camunda's Jackson binding
/// does); a blank or missing one is `None`.
fn text(vars: &Value, path: &str, v: &mut Violations) -> Option<String> {
    match at(vars, path)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => {
            v.add(path, "must be a string");
            None
        }
    }
}

fn required(vars: &Value, path: &str, v: &mut Violations) -> String {
    text(vars, path, v).unwrap_or_else(|| {
        if at(vars, path).is_none_or(|x| x.is_string()) {
            v.add(path, "must not be blank");
        }
        String::new()
    })
}

/// Reads `{type, accessKey, secretKey}` under `prefix` into the connection settings.
fn authentication(vars: &Value, prefix: &str, settings: &mut ConnectionSettings, v: &mut Violations) {
    let kind = text(vars, &format!("{prefix}.type"), v).unwrap_or_else(|| "credentials".into());
    match kind.as_str() {
        "credentials" => {
            let key = required(vars, &format!("{prefix}.accessKey"), v);
            let secret = required(vars, &format!("{prefix}.secretKey"), v);
            settings.access_key_id = Some(key);
            settings.secret_access_key = Some(Secret::new(secret));
        }
        "defaultCredentialsChain" => {
            settings.access_key_id = None;
            settings.secret_access_key = None;
        }
        _ => v.add(
            &format!("{prefix}.type"),
            "must be credentials or defaultCredentialsChain",
        ),
    }
}

impl CamundaInput {
    /// Binds job variables (secrets already replaced). Every violation is reported at once as
    /// one `InvalidInput` whose message is in Camunda's format.
    pub fn from_variables(vars: &Value) -> Result<CamundaInput> {
        let mut v = Violations::default();
        let mut connection = ConnectionSettings::default();
        if let Some(cred) = at(vars, "awsCredential") {
            // Template v6+: a reusable credential overrides inline authentication and region.
            authentication(cred, "authentication", &mut connection, &mut v);
            // Violations inside it are reported under its own name.
            for line in v.0.iter_mut() {
                *line = line.replace("Property: authentication.", "Property: awsCredential.authentication.");
            }
            // Template v8: `configuration.region` "overrides the default region in the selected
            // credential. Required when the credential has no default region."
            connection.region = text(vars, "configuration.region", &mut v).or_else(|| text(cred, "region", &mut v));
            if connection.region.is_none() {
                v.add(
                    "configuration.region",
                    "must not be blank: the credential has no default region, so give one here",
                );
            }
        } else {
            authentication(vars, "authentication", &mut connection, &mut v);
            connection.region = text(vars, "configuration.region", &mut v);
        }
        connection.endpoint = text(vars, "configuration.endpoint", &mut v);

        let discriminator = text(vars, "actionDiscriminator", &mut v);
        let operation = match discriminator.as_deref() {
            Some("uploadObject") => {
                let bucket = required(vars, "action.bucket", &mut v);
                let key = text(vars, "action.key", &mut v);
                let document = match at(vars, "action.document") {
                    None => {
                        v.add("action.document", "must not be null");
                        None
                    }
                    Some(doc) => match DocumentReference::from_value("action.document", doc) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            let detail = e.message.trim_start_matches("action.document: ").to_string();
                            v.add("action.document", &detail);
                            None
                        }
                    },
                };
                document.map(|document| CamundaOperation::Upload { bucket, key, document })
            }
            Some("downloadObject") => {
                let bucket = required(vars, "action.bucket", &mut v);
                let key = required(vars, "action.key", &mut v);
                let format = match text(vars, "documentReturnFormat.choice", &mut v).as_deref() {
                    Some("DOCUMENT") => Some(ReturnFormat::Document),
                    Some("TEXT") => Some(ReturnFormat::Text {
                        encoding: text(vars, "documentReturnFormat.encoding", &mut v).unwrap_or_else(|| "UTF-8".into()),
                    }),
                    Some("JSON") => Some(ReturnFormat::Json),
                    Some(_) => {
                        v.add("documentReturnFormat.choice", "must be DOCUMENT, TEXT or JSON");
                        None
                    }
                    // Templates v1-v4: asFile, missing meaning false.
                    None => match at(vars, "action.asFile") {
                        None | Some(Value::Bool(false)) => Some(ReturnFormat::ByContentType),
                        Some(Value::Bool(true)) => Some(ReturnFormat::Document),
                        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(ReturnFormat::Document),
                        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(ReturnFormat::ByContentType),
                        Some(_) => {
                            v.add("action.asFile", "must be true or false");
                            None
                        }
                    },
                };
                format.map(|format| CamundaOperation::Download { bucket, key, format })
            }
            Some("deleteObject") => {
                let bucket = required(vars, "action.bucket", &mut v);
                let key = required(vars, "action.key", &mut v);
                Some(CamundaOperation::Delete { bucket, key })
            }
            Some(name) if is_job_action(name) => {
                // Our own request shape, validated as `exec` validates it.
                let mut request = match at(vars, "action") {
                    Some(Value::Object(fields)) => fields.clone(),
                    None => serde_json::Map::new(),
                    Some(_) => {
                        v.add("action", "must be an object holding the request fields");
                        serde_json::Map::new()
                    }
                };
                request.insert("action".into(), Value::String(name.to_string()));
                match Action::from_json(Value::Object(request)) {
                    Ok(action) => Some(CamundaOperation::Native(Box::new(action))),
                    Err(e) => {
                        v.add("action", &e.message);
                        None
                    }
                }
            }
            Some(_) => {
                v.add(
                    "actionDiscriminator",
                    &format!(
                        "must be uploadObject, downloadObject, deleteObject or one of {}",
                        job_actions().map(|e| e.name).collect::<Vec<_>>().join(", ")
                    ),
                );
                None
            }
            None => {
                v.add("actionDiscriminator", "must not be blank");
                None
            }
        };
        v.into_result()?;
        let operation = operation.ok_or_else(|| Error::invalid_input("actionDiscriminator", "no operation"))?;
        Ok(CamundaInput { connection, operation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn camundas_own_example_variables_bind() {
        let up =
            CamundaInput::from_variables(&crate::documents::reference::camunda_fixture("uploadActionsExample.json")[0])
                .expect("upload");
        assert!(
            matches!(&up.operation, CamundaOperation::Upload { bucket, key: Some(k), document: DocumentReference::Camunda(_) } if bucket == "connector-aws-s3-test" && k == "attachment")
        );
        assert_eq!(up.connection.region.as_deref(), Some("eu-central-1"));
        assert_eq!(up.connection.access_key_id.as_deref(), Some("test"));
        let down = CamundaInput::from_variables(
            &crate::documents::reference::camunda_fixture("downloadActionsExample.json")[0],
        )
        .expect("download");
        assert!(matches!(&down.operation,
            CamundaOperation::Download { bucket, key, format: ReturnFormat::ByContentType }
                if bucket == "connector-aws-s3-test" && key == "attachment"));
        let del =
            CamundaInput::from_variables(&crate::documents::reference::camunda_fixture("deleteActionsExample.json")[0])
                .expect("delete");
        assert!(matches!(&del.operation,
            CamundaOperation::Delete { bucket, key } if bucket == "connector-aws-s3-test" && key == "test"));
    }

    #[test]
    fn our_actions_run_from_job_variables_but_not_the_file_ones() {
        let vars = |name: &str, action: Value| json!({"authentication": {"accessKey": "a", "secretKey": "s"}, "actionDiscriminator": name, "action": action});
        let ok = CamundaInput::from_variables(&vars("listObjects", json!({"bucket": "b", "prefix": "in/"})))
            .expect("listObjects binds");
        assert!(matches!(&ok.operation, CamundaOperation::Native(a) if a.name() == "listObjects"));
        let err = CamundaInput::from_variables(&vars("listObjects", json!({"bucket": "b", "prefx": "in/"})))
            .expect_err("a misspelt field is reported");
        assert!(
            err.message.contains("Property: action:") && err.message.contains("prefx"),
            "{}",
            err.message
        );
        let not_jobs: Vec<&str> = crate::actions::ACTION_NAMES
            .iter()
            .copied()
            .filter(|a| !is_job_action(a))
            .collect();
        assert_eq!(
            not_jobs,
            ["getObject", "putObject", "deleteObject"],
            "deleteObject is Camunda's"
        );
        for refused in ["getObject", "putObject"] {
            let err = CamundaInput::from_variables(&vars(
                refused,
                json!({"bucket": "b", "key": "k", "file": "/etc/passwd"}),
            ))
            .expect_err("file actions are not job actions");
            assert!(err.message.contains("must be uploadObject"), "{}", err.message);
        }
    }

    #[test]
    fn violations_are_listed_one_per_property_in_camundas_format() {
        let err = CamundaInput::from_variables(&json!({
            "actionDiscriminator": "uploadObject",
            "authentication": {"type": "credentials", "accessKey": " "},
            "action": {"bucket": "", "document": null}
        }))
        .expect_err("invalid");
        assert_eq!(err.code, crate::error::ErrorCode::InvalidInput);
        assert_eq!(
            err.message,
            "Found constraints violated while validating input:\n\
             \x20- Property: authentication.accessKey: Validation failed. Original message: must not be blank\n\
             \x20- Property: authentication.secretKey: Validation failed. Original message: must not be blank\n\
             \x20- Property: action.bucket: Validation failed. Original message: must not be blank\n\
             \x20- Property: action.document: Validation failed. Original message: must not be null"
        );
    }

    #[test]
    fn aws_credential_overrides_inline_authentication_and_region_but_keeps_the_endpoint() {
        let input = CamundaInput::from_variables(&json!({
            "actionDiscriminator": "deleteObject",
            "authentication": {"type": "credentials", "accessKey": "inline", "secretKey": "inline"},
            "configuration": {"region": "us-west-2", "endpoint": "http://127.0.0.1:9000"},
            "awsCredential": {"authentication": {"type": "credentials", "accessKey": "shared", "secretKey": "s"}, "region": "eu-west-1"},
            "action": {"bucket": "b", "key": "k"}
        }))
        .expect("valid");
        assert_eq!(input.connection.access_key_id.as_deref(), Some("shared"));
        assert_eq!(
            input.connection.region.as_deref(),
            Some("us-west-2"),
            "v8: configuration.region overrides the credential's region"
        );
        assert_eq!(input.connection.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let defaulted = CamundaInput::from_variables(&json!({
            "actionDiscriminator": "deleteObject",
            "awsCredential": {"authentication": {"type": "defaultCredentialsChain"}, "region": "eu-west-1"},
            "configuration": {"region": " "},
            "action": {"bucket": "b", "key": "k"}
        }))
        .expect("the credential's region is the default");
        assert_eq!(defaulted.connection.region.as_deref(), Some("eu-west-1"));
        let override_only = CamundaInput::from_variables(&json!({
            "actionDiscriminator": "deleteObject",
            "awsCredential": {"authentication": {"type": "defaultCredentialsChain"}},
            "configuration": {"region": "us-east-1"},
            "action": {"bucket": "b", "key": "k"}
        }))
        .expect("a credential without a region, with an override");
        assert_eq!(override_only.connection.region.as_deref(), Some("us-east-1"));
        let err = CamundaInput::from_variables(&json!({
            "actionDiscriminator": "deleteObject",
            "awsCredential": {"authentication": {"type": "defaultCredentialsChain"}, "region": " "},
            "action": {"bucket": "b", "key": "k"}
        }))
        .expect_err("no region anywhere");
        assert!(
            err.message
                .contains("Property: configuration.region: Validation failed. Original message: must not be blank"),
            "{}",
            err.message
        );
    }

    #[test]
    fn download_formats_by_template_version() {
        let base = |extra: Value| {
            let mut v = json!({"actionDiscriminator": "downloadObject", "authentication": {"type": "defaultCredentialsChain"},
                "configuration": {"endpoint": "  "}, "action": {"bucket": "b", "key": "k"}});
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                for (k, x) in e {
                    if k == "action" {
                        if let Some(a) = o.get_mut("action").and_then(|a| a.as_object_mut()) {
                            a.extend(x.as_object().cloned().unwrap_or_default());
                        }
                    } else {
                        o.insert(k.clone(), x.clone());
                    }
                }
            }
            CamundaInput::from_variables(&v)
        };
        let format = |extra: Value| match base(extra).map(|i| i.operation) {
            Ok(CamundaOperation::Download { format, .. }) => Ok(format),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        // v1/v2: asFile, missing means false.
        assert_eq!(format(json!({})).ok(), Some(ReturnFormat::ByContentType));
        assert_eq!(
            format(json!({"action": {"asFile": true}})).ok(),
            Some(ReturnFormat::Document)
        );
        // v5+: documentReturnFormat wins over asFile.
        assert_eq!(
            format(json!({"action": {"asFile": true}, "documentReturnFormat": {"choice": "JSON"}})).ok(),
            Some(ReturnFormat::Json)
        );
        assert_eq!(
            format(json!({"documentReturnFormat": {"choice": "TEXT", "encoding": ""}})).ok(),
            Some(ReturnFormat::Text {
                encoding: "UTF-8".into()
            })
        );
        assert_eq!(
            format(json!({"documentReturnFormat": {"choice": "TEXT", "encoding": "ISO-8859-1"}})).ok(),
            Some(ReturnFormat::Text {
                encoding: "ISO-8859-1".into()
            })
        );
        assert_eq!(
            format(json!({"documentReturnFormat": {"choice": " "}})).ok(),
            Some(ReturnFormat::ByContentType),
            "blank counts as absent"
        );
        assert!(format(json!({"documentReturnFormat": {"choice": "PDF"}})).is_err());
        // A blank endpoint means none; unknown fields are ignored.
        let input = base(json!({"action": {"helperField": 1}, "somethingNew": true})).expect("valid");
        assert_eq!(input.connection.endpoint, None);
    }

    #[test]
    fn v6_template_null_document_and_bad_discriminators_are_clear() {
        let err = CamundaInput::from_variables(&json!({"actionDiscriminator": "uploadObject",
            "authentication": {"type": "defaultCredentialsChain"}, "action": {"bucket": "b", "document": null,
            "action_document_documentSource": "camunda"}}))
        .expect_err("null document");
        assert!(
            err.message
                .ends_with(" - Property: action.document: Validation failed. Original message: must not be null"),
            "{}",
            err.message
        );
        for bad in [json!({}), json!({"actionDiscriminator": "renameObject"})] {
            let err = CamundaInput::from_variables(&bad).expect_err("discriminator");
            assert!(err.message.contains("Property: actionDiscriminator"), "{}", err.message);
        }
        let err = CamundaInput::from_variables(
            &json!({"actionDiscriminator": "uploadObject", "authentication": {"type": "defaultCredentialsChain"},
            "action": {"bucket": "b", "document": [1, 2]}}),
        )
        .expect_err("two documents");
        assert!(err.message.contains("list of 2 documents"), "{}", err.message);
    }
}
