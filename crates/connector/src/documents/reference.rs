//! Document references, serialized exactly as Camunda's runtime does.
//!
//! Three kinds, keyed by `camunda.document.type`:
//! - `camunda`: a document in a store (`storeId`, `documentId`, `contentHash`, `metadata`);
//! - `inline`: the content itself (`content`, `name`, `contentType`);
//! - `external`: a URL to fetch (`url`, `name`).
//!
//! Serialization rules from Camunda's `DocumentSerializerTest`: `metadata` members are
//! omitted when empty, `contentHash` is written even when null, and inline/external optional
//! fields are omitted when absent.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A reference to a document, as processes pass it between steps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "camunda.document.type", rename_all = "lowercase")]
pub enum DocumentReference {
    /// A document held by a document store (boxed: it is much larger than the others).
    Camunda(Box<CamundaReference>),
    /// Content carried in the reference itself.
    Inline(InlineDocument),
    /// A document at a URL.
    External(ExternalDocument),
}

/// A document held by a store.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CamundaReference {
    /// The store that holds it, e.g. `in-memory`.
    pub store_id: String,
    /// Its id within the store.
    pub document_id: String,
    /// SHA-256 of the content, lowercase hex; written as `null` when unknown.
    #[serde(default)]
    pub content_hash: Option<String>,
    /// What is known about the document.
    #[serde(default)]
    pub metadata: DocumentMetadata,
}

/// Metadata of a stored document. Each member is omitted when empty.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    /// Media type, e.g. `application/pdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// When the document stops being available, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The file name to present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// The process definition that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_definition_id: Option<String>,
    /// The process instance that created it (Camunda sends a number or a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_instance_key: Option<Value>,
    /// Anything else the creator attached.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_properties: BTreeMap<String, Value>,
}

/// Content carried in the reference.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineDocument {
    /// The content as text. On input any JSON value is accepted and kept as compact JSON text.
    #[serde(deserialize_with = "content_as_text")]
    pub content: String,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A document at a URL.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDocument {
    /// Where to fetch it (http or https).
    pub url: String,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A string stays as it is; any other JSON value becomes its compact JSON text (ADR-0005).
fn content_as_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

impl DocumentReference {
    /// Reads a reference from job variables. A one-element array of a reference is accepted,
    /// as Camunda's document pickers produce one. `field` names the variable for errors.
    pub fn from_value(field: &str, value: &Value) -> Result<DocumentReference> {
        let single = match value {
            Value::Array(items) if items.len() == 1 => &items[0],
            Value::Array(items) => {
                return Err(Error::invalid_input(
                    field,
                    format!(
                        "is a list of {} documents; give exactly one document reference",
                        items.len()
                    ),
                ))
            }
            Value::Null => {
                return Err(Error::invalid_input(
                    field,
                    "is null: pass a document reference (an object with \"camunda.document.type\")",
                ))
            }
            other => other,
        };
        let Some(kind) = single.get("camunda.document.type") else {
            return Err(Error::invalid_input(
                field,
                "is not a document reference: it has no \"camunda.document.type\" (camunda, inline or external)",
            ));
        };
        let kind = kind.as_str().map(str::to_string).unwrap_or_else(|| kind.to_string());
        serde_json::from_value(single.clone())
            .map_err(|e| Error::invalid_input(field, format!("is not a valid {kind} document reference: {e}")))
    }
}

/// One of Camunda's fixtures from `tests/fixtures/camunda`, for unit tests; a missing or
/// malformed file fails the test.
#[cfg(test)]
pub(crate) fn camunda_fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/camunda")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_exactly_as_camundas_fixtures() {
        for name in [
            "docref-serialized-camunda.json",
            "docref-serialized-external.json",
            "docref-serialized-inline.json",
            "docref-serialized-inline-minimal.json",
        ] {
            let expected = super::camunda_fixture(name);
            let parsed = DocumentReference::from_value("document", &expected).unwrap_or_else(|e| panic!("{name}: {e}"));
            let written = serde_json::to_value(&parsed).unwrap_or_default();
            assert_eq!(written, expected, "{name} does not round-trip exactly");
        }
    }

    #[test]
    fn content_hash_is_written_even_when_null_and_empty_metadata_members_are_not() {
        let r = DocumentReference::Camunda(Box::new(CamundaReference {
            store_id: "in-memory".into(),
            document_id: "d".into(),
            content_hash: None,
            metadata: DocumentMetadata {
                size: Some(3),
                ..Default::default()
            },
        }));
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"camunda.document.type": "camunda", "storeId": "in-memory", "documentId": "d",
                "contentHash": null, "metadata": {"size": 3}})
        );
    }

    #[test]
    fn inline_input_keeps_json_content_as_compact_text() {
        let r = DocumentReference::from_value("document", &super::camunda_fixture("docref-inline-input-adr0005.json"));
        match r {
            Ok(DocumentReference::Inline(d)) => {
                // Compact, and in the order the process wrote it.
                assert_eq!(d.content, r#"{"name":"Jane","age":30}"#);
                assert_eq!(d.name.as_deref(), Some("report.json"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_upload_fixtures_reference_parses_without_a_hash() {
        let cases = super::camunda_fixture("uploadActionsExample.json");
        let doc = &cases[0]["action"]["document"];
        match DocumentReference::from_value("action.document", doc) {
            Ok(DocumentReference::Camunda(c)) => {
                assert_eq!(c.store_id, "in-memory");
                assert_eq!(c.content_hash, None);
                assert_eq!(c.metadata.file_name.as_deref(), Some("test.txt"));
                assert_eq!(c.metadata.size, Some(41730));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_element_arrays_are_accepted_and_other_shapes_are_clear_errors() {
        let one = serde_json::json!([{"camunda.document.type": "inline", "content": "x"}]);
        assert!(matches!(
            DocumentReference::from_value("d", &one),
            Ok(DocumentReference::Inline(_))
        ));
        for (bad, says) in [
            (Value::Null, "is null"),
            (serde_json::json!([]), "list of 0"),
            (serde_json::json!([1, 2]), "list of 2"),
            (serde_json::json!({"url": "x"}), "camunda.document.type"),
            (serde_json::json!("text"), "camunda.document.type"),
            (
                serde_json::json!({"camunda.document.type": "camunda"}),
                "camunda document reference",
            ),
            (
                serde_json::json!({"camunda.document.type": "carrier-pigeon"}),
                "carrier-pigeon",
            ),
        ] {
            let err = DocumentReference::from_value("action.document", &bad).expect_err(&bad.to_string());
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput);
            assert!(
                err.message.starts_with("action.document") && err.message.contains(says),
                "{bad}: {}",
                err.message
            );
        }
    }
}
