//! The product domains this service runs, in one list ([`all`]); `app` wires each of
//! them through the [`Domain`] trait (src/domain.rs): handlers into the engine's
//! registry, loops into the process.
//!
//! Adding a domain: a folder `src/<domain>/` with the faces [`crate::domain`] names, a
//! `Domain` value for it, one line in [`all`]; its HTTP resources go under `src/api/` and
//! call its commands.

use crate::domain::{Domain, DomainContext};
use crate::engine::handlers::HandlerRegistry;

/// Every domain the service runs.
pub fn all(context: &DomainContext) -> Vec<Box<dyn Domain>> {
    vec![
        Box::new(crate::whatsapp::WhatsApp::new(context.clone())),
        Box::new(crate::lifecycle::Lifecycle::new(context.clone())),
        Box::new(crate::privacy::Privacy::new(context.clone())),
        Box::new(crate::authority::Authority::new(context.clone())),
        Box::new(crate::reminders::Reminders::new(context.clone())),
    ]
}

/// The engine's built-in handlers and every domain's, in one registry.
pub fn handler_registry(domains: &[Box<dyn Domain>]) -> HandlerRegistry {
    let mut registry = HandlerRegistry::with_builtins();
    for domain in domains {
        domain.register_handlers(&mut registry);
    }
    registry
}
