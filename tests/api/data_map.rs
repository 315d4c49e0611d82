//! The data map covers every table: a migration that creates a table the map does not
//! name fails here, and so does a map entry for a table that is gone. docs/DATA.md lists
//! the same tables with the same category and erasure.

use std::collections::BTreeSet;

use bazaarstreet::lifecycle::data_map::{self, Erasure};
use bazaarstreet::security::Role;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn every_table_of_the_database_is_in_the_data_map() {
    let app = spawn_app(&[]).await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let tables: BTreeSet<String> = sqlx::query_scalar(
        "select table_schema || '.' || table_name from information_schema.tables
         where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    pool.close().await;
    let mapped: BTreeSet<String> = data_map::TABLES
        .iter()
        .map(|entry| entry.table.to_owned())
        .collect();
    let unmapped: Vec<&String> = tables.difference(&mapped).collect();
    assert!(
        unmapped.is_empty(),
        "tables without an entry in src/lifecycle/data_map.rs (add them with their category, \
         subject keys, retention column and erasure): {unmapped:?}"
    );
    let gone: Vec<&String> = mapped.difference(&tables).collect();
    assert!(
        gone.is_empty(),
        "the data map names tables the database lacks: {gone:?}"
    );
    // Every column the map names exists.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    for entry in data_map::TABLES {
        let (schema, table) = entry.table.split_once('.').unwrap();
        let columns: BTreeSet<String> = sqlx::query_scalar(
            "select column_name from information_schema.columns
             where table_schema = $1 and table_name = $2",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let mut named: Vec<&str> = entry.retention_from.into_iter().collect();
        if let Erasure::Anonymise(list) | Erasure::DestroyKey(list) = entry.erasure {
            named.extend(list);
        }
        for column in named {
            assert!(
                columns.contains(column),
                "{}: no column {column}",
                entry.table
            );
        }
    }
    pool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn any_key_reads_the_data_map() {
    let app = spawn_app(&[]).await;
    app.create_key("reader", Role::Auditor, None).await;
    let (status, map) = app.get_as("/v1/data-map", "reader").await;
    assert_eq!(status, 200, "{map}");
    let items = map["items"].as_array().unwrap();
    assert_eq!(items.len(), data_map::TABLES.len());
    let ledger = items
        .iter()
        .find(|item| item["table"] == "public.audit_ledger")
        .unwrap();
    assert_eq!(ledger["category"], "audit_events");
    assert_eq!(ledger["erasure"]["action"], "keep");
    assert!(
        ledger["erasure"]["basis"]
            .as_str()
            .unwrap()
            .contains("Art 5(2)")
    );
    let anonymous = app
        .client
        .get(format!("{}/v1/data-map", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    app.stop().await;
}

#[test]
fn docs_data_md_lists_the_map() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/DATA.md")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect();
    for entry in data_map::TABLES {
        let row = rows
            .iter()
            .find(|row| row[0] == entry.table)
            .unwrap_or_else(|| panic!("docs/DATA.md has no row for {}", entry.table));
        assert_eq!(row[1], entry.category.as_str(), "{}", entry.table);
        let action = match entry.erasure {
            Erasure::Delete => "delete",
            Erasure::Anonymise(_) => "anonymise",
            Erasure::DestroyKey(_) => "destroy_key",
            Erasure::Keep(_) => "keep",
        };
        assert!(
            row[3].starts_with(action),
            "{}: erasure {action}",
            entry.table
        );
    }
    assert_eq!(
        rows.len(),
        data_map::TABLES.len(),
        "docs/DATA.md lists other tables"
    );
}
