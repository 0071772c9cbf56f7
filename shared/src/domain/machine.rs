//! The broadcast state machine, one engine for bookings (one line) and orders (many lines).
//! Pure: the store locks a broadcast, asks this module what happens, and writes the answer
//! with a guarded statement.

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::geo::LatLng;
use super::vehicle::{VehicleType, parse_subtype};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, Serialize, Deserialize, poem_openapi::Enum)]
#[sqlx(type_name = "broadcast_status", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum BroadcastStatus {
    Active,
    PartiallyFilled,
    FullyFilled,
    Cancelled,
    Expired,
    /// Filled, and every taken truck's trip finished (delivered, or cancelled after the match):
    /// final.
    Completed,
}

impl BroadcastStatus {
    pub fn is_open(self) -> bool {
        matches!(self, BroadcastStatus::Active | BroadcastStatus::PartiallyFilled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastStatus::Active => "active",
            BroadcastStatus::PartiallyFilled => "partially_filled",
            BroadcastStatus::FullyFilled => "fully_filled",
            BroadcastStatus::Cancelled => "cancelled",
            BroadcastStatus::Expired => "expired",
            BroadcastStatus::Completed => "completed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, Serialize, Deserialize, poem_openapi::Enum)]
#[sqlx(type_name = "truck_request_status", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TruckRequestStatus {
    Searching,
    Accepted,
    Assigned,
    Cancelled,
    Expired,
    /// Its trip was delivered.
    Delivered,
}

impl TruckRequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TruckRequestStatus::Searching => "searching",
            TruckRequestStatus::Accepted => "accepted",
            TruckRequestStatus::Assigned => "assigned",
            TruckRequestStatus::Cancelled => "cancelled",
            TruckRequestStatus::Expired => "expired",
            TruckRequestStatus::Delivered => "delivered",
        }
    }
}

/// Why a broadcast ended.
pub mod reason {
    pub const FULLY_FILLED: &str = "FULLY_FILLED";
    pub const CUSTOMER_CANCELLED: &str = "CUSTOMER_CANCELLED";
    /// Cancelled by an admin from the ops console.
    pub const ADMIN_CANCELLED: &str = "ADMIN_CANCELLED";
    pub const REPLACED_BY_NEW: &str = "REPLACED_BY_NEW";
    pub const NO_ACCEPTANCE: &str = "NO_ACCEPTANCE";
    pub const PARTIAL_FILL_TIMEOUT: &str = "PARTIAL_FILL_TIMEOUT";
    pub const NO_ONLINE_TRANSPORTERS: &str = "NO_ONLINE_TRANSPORTERS";
    /// Every trip of a filled broadcast finished.
    pub const TRIPS_FINISHED: &str = "TRIPS_FINISHED";
}

/// One line of a broadcast: how many trucks of a kind, how many are taken, and how many are
/// held (reserved by a transporter that has not confirmed them yet: taken for everybody else,
/// but not filling the broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineState {
    pub needed: u32,
    pub filled: u32,
    pub held: u32,
}

impl LineState {
    /// Trucks nobody has taken or holds.
    pub fn free(&self) -> u32 {
        self.needed.saturating_sub(self.filled + self.held)
    }
}

/// What the machine knows about a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    pub status: BroadcastStatus,
    pub lines: Vec<LineState>,
}

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every truck is taken.
    Filled,
    /// Cancelled or expired.
    Closed(BroadcastStatus),
    /// This line has no truck left (others may).
    LineFilled,
    /// No such line.
    NoSuchLine,
}

impl Broadcast {
    pub fn new(lines: Vec<LineState>) -> Self {
        Self { status: BroadcastStatus::Active, lines }
    }

    pub fn needed(&self) -> u32 {
        self.lines.iter().map(|l| l.needed).sum()
    }

    pub fn filled(&self) -> u32 {
        self.lines.iter().map(|l| l.filled).sum()
    }

    /// Trucks neither taken nor held: what other transporters can still take.
    pub fn free(&self) -> u32 {
        self.lines.iter().map(|l| l.free()).sum()
    }

