//! The FFI seam of the classifier: one DPDK `rte_acl` context, created, filled and built once, then
//! searched from any number of cores.
//!
//! rte_acl compiles rules over a byte-string key into multi-bit tries and classifies many keys per
//! call with SIMD (up to 32 at once with AVX-512). Its contexts live in DPDK's malloc heaps, so
//! building one needs the EAL; the context keeps an [`Eal`] handle so it is freed before the EAL.

use crate::{Eal, Error, Result};
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most fields one layout may have (rte_acl allows 64; the firewall's widest layout has 14).
pub(crate) const MAX_FIELDS: usize = 16;
/// Size of a search key buffer: enough for every layout (the widest ends at byte 44).
pub(crate) const KEY_BYTES: usize = 48;
/// Most keys one `rte_acl_classify` call is given here (a burst).
pub(crate) const MAX_KEYS: usize = 32;

/// Every key index of a full burst, in order: the members of a search over all keys.
pub(crate) const ALL_KEYS: [u8; MAX_KEYS] = {
    let mut all = [0u8; MAX_KEYS];
    let mut i = 0;
    while i < MAX_KEYS {
        all[i] = i as u8;
        i += 1;
    }
    all
};

/// A search key: the bytes rte_acl reads, in network byte order.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct Key(pub(crate) [u8; KEY_BYTES]);

impl Key {
    /// All zeroes.
    pub(crate) const ZERO: Key = Key([0; KEY_BYTES]);
}

/// How rules compare one field of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// The top `mask_range` bits equal `value` (a prefix).
    Mask,
    /// `value <= x <= mask_range`.
    Range,
    /// `x & mask_range == value`.
    Bitmask,
}

/// One field of the key: its comparison, width in bytes (1, 2 or 4), the 4-byte input group it is
/// read in, and its byte offset in [`Key`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldDef {
    pub(crate) kind: FieldKind,
    pub(crate) size: u8,
    pub(crate) input: u8,
    pub(crate) offset: u8,
}

/// A rule's test of one field, in host byte order; see [`FieldKind`] for what the two values mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FieldTest {
    pub(crate) value: u32,
    pub(crate) mask_range: u32,
}

/// One rule for a context: a test per field (the first `fields.len()` are used) and the nonzero number
/// a match reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AclRule {
    pub(crate) userdata: u32,
    pub(crate) tests: [FieldTest; MAX_FIELDS],
}

/// rte_acl's classification methods that x86 CPUs can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclAlgorithm {
    /// Portable C.
    Scalar,
    /// SSE4.1, 4 keys at a time.
    Sse,
    /// AVX2, 8 keys at a time.
    Avx2,
    /// AVX-512, 16 keys at a time (needs the EAL's `--force-max-simd-bitwidth=512`).
    Avx512x16,
    /// AVX-512, 32 keys at a time (needs the EAL's `--force-max-simd-bitwidth=512`).
    Avx512x32,
}

impl AclAlgorithm {
    /// Every method, fastest first: the order rte_acl itself prefers them in.
    pub const ALL: [AclAlgorithm; 5] = [
        AclAlgorithm::Avx512x32,
        AclAlgorithm::Avx512x16,
        AclAlgorithm::Avx2,
        AclAlgorithm::Sse,
        AclAlgorithm::Scalar,
    ];

    /// The name `dpdk-test-acl --alg` uses.
    pub fn name(self) -> &'static str {
        match self {
            AclAlgorithm::Scalar => "scalar",
            AclAlgorithm::Sse => "sse",
            AclAlgorithm::Avx2 => "avx2",
            AclAlgorithm::Avx512x16 => "avx512x16",
            AclAlgorithm::Avx512x32 => "avx512x32",
        }
    }

    fn raw(self) -> dpdk_sys::rte_acl_classify_alg {
        match self {
            AclAlgorithm::Scalar => dpdk_sys::rte_acl_classify_alg_RTE_ACL_CLASSIFY_SCALAR,
            AclAlgorithm::Sse => dpdk_sys::rte_acl_classify_alg_RTE_ACL_CLASSIFY_SSE,
            AclAlgorithm::Avx2 => dpdk_sys::rte_acl_classify_alg_RTE_ACL_CLASSIFY_AVX2,
            AclAlgorithm::Avx512x16 => dpdk_sys::rte_acl_classify_alg_RTE_ACL_CLASSIFY_AVX512X16,
            AclAlgorithm::Avx512x32 => dpdk_sys::rte_acl_classify_alg_RTE_ACL_CLASSIFY_AVX512X32,
        }
    }
}

/// DPDK's `SOCKET_ID_ANY` (a macro bindgen does not carry over).
const SOCKET_ID_ANY: i32 = -1;

/// Numbers contexts so each gets a unique name (rte_acl refuses a second context of the same name).
static NEXT_CONTEXT: AtomicU64 = AtomicU64::new(0);

