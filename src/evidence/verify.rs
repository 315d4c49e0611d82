//! The offline check of an evidence bundle: no database, only the file (and, best, a
//! chain head recorded elsewhere). It recomputes every link of the bundle's stretch of
//! the audit chain, from the request's own entries (their content) and the others'
//! digests, checks the stretch ends at the bundle's head and passes through the recorded
//! one, and checks every timeline entry and the package manifest against the hashes the
//! ledger holds of them. The first problem found is named: which entry, and what is wrong.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{FORMAT, record_digest};
use crate::security::audit::{LinkInput, link_of};
use crate::store::audit::AuditEntry;

/// A chain head recorded elsewhere: `SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedHead {
    /// Its position.
    pub seq: i64,
    /// Its hash (hex).
    pub hash: String,
}

impl std::str::FromStr for RecordedHead {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = text
            .split_once(':')
            .ok_or_else(|| "a head is SEQ:HASH, e.g. 1042:9f86d0…".to_owned())?;
        let seq = seq
            .parse()
            .map_err(|_| format!("`{seq}` is not a sequence number"))?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the head's hash is 64 hex digits".to_owned());
        }
        Ok(RecordedHead { seq, hash })
    }
}

/// What a bundle that holds was checked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The request's ledger entries checked.
    pub entries: usize,
    /// Links recomputed.
    pub links: usize,
    /// Timeline entries checked against the ledger.
    pub timeline: usize,
    /// The bundle's own head.
    pub head: RecordedHead,
    /// Whether a recorded head was given and the chain passes through it.
    pub recorded_head_matched: bool,
}

/// The first thing that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Finding(pub String);

fn finding(text: impl Into<String>) -> Finding {
    Finding(text.into())
}

fn hex_field(value: &Value, key: &str, what: &str) -> Result<Vec<u8>, Finding> {
    value[key]
        .as_str()
        .and_then(|text| hex::decode(text).ok())
        .ok_or_else(|| finding(format!("{what}: `{key}` is not hex")))
}

fn entry_of(value: &Value) -> Result<(i64, AuditEntry), Finding> {
    let seq = value["seq"]
        .as_i64()
        .ok_or_else(|| finding("a ledger entry has no `seq`"))?;
    let text = |key: &str| {
        value[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| finding(format!("ledger entry {seq}: `{key}` is missing")))
    };
    let at = DateTime::parse_from_rfc3339(&text("at")?)
        .map_err(|_| finding(format!("ledger entry {seq}: `at` is not an instant")))?
        .with_timezone(&Utc);
    Ok((
        seq,
        AuditEntry {
            at,
            actor: text("actor")?,
            action: text("action")?,
            subject: text("subject")?,
            workspace_id: value["workspace_id"].as_str().map(str::to_owned),
            data: value["data"].clone(),
        },
    ))
}

fn describe(seq: i64, entry: &AuditEntry) -> String {
    format!("ledger entry {seq} ({} on {})", entry.action, entry.subject)
}