    fn refuse_unless_open(&self) -> Result<(), Refusal> {
        match self.status {
            s if s.is_open() => Ok(()),
            BroadcastStatus::FullyFilled => Err(Refusal::Filled),
            s => Err(Refusal::Closed(s)),
        }
    }

    /// A transporter takes one truck of `line`.
    pub fn accept(&self, line: usize) -> Result<Broadcast, Refusal> {
        self.refuse_unless_open()?;
        let l = self.lines.get(line).ok_or(Refusal::NoSuchLine)?;
        if l.free() == 0 {
            return Err(Refusal::LineFilled);
        }
        let mut next = self.clone();
        next.lines[line].filled += 1;
        next.status = next.filled_status();
        Ok(next)
    }

    fn filled_status(&self) -> BroadcastStatus {
        match self.filled() {
            0 => BroadcastStatus::Active,
            f if f == self.needed() => BroadcastStatus::FullyFilled,
            _ => BroadcastStatus::PartiallyFilled,
        }
    }

    /// A transporter holds up to `want` free trucks of `line`; returns how many it got (a
    /// partial hold is allowed, none free is a refusal). A hold alone fills nothing.
    pub fn hold(&self, line: usize, want: u32) -> Result<(Broadcast, u32), Refusal> {
        self.refuse_unless_open()?;
        let l = self.lines.get(line).ok_or(Refusal::NoSuchLine)?;
        let got = want.min(l.free());
        if got == 0 {
            return Err(Refusal::LineFilled);
        }
        let mut next = self.clone();
        next.lines[line].held += got;
        Ok((next, got))
    }

    /// `n` held trucks of `line` go back to searching (a release or an expiry of the hold).
    pub fn unhold(&self, line: usize, n: u32) -> Result<Broadcast, Refusal> {
        self.refuse_unless_open()?;
        let l = self.lines.get(line).ok_or(Refusal::NoSuchLine)?;
        if n == 0 || n > l.held {
            return Err(Refusal::NoSuchLine);
        }
        let mut next = self.clone();
        next.lines[line].held -= n;
        Ok(next)
    }

    /// `n` held trucks of `line` are confirmed: taken, as if accepted one by one.
    pub fn confirm(&self, line: usize, n: u32) -> Result<Broadcast, Refusal> {
        self.refuse_unless_open()?;
        let l = self.lines.get(line).ok_or(Refusal::NoSuchLine)?;
        if n == 0 || n > l.held {
            return Err(Refusal::NoSuchLine);
        }
        let mut next = self.clone();
        next.lines[line].held -= n;
        next.lines[line].filled += n;
        next.status = next.filled_status();
        Ok(next)
    }

    /// The customer cancels: while it searches, or after every truck was taken (the trips
    /// before pickup are cancelled with it; the store refuses once one was picked up).
    pub fn cancel(&self) -> Result<Broadcast, Refusal> {
        match self.status {
            s if s.is_open() || s == BroadcastStatus::FullyFilled => {}
            s => return Err(Refusal::Closed(s)),
        }
        Ok(Broadcast { status: BroadcastStatus::Cancelled, lines: self.lines.clone() })
    }

    /// A taken truck of `line` is given back before the deadline: the search reopens (a filled
    /// broadcast searches again). Cancelled and expired broadcasts never reopen.
    pub fn release(&self, line: usize) -> Result<Broadcast, Refusal> {
        match self.status {
            s if s.is_open() || s == BroadcastStatus::FullyFilled => {}
            s => return Err(Refusal::Closed(s)),
        }
        let l = self.lines.get(line).ok_or(Refusal::NoSuchLine)?;
        if l.filled == 0 {
            return Err(Refusal::NoSuchLine);
        }
        let mut next = self.clone();
        next.lines[line].filled -= 1;
        next.status = next.filled_status();
        Ok(next)
    }

