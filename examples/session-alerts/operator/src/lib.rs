//! Session timeout alerts: a user's session is their events no more than
//! `gapMs` apart in event time. When a session has seen no event for
//! `gapMs`, the operator emits one record: `user, start, end, events`.
//!
//! Keyed by the user column (`keyBy: [user]`, utf8). Event time comes from the
//! int64 (or timestamp-millis) column named by `timeColumn` (default `ts`).
//! The open session of each user lives in host-owned state, as JSON
//! (`TypedValueState`); its end is an event-time timer at `last + gapMs`,
//! moved whenever a later event arrives. An event more than `gapMs` after
//! the open session closes it at once (alerted) and opens the next. A late
//! event (at or before the watermark), or one too old for the open session,
//! is counted (`late_events`) and dropped.
//!
//! Configuration: `{"gapMs": 10000, "timeColumn": "ts"}` (both optional).

use serde::{Deserialize, Serialize};
use weir_operator::metrics::counter_add;
use weir_operator::state::{key_of, Key, TypedValueState};
use weir_operator::timers::{self, TimeDomain, Timer};
use weir_operator::{
    export, DataType, Error, Field, OpenContext, Operator, Output, Row, Rows, Schema, Value,
};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    gap_ms: i64,
    time_column: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gap_ms: 10_000,
            time_column: "ts".into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Session {
    user: String,
    start: i64,
    last: i64,
    events: i64,
}

struct SessionAlerts {
    gap: i64,
    user: usize,
    time: usize,
    key_columns: Vec<usize>,
    sessions: TypedValueState<Session>,
}

impl SessionAlerts {
    fn timer(&self, key: &Key, session: &Session) -> Timer {
        Timer::new(key.clone(), session.last + self.gap, TimeDomain::EventTime)
    }

    fn event_time(&self, row: &Row<'_>) -> Result<i64, Error> {
        match row.get(self.time)? {
            Value::Int64(t) | Value::TimestampMillis(t) => Ok(t),
            other => Err(Error::invalid_input(format!(
                "the event time column holds {other:?}, not a time"
            ))),
        }
    }
}

impl Operator for SessionAlerts {
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
        let config: Config = ctx.config()?;
        if config.gap_ms <= 0 {
            return Err(Error::invalid_config("gapMs must be positive"));
        }
        let key_columns = ctx.key_indexes()?;
        let user = match key_columns.as_slice() {
            [user] => *user,
            _ => {
                return Err(Error::invalid_config(
                    "session-alerts needs keyBy: [user], one utf8 column",
                ))
            }
        };
        let time = ctx.input_schema().index_of(&config.time_column)?;
        let output = Schema::new(vec![
            Field::new("user", DataType::Utf8, false),
            Field::new("start", DataType::Int64, false),
            Field::new("end", DataType::Int64, false),
            Field::new("events", DataType::Int64, false),
        ]);
        Ok((
            SessionAlerts {
                gap: config.gap_ms,
                user,
                time,
                key_columns,
                sessions: TypedValueState::open("session")?,
            },
            output,
        ))
    }

    fn process(&mut self, _row: &Row<'_>, _out: &mut Output) -> Result<(), Error> {
        Err(Error::internal("process_batch handles every batch"))
    }

    fn process_batch(&mut self, rows: &Rows<'_>, out: &mut Output) -> Result<(), Error> {
        // One state read and one write for the batch; rows of one user apply
        // in order.
        let mut keys: Vec<Key> = Vec::new();
        for row in rows {
            let key = key_of(&row, &self.key_columns)?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let mut sessions = self.sessions.get(&keys)?;
        let mut stale: Vec<Timer> = Vec::new();
        let watermark = timers::current_watermark();
        for row in rows {
            let key = key_of(&row, &self.key_columns)?;
            let slot = keys
                .iter()
                .position(|k| *k == key)
                .ok_or_else(|| Error::internal("lost a key"))?;
            let ts = self.event_time(&row)?;
            if watermark.is_some_and(|w| ts <= w) {
                counter_add("late_events", 1);
                continue;
            }
            match &mut sessions[slot] {
                Some(session)
                    if ts <= session.last + self.gap && ts + self.gap >= session.start =>
                {
                    if ts > session.last {
                        stale.push(self.timer(&key, session));
                        session.last = ts;
                    }
                    session.start = session.start.min(ts);
                    session.events += 1;
                }
                // Past the gap: the open session is over.
                Some(session) if ts > session.last => {
                    stale.push(self.timer(&key, session));
                    emit(session, out)?;
                    *session = Session {
                        user: row.str(self.user)?.to_string(),
                        start: ts,
                        last: ts,
                        events: 1,
                    };
                }
                Some(_) => counter_add("late_events", 1),
                slot @ None => {
                    *slot = Some(Session {
                        user: row.str(self.user)?.to_string(),
                        start: ts,
                        last: ts,
                        events: 1,
                    })
                }
            }
        }
        timers::delete(&stale)?;
        let fresh: Vec<Timer> = keys
            .iter()
            .zip(&sessions)
            .filter_map(|(key, session)| session.as_ref().map(|s| self.timer(key, s)))
            .collect();
        timers::register(&fresh)?;
        self.sessions
            .put(keys.into_iter().zip(sessions.iter().map(Option::as_ref)))
    }

    fn on_timer(&mut self, timer: &Timer, out: &mut Output) -> Result<(), Error> {
        let key = timer.key.clone();
        let Some(session) = self
            .sessions
            .get(std::slice::from_ref(&key))?
            .pop()
            .flatten()
        else {
            return Ok(());
        };
        if session.last + self.gap != timer.timestamp {
            return Ok(());
        }
        emit(&session, out)?;
        self.sessions.put([(key, None)])
    }
}

fn emit(session: &Session, out: &mut Output) -> Result<(), Error> {
    out.emit(&[
        Value::Utf8(&session.user),
        Value::Int64(session.start),
        Value::Int64(session.last),
        Value::Int64(session.events),
    ])
}

export!(SessionAlerts);