/// rte_acl's rule record for [`MAX_FIELDS`] fields (`RTE_ACL_RULE_DEF`); contexts are told the size of
/// the fields actually used, so the tail is never read.
#[repr(C)]
struct RawRule {
    data: dpdk_sys::rte_acl_rule_data,
    field: [dpdk_sys::rte_acl_field; MAX_FIELDS],
}

/// A built rte_acl context.
pub(crate) struct AclContext {
    ctx: NonNull<dpdk_sys::rte_acl_ctx>,
    algorithm: AclAlgorithm,
    memory: usize,
    /// Bytes of a key rte_acl reads: the end of the last input group's 4-byte load.
    extent: usize,
    _eal: Eal,
}

// SAFETY: a built context is only read by rte_acl_classify, which DPDK documents as safe to call on
// one context from several threads at once; it is freed only on drop, through `&mut self`.
unsafe impl Send for AclContext {}
// SAFETY: see `Send`: `&self` methods only classify.
unsafe impl Sync for AclContext {}

fn union_of(size: u8, v: u32) -> dpdk_sys::rte_acl_field_types {
    let mut out = dpdk_sys::rte_acl_field_types { u64_: 0 };
    match size {
        1 => out.u8_ = v as u8,
        2 => out.u16_ = v as u16,
        _ => out.u32_ = v,
    }
    out
}

impl AclContext {
    /// Builds a context searching keys laid out as `fields` for `rules`, in priority order (the
    /// first matching rule wins), classifying with `algorithm` or, if `None`, the fastest this CPU and
    /// the EAL's SIMD width allow.
    pub(crate) fn build(
        eal: &Eal,
        fields: &[FieldDef],
        rules: &[AclRule],
        algorithm: Option<AclAlgorithm>,
    ) -> Result<AclContext> {
        let invalid = |what: String| Error::InvalidArgument { what };
        if fields.is_empty() || fields.len() > MAX_FIELDS {
            return Err(invalid(format!("{} ACL fields", fields.len())));
        }
        // rte_acl loads each input group as 4 bytes from its first field.
        let extent = fields
            .iter()
            .map(|f| {
                let group = fields.iter().filter(|g| g.input == f.input);
                group.map(|g| g.offset as usize).min().unwrap_or(0) + 4
            })
            .max()
            .unwrap_or(0);
        if let Some(f) = fields
            .iter()
            .find(|f| f.offset as usize + f.size.max(4) as usize > KEY_BYTES)
        {
            return Err(invalid(format!(
                "ACL field at offset {} overruns the key",
                f.offset
            )));
        }
        let max_priority = dpdk_sys::RTE_ACL_MAX_PRIORITY as usize;
        if rules.len() >= max_priority {
            return Err(invalid(format!("{} rules in one ACL context", rules.len())));
        }
        let name = CString::new(format!(
            "mpfw{}",
            NEXT_CONTEXT.fetch_add(1, Ordering::Relaxed)
        ))
        .expect("no NUL");
        let rule_size = std::mem::size_of::<dpdk_sys::rte_acl_rule_data>().next_multiple_of(8)
            + fields.len() * std::mem::size_of::<dpdk_sys::rte_acl_field>();
        let param = dpdk_sys::rte_acl_param {
            name: name.as_ptr(),
            socket_id: SOCKET_ID_ANY,
            rule_size: rule_size as u32,
            max_rule_num: rules.len().max(1) as u32,
        };
        // SAFETY: `param` is fully initialised and `name` outlives the call (rte_acl copies it).
        let raw = unsafe { dpdk_sys::rte_acl_create(&param) };
        let ctx = NonNull::new(raw).ok_or_else(|| Error::from_rte_errno("rte_acl_create"))?;
        let mut context = AclContext {
            ctx,
            algorithm: AclAlgorithm::Scalar,
            memory: 0,
            extent,
            _eal: eal.clone(),
        };
        context.algorithm = context.choose_algorithm(algorithm)?;
        for (i, rule) in rules.iter().enumerate() {
            let mut raw = RawRule {
                data: dpdk_sys::rte_acl_rule_data {
                    category_mask: 1,
                    priority: (max_priority - i) as i32,
                    userdata: rule.userdata,
                },
                field: [dpdk_sys::rte_acl_field::default(); MAX_FIELDS],
            };
            for ((slot, test), def) in raw.field.iter_mut().zip(&rule.tests).zip(fields) {
                slot.value = union_of(def.size, test.value);
                slot.mask_range = union_of(def.size, test.mask_range);
            }
            // SAFETY: `raw` is one rule record whose first `fields.len()` fields (the `rule_size` bytes
            // rte_acl copies) are initialised; the context is ours.
            let rc = unsafe {
                dpdk_sys::rte_acl_add_rules(
                    context.ctx.as_ptr(),
                    &raw as *const RawRule as *const dpdk_sys::rte_acl_rule,
                    1,
                )
            };
            if rc != 0 {
                return Err(Error::dpdk("rte_acl_add_rules", rc));
            }
        }
        let mut config = dpdk_sys::rte_acl_config {
            num_categories: 1,
            num_fields: fields.len() as u32,
            ..Default::default()
        };
        for (i, (def, slot)) in fields.iter().zip(config.defs.iter_mut()).enumerate() {
            *slot = dpdk_sys::rte_acl_field_def {
                type_: match def.kind {
                    FieldKind::Mask => dpdk_sys::RTE_ACL_FIELD_TYPE_MASK,
                    FieldKind::Range => dpdk_sys::RTE_ACL_FIELD_TYPE_RANGE,
                    FieldKind::Bitmask => dpdk_sys::RTE_ACL_FIELD_TYPE_BITMASK,
                } as u8,
                size: def.size,
                field_index: i as u8,
                input_index: def.input,
                offset: def.offset as u32,
            };
        }
        let before = eal.heap_allocated();
        // SAFETY: the context is ours and `config` describes exactly the fields its rules carry.
        let rc = unsafe { dpdk_sys::rte_acl_build(context.ctx.as_ptr(), &config) };
        if rc != 0 {
            return Err(Error::dpdk("rte_acl_build", rc));
        }
        context.memory = eal.heap_allocated().saturating_sub(before);
        Ok(context)
    }