/// Checks `bundle`; `recorded` is a head recorded elsewhere (the bundle's own head is
/// only as good as the bundle without one).
pub fn verify(bundle: &Value, recorded: Option<&RecordedHead>) -> Result<Verified, Finding> {
    if bundle["format"] != FORMAT {
        return Err(finding(format!(
            "not an evidence bundle of format {FORMAT} (format: {})",
            bundle["format"]
        )));
    }
    let ledger = &bundle["ledger"];
    let mut entries: BTreeMap<i64, AuditEntry> = BTreeMap::new();
    let mut last_seq = None;
    for value in ledger["entries"].as_array().into_iter().flatten() {
        let (seq, entry) = entry_of(value)?;
        if let Some(last) = last_seq
            && seq <= last
        {
            return Err(finding(format!(
                "ledger entries are out of order: entry {seq} comes after entry {last}"
            )));
        }
        last_seq = Some(seq);
        entries.insert(seq, entry);
    }
    let links = ledger["links"].as_array().cloned().unwrap_or_default();
    let (first, last) = match (links.first(), links.last()) {
        (Some(first), Some(last)) => (first["seq"].as_i64(), last["seq"].as_i64()),
        _ => return Err(finding("the bundle has no chain links")),
    };
    let (Some(first), Some(_)) = (first, last) else {
        return Err(finding("a chain link has no `seq`"));
    };
    let mut hashes: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut prev: Option<(i64, Vec<u8>)> = None;
    for link in &links {
        let seq = link["seq"]
            .as_i64()
            .ok_or_else(|| finding("a chain link has no `seq`"))?;
        let what = format!("ledger entry {seq}");
        let prev_hash = hex_field(link, "prev_hash", &what)?;
        let hash = hex_field(link, "hash", &what)?;
        if let Some((before, before_hash)) = &prev {
            if seq <= *before {
                return Err(finding(format!(
                    "chain links are out of order: entry {seq} comes after entry {before}"
                )));
            }
            if seq > before + 1 {
                return Err(finding(format!(
                    "ledger entry {} is missing: the links go from entry {before} to entry {seq}",
                    before + 1
                )));
            }
            if &prev_hash != before_hash {
                return Err(finding(format!(
                    "{what}: its link does not follow entry {before} (prev_hash differs from that entry's hash)"
                )));
            }
        }
        let format = link["format"].as_i64().unwrap_or(0) as i16;
        let digest = link["entry_sha256"]
            .as_str()
            .and_then(|d| hex::decode(d).ok());
        let computed = match (entries.get(&seq), &digest) {
            (Some(entry), _) => link_of(format, &prev_hash, LinkInput::Entry(entry)),
            (None, Some(digest)) => link_of(format, &prev_hash, LinkInput::Digest(digest)),
            (None, None) if link["entry"].is_object() => {
                let (_, entry) = entry_of(&link["entry"])?;
                link_of(format, &prev_hash, LinkInput::Entry(&entry))
            }
            (None, None) => {
                return Err(finding(format!(
                    "{what}: neither the entry nor its digest is in the bundle"
                )));
            }
        };
        if computed.as_deref() != Some(hash.as_slice()) {
            return Err(finding(match entries.get(&seq) {
                Some(entry) => format!(
                    "{} does not match its hash: it was altered",
                    describe(seq, entry)
                ),
                None => format!("{what} does not match its hash: it was altered"),
            }));
        }
        hashes.insert(seq, hash.clone());
        prev = Some((seq, hash));
    }
    let (last, last_hash) = prev.expect("links are not empty");
    for (seq, entry) in &entries {
        if !hashes.contains_key(seq) {
            return Err(finding(format!(
                "{} is outside the bundle's links ({first} to {last})",
                describe(*seq, entry)
            )));
        }
    }
    let head = RecordedHead {
        seq: ledger["head"]["seq"].as_i64().unwrap_or_default(),
        hash: ledger["head"]["hash"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    if head.seq != last || head.hash != hex::encode(&last_hash) {
        return Err(finding(format!(
            "the bundle's head ({}:{}) is not its last link (entry {last})",
            head.seq, head.hash
        )));
    }
    let recorded_head_matched = match recorded {
        None => false,
        Some(recorded) if recorded.seq > last => {
            return Err(finding(format!(
                "the bundle ends at entry {last}, before the recorded head {}: fetch a bundle through it (?through={})",
                recorded.seq, recorded.seq
            )));
        }
        Some(recorded) => match hashes.get(&recorded.seq) {
            None => {
                return Err(finding(format!(
                    "the recorded head {} is before the bundle's first link (entry {first}): record a head after the request's first entry",
                    recorded.seq
                )));
            }
            Some(hash) if hex::encode(hash) != recorded.hash => {
                return Err(finding(format!(
                    "the chain in the bundle does not pass through the recorded head: entry {} hashes to {}, the recorded head says {}",
                    recorded.seq,
                    hex::encode(hash),
                    recorded.hash
                )));
            }
            Some(_) => true,
        },
    };
    let timeline = check_timeline(bundle, &entries)?;
    check_package(bundle, &entries)?;
    check_scope(bundle)?;
    Ok(Verified {
        entries: entries.len(),
        links: links.len(),
        timeline,
        head,
        recorded_head_matched,
    })
}

/// Every timeline entry matches the ledger's hash of it, and none the ledger names is
/// missing; answers how many were checked.
fn check_timeline(bundle: &Value, entries: &BTreeMap<i64, AuditEntry>) -> Result<usize, Finding> {
    let request = bundle["record"]["id"].as_str().unwrap_or_default();
    let mut recorded: BTreeMap<i64, (i64, &AuditEntry)> = BTreeMap::new();
    for (seq, entry) in entries {
        if entry.data["request_id"].as_str() == Some(request)
            && let Some(event) = entry.data["event_id"].as_i64()
        {
            recorded.insert(event, (*seq, entry));
        }
    }
    let events = bundle["timeline"].as_array().cloned().unwrap_or_default();
    let mut last = None;
    for event in &events {
        let id = event["id"]
            .as_i64()
            .ok_or_else(|| finding("a timeline entry has no `id`"))?;
        let kind = event["kind"].as_str().unwrap_or("?");
        if let Some(before) = last
            && id <= before
        {
            return Err(finding(format!(
                "timeline entries are out of order: entry {id} ({kind}) comes after entry {before}"
            )));
        }
        last = Some(id);
        let Some((seq, entry)) = recorded.remove(&id) else {
            return Err(finding(format!(
                "timeline entry {id} ({kind}) has no ledger entry: it was added after the fact (or written before timelines were bound to the ledger)"
            )));
        };
        if entry.data["event_sha256"].as_str() != Some(record_digest(event).as_str()) {
            return Err(finding(format!(
                "timeline entry {id} ({kind}) does not match ledger entry {seq}: it was altered"
            )));
        }
    }
    if let Some((id, (seq, entry))) = recorded.into_iter().next() {
        return Err(finding(format!(
            "timeline entry {id} ({}), recorded in ledger entry {seq}, is missing from the bundle",
            entry.data["kind"].as_str().unwrap_or("?")
        )));
    }
    Ok(events.len())
}

/// The package manifest matches its hash, and an authority package's hash is the one
/// the ledger recorded.
fn check_package(bundle: &Value, entries: &BTreeMap<i64, AuditEntry>) -> Result<(), Finding> {
    let package = &bundle["package"];
    let Some(sha256) = package["sha256"].as_str() else {
        return Ok(());
    };
    if record_digest(&package["manifest"]) != sha256 {
        return Err(finding(
            "the package manifest does not match its hash: it was altered",
        ));
    }
    if bundle["kind"] == "authority_request"
        && !entries
            .values()
            .any(|entry| entry.data["package_sha256"].as_str() == Some(sha256))
    {
        return Err(finding(format!(
            "no ledger entry records the package hash {sha256}"
        )));
    }
    Ok(())
}

/// The scopes shown are the ones the timeline recorded (filed, and the last review).
fn check_scope(bundle: &Value) -> Result<(), Finding> {
    let scope = &bundle["scope"];
    if scope.is_null() {
        return Ok(());
    }
    let events = bundle["timeline"].as_array().cloned().unwrap_or_default();
    if let Some(filed) = events.iter().find(|e| e["kind"] == "filed")
        && filed["detail"]["requested_scope"] != scope["requested"]
    {
        return Err(finding(format!(
            "the bundle's requested scope differs from the one filed (timeline entry {})",
            filed["id"]
        )));
    }
    if let Some(review) = events.iter().rev().find(|e| e["kind"] == "reviewed")
        && review["detail"]["approved_scope"] != scope["approved"]
    {
        return Err(finding(format!(
            "the bundle's approved scope differs from the review recorded in timeline entry {}",
            review["id"]
        )));
    }
    Ok(())
}
