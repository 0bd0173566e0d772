//! `s3-connector documents put|get|delete`: the configured document store from the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s3_connector::documents::{self, CamundaReference, DocumentMetadata, DocumentReference};
use s3_connector::{Connector, Error, ErrorCode};
use tokio::io::AsyncWriteExt;

use crate::args::DocumentsCommand;

/// Runs one documents subcommand against the store `spec` names.
pub async fn run(cmd: &DocumentsCommand, spec: &str, conn: Option<&Connector>) -> Result<(), Error> {
    let store = documents::open_store("documents", spec, conn)?;
    match cmd {
        DocumentsCommand::Put {
            file,
            content_type,
            file_name,
            expires_at,
            properties,
        } => {
            let path = Some(file).filter(|f| f.as_os_str() != "-");
            let reader: documents::DocumentReader = match path {
                Some(p) => Box::new(
                    tokio::fs::File::open(p)
                        .await
                        .map_err(|e| Error::local_io("read", p, &e))?,
                ),
                None => Box::new(tokio::io::stdin()),
            };
            let file_name = file_name.clone().or_else(|| {
                path.and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            });
            let content_type = content_type
                .clone()
                .or_else(|| file_name.as_deref().and_then(s3_connector::s3::guess_content_type));
            let mut custom_properties = BTreeMap::new();
            for p in properties {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| Error::invalid_input("property", format!("{p:?} is not NAME=VALUE")))?;
                custom_properties.insert(k.to_string(), serde_json::Value::String(v.to_string()));
            }
            let metadata = DocumentMetadata {
                content_type,
                file_name,
                expires_at: expires_at.clone(),
                custom_properties,
                ..Default::default()
            };
            let reference = store.create(reader, metadata).await?;
            let out = DocumentReference::Camunda(Box::new(reference));
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            Ok(())
        }
        DocumentsCommand::Get { reference, out } => {
            let reference = parse_reference(reference)?;
            let (_, mut reader) = store.open(&reference).await?;
            match out.as_ref().filter(|o| o.as_os_str() != "-") {
                None => {
                    let mut stdout = tokio::io::stdout();
                    tokio::io::copy(&mut reader, &mut stdout)
                        .await
                        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot write the document: {e}")))?;
                    stdout
                        .flush()
                        .await
                        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("{e}")))?;
                }
                Some(path) => write_atomically(path, &mut reader).await?,
            }
            Ok(())
        }
        DocumentsCommand::Delete { document_id } => {
            store.delete(document_id).await?;
            println!(
                "{}",
                serde_json::json!({"storeId": store.store_id(), "documentId": document_id})
            );
            Ok(())
        }
    }
}

/// A reference given as JSON text, or `@FILE`. Only `camunda` references name stored documents.
fn parse_reference(text: &str) -> Result<CamundaReference, Error> {
    let json = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| Error::local_io("read", Path::new(path), &e))?,
        None => text.to_string(),
    };
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| Error::invalid_input("reference", format!("is not JSON: {e}")))?;
    match DocumentReference::from_value("reference", &value)? {
        DocumentReference::Camunda(r) => Ok(*r),
        _ => Err(Error::invalid_input(
            "reference",
            "is an inline or external document; only camunda references name stored documents",
        )),
    }
}

/// Writes to a temporary file beside `path` and renames it into place only once the whole
/// document has been read and its hash verified; on failure `path` is untouched.
async fn write_atomically(path: &PathBuf, reader: &mut documents::DocumentReader) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".document.")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(|e| Error::local_io("create a temporary file in", &dir, &e))?;
    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(|e| Error::local_io("open", temp.path(), &e))?);
    tokio::io::copy(reader, &mut file).await.map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::InvalidData {
            ErrorCode::PreconditionFailed
        } else {
            ErrorCode::LocalIo
        };
        Error::new(code, format!("the document was not written: {e}"))
    })?;
    file.flush()
        .await
        .map_err(|e| Error::local_io("write", temp.path(), &e))?;
    drop(file);
    temp.persist(path)
        .map_err(|e| Error::local_io("rename the document onto", path, &e.error))?;
    Ok(())
}
