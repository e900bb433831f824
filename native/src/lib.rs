//! otel_logging_native: the native hot paths of otel-logging, one Python function per module file.
//!
//! - `otlp`: OTLP/protobuf logs export requests -> canonical records as JSON lines.
//! - `stdlib`: lines of stdlib-format log files -> canonical records as JSON lines (log aggregation).
//! - `jsonl`: JSON lines of log files (python-json-logger, structlog, flat objects) -> canonical records (log
//!   aggregation).
//! - `client`: the app side's redaction pre-check and its OTLP encoder of a batch of log entries.
//! - `redact_scan`: aggregation's redaction pre-check over finished JSON lines.
//! - `es_bulk`: the Elasticsearch sink's bulk bodies (ids hashed, lines copied) from the queue's JSON lines.
//! - `grpc_server`: the OTLP/gRPC transport (tonic); each Export request is answered by a Python callable.
//!
//! `json` is the orjson-compatible JSON writer they share.

use pyo3::prelude::*;

pub mod client;
pub mod es_bulk;
pub mod grpc_server;
pub mod json;
pub mod jsonl;
pub mod otlp;
pub mod redact_scan;
pub mod stdlib;

#[pymodule]
fn otel_logging_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(otlp::otlp_logs_to_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(otlp::otlp_logs_to_jsonl_views, m)?)?;
    m.add_class::<stdlib::StdlibReader>()?;
    m.add_class::<jsonl::JsonlReader>()?;
    m.add_class::<client::TriggerScan>()?;
    m.add_class::<client::EntryMaker>()?;
    m.add_class::<redact_scan::RecordScan>()?;
    m.add_function(wrap_pyfunction!(client::encode_entries, m)?)?;
    m.add_function(wrap_pyfunction!(es_bulk::es_bulk_body, m)?)?;
    m.add_function(wrap_pyfunction!(es_bulk::es_document_id, m)?)?;
    m.add_class::<grpc_server::GrpcServer>()?;
    Ok(())
}
