//! What a window's checkpoint holds, and reading it back.

use std::collections::{BTreeMap, HashMap};

use weir_state::codec::{put_bytes, put_f64, put_i64, put_u32, put_u64, put_u8, Reader};

use super::{Acc, Pane, Window};
use crate::operator::OperatorError;

/// The byte that once said whether a window's own file of late records
/// followed. Late records are the task's side output now, checkpointed
/// with the task: the byte is always 0, and a checkpoint that holds such a
/// file is refused rather than read wrong.
const NO_OWN_LATE_FILE: u8 = 0;

impl Window {
    /// The window's state: watermark, late figures, every pane and its
    /// accumulators.
    pub(super) fn encode_state(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_i64(&mut out, self.watermark);
        put_u64(&mut out, self.late_dropped);
        put_u64(&mut out, self.late_set_aside);
        put_u8(&mut out, NO_OWN_LATE_FILE);
        put_u32(&mut out, self.panes.len() as u32);
        for (key, panes) in &self.panes {
            put_bytes(&mut out, key);
            put_u32(&mut out, panes.len() as u32);
            for (start, pane) in panes {
                put_i64(&mut out, *start);
                put_i64(&mut out, pane.end);
                put_u8(&mut out, u8::from(pane.fired));
                put_u32(&mut out, pane.udf.len() as u32);
                for acc in &pane.udf {
                    put_bytes(&mut out, acc);
                }
                put_u32(&mut out, pane.accs.len() as u32);
                for acc in &pane.accs {
                    match *acc {
                        Acc::Count(n) => {
                            put_u8(&mut out, 0);
                            put_i64(&mut out, n);
                        }
                        Acc::Int { sum, min, max, n } => {
                            put_u8(&mut out, 1);
                            for v in [sum, min, max, n] {
                                put_i64(&mut out, v);
                            }
                        }
                        Acc::Float { sum, min, max, n } => {
                            put_u8(&mut out, 2);
                            for v in [sum, min, max] {
                                put_f64(&mut out, v);
                            }
                            put_i64(&mut out, n);
                        }
                    }
                }
            }
        }
        out
    }

    pub(super) fn decode_state(&mut self, state: &[u8]) -> Result<(), OperatorError> {
        let restored = (|| -> Result<_, weir_state::StateError> {
            let mut r = Reader::new(state);
            let watermark = r.i64()?;
            let late_dropped = r.u64()?;
            let late_set_aside = r.u64()?;
            if r.u8()? != NO_OWN_LATE_FILE {
                return Err(weir_state::StateError::Corrupt(
                    "it holds a file of late records of the window's own, as versions \
                     before late records became a side output of the task wrote it"
                        .into(),
                ));
            }
            let mut panes: HashMap<Vec<u8>, BTreeMap<i64, Pane>> = HashMap::new();
            for _ in 0..r.u32()? {
                let key = r.bytes()?;
                let key_panes = panes.entry(key).or_default();
                for _ in 0..r.u32()? {
                    let start = r.i64()?;
                    let end = r.i64()?;
                    let fired = r.u8()? != 0;
                    let mut udf = Vec::new();
                    for _ in 0..r.u32()? {
                        udf.push(r.bytes()?);
                    }
                    let mut accs = Vec::new();
                    for _ in 0..r.u32()? {
                        accs.push(match r.u8()? {
                            0 => Acc::Count(r.i64()?),
                            1 => Acc::Int {
                                sum: r.i64()?,
                                min: r.i64()?,
                                max: r.i64()?,
                                n: r.i64()?,
                            },
                            2 => Acc::Float {
                                sum: r.f64()?,
                                min: r.f64()?,
                                max: r.f64()?,
                                n: r.i64()?,
                            },
                            other => {
                                return Err(weir_state::StateError::Corrupt(format!(
                                    "unknown aggregate kind {other}"
                                )))
                            }
                        });
                    }
                    key_panes.insert(
                        start,
                        Pane {
                            end,
                            accs,
                            fired,
                            udf,
                        },
                    );
                }
            }
            r.finish()?;
            Ok((watermark, late_dropped, late_set_aside, panes))
        })();
        let (watermark, late_dropped, late_set_aside, panes) =
            restored.map_err(|e| self.failed(format!("cannot restore its windows: {e}")))?;
        if panes.values().flat_map(|p| p.values()).any(|pane| {
            pane.accs.len() != self.aggregates.len() || pane.udf.len() != self.udfs.len()
        }) {
            return Err(self.failed(format!(
                "the checkpoint's windows hold a different number of aggregates than the {} configured",
                self.aggregates.len()
            )));
        }
        self.pending.clear();
        self.expiring.clear();
        for (key, key_panes) in &panes {
            for (start, pane) in key_panes {
                if pane.fired {
                    self.expiring.insert((
                        (pane.end - 1).saturating_add(self.lateness),
                        key.clone(),
                        *start,
                    ));
                } else {
                    self.pending.insert((pane.end - 1, key.clone(), *start));
                }
            }
        }
        self.panes = panes;
        self.watermark = watermark;
        self.late_dropped = late_dropped;
        self.late_set_aside = late_set_aside;
        Ok(())
    }
}