    /// Every taken truck's trip finished (the store checks the trucks; the machine checks that
    /// the broadcast is filled and holds nothing): `completed`, final.
    pub fn complete(&self) -> Result<Broadcast, Refusal> {
        if self.status != BroadcastStatus::FullyFilled || self.lines.iter().any(|l| l.held > 0) {
            return Err(Refusal::Closed(self.status));
        }
        Ok(Broadcast { status: BroadcastStatus::Completed, lines: self.lines.clone() })
    }

    /// The deadline passed. Returns the reason recorded with it.
    pub fn expire(&self, anyone_notified: bool) -> Result<(Broadcast, &'static str), Refusal> {
        self.refuse_unless_open()?;
        let why = if self.filled() > 0 {
            reason::PARTIAL_FILL_TIMEOUT
        } else if anyone_notified {
            reason::NO_ACCEPTANCE
        } else {
            reason::NO_ONLINE_TRANSPORTERS
        };
        Ok((Broadcast { status: BroadcastStatus::Expired, lines: self.lines.clone() }, why))
    }

    /// The invariant every state must satisfy.
    pub fn is_consistent(&self) -> bool {
        let counts_ok = self.lines.iter().all(|l| l.filled + l.held <= l.needed && l.needed > 0);
        let status_ok = match self.status {
            BroadcastStatus::Active => self.filled() == 0,
            BroadcastStatus::PartiallyFilled => self.filled() > 0 && self.filled() < self.needed(),
            BroadcastStatus::FullyFilled | BroadcastStatus::Completed => self.filled() == self.needed(),
            BroadcastStatus::Cancelled | BroadcastStatus::Expired => true,
        };
        counts_ok && status_ok
    }
}

/// Limits on a broadcast request.
pub const MAX_LINES: usize = 50;
pub const MAX_TRUCKS_PER_LINE: u32 = 20;
pub const MIN_DISTANCE_KM: f64 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub at: LatLng,
    pub address: String,
    pub city: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
    pub count: u32,
    pub price_per_truck: u32,
}

/// A valid request for trucks: built only by [`Draft::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub pickup: Place,
    pub drop: Place,
    pub lines: Vec<Line>,
    pub distance_km: f64,
}

/// The raw request, as the API received it.
pub struct RawPlace<'a> {
    pub lat: f64,
    pub lng: f64,
    pub address: &'a str,
    pub city: Option<&'a str>,
}

pub struct RawLine<'a> {
    pub vehicle_type: &'a str,
    pub vehicle_subtype: &'a str,
    pub count: i64,
    pub price_per_truck: i64,
}

fn parse_place(field: &str, raw: &RawPlace<'_>, errors: &mut Vec<FieldError>) -> Option<Place> {
    let at = LatLng::parse(raw.lat, raw.lng).map_err(|m| errors.push(FieldError::new(field, m))).ok();
    let address = raw.address.trim();
    if address.is_empty() || address.chars().count() > 500 {
        errors.push(FieldError::new(format!("{field}.address"), "must be 1-500 characters"));
    }
    let city = raw.city.map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
    if city.as_ref().is_some_and(|c| c.chars().count() > 100) {
        errors.push(FieldError::new(format!("{field}.city"), "must be at most 100 characters"));
    }
    Some(Place { at: at?, address: address.to_owned(), city })
}

