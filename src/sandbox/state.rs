//! The sandbox's world: businesses with their WABA and phone number, Embedded Signup
//! codes (30 s, single use), tokens, templates under review, register attempts, faults.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;

use crate::meta::GraphError;

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The app id clients must present.
    pub app_id: String,
    /// The app secret clients must present (and webhooks are signed with).
    pub app_secret: String,
    /// How long an Embedded Signup code may be exchanged.
    pub code_ttl: Duration,
    /// How long a template stays PENDING.
    pub review_delay: Duration,
    /// Where webhooks go (the service's `/webhooks/whatsapp`); none: not delivered.
    pub callback_url: Option<String>,
    /// The verify token the callback must echo the handshake for.
    pub verify_token: String,
}

/// A business that finished Embedded Signup.
#[derive(Debug, Clone)]
pub struct Business {
    /// Business portfolio id.
    pub business_id: String,
    /// WhatsApp Business Account id.
    pub waba_id: String,
    /// Its phone number id.
    pub phone_number_id: String,
    /// Display number.
    pub display_phone_number: String,
}

#[derive(Debug)]
struct Code {
    issued: Instant,
    used: bool,
    waba_id: String,
}

/// A template as Meta keeps it.
#[derive(Debug, Clone)]
pub struct Template {
    /// Id.
    pub id: String,
    /// WABA.
    pub waba_id: String,
    /// Name.
    pub name: String,
    /// Language.
    pub language: String,
    /// Category.
    pub category: String,
    /// Components as submitted.
    pub components: Value,
    /// PENDING until `review_at`, then APPROVED or REJECTED.
    pub status: String,
    /// When the review result is due.
    pub review_at: Instant,
    /// Whether the review result was announced by webhook (or deliberately dropped).
    pub announced: bool,
    /// `message_send_ttl_seconds`: how long a message waits for an offline phone.
    pub ttl_seconds: Option<u64>,
}

/// An armed fault: the next `remaining` calls of `operation` get it.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Operation name (as in `graph::Operation`).
    pub operation: String,
    /// Graph error to answer with, if any.
    pub error: Option<GraphError>,
    /// HTTP status for the error.
    pub http_status: u16,
    /// Delay before answering.
    pub delay: Duration,
    /// Calls left.
    pub remaining: u32,
}

#[derive(Debug, Default)]
struct World {
    businesses: HashMap<String, Business>,
    codes: HashMap<String, Code>,
    /// token -> WABA it grants.
    tokens: HashMap<String, String>,
    subscribed: HashMap<String, bool>,
    registrations: HashMap<String, Vec<Instant>>,
    templates: Vec<Template>,
    faults: Vec<Fault>,
    /// Last send per (phone number, recipient), for the pair limit.
    last_send: HashMap<(String, String), Instant>,
    /// Sends per phone number in the last second, for the throughput limit.
    recent_sends: HashMap<String, Vec<Instant>>,
    /// Webhook payloads to deliver, with when.
    outbox: Vec<(Instant, serde_json::Value)>,
    /// What each customer's phone received (by `wa_id`), oldest first.
    handsets: HashMap<String, Vec<serde_json::Value>>,
    /// Whether each phone number is registered for the Cloud API.
    registered: HashMap<String, bool>,
}

/// The sandbox.
#[derive(Debug)]
pub struct Sandbox {
    /// Settings.
    pub settings: SandboxSettings,
    world: Mutex<World>,
    reach: Mutex<super::reach::Reach>,
}

/// Register calls allowed per number per moving window.
pub const REGISTER_LIMIT: usize = 10;
/// Gap Meta enforces between messages to the same recipient.
pub const PAIR_GAP: Duration = Duration::from_secs(6);
/// Messages per second per number before 130429.
pub const THROUGHPUT_PER_SECOND: usize = 80;
/// The register window.
pub const REGISTER_WINDOW: Duration = Duration::from_secs(72 * 3600);

fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|i| char::from(b'0' + rng.random_range(if i == 0 { 1 } else { 0 }..10)))
        .collect()
}

