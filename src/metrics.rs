//! What `/metrics` shows the hospital's monitoring: counters, gauges and a
//! latency histogram, kept with the official Prometheus client
//! (`prometheus-client`) and written in the OpenMetrics text format, which
//! Prometheus scrapes natively.
//!
//! Counts only, never a person: every label value is one of a fixed set
//! chosen here or by the router (a route *pattern* such as `/v/{code}`,
//! never the path, which carries codes). The methods take enums and
//! `&'static str` patterns for that reason — a request's text cannot
//! reach a label.
//!
//! Counters live in the process and start at zero on every start, as
//! Prometheus expects (`rate()` handles the resets). Gauges that describe
//! the database (the outbox, the last purge) are read from it at scrape
//! time, so they are right whichever process changed the data.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::retention;

/// Who booked or cancelled a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The family, on the invite page or with the visit link.
    Family,
    /// Ward staff (a visit set to "patient unavailable", a discharge).
    Staff,
    /// A hospital system through the API.
    Api,
}

impl By {
    const ALL: [By; 3] = [By::Family, By::Staff, By::Api];

    fn label(self) -> &'static str {
        match self {
            By::Family => "family",
            By::Staff => "staff",
            By::Api => "api",
        }
    }
}

/// What a Jitsi token was minted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A family joining a booked visit (`/v/<code>`).
    Family,
    /// Staff opening a visit or an instant meeting as moderator.
    Staff,
    /// A ward tablet joining its booked visit as moderator.
    Kiosk,
    /// A guest of an instant meeting.
    Guest,
}

impl TokenKind {
    const ALL: [TokenKind; 4] = [
        TokenKind::Family,
        TokenKind::Staff,
        TokenKind::Kiosk,
        TokenKind::Guest,
    ];

    fn label(self) -> &'static str {
        match self {
            TokenKind::Family => "family",
            TokenKind::Staff => "staff",
            TokenKind::Kiosk => "kiosk",
            TokenKind::Guest => "guest",
        }
    }
}

/// The states of an outbox row that monitoring watches (`sent` rows are
/// the normal case and not worth a series).
const OUTBOX_STATES: [&str; 3] = ["pending", "failed", "stale"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByLabels {
    by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Latency buckets from 5 ms to about 10 s, doubling: bedside's pages
/// answer in milliseconds; a second or more means a stuck database or a
/// slow disk, and the top buckets show how bad.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// What the database says at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Outbox rows per state.
    pub outbox: crate::mail::outbox::Counts,
    /// Seconds since the last successful purge (or since this server
    /// started, when none succeeded yet — the rule `/healthz` uses).
    pub purge_age_secs: i64,
}

/// Every series bedside exports, registered once at start.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    bookings_created: Family<ByLabels, Counter>,
    bookings_cancelled: Family<ByLabels, Counter>,
    tokens: Family<KindLabels, Counter>,
    purge_deleted: Family<CategoryLabels, Counter>,
    failed_logins: Counter,
    outbox: Family<StateLabels, Gauge>,
    purge_age: Gauge,
}

impl Metrics {
    /// Registers every series. `purge_interval` is exported as a gauge so
    /// an alert can compare the purge's age with it without repeating the
    /// configuration.
    pub fn new(purge_interval: Duration) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "bedside_http_requests",
            "HTTP requests answered, by route pattern and status code",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register_with_unit(
            "bedside_http_request_duration",
            "Time from receiving a request to having its response, by route pattern",
            Unit::Seconds,
            durations.clone(),
        );
        let bookings_created = Family::<ByLabels, Counter>::default();
        registry.register(
            "bedside_bookings_created",
            "Visits booked, by who booked them (family or api)",
            bookings_created.clone(),
        );
        let bookings_cancelled = Family::<ByLabels, Counter>::default();
        registry.register(
            "bedside_bookings_cancelled",
            "Visits cancelled, by who cancelled them (family, staff or api; a discharge counts for \
             whoever discharged)",
            bookings_cancelled.clone(),
        );
        let tokens = Family::<KindLabels, Counter>::default();
        registry.register(
            "bedside_tokens_minted",
            "Jitsi tokens signed, by what for (family, staff, kiosk, guest)",
            tokens.clone(),
        );
        let purge_deleted = Family::<CategoryLabels, Counter>::default();
        registry.register(
            "bedside_purge_rows_deleted",
            "Rows deleted by this server's scheduled purges, by category",
            purge_deleted.clone(),
        );
        let failed_logins = Counter::default();
        registry.register(
            "bedside_failed_logins",
            "Failed staff logins since bedside started",
            failed_logins.clone(),
        );
        let outbox = Family::<StateLabels, Gauge>::default();
        registry.register(
            "bedside_outbox_messages",
            "Mail in the outbox by state: pending (waiting or retrying), failed (refused for \
             good), stale (the visit was over before it could go)",
            outbox.clone(),
        );
        let purge_age = Gauge::default();
        registry.register_with_unit(
            "bedside_purge_last_success_age",
            "Seconds since the last purge that ran to the end (since start when none has yet)",
            Unit::Seconds,
            purge_age.clone(),
        );
        let interval = Gauge::<i64>::default();
        interval.set(i64::try_from(purge_interval.as_secs()).unwrap_or(i64::MAX));
        registry.register_with_unit(
            "bedside_purge_interval",
            "The purge schedule's interval; /healthz and /readyz call the purge overdue after \
             twice this",
            Unit::Seconds,
            interval,
        );

