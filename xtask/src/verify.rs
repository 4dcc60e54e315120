//! Proves a built binary is self-contained by reading its headers, instead of trusting the
//! linker flags: ELF must have no PT_INTERP and no DT_NEEDED; PE may import only allowlisted DLLs.

use crate::target::Check;
use crate::util::{err, Context, Result};

/// Checks `bytes` (a whole executable) against `check`; returns a one-line summary.
pub fn verify(bytes: &[u8], check: &Check) -> Result<String> {
    match check {
        Check::ElfStatic => {
            let info = elf_info(bytes)?;
            if info.interp {
                return Err(err("ELF has a PT_INTERP (needs a dynamic loader)"));
            }
            if !info.needed.is_empty() {
                return Err(err(format!(
                    "ELF needs shared libraries: {}",
                    info.needed.join(", ")
                )));
            }
            Ok(format!(
                "static {} ELF (no PT_INTERP, no DT_NEEDED)",
                info.machine
            ))
        }
        Check::PeDlls(allow) => {
            let dlls = pe_imports(bytes)?;
            let bad: Vec<&String> = dlls
                .iter()
                .filter(|d| !allow.contains(&d.to_ascii_lowercase()))
                .collect();
            if !bad.is_empty() {
                let bad: Vec<&str> = bad.iter().map(|s| s.as_str()).collect();
                return Err(err(format!(
                    "PE imports DLLs outside the allowlist: {} (allowed: {})",
                    bad.join(", "),
                    allow.join(", ")
                )));
            }
            // The same DLL can have several descriptors (mingw's and std's raw-dylib ones).
            let mut names: Vec<String> = dlls.iter().map(|d| d.to_ascii_lowercase()).collect();
            names.sort();
            names.dedup();
            Ok(format!("PE imports only {}", names.join(", ")))
        }
    }
}

