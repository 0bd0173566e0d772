//! The element template for Camunda Modeler: how a BPMN service task is configured to run on
//! s3-connector.
//!
//! It is Camunda's AWS S3 template (id `io.camunda.connectors.aws.s3.v1`, job type
//! `io.camunda:aws-s3:1`) one version up: every property of Camunda's version 6 keeps its id,
//! binding and condition, so the modeller offers to upgrade existing tasks in place and their
//! values carry over. On top it shows `configuration.endpoint` (we honour it; Camunda hides
//! it) and adds our other job actions ([`job_actions`]), each field bound to `action.<field>`,
//! the fields taken from the request types' JSON schemas.

use serde_json::{json, Value};

use super::input::job_actions;

/// The template's id: Camunda's, so that existing diagrams upgrade to ours.
pub const TEMPLATE_ID: &str = "io.camunda.connectors.aws.s3.v1";

/// One past the newest Camunda version the contract covers (8).
pub const TEMPLATE_VERSION: u32 = 9;

/// The template's fields for the job action `action`: its request's properties, as the
/// request type's JSON schema states them (name, type, whether required, the doc comment as the
/// tooltip), in declaration order. Nothing here lists an action's fields by hand, so a field
/// added to a request shows up in the Modeler too.
fn fields(action: &str) -> Vec<Value> {
    let Some(schema) = crate::actions::request_schema(action) else {
        return Vec::new();
    };
    let schema = serde_json::to_value(schema).unwrap_or_default();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| native_property(action, name, p, required.contains(&name.as_str())))
                .collect()
        })
        .unwrap_or_default()
}

/// `destinationBucket` as a label: `Destination bucket`.
fn label_of(name: &str) -> String {
    let mut label = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 0 {
            label.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            label.push(' ');
            label.extend(c.to_lowercase());
        } else {
            label.push(c);
        }
    }
    label
}

/// Whether a property's schema type is, or includes, `kind` (utoipa writes an optional field's
/// type as `["string", "null"]`).
fn has_type(p: &Value, kind: &str) -> bool {
    match &p["type"] {
        Value::String(t) => t == kind,
        Value::Array(ts) => ts.iter().any(|t| t == kind),
        _ => false,
    }
}

/// Whether a property's schema is another named schema (`$ref`, or `oneOf` null and a `$ref`
/// for an optional one): in requests these are nested objects, e.g. `encryption`.
fn is_reference(p: &Value) -> bool {
    p.get("$ref").is_some()
        || p["oneOf"]
            .as_array()
            .is_some_and(|all| all.iter().any(|s| s.get("$ref").is_some()))
}

fn when(action: &str) -> Value {
    json!({"property": "actionDiscriminator", "equals": action, "type": "simple"})
}