impl Sandbox {
    /// An empty sandbox.
    pub fn new(settings: SandboxSettings) -> Self {
        Self {
            settings,
            world: Mutex::new(World::default()),
            reach: Mutex::new(super::reach::Reach::default()),
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("sandbox lock")
    }

    /// The phones' reachability: customer-service windows, offline phones.
    pub fn reach(&self) -> std::sync::MutexGuard<'_, super::reach::Reach> {
        self.reach.lock().expect("sandbox lock")
    }

    /// How long a message of `template` waits for an offline phone: its
    /// `message_send_ttl_seconds`, else Meta's default (10 minutes for authentication
    /// templates, 30 days for the others and for free-form messages).
    pub fn message_ttl(&self, waba_id: &str, template: Option<(&str, &str)>) -> Duration {
        let world = self.world();
        let found = template.and_then(|(name, language)| {
            world
                .templates
                .iter()
                .find(|t| t.waba_id == waba_id && t.name == name && t.language == language)
        });
        match found {
            Some(Template {
                ttl_seconds: Some(seconds),
                ..
            }) => Duration::from_secs(*seconds),
            Some(t) if t.category == "AUTHENTICATION" => Duration::from_secs(600),
            _ => Duration::from_secs(30 * 86400),
        }
    }

    /// What a finished Embedded Signup yields: a new business and a fresh code.
    pub fn embedded_signup(&self) -> (Business, String) {
        let business = Business {
            business_id: digits(15),
            waba_id: digits(15),
            phone_number_id: digits(15),
            display_phone_number: format!("+1 555 01{}", digits(2)),
        };
        let code = format!("AQ{}", hex::encode(rand::rng().random::<[u8; 24]>()));
        let mut world = self.world();
        world.codes.insert(
            code.clone(),
            Code {
                issued: Instant::now(),
                used: false,
                waba_id: business.waba_id.clone(),
            },
        );
        world
            .businesses
            .insert(business.waba_id.clone(), business.clone());
        (business, code)
    }

    /// Exchanges a code for a token: once, within the code's lifetime.
    pub fn exchange(&self, code: &str) -> Result<String, GraphError> {
        let mut world = self.world();
        let Some(entry) = world.codes.get_mut(code) else {
            return Err(GraphError::new(100, "Invalid verification code format."));
        };
        if entry.used {
            return Err(GraphError::new(
                100,
                "This authorization code has been used.",
            ));
        }
        if entry.issued.elapsed() > self.settings.code_ttl {
            return Err(GraphError::new(100, "This authorization code has expired."));
        }
        entry.used = true;
        let waba = entry.waba_id.clone();
        let token = format!("EAAG{}", hex::encode(rand::rng().random::<[u8; 32]>()));
        world.tokens.insert(token.clone(), waba);
        Ok(token)
    }

    /// The WABA a token was granted, if it is valid.
    pub fn waba_of(&self, token: &str) -> Option<String> {
        self.world().tokens.get(token).cloned()
    }

    /// A business by WABA.
    pub fn business(&self, waba_id: &str) -> Option<Business> {
        self.world().businesses.get(waba_id).cloned()
    }

    /// The business owning a phone number.
    pub fn business_of_phone(&self, phone_number_id: &str) -> Option<Business> {
        self.world()
            .businesses
            .values()
            .find(|b| b.phone_number_id == phone_number_id)
            .cloned()
    }

    /// Records a subscription of the app to a WABA.
    pub fn subscribe(&self, waba_id: &str) {
        self.world().subscribed.insert(waba_id.to_owned(), true);
    }

    /// Whether the app is subscribed to a WABA.
    pub fn is_subscribed(&self, waba_id: &str) -> bool {
        self.world()
            .subscribed
            .get(waba_id)
            .copied()
            .unwrap_or(false)
    }

    /// Counts a register call; the 11th within 72 hours is refused with 133016.
    pub fn register(&self, phone_number_id: &str) -> Result<(), GraphError> {
        self.set_registration(phone_number_id, true)
    }

    /// Deregisters a phone number (counted with registrations, as Meta does); a number
    /// deregistered already stays so.
    pub fn deregister(&self, phone_number_id: &str) -> Result<(), GraphError> {
        self.set_registration(phone_number_id, false)
    }

