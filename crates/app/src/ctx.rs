use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use domain::access::Permissions;
use domain::{Permission, Phone, Scope, Timestamp, UserId};
use store::idempotency::IdemKey;

use crate::{Error, Result};

/// The time source. Production reads the system clock; tests fix or step it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(chrono::Utc::now().timestamp_millis())
    }
}

/// A clock that stands still until moved.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at(t: Timestamp) -> Self {
        Self(AtomicI64::new(t.0))
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        login: String,
        name: String,
    },
    /// The system itself: jobs, the demo builder, `kefu init`.
    System(&'static str),
}

impl Actor {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::User { id, .. } => Some(*id),
            Actor::System(_) => None,
        }
    }
    pub fn label(&self) -> String {
        match self {
            Actor::User { login, .. } => login.clone(),
            Actor::System(what) => format!("system:{what}"),
        }
    }
}

/// Everything a use case knows about the request it serves.
#[derive(Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub perms: Permissions,
    pub scope: Scope,
    pub clock: Arc<dyn Clock>,
    pub request_id: String,
    pub locale: String,
    /// Set on creates that carried an Idempotency-Key.
    pub idem: Option<IdemKey>,
}

impl Ctx {
    /// The system acting with every permission (jobs, demo, init).
    pub fn system(what: &'static str, clock: Arc<dyn Clock>) -> Self {
        Self {
            actor: Actor::System(what),
            perms: Permissions::of_roles(&[domain::Role::Admin]),
            scope: Scope::All,
            clock,
            request_id: String::new(),
            locale: "zh-CN".into(),
            idem: None,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn require(&self, p: Permission) -> Result<()> {
        if self.perms.has(p) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    pub fn can(&self, p: Permission) -> bool {
        self.perms.has(p)
    }

    /// A phone number as this principal may see it: whole for roles that call customers,
    /// masked (138****5678) for everyone else.
    pub fn show_phone(&self, p: &Phone) -> String {
        if self.can(Permission::PhoneView) {
            p.as_str().to_string()
        } else {
            p.masked()
        }
    }

    #[must_use]
    pub fn with_idem(mut self, idem: Option<IdemKey>) -> Self {
        self.idem = idem;
        self
    }
}
