use std::collections::BTreeMap;

/// Everything a use case can refuse with. `code()` names are stable: clients rely on them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Validation {
        message: String,
        fields: BTreeMap<String, String>,
    },
    #[error("the record was changed by someone else; reload and try again")]
    VersionConflict,
    #[error("this update needs the version it is based on (If-Match)")]
    PreconditionRequired,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("sign in first")]
    Unauthenticated,
    #[error("wrong login or password")]
    BadCredentials,
    #[error("too many failed sign-ins; try again in a few minutes")]
    TooManyAttempts,
    #[error("this Idempotency-Key was already used with another request body")]
    IdempotencyKeyReused,
    #[error("{message}")]
    Duplicate {
        message: String,
        existing: Option<i64>,
    },
    #[error("{0}")]
    Conflict(String),
    /// The public web form's token is not one this server signed (or names another brand).
    #[error("this form was not issued by this server; open the form again")]
    FormTokenInvalid,
    /// The public web form was opened too long ago.
    #[error("this form has expired; check your entries and send it again")]
    FormTokenExpired,
    /// The public web form looks machine-filled (its hidden field has a value).
    #[error("the request was refused")]
    FormRefused,
    /// Too many public submissions from one address or for one phone.
    #[error("too many requests from this address or for this phone; try again later")]
    RateLimited,
    /// A raw mail whose structure cannot be read (inbound email): it is stored as `failed`
    /// under `id` with the reason.
    #[error("malformed mail (stored as #{id}): {reason}")]
    MalformedMail { id: i64, reason: String },
    /// The ticket workflow refused a move (`domain::ticket` decides; the code names why).
    #[error("{0}")]
    Workflow(#[from] domain::ticket::TicketError),
    /// A file over the size limit (attachments).
    #[error("the file exceeds {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// A file whose bytes are not of an accepted type (attachments).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("internal error")]
    Store(#[source] store::Error),
    /// Reading or writing the files folder failed.
    #[error("internal error")]
    Io(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::Validation { .. } => "validation",
            Error::VersionConflict => "version_conflict",
            Error::PreconditionRequired => "precondition_required",
            Error::Forbidden => "forbidden",
            Error::Unauthenticated => "unauthenticated",
            Error::BadCredentials => "bad_credentials",
            Error::TooManyAttempts => "too_many_attempts",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::Duplicate { .. } => "duplicate",
            Error::Conflict(_) => "conflict",
            Error::FormTokenInvalid => "form_token_invalid",
            Error::FormTokenExpired => "form_token_expired",
            Error::FormRefused => "form_refused",
            Error::RateLimited => "rate_limited",
            Error::MalformedMail { .. } => "malformed_mail",
            Error::Workflow(e) => {
                use domain::ticket::TicketError as T;
                match e {
                    T::NotAllowed { .. } => "not_allowed",
                    T::NotOwner { .. } => "not_owner",
                    T::WrongKind { .. } => "wrong_kind",
                    T::NoTracker => "no_tracker",
                    T::PlanNotSigned => "plan_not_signed",
                    T::CommittedTimeInPast { .. } => "committed_time_in_past",
                    T::CompensationOpen { .. } => "compensation_open",
                    T::ReopenWindowPassed => "reopen_window_passed",
                    T::MergeIntoSelf => "merge_into_self",
                }
            }
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Store(_) | Error::Io(_) => "internal",
        }
    }

    /// A validation error about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::Validation {
            message: format!("{field}: {message}"),
            fields: BTreeMap::from([(field.to_string(), message)]),
        }
    }
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NotFound => Error::NotFound,
            store::Error::VersionConflict => Error::VersionConflict,
            store::Error::Duplicate(what) => Error::Duplicate {
                message: format!("already exists ({what})"),
                existing: None,
            },
            other => {
                tracing::error!(error = %other, "store error");
                Error::Store(other)
            }
        }
    }
}

/// Collects field errors while parsing a form or body, so the user sees all of them at once.
#[derive(Debug, Default)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `r` under `field` and returns its value.
    pub fn take<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        r: std::result::Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0
                    .entry(field.to_string())
                    .or_insert_with(|| e.to_string());
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when nothing was recorded; otherwise one validation error naming every field.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::Validation {
            message,
            fields: self.0,
        })
    }
}