    /// A register or deregister call: counted in one window (the 11th within 72 hours is
    /// refused with 133016), then the number's registration set.
    fn set_registration(&self, phone_number_id: &str, registered: bool) -> Result<(), GraphError> {
        let mut world = self.world();
        let calls = world
            .registrations
            .entry(phone_number_id.to_owned())
            .or_default();
        calls.retain(|at| at.elapsed() < REGISTER_WINDOW);
        calls.push(Instant::now());
        if calls.len() > REGISTER_LIMIT {
            return Err(GraphError::new(
                133016,
                "(#133016) Account register deregister rate limit exceeded",
            ));
        }
        world
            .registered
            .insert(phone_number_id.to_owned(), registered);
        Ok(())
    }

    /// Whether a phone number is registered.
    pub fn is_registered(&self, phone_number_id: &str) -> bool {
        self.world()
            .registered
            .get(phone_number_id)
            .copied()
            .unwrap_or(false)
    }

    /// Removes the app's subscription to a WABA.
    pub fn unsubscribe(&self, waba_id: &str) {
        self.world().subscribed.insert(waba_id.to_owned(), false);
    }

    /// Stores a submitted template; refuses a second one with the same name and language.
    pub fn create_template(&self, mut template: Template) -> Result<Template, GraphError> {
        let mut world = self.world();
        if world.templates.iter().any(|t| {
            t.waba_id == template.waba_id
                && t.name == template.name
                && t.language == template.language
        }) {
            let mut error = GraphError::new(100, "Content in This Language Already Exists");
            error.subcode = Some(2388024);
            return Err(error);
        }
        template.id = digits(16);
        template.status = "PENDING".to_owned();
        template.review_at = Instant::now() + self.settings.review_delay;
        world.templates.push(template.clone());
        Ok(template)
    }

    /// Templates of a WABA (reviews that fell due are decided first).
    pub fn templates(&self, waba_id: &str) -> Vec<Template> {
        let mut world = self.world();
        decide_due_reviews(&mut world.templates);
        world
            .templates
            .iter()
            .filter(|t| t.waba_id == waba_id)
            .cloned()
            .collect()
    }

    /// One template by id (its review decided if due).
    pub fn template(&self, id: &str) -> Option<Template> {
        let mut world = self.world();
        decide_due_reviews(&mut world.templates);
        world.templates.iter().find(|t| t.id == id).cloned()
    }

    /// Templates whose review result has not been announced yet, marked announced.
    pub fn take_unannounced_reviews(&self) -> Vec<Template> {
        let mut world = self.world();
        decide_due_reviews(&mut world.templates);
        world
            .templates
            .iter_mut()
            .filter(|t| t.status != "PENDING" && !t.announced)
            .map(|t| {
                t.announced = true;
                t.clone()
            })
            .collect()
    }

    /// Accepts a template message: the template must be approved in that language, the
    /// recipient not messaged within 6 s (131056), the number under 80 messages/s (130429).
    pub fn send_message(
        &self,
        phone_number_id: &str,
        waba_id: &str,
        to: &str,
        template: &str,
        language: &str,
    ) -> Result<String, GraphError> {
        let mut world = self.world();
        decide_due_reviews(&mut world.templates);
        let approved = world.templates.iter().any(|t| {
            t.waba_id == waba_id
                && t.name == template
                && t.language == language
                && t.status == "APPROVED"
        });
        if !approved {
            let mut error = GraphError::new(
                132001,
                "(#132001) Template name does not exist in the translation",
            );
            error.error_data = Some(Box::new(serde_json::json!({
                "messaging_product": "whatsapp",
                "details": format!("template name ({template}) does not exist in {language}"),
            })));
            return Err(error);
        }
        accept(&mut world, phone_number_id, to)
    }

    /// Sends a free-form text: only within the customer-service window (131047 outside).
    pub fn send_text(&self, phone_number_id: &str, to: &str) -> Result<String, GraphError> {
        if !self.reach().window_open(phone_number_id, to) {
            return Err(GraphError::new(
                131047,
                "(#131047) Re-engagement message: more than 24 hours have passed since the recipient last replied to the sender number",
            ));
        }
        accept(&mut self.world(), phone_number_id, to)
    }

    /// Puts a sent message on the recipient's phone.
    pub fn deliver_to_handset(&self, to: &str, message: serde_json::Value) {
        self.world()
            .handsets
            .entry(to.to_owned())
            .or_default()
            .push(message);
    }

