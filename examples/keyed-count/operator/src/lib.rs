//! A running count per key, kept in host-owned keyed state: for every input
//! record, one output record with the record's key columns and how many
//! records with that key the operator has seen so far.
//!
//! The count lives in the value state `count` (a little-endian `u64` per
//! key), not in the guest's memory, so it survives the instance being
//! replaced and, with checkpoints, the process being restarted. Each batch
//! costs two host calls: one `get` for its distinct keys, one `put`.
//!
//! The operator needs a keyed input (`keyBy` in the job spec); its output is
//! the key columns followed by `count: int64`. It takes no configuration.

use std::collections::HashMap;

use weir_operator::state::{key_of, Key, ValueState};
use weir_operator::{
    export, DataType, Error, Field, OpenContext, Operator, Output, Row, Rows, Schema, Value,
};

struct KeyedCount {
    key_columns: Vec<usize>,
    counts: ValueState,
}

fn decode(bytes: Option<Vec<u8>>) -> Result<u64, Error> {
    match bytes {
        None => Ok(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
            .map(u64::from_le_bytes)
            .map_err(|_| {
                Error::internal(format!("a stored count has {} bytes, not 8", bytes.len()))
            }),
    }
}

impl Operator for KeyedCount {
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
        let config: String = ctx.config_json().split_whitespace().collect();
        if config != "{}" {
            return Err(Error::invalid_config("keyed-count takes no configuration"));
        }
        if ctx.key_fields().is_empty() {
            return Err(Error::invalid_config(
                "keyed-count counts per key: give it a keyBy in the job spec",
            ));
        }
        let key_columns = ctx.key_indexes()?;
        let mut fields: Vec<Field> = key_columns
            .iter()
            .filter_map(|&i| ctx.input_schema().field(i).cloned())
            .collect();
        fields.push(Field::new("count", DataType::Int64, false));
        let counts = ValueState::open("count")?;
        Ok((
            KeyedCount {
                key_columns,
                counts,
            },
            Schema::new(fields),
        ))
    }

    fn process(&mut self, row: &Row<'_>, out: &mut Output) -> Result<(), Error> {
        let key = key_of(row, &self.key_columns)?;
        let count = decode(self.counts.get(std::slice::from_ref(&key))?.pop().flatten())? + 1;
        self.counts
            .put(&[(key, Some(count.to_le_bytes().to_vec()))])?;
        self.emit(row, count, out)
    }

    fn process_batch(&mut self, rows: &Rows<'_>, out: &mut Output) -> Result<(), Error> {
        let mut keys: Vec<Key> = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(key_of(&row, &self.key_columns)?);
        }
        let mut distinct: Vec<Key> = keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let stored = self.counts.get(&distinct)?;
        let mut counts: HashMap<Key, u64> = HashMap::with_capacity(distinct.len());
        for (key, bytes) in distinct.into_iter().zip(stored) {
            counts.insert(key, decode(bytes)?);
        }
        for (row, key) in rows.into_iter().zip(&keys) {
            let count = counts
                .get_mut(key)
                .ok_or_else(|| Error::internal("a key went missing"))?;
            *count += 1;
            let count = *count;
            self.emit(&row, count, out)?;
        }
        let updates: Vec<(Key, Option<Vec<u8>>)> = counts
            .into_iter()
            .map(|(key, count)| (key, Some(count.to_le_bytes().to_vec())))
            .collect();
        self.counts.put(&updates)
    }
}

impl KeyedCount {
    fn emit(&self, row: &Row<'_>, count: u64, out: &mut Output) -> Result<(), Error> {
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.key_columns.len() + 1);
        for &column in &self.key_columns {
            values.push(row.get(column)?);
        }
        let count = i64::try_from(count).map_err(|_| Error::internal("the count overflowed"))?;
        values.push(Value::Int64(count));
        out.emit(&values)
    }
}

export!(KeyedCount);