    fn choose_algorithm(&mut self, wanted: Option<AclAlgorithm>) -> Result<AclAlgorithm> {
        let candidates: &[AclAlgorithm] = match &wanted {
            Some(alg) => std::slice::from_ref(alg),
            None => &AclAlgorithm::ALL,
        };
        let mut last = 0;
        for alg in candidates {
            // SAFETY: the context is ours; rte_acl only checks the CPU and records the method.
            last = unsafe { dpdk_sys::rte_acl_set_ctx_classify(self.ctx.as_ptr(), alg.raw()) };
            if last == 0 {
                return Ok(*alg);
            }
        }
        Err(Error::dpdk("rte_acl_set_ctx_classify", last))
    }

    /// The classification method in use.
    pub(crate) fn algorithm(&self) -> AclAlgorithm {
        self.algorithm
    }

    /// Bytes of DPDK heap the built search structures took (measured around the build).
    pub(crate) fn memory(&self) -> usize {
        self.memory
    }

    /// Classifies the keys `keys[members[j]]`: `results[j]` becomes the userdata of the first rule
    /// matching that key, or 0.
    pub(crate) fn classify(&self, keys: &[Key; MAX_KEYS], members: &[u8], results: &mut [u32]) {
        let n = members.len().min(results.len());
        let mut data = [std::ptr::null::<u8>(); MAX_KEYS];
        for (slot, &m) in data.iter_mut().zip(&members[..n]) {
            *slot = keys[m as usize].0.as_ptr();
        }
        // SAFETY: `data[..n]` point to live `Key` buffers of KEY_BYTES bytes, which `build` checked
        // cover every field and the 4-byte loads of each input group.
        unsafe { self.classify_pointers(&mut data, &mut results[..n]) };
    }

    /// Classifies up to [`MAX_KEYS`] keys given as byte strings of this context's layout (each at least
    /// as long as the bytes rte_acl reads; panics otherwise): `results[i]` becomes the userdata of the
    /// first rule matching `keys[i]`, or 0.
    pub(crate) fn classify_bytes(&self, keys: &[&[u8]], results: &mut [u32]) {
        let n = keys.len().min(results.len()).min(MAX_KEYS);
        let mut data = [std::ptr::null::<u8>(); MAX_KEYS];
        for (slot, key) in data.iter_mut().zip(&keys[..n]) {
            assert!(
                key.len() >= self.extent,
                "an ACL key shorter than its layout"
            );
            *slot = key.as_ptr();
        }
        // SAFETY: `data[..n]` point to live byte strings at least `extent` long (asserted above).
        unsafe { self.classify_pointers(&mut data, &mut results[..n]) };
    }

    /// Runs rte_acl on the first `results.len()` pointers of `data` (one category).
    ///
    /// # Safety
    /// Each of those pointers must point to a live key at least `extent` bytes long (every field and
    /// the 4-byte load of each input group).
    unsafe fn classify_pointers(&self, data: &mut [*const u8; MAX_KEYS], results: &mut [u32]) {
        let n = results.len().min(MAX_KEYS);
        // SAFETY: the caller's contract covers `data[..n]`; `results` holds `n` slots for one category.
        let rc = unsafe {
            dpdk_sys::rte_acl_classify(
                self.ctx.as_ptr(),
                data.as_mut_ptr(),
                results.as_mut_ptr(),
                n as u32,
                1,
            )
        };
        debug_assert_eq!(rc, 0, "rte_acl_classify rejected a valid call");
    }
}

impl Drop for AclContext {
    fn drop(&mut self) {
        // SAFETY: the context is ours and no classification can be running (`&mut self`).
        unsafe { dpdk_sys::rte_acl_free(self.ctx.as_ptr()) };
    }
}
