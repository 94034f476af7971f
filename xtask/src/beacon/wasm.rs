//! The few pieces of the wasm binary format the build reads and writes:
//! bytes, LEB128 numbers, names and limits. Used by the name pass
//! (`wasm_names.rs`) and the table check (`wasm_opt.rs`).

use anyhow::{bail, Context, Result};

/// A cursor over wasm bytes.
#[derive(Debug)]
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self.0.split_first().context("the wasm ends early")?;
        self.0 = rest;
        Ok(b)
    }
    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            bail!("the wasm ends early");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(super) fn leb(&mut self) -> Result<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("a LEB128 number over 32 bits in the wasm")
    }
    pub(super) fn name(&mut self) -> Result<&'a str> {
        let n = self.leb()? as usize;
        std::str::from_utf8(self.bytes(n)?).context("a wasm name is not UTF-8")
    }
    pub(super) fn limits(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let flags = self.byte()?;
        out.push(flags);
        leb(out, self.leb()?);
        if flags & 1 != 0 {
            leb(out, self.leb()?);
        }
        Ok(())
    }
}

/// Appends `v` as unsigned LEB128.
pub(super) fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Appends a wasm name: its length, then its UTF-8 bytes.
pub(super) fn name(out: &mut Vec<u8>, s: &str) {
    leb(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}