impl Draft {
    /// Checks everything a request must satisfy, reporting every failing field at once.
    pub fn parse(pickup: RawPlace<'_>, drop: RawPlace<'_>, lines: &[RawLine<'_>]) -> Result<Draft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let pickup = parse_place("pickup", &pickup, &mut errors);
        let drop = parse_place("drop", &drop, &mut errors);
        let distance_km = match (&pickup, &drop) {
            (Some(p), Some(d)) => {
                let km = p.at.distance_km(&d.at);
                if km < MIN_DISTANCE_KM {
                    errors.push(FieldError::new("drop", "must be at least 0.5 km from pickup"));
                }
                km
            }
            _ => 0.0,
        };
        if lines.is_empty() || lines.len() > MAX_LINES {
            errors.push(FieldError::new("vehicles", format!("must hold 1 to {MAX_LINES} lines")));
        }
        let mut parsed = Vec::with_capacity(lines.len());
        for (i, raw) in lines.iter().enumerate() {
            let f = |name: &str| format!("vehicles[{i}].{name}");
            let vehicle_type =
                raw.vehicle_type.parse::<VehicleType>().map_err(|m| errors.push(FieldError::new(f("type"), m))).ok();
            let subtype =
                parse_subtype(raw.vehicle_subtype).map_err(|m| errors.push(FieldError::new(f("subtype"), m))).ok();
            if !(1..=i64::from(MAX_TRUCKS_PER_LINE)).contains(&raw.count) {
                errors.push(FieldError::new(f("count"), format!("must be 1 to {MAX_TRUCKS_PER_LINE}")));
            }
            if let Some(t) = vehicle_type
                && (raw.price_per_truck < i64::from(t.price_floor()) || raw.price_per_truck > 10_000_000)
            {
                errors.push(FieldError::new(
                    f("pricePerTruck"),
                    format!("must be at least {} (and at most 10000000) for {t}", t.price_floor()),
                ));
            }
            if let (Some(vehicle_type), Some(vehicle_subtype)) = (vehicle_type, subtype) {
                // A line is (type, subtype, price): the same three twice is one line asked for twice.
                let same = |l: &Line| {
                    l.vehicle_type == vehicle_type
                        && l.vehicle_subtype == vehicle_subtype
                        && i64::from(l.price_per_truck) == raw.price_per_truck
                };
                if let Some(j) = parsed.iter().position(same) {
                    errors.push(FieldError::new(
                        format!("vehicles[{i}]"),
                        format!("repeats vehicles[{j}] (same type, subtype and price): raise its count instead"),
                    ));
                }
                parsed.push(Line {
                    vehicle_type,
                    vehicle_subtype,
                    count: raw.count.clamp(0, i64::from(MAX_TRUCKS_PER_LINE)) as u32,
                    price_per_truck: raw.price_per_truck.clamp(0, i64::from(u32::MAX)) as u32,
                });
            }
        }
        match (pickup, drop) {
            (Some(pickup), Some(drop)) if errors.is_empty() => Ok(Draft { pickup, drop, lines: parsed, distance_km }),
            _ => Err(errors),
        }
    }

    pub fn trucks_needed(&self) -> u32 {
        self.lines.iter().map(|l| l.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn place(lat: f64, lng: f64) -> RawPlace<'static> {
        RawPlace { lat, lng, address: "Somewhere", city: None }
    }

    fn line(t: &'static str, count: i64, price: i64) -> RawLine<'static> {
        RawLine { vehicle_type: t, vehicle_subtype: "std", count, price_per_truck: price }
    }

    #[test]
    fn a_valid_order_parses() {
        let d =
            Draft::parse(place(19.07, 72.87), place(18.52, 73.85), &[line("open", 3, 1000), line("trailer", 1, 5000)])
                .unwrap();
        assert_eq!(d.trucks_needed(), 4);
        assert!(d.distance_km > 100.0);
    }

    #[test]
    fn every_rule_names_its_field() {
        let cases: Vec<(RawPlace, RawPlace, Vec<RawLine>, &str)> = vec![
            (place(51.0, 0.0), place(18.5, 73.8), vec![line("open", 1, 1000)], "pickup"),
            (place(19.07, 72.87), place(19.0701, 72.8701), vec![line("open", 1, 1000)], "drop"),
            (place(19.07, 72.87), place(18.52, 73.85), vec![line("rocket", 1, 1000)], "vehicles[0].type"),
            (place(19.07, 72.87), place(18.52, 73.85), vec![line("open", 0, 1000)], "vehicles[0].count"),
            (place(19.07, 72.87), place(18.52, 73.85), vec![line("open", 21, 1000)], "vehicles[0].count"),
            (
                place(19.07, 72.87),
                place(18.52, 73.85),
                vec![line("open", 1, 1000), line("trailer", 1, 4999)],
                "vehicles[1].pricePerTruck",
            ),
            (place(19.07, 72.87), place(18.52, 73.85), vec![], "vehicles"),
            (
                place(19.07, 72.87),
                place(18.52, 73.85),
                vec![line("open", 1, 1000), line("open", 2, 1000)],
                "vehicles[1]",
            ),
            (place(19.07, 72.87), place(18.52, 73.85), (0..51).map(|_| line("mini", 1, 500)).collect(), "vehicles"),
        ];
        for (p, d, lines, field) in cases {
            let errors = Draft::parse(p, d, &lines).unwrap_err();
            assert!(errors.iter().any(|e| e.field == field), "{field}: {errors:?}");
        }
    }

    #[test]
    fn a_line_is_type_subtype_and_price() {
        let sub = |st: &'static str, price: i64| RawLine {
            vehicle_type: "open",
            vehicle_subtype: st,
            count: 1,
            price_per_truck: price,
        };
        let (p, d) = (place(19.07, 72.87), place(18.52, 73.85));
        let d = Draft::parse(p, d, &[sub("open_17ft", 1000), sub("open_20ft", 1000), sub("open_20ft", 1200)]).unwrap();
        assert_eq!(d.lines.len(), 3, "same type, other subtype or price: separate lines");
        let (p, d) = (place(19.07, 72.87), place(18.52, 73.85));
        let errors =
            Draft::parse(p, d, &[sub("open_20ft", 1000), sub("open_17ft", 1000), sub("open_20ft", 1000)]).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["vehicles[2]"]);
        assert!(errors[0].message.contains("vehicles[0]"), "{errors:?}");
    }

    #[test]
    fn terminal_states_refuse_everything() {
        let b = Broadcast::new(vec![LineState { needed: 1, ..Default::default() }]);
        let filled = b.accept(0).unwrap();
        assert_eq!(filled.status, BroadcastStatus::FullyFilled);
        assert_eq!(filled.accept(0), Err(Refusal::Filled));
        assert_eq!(filled.cancel().map(|b| b.status), Ok(BroadcastStatus::Cancelled), "cancel after the match");
        assert_eq!(filled.release(0).map(|b| b.status), Ok(BroadcastStatus::Active), "a release reopens it");
        let cancelled = b.cancel().unwrap();
        assert_eq!(cancelled.accept(0), Err(Refusal::Closed(BroadcastStatus::Cancelled)));
        assert_eq!(cancelled.expire(true), Err(Refusal::Closed(BroadcastStatus::Cancelled)));
        let (expired, why) = b.expire(false).unwrap();
        assert_eq!(why, reason::NO_ONLINE_TRANSPORTERS);
        assert_eq!(expired.cancel(), Err(Refusal::Closed(BroadcastStatus::Expired)));
        assert_eq!(expired.release(0), Err(Refusal::Closed(BroadcastStatus::Expired)));
        assert_eq!(expired.hold(0, 1), Err(Refusal::Closed(BroadcastStatus::Expired)));
    }

    #[test]
    fn held_trucks_are_taken_for_everybody_else_but_fill_nothing() {
        let b = Broadcast::new(vec![LineState { needed: 3, ..Default::default() }]);
        let (held, got) = b.hold(0, 5).unwrap();
        assert_eq!((got, held.status, held.filled()), (3, BroadcastStatus::Active, 0), "partial: 3 of 5");
        assert_eq!(held.accept(0), Err(Refusal::LineFilled));
        assert_eq!(held.hold(0, 1), Err(Refusal::LineFilled));
        let part = held.confirm(0, 2).unwrap();
        assert_eq!((part.status, part.filled(), part.lines[0].held), (BroadcastStatus::PartiallyFilled, 2, 1));
        let back = part.unhold(0, 1).unwrap();
        assert_eq!(back.lines[0].free(), 1);
        assert_eq!(back.accept(0).unwrap().status, BroadcastStatus::FullyFilled);
        assert_eq!(back.confirm(0, 1), Err(Refusal::NoSuchLine), "nothing held is left to confirm");
    }

    #[test]
    fn only_a_filled_broadcast_completes_and_nothing_moves_it_after() {
        let b = Broadcast::new(vec![LineState { needed: 1, ..Default::default() }]);
        assert_eq!(b.complete(), Err(Refusal::Closed(BroadcastStatus::Active)));
        let filled = b.accept(0).unwrap();
        let done = filled.complete().unwrap();
        assert_eq!(done.status, BroadcastStatus::Completed);
        assert!(done.is_consistent());
        assert_eq!(done.cancel(), Err(Refusal::Closed(BroadcastStatus::Completed)));
        assert_eq!(done.release(0), Err(Refusal::Closed(BroadcastStatus::Completed)));
        assert_eq!(done.accept(0), Err(Refusal::Closed(BroadcastStatus::Completed)));
        assert_eq!(done.complete(), Err(Refusal::Closed(BroadcastStatus::Completed)));
    }

    #[derive(Debug, Clone)]
    enum Event {
        Accept(usize),
        Release(usize),
        Hold(usize, u32),
        Unhold(usize, u32),
        Confirm(usize, u32),
        Cancel,
        Expire(bool),
        Complete,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            6 => (0usize..6).prop_map(Event::Accept),
            2 => (0usize..6).prop_map(Event::Release),
            3 => (0usize..6, 1u32..4).prop_map(|(l, n)| Event::Hold(l, n)),
            2 => (0usize..6, 1u32..4).prop_map(|(l, n)| Event::Unhold(l, n)),
            2 => (0usize..6, 1u32..4).prop_map(|(l, n)| Event::Confirm(l, n)),
            1 => Just(Event::Cancel),
            1 => any::<bool>().prop_map(Event::Expire),
            1 => Just(Event::Complete),
        ]
    }

