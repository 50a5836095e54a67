//! Fault points: places in the runtime where the chaos tests make a process
//! die as a crash would (no destructor runs, no buffer is flushed), at the
//! worst moments: while a checkpoint is taken, in the middle of a sink's
//! commit or restore, right after a restart.
//!
//! They exist only in builds with the `fault-points` feature (the chaos
//! tests build one); in every other build [`point`] is an empty inline
//! function and the names are never looked at.
//!
//! A process with the feature reads `WEIR_FAULT_POINTS` once:
//! `name=probability,...` (`sink.commit=0.05,tm.restore=0.3`), and
//! `WEIR_FAULT_SEED` for its random draws, so that a failing chaos run
//! replays.

/// Dies here with the probability `WEIR_FAULT_POINTS` gives `name`.
#[cfg(not(feature = "fault-points"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Dies here with the probability `WEIR_FAULT_POINTS` gives `name`.
#[cfg(feature = "fault-points")]
pub fn point(name: &str) {
    armed::point(name)
}

#[cfg(feature = "fault-points")]
mod armed {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    struct Faults {
        points: HashMap<String, f64>,
        state: Mutex<u64>,
    }

    fn faults() -> &'static Faults {
        static FAULTS: OnceLock<Faults> = OnceLock::new();
        FAULTS.get_or_init(|| {
            let points = std::env::var("WEIR_FAULT_POINTS")
                .unwrap_or_default()
                .split(',')
                .filter_map(|entry| {
                    let (name, p) = entry.split_once('=')?;
                    Some((name.trim().to_string(), p.trim().parse().ok()?))
                })
                .collect();
            let seed = std::env::var("WEIR_FAULT_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0x5eed)
                ^ u64::from(std::process::id());
            Faults {
                points,
                state: Mutex::new(seed | 1),
            }
        })
    }

    /// xorshift64*: enough to spread draws, no dependency.
    fn draw(state: &Mutex<u64>) -> f64 {
        let mut x = state.lock().unwrap_or_else(|p| p.into_inner());
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        let value = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn point(name: &str) {
        let faults = faults();
        let Some(&probability) = faults.points.get(name) else {
            return;
        };
        if draw(&faults.state) < probability {
            eprintln!("fault point {name}: dying here");
            std::process::abort();
        }
    }
}
