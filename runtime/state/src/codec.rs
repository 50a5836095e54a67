//! The little binary encoding every snapshot of Weir uses: integers
//! little-endian, byte strings as a u32 length and the bytes. Reading never
//! panics on damaged input; it says where the bytes ran out.

use crate::StateError;

pub fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// Reads what the `put_*` functions wrote, in the same order.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                StateError::Corrupt(format!(
                    "it ends at byte {} where {n} more were due",
                    self.bytes.len()
                ))
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, StateError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub fn f64(&mut self) -> Result<f64, StateError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, StateError> {
        Ok(self.slice()?.to_vec())
    }

    /// A byte string, borrowed.
    pub fn slice(&mut self) -> Result<&'a [u8], StateError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub fn string(&mut self) -> Result<String, StateError> {
        String::from_utf8(self.bytes()?)
            .map_err(|_| StateError::Corrupt("a string is not UTF-8".into()))
    }

    /// Checks that nothing follows what was read.
    pub fn finish(&self) -> Result<(), StateError> {
        if self.at != self.bytes.len() {
            return Err(StateError::Corrupt(format!(
                "{} bytes follow its end",
                self.bytes.len() - self.at
            )));
        }
        Ok(())
    }
}
