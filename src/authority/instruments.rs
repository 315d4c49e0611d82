//! What a legal instrument allows to be produced, per data-map category. Categories fall
//! into tiers, as the US Stored Communications Act draws them and large platforms follow
//! (WhatsApp: subpoena -> basic subscriber records, 2703(d) court order -> other non-content
//! records, search warrant -> content): an instrument allows its tier and the ones below.
//! Some categories are never produced (secrets, staff access, the engine's state, legal
//! records). A preservation request produces nothing: it preserves (a hold). An emergency
//! request may reach content, limited to what the threat needs, and is reviewed after.

use crate::lifecycle::data_map::Category;

/// A legal instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// A subpoena (18 USC 2703(c)(2)).
    Subpoena,
    /// A court order (18 USC 2703(d)).
    CourtOrder,
    /// A search warrant.
    Warrant,
    /// A preservation request (18 USC 2703(f)).
    Preservation,
    /// An emergency request (18 USC 2702(b)(8)).
    Emergency,
    /// Anything else (treated as a subpoena).
    Other,
}

impl Instrument {
    /// Every instrument's wire name.
    pub const NAMES: [&'static str; 6] = [
        "subpoena",
        "court_order",
        "warrant",
        "preservation",
        "emergency",
        "other",
    ];

    /// The instrument named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "subpoena" => Some(Self::Subpoena),
            "court_order" => Some(Self::CourtOrder),
            "warrant" => Some(Self::Warrant),
            "preservation" => Some(Self::Preservation),
            "emergency" => Some(Self::Emergency),
            "other" => Some(Self::Other),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subpoena => "subpoena",
            Self::CourtOrder => "court_order",
            Self::Warrant => "warrant",
            Self::Preservation => "preservation",
            Self::Emergency => "emergency",
            Self::Other => "other",
        }
    }

    /// The highest tier it allows to be produced (`None`: nothing is produced).
    pub fn reaches(self) -> Option<Tier> {
        match self {
            Self::Subpoena | Self::Other => Some(Tier::Subscriber),
            Self::CourtOrder => Some(Tier::NonContent),
            Self::Warrant | Self::Emergency => Some(Tier::Content),
            Self::Preservation => None,
        }
    }
}

/// How sensitive a category is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Who the business account is: name, WhatsApp account and number ids.
    Subscriber,
    /// Records about communications, not what they said: statuses, calls, the ledger.
    NonContent,
    /// What was said: messages, webhook payloads, templates, run inputs.
    Content,
}

impl Tier {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscriber => "subscriber_records",
            Self::NonContent => "non_content_records",
            Self::Content => "content",
        }
    }
}

/// The tier of a category (`None`: never produced to an authority).
pub fn tier_of(category: Category) -> Option<Tier> {
    match category {
        Category::WorkspaceConfig => Some(Tier::Subscriber),
        Category::GraphCallRecords
        | Category::MessageStatuses
        | Category::AuditEvents
        | Category::PrivacyRecords
        | Category::CustomerRecords => Some(Tier::NonContent),
        Category::WebhookPayloads
        | Category::InboundMessages
        | Category::TemplateRecords
        | Category::RunRecords => Some(Tier::Content),
        Category::MetaCredentials
        | Category::StaffAccess
        | Category::EngineState
        | Category::LegalRecords => None,
    }
}

/// Why an instrument does not allow a category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// The category is never produced.
    #[error(
        "{0} is never produced to an authority (secrets, staff access, engine state and legal records stay)"
    )]
    Never(&'static str),
    /// The instrument produces nothing.
    #[error("a preservation request preserves data; it produces none")]
    PreservationOnly,
    /// The category's tier is above what the instrument reaches.
    #[error("{category} is {tier}: a {instrument} reaches {reaches} at most")]
    AboveTier {
        /// The category.
        category: &'static str,
        /// Its tier.
        tier: &'static str,
        /// The instrument.
        instrument: &'static str,
        /// The highest tier it reaches.
        reaches: &'static str,
    },
}

/// The rule that allows `instrument` to produce `category` (the basis recorded with a
/// disclosure), or why it does not.
pub fn basis(instrument: Instrument, category: Category) -> Result<String, NotAllowed> {
    let tier = tier_of(category).ok_or(NotAllowed::Never(category.as_str()))?;
    let reaches = instrument.reaches().ok_or(NotAllowed::PreservationOnly)?;
    if tier > reaches {
        return Err(NotAllowed::AboveTier {
            category: category.as_str(),
            tier: tier.as_str(),
            instrument: instrument.as_str(),
            reaches: reaches.as_str(),
        });
    }
    Ok(format!(
        "{}: {} may be produced under a {}",
        category.as_str(),
        tier.as_str(),
        instrument.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_instrument_reaches_its_tier_and_those_below_only() {
        use Category as C;
        let allowed = |instrument, category| basis(instrument, category).is_ok();
        assert!(allowed(Instrument::Subpoena, C::WorkspaceConfig));
        assert!(!allowed(Instrument::Subpoena, C::MessageStatuses));
        assert!(!allowed(Instrument::Subpoena, C::InboundMessages));
        assert!(allowed(Instrument::CourtOrder, C::MessageStatuses));
        assert!(!allowed(Instrument::CourtOrder, C::InboundMessages));
        assert!(allowed(Instrument::Warrant, C::InboundMessages));
        assert!(allowed(Instrument::Emergency, C::WebhookPayloads));
        assert!(!allowed(Instrument::Other, C::GraphCallRecords));
        assert_eq!(
            basis(Instrument::Preservation, C::WorkspaceConfig),
            Err(NotAllowed::PreservationOnly)
        );
        for never in [
            C::MetaCredentials,
            C::StaffAccess,
            C::EngineState,
            C::LegalRecords,
        ] {
            assert_eq!(
                basis(Instrument::Warrant, never),
                Err(NotAllowed::Never(never.as_str()))
            );
        }
        let refused = basis(Instrument::Subpoena, C::InboundMessages).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "inbound_messages is content: a subpoena reaches subscriber_records at most"
        );
        for name in Instrument::NAMES {
            assert_eq!(Instrument::parse(name).map(Instrument::as_str), Some(name));
        }
    }
}