    /// What the phone of `wa_id` received, oldest first.
    pub fn handset(&self, wa_id: &str) -> Vec<serde_json::Value> {
        self.world()
            .handsets
            .get(wa_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Queues a webhook payload for delivery after `delay`.
    pub fn queue_delivery(&self, delay: Duration, payload: serde_json::Value) {
        self.world().outbox.push((Instant::now() + delay, payload));
    }

    /// Webhook payloads that are due, in the order they fell due.
    pub fn take_due_deliveries(&self) -> Vec<serde_json::Value> {
        let now = Instant::now();
        let mut world = self.world();
        world.outbox.sort_by_key(|(at, _)| *at);
        let due = world.outbox.iter().take_while(|(at, _)| *at <= now).count();
        world
            .outbox
            .drain(..due)
            .map(|(_, payload)| payload)
            .collect()
    }

    /// Deletes a WABA's templates named `name` (only the one with `id` when given). DISABLED
    /// templates cannot be deleted; `Ok(0)` when nothing matched.
    pub fn delete_templates(
        &self,
        waba_id: &str,
        name: &str,
        id: Option<&str>,
    ) -> Result<usize, GraphError> {
        let mut world = self.world();
        let matches =
            |t: &Template| t.waba_id == waba_id && t.name == name && id.is_none_or(|id| t.id == id);
        if world
            .templates
            .iter()
            .any(|t| matches(t) && t.status == "DISABLED")
        {
            return Err(GraphError::new(
                100,
                "(#100) A disabled template cannot be deleted",
            ));
        }
        let before = world.templates.len();
        world.templates.retain(|t| !matches(t));
        Ok(before - world.templates.len())
    }

    /// Sets a template's status, as Meta's later quality checks do (PAUSED, DISABLED,
    /// REINSTATED, …), and queues its status webhook. `None` when there is no such template.
    pub fn set_template_status(&self, id: &str, status: &str) -> Option<Template> {
        let mut world = self.world();
        let template = world.templates.iter_mut().find(|t| t.id == id)?;
        template.status = status.to_owned();
        template.announced = false;
        Some(template.clone())
    }

    /// Arms a fault.
    pub fn arm(&self, fault: Fault) {
        self.world().faults.push(fault);
    }

    /// Takes one use of the first fault armed for `operation`.
    pub fn take_fault(&self, operation: &str) -> Option<Fault> {
        let mut world = self.world();
        let index = world
            .faults
            .iter()
            .position(|f| f.operation == operation && f.remaining > 0)?;
        let fault = &mut world.faults[index];
        fault.remaining -= 1;
        let taken = fault.clone();
        if fault.remaining == 0 {
            world.faults.remove(index);
        }
        Some(taken)
    }
}

/// The review result of the sandbox: templates named `reject_…` are REJECTED, others
/// APPROVED, once their review delay has passed.
fn decide_due_reviews(templates: &mut [Template]) {
    let now = Instant::now();
    for template in templates
        .iter_mut()
        .filter(|t| t.status == "PENDING" && t.review_at <= now)
    {
        template.status = if template.name.starts_with("reject_") {
            "REJECTED".to_owned()
        } else {
            "APPROVED".to_owned()
        };
    }
}

/// Applies Meta's send limits (a pair gap, the per-number throughput) and answers the
/// accepted message's id.
fn accept(world: &mut World, phone_number_id: &str, to: &str) -> Result<String, GraphError> {
    let now = Instant::now();
    let pair = (phone_number_id.to_owned(), to.to_owned());
    if world
        .last_send
        .get(&pair)
        .is_some_and(|at| now.duration_since(*at) < PAIR_GAP)
    {
        return Err(GraphError::new(
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        ));
    }
    let recent = world
        .recent_sends
        .entry(phone_number_id.to_owned())
        .or_default();
    recent.retain(|at| now.duration_since(*at) < Duration::from_secs(1));
    if recent.len() >= THROUGHPUT_PER_SECOND {
        return Err(GraphError::new(130429, "(#130429) Rate limit hit"));
    }
    recent.push(now);
    world.last_send.insert(pair, now);
    Ok(format!(
        "wamid.HBgL{}",
        hex::encode(rand::rng().random::<[u8; 12]>()).to_ascii_uppercase()
    ))
}