/// A bounds-checked little-endian reader over a byte slice.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn slice(&self, at: u64, len: usize) -> Result<&[u8]> {
        let start = usize::try_from(at).context(|| format!("offset {at} out of range"))?;
        self.0
            .get(start..start.saturating_add(len))
            .filter(|s| s.len() == len)
            .context(|| format!("truncated file: wanted {len} bytes at offset {at}"))
    }
    fn u16(&self, at: u64) -> Result<u16> {
        let b = self.slice(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, at: u64) -> Result<u32> {
        let b = self.slice(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, at: u64) -> Result<u64> {
        let b = self.slice(at, 8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A NUL-terminated string starting at `at`.
    fn cstr(&self, at: u64) -> Result<String> {
        let start = usize::try_from(at).context(|| format!("offset {at} out of range"))?;
        let rest = self
            .0
            .get(start..)
            .context(|| format!("string offset {at} past the end"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .context(|| format!("unterminated string at {at}"))?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

/// What the static check needs to know about an ELF file.
#[derive(Debug)]
pub struct ElfInfo {
    /// e_machine as a name.
    pub machine: &'static str,
    /// Whether a PT_INTERP program header exists.
    pub interp: bool,
    /// DT_NEEDED names.
    pub needed: Vec<String>,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_LOAD: u32 = 1;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// Reads the program headers of a 64-bit little-endian ELF file.
pub fn elf_info(bytes: &[u8]) -> Result<ElfInfo> {
    let f = Bytes(bytes);
    if f.slice(0, 4)? != b"\x7fELF" {
        return Err(err("not an ELF file"));
    }
    let ident = f.slice(4, 2)?;
    if ident != [2, 1] {
        return Err(err("only 64-bit little-endian ELF is supported"));
    }
    let machine = match f.u16(18)? {
        0x3e => "x86_64",
        0xb7 => "aarch64",
        0xf3 => "riscv64",
        _ => "other",
    };
    let phoff = f.u64(32)?;
    let phentsize = u64::from(f.u16(54)?);
    let phnum = u64::from(f.u16(56)?);
    // (type, offset, vaddr, filesz) of each program header.
    let mut phdrs = Vec::new();
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        phdrs.push((f.u32(at)?, f.u64(at + 8)?, f.u64(at + 16)?, f.u64(at + 32)?));
    }
    let interp = phdrs.iter().any(|p| p.0 == PT_INTERP);
    let mut needed = Vec::new();
    if let Some(&(_, off, _, size)) = phdrs.iter().find(|p| p.0 == PT_DYNAMIC) {
        // Dynamic entries are (tag, value) pairs of u64 up to DT_NULL.
        let mut needed_offsets = Vec::new();
        let mut strtab_vaddr = None;
        for i in 0..size / 16 {
            let tag = f.u64(off + i * 16)?;
            let val = f.u64(off + i * 16 + 8)?;
            match tag {
                DT_NULL => break,
                DT_NEEDED => needed_offsets.push(val),
                DT_STRTAB => strtab_vaddr = Some(val),
                _ => {}
            }
        }
        if !needed_offsets.is_empty() {
            let vaddr = strtab_vaddr.context(|| "DT_NEEDED without DT_STRTAB".into())?;
            // DT_STRTAB is an address: map it to a file offset through the PT_LOAD segments.
            let strtab = phdrs
                .iter()
                .filter(|p| p.0 == PT_LOAD && p.2 <= vaddr && vaddr < p.2 + p.3)
                .map(|p| vaddr - p.2 + p.1)
                .next()
                .context(|| "DT_STRTAB outside every PT_LOAD".into())?;
            for n in needed_offsets {
                needed.push(f.cstr(strtab + n)?);
            }
        }
    }
    Ok(ElfInfo {
        machine,
        interp,
        needed,
    })
}

/// Lists the DLL names in a PE32+ import directory.
pub fn pe_imports(bytes: &[u8]) -> Result<Vec<String>> {
    let f = Bytes(bytes);
    if f.slice(0, 2)? != b"MZ" {
        return Err(err("not a PE file (no MZ)"));
    }
    let pe = u64::from(f.u32(0x3c)?);
    if f.slice(pe, 4)? != b"PE\0\0" {
        return Err(err("not a PE file (no PE signature)"));
    }
    let coff = pe + 4;
    let nsections = u64::from(f.u16(coff + 2)?);
    let opt_size = u64::from(f.u16(coff + 16)?);
    let opt = coff + 20;
    if f.u16(opt)? != 0x20b {
        return Err(err("only PE32+ (64-bit) is supported"));
    }
    // Data directory 1 (imports) of PE32+: the directories start at offset 112.
    let ndirs = f.u32(opt + 108)?;
    if ndirs < 2 {
        return Ok(Vec::new());
    }
    let import_rva = u64::from(f.u32(opt + 112 + 8)?);
    if import_rva == 0 {
        return Ok(Vec::new());
    }
    // (virtual address, virtual size, raw size, raw offset) per section.
    let sections_at = opt + opt_size;
    let mut sections = Vec::new();
    for i in 0..nsections {
        let s = sections_at + i * 40;
        sections.push((
            u64::from(f.u32(s + 12)?),
            u64::from(f.u32(s + 8)?),
            u64::from(f.u32(s + 16)?),
            u64::from(f.u32(s + 20)?),
        ));
    }
    let to_offset = |rva: u64| -> Result<u64> {
        sections
            .iter()
            .find(|s| s.0 <= rva && rva < s.0 + s.1.max(s.2))
            .map(|s| rva - s.0 + s.3)
            .context(|| format!("RVA {rva:#x} is in no section"))
    };
    // Import descriptors are 20 bytes; the name RVA is at +12; an all-zero one ends the list.
    let mut dlls = Vec::new();
    let mut at = to_offset(import_rva)?;
    loop {
        let name_rva = u64::from(f.u32(at + 12)?);
        let first_thunk = f.u32(at + 16)?;
        if name_rva == 0 && first_thunk == 0 {
            break;
        }
        dlls.push(f.cstr(to_offset(name_rva)?)?);
        at += 20;
    }
    Ok(dlls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage() {
        assert!(elf_info(b"nope").is_err());
        assert!(pe_imports(b"MZ").is_err());
        assert!(verify(&[], &Check::ElfStatic).is_err());
    }

    /// A minimal ELF header with one PT_INTERP program header.
    #[test]
    fn sees_pt_interp() -> Result<()> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[18] = 0x3e;
        b[32] = 64; // e_phoff
        b[54] = 56; // e_phentsize
        b[56] = 1; // e_phnum
        b[64] = PT_INTERP as u8;
        let info = elf_info(&b)?;
        assert!(info.interp);
        assert!(verify(&b, &Check::ElfStatic).is_err());
        b[64] = PT_LOAD as u8;
        assert!(verify(&b, &Check::ElfStatic).is_ok());
        Ok(())
    }
}
