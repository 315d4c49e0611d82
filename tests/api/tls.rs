//! How the service reaches a database on this host: without TLS (it would protect nothing
//! there), unless the URL asks for it or the server takes nothing else.

use bazaarstreet::db;
use sqlx::PgPool;

use crate::cluster::PrivateCluster;
use crate::helpers::{drop_database, fresh_database_url};

async fn uses_tls(pool: &PgPool) -> bool {
    sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_on_this_host_is_reached_without_tls() {
    let url = fresh_database_url();
    db::ensure_database(&url).await.unwrap();
    let pool = db::connect(&url, 2).await.unwrap();
    assert!(!uses_tls(&pool).await);
    pool.close().await;
    drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_server_that_takes_only_tls_is_reached_with_it() {
    let cluster = PrivateCluster::start_tls_only();
    let url = cluster.url("bazaarstreet");
    db::ensure_database(&url).await.unwrap();
    let pool = db::connect(&url, 2).await.unwrap();
    assert!(
        uses_tls(&pool).await,
        "the refusal without TLS led to a TLS connection"
    );
    pool.close().await;

    let refused = db::connect(&format!("{url}?sslmode=disable"), 2).await;
    assert!(refused.is_err(), "an explicit `sslmode=disable` is kept");
    let pool = db::connect(&format!("{url}?sslmode=require"), 2)
        .await
        .unwrap();
    assert!(uses_tls(&pool).await);
    pool.close().await;
}
