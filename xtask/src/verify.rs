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

/// A bounds-checked reader over a byte slice, little-endian unless `big`.
struct Bytes<'a> {
    data: &'a [u8],
    big: bool,
}

impl<'a> Bytes<'a> {
    fn le(data: &'a [u8]) -> Self {
        Bytes { data, big: false }
    }
    fn slice(&self, at: u64, len: usize) -> Result<&[u8]> {
        let start = usize::try_from(at).context(|| format!("offset {at} out of range"))?;
        self.data
            .get(start..start.saturating_add(len))
            .filter(|s| s.len() == len)
            .context(|| format!("truncated file: wanted {len} bytes at offset {at}"))
    }
    /// `len` bytes at `at` as an unsigned number in the file's byte order.
    fn uint(&self, at: u64, len: usize) -> Result<u64> {
        let b = self.slice(at, len)?;
        let fold = |n: u64, &byte: &u8| (n << 8) | u64::from(byte);
        Ok(if self.big {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    }
    fn u16(&self, at: u64) -> Result<u16> {
        // Two bytes always fit.
        Ok(self.uint(at, 2)? as u16)
    }
    fn u32(&self, at: u64) -> Result<u32> {
        // Four bytes always fit.
        Ok(self.uint(at, 4)? as u32)
    }
    /// A NUL-terminated string starting at `at`.
    fn cstr(&self, at: u64) -> Result<String> {
        let start = usize::try_from(at).context(|| format!("offset {at} out of range"))?;
        let rest = self
            .data
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

/// Where the fields the check reads sit, for ELF32 or ELF64 (the only layout differences that
/// matter here; e_machine is at 18 in both).
struct Layout {
    /// Size of an address / offset / dynamic-entry half: 4 or 8.
    word: usize,
    /// e_phoff, e_phentsize, e_phnum.
    phoff: u64,
    phentsize: u64,
    phnum: u64,
    /// p_offset, p_vaddr, p_filesz inside a program header (p_type is at 0 in both).
    p_offset: u64,
    p_vaddr: u64,
    p_filesz: u64,
}

const ELF32: Layout = Layout {
    word: 4,
    phoff: 28,
    phentsize: 42,
    phnum: 44,
    p_offset: 4,
    p_vaddr: 8,
    p_filesz: 16,
};

const ELF64: Layout = Layout {
    word: 8,
    phoff: 32,
    phentsize: 54,
    phnum: 56,
    p_offset: 8,
    p_vaddr: 16,
    p_filesz: 32,
};

/// Reads the program headers of an ELF file (32- or 64-bit, either byte order).
pub fn elf_info(bytes: &[u8]) -> Result<ElfInfo> {
    let mut f = Bytes::le(bytes);
    if f.slice(0, 4)? != b"\x7fELF" {
        return Err(err("not an ELF file"));
    }
    let ident = f.slice(4, 2)?;
    let l = match ident[0] {
        1 => &ELF32,
        2 => &ELF64,
        c => return Err(err(format!("unknown ELF class {c}"))),
    };
    f.big = match ident[1] {
        1 => false,
        2 => true,
        d => return Err(err(format!("unknown ELF byte order {d}"))),
    };
    let machine = match f.u16(18)? {
        0x03 => "i386",
        0x08 => "mips",
        0x28 => "arm",
        0x3e => "x86_64",
        0xb7 => "aarch64",
        0xf3 => "riscv",
        _ => "other",
    };
    let w = l.word;
    let phoff = f.uint(l.phoff, w)?;
    let phentsize = u64::from(f.u16(l.phentsize)?);
    let phnum = u64::from(f.u16(l.phnum)?);
    // (type, offset, vaddr, filesz) of each program header.
    let mut phdrs = Vec::new();
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        phdrs.push((
            f.u32(at)?,
            f.uint(at + l.p_offset, w)?,
            f.uint(at + l.p_vaddr, w)?,
            f.uint(at + l.p_filesz, w)?,
        ));
    }
    let interp = phdrs.iter().any(|p| p.0 == PT_INTERP);
    let mut needed = Vec::new();
    if let Some(&(_, off, _, size)) = phdrs.iter().find(|p| p.0 == PT_DYNAMIC) {
        // Dynamic entries are (tag, value) pairs of words up to DT_NULL.
        let entry = 2 * w as u64;
        let mut needed_offsets = Vec::new();
        let mut strtab_vaddr = None;
        for i in 0..size / entry {
            let tag = f.uint(off + i * entry, w)?;
            let val = f.uint(off + i * entry + w as u64, w)?;
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
    let f = Bytes::le(bytes);
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

    /// The same for a 32-bit big-endian file (MIPS) with a PT_DYNAMIC naming libc.so.
    #[test]
    fn reads_32_bit_big_endian() -> Result<()> {
        let mut b = vec![0u8; 52 + 2 * 32 + 24 + 16];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 2;
        b[19] = 0x08; // e_machine: MIPS
        b[31] = 52; // e_phoff
        b[43] = 32; // e_phentsize
        b[45] = 2; // e_phnum
        let load = 52;
        b[load + 3] = PT_LOAD as u8;
        b[load + 19] = 200; // p_filesz, from offset 0 at vaddr 0
        let dynamic = 52 + 32;
        b[dynamic + 3] = PT_DYNAMIC as u8;
        b[dynamic + 7] = 116; // p_offset
        b[dynamic + 19] = 24; // p_filesz: DT_NEEDED, DT_STRTAB, DT_NULL
        b[116 + 3] = DT_NEEDED as u8;
        b[116 + 7] = 1; // name at strtab + 1
        b[124 + 3] = DT_STRTAB as u8;
        b[124 + 7] = 140; // strtab vaddr (= offset)
        b[141..150].copy_from_slice(b"libc.so\0\0");
        let info = elf_info(&b)?;
        assert_eq!(info.machine, "mips");
        assert!(!info.interp);
        assert_eq!(info.needed, vec!["libc.so".to_string()]);
        assert!(verify(&b, &Check::ElfStatic).is_err());
        Ok(())
    }
}