        // Every known label value from the start, at zero: a series that
        // appears only on its first event makes `rate()` and `absent()`
        // alerts miss that event.
        for by in By::ALL {
            drop(bookings_cancelled.get_or_create(&ByLabels { by: by.label() }));
        }
        for by in [By::Family, By::Api] {
            drop(bookings_created.get_or_create(&ByLabels { by: by.label() }));
        }
        for kind in TokenKind::ALL {
            drop(tokens.get_or_create(&KindLabels { kind: kind.label() }));
        }
        for (category, _) in retention::Counts::default().categories() {
            drop(purge_deleted.get_or_create(&CategoryLabels { category }));
        }
        for state in OUTBOX_STATES {
            drop(outbox.get_or_create(&StateLabels { state }));
        }

        Metrics {
            registry,
            requests,
            durations,
            bookings_created,
            bookings_cancelled,
            tokens,
            purge_deleted,
            failed_logins,
            outbox,
            purge_age,
        }
    }

    /// One answered request. `route` is the router's pattern.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.durations
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }

    /// A visit was booked.
    pub fn booking_created(&self, by: By) {
        self.bookings_created
            .get_or_create(&ByLabels { by: by.label() })
            .inc();
    }

    /// `n` visits were cancelled.
    pub fn bookings_cancelled(&self, by: By, n: u64) {
        self.bookings_cancelled
            .get_or_create(&ByLabels { by: by.label() })
            .inc_by(n);
    }

    /// A Jitsi token was signed and handed out.
    pub fn token_minted(&self, kind: TokenKind) {
        self.tokens
            .get_or_create(&KindLabels { kind: kind.label() })
            .inc();
    }

    /// What one of this server's purges deleted.
    pub fn purge_deleted(&self, counts: &retention::Counts) {
        for (category, n) in counts.categories() {
            self.purge_deleted
                .get_or_create(&CategoryLabels { category })
                .inc_by(n);
        }
    }

    /// A staff login failed.
    pub fn failed_login(&self) {
        self.failed_logins.inc();
    }

    /// Failed staff logins since start.
    pub fn failed_logins(&self) -> u64 {
        self.failed_logins.get()
    }

    /// The exposition: `snapshot` (read from the database just now, or
    /// `None` when it could not be) sets the gauges, then every series is
    /// written in the OpenMetrics text format, `# EOF` last.
    pub fn render(&self, snapshot: Option<&Snapshot>) -> String {
        if let Some(s) = snapshot {
            for (state, n) in [
                ("pending", s.outbox.pending),
                ("failed", s.outbox.failed),
                ("stale", s.outbox.stale),
            ] {
                self.outbox.get_or_create(&StateLabels { state }).set(n);
            }
            self.purge_age.set(s.purge_age_secs);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_there_from_the_start_and_counts_add_up() {
        let m = Metrics::new(Duration::from_secs(3600));
        m.request("/v/{code}", 303, Duration::from_millis(12));
        m.booking_created(By::Family);
        m.bookings_cancelled(By::Staff, 2);
        m.token_minted(TokenKind::Kiosk);
        m.purge_deleted(&retention::Counts {
            bookings: 3,
            ..Default::default()
        });
        m.failed_login();
        let text = m.render(Some(&Snapshot {
            outbox: crate::mail::outbox::Counts {
                pending: 4,
                ..Default::default()
            },
            purge_age_secs: 60,
        }));
        for line in [
            "bedside_http_requests_total{route=\"/v/{code}\",status=\"303\"} 1",
            "bedside_http_request_duration_seconds_count{route=\"/v/{code}\"} 1",
            "bedside_bookings_created_total{by=\"family\"} 1",
            "bedside_bookings_created_total{by=\"api\"} 0",
            "bedside_bookings_cancelled_total{by=\"staff\"} 2",
            "bedside_tokens_minted_total{kind=\"kiosk\"} 1",
            "bedside_tokens_minted_total{kind=\"guest\"} 0",
            "bedside_purge_rows_deleted_total{category=\"bookings\"} 3",
            "bedside_purge_rows_deleted_total{category=\"audit\"} 0",
            "bedside_failed_logins_total 1",
            "bedside_outbox_messages{state=\"pending\"} 4",
            "bedside_outbox_messages{state=\"stale\"} 0",
            "bedside_purge_last_success_age_seconds 60",
            "bedside_purge_interval_seconds 3600",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
