//! `/v1/data-map`: every table the platform stores data in, with its category, the
//! subject keys its records are found by, when its retention starts and what erasure does.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::auth::ApiKey;
use crate::lifecycle::data_map::{self, Erasure, SubjectKey, TableEntry};

/// A subject key: what a table's records can be found by.
#[derive(Debug, Object)]
pub struct SubjectKeyView {
    /// `workspace`, `customer`, `staff` or `run`.
    pub kind: String,
    /// The column (or path) holding it.
    pub column: String,
}

/// What erasure does to a table's records.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErasureView {
    /// `delete`, `anonymise`, `destroy_key` or `keep`.
    pub action: String,
    /// The columns anonymised or destroyed.
    pub columns: Option<Vec<String>>,
    /// Why records are kept.
    pub basis: Option<String>,
}

/// One table of the data map.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DataMapEntryView {
    /// Schema-qualified table name.
    pub table: String,
    /// Data category (retention and holds are set per category).
    pub category: String,
    /// What its records can be found by.
    pub subject_keys: Vec<SubjectKeyView>,
    /// The column retention counts from; absent: kept while what it belongs to is kept.
    pub retention_from: Option<String>,
    /// What erasure does.
    pub erasure: ErasureView,
    /// What it holds.
    pub holds: String,
}

/// The data map.
#[derive(Debug, Object)]
pub struct DataMapView {
    /// Every table, grouped by category.
    pub items: Vec<DataMapEntryView>,
}

fn subject_key(key: &SubjectKey) -> SubjectKeyView {
    let (kind, column) = match key {
        SubjectKey::Workspace(column) => ("workspace", column),
        SubjectKey::Customer(column) => ("customer", column),
        SubjectKey::Staff(column) => ("staff", column),
        SubjectKey::Run(column) => ("run", column),
    };
    SubjectKeyView {
        kind: kind.to_owned(),
        column: (*column).to_owned(),
    }
}

fn erasure(erasure: &Erasure) -> ErasureView {
    let columns = |columns: &[&str]| Some(columns.iter().map(|c| (*c).to_owned()).collect());
    match erasure {
        Erasure::Delete => ErasureView {
            action: "delete".into(),
            columns: None,
            basis: None,
        },
        Erasure::Anonymise(names) => ErasureView {
            action: "anonymise".into(),
            columns: columns(names),
            basis: None,
        },
        Erasure::DestroyKey(names) => ErasureView {
            action: "destroy_key".into(),
            columns: columns(names),
            basis: None,
        },
        Erasure::Keep(basis) => ErasureView {
            action: "keep".into(),
            columns: None,
            basis: Some((*basis).to_owned()),
        },
    }
}

fn view(entry: &TableEntry) -> DataMapEntryView {
    DataMapEntryView {
        table: entry.table.to_owned(),
        category: entry.category.as_str().to_owned(),
        subject_keys: entry.subject_keys.iter().map(subject_key).collect(),
        retention_from: entry.retention_from.map(str::to_owned),
        erasure: erasure(&entry.erasure),
        holds: entry.holds.to_owned(),
    }
}

/// The data map resource.
pub struct DataMapApi;

#[OpenApi(tag = "ApiTags::DataLifecycle")]
impl DataMapApi {
    /// The data map
    ///
    /// Every table that holds platform data: its category, the subject keys its records
    /// are found by (workspace, customer, staff, run), the column its retention counts
    /// from and what erasure does to it (delete, anonymise columns, destroy a key, or keep
    /// with the legal basis). Any key may read it: it describes the schema, not records.
    #[oai(path = "/v1/data-map", method = "get", operation_id = "get_data_map")]
    async fn get(&self, _auth: ApiKey) -> Json<DataMapView> {
        let mut items: Vec<&TableEntry> = data_map::TABLES.iter().collect();
        items.sort_by_key(|entry| (entry.category, entry.table));
        Json(DataMapView {
            items: items.into_iter().map(view).collect(),
        })
    }
}