    proptest! {
        #[test]
        fn random_events_never_break_the_invariants(
            needed in prop::collection::vec(1u32..5, 1..5),
            events in prop::collection::vec(event(), 0..40),
        ) {
            let mut b = Broadcast::new(needed.iter().map(|&n| LineState { needed: n, ..Default::default() }).collect());
            for e in events {
                let before = b.clone();
                let result = match e {
                    Event::Accept(l) => b.accept(l),
                    Event::Release(l) => b.release(l),
                    Event::Hold(l, n) => b.hold(l, n).map(|(next, got)| {
                        assert!(got >= 1 && got <= n);
                        next
                    }),
                    Event::Unhold(l, n) => b.unhold(l, n),
                    Event::Confirm(l, n) => b.confirm(l, n),
                    Event::Cancel => b.cancel(),
                    Event::Expire(n) => b.expire(n).map(|(next, _)| next),
                    Event::Complete => b.complete(),
                };
                match result {
                    Ok(next) => {
                        // Only a search moves on; a filled one only by a cancel, a release or its
                        // completion; nothing moves a completed one.
                        let from_filled = before.status == BroadcastStatus::FullyFilled
                            && matches!(e, Event::Cancel | Event::Release(_) | Event::Complete);
                        prop_assert!(before.status.is_open() || from_filled, "{:?} changed on {:?}", before.status, e);
                        if matches!(e, Event::Complete) {
                            prop_assert_eq!(next.status, BroadcastStatus::Completed);
                            prop_assert_eq!(next.filled(), next.needed());
                        }
                        match e {
                            Event::Release(_) => prop_assert_eq!(next.filled() + 1, before.filled()),
                            Event::Hold(..) | Event::Unhold(..) => {
                                prop_assert_eq!(next.filled(), before.filled());
                                prop_assert_eq!(next.status, before.status, "a hold alone moves no status");
                            }
                            Event::Confirm(_, n) => prop_assert_eq!(next.filled(), before.filled() + n),
                            _ => prop_assert!(next.filled() >= before.filled()),
                        }
                        b = next;
                    }
                    Err(_) => prop_assert_eq!(&b, &before),
                }
                prop_assert!(b.is_consistent(), "{:?}", b);
            }
        }
    }
}
