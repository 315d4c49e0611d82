//! Evidence bundles checked offline: a disclosed authority request's bundle holds
//! against the chain head recorded before it was taken (with the library and with
//! `bazaarstreet evidence verify`); altering one byte of any ledger entry, dropping one,
//! reordering two, changing the timeline or the package manifest, or a head that is not
//! on the chain is each detected and named.

use serde_json::{Value, json};

use bazaarstreet::evidence::verify::{RecordedHead, verify};

use crate::authority_requests::{act, app, reviewed_court_order, seed, wait_for};
use crate::helpers::TestApp;

async fn bundle_of(app: &TestApp, id: &str) -> Value {
    let (status, bundle) = app
        .get_as(&format!("/v1/authority-requests/{id}/evidence"), "audra")
        .await;
    assert_eq!(status, 200, "{bundle}");
    bundle
}

fn finding(bundle: &Value) -> String {
    verify(bundle, None)
        .expect_err("the altered bundle must not hold")
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_verifies_offline_and_any_alteration_is_named() {
    let (app, pool) = app().await;
    seed(&pool).await;
    let id = reviewed_court_order(&app).await;
    let (status, body) = act(
        &app,
        &id,
        "disclosure",
        &json!({ "decision": "approve" }),
        "lena",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&app, &id, "closed").await;
    let (_, head) = app.get("/v1/audit/head").await;
    let recorded = RecordedHead {
        seq: head["seq"].as_i64().unwrap(),
        hash: head["hash"].as_str().unwrap().to_owned(),
    };
    let bundle = bundle_of(&app, &id).await;

    let verified = verify(&bundle, Some(&recorded)).expect("the bundle holds");
    assert!(verified.recorded_head_matched);
    assert_eq!(verified.timeline, 8);
    assert!(verified.entries >= 8, "{verified:?}");
    let entries = bundle["ledger"]["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"authority_request.disclosed"),
        "{actions:?}"
    );
    assert!(actions.contains(&"legal_hold.placed"), "{actions:?}");
    assert!(
        actions.contains(&"decision.refused") || bundle["decisions"].as_array().unwrap().len() >= 2
    );

    // The command line says the same, offline.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, bundle.to_string()).unwrap();
    let head_arg = format!("{}:{}", recorded.seq, recorded.hash);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bazaarstreet"))
        .args([
            "evidence",
            "verify",
            path.to_str().unwrap(),
            "--head",
            &head_arg,
        ])
        .env(
            "BAZAARSTREET_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("the bundle holds"), "{stdout}");
    assert!(
        stdout.contains("passes through the recorded head"),
        "{stdout}"
    );

    // One byte of one entry.
    let mut altered = bundle.clone();
    let victim = &mut altered["ledger"]["entries"][2];
    let seq = victim["seq"].as_i64().unwrap();
    let actor = victim["actor"].as_str().unwrap().to_owned();
    let mut bytes = actor.into_bytes();
    bytes[0] ^= 1;
    victim["actor"] = json!(String::from_utf8(bytes).unwrap());
    let named = finding(&altered);
    assert!(
        named.starts_with(&format!("ledger entry {seq} (")),
        "{named}"
    );
    assert!(
        named.ends_with("does not match its hash: it was altered"),
        "{named}"
    );
    let std_path = dir.path().join("altered.json");
    std::fs::write(&std_path, altered.to_string()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bazaarstreet"))
        .args(["evidence", "verify", std_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("ledger entry {seq} (")));

    // An entry dropped: the request's own entry is gone from the list.
    let mut dropped = bundle.clone();
    let gone = dropped["ledger"]["entries"]
        .as_array_mut()
        .unwrap()
        .remove(3);
    let named = finding(&dropped);
    assert_eq!(
        named,
        format!(
            "ledger entry {}: neither the entry nor its digest is in the bundle",
            gone["seq"]
        )
    );
    // A link dropped from the chain stretch.
    let mut cut = bundle.clone();
    let links = cut["ledger"]["links"].as_array_mut().unwrap();
    let gone = links.remove(links.len() / 2)["seq"].as_i64().unwrap();
    assert!(
        finding(&cut).starts_with(&format!("ledger entry {gone} is missing")),
        "{}",
        finding(&cut)
    );

    // Two entries reordered.
    let mut swapped = bundle.clone();
    swapped["ledger"]["entries"]
        .as_array_mut()
        .unwrap()
        .swap(1, 2);
    assert!(
        finding(&swapped).starts_with("ledger entries are out of order"),
        "{}",
        finding(&swapped)
    );
    // Two links' contents exchanged in place.
    let mut exchanged = bundle.clone();
    let entries = exchanged["ledger"]["entries"].as_array_mut().unwrap();
    let (a, b) = (entries[1]["seq"].clone(), entries[2]["seq"].clone());
    entries[1]["seq"] = b;
    entries[2]["seq"] = a;
    entries.swap(1, 2);
    assert!(
        finding(&exchanged).contains("does not match its hash"),
        "{}",
        finding(&exchanged)
    );

    // The timeline: an entry's detail changed, one dropped, two reordered.
    let mut edited = bundle.clone();
    edited["timeline"][1]["detail"]["reason"] = json!("something else");
    assert_eq!(
        finding(&edited),
        format!(
            "timeline entry {} (reviewed) does not match ledger entry {}: it was altered",
            bundle["timeline"][1]["id"],
            seq_of_event(&bundle, bundle["timeline"][1]["id"].as_i64().unwrap())
        )
    );
    let mut shorter = bundle.clone();
    shorter["timeline"].as_array_mut().unwrap().remove(4);
    assert!(
        finding(&shorter).contains("is missing from the bundle"),
        "{}",
        finding(&shorter)
    );
    let mut shuffled = bundle.clone();
    shuffled["timeline"].as_array_mut().unwrap().swap(2, 3);
    assert!(finding(&shuffled).starts_with("timeline entries are out of order"));

    // The package manifest, and a head that is not on the chain.
    let mut repacked = bundle.clone();
    repacked["package"]["manifest"]["files"][0]["rows"] = json!(99);
    assert_eq!(
        finding(&repacked),
        "the package manifest does not match its hash: it was altered"
    );
    let forged = RecordedHead {
        seq: recorded.seq,
        hash: "00".repeat(32),
    };
    let named = verify(&bundle, Some(&forged)).unwrap_err().0;
    assert!(
        named.starts_with("the chain in the bundle does not pass through the recorded head"),
        "{named}"
    );
    let later = RecordedHead {
        seq: recorded.seq + 1_000,
        hash: "00".repeat(32),
    };
    assert!(
        verify(&bundle, Some(&later))
            .unwrap_err()
            .0
            .contains("?through=")
    );
}

/// The seq of the ledger entry recording timeline entry `event`.
fn seq_of_event(bundle: &Value, event: i64) -> i64 {
    bundle["ledger"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["event_id"] == event)
        .unwrap()["seq"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_through_an_earlier_head_ends_there_and_a_head_before_the_request_is_refused() {
    let (app, pool) = app().await;
    seed(&pool).await;
    let id = reviewed_court_order(&app).await;
    let (_, head) = app.get("/v1/audit/head").await;
    let seq = head["seq"].as_i64().unwrap();
    // More happens after the head was recorded.
    app.create_workspaces(&["ws_later"]).await;
    let bundle = {
        let (status, bundle) = app
            .get_as(
                &format!("/v1/authority-requests/{id}/evidence?through={seq}"),
                "audra",
            )
            .await;
        assert_eq!(status, 200, "{bundle}");
        bundle
    };
    assert_eq!(bundle["ledger"]["head"]["seq"], seq);
    let recorded = RecordedHead {
        seq,
        hash: head["hash"].as_str().unwrap().to_owned(),
    };
    assert!(
        verify(&bundle, Some(&recorded))
            .unwrap()
            .recorded_head_matched
    );
    let (status, problem) = app
        .get_as(
            &format!("/v1/authority-requests/{id}/evidence?through=1"),
            "audra",
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "?through");
}
