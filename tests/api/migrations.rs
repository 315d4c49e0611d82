//! Upgrading a database that already holds data: what a migration moves keeps its meaning.

use bazaarstreet::db;
use bazaarstreet::security::audit::{self, AuditEntry, GENESIS_HASH, link_hash};
use serde_json::json;

use crate::helpers::{drop_database, fresh_database_url};

/// The last migration before the audit chain moved into a table of its own.
const BEFORE_AUDIT_CHAIN_TABLE: i64 = 20261126000007;

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_chain_survives_its_move_into_a_table_of_its_own() {
    let url = fresh_database_url();
    db::ensure_database(&url).await.unwrap();
    let pool = db::connect(&url, 4).await.unwrap();
    db::MIGRATOR
        .run_to(BEFORE_AUDIT_CHAIN_TABLE, &pool)
        .await
        .unwrap();

    // Three entries the old way: the first two chained in the ledger rows, the third not.
    let entries: Vec<AuditEntry> = (1..=3)
        .map(|n| {
            AuditEntry::now(
                "alice",
                "key.created",
                format!("key:{n}"),
                None,
                json!({ "n": n }),
            )
        })
        .collect();
    let mut prev = GENESIS_HASH.to_vec();
    for (seq, entry) in (1_i64..).zip(&entries) {
        let chained = seq <= 2;
        let hash = link_hash(&prev, &entry.canonical());
        sqlx::query(
            "insert into audit_ledger (at, actor, action, subject, workspace_id, data, seq,
                                       prev_hash, hash)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.subject)
        .bind(&entry.workspace_id)
        .bind(&entry.data)
        .bind(chained.then_some(seq))
        .bind(chained.then(|| prev.clone()))
        .bind(chained.then(|| hash.clone()))
        .execute(&pool)
        .await
        .unwrap();
        if chained {
            sqlx::query("update audit_head set seq = $1, hash = $2")
                .bind(seq)
                .bind(&hash)
                .execute(&pool)
                .await
                .unwrap();
            prev = hash;
        }
    }

    db::MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(
        audit::chain_pending(&pool).await.unwrap(),
        1,
        "the unchained entry"
    );
    let mut conn = pool.acquire().await.unwrap();
    let verification = audit::verify(&mut conn).await.unwrap();
    assert_eq!(verification.first_broken, None);
    assert_eq!(verification.checked, 3);
    let subjects: Vec<String> = sqlx::query_scalar(
        "select l.subject from audit_chain c join audit_ledger l on l.id = c.entry_id
         order by c.seq",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(subjects, ["key:1", "key:2", "key:3"]);
    drop(conn);
    pool.close().await;
    drop_database(&url).await;
}