fn native_property(action: &str, name: &str, schema: &Value, required: bool) -> Value {
    let label = schema["title"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| label_of(name));
    // A doc comment's lines and its `code` marks, as plain text.
    let tooltip = schema["description"]
        .as_str()
        .unwrap_or_default()
        .replace('\n', " ")
        .replace('`', "");
    let mut p = json!({
        "id": format!("{action}_{name}"),
        "label": label,
        "group": action,
        "binding": {"type": "zeebe:input", "name": format!("action.{name}")},
        "condition": when(action),
        "tooltip": tooltip,
    });
    // An enum's values: `enum`, or per value under `oneOf` (utoipa's form when the values
    // have doc comments).
    let one_of = schema["oneOf"].as_array().map(Vec::as_slice).unwrap_or_default();
    let choices: Vec<&str> = std::iter::once(schema)
        .chain(one_of)
        .filter_map(|s| s["enum"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let boolean = has_type(schema, "boolean");
    if !choices.is_empty() {
        p["type"] = json!("Dropdown");
        p["value"] = json!(schema["default"].as_str().unwrap_or(choices[0]));
        p["choices"] = choices.iter().map(|c| json!({"name": c, "value": c})).collect();
    } else if boolean {
        p["type"] = json!("Boolean");
        p["value"] = json!(false);
    } else if has_type(schema, "integer") || has_type(schema, "number") {
        p["type"] = json!("Number");
        p["feel"] = json!("optional");
    } else if has_type(schema, "array") || has_type(schema, "object") || is_reference(schema) {
        // A list or a context, e.g. =["a.txt", "b.txt"] or ={owner: "ops"}.
        p["type"] = json!("String");
        p["feel"] = json!("required");
    } else {
        p["type"] = json!("String");
        p["feel"] = json!("optional");
    }
    if required {
        p["constraints"] = json!({"notEmpty": true});
    } else if choices.is_empty() && !boolean {
        // An empty optional field creates no input mapping, so the request leaves it out.
        p["optional"] = json!(true);
    }
    p
}

fn camunda_action_property(id: &str, label: &str, group: &str, name: &str, required: bool) -> Value {
    let mut p = json!({
        "id": id, "label": label, "group": group, "type": "String", "feel": "optional",
        "binding": {"type": "zeebe:input", "name": name},
        "condition": when(group),
    });
    if required {
        p["constraints"] = json!({"notEmpty": true});
    } else {
        p["optional"] = json!(true);
    }
    p
}

fn document_source_condition(source: &str) -> Value {
    json!({"allMatch": [
        {"property": "action_document_documentSource", "equals": source, "type": "simple"},
        when("uploadObject"),
    ]})
}

/// The template's properties for Camunda's three actions and everything around them, with
/// Camunda's ids and bindings.
fn camunda_properties(choices: Vec<Value>) -> Vec<Value> {
    let mut props = vec![
        json!({"type": "Hidden", "value": "io.camunda:aws-s3:1", "binding": {"type": "zeebe:taskDefinition", "property": "type"}}),
        json!({"id": "actionDiscriminator", "label": "Action", "group": "operation", "type": "Dropdown",
               "value": "uploadObject", "binding": {"type": "zeebe:input", "name": "actionDiscriminator"}, "choices": choices}),
        json!({"id": "authentication.type", "label": "Authentication", "group": "authentication", "type": "Dropdown",
               "value": "credentials", "binding": {"type": "zeebe:input", "name": "authentication.type"},
               "tooltip": "Credentials: an access key pair (use {{secrets.NAME}}). Default credentials chain: the worker's environment, profile or instance role.",
               "choices": [{"name": "Default Credentials Chain (Hybrid/Self-Managed only)", "value": "defaultCredentialsChain"},
                           {"name": "Credentials", "value": "credentials"}]}),
    ];
    for (id, label) in [
        ("authentication.accessKey", "Access key"),
        ("authentication.secretKey", "Secret key"),
    ] {
        props.push(
            json!({"id": id, "label": label, "group": "authentication", "type": "String", "feel": "optional",
            "binding": {"type": "zeebe:input", "name": id}, "constraints": {"notEmpty": true},
            "condition": {"property": "authentication.type", "equals": "credentials", "type": "simple"}}),
        );
    }
    props.push(
        json!({"id": "awsCredential", "label": "AWS credential", "group": "authentication", "type": "Configuration",
        "configurationTemplate": "io.camunda:aws-credential:1", "optional": true,
        "binding": {"type": "zeebe:input", "name": "awsCredential"},
        "tooltip": "A reusable AWS credential; when set it replaces the authentication and region above."}),
    );
    props.push(
        json!({"id": "configuration.region", "label": "Region", "group": "configuration", "type": "String",
        "feel": "optional", "optional": true, "binding": {"type": "zeebe:input", "name": "configuration.region"},
        "tooltip": "e.g. eu-central-1. Empty: the worker's default region."}),
    );
    props.push(json!({"id": "configuration.endpoint", "label": "Endpoint", "group": "configuration", "type": "String",
        "feel": "optional", "optional": true, "binding": {"type": "zeebe:input", "name": "configuration.endpoint"},
        "tooltip": "For S3-compatible stores (MinIO, Ceph, Garage, R2), e.g. http://minio:9000; path-style addressing is used. Empty: AWS."}));
    for group in ["deleteObject", "uploadObject", "downloadObject"] {
        let prefix = group.trim_end_matches("Object");
        props.push(camunda_action_property(
            &format!("{prefix}ActionBucket"),
            "AWS bucket",
            group,
            "action.bucket",
            true,
        ));
        let key_required = group != "uploadObject";
        let mut key = camunda_action_property(
            &format!("{prefix}ActionKey"),
            "AWS key",
            group,
            "action.key",
            key_required,
        );
        if !key_required {
            key["tooltip"] = json!("Default: the document's file name.");
        }
        props.push(key);
        if group == "uploadObject" {
            props.extend(upload_document_properties());
        }
        if group == "downloadObject" {
            props.push(json!({"id": "documentReturnFormat", "label": "Return format", "group": group, "type": "Dropdown",
                "value": "DOCUMENT", "binding": {"type": "zeebe:input", "name": "documentReturnFormat.choice"},
                "condition": when(group),
                "tooltip": "DOCUMENT: a document reference (any size). TEXT or JSON: the content inline, at most 1.5 MiB.",
                "choices": [{"name": "Document reference", "value": "DOCUMENT"}, {"name": "Text", "value": "TEXT"}, {"name": "JSON", "value": "JSON"}]}));
            props.push(json!({"id": "documentReturnFormatEncoding", "label": "Encoding", "group": group, "type": "String",
                "value": "UTF-8", "binding": {"type": "zeebe:input", "name": "documentReturnFormat.encoding"},
                "condition": {"allMatch": [{"property": "documentReturnFormat", "equals": "TEXT", "type": "simple"}, when(group)]}}));
        }
    }
    props
}

fn upload_document_properties() -> Vec<Value> {
    let mut props = vec![
        json!({"id": "action_document_documentSource", "label": "Document source", "group": "uploadObject",
        "type": "Dropdown", "value": "camunda", "condition": when("uploadObject"),
        "binding": {"type": "zeebe:input", "name": "action.action_document_documentSource"},
        "choices": [{"name": "Camunda document", "value": "camunda"}, {"name": "Inline content", "value": "inline"}, {"name": "External URL", "value": "external"}]}),
    ];
    for (id, label, source, feel) in [
        ("action_document_camundaReference", "Document", "camunda", "required"),
        ("action_document_inline_content", "Content", "inline", "optional"),
        ("action_document_inline_fileName", "File name", "inline", "optional"),
        (
            "action_document_inline_contentType",
            "Content type",
            "inline",
            "optional",
        ),
        ("action_document_external_url", "URL", "external", "optional"),
        ("action_document_external_fileName", "File name", "external", "optional"),
    ] {
        let mut p = json!({"id": id, "label": label, "group": "uploadObject", "type": "String", "feel": feel,
            "binding": {"type": "zeebe:input", "name": format!("action.{id}")},
            "condition": document_source_condition(source)});
        if id.ends_with("camundaReference") || id.ends_with("inline_content") || id.ends_with("external_url") {
            p["constraints"] = json!({"notEmpty": true});
        } else {
            p["optional"] = json!(true);
        }
        props.push(p);
    }
    // The document itself, assembled from the fields above as Camunda's template does.
    props.push(json!({"id": "uploadActionDocument", "type": "Hidden", "group": "uploadObject",
        "binding": {"type": "zeebe:input", "name": "action.document"}, "condition": when("uploadObject"),
        "value": "=if action_document_documentSource = \"camunda\" then action_document_camundaReference \
                  else if action_document_documentSource = \"inline\" then { \"camunda.document.type\": \"inline\", \
                  content: action_document_inline_content, name: action_document_inline_fileName, \
                  contentType: action_document_inline_contentType } \
                  else if action_document_documentSource = \"external\" then { \"camunda.document.type\": \"external\", \
                  url: action_document_external_url, name: action_document_external_fileName } else null"}));
    props
}

/// The job-handling properties every connector template has: template id and version headers,
/// output mapping, error expression, retries and backoff.
fn runtime_properties() -> Vec<Value> {
    vec![
        json!({"id": "version", "type": "Hidden", "group": "connector", "value": TEMPLATE_VERSION.to_string(),
               "binding": {"type": "zeebe:taskHeader", "key": "elementTemplateVersion"}}),
        json!({"id": "id", "type": "Hidden", "group": "connector", "value": TEMPLATE_ID,
               "binding": {"type": "zeebe:taskHeader", "key": "elementTemplateId"}}),
        json!({"id": "resultVariable", "label": "Result variable", "group": "output", "type": "String",
               "binding": {"type": "zeebe:taskHeader", "key": "resultVariable"},
               "tooltip": "Store the whole result in this process variable."}),
        json!({"id": "resultExpression", "label": "Result expression", "group": "output", "type": "Text", "feel": "required",
               "binding": {"type": "zeebe:taskHeader", "key": "resultExpression"},
               "tooltip": "A FEEL context mapping the result (also reachable as response) to process variables."}),
        json!({"id": "errorExpression", "label": "Error expression", "group": "error", "type": "Text", "feel": "required",
               "binding": {"type": "zeebe:taskHeader", "key": "errorExpression"},
               "tooltip": "e.g. =if error.code = \"NoSuchKey\" then bpmnError(\"NOT_FOUND\", error.message) else null. error.code is a stable code: see the connector's docs/errors.md."}),
        json!({"id": "retryCount", "label": "Retries", "group": "retries", "type": "String", "value": "3",
               "binding": {"type": "zeebe:taskDefinition", "property": "retries"}}),
        json!({"id": "retryBackoff", "label": "Retry backoff", "group": "retries", "type": "String", "value": "PT30S",
               "binding": {"type": "zeebe:taskHeader", "key": "retryBackoff"},
               "tooltip": "ISO-8601 duration to wait between retries, e.g. PT30S."}),
        json!({"id": "jobTimeout", "label": "Job timeout", "group": "retries", "type": "String", "optional": true,
               "binding": {"type": "zeebe:taskHeader", "key": "jobTimeout"},
               "tooltip": "ISO-8601 duration the worker may take, e.g. PT10M."}),
    ]
}

/// The whole element template as JSON.
pub fn element_template() -> Value {
    let camunda_actions = [
        ("deleteObject", "Delete object"),
        ("downloadObject", "Download object"),
        ("uploadObject", "Upload object"),
    ];
    let mut choices: Vec<Value> = camunda_actions
        .iter()
        .map(|(value, name)| json!({"name": name, "value": value}))
        .collect();
    choices.extend(job_actions().map(|a| json!({"name": a.label, "value": a.name})));
    let mut groups = vec![
        json!({"id": "operation", "label": "Operation"}),
        json!({"id": "authentication", "label": "Authentication"}),
        json!({"id": "configuration", "label": "Configuration"}),
        json!({"id": "deleteObject", "label": "Delete object"}),
        json!({"id": "uploadObject", "label": "Upload object"}),
        json!({"id": "downloadObject", "label": "Download object"}),
    ];
    groups.extend(job_actions().map(|a| json!({"id": a.name, "label": a.label})));
    groups.extend([
        json!({"id": "connector", "label": "Connector"}),
        json!({"id": "output", "label": "Output mapping"}),
        json!({"id": "error", "label": "Error handling"}),
        json!({"id": "retries", "label": "Retries"}),
    ]);
    let mut properties = camunda_properties(choices);
    for action in job_actions() {
        properties.extend(fields(action.name));
    }
    properties.extend(runtime_properties());
    let all: Vec<&str> = camunda_actions
        .iter()
        .map(|(a, _)| *a)
        .chain(job_actions().map(|a| a.name))
        .collect();
    json!({
        "$schema": "https://unpkg.com/@camunda/zeebe-element-templates-json-schema/resources/schema.json",
        "name": "AWS S3 Outbound Connector (s3-connector)",
        "id": TEMPLATE_ID,
        "version": TEMPLATE_VERSION,
        "description": "Upload, download, list, copy, move and delete objects in S3 and S3-compatible stores, run by s3-connector",
        "keywords": ["upload file", "download file", "delete file", "list objects", "copy object", "move object",
                     "presigned url", "object storage", "bucket", "minio", "s3"],
        "category": {"id": "connectors", "name": "Connectors"},
        "appliesTo": ["bpmn:Task"],
        "elementType": {"value": "bpmn:ServiceTask"},
        "engines": {"camunda": "^8.10"},
        "presets": all.iter().map(|a| json!({"id": format!("actionDiscriminator_{a}"), "properties": {"actionDiscriminator": a}})).collect::<Vec<_>>(),
        "configurationTemplates": [{
            "id": "io.camunda:aws-credential:1", "kind": "CREDENTIAL", "version": 1, "name": "AWS Credential",
            "properties": [
                {"id": "authentication.type", "label": "Authentication", "value": "credentials", "group": "authentication",
                 "binding": {"name": "authentication.type", "type": "property"}, "type": "Dropdown",
                 "choices": [{"name": "Default Credentials Chain (Hybrid/Self-Managed only)", "value": "defaultCredentialsChain"},
                             {"name": "Credentials", "value": "credentials"}]},
                {"id": "authentication.accessKey", "label": "Access key", "constraints": {"notEmpty": true}, "group": "authentication",
                 "binding": {"name": "authentication.accessKey", "type": "property"}, "type": "String", "secret": true,
                 "condition": {"property": "authentication.type", "equals": "credentials", "type": "simple"}},
                {"id": "authentication.secretKey", "label": "Secret key", "constraints": {"notEmpty": true}, "group": "authentication",
                 "binding": {"name": "authentication.secretKey", "type": "property"}, "type": "String", "secret": true,
                 "condition": {"property": "authentication.type", "equals": "credentials", "type": "simple"}},
                {"id": "region", "label": "Region", "constraints": {"notEmpty": true}, "group": "configuration",
                 "binding": {"name": "region", "type": "property"}, "type": "String"}
            ]
        }],
        "groups": groups,
        "properties": properties,
    })
}
