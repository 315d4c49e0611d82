//! The template TTL against a policy's offsets. The Cloud API sets no expiry on one
//! message: how long Meta keeps trying to deliver a template message is the template's
//! `message_send_ttl_seconds` (30 days when it sets none). A reminder 2 hours ahead whose
//! template keeps trying for a day can reach a phone that was offline after the
//! appointment, so booking and the policy say so (a warning, not a refusal: a phone that
//! is online gets it in time, and the business picks the template).

use chrono::Duration;
use sqlx::PgConnection;

use super::policy::Policy;
use super::store::customers as store;

/// How long Meta keeps trying a message whose template sets no TTL.
pub const DEFAULT_TTL: Duration = Duration::days(30);

/// The warning for `policy` when its template's TTL (`ttl_seconds`, `None`: Meta's
/// default) outlives its shortest offset; `None` when every reminder expires before the
/// appointment.
pub fn outlives(policy: &Policy, ttl_seconds: Option<i32>) -> Option<String> {
    let shortest = *policy.offsets.iter().min()?;
    let ttl = ttl_seconds.map_or(DEFAULT_TTL.num_seconds(), i64::from);
    (ttl > shortest).then(|| {
        format!(
            "template `{}` keeps trying for {ttl} s (message_send_ttl_seconds{}), longer than \
             the {shortest} s reminder: a phone offline at send time may receive it after the \
             appointment; submit the template with message_send_ttl_seconds of at most {shortest}",
            policy.template,
            if ttl_seconds.is_none() {
                " unset: Meta's default"
            } else {
                ""
            },
        )
    })
}

/// [`outlives`] for `policy` with its template as the workspace has it (no warning for a
/// template the workspace does not have: that is refused elsewhere).
pub async fn warnings(
    conn: &mut PgConnection,
    workspace: &str,
    policy: &Policy,
) -> sqlx::Result<Vec<String>> {
    let found = store::template_state(conn, workspace, &policy.template, &policy.language).await?;
    Ok(found
        .and_then(|(_, ttl)| outlives(policy, ttl))
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(offsets: &[i64]) -> Policy {
        Policy {
            offsets: offsets.to_vec(),
            ..Policy::default()
        }
    }

    #[test]
    fn a_ttl_longer_than_the_shortest_offset_is_named_with_the_bound_to_set() {
        let cases: [(&[i64], Option<i32>, Option<i64>); 6] = [
            // (offsets, template TTL, the bound the warning names)
            (&[86_400, 7_200], None, Some(7_200)),
            (&[86_400, 7_200], Some(43_200), Some(7_200)),
            (&[86_400, 7_200], Some(7_200), None),
            (&[86_400, 7_200], Some(3_600), None),
            (&[86_400], Some(86_401), Some(86_400)),
            (&[], None, None),
        ];
        for (offsets, ttl, bound) in cases {
            let warning = outlives(&policy(offsets), ttl);
            match bound {
                Some(bound) => {
                    let text = warning.unwrap_or_else(|| panic!("{offsets:?} {ttl:?}: no warning"));
                    assert!(text.ends_with(&format!("at most {bound}")), "{text}");
                    assert!(text.contains(&Policy::default().template), "{text}");
                }
                None => assert_eq!(warning, None, "{offsets:?} {ttl:?}"),
            }
        }
    }
}
